//! The evaluation protocol of `shared/notes/targets.md` on float features: a multinomial
//! logistic-regression head trained by NLL on frozen sentence features (full data and 5-shot),
//! and enrolment of a held-out domain (imprinting + NLL fine-tuning of the new rows only).

use crate::data::Dataset;
use anyhow::Result;
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::{seq::SliceRandom, SeedableRng};
use serde::Serialize;

/// Head training settings (full-batch Adam on the NLL plus an L2 penalty on the weights).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct HeadCfg {
    /// Adam steps.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// L2 penalty on the weight matrix (mean NLL + l2·‖W‖²).
    pub l2: f64,
}

impl Default for HeadCfg {
    fn default() -> Self {
        Self {
            steps: 300,
            lr: 0.05,
            l2: 1e-4,
        }
    }
}

/// Enrolment fine-tuning settings for the new rows.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EnrolCfg {
    /// Adam steps on the new rows.
    pub steps: usize,
    /// Learning rate.
    pub lr: f64,
    /// Also train on one prototype (class-mean feature) per old class, as on-device replay.
    pub replay: bool,
}

impl Default for EnrolCfg {
    fn default() -> Self {
        Self {
            steps: 100,
            lr: 0.01,
            replay: false,
        }
    }
}

/// A linear head `logits = x·Wᵀ + b`.
#[derive(Clone)]
pub struct Head {
    /// `[C, F]`.
    pub w: Tensor,
    /// `[C]`.
    pub b: Tensor,
}

impl Head {
    /// Logits `[N, C]`.
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.w.t()?)?.broadcast_add(&self.b)?)
    }
    /// Arg-max predictions.
    pub fn predict(&self, x: &Tensor) -> Result<Vec<u32>> {
        Ok(self.logits(x)?.argmax(D::Minus1)?.to_vec1::<u32>()?)
    }
}

/// Features as a `[N, F]` tensor.
pub fn to_tensor(rows: &[Vec<f32>]) -> Result<Tensor> {
    let f = rows.first().map_or(0, Vec::len);
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), f), &Device::Cpu)?)
}

/// Adam state for one tensor (manual, no autograd: the softmax-regression gradient is closed-form).
struct Adam {
    m: Tensor,
    v: Tensor,
    t: i32,
    lr: f64,
}

impl Adam {
    fn new(like: &Tensor, lr: f64) -> Result<Self> {
        Ok(Self {
            m: like.zeros_like()?,
            v: like.zeros_like()?,
            t: 0,
            lr,
        })
    }
    /// One step on `p` with gradient `g`.
    fn step(&mut self, p: &Tensor, g: &Tensor) -> Result<Tensor> {
        let (b1, b2, eps) = (0.9, 0.999, 1e-8);
        self.t += 1;
        self.m = ((&self.m * b1)? + (g * (1.0 - b1))?)?;
        self.v = ((&self.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
        let mh = (&self.m / (1.0 - b1.powi(self.t)))?;
        let vh = (&self.v / (1.0 - b2.powi(self.t)))?;
        Ok((p - ((mh / (vh.sqrt()? + eps)?)? * self.lr)?)?)
    }
}

/// One-hot `[N, C]` targets.
fn one_hot(y: &[u32], classes: usize) -> Result<Tensor> {
    let mut v = vec![0f32; y.len() * classes];
    for (i, &c) in y.iter().enumerate() {
        v[i * classes + c as usize] = 1.0;
    }
    Ok(Tensor::from_vec(v, (y.len(), classes), &Device::Cpu)?)
}

/// Train a head on `x` `[N, F]` with labels in `0..classes`: full-batch Adam on the mean NLL
/// plus `l2·‖W‖²`, from zero, with the closed-form gradient `(softmax − onehot)ᵀ·x / N`.
pub fn train_head(x: &Tensor, y: &[u32], classes: usize, cfg: HeadCfg) -> Result<Head> {
    let (n, f) = x.dims2()?;
    let mut w = Tensor::zeros((classes, f), DType::F32, &Device::Cpu)?;
    let mut b = Tensor::zeros(classes, DType::F32, &Device::Cpu)?;
    let target = one_hot(y, classes)?;
    let (mut aw, mut ab) = (Adam::new(&w, cfg.lr)?, Adam::new(&b, cfg.lr)?);
    let xt = x.t()?.contiguous()?;
    for _ in 0..cfg.steps {
        let logits = x.matmul(&w.t()?)?.broadcast_add(&b)?;
        let g = ((candle_nn::ops::softmax_last_dim(&logits)? - &target)? / n as f64)?;
        let gw = (g.t()?.matmul(&xt.t()?)? + (&w * (2.0 * cfg.l2))?)?;
        let gb = g.sum(0)?;
        w = aw.step(&w, &gw)?;
        b = ab.step(&b, &gb)?;
    }
    Ok(Head { w, b })
}

/// Accuracy of `pred` against `y`.
pub fn accuracy(pred: &[u32], y: &[u32]) -> f64 {
    if y.is_empty() {
        return 0.0;
    }
    pred.iter().zip(y).filter(|(p, t)| p == t).count() as f64 / y.len() as f64
}

/// Features of one split with labels.
pub struct Split {
    /// `[N, F]`.
    pub x: Tensor,
    /// Labels.
    pub y: Vec<u32>,
}

impl Split {
    /// Build from feature rows and labels.
    pub fn new(rows: &[Vec<f32>], y: Vec<u32>) -> Result<Self> {
        Ok(Self {
            x: to_tensor(rows)?,
            y,
        })
    }
    /// Rows at `idx`.
    pub fn select(&self, idx: &[usize]) -> Result<Split> {
        let it = Tensor::new(
            idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
            &Device::Cpu,
        )?;
        Ok(Split {
            x: self.x.index_select(&it, 0)?,
            y: idx.iter().map(|&i| self.y[i]).collect(),
        })
    }
}

/// Indices of up to `k` seeded-random examples of each class in `classes`.
pub fn k_shot(y: &[u32], classes: &[usize], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    for &c in classes {
        let mut idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] as usize == c).collect();
        idx.shuffle(&mut rng);
        out.extend(idx.into_iter().take(k));
    }
    out
}

