//! `embedding` against f64.

use super::{assert_close, q_round};
use hone::ops::{self};
use hone_build::testutil::XorShift;
use hone_build::{add_params, i8_bytes, multiplier, quantize_rows};

#[test]
fn embedding_row_requant_and_positions_match_float() {
    let mut rng = XorShift(16);
    let (vocab, d, max_len) = (10, 6, 4);
    let table = rng.vec(vocab * d, 2.0);
    let (tq, row_scales) = quantize_rows(&table, d);
    let tok_scale = 2.0 / 127.0;
    let mut mults = Vec::new();
    let mut shifts = Vec::new();
    for &s in &row_scales {
        let m = multiplier(f64::from(s) / f64::from(tok_scale), "row").unwrap();
        mults.extend_from_slice(&m.multiplier.to_le_bytes());
        shifts.push(m.shift as u8);
    }
    let ids = [3u16, 0, 9, 3];
    let mut out = vec![0i8; ids.len() * d];
    ops::embedding(
        &ids,
        &i8_bytes(&tq),
        Some((&mults, &shifts)),
        None,
        d,
        0,
        &mut out,
    );
    let want: Vec<i32> = ids
        .iter()
        .flat_map(|&id| (0..d).map(move |c| (id as usize, c)))
        .map(|(id, c)| {
            q_round(
                f64::from(row_scales[id]) * f64::from(tq[id * d + c]),
                tok_scale,
                0,
            )
        })
        .collect();
    assert_close(&out, &want, "embedding rows");
    // With positions: ADD(token, position) into the output scale.
    let pos = rng.vec(max_len * d, 0.5);
    let (pq, _) = quantize_rows(&pos, max_len * d);
    let pos_scale = pos.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
    let (out_scale, out_zp) = (0.03f32, 2i8);
    let p = add_params(tok_scale, pos_scale, out_scale).unwrap();
    ops::embedding(
        &ids,
        &i8_bytes(&tq),
        Some((&mults, &shifts)),
        Some((&i8_bytes(&pq), &p)),
        d,
        out_zp,
        &mut out,
    );
    let want: Vec<i32> = (0..ids.len() * d)
        .map(|i| {
            let tok = f64::from(tok_scale) * f64::from(want[i]);
            q_round(
                tok + f64::from(pos_scale) * f64::from(pq[i]),
                out_scale,
                out_zp,
            )
        })
        .collect();
    assert_close(&out, &want, "embedding + positions");
}
