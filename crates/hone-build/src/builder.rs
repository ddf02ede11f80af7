//! Construction of `.hone` blobs: tensor declaration, the liveness-based arena plan,
//! serialisation and framing.
//!
//! [`ModelBuilder::op`] encodes each op as it is given, so the caller's buffers only need to
//! live for that call: an exporter can quantise a layer, append it, and drop its buffers.

use hone::format::{
    InputKind, Kind, ModelDesc, OpsDesc, StrTableDesc, TensorRec, TokenizerDesc, CRC32,
    FORMAT_VERSION, HEADER_LEN, KIND_TAG_VERSION, MAGIC, MIN_FORMAT_VERSION,
};
use hone::ops::Op;

/// Why a builder could not produce a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A multiplier or scale could not be represented.
    Quant(&'static str),
    /// The vocabulary or a string table is unusable (message says why).
    Table(String),
    /// The produced blob does not validate (a bug in the graph given to the builder).
    Invalid(hone::Error),
    /// Serialisation failed.
    Encode,
    /// The model exceeds a limit of the format (message says which).
    Limit(String),
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Quant(what) => write!(f, "cannot quantise {what}"),
            BuildError::Table(m) => write!(f, "bad string table: {m}"),
            BuildError::Invalid(e) => write!(f, "built model does not validate: {e}"),
            BuildError::Encode => f.write_str("serialisation failed"),
            BuildError::Limit(what) => write!(f, "the format does not hold {what}"),
        }
    }
}

impl core::error::Error for BuildError {}

/// Tokenizer settings for [`ModelBuilder`]; the vocabulary is given in id order.
#[derive(Debug, Clone)]
pub struct TokenizerSpec {
    /// Tokens; they must already be sorted strictly ascending by bytes (use
    /// [`sort_vocab`] to renumber a checkpoint's vocabulary).
    pub vocab: Vec<String>,
    /// Lower-case input.
    pub lowercase: bool,
    /// Strip accents.
    pub strip_accents: bool,
    /// `[UNK]` id.
    pub unk: u16,
    /// `[CLS]` id, prepended when set.
    pub cls: Option<u16>,
    /// `[SEP]` id, appended when set.
    pub sep: Option<u16>,
    /// Words longer than this become `[UNK]`.
    pub max_chars_per_word: u16,
}

/// Sorts a vocabulary by bytes. Returns the sorted tokens and `perm` with
/// `perm[new_id] = old_id` (use it to reorder embedding rows). Fails on duplicates.
pub fn sort_vocab(vocab: &[String]) -> Result<(Vec<String>, Vec<usize>), BuildError> {
    let mut perm: Vec<usize> = (0..vocab.len()).collect();
    perm.sort_by(|&a, &b| vocab[a].as_bytes().cmp(vocab[b].as_bytes()));
    for w in perm.windows(2) {
        if vocab[w[0]] == vocab[w[1]] {
            return Err(BuildError::Table(format!(
                "duplicate token {:?}",
                vocab[w[0]]
            )));
        }
    }
    Ok((perm.iter().map(|&i| vocab[i].clone()).collect(), perm))
}

/// Encodes strings as a string table: `(offsets, text)`.
pub fn str_table<S: AsRef<str>>(items: &[S]) -> (Vec<u8>, Vec<u8>) {
    let mut offsets = Vec::with_capacity(4 * (items.len() + 1));
    let mut text = Vec::new();
    offsets.extend_from_slice(&0u32.to_le_bytes());
    for s in items {
        text.extend_from_slice(s.as_ref().as_bytes());
        offsets.extend_from_slice(&(text.len() as u32).to_le_bytes());
    }
    (offsets, text)
}

