//! `Lut`: an element-wise lookup table (GELU, tanh, …): `out = table[x as u8]`.

use serde::{Deserialize, Serialize};

use super::{ensure, Cx, Eval, Io, Operands, Operator, Tensor};
use crate::error::Invalid;

/// Wire parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Lut<'a> {
    /// Input tensor.
    pub input: u16,
    /// Output tensor (same shape).
    pub out: u16,
    /// 256 output codes, indexed by the input byte (`x as u8`).
    pub table: &'a [u8],
}

/// Checked view: a full 256-entry table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Checked<'a> {
    input: Tensor,
    out: Tensor,
    table: &'a [u8; 256],
}

impl<'a> Operator<'a> for Lut<'a> {
    type Checked = Checked<'a>;

    fn operands(&self) -> Operands {
        ([Some(self.input), None, None], Some(self.out))
    }

    fn check(&self, cx: &Cx<'_>) -> Result<Checked<'a>, Invalid> {
        let (input, out) = (cx.tensor(self.input)?, cx.tensor(self.out)?);
        ensure(input.same_shape(&out), Invalid::Shape)?;
        let table = self.table.try_into().map_err(|_| Invalid::Length)?;
        Ok(Checked { input, out, table })
    }
}

impl Eval for Checked<'_> {
    fn eval(&self, io: &mut Io<'_>) {
        let f = io.frame(&self.out);
        let table: &[u8; 256] = self.table;
        for (o, &v) in f.out.iter_mut().zip(f.ins.get(&self.input)) {
            // A u8 index into a 256-entry array: in bounds by its type.
            #[allow(clippy::indexing_slicing)]
            let code = table[usize::from(v as u8)];
            *o = code as i8;
        }
    }
}

/// Element-wise table lookup on plain slices: `out[i] = table[x[i] as u8]` (0 past the end
/// of a short table).
pub fn lut(x: &[i8], table: &[u8], out: &mut [i8]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = table.get(usize::from(v as u8)).map_or(0, |&t| t as i8);
    }
}