/// Enrolment figures for one K.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EnrolResult {
    /// Accuracy on the new intents' evaluation prompts (150-way).
    pub new: f64,
    /// Accuracy on the old intents' evaluation prompts (150-way).
    pub old: f64,
    /// Accuracy on all evaluation prompts.
    pub all: f64,
}

/// All figures of one evaluation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Full-data head accuracy.
    pub full: f64,
    /// 5-shot head accuracy (mean over seeds).
    pub five_shot: f64,
    /// Old-intent accuracy of the 135-way head before enrolment.
    pub old_before: f64,
    /// Enrolment at K = 5.
    pub k5: EnrolResult,
    /// Enrolment at K = 10.
    pub k10: EnrolResult,
}

/// Map old/new class ids so that old classes come first (`0..n_old`) and new after.
fn remap(y: &[u32], order: &[usize]) -> Vec<u32> {
    let mut inv = vec![0u32; order.len()];
    for (new, &old) in order.iter().enumerate() {
        inv[old] = new as u32;
    }
    y.iter().map(|&c| inv[c as usize]).collect()
}

/// The head over the old classes (all but `new_classes`, renumbered in order), trained on
/// their train prompts, with those prompts (renumbered).
pub fn old_head(
    train: &Split,
    classes: usize,
    new_classes: &[usize],
    head_cfg: HeadCfg,
) -> Result<(Head, Split)> {
    let old: Vec<usize> = (0..classes).filter(|c| !new_classes.contains(c)).collect();
    let mut order = old.clone();
    order.extend_from_slice(new_classes);
    let ytr = remap(&train.y, &order);
    let old_idx: Vec<usize> = (0..ytr.len())
        .filter(|&i| (ytr[i] as usize) < old.len())
        .collect();
    let old_tr = Split {
        x: train.select(&old_idx)?.x,
        y: old_idx.iter().map(|&i| ytr[i]).collect(),
    };
    Ok((
        train_head(&old_tr.x, &old_tr.y, old.len(), head_cfg)?,
        old_tr,
    ))
}

