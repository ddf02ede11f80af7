//! TFLite import, bit-exact with TFLite Micro: `hone import` of the shared models
//! (`../shared/data/tflite/`, read in place), `hone run` over seeded random and edge-case
//! inputs, and the same inputs through TFLM's reference kernels
//! (`host-tools/hone-cli/scripts/tflm-reference.py`): every output byte equal.
//!
//! Without PyPI (the script cannot install `tflite-micro`) the comparison is skipped with a
//! message, or fails when `HONE_REQUIRE_TFLM=1` (as in `tests/run-all.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

use hone_build::HostSteps;
use hone_tests::fixtures::{hone, hone_ok, scratch_dir};
use npyz::WriterBuilder;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `../shared/data/tflite/NAME` beside the repository (or in `$HONE_TFLITE_DIR`).
fn model(name: &str) -> PathBuf {
    let dir = std::env::var_os("HONE_TFLITE_DIR")
        .map_or_else(|| repo().join("../shared/data/tflite"), PathBuf::from);
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is missing (the shared models are required)",
        p.display()
    );
    p
}

fn write_npy(path: &Path, shape: &[u64], data: &[i8]) {
    let f = std::fs::File::create(path).unwrap();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(std::io::BufWriter::new(f))
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<i8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<i8>().unwrap())
}

/// Runs the TFLM reference on `input`, writing `out/output_K.npy`; `false` when TFLM cannot
/// be installed and `HONE_REQUIRE_TFLM` is not set.
fn tflm(model: &Path, input: &Path, out: &Path) -> bool {
    let script = repo().join("host-tools/hone-cli/scripts/tflm-reference.py");
    let r = Command::new("python3")
        .arg(&script)
        .arg(model)
        .arg("--input")
        .arg(input)
        .arg("--out")
        .arg(out)
        .output();
    let required = std::env::var("HONE_REQUIRE_TFLM").is_ok_and(|v| v == "1");
    let unavailable = |why: String| {
        assert!(
            !required,
            "TFLite Micro is required (HONE_REQUIRE_TFLM=1): {why}"
        );
        eprintln!("SKIPPED: TFLite Micro reference unavailable: {why}");
        false
    };
    match r {
        Err(e) => unavailable(format!("python3: {e}")),
        Ok(o) if o.status.code() == Some(3) => {
            unavailable(String::from_utf8_lossy(&o.stderr).into_owned())
        }
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(o.status.success(), "tflm-reference.py failed: {stderr}");
            true
        }
    }
}

/// Seeded xorshift bytes.
fn random_i8(n: usize, mut seed: u32) -> Vec<i8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            (seed >> 24) as u8 as i8
        })
        .collect()
}

