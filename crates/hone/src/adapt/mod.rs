//! On-device adaptation of the last layer: enrol new labels and fine-tune the head by
//! maximum likelihood, within a fixed, statically known amount of RAM.
//!
//! # The objective is maximum-likelihood estimation
//!
//! The head turns a frozen feature vector `h` into class probabilities
//! `p_θ(y | h) = softmax(W h + b)[y]`. Given the prompts the user labelled,
//! `D = {(h_i, y_i)}`, the most likely head is the one that maximises `Π_i p_θ(y_i | h_i)`,
//! i.e. minimises the negative log-likelihood
//!
//! ```text
//! L(θ) = Σ_i w_i · (−log softmax(W h_i + b)[y_i])  +  λ/2 · ‖θ − θ_pre‖²
//! ```
//!
//! where `θ = (W, b)` are the trainable (enrolled) rows and biases.
//!
//! The first term is the cross-entropy of the model against the user's labels (with label
//! smoothing ε the one-hot target becomes `(1 − ε)·onehot + ε/K`). The second is a Gaussian
//! prior centred on the starting weights, so the minimiser is a maximum *a posteriori*
//! estimate: with few examples the data move the head only as far as they justify. Its
//! gradient is simple and exact: `∂L/∂z_c = w_i (p_c − t_c)` for the logits `z`, hence
//! `∂L/∂W_c = Σ_i w_i (p_ic − t_ic) h_i + λ (W_c − W_pre,c)` and
//! `∂L/∂b_c = Σ_i w_i (p_ic − t_ic) + λ (b_c − b_pre,c)`. The prior covers the biases too:
//! with only new-class examples, an unpenalised bias is the cheapest way to raise the new
//! classes' likelihood, and it raises them on every prompt.
//!
//! # Why training starts from the pre-trained weights
//!
//! The pre-trained rows already encode the 100+ intents the model shipped with; a random
//! start would forget them and need far more data than a user types. So the old rows stay
//! in flash untouched (their RAM cost is zero), and each *new* row starts from
//! *imprinting*: the L2-normalised mean feature of its examples, scaled to the mean norm of
//! the old rows, with the mean old bias — already a good nearest-class-mean classifier,
//! calibrated so that it competes fairly with the old rows. Fine-tuning then only has to
//! correct it, and `W_pre` in the prior is that starting point.
//!
//! Because the old rows are frozen and the features are cached, each example's old-class
//! log-sum-exp, old target logit and sum of old logits are computed once per training run
//! ([`Trainer`]); a training step then costs only the new rows' arithmetic. Within a step each
//! example's features are widened from f16 once and serve its new logits and its share of
//! the gradient, which is kept in the [`Workspace`] for clipping and the update. What an
//! enrolment costs on Cortex-M4 is measured by `firmware/bench`'s `adapt-bench` and listed in
//! `BENCHMARKS.md`.
//!
//! # Sum or mean, and class balance
//!
//! With [`Reduction::Sum`] the data term grows with the number of examples, so the prior
//! matters less as the user collects more (the textbook posterior); the learning rate must
//! then be smaller for large batches. With [`Reduction::Mean`] the data term is an average
//! over the mini-batch, so the step size does not depend on the batch size and `λ` is a
//! fixed trade-off. A user who collects 30 prompts of one intent and 3 of another would
//! otherwise teach the head mostly the first: with [`TrainConfig::class_balanced`] each
//! example is weighted `w_i = n / (K · n_{y_i})` (`n` training examples over `K` classes
//! present), so every class contributes the same total weight and `Σ w_i = n`.
//!
//! # Never worse
//!
//! [`Trainer::train`] holds out part of the examples (every `k`-th of each class) or, when
//! there are few, runs `k`-fold cross-validation to choose the number of epochs; it keeps
//! the head with the best validation NLL and rolls back to the starting head when
//! training does not improve it.
//!
//! # Forgetting
//!
//! The old rows never change, so old classes are forgotten only when a new row outscores
//! them on their own prompts. Without prompts of old classes in the store (negatives), the
//! likelihood of the user's data only says "more new class": a new row keeps growing
//! longer and its bias larger, and a longer row scores higher on every prompt near its
//! direction. Three things hold it back:
//! - the imprinted norm: the old rows' mean norm ([`Calibration::DEFAULT`]), so that the new
//!   row starts on equal terms with the old ones;
//! - the prior `λ` toward the imprinted row;
//! - the norm cap ([`TrainConfig::max_norm`]): after each step a new row longer than the old
//!   rows' mean norm is scaled back onto it, so training can turn a row and move its bias
//!   but not make it outshout the old rows.
//!
//! How much each of these holds back on the shipped model, and what was tried and not
//! kept, is measured in `models/hone-intent/MODEL_CARD.md` ("Enrolment on the device").
//!
//! # Example
//!
//! ```
//! use hone::adapt::{Head, Store, TrainConfig, Trainer, Validation, Workspace};
//! use hone::{Model, Runner, Steps};
//! # let blob = hone_build::testutil::tiny_model().unwrap();
//! let mut steps = Steps::<8>::new();
//! let model = Model::load(&blob, &mut steps)?;
//! let mut scratch = vec![0u32; model.scratch_words()];
//! let mut runner = Runner::new(&model, &mut scratch)?;
//! // Capacities: 4 new classes, features up to 16, 32 examples, 2 optimiser slots (Adam).
//! let mut head = Head::<4, 16>::new(&model)?;
//! let mut store = Store::<32, 16>::new();
//! let mut ws = Box::new(Workspace::<4, 16, 32, 2>::new()); // a `static` on a device
//! let weather = head.enrol("weather")?;
//! for p in ["what is the weather", "weather today", "is the weather on", "the weather please"] {
//!     store.collect(&mut runner, &head, p, weather)?;
//! }
//! head.imprint_all(&store);
//! let cfg = TrainConfig { validation: Validation::Holdout { every: 4 }, ..TrainConfig::default() };
//! let report = Trainer::new(&mut head, &store, &mut ws, cfg)?.train()?;
//! assert_eq!(report.skipped, 0);
//! let h = runner.features("weather today please").to_vec();
//! let mut log_probs = [0.0f32; 8];
//! let class = head.classify(&h, &mut log_probs);
//! assert_eq!(head.label(class), Some("weather"));
//! # Ok::<(), Box<dyn core::error::Error>>(())
//! ```
//!
//! [`persist::Journal`] saves and restores the enrolled classes and the store.
//!
//! # RAM
//!
//! Everything lives in const-generic, heap-free structures whose size is known at compile
//! time: [`Head`] (new rows, their anchors, names), [`Store`] (f16 features) and
//! [`Workspace`] (optimiser state, best-head snapshot, per-example caches).
//! [`ram_bytes`] adds them up.
//!
//! # Session
//!
//! [`Session`] bundles a head, a store and a workspace at fixed capacities
//! ([`SESSION_NEW`], [`SESSION_EXAMPLES`], [`SESSION_SLOTS`]) and a feature capacity `F`:
//! the state a device keeps (store and workspace in a `static` [`AdaptRam`]). A host that
//! meets a model at run time picks `F` from [`FEATURE_BUCKETS`] ([`with_feature_capacity`]).