/// Collects tensors and ops, plans the arena and writes a blob.
///
/// The blob's format version is the newest [`Op::min_version`] of its ops: a model that uses
/// only version-1 ops is written as version 1, byte for byte as before version 2 existed.
#[derive(Debug)]
pub struct ModelBuilder {
    name: String,
    max_len: u16,
    labels: Vec<String>,
    tokenizer: TokenizerSpec,
    tensors: Vec<TensorRec>,
    /// The ops, postcard-encoded back to back.
    ops: Vec<u8>,
    /// Per op: `(inputs, output)` tensor ids, for the arena plan.
    operands: Vec<([Option<u16>; 3], Option<u16>)>,
    version: u16,
    encode_failed: bool,
}

impl ModelBuilder {
    /// Starts a model.
    pub fn new(name: &str, max_len: u16, labels: Vec<String>, tokenizer: TokenizerSpec) -> Self {
        Self {
            name: name.into(),
            max_len,
            labels,
            tokenizer,
            tensors: Vec::new(),
            ops: Vec::new(),
            operands: Vec::new(),
            version: MIN_FORMAT_VERSION,
            encode_failed: false,
        }
    }

    /// Declares an activation tensor; its arena offset is planned by [`Self::build`].
    pub fn tensor(&mut self, per_token: bool, cols: u16, scale: f32, zero_point: i8) -> u16 {
        self.tensors.push(TensorRec {
            offset: 0,
            cols,
            per_token,
            zero_point,
            scale,
        });
        (self.tensors.len() - 1) as u16
    }

    /// The tensor declared as `id`.
    pub fn tensor_rec(&self, id: u16) -> Option<TensorRec> {
        self.tensors.get(usize::from(id)).copied()
    }

    /// Appends an operation. It is encoded now: the data it borrows may be dropped after this
    /// call.
    pub fn op(&mut self, op: Op<'_>) -> &mut Self {
        self.operands.push(op.operands());
        self.version = self.version.max(op.min_version());
        match postcard::to_extend(&op, core::mem::take(&mut self.ops)) {
            Ok(v) => self.ops = v,
            Err(_) => self.encode_failed = true,
        }
        self
    }

    /// The format version the blob will have (the newest [`Op::min_version`] so far).
    pub fn version(&self) -> u16 {
        self.version
    }

    /// Plans the arena ([`plan_arena`]); returns its size.
    fn plan(&mut self) -> u32 {
        let lives = lifetimes(self.tensors.len(), &self.operands, &[], &[]);
        plan_arena(&mut self.tensors, &lives, usize::from(self.max_len))
    }

    /// Plans the arena, serialises and checksums the blob, and validates it by loading it.
    pub fn build(mut self) -> Result<Vec<u8>, BuildError> {
        let arena_bytes = self.plan();
        let tensors: Vec<u8> = self.tensors.iter().flat_map(|t| t.to_bytes()).collect();
        if self.encode_failed {
            return Err(BuildError::Encode);
        }
        let count = u16::try_from(self.operands.len()).map_err(|_| BuildError::Encode)?;
        let (label_off, label_text) = str_table(&self.labels);
        let (vocab_off, vocab_text) = str_table(&self.tokenizer.vocab);
        let t = &self.tokenizer;
        let desc = ModelDesc {
            name: &self.name,
            input: InputKind::Text,
            max_len: self.max_len,
            labels: StrTableDesc {
                offsets: &label_off,
                text: &label_text,
            },
            tokenizer: TokenizerDesc {
                vocab: StrTableDesc {
                    offsets: &vocab_off,
                    text: &vocab_text,
                },
                lowercase: t.lowercase,
                strip_accents: t.strip_accents,
                unk: t.unk,
                cls: t.cls,
                sep: t.sep,
                max_chars_per_word: t.max_chars_per_word,
            },
            arena_bytes,
            tensors: &tensors,
            ops: OpsDesc {
                count,
                bytes: &self.ops,
            },
        };
        let mut payload = Vec::new();
        if self.version >= KIND_TAG_VERSION {
            payload = postcard::to_extend(&Kind::Text, payload).map_err(|_| BuildError::Encode)?;
        }
        let payload = postcard::to_extend(&desc, payload).map_err(|_| BuildError::Encode)?;
        let blob = frame_version(&payload, self.version);
        hone::Model::load(&blob, &mut crate::HostSteps::new()).map_err(BuildError::Invalid)?;
        Ok(blob)
    }
}

