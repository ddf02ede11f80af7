//! The adaptation session that golden adaptation vectors script (feature `adapt`).
//!
//! Host (`generate`) and device run the same steps through [`Session`], in the order of the
//! golden file: [`Vector::Enrol`](crate::Vector::Enrol) collects a prompt under a label
//! (enrolling the label if new), [`Vector::Train`](crate::Vector::Train) imprints the new
//! classes and fine-tunes them by NLL, [`Vector::Evaluate`](crate::Vector::Evaluate)
//! classifies a prompt with the base head and with the adapted head, and
//! [`Vector::Persist`](crate::Vector::Persist) saves the state through `NorFlash`, clears it,
//! reloads it and compares its [`Session::digest`] (evaluation vectors after it then run on
//! the reloaded state).
//!
//! Capacities: [`NEW`] classes, [`N`] examples and Adam's [`S`] optimiser slots are fixed
//! (the realistic enrolment: 16 new intents × 10 prompts); the feature capacity `F` follows
//! the model: the device builds with `F` = the embedded model's feature length, the host
//! with the smallest of [`FEATURE_BUCKETS`] that holds it. Results do not depend on `F` (only
//! the model's `feature_dim()` features are ever used), so both sides agree bit for bit.
//!
//! The large parts (example store, training workspace) are borrowed, so that firmware can
//! keep them in statics instead of on the stack ([`AdaptRam`]).

use hone::adapt::{AdaptError, Head, Store, TrainConfig, TrainReport, Trainer, Workspace};
use hone::{Model, Runner};

/// Classes a session can enrol.
pub const NEW: usize = 16;
/// Examples the store holds (10 per new class).
pub const N: usize = 160;
/// Optimiser slots (Adam needs 2).
pub const S: usize = 2;
/// Feature capacities the host dispatches to ([`with_capacity`]).
pub const FEATURE_BUCKETS: [usize; 7] = [16, 32, 64, 128, 256, 384, 512];

/// Bytes of RAM the session's state takes (head rows, store, workspace) at feature
/// capacity `F`.
pub const fn ram_bytes<const F: usize>() -> usize {
    hone::adapt::ram_bytes::<NEW, F, N, S>()
}

/// The training configuration of a [`crate::Vector::Train`]: the runtime's defaults with the
/// given epochs and shuffle seed.
pub fn train_config(epochs: u16, seed: u32) -> TrainConfig {
    TrainConfig {
        epochs,
        seed,
        ..TrainConfig::default()
    }
}

/// The borrowed parts of a [`Session`]: example store and training workspace. `const`
/// constructible, so firmware can place it in a `static` (zero-initialised `.bss`, never
/// copied through the stack).
pub struct AdaptRam<const F: usize> {
    /// Collected examples (frozen-encoder features, f16).
    pub store: Store<N, F>,
    /// Training working memory.
    pub ws: Workspace<NEW, F, N, S>,
}

impl<const F: usize> AdaptRam<F> {
    /// Empty store, zeroed workspace.
    pub const fn new() -> Self {
        Self {
            store: Store::new(),
            ws: Workspace::new(),
        }
    }
}

impl<const F: usize> Default for AdaptRam<F> {
    fn default() -> Self {
        Self::new()
    }
}

/// Adaptation state of one model: enrolled head, example store and training workspace.
pub struct Session<'r, 'm, 'a, const F: usize> {
    /// The head (pre-trained rows in flash, enrolled rows here).
    pub head: Head<'m, 'a, NEW, F>,
    /// Collected examples (frozen-encoder features, f16).
    pub store: &'r mut Store<N, F>,
    /// Training working memory.
    pub ws: &'r mut Workspace<NEW, F, N, S>,
}

impl<'r, 'm, 'a, const F: usize> Session<'r, 'm, 'a, F> {
    /// A session with nothing enrolled, in `ram` (cleared).
    pub fn new(model: &'m Model<'a>, ram: &'r mut AdaptRam<F>) -> Result<Self, AdaptError> {
        ram.store.clear();
        Ok(Self {
            head: Head::new(model)?,
            store: &mut ram.store,
            ws: &mut ram.ws,
        })
    }

