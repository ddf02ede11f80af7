//! The student: static token embeddings, mean pooling over the prompt's tokens, an optional
//! small MLP, and an L2-normalised feature. Initialised model2vec-style (teacher output per
//! vocabulary token, PCA to the student width) and trained by distillation plus supervised NLL.

use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_distr_free::normal;

/// One MLP layer after pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Act {
    /// max(0, x).
    Relu,
    /// Identity.
    None,
}

/// The student's trainable parameters.
pub struct Student {
    /// Token table `[V, d]`.
    pub emb: Var,
    /// MLP layers `(weight [out, in], bias [out], activation)`.
    pub mlp: Vec<(Var, Var, Act)>,
}

/// Token ids of a batch, padded with 0 and a mask.
pub struct Batch {
    /// `[B, L]` u32.
    pub ids: Tensor,
    /// `[B, L]` f32, 1 = token.
    pub mask: Tensor,
}

impl Batch {
    /// Pad `seqs` (each non-empty or not) into a batch.
    pub fn new(seqs: &[&[u32]]) -> Result<Self> {
        let b = seqs.len();
        let l = seqs.iter().map(|s| s.len()).max().unwrap_or(1).max(1);
        let mut ids = vec![0u32; b * l];
        let mut mask = vec![0f32; b * l];
        for (r, s) in seqs.iter().enumerate() {
            for (c, &t) in s.iter().enumerate() {
                ids[r * l + c] = t;
                mask[r * l + c] = 1.0;
            }
        }
        Ok(Self {
            ids: Tensor::from_vec(ids, (b, l), &Device::Cpu)?,
            mask: Tensor::from_vec(mask, (b, l), &Device::Cpu)?,
        })
    }
}

/// Seeded normal samples (Box–Muller), so initialisation is deterministic.
pub mod rand_distr_free {
    use rand::Rng;
    /// `n` samples of N(0, std²).
    pub fn normal(rng: &mut impl Rng, n: usize, std: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u1: f32 = rng.random::<f32>().max(1e-7);
                let u2: f32 = rng.random::<f32>();
                (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos() * std
            })
            .collect()
    }
}

/// A seeded `[rows, cols]` normal matrix as a trainable variable.
pub fn randn_var(rng: &mut rand::rngs::StdRng, rows: usize, cols: usize, std: f32) -> Result<Var> {
    let t = Tensor::from_vec(normal(rng, rows * cols, std), (rows, cols), &Device::Cpu)?;
    Ok(Var::from_tensor(&t)?)
}

impl Student {
    /// A student with token table `emb` and MLP widths `mlp` (ReLU), seeded.
    pub fn new(emb: Tensor, mlp: &[usize], seed: u64) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut layers = Vec::new();
        let mut inp = emb.dim(1)?;
        for &out in mlp {
            let w = randn_var(&mut rng, out, inp, (2.0 / inp as f32).sqrt())?;
            let b = Var::zeros(out, DType::F32, &Device::Cpu)?;
            layers.push((w, b, Act::Relu));
            inp = out;
        }
        let _ = rng.random::<u32>();
        Ok(Self {
            emb: Var::from_tensor(&emb)?,
            mlp: layers,
        })
    }

    /// Feature width.
    pub fn feature_size(&self) -> Result<usize> {
        Ok(match self.mlp.last() {
            Some((w, _, _)) => w.dim(0)?,
            None => self.emb.dim(1)?,
        })
    }

    /// All trainable variables.
    pub fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.emb.clone()];
        for (w, b, _) in &self.mlp {
            v.push(w.clone());
            v.push(b.clone());
        }
        v
    }

    /// Un-normalised features `[B, F]`.
    pub fn forward(&self, batch: &Batch) -> Result<Tensor> {
        let (b, l) = batch.ids.dims2()?;
        let d = self.emb.dim(1)?;
        let e = self
            .emb
            .as_tensor()
            .index_select(&batch.ids.flatten_all()?, 0)?;
        let e = e.reshape((b, l, d))?;
        let mut x = crate::teacher::masked_mean(&e, &batch.mask)?;
        for (w, bias, act) in &self.mlp {
            x = x
                .matmul(&w.as_tensor().t()?)?
                .broadcast_add(bias.as_tensor())?;
            if *act == Act::Relu {
                x = x.relu()?;
            }
        }
        Ok(x)
    }

    /// L2-normalised features of many sequences, as rows.
    pub fn features(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(seqs.len());
        for chunk in seqs.chunks(1024) {
            let refs: Vec<&[u32]> = chunk.iter().map(Vec::as_slice).collect();
            let f = crate::teacher::l2_normalize(&self.forward(&Batch::new(&refs)?)?)?;
            out.extend(f.to_vec2::<f32>()?);
        }
        Ok(out)
    }
}

