//! Optimisers and learning-rate schedules (f32, IEEE basic operations only).

use crate::quant::sqrt_f32;

/// How a gradient becomes a step.
///
/// RAM: each trainable parameter (`NEW·(F+1)` of them) needs [`Optimizer::slots`] f32 of
/// state in the [`super::Workspace`]: none for plain SGD, one (velocity) for SGD with
/// momentum, two (first and second moments) for Adam. For 16 new rows of 128 features that is
/// 0, 8.3 KB or 16.5 KB.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Optimizer {
    /// `v ← μ v + g; θ ← θ − η v` (plain SGD when `momentum` is 0).
    Sgd {
        /// Momentum μ in `[0, 1)`.
        momentum: f32,
    },
    /// Adam with bias correction: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
    /// `θ ← θ − η m̂ / (√v̂ + ε)`.
    Adam {
        /// β₁ in `[0, 1)`.
        beta1: f32,
        /// β₂ in `[0, 1)`.
        beta2: f32,
        /// ε > 0.
        eps: f32,
    },
}

impl Optimizer {
    /// Adam with the usual constants (0.9, 0.999, 1e-8).
    pub const ADAM: Self = Optimizer::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };

    /// f32 state values per trainable parameter.
    pub const fn slots(&self) -> usize {
        match self {
            Optimizer::Sgd { momentum } if *momentum == 0.0 => 0,
            Optimizer::Sgd { .. } => 1,
            Optimizer::Adam { .. } => 2,
        }
    }

    pub(crate) fn valid(&self) -> bool {
        let unit = |x: f32| (0.0..1.0).contains(&x);
        match *self {
            Optimizer::Sgd { momentum } => unit(momentum),
            Optimizer::Adam { beta1, beta2, eps } => unit(beta1) && unit(beta2) && eps > 0.0,
        }
    }

    /// One update of parameter `theta` with gradient `g`. `s` holds this parameter's state
    /// slots; `c1`, `c2` are Adam's bias corrections `1 − β₁ᵗ`, `1 − β₂ᵗ`.
    #[inline]
    pub(crate) fn apply(
        &self,
        theta: &mut f32,
        g: f32,
        s: (&mut f32, &mut f32),
        lr: f32,
        c: (f32, f32),
    ) {
        match *self {
            Optimizer::Sgd { momentum: 0.0 } => *theta -= lr * g,
            Optimizer::Sgd { momentum } => {
                *s.0 = momentum * *s.0 + g;
                *theta -= lr * *s.0;
            }
            Optimizer::Adam { beta1, beta2, eps } => {
                *s.0 = beta1 * *s.0 + (1.0 - beta1) * g;
                *s.1 = beta2 * *s.1 + (1.0 - beta2) * (g * g);
                let m_hat = *s.0 / c.0;
                let v_hat = *s.1 / c.1;
                *theta -= lr * m_hat / (sqrt_f32(v_hat) + eps);
            }
        }
    }
}

/// Learning-rate schedule: the rate at step `t` of `total` is `lr · factor(t, total)`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Schedule {
    /// Constant rate.
    Constant,
    /// Linear decay from 1 to `end` over all steps.
    Linear {
        /// Final factor.
        end: f32,
    },
    /// Multiply by `gamma` every `every` steps.
    Step {
        /// Steps between decays (≥ 1).
        every: u32,
        /// Decay factor.
        gamma: f32,
    },
}

impl Schedule {
    /// The factor at step `t` (0-based) of `total`.
    pub fn factor(&self, t: u32, total: u32) -> f32 {
        match *self {
            Schedule::Constant => 1.0,
            Schedule::Linear { end } => {
                let span = total.saturating_sub(1).max(1) as f32;
                let a = (t as f32 / span).min(1.0);
                1.0 + (end - 1.0) * a
            }
            Schedule::Step { every, gamma } => {
                let k = (t / every.max(1)).min(64);
                let mut f = 1.0f32;
                for _ in 0..k {
                    f *= gamma;
                }
                f
            }
        }
    }
}
