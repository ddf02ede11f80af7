//! [`Model`]: a validated, zero-copy view of a `.hone` blob.

use crate::error::{Error, Invalid};
use crate::format::{
    InputKind, Kind, ModelDesc, StrTableDesc, TensorRec, CRC32, FORMAT_VERSION, HEADER_LEN,
    KIND_TAG_VERSION, MAGIC, MIN_FORMAT_VERSION, TENSOR_REC_LEN,
};
use crate::graph;
use crate::ops::Op;
use crate::ops::{head, Step};
use crate::tokenizer::{Tokenizer, TokenizerConfig, Vocab};

/// Longest sequence a model may declare.
pub const MAX_LEN: u16 = 512;
/// Operations a [`Steps`] table holds unless told otherwise (its `N` parameter).
pub const DEFAULT_OPS: usize = 32;

/// Caller-provided storage for a model's table of checked operations (one entry per op of
/// the blob, built once at load and run on every inference).
///
/// Like smoltcp's socket buffers it is the caller's to place: on the stack next to the model,
/// or in a `static` so the table is not part of the stack. `N` bounds the operations a model
/// may have ([`DEFAULT_OPS`] unless chosen): a blob with more is refused with
/// [`Error::OpCapacity`]. Firmware sizes it to the model it embeds ([`Model::op_count`]).
pub struct Steps<'a, const N: usize = DEFAULT_OPS> {
    pub(crate) table: heapless::Vec<Step<'a>, N>,
}

impl<const N: usize> Steps<'_, N> {
    /// An empty table for up to `N` operations.
    pub const fn new() -> Self {
        Self {
            table: heapless::Vec::new(),
        }
    }

    /// Operations the table holds at most.
    pub const fn capacity(&self) -> usize {
        N
    }
}

impl<const N: usize> Default for Steps<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A validated model borrowing its weights from the blob and its checked operations from a
/// caller's [`Steps`].
///
/// Built once by [`Model::load`]; every later access is in bounds by construction.
#[derive(Debug, Clone)]
pub struct Model<'a> {
    desc: ModelDesc<'a>,
    tokenizer: Tokenizer<'a>,
    pub(crate) classifier: Classifier<'a>,
    pub(crate) steps: &'a [Step<'a>],
    pub(crate) layout: Layout,
    version: u16,
}

/// Where each scratch region lives, in 32-bit words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// Token ids (u16), `max_len` of them.
    pub ids: (usize, usize),
    /// Activation arena (int8 tensors).
    pub arena: (usize, usize),
    /// f32 working memory of the ops that need it.
    pub work: (usize, usize),
    /// f32 feature vector (head input).
    pub features: (usize, usize),
    /// f32 logits, then log-probabilities.
    pub logits: (usize, usize),
    /// Total words.
    pub total: usize,
}

/// The model's pre-trained classifier: the float head borrowed from the blob and its class
/// names. On-device adaptation ([`crate::adapt::Head`]) extends it with enrolled classes.
#[derive(Debug, Clone, Copy)]
pub struct Classifier<'a> {
    pub(crate) head: head::Checked<'a>,
    labels: StrTable<'a>,
}

impl<'a> Classifier<'a> {
    /// Label names, in class order.
    pub fn labels(&self) -> StrTable<'a> {
        self.labels
    }

    /// Number of classes.
    pub fn num_classes(&self) -> usize {
        self.head.classes
    }

    /// Length of the feature vector the head consumes.
    pub fn feature_dim(&self) -> usize {
        self.head.features
    }

    /// Whether the features are L2-normalised before the head.
    pub fn normalizes_features(&self) -> bool {
        self.head.normalize
    }

    /// Weight `W[class][feature]` (0.0 out of range).
    pub fn weight(&self, class: usize, feature: usize) -> f32 {
        self.head.weight(class, feature)
    }

    /// Bias of `class` (0.0 out of range).
    pub fn bias(&self, class: usize) -> f32 {
        crate::bytes::read_f32(self.head.bias, class)
    }

    /// The weights (`classes × features` f32 LE) and biases (`classes` f32 LE) as stored.
    pub fn raw(&self) -> (&'a [u8], &'a [u8]) {
        (self.head.weights, self.head.bias)
    }
}

/// A table of UTF-8 strings stored in the blob (label names), checked at load.
#[derive(Debug, Clone, Copy)]
pub struct StrTable<'a> {
    offsets: &'a [u8],
    text: &'a [u8],
}

impl<'a> StrTable<'a> {
    /// Checks a table: `n + 1` ascending offsets from 0 to the text's end, each string UTF-8.
    fn new(d: StrTableDesc<'a>) -> Option<Self> {
        if !d.offsets.len().is_multiple_of(4) || d.offsets.len() < 4 {
            return None;
        }
        let t = Self {
            offsets: d.offsets,
            text: d.text,
        };
        if t.off(0) != Some(0) || t.off(t.len()) != Some(d.text.len()) {
            return None;
        }
        for i in 0..t.len() {
            core::str::from_utf8(t.bytes(i)?).ok()?;
        }
        Some(t)
    }

