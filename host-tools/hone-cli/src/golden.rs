//! `hone golden MODEL --prompts FILE --out DIR`: golden vectors for the firmware.
//!
//! Runs every prompt through the host build of `hone` and writes `DIR/golden.bin`
//! (format: the `hone-golden` crate): the prompt, its token ids, the head's input features,
//! the log-probabilities (f32 bits) and the predicted label, with the model's CRC-32; with
//! `--adapt FILE`, an adaptation script (enrol, train, evaluate, persist, evaluate the reloaded
//! state) and its results. The firmware embeds it with the model (`HONE_FW_GOLDEN`, `HONE_FW_MODEL`), recomputes every
//! vector and compares bit for bit.

use std::{fs, path::PathBuf};

use anyhow::{anyhow, bail, ensure, Context, Result};
use hone_golden::generate::{adapt, classify, parse_adapt, parse_prompts, AdaptStep, ClassifyCase};
use hone_golden::Vector;

/// Arguments of `hone golden`.
#[derive(Debug, Clone, clap::Args)]
pub struct GoldenArgs {
    /// Model blob (`.hone`).
    pub model: PathBuf,
    /// Prompts: one per line; lines starting with `#` are comments, `<empty>` is the empty
    /// prompt.
    #[arg(long)]
    pub prompts: PathBuf,
    /// Output directory (created if missing); receives `golden.bin`.
    #[arg(long)]
    pub out: PathBuf,
    /// Adaptation script to append: `[enrol]` and `[eval]` sections of `label<TAB>prompt`
    /// lines (see `tests/data/golden-adapt.txt`). The device enrols, fine-tunes, evaluates,
    /// persists and reloads, and compares every step with the host's result.
    #[arg(long)]
    pub adapt: Option<PathBuf>,
    /// Training epochs of the adaptation script.
    #[arg(long, default_value_t = 30)]
    pub epochs: u16,
    /// Shuffle seed of the adaptation script.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u32,
}

