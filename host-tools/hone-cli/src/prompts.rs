//! Prompt files: plain text (one prompt per line, optionally `prompt<TAB>label`) or a
//! CLINC150-style JSON object (`{"train": [[text, label], …], "test": …}`) with a split.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// One prompt and, when the file gives it, its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The text.
    pub text: String,
    /// Its class name.
    pub label: Option<String>,
}

/// Loads prompts from `path`. JSON files (`.json`) need `split`; text files ignore it.
/// Fails on an unreadable file, invalid UTF-8, a malformed JSON file or an empty result.
pub fn load(path: &Path, split: &str) -> Result<Vec<Prompt>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("{} is not UTF-8 text", path.display()))?;
    let prompts = if path.extension().is_some_and(|e| e == "json") {
        from_json(&text, split).with_context(|| format!("bad prompt file {}", path.display()))?
    } else {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| match l.split_once('\t') {
                Some((t, lab)) => Prompt {
                    text: t.to_string(),
                    label: Some(lab.trim().to_string()),
                },
                None => Prompt {
                    text: l.to_string(),
                    label: None,
                },
            })
            .collect()
    };
    if prompts.is_empty() {
        bail!("{} holds no prompts", path.display());
    }
    Ok(prompts)
}

fn from_json(text: &str, split: &str) -> Result<Vec<Prompt>> {
    let v: Value = serde_json::from_str(text)?;
    let Some(items) = v.get(split) else {
        let keys: Vec<&str> = v
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        bail!("no split {split:?} (splits: {})", keys.join(", "));
    };
    let items = items
        .as_array()
        .with_context(|| format!("split {split:?} is not an array"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, it)| match it {
            Value::String(s) => Ok(Prompt {
                text: s.clone(),
                label: None,
            }),
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.get(1)) {
                (Some(t), l) => Ok(Prompt {
                    text: t.to_string(),
                    label: l.and_then(Value::as_str).map(str::to_string),
                }),
                _ => bail!("{split}[{i}] is not [text, label]"),
            },
            _ => bail!("{split}[{i}] is neither a string nor [text, label]"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_files() {
        let dir = std::env::temp_dir().join(format!("hone-prompts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("p.txt");
        std::fs::write(&t, "turn it off\tlights_off\n\nplay music\n").unwrap();
        let p = load(&t, "ignored").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].label.as_deref(), Some("lights_off"));
        assert_eq!(p[1].label, None);
        let j = dir.join("d.json");
        std::fs::write(&j, r#"{"train": [["a b", "x"], ["c", "y"]], "test": []}"#).unwrap();
        let p = load(&j, "train").unwrap();
        assert_eq!(p[1].text, "c");
        assert!(load(&j, "test")
            .unwrap_err()
            .to_string()
            .contains("no prompts"));
        let e = load(&j, "val").unwrap_err();
        assert!(format!("{e:#}").contains("no split \"val\""), "{e:#}");
        std::fs::write(&t, [0xffu8, 0xfe]).unwrap();
        assert!(format!("{:#}", load(&t, "").unwrap_err()).contains("not UTF-8"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
