//! Host-side construction of `.hone` blobs (feature `alloc`): tensor declaration, the
//! liveness-based arena plan, serialisation, and the quantisation helpers an exporter needs.
//!
//! [`ModelBuilder::op`] encodes each op as it is given, so the caller's buffers only need to
//! live for that call: an exporter can quantise a layer, append it, and drop its buffers.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::format::{
    AddParams, InputKind, ModelDesc, Multiplier, Op, OpsDesc, StrTableDesc, TensorRec,
    TokenizerDesc, CRC32, FORMAT_VERSION, HEADER_LEN, MAGIC, MIN_FORMAT_VERSION,
};
use crate::quant::quantize_multiplier;

/// Why a builder could not produce a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// A multiplier or scale could not be represented.
    Quant(&'static str),
    /// The vocabulary or a string table is unusable (message says why).
    Table(String),
    /// The produced blob does not validate (a bug in the graph given to the builder).
    Invalid(crate::Error),
    /// Serialisation failed.
    Encode,
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Quant(what) => write!(f, "cannot quantise {what}"),
            BuildError::Table(m) => write!(f, "bad string table: {m}"),
            BuildError::Invalid(e) => write!(f, "built model does not validate: {e}"),
            BuildError::Encode => f.write_str("serialisation failed"),
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
            return Err(BuildError::Table(alloc::format!(
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
        self.operands.push(crate::validate::operands(&op));
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

    fn bytes_of(&self, t: &TensorRec) -> usize {
        let rows = if t.per_token {
            usize::from(self.max_len)
        } else {
            1
        };
        (rows * usize::from(t.cols)).div_ceil(4) * 4
    }

    /// Greedy liveness-based plan (largest tensor first, lowest free offset): tensors whose
    /// lifetimes `[written, last read]` intersect never share bytes. Returns the arena size.
    fn plan(&mut self) -> u32 {
        let n = self.tensors.len();
        let mut life = vec![(usize::MAX, 0usize); n];
        for (i, &(ins, out)) in self.operands.iter().enumerate() {
            if let Some(o) = out.and_then(|o| life.get_mut(usize::from(o))) {
                *o = (i, i);
            }
            for t in ins.into_iter().flatten() {
                if let Some(l) = life.get_mut(usize::from(t)) {
                    l.1 = l.1.max(i);
                }
            }
        }
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&t| core::cmp::Reverse(self.bytes_of(&self.tensors[t])));
        let mut placed: Vec<(usize, usize, usize)> = Vec::new(); // (tensor, start, end)
        let mut arena = 0;
        for t in order {
            let size = self.bytes_of(&self.tensors[t]);
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
            self.tensors[t].offset = at as u32;
            placed.push((t, at, at + size));
            arena = arena.max(at + size);
        }
        arena as u32
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
        let payload = postcard::to_allocvec(&desc).map_err(|_| BuildError::Encode)?;
        let blob = frame_version(&payload, self.version);
        crate::Model::from_bytes(&blob).map_err(BuildError::Invalid)?;
        Ok(blob)
    }
}

/// Wraps a payload in the header of the newest format version ([`FORMAT_VERSION`], which
/// reads every op).
pub fn frame(payload: &[u8]) -> Vec<u8> {
    frame_version(payload, FORMAT_VERSION)
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

/// Rounds half away from zero (core has no `f64::round`).
pub fn round_f64(x: f64) -> f64 {
    let t = x as i64 as f64;
    if x - t >= 0.5 {
        t + 1.0
    } else if t - x >= 0.5 {
        t - 1.0
    } else {
        t
    }
}

/// Asymmetric int8 quantisation of the range `[lo, hi]` (widened to include 0):
/// `(scale, zero_point)`.
pub fn asymmetric(lo: f32, hi: f32) -> (f32, i8) {
    let lo = lo.min(0.0);
    let hi = hi.max(0.0);
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = round_f64(-128.0 - f64::from(lo) / f64::from(scale)).clamp(-128.0, 127.0) as i8;
    (scale, zp)
}

/// Symmetric int8 quantisation of each `cols`-long row (per output channel): codes and
/// per-row scales (`max|w| / 127`, 1.0 for an all-zero row).
pub fn quantize_rows(w: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(w.len());
    let mut scales = Vec::with_capacity(w.len() / cols.max(1));
    for row in w.chunks(cols.max(1)) {
        let max = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let s = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(s);
        q.extend(
            row.iter()
                .map(|&v| round_f64(f64::from(v) / f64::from(s)).clamp(-127.0, 127.0) as i8),
        );
    }
    (q, scales)
}

/// `(bias, multipliers, shifts)` of a fully-connected op, as blob bytes.
pub type FcBytes = (Vec<u8>, Vec<u8>, Vec<u8>);

/// Everything a fully-connected op needs besides its weights: `(bias, multipliers, shifts)`
/// as blob bytes, with the input zero point folded into the bias.
pub fn fc_params(
    w_q: &[i8],
    w_scales: &[f32],
    bias: &[f32],
    s_in: f32,
    zp_in: i8,
    s_out: f32,
) -> Result<FcBytes, BuildError> {
    let rows = w_scales.len();
    let cols = w_q.len() / rows.max(1);
    let mut b = Vec::with_capacity(4 * rows);
    let mut m = Vec::with_capacity(4 * rows);
    let mut s = Vec::with_capacity(rows);
    for r in 0..rows {
        let acc_scale = f64::from(s_in) * f64::from(w_scales[r]);
        let bq = round_f64(f64::from(bias.get(r).copied().unwrap_or(0.0)) / acc_scale) as i64;
        let row_sum: i64 = w_q[r * cols..(r + 1) * cols]
            .iter()
            .map(|&v| i64::from(v))
            .sum();
        let folded =
            (bq - i64::from(zp_in) * row_sum).clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        b.extend_from_slice(&(folded as i32).to_le_bytes());
        let mult = quantize_multiplier(acc_scale / f64::from(s_out))
            .ok_or(BuildError::Quant("fully-connected output multiplier"))?;
        m.extend_from_slice(&mult.multiplier.to_le_bytes());
        s.push(mult.shift as u8);
    }
    Ok((b, m, s))
}

/// `(bias, scales)` of an [`Op::FcAddNorm`], as blob bytes: the accumulator scale of each
/// output channel (`s_in · w_scales[c]`, f32) and the bias in accumulator units with the input
/// zero point folded in (i32).
pub fn fc_add_norm_params(
    w_q: &[i8],
    w_scales: &[f32],
    bias: &[f32],
    s_in: f32,
    zp_in: i8,
) -> (Vec<u8>, Vec<u8>) {
    let rows = w_scales.len();
    let cols = w_q.len() / rows.max(1);
    let mut b = Vec::with_capacity(4 * rows);
    let mut scales = Vec::with_capacity(4 * rows);
    for (r, &ws) in w_scales.iter().enumerate() {
        let acc_scale = s_in * ws;
        scales.extend_from_slice(&acc_scale.to_le_bytes());
        let bq = round_f64(f64::from(bias.get(r).copied().unwrap_or(0.0)) / f64::from(acc_scale));
        let row_sum: i64 = w_q
            .get(r * cols..(r + 1) * cols)
            .unwrap_or(&[])
            .iter()
            .map(|&v| i64::from(v))
            .sum();
        let folded = (bq as i64 - i64::from(zp_in) * row_sum)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX));
        b.extend_from_slice(&(folded as i32).to_le_bytes());
    }
    (b, scales)
}

/// TFLite `ADD` parameters for inputs of scales `s_a`, `s_b` and output scale `s_out`.
pub fn add_params(s_a: f32, s_b: f32, s_out: f32) -> Result<AddParams, BuildError> {
    let left_shift = 20u8;
    let twice_max = 2.0 * f64::from(s_a.max(s_b));
    let q = |r: f64| quantize_multiplier(r).ok_or(BuildError::Quant("add multiplier"));
    let out = q(twice_max / (f64::from(1u32 << left_shift) * f64::from(s_out)))?;
    Ok(AddParams {
        left_shift,
        a: q(f64::from(s_a) / twice_max)?,
        b: q(f64::from(s_b) / twice_max)?,
        out,
    })
}

/// A 256-entry lookup table implementing `f` from input quantisation `(s_in, zp_in)` to
/// output quantisation `(s_out, zp_out)`, indexed by the input code as a byte.
pub fn lut_table(f: impl Fn(f64) -> f64, s_in: f32, zp_in: i8, s_out: f32, zp_out: i8) -> Vec<u8> {
    (0..256u16)
        .map(|b| {
            let q = b as u8 as i8;
            let x = f64::from(s_in) * (f64::from(q) - f64::from(zp_in));
            let y = round_f64(f(x) / f64::from(s_out)) + f64::from(zp_out);
            y.clamp(-128.0, 127.0) as i8 as u8
        })
        .collect()
}

/// A multiplier for `real`, or an error naming `what`.
pub fn multiplier(real: f64, what: &'static str) -> Result<Multiplier, BuildError> {
    quantize_multiplier(real).ok_or(BuildError::Quant(what))
}

/// Encodes f32 values as little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Reinterprets int8 codes as bytes.
pub fn i8_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|&x| x as u8).collect()
}
