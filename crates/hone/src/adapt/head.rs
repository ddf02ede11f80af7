//! [`Head`]: the pre-trained rows (borrowed from flash, frozen) plus up to `NEW` enrolled rows
//! trained in RAM.

use half::f16;
use heapless::{String, Vec};

use super::{prefix, prefix_mut, AdaptError, Store};
use crate::model::{Classifier, Model};
use crate::ops;
use crate::quant::{exp_f32, sqrt_f32};

/// Longest label name (bytes) of an enrolled class.
pub const LABEL_LEN: usize = 32;

/// How an imprinted row's norm is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Calibration {
    /// The mean norm of the pre-trained rows.
    OldNorm,
    /// The smallest norm (at most the old rows' mean) at which the row's mean logit on its
    /// own examples exceeds the best pre-trained logit on them by this margin (nats).
    Margin(f32),
}

impl Calibration {
    /// `OldNorm`: see [`Head::imprint`].
    pub const DEFAULT: Self = Calibration::OldNorm;
}

/// The RAM part of a [`Head`]: enrolled rows, their biases, their prior centres (the
/// imprinted rows, f16) and their names.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRows<const NEW: usize, const F: usize> {
    /// Row `k` is class `old + k`; only the first `names.len()` rows are in use.
    pub(crate) w: [[f32; F]; NEW],
    pub(crate) b: [f32; NEW],
    /// `W_pre` of the L2 prior for each new row (its imprinted start).
    pub(crate) anchor: [[f16; F]; NEW],
    /// Prior centre of each new bias.
    pub(crate) anchor_b: [f32; NEW],
    pub(crate) names: Vec<String<LABEL_LEN>, NEW>,
}

impl<const NEW: usize, const F: usize> NewRows<NEW, F> {
    /// No enrolled class.
    pub const fn new() -> Self {
        Self {
            w: [[0.0; F]; NEW],
            b: [0.0; NEW],
            anchor: [[f16::ZERO; F]; NEW],
            anchor_b: [0.0; NEW],
            names: Vec::new(),
        }
    }

    /// Slot `k`'s row, bias, prior centre and prior bias (`None` past `NEW`).
    #[allow(clippy::type_complexity)]
    pub(crate) fn slot_mut(
        &mut self,
        k: usize,
    ) -> Option<(&mut [f32; F], &mut f32, &mut [f16; F], &mut f32)> {
        Some((
            self.w.get_mut(k)?,
            self.b.get_mut(k)?,
            self.anchor.get_mut(k)?,
            self.anchor_b.get_mut(k)?,
        ))
    }
}

impl<const NEW: usize, const F: usize> Default for NewRows<NEW, F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Removes entry `k` of `a`: the entries after it move down one and the last becomes `zero`
/// (nothing happens for `k` past the end).
fn drop_entry<T>(a: &mut [T], k: usize, zero: T) {
    if let Some(tail) = a.get_mut(k..).filter(|t| !t.is_empty()) {
        tail.rotate_left(1);
        if let Some(last) = tail.last_mut() {
            *last = zero;
        }
    }
}

/// A trainable classification head: the model's pre-trained classes `0..old` (weights read
/// from the blob, never copied) followed by enrolled classes `old..old + num_new()` whose
/// rows live in RAM (`NEW` of them at most, features up to `F` long).
#[derive(Debug, Clone)]
pub struct Head<'m, 'a, const NEW: usize, const F: usize> {
    base: &'m Classifier<'a>,
    pub(crate) rows: NewRows<NEW, F>,
}

impl<'m, 'a, const NEW: usize, const F: usize> Head<'m, 'a, NEW, F> {
    /// A head with the model's classes only. Fails if the model's features are longer than
    /// `F`.
    pub fn new(model: &'m Model<'a>) -> Result<Self, AdaptError> {
        if model.feature_dim() > F || model.num_classes() + NEW > usize::from(u16::MAX) {
            return Err(AdaptError::FeatureDim {
                model: model.feature_dim().min(usize::from(u16::MAX)) as u16,
                capacity: F.min(usize::from(u16::MAX)) as u16,
            });
        }
        Ok(Self {
            base: model.classifier(),
            rows: NewRows::new(),
        })
    }

    /// The pre-trained classifier whose frozen rows this head extends.
    pub fn classifier(&self) -> &'m Classifier<'a> {
        self.base
    }

    /// Feature length in use (the model's).
    pub fn dim(&self) -> usize {
        self.base.feature_dim()
    }

    /// Number of pre-trained classes.
    pub fn old_classes(&self) -> usize {
        self.base.num_classes()
    }

