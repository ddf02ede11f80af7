//! f64 reference of on-device last-layer adaptation: the regularised, weighted,
//! label-smoothed NLL of a softmax head, its analytic gradient, and the SGD/Adam updates.
//!
//! Written independently of the runtime (`hone::adapt`): it computes the full softmax over
//! every class directly (no cached log-sum-exp of frozen rows), in f64. The objective on a
//! batch `B` is
//!
//! ```text
//! L = Σ_{i∈B} c_i · ℓ_i + λ/2 Σ_{k trainable} (‖W_k − A_k‖² + (b_k − a_k)²),
//! ℓ_i = −Σ_c t_ic log softmax(W h_i + b)_c,   t_i = (1 − ε) onehot(y_i) + ε/K,
//! ```
//!
//! with `c_i = w_i` (sum) or `w_i / |B|` (mean). Rows `0..first_trainable` are frozen.

/// How per-example losses combine over a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// Σ.
    Sum,
    /// Σ / |B|.
    Mean,
}

/// A training problem: a head, its trainable rows' prior centres, and labelled features.
#[derive(Debug, Clone)]
pub struct Problem {
    /// All rows `K × d` (frozen ones first).
    pub w: Vec<Vec<f64>>,
    /// All biases.
    pub b: Vec<f64>,
    /// Index of the first trainable row.
    pub first_trainable: usize,
    /// Prior centres `A_k` of the trainable rows.
    pub anchor: Vec<Vec<f64>>,
    /// Prior centres `a_k` of the trainable biases.
    pub anchor_b: Vec<f64>,
    /// Features `h_i`.
    pub feats: Vec<Vec<f64>>,
    /// Labels `y_i`.
    pub labels: Vec<usize>,
    /// Example weights `w_i`.
    pub weights: Vec<f64>,
    /// λ.
    pub l2: f64,
    /// ε.
    pub smoothing: f64,
    /// Sum or mean.
    pub reduction: Reduction,
}

/// Gradient of the objective with respect to the trainable rows and biases.
#[derive(Debug, Clone, PartialEq)]
pub struct Gradient {
    /// Objective value.
    pub loss: f64,
    /// `∂L/∂W_k` for trainable rows.
    pub w: Vec<Vec<f64>>,
    /// `∂L/∂b_k` for trainable rows.
    pub b: Vec<f64>,
}

/// Class-balanced weights `w_i = n / (K · n_{y_i})` over the `K` distinct labels present.
pub fn class_weights(labels: &[usize]) -> Vec<f64> {
    let mut distinct: Vec<usize> = labels.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    let n = labels.len() as f64;
    labels
        .iter()
        .map(|y| {
            let n_y = labels.iter().filter(|&z| z == y).count() as f64;
            n / (distinct.len() as f64 * n_y)
        })
        .collect()
}

/// `log softmax(v)` computed stably.
pub fn log_softmax(v: &[f64]) -> Vec<f64> {
    let m = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
    v.iter().map(|x| x - lse).collect()
}

impl Problem {
    /// Number of classes `K`.
    pub fn classes(&self) -> usize {
        self.w.len()
    }

    /// Logits `W h + b` of features `h`.
    pub fn logits(&self, h: &[f64]) -> Vec<f64> {
        self.w
            .iter()
            .zip(&self.b)
            .map(|(row, b)| b + row.iter().zip(h).map(|(w, x)| w * x).sum::<f64>())
            .collect()
    }

    /// Most likely class for `h`.
    pub fn predict(&self, h: &[f64]) -> usize {
        let z = self.logits(h);
        (0..z.len()).fold(0, |best, c| if z[c] > z[best] { c } else { best })
    }

    fn coef(&self, i: usize, batch: usize) -> f64 {
        match self.reduction {
            Reduction::Sum => self.weights[i],
            Reduction::Mean => self.weights[i] / batch as f64,
        }
    }

    fn target(&self, i: usize, c: usize) -> f64 {
        let k = self.classes() as f64;
        let hot = if c == self.labels[i] { 1.0 } else { 0.0 };
        (1.0 - self.smoothing) * hot + self.smoothing / k
    }

    /// `λ/2 Σ (‖W_k − A_k‖² + (b_k − a_k)²)`.
    pub fn prior(&self) -> f64 {
        let mut s = 0.0;
        for (row, a) in self.w[self.first_trainable..].iter().zip(&self.anchor) {
            s += row
                .iter()
                .zip(a)
                .map(|(w, a)| (w - a) * (w - a))
                .sum::<f64>();
        }
        for (b, a) in self.b[self.first_trainable..].iter().zip(&self.anchor_b) {
            s += (b - a) * (b - a);
        }
        0.5 * self.l2 * s
    }

