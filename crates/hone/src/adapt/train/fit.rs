//! The optimisation step and the training loop of [`Trainer`].

use super::{widen, StepInfo, TrainReport, Trainer, Validation, MAX_BATCH};
use crate::quant::sqrt_f32;

impl<const NEW: usize, const F: usize, const N: usize, const S: usize>
    Trainer<'_, '_, '_, NEW, F, N, S>
{
    /// One optimisation step on `batch` (store indices, at most [`MAX_BATCH`]) with learning
    /// rate `lr`: forward pass of the enrolled rows, residuals `w_i (p − t)`, gradient of the
    /// objective (plus the prior), optional clipping, optimiser update. A non-finite loss or
    /// gradient skips the update (counted in [`Trainer::skipped`]). With
    /// [`TrainConfig::max_norm`](super::TrainConfig::max_norm) each updated row is then
    /// projected back onto the ball of the capped norm.
    pub fn step(&mut self, batch: &[u16], lr: f32) -> StepInfo {
        let batch = &batch[..batch.len().min(MAX_BATCH)];
        let (old, k_new, d) = (
            self.head.old_classes(),
            self.head.num_new(),
            self.head.dim(),
        );
        let eps = self.cfg.label_smoothing;
        let kk = (old + k_new) as f32;
        let (mut h, mut z) = ([0.0f32; F], [0.0f32; NEW]);
        let mut loss = 0.0f32;
        let mut finite = true;
        // The data terms of the gradient, Σ_b r_bk h_b and Σ_b r_bk, accumulate example by
        // example in batch order while each example's features are at hand in f32.
        for g in self.ws.grad_w[..k_new].iter_mut() {
            g[..d].fill(0.0);
        }
        self.ws.grad_b[..k_new].fill(0.0);
        let mut res = [0.0f32; NEW];
        for &i in batch {
            let i = usize::from(i);
            if i >= self.store.len() {
                // Nothing to learn from; its residuals count as zeros.
                for g in self.ws.grad_b[..k_new].iter_mut() {
                    *g += 0.0;
                }
                continue;
            }
            let lse = self.forward(i, &mut h, &mut z);
            let c = self.coef(i, batch.len());
            loss += c * self.example_loss(i, lse, &z);
            let y = usize::from(self.label(i as u16));
            for (k, (r, &zk)) in res.iter_mut().zip(&z).take(k_new).enumerate() {
                let t = if y == old + k { 1.0 - eps } else { 0.0 } + eps / kk;
                *r = c * (crate::quant::exp_f32(zk - lse) - t);
                finite &= r.is_finite();
            }
            let ws = &mut *self.ws;
            for ((g, gb), &r) in ws
                .grad_w
                .iter_mut()
                .zip(&mut ws.grad_b)
                .zip(&res)
                .take(k_new)
            {
                // Four features per iteration (the firmware builds for size and does not
                // unroll); each entry gets the same single addition.
                let (mut gc, mut hc) = (g[..d].chunks_exact_mut(4), h[..d].chunks_exact(4));
                for (g4, x4) in (&mut gc).zip(&mut hc) {
                    g4[0] += r * x4[0];
                    g4[1] += r * x4[1];
                    g4[2] += r * x4[2];
                    g4[3] += r * x4[3];
                }
                for (gf, &x) in gc.into_remainder().iter_mut().zip(hc.remainder()) {
                    *gf += r * x;
                }
                *gb += r;
            }
        }
        loss += self.prior();
        self.finish_gradient();
        let mut scale = 1.0f32;
        let mut grad_norm = None;
        if self.cfg.clip_norm > 0.0 {
            let mut ss = 0.0f32;
            for k in 0..k_new {
                for &g in &self.ws.grad_w[k][..d] {
                    ss += g * g;
                }
                let g = self.ws.grad_b[k];
                ss += g * g;
            }
            let norm = sqrt_f32(ss);
            finite &= norm.is_finite();
            if norm > self.cfg.clip_norm {
                scale = self.cfg.clip_norm / norm;
            }
            grad_norm = Some(norm);
        }
        if !finite || !loss.is_finite() {
            self.skipped += 1;
            return StepInfo {
                loss,
                grad_norm,
                skipped: true,
            };
        }
        self.t += 1;
        if let crate::adapt::Optimizer::Adam { beta1, beta2, .. } = self.cfg.optimizer {
            self.pow = (self.pow.0 * beta1, self.pow.1 * beta2);
        }
        let corr = (1.0 - self.pow.0, 1.0 - self.pow.1);
        let opt = self.cfg.optimizer;
        let (mut d0, mut d1) = (0.0f32, 0.0f32);
        for k in 0..k_new {
            for f in 0..d {
                let ws = &mut *self.ws;
                let g = scale * ws.grad_w[k][f];
                let (s0, s1) = slots(&mut ws.state_w, k, f, &mut d0, &mut d1);
                opt.apply(&mut self.head.rows.w[k][f], g, (s0, s1), lr, corr);
            }
            let g = scale * self.ws.grad_b[k];
            let (s0, s1) = slots_b(&mut self.ws.state_b, k, &mut d0, &mut d1);
            opt.apply(&mut self.head.rows.b[k], g, (s0, s1), lr, corr);
            if self.norm_cap.is_finite() {
                project(&mut self.head.rows.w[k][..d], self.norm_cap);
            }
        }
        StepInfo {
            loss,
            grad_norm,
            skipped: false,
        }
    }

    /// Completes the gradient of the objective in the workspace, which already holds its data
    /// terms `Σ_b r_bk h_bf` and `Σ_b r_bk` ([`Trainer::step`]): adds the prior's
    /// `λ (w_kf − w_pre,kf)` and `λ (b_k − b_pre,k)`.
    fn finish_gradient(&mut self) {
        let (k_new, d, l2) = (self.head.num_new(), self.head.dim(), self.cfg.l2);
        let ws = &mut *self.ws;
        let rows = &self.head.rows;
        for ((g, w), a) in ws
            .grad_w
            .iter_mut()
            .zip(&rows.w)
            .zip(&rows.anchor)
            .take(k_new)
        {
            for ((gf, &wf), &af) in g[..d].iter_mut().zip(&w[..d]).zip(&a[..d]) {
                *gf += l2 * (wf - widen(af));
            }
        }
        for k in 0..k_new {
            ws.grad_b[k] += l2 * (rows.b[k] - rows.anchor_b[k]);
        }
    }

    /// Mean NLL (no smoothing, no weights) over the held-out examples; NaN when there are
    /// none.
    pub fn val_nll(&self) -> f32 {
        let (mut h, mut z) = ([0.0f32; F], [0.0f32; NEW]);
        let old = self.head.old_classes();
        let mut total = 0.0f32;
        for &i in self.val_order() {
            let i = usize::from(i);
            let lse = self.forward(i, &mut h, &mut z);
            let y = usize::from(self.label(i as u16));
            let z_y = match y.checked_sub(old) {
                None => self.ws.cache[i].z_target,
                Some(k) => z[k],
            };
            total += lse - z_y;
        }
        total / self.n_val as f32
    }

    /// One epoch: shuffle, then a step per mini-batch. `step` counts steps across the run
    /// (for the schedule) and `total` is the run's step count.
    fn epoch(&mut self, step: &mut u32, total: u32) {
        self.shuffle();
        let b = usize::from(self.cfg.batch);
        let mut start = 0;
        while start < self.n_train {
            let end = (start + b).min(self.n_train);
            let mut idx = [0u16; MAX_BATCH];
            idx[..end - start].copy_from_slice(&self.ws.order[start..end]);
            let lr = self.cfg.lr * self.cfg.schedule.factor(*step, total);
            self.step(&idx[..end - start], lr);
            *step += 1;
            start = end;
        }
    }

    fn steps_per_epoch(&self) -> u32 {
        self.n_train.div_ceil(usize::from(self.cfg.batch)) as u32
    }

    fn snapshot(&mut self) {
        self.ws.snap_w = self.head.rows.w;
        self.ws.snap_b = self.head.rows.b;
    }

    fn restore(&mut self) {
        self.head.rows.w = self.ws.snap_w;
        self.head.rows.b = self.ws.snap_b;
    }

    /// Trains with the configured validation (see [`Validation`]) and leaves the kept head in
    /// place. Fails with [`crate::adapt::AdaptError::TooFewExamples`] when a split has no
    /// training or no held-out example (the head is then unchanged).
    pub fn train(&mut self) -> Result<TrainReport, crate::adapt::AdaptError> {
        let epochs = self.cfg.epochs;
        let mut report = TrainReport {
            steps: 0,
            skipped: 0,
            best_epoch: epochs,
            val_before: f32::NAN,
            val_after: f32::NAN,
            rolled_back: false,
        };
        let skipped0 = self.skipped;
        let mut step = 0u32;
        match self.cfg.validation {
            Validation::None => {
                self.set_split(None);
                if self.n_train == 0 {
                    return Err(crate::adapt::AdaptError::TooFewExamples);
                }
                self.reset_optimizer();
                let total = self.steps_per_epoch() * u32::from(epochs);
                for _ in 0..epochs {
                    self.epoch(&mut step, total);
                }
            }
            Validation::Holdout { every } => {
                let (a, b) = self.set_split(Some((every, every - 1)));
                if a == 0 || b == 0 {
                    self.set_split(None);
                    return Err(crate::adapt::AdaptError::TooFewExamples);
                }
                self.reset_optimizer();
                self.snapshot();
                let base = self.val_nll();
                let mut best = base;
                report.best_epoch = 0;
                let total = self.steps_per_epoch() * u32::from(epochs);
                for e in 0..epochs {
                    self.epoch(&mut step, total);
                    let v = self.val_nll();
                    if v < best {
                        best = v;
                        report.best_epoch = e + 1;
                        self.snapshot();
                    }
                }
                self.restore();
                report.val_before = base;
                report.val_after = best;
            }
            Validation::KFold { folds } => {
                self.snapshot();
                let n_ep = usize::from(epochs);
                self.ws.curve[..n_ep].fill(0.0);
                let (mut base, mut used) = (0.0f32, 0u32);
                for f in 0..folds {
                    let (a, b) = self.set_split(Some((folds, f)));
                    if a == 0 || b == 0 {
                        continue;
                    }
                    used += 1;
                    self.restore();
                    self.reset_optimizer();
                    base += self.val_nll();
                    let total = self.steps_per_epoch() * u32::from(epochs);
                    let mut s = 0u32;
                    for e in 0..n_ep {
                        self.epoch(&mut s, total);
                        self.ws.curve[e] += self.val_nll();
                    }
                    step += s;
                }
                self.restore();
                if used == 0 {
                    self.set_split(None);
                    return Err(crate::adapt::AdaptError::TooFewExamples);
                }
                let mut best = (0usize, base);
                for e in 0..n_ep {
                    if self.ws.curve[e] < best.1 {
                        best = (e + 1, self.ws.curve[e]);
                    }
                }
                report.val_before = base / used as f32;
                report.val_after = best.1 / used as f32;
                report.best_epoch = best.0 as u16;
                self.set_split(None);
                self.reset_optimizer();
                let total = self.steps_per_epoch() * best.0 as u32;
                for _ in 0..best.0 {
                    self.epoch(&mut step, total);
                }
            }
        }
        report.steps = step;
        report.skipped = self.skipped - skipped0;
        report.rolled_back = report.best_epoch == 0;
        Ok(report)
    }
}