    /// Number of enrolled classes.
    pub fn num_new(&self) -> usize {
        self.rows.names.len()
    }

    /// Total classes (pre-trained + enrolled).
    pub fn num_classes(&self) -> usize {
        self.old_classes() + self.num_new()
    }

    /// Name of class `c`.
    pub fn label(&self, c: usize) -> Option<&str> {
        match c.checked_sub(self.old_classes()) {
            None => self.base.labels().get(c),
            Some(k) => self.rows.names.get(k).map(|s| s.as_str()),
        }
    }

    /// Class id of `name` (pre-trained or enrolled).
    pub fn find(&self, name: &str) -> Option<usize> {
        (0..self.num_classes()).find(|&c| self.label(c) == Some(name))
    }

    /// Adds a new class named `name` and returns its id. Its row is zero until
    /// [`Head::imprint`] sets it from examples.
    pub fn enrol(&mut self, name: &str) -> Result<usize, AdaptError> {
        if name.is_empty() || name.len() > LABEL_LEN {
            return Err(AdaptError::BadLabelName);
        }
        if self.find(name).is_some() {
            return Err(AdaptError::DuplicateLabel);
        }
        let mut s = String::new();
        s.push_str(name).map_err(|_| AdaptError::BadLabelName)?;
        let k = self.num_new();
        self.rows
            .names
            .push(s)
            .map_err(|_| AdaptError::NoCapacity)?;
        // Row `k` of `NEW` exists: the name just took slot `k` of the `NEW`-long list.
        let Some((w, b, anchor, anchor_b)) = self.rows.slot_mut(k) else {
            self.rows.names.pop();
            return Err(AdaptError::NoCapacity);
        };
        w.fill(0.0);
        anchor.fill(f16::ZERO);
        (*b, *anchor_b) = (0.0, 0.0);
        Ok(self.old_classes() + k)
    }

    /// Id of `name`, enrolling it if unknown.
    pub fn class_id(&mut self, name: &str) -> Result<usize, AdaptError> {
        match self.find(name) {
            Some(c) => Ok(c),
            None => self.enrol(name),
        }
    }

    /// Forgets every enrolled class.
    pub fn clear(&mut self) {
        self.rows = NewRows::new();
    }

    /// Forgets enrolled class `c`: the classes enrolled after it move down one id (their rows,
    /// biases, prior centres and names keep their order). Fails with
    /// [`AdaptError::UnknownLabel`] for a pre-trained class or an id past the enrolled ones.
    pub fn forget(&mut self, c: usize) -> Result<(), AdaptError> {
        let k = c
            .checked_sub(self.old_classes())
            .filter(|&k| k < self.num_new())
            .ok_or(AdaptError::UnknownLabel)?;
        let r = &mut self.rows;
        r.names.remove(k);
        // `names` was `k + 1..` long, so every row from `k` on exists (at most NEW).
        drop_entry(&mut r.w, k, [0.0; F]);
        drop_entry(&mut r.b, k, 0.0);
        drop_entry(&mut r.anchor, k, [f16::ZERO; F]);
        drop_entry(&mut r.anchor_b, k, 0.0);
        Ok(())
    }

    /// Pre-trained or enrolled weight `W[c][f]` (0.0 out of range).
    pub fn weight(&self, c: usize, f: usize) -> f32 {
        match c.checked_sub(self.old_classes()) {
            None => self.base.weight(c, f),
            Some(k) if k < self.num_new() && f < self.dim() => self
                .rows
                .w
                .get(k)
                .and_then(|row| row.get(f))
                .map_or(0.0, |&w| w),
            Some(_) => 0.0,
        }
    }

    /// Bias of class `c` (0.0 out of range).
    pub fn bias(&self, c: usize) -> f32 {
        match c.checked_sub(self.old_classes()) {
            None => self.base.bias(c),
            Some(k) => self.rows.b.get(k).copied().unwrap_or(0.0),
        }
    }

    /// Logit of class `c` for features `h`: `b_c + Σ_f W_cf h_f`, accumulated in feature order
    /// (the same bits as the runtime's pre-trained head).
    pub fn logit(&self, c: usize, h: &[f32]) -> f32 {
        let mut acc = self.bias(c);
        match c.checked_sub(self.old_classes()) {
            None => {
                for (&w, &x) in self.old_row(c).as_chunks::<4>().0.iter().zip(h) {
                    acc += f32::from_le_bytes(w) * x;
                }
            }
            Some(k) => {
                if let Some(row) = self.rows.w.get(k) {
                    for (&w, &x) in row.iter().zip(h).take(self.dim()) {
                        acc += w * x;
                    }
                }
            }
        }
        acc
    }

