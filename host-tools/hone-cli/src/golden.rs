//! `hone golden MODEL --prompts FILE --out DIR`: golden vectors for the firmware.
//!
//! Runs every prompt through the host build of `hone` and writes `DIR/golden.bin`
//! (format: the `hone-golden` crate): the prompt, its token ids, the head's input features,
//! the log-probabilities (f32 bits) and the predicted label, with the model's CRC-32. The
//! firmware embeds it with the model (`HONE_FW_GOLDEN`, `HONE_FW_MODEL`), recomputes every
//! vector and compares bit for bit.

use std::{fs, path::PathBuf};

use anyhow::{anyhow, ensure, Context, Result};
use hone_golden::generate::{classify, parse_prompts, ClassifyCase};

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
}

/// Writes the golden file; returns its path.
pub fn run(args: &GoldenArgs) -> Result<PathBuf> {
    let blob = fs::read(&args.model).with_context(|| format!("{}", args.model.display()))?;
    let text =
        fs::read_to_string(&args.prompts).with_context(|| format!("{}", args.prompts.display()))?;
    let prompts = parse_prompts(&text);
    ensure!(
        !prompts.is_empty(),
        "{}: no prompts",
        args.prompts.display()
    );
    let cases =
        classify(&blob, &prompts).map_err(|e| anyhow!("{}: {e:?}", args.model.display()))?;
    let vectors: Vec<_> = cases.iter().map(ClassifyCase::vector).collect();
    let bytes = hone_golden::write(hone_golden::model_crc(&blob), &vectors)?;
    fs::create_dir_all(&args.out).with_context(|| format!("{}", args.out.display()))?;
    let path = args.out.join("golden.bin");
    fs::write(&path, &bytes).with_context(|| format!("{}", path.display()))?;
    println!(
        "{}: {} vectors, {} bytes (model CRC-32 {:08x})",
        path.display(),
        cases.len(),
        bytes.len(),
        hone_golden::model_crc(&blob)
    );
    println!(
        "firmware: cd firmware && HONE_FW_MODEL={} HONE_FW_GOLDEN={} cargo run --release",
        args.model.display(),
        path.display()
    );
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hone_golden::{Golden, Vector};

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hone-golden-{name}-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn writes_the_host_outputs() {
        let dir = temp_dir("ok");
        let blob = hone::testutil::tiny_model().unwrap();
        let model = dir.join("m.hone");
        fs::write(&model, &blob).unwrap();
        let prompts = dir.join("p.txt");
        fs::write(
            &prompts,
            "# test\nturn the lights off\n<empty>\nplay music\n",
        )
        .unwrap();
        let args = GoldenArgs {
            model,
            prompts,
            out: dir.join("out"),
        };
        let bytes = fs::read(run(&args).unwrap()).unwrap();
        let g = Golden::parse(&bytes).unwrap();
        assert_eq!(g.header.model_crc, hone_golden::model_crc(&blob));
        let expected = classify(&blob, &["turn the lights off", "", "play music"]).unwrap();
        let got: Vec<Vector<'_>> = g.vectors().collect::<Result<_, _>>().unwrap();
        let want: Vec<Vector<'_>> = expected.iter().map(ClassifyCase::vector).collect();
        assert_eq!(got, want);
        fs::remove_dir_all(dir).unwrap();
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
        };
        assert!(run(&args).is_err());
        fs::write(&model, hone::testutil::tiny_model().unwrap()).unwrap();
        fs::write(&prompts, "# only a comment\n").unwrap();
        args.model = model;
        assert!(run(&args).unwrap_err().to_string().contains("no prompts"));
        fs::remove_dir_all(dir).unwrap();
    }
}