    fn off(&self, i: usize) -> Option<usize> {
        let b = self.offsets.get(i * 4..i * 4 + 4)?;
        Some(crate::bytes::read_u32(b, 0) as usize)
    }

    fn bytes(&self, i: usize) -> Option<&'a [u8]> {
        self.text.get(self.off(i)?..self.off(i + 1)?)
    }

    /// Number of strings.
    pub fn len(&self) -> usize {
        self.offsets.len() / 4 - 1
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th string (`None` past the end).
    pub fn get(&self, i: usize) -> Option<&'a str> {
        core::str::from_utf8(self.bytes(i)?).ok()
    }
}

pub(crate) const fn words(bytes: usize) -> usize {
    bytes.div_ceil(4)
}

pub(crate) fn invalid(reason: Invalid) -> Error {
    Error::Invalid {
        op: u16::MAX,
        reason,
    }
}

/// Checks a blob's header and checksum and reads the payload's [`Kind`] (always
/// [`Kind::Text`] before [`KIND_TAG_VERSION`]); returns the format version, the kind and the
/// payload after the tag.
pub(crate) fn unframe(blob: &[u8]) -> Result<(u16, Kind, &[u8]), Error> {
    let (version, payload) = unframe_raw(blob)?;
    if version < KIND_TAG_VERSION {
        return Ok((version, Kind::Text, payload));
    }
    let (kind, rest) = postcard::take_from_bytes::<Kind>(payload).map_err(|_| Error::Decode)?;
    Ok((version, kind, rest))
}

/// Checks a blob's header and checksum; returns its format version and payload.
fn unframe_raw(blob: &[u8]) -> Result<(u16, &[u8]), Error> {
    let header = blob.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    let field = |i: usize| crate::bytes::read_u32(header, i);
    if header.get(0..4) != Some(&MAGIC[..]) {
        return Err(Error::BadMagic);
    }
    let (version, header_len) = (field(1) as u16, (field(1) >> 16) as usize);
    if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion(version));
    }
    if header_len != HEADER_LEN {
        return Err(Error::Decode);
    }
    let payload = blob
        .get(HEADER_LEN..)
        .and_then(|p| p.get(..field(2) as usize))
        .ok_or(Error::Truncated)?;
    if CRC32.checksum(payload) != field(3) {
        return Err(Error::ChecksumMismatch);
    }
    Ok((version, payload))
}

impl<'a> Model<'a> {
    /// Parses and validates a blob, filling `steps` with its checked operations. Never panics;
    /// returns a typed error for any malformed input. The model borrows `blob` (zero-copy)
    /// and `steps`:
    ///
    /// ```ignore
    /// let mut steps = hone::Steps::<16>::new();
    /// let model = hone::Model::load(blob, &mut steps)?;
    /// ```
    pub fn load<'b: 'a, const N: usize>(
        blob: &'b [u8],
        steps: &'a mut Steps<'b, N>,
    ) -> Result<Self, Error> {
        let (version, kind, payload) = unframe(blob)?;
        if kind != Kind::Text {
            return Err(Error::WrongKind(kind));
        }
        let desc: ModelDesc<'b> = postcard::from_bytes(payload).map_err(|_| Error::Decode)?;
        Self::validate(desc, version, steps)
    }

    /// Validates an already decoded description as the newest format version
    /// ([`FORMAT_VERSION`]).
    pub fn from_desc<'b: 'a, const N: usize>(
        desc: ModelDesc<'b>,
        steps: &'a mut Steps<'b, N>,
    ) -> Result<Self, Error> {
        Self::validate(desc, FORMAT_VERSION, steps)
    }

    /// Validates `desc` as format `version`: an op newer than `version` is
    /// [`Invalid::OpVersion`].
    fn validate<'b: 'a, const N: usize>(
        desc: ModelDesc<'b>,
        version: u16,
        steps: &'a mut Steps<'b, N>,
    ) -> Result<Self, Error> {
        let InputKind::Text = desc.input;
        if desc.max_len == 0 || desc.max_len > MAX_LEN {
            return Err(invalid(Invalid::Limit));
        }
        let t = desc.tokenizer;
        let vocab = Vocab::new(t.vocab.offsets, t.vocab.text)?;
        let tokenizer = Tokenizer::new(
            vocab,
            TokenizerConfig {
                lowercase: t.lowercase,
                strip_accents: t.strip_accents,
                unk: t.unk,
                cls: t.cls,
                sep: t.sep,
                max_chars_per_word: t.max_chars_per_word,
            },
        )?;
        let labels = StrTable::new(desc.labels).ok_or(invalid(Invalid::Labels))?;
        steps.table.clear();
        let g = graph::Graph {
            arena_bytes: desc.arena_bytes,
            tensors: desc.tensors,
            ops: desc.ops,
            max_len: usize::from(desc.max_len),
            vocab: vocab.len(),
        };
        let rule = (graph::text_placement as graph::Placement, 2);
        graph::check(&g, version, (&[], &[]), rule, &mut steps.table)?;
        let steps: &'a Steps<'b, N> = steps;
        let steps = steps.table.as_slice();
        let Some(Step::Head(head)) = steps.last().copied() else {
            return Err(invalid(Invalid::Structure));
        };
        if labels.len() != head.classes {
            return Err(invalid(Invalid::Labels));
        }
        let layout = plan(&desc, steps, &head);
        Ok(Self {
            desc,
            tokenizer,
            classifier: Classifier { head, labels },
            steps,
            layout,
            version,
        })
    }