    /// Classes the adapted head classifies into (pre-trained + enrolled).
    pub fn num_classes(&self) -> usize {
        self.head.num_classes()
    }

    /// Collects `prompt` as an example of `label` (enrolled if new); returns the class id.
    pub fn enrol(
        &mut self,
        runner: &mut Runner<'_, '_, '_>,
        prompt: &str,
        label: &str,
    ) -> Result<usize, AdaptError> {
        let class = self.head.class_id(label)?;
        let label16 = u16::try_from(class).map_err(|_| AdaptError::UnknownLabel)?;
        self.store.add(label16, runner.features(prompt))?;
        Ok(class)
    }

    /// Imprints the enrolled classes from their examples and fine-tunes them.
    pub fn train(&mut self, cfg: TrainConfig) -> Result<TrainReport, AdaptError> {
        self.head.imprint_all(self.store);
        Trainer::new(&mut self.head, self.store, self.ws, cfg)?.train()
    }

    /// Classifies `prompt` with the adapted head: log-probabilities into `out` (at least
    /// [`Session::num_classes`] long), returns the label.
    pub fn classify(
        &self,
        runner: &mut Runner<'_, '_, '_>,
        prompt: &str,
        out: &mut [f32],
    ) -> usize {
        self.head.classify(runner.features(prompt), out)
    }

    /// FNV-1a digest of the whole adaptation state: enrolled names, rows, biases, prior
    /// centres, and every stored example (label and feature bits). Equal digests before a
    /// save and after a reload mean the state survived.
    pub fn digest(&self) -> u32 {
        let mut h = Fnv::new();
        let old = self.head.old_classes();
        for k in 0..self.head.num_new() {
            h.bytes(self.head.label(old + k).unwrap_or("").as_bytes());
            if let Some((w, b, anchor)) = self.head.new_row(k) {
                w.iter().for_each(|v| h.u32(v.to_bits()));
                h.u32(b.to_bits());
                anchor.iter().for_each(|v| h.u32(u32::from(v.to_bits())));
            }
            h.u32(self.head.prior_bias(k).unwrap_or(0.0).to_bits());
        }
        for e in self.store.iter() {
            h.u32(u32::from(e.label));
            e.feat.iter().for_each(|v| h.u32(u32::from(v.to_bits())));
        }
        h.0
    }

    /// Forgets every enrolled class and example (what a reboot loses).
    pub fn clear(&mut self) {
        self.head.clear();
        self.store.clear();
    }
}

/// 32-bit FNV-1a.
struct Fnv(u32);

impl Fnv {
    fn new() -> Self {
        Self(0x811c_9dc5)
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 = (self.0 ^ u32::from(x)).wrapping_mul(0x0100_0193);
        }
        // Length-terminate so that concatenations differ.
        self.0 = (self.0 ^ 0xff).wrapping_mul(0x0100_0193);
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
}

/// Calls `f` with a fresh [`AdaptRam`] of the smallest [`FEATURE_BUCKETS`] capacity that holds
/// `dim` features (heap-allocated: the host's counterpart of the firmware's static); `None`
/// when `dim` exceeds every bucket.
#[cfg(feature = "alloc")]
pub fn with_capacity<R>(dim: usize, f: impl CapacityFn<R>) -> Option<R> {
    macro_rules! bucket {
        ($($f:literal),*) => {
            $(
                if dim <= $f {
                    let mut ram = alloc::boxed::Box::new(AdaptRam::<$f>::new());
                    return Some(f.call(&mut ram));
                }
            )*
        };
    }
    bucket!(16, 32, 64, 128, 256, 384, 512);
    None
}

/// A function generic over the feature capacity (for [`with_capacity`]).
#[cfg(feature = "alloc")]
pub trait CapacityFn<R> {
    /// Runs with `ram` of capacity `F`.
    fn call<const F: usize>(self, ram: &mut AdaptRam<F>) -> R;
}
