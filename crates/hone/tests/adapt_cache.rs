//! The trainer's shortcuts compute the same objective and gradient as a full recomputation.
//!
//! [`Trainer`] computes each example's frozen old-class statistics (log-sum-exp, target logit,
//! sum of logits) once, then per step only the enrolled rows' logits, and accumulates the
//! gradient example by example. Here a plain f64 recomputation over *all* classes (every
//! logit from [`Head::weight`] and [`Head::bias`], softmax over all of them) must give the
//! same loss and, through one plain-SGD step with η = 1, the same gradient, up to f32
//! rounding: on random stores holding examples of old and new classes, after evictions, with
//! label smoothing and class-balanced weights.

use hone::adapt::{
    Head, Optimizer, Reduction, Schedule, Store, TrainConfig, Trainer, Validation, Workspace,
};
use hone::Model;
use hone_build::testutil::tiny_model;
use hone_build::HostSteps;

const NEW: usize = 4;
const F: usize = 32;
/// Small, so that adding examples evicts.
const N: usize = 12;

struct Rng(u32);

impl Rng {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }

    /// Uniform in [-1, 1).
    fn uniform(&mut self) -> f32 {
        (self.next() >> 8) as f32 / (1u32 << 23) as f32 - 1.0
    }
}

fn config(l2: f32, smoothing: f32, reduction: Reduction) -> TrainConfig {
    TrainConfig {
        optimizer: Optimizer::Sgd { momentum: 0.0 },
        lr: 1.0,
        schedule: Schedule::Constant,
        epochs: 1,
        batch: N as u16,
        l2,
        reduction,
        class_balanced: true,
        label_smoothing: smoothing,
        clip_norm: 0.0,
        seed: 1,
        validation: Validation::None,
        max_norm: 0.0,
    }
}

/// Adds `n` examples with random features and labels (old and new classes alike); returns
/// how many were evicted.
fn add_random(
    store: &mut Store<N, F>,
    head: &Head<'_, '_, NEW, F>,
    rng: &mut Rng,
    n: usize,
) -> usize {
    let d = head.dim();
    let mut evicted = 0;
    for _ in 0..n {
        let label = (rng.next() as usize % head.num_classes()) as u16;
        let h: Vec<f32> = (0..d).map(|_| 2.0 * rng.uniform()).collect();
        evicted += usize::from(store.add(label, &h).unwrap().is_some());
    }
    evicted
}

/// Loss and gradient (per enrolled row: weights then bias) of the objective on `batch`,
/// recomputed in f64 from every class's logit.
fn full_recomputation(
    head: &Head<'_, '_, NEW, F>,
    store: &Store<N, F>,
    batch: &[u16],
    weights: &[f32],
    cfg: &TrainConfig,
) -> (f64, Vec<Vec<f64>>) {
    let (d, old, k_all) = (head.dim(), head.old_classes(), head.num_classes());
    let eps = f64::from(cfg.label_smoothing);
    let l2 = f64::from(cfg.l2);
    let mut loss = 0.0;
    let mut grad = vec![vec![0.0f64; d + 1]; head.num_new()];
    for (&i, &w_i) in batch.iter().zip(weights) {
        let e = store.get(usize::from(i)).unwrap();
        let h: Vec<f64> = e.feat[..d].iter().map(|x| f64::from(x.to_f32())).collect();
        let z: Vec<f64> = (0..k_all)
            .map(|c| {
                f64::from(head.bias(c))
                    + (0..d)
                        .map(|f| f64::from(head.weight(c, f)) * h[f])
                        .sum::<f64>()
            })
            .collect();
        let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + z.iter().map(|&zc| (zc - m).exp()).sum::<f64>().ln();
        let coef = match cfg.reduction {
            Reduction::Sum => f64::from(w_i),
            Reduction::Mean => f64::from(w_i) / batch.len() as f64,
        };
        let y = usize::from(e.label);
        let kk = k_all as f64;
        loss += coef * ((1.0 - eps) * (lse - z[y]) + eps / kk * (kk * lse - z.iter().sum::<f64>()));
        for (k, g) in grad.iter_mut().enumerate() {
            let c = old + k;
            let t = if c == y { 1.0 - eps } else { 0.0 } + eps / kk;
            let r = coef * ((z[c] - lse).exp() - t);
            for f in 0..d {
                g[f] += r * h[f];
            }
            g[d] += r;
        }
    }
    for (k, g) in grad.iter_mut().enumerate() {
        let (row, b, anchor) = head.new_row(k).unwrap();
        let ab = head.prior_bias(k).unwrap();
        for f in 0..d {
            let diff = f64::from(row[f]) - f64::from(anchor[f].to_f32());
            loss += 0.5 * l2 * diff * diff;
            g[f] += l2 * diff;
        }
        let db = f64::from(b) - f64::from(ab);
        loss += 0.5 * l2 * db * db;
        g[d] += l2 * db;
    }
    (loss, grad)
}

