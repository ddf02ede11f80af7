//! Host-side heads for the evaluation protocol: a multinomial logistic-regression head
//! trained by NLL (mini-batch Adam, the f64 reference trainer of `hone-reference`) on frozen
//! features, and out-of-scope rejection by a probability threshold.

use hone_reference::nll::{Optimizer, Problem, Reduction, Trainer};

/// Settings of a logistic-regression head. Fixed a priori (not tuned on test data).
#[derive(Debug, Clone, Copy)]
pub struct LrConfig {
    /// Passes over the data.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// λ of the L2 prior toward zero.
    pub l2: f64,
}

impl Default for LrConfig {
    fn default() -> Self {
        Self {
            epochs: 40,
            batch: 32,
            lr: 0.02,
            l2: 1e-4,
        }
    }
}

/// A trained linear head.
#[derive(Debug, Clone)]
pub struct LinearHead {
    /// Rows `[classes][dim]`.
    pub w: Vec<Vec<f64>>,
    /// Biases.
    pub b: Vec<f64>,
}

impl LinearHead {
    /// Log-probabilities of every class.
    pub fn log_probs(&self, h: &[f32]) -> Vec<f64> {
        let z: Vec<f64> = self
            .w
            .iter()
            .zip(&self.b)
            .map(|(w, b)| b + w.iter().zip(h).map(|(a, &x)| a * f64::from(x)).sum::<f64>())
            .collect();
        hone_reference::nll::log_softmax(&z)
    }

    /// Most likely class and its probability.
    pub fn predict(&self, h: &[f32]) -> (usize, f64) {
        let lp = self.log_probs(h);
        let (best, l) = lp
            .iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |(bi, bl), (i, &l)| {
                if l > bl {
                    (i, l)
                } else {
                    (bi, bl)
                }
            });
        (best, l.exp())
    }
}

/// Trains a head over `classes` classes by mean NLL + λ/2‖W‖², shuffling with `seed`.
pub fn train_lr(
    feats: &[Vec<f32>],
    labels: &[usize],
    classes: usize,
    cfg: LrConfig,
    seed: u64,
) -> LinearHead {
    let d = feats.first().map_or(0, Vec::len);
    let problem = Problem {
        w: vec![vec![0.0; d]; classes],
        b: vec![0.0; classes],
        first_trainable: 0,
        anchor: vec![vec![0.0; d]; classes],
        anchor_b: vec![0.0; classes],
        feats: feats
            .iter()
            .map(|f| f.iter().map(|&x| f64::from(x)).collect())
            .collect(),
        labels: labels.to_vec(),
        weights: vec![1.0; labels.len()],
        l2: cfg.l2,
        smoothing: 0.0,
        reduction: Reduction::Mean,
    };
    let adam = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let mut t = Trainer::new(problem, adam, 0.0);
    let mut order: Vec<usize> = (0..labels.len()).collect();
    let mut state = seed | 1;
    for _ in 0..cfg.epochs {
        // Fisher–Yates with xorshift64: deterministic for a seed.
        for i in (1..order.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            order.swap(i, (state % (i as u64 + 1)) as usize);
        }
        for batch in order.chunks(cfg.batch.max(1)) {
            t.step(batch, cfg.lr);
        }
    }
    LinearHead {
        w: t.problem.w,
        b: t.problem.b,
    }
}

/// Fraction of `feats` whose prediction equals the label.
pub fn accuracy(head: &LinearHead, feats: &[Vec<f32>], labels: &[usize]) -> f64 {
    let hits = feats
        .iter()
        .zip(labels)
        .filter(|(f, &l)| head.predict(f).0 == l)
        .count();
    hits as f64 / labels.len().max(1) as f64
}

/// Out-of-scope rejection at a probability threshold.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct OosResult {
    /// Threshold on the top class probability (below: rejected as out of scope).
    pub threshold: f64,
    /// Fraction of out-of-scope test prompts rejected.
    pub recall: f64,
    /// In-scope test accuracy when rejected prompts count as errors.
    pub in_scope_acc: f64,
    /// In-scope test accuracy without rejection.
    pub in_scope_acc_no_reject: f64,
}

/// Chooses the largest threshold that keeps in-scope *validation* accuracy (rejections
/// counted as errors) within `drop` of its value without rejection, then measures recall on
/// the out-of-scope *test* prompts and in-scope test accuracy at that threshold.
pub fn oos_rejection(
    head: &LinearHead,
    val: (&[Vec<f32>], &[usize]),
    test: (&[Vec<f32>], &[usize]),
    oos_test: &[Vec<f32>],
    drop: f64,
) -> OosResult {
    let scored = |f: &[Vec<f32>], l: &[usize]| -> Vec<(f64, bool)> {
        f.iter()
            .zip(l)
            .map(|(f, &l)| {
                let (p, conf) = head.predict(f);
                (conf, p == l)
            })
            .collect()
    };
    let acc_at = |s: &[(f64, bool)], t: f64| {
        s.iter().filter(|(c, ok)| *ok && *c >= t).count() as f64 / s.len().max(1) as f64
    };
    let v = scored(val.0, val.1);
    let base = acc_at(&v, 0.0);
    let mut candidates: Vec<f64> = v.iter().map(|(c, _)| *c).collect();
    candidates.sort_by(f64::total_cmp);
    let mut threshold = 0.0;
    for &t in &candidates {
        if acc_at(&v, t) >= base - drop {
            threshold = t;
        } else {
            break;
        }
    }
    let s = scored(test.0, test.1);
    let rejected = oos_test
        .iter()
        .filter(|f| head.predict(f).1 < threshold)
        .count();
    OosResult {
        threshold,
        recall: rejected as f64 / oos_test.len().max(1) as f64,
        in_scope_acc: acc_at(&s, threshold),
        in_scope_acc_no_reject: acc_at(&s, 0.0),
    }
}