    /// The objective on `batch` (indices into the examples).
    pub fn objective(&self, batch: &[usize]) -> f64 {
        let mut loss = 0.0;
        for &i in batch {
            let lp = log_softmax(&self.logits(&self.feats[i]));
            let l: f64 = (0..lp.len()).map(|c| -self.target(i, c) * lp[c]).sum();
            loss += self.coef(i, batch.len()) * l;
        }
        loss + self.prior()
    }

    /// Mean unweighted, unsmoothed NLL over `examples`.
    pub fn mean_nll(&self, examples: &[usize]) -> f64 {
        let total: f64 = examples
            .iter()
            .map(|&i| -log_softmax(&self.logits(&self.feats[i]))[self.labels[i]])
            .sum();
        total / examples.len() as f64
    }

    /// Objective and analytic gradient on `batch`:
    /// `∂L/∂W_k = Σ_i c_i (p_ik − t_ik) h_i + λ (W_k − A_k)`,
    /// `∂L/∂b_k = Σ_i c_i (p_ik − t_ik) + λ (b_k − a_k)`.
    pub fn gradient(&self, batch: &[usize]) -> Gradient {
        let first = self.first_trainable;
        let d = self.feats.first().map_or(0, Vec::len);
        let n_tr = self.classes() - first;
        let mut gw = vec![vec![0.0; d]; n_tr];
        let mut gb = vec![0.0; n_tr];
        for &i in batch {
            let lp = log_softmax(&self.logits(&self.feats[i]));
            let c_i = self.coef(i, batch.len());
            for k in 0..n_tr {
                let r = c_i * (lp[first + k].exp() - self.target(i, first + k));
                gb[k] += r;
                for (g, x) in gw[k].iter_mut().zip(&self.feats[i]) {
                    *g += r * x;
                }
            }
        }
        for (k, row) in gw.iter_mut().enumerate() {
            for (f, g) in row.iter_mut().enumerate() {
                *g += self.l2 * (self.w[first + k][f] - self.anchor[k][f]);
            }
            gb[k] += self.l2 * (self.b[first + k] - self.anchor_b[k]);
        }
        Gradient {
            loss: self.objective(batch),
            w: gw,
            b: gb,
        }
    }
}

/// Optimisers of the reference (same update rules as the runtime's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// `v ← μ v + g; θ ← θ − η v`.
    Sgd {
        /// μ.
        momentum: f64,
    },
    /// Adam with bias correction.
    Adam {
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
        /// ε.
        eps: f64,
    },
}

/// Trains the trainable rows of a [`Problem`] step by step.
#[derive(Debug, Clone)]
pub struct Trainer {
    /// The problem (its trainable rows change).
    pub problem: Problem,
    opt: Optimizer,
    clip: f64,
    m: Vec<Vec<f64>>,
    v: Vec<Vec<f64>>,
    t: i32,
}

impl Trainer {
    /// A trainer with zero optimiser state; `clip` is the global-norm clip (0: none).
    pub fn new(problem: Problem, opt: Optimizer, clip: f64) -> Self {
        let d = problem.feats.first().map_or(0, Vec::len);
        let n = problem.classes() - problem.first_trainable;
        Self {
            problem,
            opt,
            clip,
            m: vec![vec![0.0; d + 1]; n],
            v: vec![vec![0.0; d + 1]; n],
            t: 0,
        }
    }

    /// One step on `batch` with rate `lr`; returns the objective before the step.
    pub fn step(&mut self, batch: &[usize], lr: f64) -> f64 {
        let g = self.problem.gradient(batch);
        let norm = (g.w.iter().flatten().map(|x| x * x).sum::<f64>()
            + g.b.iter().map(|x| x * x).sum::<f64>())
        .sqrt();
        let scale = if self.clip > 0.0 && norm > self.clip {
            self.clip / norm
        } else {
            1.0
        };
        self.t += 1;
        let first = self.problem.first_trainable;
        for k in 0..g.b.len() {
            let d = g.w[k].len();
            for j in 0..=d {
                let gj = scale * if j < d { g.w[k][j] } else { g.b[k] };
                let (m, v) = (&mut self.m[k][j], &mut self.v[k][j]);
                let delta = match self.opt {
                    Optimizer::Sgd { momentum } => {
                        *m = momentum * *m + gj;
                        lr * *m
                    }
                    Optimizer::Adam { beta1, beta2, eps } => {
                        *m = beta1 * *m + (1.0 - beta1) * gj;
                        *v = beta2 * *v + (1.0 - beta2) * gj * gj;
                        let mh = *m / (1.0 - beta1.powi(self.t));
                        let vh = *v / (1.0 - beta2.powi(self.t));
                        lr * mh / (vh.sqrt() + eps)
                    }
                };
                if j < d {
                    self.problem.w[first + k][j] -= delta;
                } else {
                    self.problem.b[first + k] -= delta;
                }
            }
        }
        g.loss
    }
}

#[cfg(test)]
mod tests;