/// Writes the golden file; returns its path.
pub fn run(args: &GoldenArgs) -> Result<PathBuf> {
    let blob = crate::blob::read(&args.model)?;
    let text =
        fs::read_to_string(&args.prompts).with_context(|| format!("{}", args.prompts.display()))?;
    let prompts = parse_prompts(&text);
    ensure!(
        !prompts.is_empty(),
        "{}: no prompts",
        args.prompts.display()
    );
    let cases = classify(&blob, &prompts).map_err(|e| crate::blob::model_error(&args.model, e))?;
    let steps = match &args.adapt {
        Some(path) => {
            let text = fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
            let (enrol, eval) =
                parse_adapt(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
            ensure!(!enrol.is_empty(), "{}: nothing to enrol", path.display());
            adapt(&blob, &enrol, args.epochs, args.seed, &eval)
                .map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => Vec::new(),
    };
    let vectors: Vec<_> = cases
        .iter()
        .map(ClassifyCase::vector)
        .chain(steps.iter().map(AdaptStep::vector))
        .collect();
    if let Some((prompt, what)) = vectors.iter().find_map(non_finite) {
        bail!(
            "{}: the model computes a non-finite {what} for {prompt:?}; refusing to write \
             golden vectors that hold NaN or infinity",
            args.model.display()
        );
    }
    let bytes = hone_golden::write(hone_golden::model_crc(&blob), &vectors)?;
    fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let path = args.out.join("golden.bin");
    fs::write(&path, &bytes).with_context(|| format!("{}", path.display()))?;
    outln!(
        "{}: {} vectors, {} bytes (model CRC-32 {:08x})",
        path.display(),
        vectors.len(),
        bytes.len(),
        hone_golden::model_crc(&blob)
    );
    outln!(
        "firmware: cd firmware && HONE_FW_MODEL={} HONE_FW_GOLDEN={} cargo run --release",
        args.model.display(),
        path.display()
    );
    Ok(path)
}

/// The prompt and the field of `v` that holds a NaN or an infinity, if any.
fn non_finite<'v>(v: &Vector<'v>) -> Option<(&'v str, &'static str)> {
    let bad = |bytes: &[u8]| {
        bytes
            .chunks_exact(4)
            .any(|b| !f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite())
    };
    match *v {
        Vector::Classify {
            prompt, features, ..
        } if bad(features) => Some((prompt, "feature")),
        Vector::Classify {
            prompt, log_probs, ..
        }
        | Vector::Evaluate {
            prompt, log_probs, ..
        } if bad(log_probs) => Some((prompt, "log-probability")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hone_golden::Golden;

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hone-golden-{name}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_the_host_outputs() {
        let dir = temp_dir("ok");
        let blob = hone_build::testutil::tiny_model().unwrap();
        let model = dir.join("m.hone");
        fs::write(&model, &blob).unwrap();
        let prompts = dir.join("p.txt");
        fs::write(
            &prompts,
            "# test\nturn the lights off\n<empty>\nplay music\n",
        )
        .unwrap();
        let adapt_file = dir.join("a.txt");
        fs::write(
            &adapt_file,
            "[enrol]\nweather\tweather today\nweather\twhat is the weather\n\
             weather\tweather please\nweather\tthe weather today\nweather\tweather\n\
             [eval]\nweather\tthe weather please\n",
        )
        .unwrap();
        let args = GoldenArgs {
            model,
            prompts,
            out: dir.join("out"),
            adapt: Some(adapt_file),
            epochs: 3,
            seed: 7,
        };
        let bytes = fs::read(run(&args).unwrap()).unwrap();
        let g = Golden::parse(&bytes).unwrap();
        assert_eq!(g.header.model_crc, hone_golden::model_crc(&blob));
        let expected = classify(&blob, &["turn the lights off", "", "play music"]).unwrap();
        let got: Vec<Vector<'_>> = g.vectors().collect::<Result<_, _>>().unwrap();
        let steps = adapt(
            &blob,
            &[
                ("weather", "weather today"),
                ("weather", "what is the weather"),
                ("weather", "weather please"),
                ("weather", "the weather today"),
                ("weather", "weather"),
            ],
            3,
            7,
            &[("weather", "the weather please")],
        )
        .unwrap();
        let want: Vec<Vector<'_>> = expected
            .iter()
            .map(ClassifyCase::vector)
            .chain(steps.iter().map(AdaptStep::vector))
            .collect();
        // ... evaluate, persist, evaluate again on the reloaded state.
        assert!(matches!(want[want.len() - 2], Vector::Persist));
        assert!(matches!(want.last(), Some(Vector::Evaluate { .. })));
        assert_eq!(got, want);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn non_finite_vectors_are_found() {
        let one = 1f32.to_le_bytes();
        let nan = f32::NAN.to_le_bytes();
        let inf = f32::NEG_INFINITY.to_le_bytes();
        let v = |features: &'static [u8], log_probs: &'static [u8]| Vector::Classify {
            prompt: "p",
            tokens: &[],
            features,
            log_probs,
            label: 0,
        };
        let ok = [one, one].concat().leak();
        let with_nan = [one, nan].concat().leak();
        let with_inf = [inf, one].concat().leak();
        assert_eq!(non_finite(&v(ok, ok)), None);
        assert_eq!(non_finite(&v(with_nan, ok)), Some(("p", "feature")));
        assert_eq!(non_finite(&v(ok, with_inf)), Some(("p", "log-probability")));
        let e = Vector::Evaluate {
            prompt: "q",
            truth: "t",
            before: 0,
            after: 0,
            log_probs: with_nan,
        };
        assert_eq!(non_finite(&e), Some(("q", "log-probability")));
    }

    #[test]
    fn refuses_a_bad_model_or_no_prompts() {
        let dir = temp_dir("bad");
        let model = dir.join("m.hone");
        fs::write(&model, b"not a model").unwrap();
        let prompts = dir.join("p.txt");
        fs::write(&prompts, "hello\n").unwrap();
        let mut args = GoldenArgs {
            model: model.clone(),
            prompts: prompts.clone(),
            out: dir.join("out"),
            adapt: None,
            epochs: 30,
            seed: 1,
        };
        assert!(run(&args).is_err());
        fs::write(&model, hone_build::testutil::tiny_model().unwrap()).unwrap();
        fs::write(&prompts, "# only a comment\n").unwrap();
        args.model = model;
        assert!(run(&args).unwrap_err().to_string().contains("no prompts"));
        fs::remove_dir_all(dir).unwrap();
    }
}