    /// Exact scratch size in 32-bit words that [`crate::Runner::new`] needs.
    pub fn scratch_words(&self) -> usize {
        self.layout.total
    }

    /// Exact scratch size in bytes (`4 · scratch_words()`).
    pub fn scratch_bytes(&self) -> usize {
        self.layout.total * 4
    }

    /// Classifies `text` in `scratch` (at least [`Self::scratch_words`] words): a shorthand
    /// for [`crate::Runner::new`] + [`crate::Runner::classify`].
    pub fn classify<'s>(
        &self,
        text: &str,
        scratch: &'s mut [u32],
    ) -> Result<crate::Prediction<'s>, Error>
    where
        'a: 's,
    {
        Ok(crate::Runner::new(self, scratch)?.into_prediction(text))
    }

    /// The model's name.
    pub fn name(&self) -> &'a str {
        self.desc.name
    }

    /// Maximum tokens per inference (longer prompts are truncated).
    pub fn max_len(&self) -> usize {
        usize::from(self.desc.max_len)
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer<'a> {
        &self.tokenizer
    }

    /// The pre-trained classifier (head and class names).
    pub fn classifier(&self) -> &Classifier<'a> {
        &self.classifier
    }

    /// Label names of the pre-trained head, in class order (checked once, at load).
    pub fn labels(&self) -> StrTable<'a> {
        self.classifier.labels
    }

    /// Number of classes of the pre-trained head.
    pub fn num_classes(&self) -> usize {
        self.classifier.num_classes()
    }

    /// Length of the feature vector the head consumes (the pooled, dequantised vector).
    pub fn feature_dim(&self) -> usize {
        self.classifier.feature_dim()
    }

    /// Whether the features are L2-normalised before the head.
    pub fn normalizes_features(&self) -> bool {
        self.classifier.normalizes_features()
    }

    /// Pre-trained head weight `W[class][feature]` (0.0 out of range).
    pub fn head_weight(&self, class: usize, feature: usize) -> f32 {
        self.classifier.weight(class, feature)
    }

    /// Pre-trained head bias of `class` (0.0 out of range).
    pub fn head_bias(&self, class: usize) -> f32 {
        self.classifier.bias(class)
    }

    /// Number of operations.
    pub fn op_count(&self) -> usize {
        self.steps.len()
    }

    /// The operations' wire parameters, in execution order (for tools that inspect a model;
    /// inference runs the checked steps).
    pub fn ops(&self) -> impl Iterator<Item = Op<'a>> + Clone {
        graph::decode(&self.desc)
    }

    /// Activation tensor record `id` (as validated at load).
    pub fn tensor(&self, id: u16) -> Option<TensorRec> {
        let i = usize::from(id) * TENSOR_REC_LEN;
        TensorRec::from_bytes(self.desc.tensors.get(i..)?)
    }

    /// Number of activation tensors.
    pub fn num_tensors(&self) -> usize {
        self.desc.tensors.len() / TENSOR_REC_LEN
    }

    /// Bytes of the activation arena.
    pub fn arena_bytes(&self) -> usize {
        self.desc.arena_bytes as usize
    }

    /// The blob's format version (1 to 3; see [`Op::min_version`]).
    pub fn format_version(&self) -> u16 {
        self.version
    }

    /// The wire description (for tools that inspect a model).
    pub fn desc(&self) -> &ModelDesc<'a> {
        &self.desc
    }
}

/// Lays out the scratch regions: token ids, arena, the largest working memory of any op,
/// features, logits.
fn plan(desc: &ModelDesc<'_>, steps: &[Step<'_>], head: &head::Checked<'_>) -> Layout {
    let max_len = usize::from(desc.max_len);
    let work_words = steps
        .iter()
        .map(|s| s.work_words(max_len))
        .max()
        .unwrap_or(0);
    let mut at = 0;
    let mut region = |n: usize| {
        let r = (at, at + n);
        at += n;
        r
    };
    let ids = region(words(max_len * 2));
    let arena = region(words(desc.arena_bytes as usize));
    let work = region(work_words);
    let features = region(head.features);
    let logits = region(head.classes);
    Layout {
        ids,
        arena,
        work,
        features,
        logits,
        total: at,
    }
}
