//! [`Trainer`]: mini-batch NLL fine-tuning of the enrolled rows, with validation and rollback.

mod fit;

use super::{prefix, prefix_mut, AdaptError, Head, Optimizer, Schedule, Setting, Store};
use crate::quant::{exp_f32, ln_f32};

/// Largest mini-batch.
pub const MAX_BATCH: usize = 32;
/// Most epochs per training run.
pub const MAX_EPOCHS: usize = 128;

/// How the per-example losses of a mini-batch are combined (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reduction {
    /// `Σ_i w_i ℓ_i`.
    Sum,
    /// `(1/B) Σ_i w_i ℓ_i` over a batch of `B`.
    Mean,
}

/// Which examples decide whether training helped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Validation {
    /// Train on everything, keep the last head (no rollback).
    None,
    /// Hold out every `every`-th example of each class (`every ≥ 2`); keep the epoch with the
    /// best held-out NLL, or the starting head if no epoch beats it.
    Holdout {
        /// Period of the held-out examples within a class.
        every: u8,
    },
    /// `folds`-fold cross-validation (`folds ≥ 2`) chooses the number of epochs (0 when no
    /// epoch beats the starting head on average), then the head is trained on all examples.
    KFold {
        /// Number of folds.
        folds: u8,
    },
}

/// Hyper-parameters of a training run.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrainConfig {
    /// Optimiser.
    pub optimizer: Optimizer,
    /// Base learning rate η > 0.
    pub lr: f32,
    /// Learning-rate schedule over all steps of a run.
    pub schedule: Schedule,
    /// Passes over the training examples (≤ [`MAX_EPOCHS`]).
    pub epochs: u16,
    /// Mini-batch size (1..=[`MAX_BATCH`]).
    pub batch: u16,
    /// λ of the prior `λ/2 ‖θ − θ_pre‖²` over the new rows and biases (≥ 0).
    pub l2: f32,
    /// Sum or mean over a batch.
    pub reduction: Reduction,
    /// Weight examples so that every class present contributes equally.
    pub class_balanced: bool,
    /// Label smoothing ε in `[0, 1)`.
    pub label_smoothing: f32,
    /// Clip the gradient's global L2 norm to this (0: no clipping).
    pub clip_norm: f32,
    /// Seed of the example shuffle.
    pub seed: u32,
    /// Validation and rollback.
    pub validation: Validation,
    /// Cap on each new row's L2 norm, as a multiple of the pre-trained rows' mean norm,
    /// enforced after every step by projection onto the ball of that radius (0: no cap).
    ///
    /// The likelihood of new-class examples alone keeps rising as a new row grows, and a
    /// longer row scores higher on *every* prompt near its direction, old classes' included.
    /// Capping the norm at the old rows' typical size keeps the new rows competing on equal
    /// terms: training can still turn a row and move its bias, but not outshout the old ones.
    pub max_norm: f32,
}

impl Default for TrainConfig {
    /// Adam, η = 0.02, 30 epochs of batches of 8, mean reduction, class-balanced, λ = 0.01,
    /// clipping at 5, new rows' norms capped at the old rows' mean norm, 3-fold
    /// cross-validation of the number of epochs (0 when no epoch beats the imprinted head on
    /// average: never worse), then training on all examples.
    ///
    /// Chosen on the validation split of CLINC150 with the shipped model (`hone eval
    /// --enrol-split val`): the largest new-intent accuracy whose old-intent accuracy drops by
    /// less than 1.5 points. The measurements behind the choice are in
    /// `models/hone-intent/MODEL_CARD.md` ("Enrolment on the device").
    fn default() -> Self {
        Self {
            optimizer: Optimizer::ADAM,
            lr: 0.02,
            schedule: Schedule::Constant,
            epochs: 30,
            batch: 8,
            l2: 0.01,
            reduction: Reduction::Mean,
            class_balanced: true,
            label_smoothing: 0.0,
            clip_norm: 5.0,
            seed: 0x1234_5678,
            validation: Validation::KFold { folds: 3 },
            max_norm: 1.0,
        }
    }
}

