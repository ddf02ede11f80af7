//! The operators, one module per op, and the registry that ties them to the wire format.
//!
//! Each module holds everything about its op: the wire parameters stored in a blob, the
//! load-time check that turns them into a checked view (every operand resolved, every length
//! and quantisation parameter proven), the evaluation of that view, the evaluation on plain
//! slices that benchmarks and tests call directly, and unit tests.
//!
//! Adding an op means one new file implementing the crate-internal `Operator` trait and one line in the registry
//! below (append only: a line's position is the op's tag on the wire), plus its float
//! counterpart in `hone-reference`.

pub mod bounds;
mod frame;

pub mod add;
pub mod attention;
pub mod depthwise_conv2d;
pub mod embedding;
pub mod fc_add_norm;
pub mod fully_connected;
pub mod head;
pub mod layer_norm;
pub mod lut;
pub mod pool;
pub mod softmax;

pub use add::{add, add_i8, Add, AddParams};
pub use attention::{attention, Attention};
pub use depthwise_conv2d::{depthwise_conv2d, DepthwiseConv2d, Geometry};
pub use embedding::{embedding, Embedding, Positions, RowRequant};
pub use fc_add_norm::{fc_add_norm, FcAddNorm, FcAddNormParams};
pub use frame::QParams;
pub use fully_connected::{fully_connected, Activation, FullyConnected};
pub use head::{argmax, dequantize, head_logits, l2_normalize, log_softmax, Head};
pub use layer_norm::{layer_norm, LayerNorm};
pub use lut::{lut, Lut};
pub use pool::{pool, Pool, PoolKind};
pub use softmax::{softmax, Softmax};

pub(crate) use frame::{ensure, Cx, Io, Tensor};

use crate::error::Invalid;
use serde::{Deserialize, Serialize};

/// Tensor operands of an op: `(inputs, output)`, as indices into the model's tensor table.
pub type Operands = ([Option<u16>; 3], Option<u16>);

/// What every operator module implements for its wire parameters.
pub(crate) trait Operator<'a> {
    /// The checked view: built once at load, evaluated on every inference.
    type Checked: Eval;
    /// The tensors the op reads and the one it writes.
    fn operands(&self) -> Operands;
    /// Checks the parameters against the model (operand shapes, lengths, quantisation) and
    /// resolves them into the checked view. Runs once, at load.
    fn check(&self, cx: &Cx<'_>) -> Result<Self::Checked, Invalid>;
}

/// Evaluation of a checked view.
pub(crate) trait Eval {
    /// Computes the op's output in `io`. Cannot fail: everything it relies on was checked.
    fn eval(&self, io: &mut Io<'_>);
    /// f32 words of working memory the op needs at sequence length `max_len`.
    fn work_words(&self, _max_len: usize) -> usize {
        0
    }
}

macro_rules! registry {
    ($($(#[$doc:meta])* $variant:ident($(#[$field:meta])* $wire:ty) => $checked:ty, since $version:literal;)*) => {
        /// One operation (wire view). Tensor operands are indices into the model's tensor
        /// table (`ModelDesc::tensors`).
        ///
        /// The variant order is the wire tag: variants are only ever appended.
        #[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[non_exhaustive]
        pub enum Op<'a> {
            $($(#[$doc])* $variant($(#[$field])* $wire),)*
        }

        /// An operation checked at load, in execution order. (Its variants name the checked
        /// types directly, not through `Operator::Checked`, so that `Step` stays covariant.)
        #[derive(Debug, Clone, Copy)]
        pub(crate) enum Step<'a> {
            $($variant($checked),)*
        }

        impl<'a> Op<'a> {
            /// The oldest format version that has this op.
            pub fn min_version(&self) -> u16 {
                match self {
                    $(Op::$variant(_) => $version,)*
                }
            }

            /// The op's name.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Op::$variant(_) => stringify!($variant),)*
                }
            }

            /// The op's tensor operands: `(inputs, output)`.
            pub fn operands(&self) -> Operands {
                match self {
                    $(Op::$variant(op) => op.operands(),)*
                }
            }

            pub(crate) fn check(&self, cx: &Cx<'_>) -> Result<Step<'a>, Invalid> {
                match self {
                    $(Op::$variant(op) => op.check(cx).map(Step::$variant),)*
                }
            }
        }

        impl Step<'_> {
            pub(crate) fn eval(&self, io: &mut Io<'_>) {
                match self {
                    $(Step::$variant(op) => op.eval(io),)*
                }
            }

            pub(crate) fn work_words(&self, max_len: usize) -> usize {
                match self {
                    $(Step::$variant(op) => op.work_words(max_len),)*
                }
            }
        }
    };
}

registry! {
    /// Token embedding lookup (+ optional positions): [`embedding()`].
    Embedding(#[serde(borrow)] Embedding<'a>) => embedding::Checked<'a>, since 1;
    /// Fully connected layer with TFLite requantisation: [`fully_connected()`].
    FullyConnected(#[serde(borrow)] FullyConnected<'a>) => fully_connected::Checked<'a>, since 1;
    /// TFLite int8 `ADD`: [`add()`].
    Add(Add) => add::Checked, since 1;
    /// Layer normalisation in f32: [`layer_norm()`].
    LayerNorm(#[serde(borrow)] LayerNorm<'a>) => layer_norm::Checked<'a>, since 1;
    /// Element-wise lookup table: [`lut()`].
    Lut(#[serde(borrow)] Lut<'a>) => lut::Checked<'a>, since 1;
    /// Multi-head self-attention: [`attention()`].
    Attention(Attention) => attention::Checked, since 1;
    /// Token rows reduced to one row: [`pool()`].
    Pool(Pool) => pool::Checked, since 1;
    /// The float classification head (always the last op): [`head`](mod@head).
    Head(#[serde(borrow)] Head<'a>) => head::Checked<'a>, since 1;
    /// Fully connected + residual add + LayerNorm, fused: [`fc_add_norm()`].
    FcAddNorm(#[serde(borrow)] FcAddNorm<'a>) => fc_add_norm::Checked<'a>, since 2;
    /// TFLite int8 `DEPTHWISE_CONV_2D` (per-channel): [`depthwise_conv2d()`].
    DepthwiseConv2d(#[serde(borrow)] DepthwiseConv2d<'a>) => depthwise_conv2d::Checked<'a>, since 3;
    /// TFLite int8 `SOFTMAX`: [`softmax()`].
    Softmax(Softmax) => softmax::Checked, since 3;
}

// A model keeps one `Step` per op for its whole life (`crate::Steps`): keep the largest
// checked view small on the 32-bit targets.
#[cfg(target_pointer_width = "32")]
const _: () = assert!(core::mem::size_of::<Step<'static>>() <= 80);