/// Projects `row` onto the L2 ball of radius `cap` (scales it down when longer).
#[inline]
fn project(row: &mut [f32], cap: f32) {
    let mut ss = 0.0f32;
    for &w in row.iter() {
        ss += w * w;
    }
    let norm = sqrt_f32(ss);
    if norm > cap {
        let r = cap / norm;
        for w in row.iter_mut() {
            *w *= r;
        }
    }
}

/// The state slots of weight `(k, f)`; `d0`, `d1` stand in for missing slots.
#[inline]
fn slots<'s, const NEW: usize, const F: usize, const S: usize>(
    st: &'s mut [[[f32; F]; NEW]; S],
    k: usize,
    f: usize,
    d0: &'s mut f32,
    d1: &'s mut f32,
) -> (&'s mut f32, &'s mut f32) {
    let (a, b) = st.split_at_mut(1.min(S));
    let s0 = a.get_mut(0).map(|r| &mut r[k][f]).unwrap_or(d0);
    let s1 = b.get_mut(0).map(|r| &mut r[k][f]).unwrap_or(d1);
    (s0, s1)
}

/// The state slots of bias `k`.
#[inline]
fn slots_b<'s, const NEW: usize, const S: usize>(
    st: &'s mut [[f32; NEW]; S],
    k: usize,
    d0: &'s mut f32,
    d1: &'s mut f32,
) -> (&'s mut f32, &'s mut f32) {
    let (a, b) = st.split_at_mut(1.min(S));
    let s0 = a.get_mut(0).map(|r| &mut r[k]).unwrap_or(d0);
    let s1 = b.get_mut(0).map(|r| &mut r[k]).unwrap_or(d1);
    (s0, s1)
}