impl TrainConfig {
    /// The first setting out of range for a workspace of `slots` optimiser slots.
    fn check(&self, slots: usize) -> Result<(), Setting> {
        let pos = |x: f32| x.is_finite() && x > 0.0;
        let nonneg = |x: f32| x.is_finite() && x >= 0.0;
        let folds_ok = match self.validation {
            Validation::None => true,
            Validation::Holdout { every } => every >= 2,
            Validation::KFold { folds } => folds >= 2,
        };
        let checks = [
            (self.optimizer.valid(), Setting::Optimizer),
            (self.optimizer.slots() <= slots, Setting::OptimizerSlots),
            (pos(self.lr), Setting::LearningRate),
            (usize::from(self.epochs) <= MAX_EPOCHS, Setting::Epochs),
            (
                (1..=MAX_BATCH).contains(&usize::from(self.batch)),
                Setting::Batch,
            ),
            (nonneg(self.l2), Setting::L2),
            (nonneg(self.clip_norm), Setting::ClipNorm),
            (nonneg(self.max_norm), Setting::MaxNorm),
            (
                (0.0..1.0).contains(&self.label_smoothing),
                Setting::LabelSmoothing,
            ),
            (folds_ok, Setting::Validation),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some(&(_, s)) => Err(s),
            None => Ok(()),
        }
    }
}

/// Per-example quantities that do not change during training (old rows are frozen).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cached {
    /// `ln Σ_{c old} exp z_c` (−∞ with no old class).
    lse_old: f32,
    /// The target's logit when the target is an old class.
    z_target: f32,
    /// `Σ_{c old} z_c` (for label smoothing).
    sum_old: f32,
    /// Example weight `w_i` for the current split.
    weight: f32,
    /// Rank of the example within its class (for splits).
    rank: u16,
}

// All zero bits, so that a `Workspace` in a `static` goes to `.bss` (no flash copy): every
// entry in use is written by `Trainer::new` before it is read.
const CACHED0: Cached = Cached {
    lse_old: 0.0,
    z_target: 0.0,
    sum_old: 0.0,
    weight: 0.0,
    rank: 0,
};

/// Working memory of training: optimiser state (`S` f32 slots per parameter, see
/// [`Optimizer::slots`]), the best/starting-head snapshot, per-example caches, the example
/// order and the gradient of one step. Allocate it once (e.g. in a `static`).
#[derive(Debug, Clone)]
pub struct Workspace<const NEW: usize, const F: usize, const N: usize, const S: usize> {
    /// Optimiser state of each new row's weights and bias: row `k`'s `S` slots together.
    state_w: [[[f32; F]; S]; NEW],
    state_b: [[f32; S]; NEW],
    snap_w: [[f32; F]; NEW],
    snap_b: [f32; NEW],
    cache: [Cached; N],
    order: [u16; N],
    /// Gradient of the current step (computed once, read by clipping and by the update).
    grad_w: [[f32; F]; NEW],
    grad_b: [f32; NEW],
    curve: [f32; MAX_EPOCHS],
}

impl<const NEW: usize, const F: usize, const N: usize, const S: usize> Workspace<NEW, F, N, S> {
    /// A zeroed workspace.
    pub const fn new() -> Self {
        Self {
            state_w: [[[0.0; F]; S]; NEW],
            state_b: [[0.0; S]; NEW],
            snap_w: [[0.0; F]; NEW],
            snap_b: [0.0; NEW],
            cache: [CACHED0; N],
            order: [0; N],
            grad_w: [[0.0; F]; NEW],
            grad_b: [0.0; NEW],
            curve: [0.0; MAX_EPOCHS],
        }
    }
}

impl<const NEW: usize, const F: usize, const N: usize, const S: usize> Default
    for Workspace<NEW, F, N, S>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Class-balanced weights `w_i = n / (K · n_{y_i})` of `labels` (`K` distinct classes), written
/// into `out`.
pub fn class_weights(labels: &[u16], out: &mut [f32]) {
    let n = labels.len();
    // Distinct classes: the labels at their first occurrence.
    let first = |(i, l): (usize, &u16)| labels.iter().position(|m| m == l) == Some(i);
    let k = labels.iter().enumerate().filter(|&e| first(e)).count();
    for (o, l) in out.iter_mut().zip(labels) {
        let n_y = labels.iter().filter(|&m| m == l).count();
        *o = n as f32 / (k as f32 * n_y as f32);
    }
}

/// What one optimisation step did.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StepInfo {
    /// Objective on the batch before the step (data term + prior).
    pub loss: f32,
    /// Global gradient norm before clipping (computed only when clipping is on).
    pub grad_norm: Option<f32>,
    /// The step was skipped because the loss or gradient was NaN or infinite.
    pub skipped: bool,
}