    /// The most likely class for `h` and its probability, without a buffer of log-probabilities:
    /// the same class as [`Head::classify`] (the first of equal logits), its softmax probability
    /// accumulated in one pass over the classes (NaN logits never win and add nothing).
    pub fn top(&self, h: &[f32]) -> (usize, f32) {
        let (mut best, mut max, mut sum) = (0, f32::NEG_INFINITY, 0.0f32);
        for c in 0..self.num_classes() {
            let z = self.logit(c, h);
            if z > max {
                // Rescale the sum so far to the new maximum (0 before the first class).
                sum = sum * exp_f32(max - z) + 1.0;
                (best, max) = (c, z);
            } else {
                let e = exp_f32(z - max);
                if !e.is_nan() {
                    sum += e;
                }
            }
        }
        let p = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        (best, p)
    }

    /// Writes the logits of every class into `out` (as many as fit); returns how many.
    pub fn logits(&self, h: &[f32], out: &mut [f32]) -> usize {
        let n = self.num_classes().min(out.len());
        for (c, o) in out.iter_mut().enumerate().take(n) {
            *o = self.logit(c, h);
        }
        n
    }

    /// Classifies `h`: writes log-probabilities into `out` (which needs
    /// [`Head::num_classes`] entries) and returns the most likely class.
    pub fn classify(&self, h: &[f32], out: &mut [f32]) -> usize {
        let n = self.logits(h, out);
        let out = prefix_mut(out, n);
        ops::log_softmax(out);
        ops::argmax(out)
    }

