//! A persistent cache of teacher sentence embeddings, keyed by the exact input (text, or a
//! token key), stored as chunks `NAME-FINGERPRINT.{json,safetensors}` in the cache directory.

use anyhow::{Context, Result};
use candle_core::Device;
use std::collections::HashMap;
use std::path::PathBuf;

/// The embedding cache.
pub struct EmbCache {
    dir: PathBuf,
    map: HashMap<String, Vec<f32>>,
}

/// FNV-1a over the keys, to name a chunk.
fn fingerprint(keys: &[String]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in keys {
        for b in t.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl EmbCache {
    /// Open (and read every chunk of) the cache in `dir`.
    pub fn open(dir: PathBuf) -> Result<Self> {
        std::fs::create_dir_all(&dir)?;
        let mut map = HashMap::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        for p in names {
            let st = p.with_extension("safetensors");
            if !st.exists() {
                continue;
            }
            let keys: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&p)?)?;
            let t = candle_core::safetensors::load(&st, &Device::Cpu)?;
            let rows = t.get("emb").context("emb tensor")?.to_vec2::<f32>()?;
            anyhow::ensure!(
                rows.len() == keys.len(),
                "corrupt cache chunk {}",
                p.display()
            );
            map.extend(keys.into_iter().zip(rows));
        }
        Ok(Self { dir, map })
    }

    /// Rows for `keys`; the missing ones are computed by `compute(indices)` (rows for
    /// `keys[indices]`, in that order) and saved as a new chunk named `name`.
    pub fn get(
        &mut self,
        name: &str,
        keys: &[String],
        compute: impl FnOnce(&[usize]) -> Result<Vec<Vec<f32>>>,
    ) -> Result<Vec<Vec<f32>>> {
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<usize> = (0..keys.len())
            .filter(|&i| !self.map.contains_key(&keys[i]) && seen.insert(keys[i].as_str()))
            .collect();
        if !missing.is_empty() {
            let rows = compute(&missing)?;
            anyhow::ensure!(rows.len() == missing.len(), "embedding count mismatch");
            let mkeys: Vec<String> = missing.iter().map(|&i| keys[i].clone()).collect();
            let stem = format!("{name}-{:016x}", fingerprint(&mkeys));
            let t = crate::eval::to_tensor(&rows)?;
            candle_core::safetensors::save(
                &[("emb", t)].into_iter().collect(),
                self.dir.join(format!("{stem}.safetensors")),
            )?;
            std::fs::write(
                self.dir.join(format!("{stem}.json")),
                serde_json::to_string(&mkeys)?,
            )?;
            self.map.extend(mkeys.into_iter().zip(rows));
        }
        keys.iter()
            .map(|k| self.map.get(k).cloned().context("cache miss after compute"))
            .collect()
    }
}
