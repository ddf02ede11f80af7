//! The optimisation step and the training loop of [`Trainer`].

use super::{widen, StepInfo, TrainReport, Trainer, Validation, MAX_BATCH};
use crate::adapt::{prefix, prefix_mut};
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
        let batch = batch.get(..MAX_BATCH).unwrap_or(batch);
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
        for g in self.ws.grad_w.iter_mut().take(k_new) {
            prefix_mut(g, d).fill(0.0);
        }
        prefix_mut(&mut self.ws.grad_b, k_new).fill(0.0);
        let mut res = [0.0f32; NEW];
        for &i in batch {
            let fwd = self.forward(usize::from(i), &mut h, &mut z);
            let Some((c, y, lse, l)) = fwd.and_then(|f| {
                let l = self.example_loss(&f, &z)?;
                Some((self.coef(f.c, batch.len()), usize::from(f.label), f.lse, l))
            }) else {
                // Nothing to learn from; its residuals count as zeros.
                for g in self.ws.grad_b.iter_mut().take(k_new) {
                    *g += 0.0;
                }
                continue;
            };
            loss += c * l;
            for (k, (r, &zk)) in res.iter_mut().zip(&z).take(k_new).enumerate() {
                let t = if y == old + k { 1.0 - eps } else { 0.0 } + eps / kk;
                *r = c * (crate::quant::exp_f32(zk - lse) - t);
                finite &= r.is_finite();
            }
            let ws = &mut *self.ws;
            let (x4s, x_rest) = prefix(&h, d).as_chunks::<4>();
            for ((g, gb), &r) in ws
                .grad_w
                .iter_mut()
                .zip(&mut ws.grad_b)
                .zip(&res)
                .take(k_new)
            {
                // Four features per iteration (the firmware builds for size and does not
                // unroll); each entry gets the same single addition.
                let (g4s, g_rest) = prefix_mut(g, d).as_chunks_mut::<4>();
                for ([g0, g1, g2, g3], &[x0, x1, x2, x3]) in g4s.iter_mut().zip(x4s) {
                    *g0 += r * x0;
                    *g1 += r * x1;
                    *g2 += r * x2;
                    *g3 += r * x3;
                }
                for (gf, &x) in g_rest.iter_mut().zip(x_rest) {
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
            for (gw, &g) in self.ws.grad_w.iter().zip(&self.ws.grad_b).take(k_new) {
                for &g in prefix(gw, d) {
                    ss += g * g;
                }
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
        // Stand-ins for the state slots a workspace does not have (the optimiser uses none
        // of them: `TrainConfig::check` asks for `slots() ≤ S`).
        let (mut d0, mut d1) = (0.0f32, 0.0f32);
        let (ws, rows) = (&mut *self.ws, &mut self.head.rows);
        let params = rows.w.iter_mut().zip(&mut rows.b);
        let grads = ws.grad_w.iter().zip(&ws.grad_b);
        let states = ws.state_w.iter_mut().zip(&mut ws.state_b);
        for (((w, b), (gw, &gb)), (sw, sb)) in params.zip(grads).zip(states).take(k_new) {
            let (w, gw) = (prefix_mut(w, d), prefix(gw, d));
            let upd =
                |w: &mut f32, g: f32, s: (&mut f32, &mut f32)| opt.apply(w, scale * g, s, lr, corr);
            match two_slots(sw) {
                (Some(s0), Some(s1)) => {
                    for (((w, &g), s0), s1) in w.iter_mut().zip(gw).zip(s0).zip(s1) {
                        upd(w, g, (s0, s1));
                    }
                }
                (Some(s0), None) => {
                    for ((w, &g), s0) in w.iter_mut().zip(gw).zip(s0) {
                        upd(w, g, (s0, &mut d1));
                    }
                }
                (None, _) => {
                    for (w, &g) in w.iter_mut().zip(gw) {
                        upd(w, g, (&mut d0, &mut d1));
                    }
                }
            }
            let (s0, s1) = two_slots(sb);
            upd(b, gb, (s0.unwrap_or(&mut d0), s1.unwrap_or(&mut d1)));
            if self.norm_cap.is_finite() {
                project(w, self.norm_cap);
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
            for ((gf, &wf), &af) in prefix_mut(g, d).iter_mut().zip(w).zip(a) {
                *gf += l2 * (wf - widen(af));
            }
        }
        let biases = rows.b.iter().zip(&rows.anchor_b);
        for (g, (&b, &ab)) in ws.grad_b.iter_mut().zip(biases).take(k_new) {
            *g += l2 * (b - ab);
        }
    }

    /// Mean NLL (no smoothing, no weights) over the held-out examples; NaN when there are
    /// none.
    pub fn val_nll(&self) -> f32 {
        let (mut h, mut z) = ([0.0f32; F], [0.0f32; NEW]);
        let mut total = 0.0f32;
        for &i in self.val_order() {
            // Held-out indices are store indices of known labels (`Trainer::new`).
            let Some(f) = self.forward(usize::from(i), &mut h, &mut z) else {
                continue;
            };
            let Some(z_y) = self.target_logit(&f, &z) else {
                continue;
            };
            total += f.lse - z_y;
        }
        total / self.n_val as f32
    }

    /// One epoch: shuffle, then a step per mini-batch. `step` counts steps across the run
    /// (for the schedule) and `total` is the run's step count.
    fn epoch(&mut self, step: &mut u32, total: u32) {
        self.shuffle();
        // `TrainConfig::check`: 1 ≤ batch ≤ MAX_BATCH.
        let b = usize::from(self.cfg.batch).clamp(1, MAX_BATCH);
        let mut idx = [0u16; MAX_BATCH];
        for j in 0.. {
            // Batch `j`, copied out of the workspace for the step to borrow `self` mutably.
            let Some(src) = self.train_order().chunks(b).nth(j) else {
                break;
            };
            let batch = prefix_mut(&mut idx, src.len());
            batch.copy_from_slice(src);
            let lr = self.cfg.lr * self.cfg.schedule.factor(*step, total);
            self.step(batch, lr);
            *step += 1;
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
                prefix_mut(&mut self.ws.curve, n_ep).fill(0.0);
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
                        let v = self.val_nll();
                        // `TrainConfig::check`: epochs ≤ MAX_EPOCHS, the curve's length.
                        if let Some(c) = self.ws.curve.get_mut(e) {
                            *c += v;
                        }
                    }
                    step += s;
                }
                self.restore();
                if used == 0 {
                    self.set_split(None);
                    return Err(crate::adapt::AdaptError::TooFewExamples);
                }
                let mut best = (0usize, base);
                for (e, &v) in self.ws.curve.iter().enumerate().take(n_ep) {
                    if v < best.1 {
                        best = (e + 1, v);
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

/// The first two of one parameter row's `S` optimiser state slots, where the workspace has
/// them.
#[inline(always)]
fn two_slots<T, const S: usize>(st: &mut [T; S]) -> (Option<&mut T>, Option<&mut T>) {
    let mut it = st.iter_mut();
    (it.next(), it.next())
}