/// Enrol `new_classes` into `head` (from [`old_head`]); `train`/`eval` carry original labels.
#[allow(clippy::too_many_arguments)]
pub fn enrol(
    train: &Split,
    eval: &Split,
    classes: usize,
    new_classes: &[usize],
    (head, old_tr): (&Head, &Split),
    k: usize,
    cfg: EnrolCfg,
    seed: u64,
) -> Result<(f64, EnrolResult)> {
    let old: Vec<usize> = (0..classes).filter(|c| !new_classes.contains(c)).collect();
    let mut order = old.clone();
    order.extend_from_slice(new_classes);
    let n_old = old.len();
    let ytr = remap(&train.y, &order);
    let yev = remap(&eval.y, &order);
    let ev_old: Vec<usize> = (0..yev.len())
        .filter(|&i| (yev[i] as usize) < n_old)
        .collect();
    let ev_new: Vec<usize> = (0..yev.len())
        .filter(|&i| (yev[i] as usize) >= n_old)
        .collect();
    let evx_old = eval.x.index_select(&idx_t(&ev_old)?, 0)?;
    let yev_old: Vec<u32> = ev_old.iter().map(|&i| yev[i]).collect();
    let before = accuracy(&head.predict(&evx_old)?, &yev_old);

    // Imprint: normalised class means of K prompts, scaled to the old rows' mean norm.
    let new_ids: Vec<usize> = (n_old..classes).collect();
    let shots = k_shot(&ytr, &new_ids, k, seed);
    let sx = train.x.index_select(&idx_t(&shots)?, 0)?;
    let sy: Vec<u32> = shots.iter().map(|&i| ytr[i]).collect();
    let old_norm = head
        .w
        .sqr()?
        .sum(1)?
        .sqrt()?
        .mean_all()?
        .to_scalar::<f32>()?;
    let mut rows = Vec::new();
    for &c in &new_ids {
        let idx: Vec<usize> = (0..sy.len()).filter(|&i| sy[i] as usize == c).collect();
        let m = sx.index_select(&idx_t(&idx)?, 0)?.mean(0)?;
        let n = m.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?.max(1e-12);
        rows.push((m * f64::from(old_norm / n))?);
    }
    let wn = Var::from_tensor(&Tensor::stack(&rows, 0)?)?;
    let mean_b = head.b.mean_all()?.to_scalar::<f32>()?;
    let bn = Var::from_tensor(&Tensor::full(mean_b, new_ids.len(), &Device::Cpu)?)?;
    // Fine-tune the new rows by NLL on the K×new prompts (old rows frozen).
    let (fx, fy) = if cfg.replay {
        let mut protos = Vec::new();
        for c in 0..n_old {
            let idx: Vec<usize> = (0..old_tr.y.len())
                .filter(|&i| old_tr.y[i] as usize == c)
                .collect();
            protos.push(old_tr.x.index_select(&idx_t(&idx)?, 0)?.mean(0)?);
        }
        let px = Tensor::stack(&protos, 0)?;
        let mut y = sy.clone();
        y.extend((0..n_old as u32).collect::<Vec<_>>());
        (Tensor::cat(&[&sx, &px], 0)?, y)
    } else {
        (sx.clone(), sy.clone())
    };
    let fyt = Tensor::new(fy.as_slice(), &Device::Cpu)?;
    let params = ParamsAdamW {
        lr: cfg.lr,
        weight_decay: 0.0,
        ..Default::default()
    };
    let mut opt = AdamW::new(vec![wn.clone(), bn.clone()], params)?;
    for _ in 0..cfg.steps {
        let w = Tensor::cat(&[&head.w, wn.as_tensor()], 0)?;
        let b = Tensor::cat(&[&head.b, bn.as_tensor()], 0)?;
        let logits = fx.matmul(&w.t()?)?.broadcast_add(&b)?;
        let loss = candle_nn::loss::cross_entropy(&logits, &fyt)?;
        opt.backward_step(&loss)?;
    }
    let full = Head {
        w: Tensor::cat(&[&head.w, wn.as_tensor()], 0)?,
        b: Tensor::cat(&[&head.b, bn.as_tensor()], 0)?,
    };
    let pred = full.predict(&eval.x)?;
    let sub = |idx: &[usize]| {
        let p: Vec<u32> = idx.iter().map(|&i| pred[i]).collect();
        let t: Vec<u32> = idx.iter().map(|&i| yev[i]).collect();
        accuracy(&p, &t)
    };
    Ok((
        before,
        EnrolResult {
            new: sub(&ev_new),
            old: sub(&ev_old),
            all: accuracy(&pred, &yev),
        },
    ))
}

fn idx_t(idx: &[usize]) -> Result<Tensor> {
    Ok(Tensor::new(
        idx.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        &Device::Cpu,
    )?)
}

