//! Float building blocks: dense layers, LayerNorm, GELU, softmax, NLL, cosine.
//!
//! Activations are `f32`; sums that decide accuracy (dot products, means, variances,
//! softmax normalisers) accumulate in `f64`.

/// A dense layer `y = W x + b` with `W` row-major `[out × inp]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    /// Weights, `out` rows of `inp`.
    pub w: Vec<f32>,
    /// Biases, `out` of them.
    pub b: Vec<f32>,
    /// Input features.
    pub inp: usize,
    /// Output features.
    pub out: usize,
}

impl Linear {
    /// Applies the layer to one row.
    pub fn apply(&self, x: &[f32]) -> Vec<f32> {
        self.w
            .chunks_exact(self.inp)
            .zip(&self.b)
            .map(|(row, &b)| (dot(row, x) + f64::from(b)) as f32)
            .collect()
    }

    /// Applies the layer to each `inp`-long row of `x` (weight rows outermost, so each is
    /// read once per call).
    pub fn apply_rows(&self, x: &[f32]) -> Vec<f32> {
        let rows = x.len() / self.inp.max(1);
        let mut y = vec![0.0f32; rows * self.out];
        for (r, (wr, &b)) in self.w.chunks_exact(self.inp).zip(&self.b).enumerate() {
            for (t, xr) in x.chunks_exact(self.inp).enumerate() {
                y[t * self.out + r] = (dot(wr, xr) + f64::from(b)) as f32;
            }
        }
        y
    }
}

/// Layer-normalisation parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNorm {
    /// Gains.
    pub gamma: Vec<f32>,
    /// Offsets.
    pub beta: Vec<f32>,
    /// Variance epsilon.
    pub eps: f32,
}

impl LayerNorm {
    /// Normalises each row of `x` (row length = `gamma.len()`) in place.
    pub fn apply_rows(&self, x: &mut [f32]) {
        let n = self.gamma.len();
        if n == 0 {
            return;
        }
        for row in x.chunks_exact_mut(n) {
            let mean = row.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
            let var = row
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n as f64;
            let inv = 1.0 / (var + f64::from(self.eps)).sqrt();
            for ((v, &g), &b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = ((f64::from(*v) - mean) * inv * f64::from(g) + f64::from(b)) as f32;
            }
        }
    }
}

/// `Σ a·b` accumulated in f64 (four partial sums).
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut ca = a.chunks_exact(4);
    let mut cb = b.chunks_exact(4);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..4 {
            acc[i] += f64::from(x[i]) * f64::from(y[i]);
        }
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    acc.iter().sum::<f64>() + tail
}

/// Exact GELU, `x · Φ(x) = x/2 · (1 + erf(x/√2))` (BERT's `"gelu"`).
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))
}

/// Softmax in place (stable; f64 normaliser).
pub fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return;
    }
    let mut sum = 0.0f64;
    for x in v.iter_mut() {
        let e = (f64::from(*x) - f64::from(max)).exp();
        *x = e as f32;
        sum += e;
    }
    for x in v.iter_mut() {
        *x = (f64::from(*x) / sum) as f32;
    }
}

/// Log-softmax of `v` (stable).
pub fn log_softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return v.to_vec();
    }
    let lse = f64::from(max)
        + v.iter()
            .map(|&x| (f64::from(x) - f64::from(max)).exp())
            .sum::<f64>()
            .ln();
    v.iter().map(|&x| (f64::from(x) - lse) as f32).collect()
}

/// Negative log-likelihood of class `target` under `log_probs` (∞ when out of range).
pub fn nll(log_probs: &[f32], target: usize) -> f32 {
    log_probs.get(target).map_or(f32::INFINITY, |&l| -l)
}

/// Index of the largest value (first on ties; 0 for an empty slice).
pub fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Scales `v` to unit L2 norm (unchanged when its norm is 0).
pub fn l2_normalize(v: &mut [f32]) {
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

/// Cosine similarity; 1 when both vectors are zero, 0 when exactly one is.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    match (na > 0.0, nb > 0.0) {
        (true, true) => dot(a, b) / (na * nb),
        (false, false) => 1.0,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_known_values() {
        // Φ(1) = 0.841344746..., Φ(-1) = 0.158655254...
        assert!((gelu(1.0) - 0.841_344_746).abs() < 1e-8);
        assert!((gelu(-1.0) + 0.158_655_254).abs() < 1e-8);
        assert_eq!(gelu(0.0), 0.0);
        assert!((gelu(6.0) - 6.0).abs() < 1e-6);
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let ln = LayerNorm {
            gamma: vec![2.0; 4],
            beta: vec![1.0; 4],
            eps: 0.0,
        };
        let mut x = vec![1.0, 2.0, 3.0, 4.0];
        ln.apply_rows(&mut x);
        let mean: f32 = x.iter().sum::<f32>() / 4.0;
        assert!((mean - 1.0).abs() < 1e-6);
        let var: f32 = x.iter().map(|v| ((v - 1.0) / 2.0).powi(2)).sum::<f32>() / 4.0;
        assert!((var - 1.0).abs() < 1e-5);
    }

    #[test]
    fn log_softmax_and_nll() {
        let lp = log_softmax(&[1.0, 2.0, 3.0]);
        let total: f64 = lp.iter().map(|&l| f64::from(l).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!((nll(&lp, 2) - 0.407_605_97).abs() < 1e-6);
        assert_eq!(nll(&lp, 3), f32::INFINITY);
        let mut p = vec![0.0, 0.0];
        softmax(&mut p);
        assert_eq!(p, vec![0.5, 0.5]);
    }

    #[test]
    fn cosine_and_argmax() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(cosine(&[0.0], &[0.0]), 1.0);
        assert_eq!(cosine(&[0.0], &[1.0]), 0.0);
        assert_eq!(argmax(&[0.1, 0.7, 0.7]), 1);
        let l = Linear {
            w: vec![1.0, 2.0, 3.0, 4.0],
            b: vec![0.5, -0.5],
            inp: 2,
            out: 2,
        };
        assert_eq!(l.apply(&[1.0, 1.0]), vec![3.5, 6.5]);
    }
}