/// Checks loss and gradient of the trainer against the full recomputation on the whole store,
/// then keeps the step (so that the next round starts from another head).
fn check(
    head: &mut Head<'_, '_, NEW, F>,
    store: &Store<N, F>,
    ws: &mut Workspace<NEW, F, N, 0>,
    cfg: TrainConfig,
    what: &str,
) {
    let d = head.dim();
    let batch: Vec<u16> = (0..store.len() as u16).collect();
    let (loss, weights) = {
        let tr = Trainer::new(head, store, ws, cfg).unwrap();
        let w: Vec<f32> = batch.iter().map(|&i| tr.weight(usize::from(i))).collect();
        (tr.batch_loss(&batch), w)
    };
    let (want_loss, want_grad) = full_recomputation(head, store, &batch, &weights, &cfg);
    let close = |got: f64, want: f64, scale: f64| (got - want).abs() <= 1e-5 * scale.max(1.0);
    assert!(
        close(f64::from(loss), want_loss, want_loss.abs()),
        "{what}: loss {loss} vs full {want_loss}"
    );
    let before: Vec<(Vec<f32>, f32)> = (0..head.num_new())
        .map(|k| {
            let (w, b, _) = head.new_row(k).unwrap();
            (w.to_vec(), b)
        })
        .collect();
    let info = Trainer::new(head, store, ws, cfg)
        .unwrap()
        .step(&batch, 1.0);
    assert!(!info.skipped, "{what}");
    assert_eq!(info.loss, loss, "{what}: step and batch_loss disagree");
    // Plain SGD with η = 1: θ' = θ − g, so g = θ − θ' (exact up to the rounding of θ − g).
    for (k, (w0, b0)) in before.iter().enumerate() {
        let (w1, b1, _) = head.new_row(k).unwrap();
        for f in 0..d {
            let got = f64::from(w0[f]) - f64::from(w1[f]);
            let want = want_grad[k][f];
            let scale = f64::from(w0[f].abs()) + want.abs();
            assert!(
                close(got, want, scale),
                "{what}: row {k} feature {f}: gradient {got} vs full {want}"
            );
        }
        let got = f64::from(*b0) - f64::from(b1);
        let want = want_grad[k][d];
        assert!(
            close(got, want, f64::from(b0.abs()) + want.abs()),
            "{what}: bias {k}: gradient {got} vs full {want}"
        );
    }
}

#[test]
fn cached_old_class_statistics_give_the_full_loss_and_gradient() {
    let blob = tiny_model().unwrap();
    let mut steps = HostSteps::new();
    let model = Model::load(&blob, &mut steps).unwrap();
    let mut ws = Box::new(Workspace::<NEW, F, N, 0>::new());
    let variants = [
        (0.0, 0.0, Reduction::Mean),
        (0.3, 0.1, Reduction::Mean),
        (0.05, 0.2, Reduction::Sum),
    ];
    for seed in 1..=6u32 {
        for (v, &(l2, eps, red)) in variants.iter().enumerate() {
            let mut rng = Rng(0x9e37_79b9 ^ (seed * 7919 + v as u32));
            let mut head = Head::<NEW, F>::new(&model).unwrap();
            for k in 0..1 + seed as usize % NEW {
                head.enrol(&format!("new{k}")).unwrap();
            }
            let mut store = Store::<N, F>::new();
            add_random(&mut store, &head, &mut rng, N);
            assert!(
                store
                    .iter()
                    .any(|e| usize::from(e.label) < head.old_classes()),
                "seed {seed}: the store should hold old-class examples"
            );
            head.imprint_all(&store);
            let cfg = config(l2, eps, red);
            check(
                &mut head,
                &store,
                &mut ws,
                cfg,
                &format!("seed {seed} v{v} full"),
            );
            // Evictions change which examples are stored (and their order); the trainer
            // rebuilds its per-example statistics from the store it is given.
            let evicted = add_random(&mut store, &head, &mut rng, 7);
            assert!(evicted > 0, "seed {seed}: adding to a full store evicts");
            check(
                &mut head,
                &store,
                &mut ws,
                cfg,
                &format!("seed {seed} v{v} evicted"),
            );
            check(
                &mut head,
                &store,
                &mut ws,
                cfg,
                &format!("seed {seed} v{v} stepped"),
            );
        }
    }
}