/// Run the whole protocol. `train`/`eval` features carry labels of `data.intents`.
pub fn evaluate(
    data: &Dataset,
    train: &Split,
    eval: &Split,
    enrol_domain: &str,
    head_cfg: HeadCfg,
    enrol_cfg: EnrolCfg,
    seeds: u64,
) -> Result<Report> {
    let c = data.intents.len();
    let full_head = train_head(&train.x, &train.y, c, head_cfg)?;
    let full = accuracy(&full_head.predict(&eval.x)?, &eval.y);
    let all: Vec<usize> = (0..c).collect();
    let mut five = 0.0;
    for s in 0..seeds {
        let few = train.select(&k_shot(&train.y, &all, 5, s))?;
        let h = train_head(&few.x, &few.y, c, head_cfg)?;
        five += accuracy(&h.predict(&eval.x)?, &eval.y);
    }
    let new_classes = data.domain_intents(enrol_domain);
    let mut r = Report {
        full,
        five_shot: five / seeds as f64,
        ..Default::default()
    };
    if !new_classes.is_empty() {
        let mut acc = [EnrolResult::default(), EnrolResult::default()];
        let (oh, otr) = old_head(train, c, &new_classes, head_cfg)?;
        for s in 0..seeds {
            for (j, k) in [5, 10].into_iter().enumerate() {
                let (before, e) =
                    enrol(train, eval, c, &new_classes, (&oh, &otr), k, enrol_cfg, s)?;
                r.old_before = before;
                acc[j].new += e.new / seeds as f64;
                acc[j].old += e.old / seeds as f64;
                acc[j].all += e.all / seeds as f64;
            }
        }
        let [k5, k10] = acc;
        r.k5 = k5;
        r.k10 = k10;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two well-separated Gaussian-free clusters per class on the unit circle.
    fn toy(classes: usize, per: usize) -> (Vec<Vec<f32>>, Vec<u32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for c in 0..classes {
            let a = c as f32 * std::f32::consts::TAU / classes as f32;
            for i in 0..per {
                let j = (i as f32 - per as f32 / 2.0) * 0.01;
                x.push(vec![(a + j).cos(), (a + j).sin(), 0.1]);
                y.push(c as u32);
            }
        }
        (x, y)
    }

    #[test]
    fn head_separates_separable_classes() -> Result<()> {
        let (x, y) = toy(6, 10);
        let h = train_head(&to_tensor(&x)?, &y, 6, HeadCfg::default())?;
        assert_eq!(accuracy(&h.predict(&to_tensor(&x)?)?, &y), 1.0);
        Ok(())
    }

    #[test]
    fn k_shot_takes_k_per_class_deterministically() {
        let y: Vec<u32> = (0..60).map(|i| (i % 3) as u32).collect();
        let a = k_shot(&y, &[0, 2], 5, 7);
        assert_eq!(a.len(), 10);
        assert!(a[..5].iter().all(|&i| y[i] == 0) && a[5..].iter().all(|&i| y[i] == 2));
        assert_eq!(a, k_shot(&y, &[0, 2], 5, 7));
        assert_ne!(a, k_shot(&y, &[0, 2], 5, 8));
    }

    /// Classes along orthogonal axes with a shared offset and a little spread.
    fn orthogonal(classes: usize, per: usize) -> (Vec<Vec<f32>>, Vec<u32>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for c in 0..classes {
            for i in 0..per {
                let mut r = vec![0.05f32; classes];
                r[c] = 1.0;
                r[(c + 1 + i) % classes] += 0.2;
                x.push(r);
                y.push(c as u32);
            }
        }
        (x, y)
    }

    #[test]
    fn enrolment_learns_new_classes_and_keeps_old_ones() -> Result<()> {
        let (x, y) = orthogonal(8, 12);
        let s = Split::new(&x, y)?;
        let (h, o) = old_head(&s, 8, &[6, 7], HeadCfg::default())?;
        let (before, r) = enrol(&s, &s, 8, &[6, 7], (&h, &o), 5, EnrolCfg::default(), 0)?;
        assert_eq!(before, 1.0);
        assert!(r.new > 0.9, "new {}", r.new);
        // With replay of old-class prototypes the old classes are kept too.
        let cfg = EnrolCfg {
            replay: true,
            ..EnrolCfg::default()
        };
        let (_, r) = enrol(&s, &s, 8, &[6, 7], (&h, &o), 5, cfg, 0)?;
        assert!(r.new > 0.9, "new {}", r.new);
        assert!(r.old > 0.9, "old {}", r.old);
        Ok(())
    }
}
