//! `Embedding`: token embedding lookup (+ optional learned positions) into a per-token tensor.
//!
//! Stage 1: row `q` of the table becomes `t = clamp(MBQM(q, row requant))` in the token scale
//! (or `t = q` without row requantisation). Stage 2: with positions, `out = ADD(t, pos[i])`;
//! without, `out = clamp(t + out.zero_point)` and the exporter guarantees
//! `out.scale == token_scale`.

use serde::{Deserialize, Serialize};

use super::add::{add_i8, AddParams};
use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::bytes::read_i32;
use crate::error::Invalid;
use crate::format::Multiplier;
use crate::quant::{multiply_by_quantized_multiplier as mbqm, row_multipliers_ok, saturate_i8};

/// Per-row requantisation of an embedding table: row `r` is mapped to the token scale by
/// `multipliers[r]` (i32 LE) and `shifts[r]` (i8).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RowRequant<'a> {
    /// `vocab` little-endian i32 Q31 multipliers.
    pub multipliers: &'a [u8],
    /// `vocab` i8 shifts.
    pub shifts: &'a [u8],
}

/// Learned position embeddings added to the token embeddings with TFLite `ADD` arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Positions<'a> {
    /// int8 `[max_len × d]`, zero point 0.
    pub table: &'a [u8],
    /// Scale of `table` (informational: `add` is what the runtime uses).
    pub scale: f32,
    /// `ADD(token row @ token_scale, position row @ scale) → out`.
    pub add: AddParams,
}

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Embedding<'a> {
    /// Output tensor.
    pub out: u16,
    /// int8 `[vocab × d]`, zero point 0.
    pub table: &'a [u8],
    /// Scale of the token stage (per-tensor, zero point 0).
    pub token_scale: f32,
    /// Optional per-row requantisation of `table` to `token_scale`.
    #[serde(borrow)]
    pub row_requant: Option<RowRequant<'a>>,
    /// Optional learned positions.
    #[serde(borrow)]
    pub positions: Option<Positions<'a>>,
}

/// Checked view: a `vocab × d` table, one valid multiplier per row, `max_len × d` positions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    out: Tensor,
    table: &'a [u8],
    row_requant: Option<RowRequant<'a>>,
    positions: Option<(&'a [u8], AddParams)>,
}

impl<'a> Operator<'a> for Embedding<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        ([None; 3], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        let out = cx.tensor(self.out)?;
        let (vocab, d) = (cx.vocab, out.cols());
        ensure(out.per_token, Invalid::Shape)?;
        ensure(self.table.len() == vocab * d, Invalid::Length)?;
        ensure(super::bounds::scale_ok(self.token_scale), Invalid::Quant)?;
        if let Some(r) = self.row_requant {
            let lengths = r.multipliers.len() == 4 * vocab && r.shifts.len() == vocab;
            ensure(lengths, Invalid::Length)?;
            ensure(
                row_multipliers_ok(r.multipliers, r.shifts, vocab),
                Invalid::Quant,
            )?;
        }
        if let Some(p) = self.positions {
            ensure(p.table.len() == cx.max_len * d, Invalid::Length)?;
            ensure(p.add.is_valid(), Invalid::Quant)?;
        }
        Ok(Checked {
            out,
            table: self.table,
            row_requant: self.row_requant,
            positions: self.positions.map(|p| (p.table, p.add)),
        })
    }
}

impl Eval for Checked<'_> {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let rr = self.row_requant.map(|r| (r.multipliers, r.shifts));
        let pos = self.positions.as_ref().map(|(t, p)| (*t, p));
        let (d, zp) = (self.out.cols(), self.out.q().zero_point);
        embedding(f.ids, self.table, rr, pos, d, zp, f.out);
    }
}

/// Embedding lookup for `ids` into `out` (`ids.len()` rows of `d`) on plain slices; an id
/// without a complete table row leaves its output row unwritten.
#[allow(clippy::too_many_arguments)]
pub fn embedding(
    ids: &[u16],
    table: &[u8],
    row_requant: Option<(&[u8], &[u8])>,
    positions: Option<(&[u8], &AddParams)>,
    d: usize,
    out_zp: i8,
    out: &mut [i8],
) {
    if d == 0 {
        return;
    }
    for (pos, (&id, row_out)) in ids.iter().zip(out.chunks_exact_mut(d)).enumerate() {
        let start = usize::from(id) * d;
        let Some(row) = table.get(start..start + d) else {
            continue;
        };
        let m = row_requant.map(|(mults, shifts)| Multiplier {
            multiplier: read_i32(mults, usize::from(id)),
            shift: shifts.get(usize::from(id)).map_or(0, |&s| s as i8),
        });
        let pos_row = positions.and_then(|(t, p)| Some((t.get(pos * d..pos * d + d)?, p)));
        for (c, (o, &q)) in row_out.iter_mut().zip(row).enumerate() {
            let q = q as i8;
            let t = match m {
                Some(m) => saturate_i8(mbqm(i32::from(q), m)),
                None => q,
            };
            *o = match pos_row {
                Some((prow, p)) => add_i8(t, 0, prow.get(c).map_or(0, |&v| v as i8), 0, p, out_zp),
                None => saturate_i8(i32::from(t) + i32::from(out_zp)),
            };
        }
    }
}