/// Top-`k` principal directions of the rows of `x` `[N, H]` (centred), by orthogonal iteration
/// on the covariance; returns the projected, centred rows `[N, k]`.
pub fn pca(x: &Tensor, k: usize, seed: u64) -> Result<Tensor> {
    let (n, h) = x.dims2()?;
    let mean = x.mean_keepdim(0)?;
    let xc = x.broadcast_sub(&mean)?;
    let cov = (xc.t()?.matmul(&xc)? / n as f64)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut q = Tensor::from_vec(normal(&mut rng, h * k, 1.0), (h, k), &Device::Cpu)?;
    for _ in 0..60 {
        q = orthonormalize(&cov.matmul(&q)?)?;
    }
    Ok(xc.matmul(&q)?)
}

/// Modified Gram–Schmidt on the columns of `[H, k]`.
fn orthonormalize(m: &Tensor) -> Result<Tensor> {
    let (h, k) = m.dims2()?;
    let cols = m.t()?.to_vec2::<f32>()?;
    let mut done: Vec<Vec<f32>> = Vec::with_capacity(k);
    for mut c in cols {
        for d in &done {
            let dot: f32 = c.iter().zip(d).map(|(a, b)| a * b).sum();
            c.iter_mut().zip(d).for_each(|(a, b)| *a -= dot * b);
        }
        let n = c.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-12);
        c.iter_mut().for_each(|a| *a /= n);
        done.push(c);
    }
    let flat: Vec<f32> = done.into_iter().flatten().collect();
    Ok(Tensor::from_vec(flat, (k, h), &Device::Cpu)?
        .t()?
        .contiguous()?)
}

/// Mean cosine distance `1 - cos(a, b)` over rows.
pub fn cosine_loss(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let an = crate::teacher::l2_normalize(a)?;
    let bn = crate::teacher::l2_normalize(b)?;
    Ok((1.0 - (an * bn)?.sum(D::Minus1)?.mean_all()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding() -> Result<()> {
        let emb = Tensor::new(&[[0f32, 0.0], [1.0, 0.0], [0.0, 3.0]], &Device::Cpu)?;
        let s = Student::new(emb, &[], 0)?;
        let f = s
            .forward(&Batch::new(&[&[1, 2], &[2]])?)?
            .to_vec2::<f32>()?;
        assert_eq!(f, vec![vec![0.5, 1.5], vec![0.0, 3.0]]);
        Ok(())
    }

    #[test]
    fn pca_finds_the_dominant_direction() -> Result<()> {
        // Points spread along (1, 1, 0) with small noise on the other axes.
        let rows: Vec<Vec<f32>> = (0..50)
            .map(|i| {
                let t = i as f32 - 25.0;
                vec![t + 0.01 * (i % 3) as f32, t, 0.02 * (i % 5) as f32]
            })
            .collect();
        let p = pca(&crate::eval::to_tensor(&rows)?, 1, 3)?.to_vec2::<f32>()?;
        let var: f32 = p.iter().map(|r| r[0] * r[0]).sum::<f32>() / 50.0;
        let total: f32 = rows
            .iter()
            .map(|r| (r[0]).powi(2) + r[1].powi(2))
            .sum::<f32>()
            / 50.0;
        assert!(var > 0.99 * total, "{var} vs {total}");
        Ok(())
    }
}