mod capacity;
mod error;
mod head;
mod optim;
pub mod persist;
mod ram;
mod session;
mod store;
mod train;

pub use capacity::{with_feature_capacity, CapacityFn, FEATURE_BUCKETS};
pub use error::{AdaptError, Setting};
pub use head::{Calibration, Head, NewRows, LABEL_LEN};
pub use optim::{Optimizer, Schedule};
pub use ram::ram_bytes;
pub use session::{
    ram_bytes_for_dim, session_ram_bytes, AdaptRam, Session, SESSION_EXAMPLES, SESSION_NEW,
    SESSION_SLOTS,
};
pub use store::{Example, Store};
pub use train::{
    class_weights, Reduction, StepInfo, TrainConfig, TrainReport, Trainer, Validation, Workspace,
    MAX_BATCH, MAX_EPOCHS,
};

/// The first `n` entries of `s` (all of `s` when it is shorter): slicing that cannot panic.
///
/// Rows and features here live in capacity arrays (`[T; F]`) of which a head uses the first
/// `dim()` entries, and `Head::new` rejects a model with `dim() > F`, so the clamp never
/// shortens a prefix the code asks for.
#[inline(always)]
fn prefix<T>(s: &[T], n: usize) -> &[T] {
    s.split_at(n.min(s.len())).0
}

/// [`prefix`], mutable.
#[inline(always)]
fn prefix_mut<T>(s: &mut [T], n: usize) -> &mut [T] {
    let n = n.min(s.len());
    s.split_at_mut(n).0
}
