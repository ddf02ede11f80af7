//! `RESHAPE` → nothing: hone's tensor records are flat int8 runs, so a reshape that keeps the
//! element count and the quantisation leaves the arena unchanged. The output is folded into
//! the input (both TFLite tensors stand for one hone tensor).

use anyhow::{bail, Result};
use hone_tflite::{Graph, Operator};

use super::{activation_quant, unsupported, Lowering, Unsupported};

/// A checked `RESHAPE`: the tensor it renames.
pub(crate) struct Plan {
    input: usize,
    output: usize,
}

/// Checks that the reshape only renames: int8 in and out, the same elements and quantisation.
pub(crate) fn check(g: &Graph, o: &Operator) -> Result<Plan, Unsupported> {
    let (Some(input), [output]) = (o.input(0), &o.outputs[..]) else {
        return unsupported(o, "RESHAPE without one input and one output");
    };
    let act = |t: usize, role: &str| {
        activation_quant(g.tensor(t)).or_else(|e| unsupported(o, format!("{role}: {e}")))
    };
    let (qx, qy) = (act(input, "input")?, act(*output, "output")?);
    if qx != qy {
        return unsupported(o, format!("a requantising reshape ({qx:?} → {qy:?})"));
    }
    let (x, y) = (g.tensor(input), g.tensor(*output));
    if x.elements() != y.elements() {
        return unsupported(
            o,
            format!("shapes {:?} → {:?} of different sizes", x.shape, y.shape),
        );
    }
    Ok(Plan {
        input,
        output: *output,
    })
}

/// Emits nothing: the output becomes another name of the input's hone tensor.
pub(crate) fn emit(l: &mut Lowering<'_>, _o: &Operator, p: &Plan) -> Result<()> {
    let id = l.tensor(p.input)?;
    if l.ids.insert(p.output, id).is_some_and(|prev| prev != id) {
        bail!("the reshape's output is already a tensor of its own");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use hone_tflite::{BuiltinOp, DType, Graph, Operator, Options, Quant, Tensor};

    fn t(shape: &[usize], scale: f32, zp: i64) -> Tensor {
        Tensor {
            name: String::new(),
            shape: shape.to_vec(),
            dtype: DType::I8,
            quant: Some(Quant {
                scale: vec![scale],
                zero_point: vec![zp],
                axis: 0,
            }),
            data: None,
            is_variable: false,
        }
    }

    fn graph(out: Tensor) -> (Graph, Operator) {
        let o = Operator {
            index: 2,
            op: BuiltinOp::builtin(BuiltinOp::RESHAPE),
            version: 1,
            inputs: vec![Some(0)],
            outputs: vec![1],
            options: Options::Reshape { new_shape: None },
        };
        let g = Graph {
            description: String::new(),
            tensors: vec![t(&[1, 6], 0.5, 3), out],
            operators: vec![o.clone()],
            inputs: vec![0],
            outputs: vec![1],
            subgraphs: 1,
        };
        (g, o)
    }

    /// Only a renaming folds: same elements and quantisation.
    #[test]
    fn a_renaming_folds_and_a_requantising_reshape_is_named() {
        let (g, o) = graph(t(&[1, 2, 3], 0.5, 3));
        assert!(super::check(&g, &o).is_ok());
        let (g, o) = graph(t(&[1, 2, 3], 0.25, 3));
        let e = super::check(&g, &o).err().unwrap().to_string();
        assert!(
            e.starts_with("operator 2 (RESHAPE): a requantising reshape"),
            "{e}"
        );
        let (g, o) = graph(t(&[1, 7], 0.5, 3));
        let e = super::check(&g, &o).err().unwrap().to_string();
        assert!(e.ends_with("[1, 6] → [1, 7] of different sizes"), "{e}");
    }
}
