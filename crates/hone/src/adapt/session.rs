//! The adaptation session: one model's enrolled head, example store and training workspace
//! at fixed capacities, and the steps a device takes on them (enrol, train, classify, predict,
//! forget, digest, clear). Golden adaptation vectors (`hone-golden`) script these steps on
//! host and device.
//!
//! Capacities: [`SESSION_NEW`] classes, [`SESSION_EXAMPLES`] examples and
//! [`SESSION_SLOTS`] optimiser slots are fixed; the feature capacity `F` is the caller's (a
//! device names its model's feature length, a host a [`super::FEATURE_BUCKETS`] entry).
//! Results do not depend on `F` beyond the model's `feature_dim()`.
//!
//! The large parts (example store, training workspace) are borrowed from an [`AdaptRam`],
//! so that firmware can keep them in a `static` instead of on the stack.

use super::capacity::{with_feature_capacity, CapacityFn};
use super::ram::ram_bytes;
use super::{AdaptError, Head, Store, TrainConfig, TrainReport, Trainer, Workspace};
use crate::{Model, Runner};

/// Classes a session can enrol.
pub const SESSION_NEW: usize = 16;
/// Examples a session's store holds (10 per new class).
pub const SESSION_EXAMPLES: usize = 160;
/// Optimiser slots of a session's workspace (Adam needs 2).
pub const SESSION_SLOTS: usize = 2;

/// Bytes of RAM a session's state takes (head rows, store, workspace) at feature capacity
/// `F` ([`ram_bytes`] at the session's capacities).
pub const fn session_ram_bytes<const F: usize>() -> usize {
    ram_bytes::<SESSION_NEW, F, SESSION_EXAMPLES, SESSION_SLOTS>()
}

/// RAM of a session ([`session_ram_bytes`]: [`SESSION_NEW`] classes × 10 examples) with
/// `slots` optimiser slots (0: SGD, 1: SGD with momentum, 2: Adam; more are capped at 2), at
/// the feature capacity `F` that [`with_feature_capacity`] picks for `dim` features. Returns
/// `(F, bytes)`, or `None` when `dim` exceeds every bucket.
pub fn ram_bytes_for_dim(dim: usize, slots: usize) -> Option<(usize, usize)> {
    struct Bytes(usize);
    impl CapacityFn<(usize, usize)> for Bytes {
        fn call<const F: usize>(self) -> (usize, usize) {
            let bytes = match self.0 {
                0 => ram_bytes::<SESSION_NEW, F, SESSION_EXAMPLES, 0>(),
                1 => ram_bytes::<SESSION_NEW, F, SESSION_EXAMPLES, 1>(),
                _ => session_ram_bytes::<F>(),
            };
            (F, bytes)
        }
    }
    with_feature_capacity(dim, Bytes(slots))
}

/// The borrowed parts of a [`Session`]: example store and training workspace. `const`
/// constructible, so firmware can place it in a `static` (zero-initialised `.bss`, never
/// copied through the stack).
pub struct AdaptRam<const F: usize> {
    /// Collected examples (frozen-encoder features, f16).
    pub store: Store<SESSION_EXAMPLES, F>,
    /// Training working memory.
    pub ws: Workspace<SESSION_NEW, F, SESSION_EXAMPLES, SESSION_SLOTS>,
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
    pub head: Head<'m, 'a, SESSION_NEW, F>,
    /// Collected examples (frozen-encoder features, f16).
    pub store: &'r mut Store<SESSION_EXAMPLES, F>,
    /// Training working memory.
    pub ws: &'r mut Workspace<SESSION_NEW, F, SESSION_EXAMPLES, SESSION_SLOTS>,
}

impl<'r, 'm, 'a, const F: usize> Session<'r, 'm, 'a, F> {
    /// A session with nothing enrolled, in `ram` (its store cleared). Fails when the model's
    /// features do not fit `F` or it has no usable head.
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
    /// Fails when the label cannot be enrolled or the prompt has no tokens besides the
    /// model's special ones ([`Store::collect`]); a label enrolled for a prompt that is then
    /// refused is forgotten again.
    pub fn enrol(
        &mut self,
        runner: &mut Runner<'_, '_, '_>,
        prompt: &str,
        label: &str,
    ) -> Result<usize, AdaptError> {
        let new = self.head.find(label).is_none();
        let class = self.head.class_id(label)?;
        match self.store.collect(runner, &self.head, prompt, class) {
            Ok(_) => Ok(class),
            Err(e) => {
                if new {
                    self.head.forget(class)?;
                }
                Err(e)
            }
        }
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

    /// The most likely class for `prompt` with the adapted head and its probability
    /// ([`Head::top`]: no buffer of log-probabilities needed).
    pub fn predict(&self, runner: &mut Runner<'_, '_, '_>, prompt: &str) -> (usize, f32) {
        self.head.top(runner.features(prompt))
    }

    /// Forgets the enrolled class `label` and its examples; classes enrolled after it move
    /// down one id. Returns how many examples were removed. Fails with
    /// [`AdaptError::UnknownLabel`] when `label` is not an enrolled class (pre-trained
    /// classes cannot be forgotten).
    pub fn forget(&mut self, label: &str) -> Result<usize, AdaptError> {
        let c = self
            .head
            .find(label)
            .filter(|&c| c >= self.head.old_classes())
            .ok_or(AdaptError::UnknownLabel)?;
        let c16 = u16::try_from(c).map_err(|_| AdaptError::UnknownLabel)?;
        self.head.forget(c)?;
        Ok(self.store.forget(c16))
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
