//! CLINC150-style intent data (`data_full.json` + `domains.json`) and the unlabelled wiki text.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// One labelled prompt.
#[derive(Clone, Debug)]
pub struct Example {
    /// The prompt text.
    pub text: String,
    /// Index into [`Dataset::intents`].
    pub label: usize,
}

/// A loaded data directory.
pub struct Dataset {
    /// All in-scope intents, sorted by domain name then intent name.
    pub intents: Vec<String>,
    /// Domain of each intent (parallel to `intents`).
    pub intent_domain: Vec<String>,
    /// In-scope train prompts.
    pub train: Vec<Example>,
    /// In-scope validation prompts.
    pub val: Vec<Example>,
    /// In-scope test prompts.
    pub test: Vec<Example>,
    /// Out-of-scope train prompts (text only).
    pub oos_train: Vec<String>,
    /// Unlabelled wiki sentences (empty when the file is absent).
    pub wiki: Vec<String>,
}

fn split(v: &serde_json::Value, key: &str) -> Vec<(String, String)> {
    v.get(key)
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| {
                    let p = p.as_array()?;
                    Some((
                        p.first()?.as_str()?.to_string(),
                        p.get(1)?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl Dataset {
    /// Load `dir/data_full.json`, `dir/domains.json` and (optionally) `dir/all_wiki_sents.txt`.
    pub fn load(dir: &Path) -> Result<Self> {
        let raw = std::fs::read_to_string(dir.join("data_full.json"))
            .with_context(|| format!("reading {}/data_full.json", dir.display()))?;
        let v: serde_json::Value = serde_json::from_str(&raw)?;
        let draw = std::fs::read_to_string(dir.join("domains.json"))?;
        let domains: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&draw)?;
        let mut intents = Vec::new();
        let mut intent_domain = Vec::new();
        for (dom, list) in &domains {
            let mut names: Vec<String> = list
                .as_array()
                .context("domain list")?
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            names.sort();
            for n in names {
                intents.push(n);
                intent_domain.push(dom.clone());
            }
        }
        let index: BTreeMap<&str, usize> = intents
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let labelled = |key: &str| -> Result<Vec<Example>> {
            split(&v, key)
                .into_iter()
                .map(|(text, intent)| {
                    let label = *index
                        .get(intent.as_str())
                        .with_context(|| format!("intent {intent} not in domains.json"))?;
                    Ok(Example { text, label })
                })
                .collect()
        };
        let wiki = std::fs::read_to_string(dir.join("all_wiki_sents.txt"))
            .map(|s| {
                s.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            train: labelled("train")?,
            val: labelled("val")?,
            test: labelled("test")?,
            oos_train: split(&v, "oos_train").into_iter().map(|p| p.0).collect(),
            intents,
            intent_domain,
            wiki,
        })
    }

    /// Indices of the intents of `domain`.
    pub fn domain_intents(&self, domain: &str) -> Vec<usize> {
        (0..self.intents.len())
            .filter(|&i| self.intent_domain[i] == domain)
            .collect()
    }
}