/// Wraps a text model's payload (a bare `ModelDesc`) in the header of the newest format
/// version ([`FORMAT_VERSION`], which reads every op), after the [`Kind::Text`] tag that
/// version requires.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut tagged = postcard::to_allocvec(&Kind::Text).unwrap_or_default();
    tagged.extend_from_slice(payload);
    frame_version(&tagged, FORMAT_VERSION)
}

/// Per tensor, the ops that write and last read it: `(written, last read)`, `written = 0`
/// for a model input (before the first op, which is also op 0's time: an op's output never
/// shares bytes with its inputs) and `last read = ops` for a model output (live to the end).
/// A tensor nobody writes has `(usize::MAX, 0)`.
pub(crate) fn lifetimes(
    n: usize,
    operands: &[([Option<u16>; 3], Option<u16>)],
    inputs: &[u16],
    outputs: &[u16],
) -> Vec<(usize, usize)> {
    let mut life = vec![(usize::MAX, 0usize); n];
    for &t in inputs {
        if let Some(l) = life.get_mut(usize::from(t)) {
            *l = (0, 0);
        }
    }
    for (i, &(ins, out)) in operands.iter().enumerate() {
        if let Some(o) = out.and_then(|o| life.get_mut(usize::from(o))) {
            *o = (i, i);
        }
        for t in ins.into_iter().flatten() {
            if let Some(l) = life.get_mut(usize::from(t)) {
                l.1 = l.1.max(i);
            }
        }
    }
    for &t in outputs {
        if let Some(l) = life.get_mut(usize::from(t)) {
            l.1 = operands.len();
        }
    }
    life
}

/// Greedy liveness-based arena plan (largest tensor first, lowest free offset): tensors whose
/// lifetimes `[written, last read]` intersect never share bytes. Sets every tensor's offset
/// (a multiple of 4) and returns the arena size; a per-token tensor has `max_len` rows.
pub(crate) fn plan_arena(
    tensors: &mut [TensorRec],
    life: &[(usize, usize)],
    max_len: usize,
) -> u32 {
    let bytes_of = |t: &TensorRec| {
        let rows = if t.per_token { max_len } else { 1 };
        (rows * usize::from(t.cols)).div_ceil(4) * 4
    };
    let n = tensors.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&t| core::cmp::Reverse(bytes_of(&tensors[t])));
    let mut placed: Vec<(usize, usize, usize)> = Vec::new(); // (tensor, start, end)
    let mut arena = 0;
    for t in order {
        let size = bytes_of(&tensors[t]);
        let (w, r) = life[t];
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&(u, _, _)| {
                let (wu, ru) = life[u];
                w <= ru && wu <= r.max(w)
            })
            .map(|&(_, s, e)| (s, e))
            .collect();
        busy.sort_unstable();
        let mut at = 0;
        for (s, e) in busy {
            if at + size <= s {
                break;
            }
            at = at.max(e);
        }
        tensors[t].offset = at as u32;
        placed.push((t, at, at + size));
        arena = arena.max(at + size);
    }
    arena as u32
}

/// Wraps a payload in a header (magic, `version`, lengths, CRC-32).
pub fn frame_version(payload: &[u8], version: u16) -> Vec<u8> {
    let mut blob = Vec::with_capacity(HEADER_LEN + payload.len());
    blob.extend_from_slice(&MAGIC);
    blob.extend_from_slice(&version.to_le_bytes());
    blob.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    blob.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    blob.extend_from_slice(&CRC32.checksum(payload).to_le_bytes());
    blob.extend_from_slice(payload);
    blob
}