/// Imports the shared model `name` into `dir`: the `.tflite` path, the blob's path and bytes.
fn import(dir: &Path, name: &str) -> (PathBuf, PathBuf, Vec<u8>) {
    let tflite = model(name);
    let blob = dir.join(name.replace(".tflite", ".hone"));
    hone_ok(&[
        "import",
        tflite.to_str().unwrap(),
        "-o",
        blob.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&blob).unwrap();
    (tflite, blob, bytes)
}

/// One sample of `per` values each: all −128, all 127, all the zero point.
fn edge_cases(per: usize, zp: i8) -> Vec<i8> {
    [-128i8, 127, zp]
        .iter()
        .flat_map(|&v| vec![v; per])
        .collect()
}

/// Writes the batch `x` of `shape` to `dir/x.npy`, runs `hone run` on it into `dir/hone`:
/// the input's path and output 0's shape and values.
fn hone_run(dir: &Path, blob: &Path, x: &[i8], shape: [u64; 2]) -> (PathBuf, Vec<u64>, Vec<i8>) {
    let (xs, ours) = (dir.join("x.npy"), dir.join("hone"));
    write_npy(&xs, &shape, x);
    hone_ok(&[
        "run",
        blob.to_str().unwrap(),
        "--input",
        xs.to_str().unwrap(),
        "--out",
        ours.to_str().unwrap(),
    ]);
    let (out_shape, y) = read_npy(&ours.join("output_0.npy"));
    (xs, out_shape, y)
}

#[test]
fn hello_world_is_bit_exact_with_tflite_micro() {
    let dir = scratch_dir("tflm-hello");
    let (tflite, blob, bytes) = import(&dir, "tflm_hello_world_int8.tflite");
    let mut steps = HostSteps::new();
    let m = hone::TensorModel::load(&bytes, &mut steps).unwrap();
    let input = m.input(0).unwrap();
    assert_eq!(input.shape(), &[1, 1]);
    assert_eq!(m.output(0).unwrap().shape(), &[1, 1]);
    assert_eq!(m.op_count(), 3);
    let per = input.elements().unwrap();
    let zp = m.tensor(input.tensor).unwrap().zero_point;

    // Edge cases (all −128, all 127, the zero point), every int8 value, then seeded random.
    let mut x = edge_cases(per, zp);
    x.extend((-128..=127).flat_map(|v| vec![v as i8; per]));
    x.extend(random_i8(1000 * per, 0x7f1c_0001));
    let batch = (x.len() / per) as u64;
    let (xs, shape, y) = hone_run(&dir, &blob, &x, [batch, per as u64]);
    let theirs = dir.join("tflm");
    assert_eq!(shape, [batch, 1]);
    // The model approximates sin on [0, 2π]: outputs span most of the int8 range.
    let (lo, hi) = (y.iter().min().unwrap(), y.iter().max().unwrap());
    assert!(i16::from(*hi) - i16::from(*lo) > 100, "outputs {lo}..{hi}");

    if !tflm(&tflite, &xs, &theirs) {
        return;
    }
    let (tshape, t) = read_npy(&theirs.join("output_0.npy"));
    assert_eq!(tshape, shape);
    let diff: Vec<_> = (0..y.len()).filter(|&i| y[i] != t[i]).collect();
    assert!(
        diff.is_empty(),
        "{} of {} outputs differ from TFLM, first at sample {}: input {}, hone {}, TFLM {}",
        diff.len(),
        y.len(),
        diff[0],
        x[diff[0]],
        y[diff[0]],
        t[diff[0]]
    );
}

#[test]
fn micro_speech_is_bit_exact_with_tflite_micro() {
    let dir = scratch_dir("tflm-micro-speech");
    let (tflite, blob, bytes) = import(&dir, "tflm_micro_speech_quantized.tflite");
    let mut steps = HostSteps::new();
    let m = hone::TensorModel::load(&bytes, &mut steps).unwrap();
    let input = m.input(0).unwrap();
    assert_eq!(input.shape(), &[1, 1960]);
    assert_eq!(m.output(0).unwrap().shape(), &[1, 4]);
    // RESHAPE is folded: DEPTHWISE_CONV_2D, FULLY_CONNECTED, SOFTMAX.
    let names: Vec<&str> = m.ops().map(|op| op.name()).collect();
    assert_eq!(names, ["DepthwiseConv2d", "FullyConnected", "Softmax"]);
    assert_eq!(m.format_version(), 3);
    let per = input.elements().unwrap();
    let zp = m.tensor(input.tensor).unwrap().zero_point;

    // Edge cases (all −128, all 127, the zero point), then 300 seeded random samples.
    let mut x = edge_cases(per, zp);
    const RANDOM: usize = 300;
    x.extend(random_i8(RANDOM * per, 0x5eec_0001));
    let batch = (x.len() / per) as u64;
    assert_eq!(batch as usize, 3 + RANDOM);
    let (xs, shape, y) = hone_run(&dir, &blob, &x, [batch, per as u64]);
    let theirs = dir.join("tflm");
    assert_eq!(shape, [batch, 4]);
    // Softmax outputs in steps of 1/256 from −128: every row sums to about 1.
    for row in y.chunks(4) {
        let sum: i32 = row.iter().map(|&v| i32::from(v) + 128).sum();
        assert!((250..=260).contains(&sum), "row {row:?} sums to {sum}/256");
    }

    if !tflm(&tflite, &xs, &theirs) {
        return;
    }
    let (tshape, t) = read_npy(&theirs.join("output_0.npy"));
    assert_eq!(tshape, shape);
    let diff: Vec<_> = (0..y.len()).filter(|&i| y[i] != t[i]).collect();
    eprintln!(
        "micro_speech: {} samples ({} random), {} of {} output bytes differ from TFLM",
        batch,
        RANDOM,
        diff.len(),
        y.len()
    );
    assert!(
        diff.is_empty(),
        "{} of {} output bytes differ from TFLM, first at byte {} (sample {}): hone {}, TFLM {}",
        diff.len(),
        y.len(),
        diff[0],
        diff[0] / 4,
        y[diff[0]],
        t[diff[0]]
    );
}

#[test]
fn models_with_operators_hone_lacks_are_refused_naming_the_operator() {
    let dir = scratch_dir("tflm-refuse");
    for (name, first) in [
        ("tiny_kws_ref_model.tflite", "operator 0 (CONV_2D)"),
        (
            "tiny_ic_pretrainedResnet_quant.tflite",
            "operator 0 (CONV_2D)",
        ),
        ("arduino_magic_wand.tflite", "operator 0 (CONV_2D)"),
    ] {
        let out = dir.join("m.hone");
        let r = hone(&[
            "import",
            model(name).to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("{first}: operator not supported yet")),
            "{name}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "one error line: {stderr}");
        assert!(!out.exists(), "{name}: nothing written");
    }
}

#[test]
fn report_lists_every_operator_with_its_status() {
    let cases = [
        (
            "tflm_hello_world_int8.tflite",
            "3 of 3 operators supported: imports",
        ),
        (
            "tflm_micro_speech_quantized.tflite",
            "4 of 4 operators supported: imports",
        ),
        ("tiny_kws_ref_model.tflite", "7 of 13 operators supported"),
        (
            "tiny_ic_pretrainedResnet_quant.tflite",
            "3 of 16 operators supported",
        ),
        ("arduino_magic_wand.tflite", "2 of 6 operators supported"),
    ];
    for (name, summary) in cases {
        let r = hone_ok(&["import", model(name).to_str().unwrap(), "--report"]);
        assert!(r.contains(summary), "{name}: {r}");
        assert!(r.contains("inputs:  int8 [1, "), "{name}: {r}");
        let fc_supported = r.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() == 3 && words[1] == "FULLY_CONNECTED" && words[2] == "supported"
        });
        assert!(fc_supported, "{name}: {r}");
        let ops = r
            .lines()
            .filter(|l| l.starts_with(' ') && l.trim_start().starts_with(char::is_numeric));
        let total: usize = summary.split(' ').nth(2).unwrap().parse().unwrap();
        assert_eq!(ops.count(), total, "{name}: {r}");
    }
}

#[test]
fn malformed_tflite_is_one_clear_error() {
    let dir = scratch_dir("tflm-bad");
    let good = std::fs::read(model("tflm_hello_world_int8.tflite")).unwrap();
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "malformed TFLite flatbuffer",
        ),
        (
            "magic",
            [&good[..4], b"NOPE", &good[8..]].concat(),
            "file identifier is not TFL3",
        ),
        ("tiny", good[..6].to_vec(), "too short"),
    ];
    for (what, bytes, expect) in cases {
        let p = dir.join(format!("{what}.tflite"));
        std::fs::write(&p, bytes).unwrap();
        let r = hone(&[
            "import",
            p.to_str().unwrap(),
            "-o",
            dir.join("o.hone").to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(1), "{what}: {stderr}");
        assert!(stderr.contains(expect), "{what}: {stderr}");
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}
