//! [`Store`]: the labelled prompts the device collected, as frozen features cached in f16.

use half::f16;
use heapless::Vec;

use super::{AdaptError, Head};
use crate::Runner;

/// One collected prompt: its class id and the frozen encoder's features, rounded to f16
/// (entries past the model's feature length are zero).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Example<const F: usize> {
    /// Class id (pre-trained or enrolled).
    pub label: u16,
    /// Cached features.
    pub feat: [f16; F],
}

/// Up to `N` examples with features up to `F` long, oldest first. When full, adding evicts
/// the oldest example of the largest class (counting the incoming one), so classes stay
/// balanced and a user's newest prompts are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Store<const N: usize, const F: usize> {
    items: Vec<Example<F>, N>,
}

impl<const N: usize, const F: usize> Default for Store<N, F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize, const F: usize> Store<N, F> {
    /// An empty store.
    pub const fn new() -> Self {
        Self { items: Vec::new() }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Capacity `N`.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The examples, oldest first.
    pub fn iter(&self) -> core::slice::Iter<'_, Example<F>> {
        self.items.iter()
    }

    /// Example `i`.
    pub fn get(&self, i: usize) -> Option<&Example<F>> {
        self.items.get(i)
    }

    /// Examples of class `label`.
    pub fn count(&self, label: u16) -> usize {
        self.items.iter().filter(|e| e.label == label).count()
    }

    /// Removes every example.
    pub fn clear(&mut self) {
        self.items.clear();
    }

    /// Removes the examples of class `label`; returns how many.
    pub fn remove_label(&mut self, label: u16) -> usize {
        let before = self.items.len();
        self.items.retain(|e| e.label != label);
        before - self.items.len()
    }

    /// Removes the examples of class `label` and moves the examples of later classes down one
    /// id, following [`Head::forget`] of that class; returns how many examples were removed.
    pub fn forget(&mut self, label: u16) -> usize {
        let removed = self.remove_label(label);
        for e in self.items.iter_mut().filter(|e| e.label > label) {
            e.label -= 1;
        }
        removed
    }

    /// Adds an example of class `label` with features `h` (`h.len() ≤ F`, finite). Returns
    /// the class of the example evicted to make room, if any.
    pub fn add(&mut self, label: u16, h: &[f32]) -> Result<Option<u16>, AdaptError> {
        if h.len() > F {
            return Err(AdaptError::BadFeatures);
        }
        let mut feat = [f16::ZERO; F];
        for (o, &x) in feat.iter_mut().zip(h) {
            *o = f16::from_f32(x);
        }
        // One check covers both: a NaN or infinite feature stays NaN or infinite in f16, and a
        // finite one too large for f16 becomes infinite.
        if feat.iter().any(|x| !x.is_finite()) {
            return Err(AdaptError::BadFeatures);
        }
        let mut evicted = None;
        if self.items.is_full() {
            let victim = self.largest_class(label);
            if let Some(i) = self.items.iter().position(|e| e.label == victim) {
                self.items.remove(i);
                evicted = Some(victim);
            }
        }
        self.items
            .push(Example { label, feat })
            .map_err(|_| AdaptError::NoCapacity)?;
        Ok(evicted)
    }

    /// The class with the most examples, counting one more for `incoming`; ties go to the
    /// class whose oldest example is oldest.
    fn largest_class(&self, incoming: u16) -> u16 {
        let mut best = (incoming, self.count(incoming) + 1);
        for e in self.items.iter() {
            let n = self.count(e.label) + usize::from(e.label == incoming);
            if n > best.1
                || (n == best.1 && e.label != best.0 && self.first(e.label) < self.first(best.0))
            {
                best = (e.label, n);
            }
        }
        best.0
    }

    fn first(&self, label: u16) -> usize {
        self.items
            .iter()
            .position(|e| e.label == label)
            .unwrap_or(usize::MAX)
    }

    /// Encodes `text` with the frozen encoder (once) and stores its features under class
    /// `label` of `head`. Fails for a class the head does not have and for a prompt that
    /// yields no tokens besides the model's special ones.
    pub fn collect<const NEW: usize>(
        &mut self,
        runner: &mut Runner<'_, '_, '_>,
        head: &Head<'_, '_, NEW, F>,
        text: &str,
        label: usize,
    ) -> Result<Option<u16>, AdaptError> {
        if label >= head.num_classes() {
            return Err(AdaptError::UnknownLabel);
        }
        let t = runner.model().desc().tokenizer;
        runner.tokenize(text);
        let content = runner
            .tokens()
            .iter()
            .filter(|&&id| Some(id) != t.cls && Some(id) != t.sep)
            .count();
        if content == 0 {
            return Err(AdaptError::EmptyPrompt);
        }
        let h = runner.features(text);
        self.add(label as u16, h)
    }

    /// Loads example `i`'s features into `out` as f32 (`min(F, out.len())` values).
    pub fn features_into(&self, i: usize, out: &mut [f32]) -> bool {
        match self.items.get(i) {
            Some(e) => {
                for (o, x) in out.iter_mut().zip(&e.feat) {
                    *o = x.to_f32();
                }
                true
            }
            None => false,
        }
    }

    /// Appends a complete example (used when loading a saved state).
    pub(crate) fn push(&mut self, e: Example<F>) -> Result<(), AdaptError> {
        self.items.push(e).map_err(|_| AdaptError::NoCapacity)
    }
}
