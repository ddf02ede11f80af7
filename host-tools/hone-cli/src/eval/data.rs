//! Intent data sets in the CLINC150 layout: `data_full.json` (`train`, `val`, `test` and
//! optional `oos_*` lists of `[prompt, intent]`) and `domains.json` (domain → intents).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// One split: prompts and their intent indices into [`Dataset::intents`].
#[derive(Debug, Clone, Default)]
pub struct Split {
    /// Prompts.
    pub prompts: Vec<String>,
    /// Intent index of each prompt.
    pub labels: Vec<usize>,
}

impl Split {
    /// Number of prompts.
    pub fn len(&self) -> usize {
        self.prompts.len()
    }
}

/// A labelled intent data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// In-scope intent names, sorted.
    pub intents: Vec<String>,
    /// Domain name → intent indices.
    pub domains: BTreeMap<String, Vec<usize>>,
    /// Training prompts.
    pub train: Split,
    /// Validation prompts.
    pub val: Split,
    /// Test prompts.
    pub test: Split,
    /// Out-of-scope test prompts.
    pub oos_test: Vec<String>,
}

type Pairs = Vec<(String, String)>;

fn pairs(v: &serde_json::Value, key: &str) -> Result<Option<Pairs>> {
    let Some(list) = v.get(key) else {
        return Ok(None);
    };
    let list = list
        .as_array()
        .with_context(|| format!("`{key}` is not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, item)| match item.as_array().map(Vec::as_slice) {
            Some([p, l]) => match (p.as_str(), l.as_str()) {
                (Some(p), Some(l)) => Ok((p.to_string(), l.to_string())),
                _ => bail!("`{key}`[{i}] is not a pair of strings"),
            },
            _ => bail!("`{key}`[{i}] is not a [prompt, intent] pair"),
        })
        .collect::<Result<_>>()
        .map(Some)
}

impl Dataset {
    /// Reads `dir/data_full.json` and `dir/domains.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| -> Result<serde_json::Value> {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
        };
        let data = read("data_full.json")?;
        let domains_json = read("domains.json")?;
        let split = |k: &str| -> Result<Pairs> {
            pairs(&data, k)?.with_context(|| format!("data_full.json has no `{k}` split"))
        };
        let (train, val, test) = (split("train")?, split("val")?, split("test")?);
        let mut intents: Vec<String> = train.iter().map(|(_, l)| l.clone()).collect();
        intents.sort();
        intents.dedup();
        let index: BTreeMap<&str, usize> = intents
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect();
        let to_split = |name: &str, pairs: &Pairs| -> Result<Split> {
            let mut s = Split::default();
            for (p, l) in pairs {
                let Some(&i) = index.get(l.as_str()) else {
                    bail!("intent `{l}` of the {name} split never occurs in train");
                };
                s.prompts.push(p.clone());
                s.labels.push(i);
            }
            Ok(s)
        };
        let mut domains = BTreeMap::new();
        let obj = domains_json
            .as_object()
            .context("domains.json is not an object")?;
        for (d, list) in obj {
            let names = list
                .as_array()
                .with_context(|| format!("domain `{d}` is not a list"))?;
            let mut ids = Vec::new();
            for n in names {
                let n = n
                    .as_str()
                    .with_context(|| format!("domain `{d}` lists a non-string"))?;
                let &i = index
                    .get(n)
                    .with_context(|| format!("domain `{d}` lists unknown intent `{n}`"))?;
                ids.push(i);
            }
            domains.insert(d.clone(), ids);
        }
        let oos = |k: &str| -> Result<Vec<String>> {
            Ok(pairs(&data, k)?
                .unwrap_or_default()
                .into_iter()
                .map(|(p, _)| p)
                .collect())
        };
        Ok(Self {
            train: to_split("train", &train)?,
            val: to_split("val", &val)?,
            test: to_split("test", &test)?,
            oos_test: oos("oos_test")?,
            domains,
            intents,
        })
    }

    /// Indices into `train` of `k` prompts per intent: the first `k` in file order for seed
    /// 0, a seeded random choice otherwise (deterministic for a seed).
    pub fn k_shot(&self, k: usize, seed: u64) -> Vec<usize> {
        let mut by_intent: Vec<Vec<usize>> = vec![Vec::new(); self.intents.len()];
        for (i, &l) in self.train.labels.iter().enumerate() {
            by_intent[l].push(i);
        }
        let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let mut out = Vec::new();
        for mut idx in by_intent {
            if seed != 0 {
                for i in (1..idx.len()).rev() {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    idx.swap(i, (state % (i as u64 + 1)) as usize);
                }
            }
            out.extend(idx.into_iter().take(k));
        }
        out
    }
}
