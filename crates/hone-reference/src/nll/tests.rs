use super::*;

/// Small deterministic generator (LCG) for test problems.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, a: f64) -> Vec<f64> {
        (0..n).map(|_| a * self.next()).collect()
    }
}

fn problem(seed: u64, smoothing: f64, l2: f64, reduction: Reduction, balanced: bool) -> Problem {
    let (k_old, k_new, d, n) = (5, 3, 7, 14);
    let mut r = Lcg(seed);
    let w: Vec<Vec<f64>> = (0..k_old + k_new).map(|_| r.vec(d, 1.0)).collect();
    let anchor = (0..k_new).map(|_| r.vec(d, 1.0)).collect();
    let labels: Vec<usize> = (0..n).map(|i| (i * 5 + i / 3) % (k_old + k_new)).collect();
    let weights = if balanced {
        class_weights(&labels)
    } else {
        vec![1.0; n]
    };
    Problem {
        w,
        b: r.vec(k_old + k_new, 0.3),
        first_trainable: k_old,
        anchor,
        anchor_b: r.vec(k_new, 0.3),
        feats: (0..n).map(|_| r.vec(d, 1.0)).collect(),
        labels,
        weights,
        l2,
        smoothing,
        reduction,
    }
}

#[test]
fn analytic_gradient_matches_central_differences() {
    let h = 1e-6;
    let mut checked = 0;
    let mut worst: f64 = 0.0;
    for (seed, eps, l2, red, bal) in [
        (1, 0.0, 0.0, Reduction::Sum, false),
        (2, 0.1, 0.0, Reduction::Sum, true),
        (3, 0.0, 0.5, Reduction::Mean, false),
        (4, 0.2, 0.3, Reduction::Mean, true),
    ] {
        let p = problem(seed, eps, l2, red, bal);
        let batch: Vec<usize> = (0..p.feats.len()).step_by(2).collect();
        let g = p.gradient(&batch);
        assert!((g.loss - p.objective(&batch)).abs() < 1e-12);
        for k in 0..g.b.len() {
            for j in 0..=g.w[k].len() {
                let mut plus = p.clone();
                let mut minus = p.clone();
                let row = p.first_trainable + k;
                if j < g.w[k].len() {
                    plus.w[row][j] += h;
                    minus.w[row][j] -= h;
                } else {
                    plus.b[row] += h;
                    minus.b[row] -= h;
                }
                let fd = (plus.objective(&batch) - minus.objective(&batch)) / (2.0 * h);
                let an = if j < g.w[k].len() { g.w[k][j] } else { g.b[k] };
                let err = (fd - an).abs() / an.abs().max(1.0);
                worst = worst.max(err);
                assert!(err < 1e-7, "seed {seed} k {k} j {j}: fd {fd} vs {an}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 8);
    eprintln!("{checked} partial derivatives, worst relative error {worst:.2e}");
}

#[test]
fn plain_objective_is_the_sum_of_negative_log_likelihoods() {
    let p = problem(7, 0.0, 0.0, Reduction::Sum, false);
    let all: Vec<usize> = (0..p.feats.len()).collect();
    let direct: f64 = all
        .iter()
        .map(|&i| {
            let z = p.logits(&p.feats[i]);
            let sum: f64 = z.iter().map(|v| v.exp()).sum();
            -(z[p.labels[i]].exp() / sum).ln()
        })
        .sum();
    assert!((p.objective(&all) - direct).abs() < 1e-9);
    assert!((p.mean_nll(&all) - direct / all.len() as f64).abs() < 1e-9);
}

#[test]
fn class_weights_give_each_class_equal_total_weight() {
    let labels = [0, 0, 0, 1, 2, 2];
    let w = class_weights(&labels);
    let total = |c: usize| -> f64 { (0..6).filter(|&i| labels[i] == c).map(|i| w[i]).sum() };
    for c in 0..3 {
        assert!((total(c) - 2.0).abs() < 1e-12);
    }
    assert!((w.iter().sum::<f64>() - 6.0).abs() < 1e-12);
}

#[test]
fn both_optimisers_decrease_the_objective() {
    for opt in [
        Optimizer::Sgd { momentum: 0.9 },
        Optimizer::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    ] {
        let p = problem(11, 0.0, 0.01, Reduction::Mean, false);
        let all: Vec<usize> = (0..p.feats.len()).collect();
        let before = p.objective(&all);
        let mut t = Trainer::new(p, opt, 10.0);
        for _ in 0..200 {
            t.step(&all, 0.05);
        }
        let after = t.problem.objective(&all);
        assert!(after < 0.8 * before, "{opt:?}: {before} -> {after}");
    }
}