/// Outcome of [`Trainer::train`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TrainReport {
    /// Optimisation steps taken (including skipped ones).
    pub steps: u32,
    /// Steps skipped by the NaN/inf guard.
    pub skipped: u32,
    /// Epochs of the kept head (0: the starting head was kept).
    pub best_epoch: u16,
    /// Validation NLL of the starting head (mean over held-out examples; for k-fold, mean
    /// over folds; NaN without validation).
    pub val_before: f32,
    /// Validation NLL of the kept head (NaN without validation).
    pub val_after: f32,
    /// Training did not improve the validation NLL and the starting head was restored.
    pub rolled_back: bool,
}

/// Trains the enrolled rows of a [`Head`] on the examples of a [`Store`].
#[derive(Debug)]
pub struct Trainer<'t, 'm, 'a, const NEW: usize, const F: usize, const N: usize, const S: usize> {
    head: &'t mut Head<'m, 'a, NEW, F>,
    store: &'t Store<N, F>,
    ws: &'t mut Workspace<NEW, F, N, S>,
    cfg: TrainConfig,
    n_train: usize,
    n_val: usize,
    t: u32,
    pow: (f32, f32),
    rng: u32,
    skipped: u32,
    /// Largest norm of a new row (∞: no cap).
    norm_cap: f32,
}

/// What [`Trainer`]'s forward pass of one example yields besides its new logits.
struct Forward<'c> {
    /// The example's cached statistics.
    c: &'c Cached,
    /// Its label.
    label: u16,
    /// Log-sum-exp of its logits over all classes.
    lse: f32,
}

/// Converts example features into f32 (`d` values).
#[inline]
fn load<const F: usize>(feat: &[half::f16; F], d: usize, h: &mut [f32; F]) {
    for (o, x) in h.iter_mut().zip(feat).take(d) {
        *o = widen(*x);
    }
}

/// `x` as f32, exactly (the same value as `f16::to_f32`): a normal f16 takes a few integer
/// operations (rebias the exponent, shift the mantissa); zeros, subnormals, infinities and
/// NaN go through `half`. Training converts every feature it reads, and `half`'s portable
/// conversion has no hardware path on Cortex-M.
#[inline(always)]
pub(crate) fn widen(x: half::f16) -> f32 {
    let h = u32::from(x.to_bits());
    let e = h & 0x7c00;
    if e != 0 && e != 0x7c00 {
        // (127 − 15) << 10 rebiases the exponent; sign moves from bit 15 to bit 31.
        f32::from_bits(((h & 0x8000) << 16) | (((h & 0x7fff) + (112 << 10)) << 13))
    } else {
        x.to_f32()
    }
}