    /// Pre-trained row `c` as little-endian f32 bytes, borrowed from the blob.
    fn old_row(&self, c: usize) -> &'a [u8] {
        let d = self.dim();
        self.base
            .raw()
            .0
            .get(c * d * 4..(c + 1) * d * 4)
            .unwrap_or(&[])
    }

    /// Mean L2 norm of the pre-trained rows and their mean bias.
    pub fn old_row_stats(&self) -> (f32, f32) {
        let (c_old, d) = (self.old_classes(), self.dim());
        if c_old == 0 {
            return (1.0, 0.0);
        }
        let (mut norms, mut biases) = (0.0f32, 0.0f32);
        for c in 0..c_old {
            let mut ss = 0.0f32;
            for &w in self.old_row(c).as_chunks::<4>().0.iter().take(d) {
                let w = f32::from_le_bytes(w);
                ss += w * w;
            }
            norms += sqrt_f32(ss);
            biases += self.base.bias(c);
        }
        (norms / c_old as f32, biases / c_old as f32)
    }

    /// Imprints enrolled class `c` from its examples in `store`: the row becomes the
    /// L2-normalised mean of their features, scaled, with the old rows' mean bias; the prior
    /// centre `W_pre` is that row (rounded to f16, and the row is the rounded value).
    ///
    /// The scale is the old rows' mean norm ([`Calibration::DEFAULT`]), so that the new row
    /// competes with the pre-trained rows on equal terms; training then keeps it there
    /// ([`crate::adapt::TrainConfig::max_norm`]). A smaller, margin-calibrated scale
    /// ([`Calibration::Margin`]) takes fewer old-class prompts when the head is not trained
    /// afterwards, at a cost in new-class accuracy (measured in
    /// `models/hone-intent/MODEL_CARD.md`, "Enrolment on the device").
    pub fn imprint<const N: usize>(
        &mut self,
        c: usize,
        store: &Store<N, F>,
    ) -> Result<(), AdaptError> {
        self.imprint_with(c, store, Calibration::DEFAULT)
    }

    /// [`Head::imprint`] with a chosen [`Calibration`] of the row's scale.
    pub fn imprint_with<const N: usize>(
        &mut self,
        c: usize,
        store: &Store<N, F>,
        cal: Calibration,
    ) -> Result<(), AdaptError> {
        let stats = self.old_row_stats();
        self.imprint_using(c, store, cal, stats)
    }

    fn imprint_using<const N: usize>(
        &mut self,
        c: usize,
        store: &Store<N, F>,
        cal: Calibration,
        (mut norm, bias): (f32, f32),
    ) -> Result<(), AdaptError> {
        let k = c
            .checked_sub(self.old_classes())
            .filter(|&k| k < self.num_new())
            .ok_or(AdaptError::UnknownLabel)?;
        let d = self.dim();
        let mut mean = [0.0f32; F];
        let mut n = 0u32;
        for e in store.iter().filter(|e| usize::from(e.label) == c) {
            for (m, x) in mean.iter_mut().zip(&e.feat).take(d) {
                *m += x.to_f32();
            }
            n += 1;
        }
        if n == 0 {
            return Err(AdaptError::NoExamples);
        }
        ops::l2_normalize(prefix_mut(&mut mean, d));
        if let Calibration::Margin(delta) = cal {
            // Smallest scale s with mean over the class's examples of
            // s·(ĥ_mean · h) + bias ≥ mean of the best old logit + delta.
            let (mut dot, mut best_old) = (0.0f32, 0.0f32);
            let mut h = [0.0f32; F];
            for e in store.iter().filter(|e| usize::from(e.label) == c) {
                for (o, x) in h.iter_mut().zip(&e.feat).take(d) {
                    *o = x.to_f32();
                }
                let h = prefix(&h, d);
                let mut m = f32::NEG_INFINITY;
                for o in 0..self.old_classes() {
                    m = m.max(self.logit(o, h));
                }
                best_old += m;
                dot += prefix(&mean, d)
                    .iter()
                    .zip(h)
                    .map(|(a, b)| a * b)
                    .sum::<f32>();
            }
            let s = (best_old / n as f32 + delta - bias) / (dot / n as f32);
            if s.is_finite() && s > 0.0 {
                norm = norm.min(s);
            }
        }
        let (w, b, anchor, anchor_b) = self.rows.slot_mut(k).ok_or(AdaptError::UnknownLabel)?;
        for ((&m, a), w) in mean.iter().zip(anchor.iter_mut()).zip(w.iter_mut()).take(d) {
            *a = f16::from_f32(m * norm);
            *w = a.to_f32();
        }
        (*b, *anchor_b) = (bias, bias);
        Ok(())
    }

    /// Imprints every enrolled class that has examples in `store`; returns how many.
    pub fn imprint_all<const N: usize>(&mut self, store: &Store<N, F>) -> usize {
        let old = self.old_classes();
        let stats = self.old_row_stats();
        (old..self.num_classes())
            .filter(|&c| {
                self.imprint_using(c, store, Calibration::DEFAULT, stats)
                    .is_ok()
            })
            .count()
    }

    /// Writes a pseudo-example of pre-trained class `c` into `out`: its row, L2-normalised and
    /// scaled to `norm` (e.g. the mean norm of real features). Stored as an example of `c`
    /// (replay), it reminds training where class `c` lies when no real prompt of it was
    /// collected. Fails for a class that is not pre-trained.
    pub fn prototype(&self, c: usize, norm: f32, out: &mut [f32]) -> Result<(), AdaptError> {
        let out = out.get_mut(..self.dim());
        let Some(out) = out.filter(|_| c < self.old_classes()) else {
            return Err(AdaptError::UnknownLabel);
        };
        for (f, o) in out.iter_mut().enumerate() {
            *o = self.base.weight(c, f);
        }
        ops::l2_normalize(out);
        for o in out.iter_mut() {
            *o *= norm;
        }
        Ok(())
    }

    /// Row `k` of the enrolled classes (`dim()` values), its bias and its prior centre.
    pub fn new_row(&self, k: usize) -> Option<(&[f32], f32, &[f16])> {
        if k >= self.num_new() {
            return None;
        }
        let d = self.dim();
        Some((
            prefix(self.rows.w.get(k)?, d),
            *self.rows.b.get(k)?,
            prefix(self.rows.anchor.get(k)?, d),
        ))
    }

    /// Prior centre of enrolled row `k`'s bias (its imprinted bias).
    pub fn prior_bias(&self, k: usize) -> Option<f32> {
        let b = self.rows.anchor_b.get(k).copied();
        b.filter(|_| k < self.num_new())
    }

    /// The RAM part (for snapshots and persistence).
    pub fn rows(&self) -> &NewRows<NEW, F> {
        &self.rows
    }

    /// Replaces the RAM part (e.g. with a loaded state). Fails if it names more classes than
    /// fit or duplicates a pre-trained label.
    pub fn set_rows(&mut self, rows: NewRows<NEW, F>) -> Result<(), AdaptError> {
        for (i, n) in rows.names.iter().enumerate() {
            let dup_old = (0..self.old_classes()).any(|c| self.base.labels().get(c) == Some(n));
            if dup_old || rows.names.iter().take(i).any(|m| m == n) {
                return Err(AdaptError::DuplicateLabel);
            }
        }
        self.rows = rows;
        Ok(())
    }
}