impl<'t, 'm, 'a, const NEW: usize, const F: usize, const N: usize, const S: usize>
    Trainer<'t, 'm, 'a, NEW, F, N, S>
{
    /// Prepares training: checks the configuration and the labels, and caches each example's
    /// old-class statistics (one pass of the frozen rows per example). Starts with every
    /// example in the training split.
    pub fn new(
        head: &'t mut Head<'m, 'a, NEW, F>,
        store: &'t Store<N, F>,
        ws: &'t mut Workspace<NEW, F, N, S>,
        cfg: TrainConfig,
    ) -> Result<Self, AdaptError> {
        cfg.check(S).map_err(AdaptError::BadConfig)?;
        let classes = head.num_classes();
        if store.iter().any(|e| usize::from(e.label) >= classes) {
            return Err(AdaptError::UnknownLabel);
        }
        let (old, d) = (head.old_classes(), head.dim());
        let mut h = [0.0f32; F];
        for ((i, e), cached) in store.iter().enumerate().zip(ws.cache.iter_mut()) {
            load(&e.feat, d, &mut h);
            let h = prefix(&h, d);
            let (mut m, mut s, mut sum) = (f32::NEG_INFINITY, 0.0f32, 0.0f32);
            for c in 0..old {
                let z = head.logit(c, h);
                sum += z;
                if z > m {
                    s = s * exp_f32(m - z) + 1.0;
                    m = z;
                } else {
                    s += exp_f32(z - m);
                }
            }
            let label = usize::from(e.label);
            *cached = Cached {
                lse_old: if old == 0 {
                    f32::NEG_INFINITY
                } else {
                    m + ln_f32(s)
                },
                z_target: if label < old {
                    head.logit(label, h)
                } else {
                    0.0
                },
                sum_old: sum,
                weight: 1.0,
                rank: store.iter().take(i).filter(|x| x.label == e.label).count() as u16,
            };
        }
        let mut tr = Self {
            head,
            store,
            ws,
            cfg,
            n_train: 0,
            n_val: 0,
            t: 0,
            pow: (1.0, 1.0),
            rng: cfg.seed | 1,
            skipped: 0,
            norm_cap: f32::INFINITY,
        };
        if cfg.max_norm > 0.0 {
            tr.norm_cap = cfg.max_norm * tr.head.old_row_stats().0;
        }
        tr.set_split(None);
        Ok(tr)
    }

    /// Splits the examples: with `Some((period, fold))` those whose rank within their class
    /// is `fold` modulo `period` are held out; with `None` all train. Recomputes the example
    /// weights over the training split. Returns `(train, held out)` counts.
    pub fn set_split(&mut self, split: Option<(u8, u8)>) -> (usize, usize) {
        let n = self.store.len();
        let held = |c: &Cached| match split {
            Some((p, f)) => c.rank % u16::from(p.max(1)) == u16::from(f),
            None => false,
        };
        let (store, ws) = (self.store, &mut *self.ws);
        let label = |i: u16| store.get(usize::from(i)).map_or(u16::MAX, |e| e.label);
        // The training examples in store order, then the held-out ones in store order.
        let cached = ws.cache.iter().take(n).enumerate();
        let train = cached.clone().filter(|(_, c)| !held(c));
        let val = cached.filter(|(_, c)| held(c));
        let mut a = 0;
        for (o, (i, c)) in ws.order.iter_mut().zip(train.chain(val)) {
            *o = i as u16;
            a += usize::from(!held(c));
        }
        self.n_train = a;
        self.n_val = n - a;
        let train = prefix(&ws.order, a);
        let first =
            |(j, &i): (usize, &u16)| train.iter().position(|&q| label(q) == label(i)) == Some(j);
        let classes = train.iter().enumerate().filter(|&e| first(e)).count();
        for (i, c) in ws.cache.iter_mut().enumerate().take(n) {
            if held(c) {
                continue;
            }
            let y = label(i as u16);
            let n_y = train.iter().filter(|&&q| label(q) == y).count();
            c.weight = if self.cfg.class_balanced {
                a as f32 / (classes as f32 * n_y as f32)
            } else {
                1.0
            };
        }
        (self.n_train, self.n_val)
    }

    /// The training examples (store indices) in their current order.
    pub fn train_order(&self) -> &[u16] {
        prefix(&self.ws.order, self.n_train)
    }

    /// The held-out examples (store indices).
    pub fn val_order(&self) -> &[u16] {
        let (_, rest) = self.ws.order.split_at(self.n_train.min(N));
        prefix(rest, self.n_val)
    }

    /// Example weight `w_i` of store example `i` under the current split.
    pub fn weight(&self, i: usize) -> f32 {
        self.ws.cache.get(i).map_or(0.0, |c| c.weight)
    }

    /// Shuffles the training examples (seeded xorshift, Fisher–Yates) and returns them.
    pub fn shuffle(&mut self) -> &[u16] {
        let order = prefix_mut(&mut self.ws.order, self.n_train);
        for i in (1..order.len()).rev() {
            let mut x = self.rng;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            self.rng = x;
            let j = (x % (i as u32 + 1)) as usize;
            // j ≤ i < order.len()
            order.swap(i, j);
        }
        self.train_order()
    }

    /// Clears the optimiser state (moments, step count).
    pub fn reset_optimizer(&mut self) {
        self.ws.state_w = [[[0.0; F]; S]; NEW];
        self.ws.state_b = [[0.0; S]; NEW];
        self.t = 0;
        self.pow = (1.0, 1.0);
    }

    /// Steps skipped so far by the NaN/inf guard.
    pub fn skipped(&self) -> u32 {
        self.skipped
    }

    /// Forward pass of store example `i`: its cached statistics, its label, the log-sum-exp
    /// over all classes, and the new logits in `z`. `None` for an index outside the store.
    fn forward(&self, i: usize, h: &mut [f32; F], z: &mut [f32; NEW]) -> Option<Forward<'_>> {
        let (d, k_new) = (self.head.dim(), self.head.num_new());
        let (e, c) = (self.store.get(i)?, self.ws.cache.get(i)?);
        load(&e.feat, d, h);
        let h = prefix(h, d);
        let rows = &self.head.rows;
        let mut m = c.lse_old;
        for ((zk, row), &b) in z.iter_mut().zip(&rows.w).zip(&rows.b).take(k_new) {
            let mut acc = b;
            // Four terms per iteration (the firmware builds for size and does not unroll);
            // still added one by one in feature order.
            let ((w4s, w_rest), (x4s, x_rest)) = (prefix(row, d).as_chunks(), h.as_chunks());
            for (&[w0, w1, w2, w3], &[x0, x1, x2, x3]) in w4s.iter().zip(x4s) {
                acc += w0 * x0;
                acc += w1 * x1;
                acc += w2 * x2;
                acc += w3 * x3;
            }
            for (&w, &x) in w_rest.iter().zip(x_rest) {
                acc += w * x;
            }
            *zk = acc;
            m = m.max(acc);
        }
        let mut s = exp_f32(c.lse_old - m);
        for &zk in z.iter().take(k_new) {
            s += exp_f32(zk - m);
        }
        Some(Forward {
            c,
            label: e.label,
            lse: m + ln_f32(s),
        })
    }

    /// The logit of example `f`'s label (`None` for a label the head does not have, which
    /// [`Trainer::new`] ruled out).
    fn target_logit(&self, f: &Forward<'_>, z: &[f32; NEW]) -> Option<f32> {
        match usize::from(f.label).checked_sub(self.head.old_classes()) {
            None => Some(f.c.z_target),
            Some(k) => z.get(k).copied().filter(|_| k < self.head.num_new()),
        }
    }

    /// Smoothed NLL of an example given its forward pass (`None` as [`Trainer::target_logit`]).
    fn example_loss(&self, f: &Forward<'_>, z: &[f32; NEW]) -> Option<f32> {
        let (old, k_new) = (self.head.old_classes(), self.head.num_new());
        let (c, lse) = (f.c, f.lse);
        let z_y = self.target_logit(f, z)?;
        let eps = self.cfg.label_smoothing;
        let mut loss = (1.0 - eps) * (lse - z_y);
        if eps > 0.0 {
            let kk = (old + k_new) as f32;
            let sum_z = c.sum_old + z.iter().take(k_new).sum::<f32>();
            loss += eps / kk * (kk * lse - sum_z);
        }
        Some(loss)
    }

    /// `λ/2 (‖W_new − W_pre‖² + ‖b_new − b_pre‖²)`.
    fn prior(&self) -> f32 {
        let (d, rows) = (self.head.dim(), &self.head.rows);
        let mut s = 0.0f32;
        let biases = rows.b.iter().zip(&rows.anchor_b);
        let new_rows = rows.w.iter().zip(&rows.anchor).zip(biases);
        for ((w, a), (&b, &ab)) in new_rows.take(self.head.num_new()) {
            for (&w, a) in prefix(w, d).iter().zip(a) {
                let diff = w - widen(*a);
                s += diff * diff;
            }
            let db = b - ab;
            s += db * db;
        }
        0.5 * self.cfg.l2 * s
    }

    /// Weight of an example's loss in a batch of `b`.
    fn coef(&self, c: &Cached, b: usize) -> f32 {
        match self.cfg.reduction {
            Reduction::Sum => c.weight,
            Reduction::Mean => c.weight / b as f32,
        }
    }

    /// The objective on `batch` (store indices) at the current head, without a step.
    pub fn batch_loss(&self, batch: &[u16]) -> f32 {
        let (mut h, mut z) = ([0.0f32; F], [0.0f32; NEW]);
        let mut loss = 0.0f32;
        for &i in batch.iter().take(MAX_BATCH) {
            let Some(f) = self.forward(usize::from(i), &mut h, &mut z) else {
                continue;
            };
            let Some(l) = self.example_loss(&f, &z) else {
                continue;
            };
            loss += self.coef(f.c, batch.len().min(MAX_BATCH)) * l;
        }
        loss + self.prior()
    }
}

#[cfg(test)]
mod tests {
    use super::widen;

    #[test]
    fn widen_equals_half_on_every_f16() {
        for bits in 0..=u16::MAX {
            let x = half::f16::from_bits(bits);
            assert_eq!(widen(x).to_bits(), x.to_f32().to_bits(), "{bits:#06x}");
        }
    }
}
