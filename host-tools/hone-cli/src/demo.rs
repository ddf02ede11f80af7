//! `hone demo`: the product's story in a few seconds, with no data set. Classify a few
//! prompts with the shipped model, enrol the demo file's new intents through the same
//! `no_std` adaptation code the firmware runs, compare before and after, save the adapted
//! state through the power-loss-safe journal, reload it, and report the memory used.

use hone_build::HostSteps;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use hone::adapt::persist::{max_state_bytes, Journal};
use hone::adapt::{
    ram_bytes, with_feature_capacity, AdaptError, CapacityFn, Head, Store, TrainConfig, Trainer,
    Workspace, SESSION_EXAMPLES, SESSION_NEW, SESSION_SLOTS,
};
use hone::Model;
use hone::Runner;
use serde::Deserialize;

use crate::flash::FileFlash;

/// Capacities of the demo's adaptation state (the device's session); the feature capacity
/// `F` is the one `hone::adapt::with_feature_capacity` picks for the model's features. The
/// journal's flash region is sized to hold a state of these capacities.
const NEW: usize = SESSION_NEW;
const STORE: usize = SESSION_EXAMPLES;
const SLOTS: usize = SESSION_SLOTS;

/// Arguments of `hone demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The model blob.
    #[arg(long, default_value = crate::DEFAULT_MODEL)]
    pub model: PathBuf,
    /// New intents with example prompts and test prompts (JSON).
    #[arg(long, default_value = crate::DEFAULT_DEMO)]
    pub demo: PathBuf,
    /// Where the simulated flash holding the adapted state is written.
    #[arg(long, default_value = "target/hone-demo-flash.bin")]
    pub state: PathBuf,
}

/// The demo file: new intents to enrol and prompts to classify before and after.
#[derive(Debug, Deserialize)]
pub struct DemoFile {
    /// New intents and their example prompts.
    pub intents: Vec<DemoIntent>,
    /// Prompts to classify, with the intent a person would expect.
    pub test: Vec<DemoTest>,
}

/// One new intent.
#[derive(Debug, Deserialize)]
pub struct DemoIntent {
    /// Intent name.
    pub name: String,
    /// Example prompts the user gives.
    pub prompts: Vec<String>,
}

/// One test prompt.
#[derive(Debug, Deserialize)]
pub struct DemoTest {
    /// The prompt.
    #[serde(alias = "text")]
    pub prompt: String,
    /// The expected intent (a new or a pre-trained one).
    pub intent: String,
}

fn predict_all<const N: usize, const F: usize>(
    runner: &mut Runner<'_, '_, '_>,
    head: &Head<'_, '_, N, F>,
    prompts: &[DemoTest],
) -> Vec<(String, f32)> {
    let mut logp = vec![0f32; head.num_classes()];
    prompts
        .iter()
        .map(|t| {
            let c = head.classify(runner.features(&t.prompt), &mut logp);
            (head.label(c).unwrap_or("?").to_string(), logp[c].exp())
        })
        .collect()
}

fn load_demo(path: &Path) -> Result<DemoFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let d: DemoFile = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a demo file", path.display()))?;
    if d.intents.is_empty() || d.intents.len() > NEW {
        bail!(
            "{}: need 1..={NEW} new intents, found {}",
            path.display(),
            d.intents.len()
        );
    }
    for (i, intent) in d.intents.iter().enumerate() {
        if d.intents[..i].iter().any(|o| o.name == intent.name) {
            bail!(
                "{}: intent `{}` is listed twice",
                path.display(),
                intent.name
            );
        }
        if intent.prompts.is_empty() {
            bail!(
                "{}: intent `{}` has no prompts",
                path.display(),
                intent.name
            );
        }
    }
    Ok(d)
}

/// Runs `hone demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let blob =
        crate::blob::read(&args.model).context("run from the repository root, or pass --model")?;
    let mut steps = HostSteps::new();
    let model = crate::blob::load(&args.model, &blob, &mut steps)?;
    let demo = load_demo(&args.demo)?;
    struct Demo<'d, 'm> {
        args: &'d DemoArgs,
        model: &'d Model<'m>,
        flash_bytes: usize,
        demo: &'d DemoFile,
    }
    impl CapacityFn<Result<()>> for Demo<'_, '_> {
        fn call<const F: usize>(self) -> Result<()> {
            run_with::<F>(self.args, self.model, self.flash_bytes, self.demo)
        }
    }
    let d = Demo {
        args,
        model: &model,
        flash_bytes: blob.len(),
        demo: &demo,
    };
    with_feature_capacity(model.feature_dim(), d)
        .unwrap_or_else(|| bail!("features of {} exceed every capacity", model.feature_dim()))
}

fn run_with<const F: usize>(
    args: &DemoArgs,
    model: &Model<'_>,
    flash_bytes: usize,
    demo: &DemoFile,
) -> Result<()> {
    outln!(
        "model `{}`: {} intents, {} features, {} tokens max",
        model.name(),
        model.num_classes(),
        model.feature_dim(),
        model.max_len()
    );
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut runner = Runner::new(model, &mut scratch).map_err(|e| anyhow::anyhow!("{e}"))?;

    // 1. Before: the pre-trained head.
    let mut head = Box::new(Head::<NEW, F>::new(model).map_err(|e| anyhow::anyhow!("{e}"))?);
    let before = predict_all(&mut runner, &head, &demo.test);

    // 2. Enrol the new intents from the user's prompts (features cached as f16), then
    //    fine-tune the new rows by NLL with the pre-trained rows frozen.
    let mut store: Box<Store<STORE, F>> = Box::default();
    let mut collected = 0;
    for intent in &demo.intents {
        let id = head.enrol(&intent.name).map_err(|e| match e {
            AdaptError::DuplicateLabel => anyhow::anyhow!(
                "intent `{}` is already a class of the model: the demo enrols new intents only",
                intent.name
            ),
            e => anyhow::anyhow!("enrolling `{}`: {e}", intent.name),
        })?;
        for p in &intent.prompts {
            store
                .collect(&mut runner, &head, p, id)
                .map_err(|e| anyhow::anyhow!("storing {p:?} as `{}`: {e}", intent.name))?;
            collected += 1;
        }
    }
    head.imprint_all(&store);
    let mut ws: Box<Workspace<NEW, F, STORE, SLOTS>> = Box::default();
    let report = Trainer::new(&mut head, &store, &mut ws, TrainConfig::default())
        .and_then(|mut t| t.train())
        .map_err(|e| anyhow::anyhow!("training: {e}"))?;
    let after = predict_all(&mut runner, &head, &demo.test);
    outln!(
        "\nenrolled {} new intents from {} prompts: {} steps, validation NLL {:.3} -> {:.3}{}",
        head.num_new(),
        collected,
        report.steps,
        report.val_before,
        report.val_after,
        if report.rolled_back {
            " (rolled back: no improvement)"
        } else {
            ""
        }
    );
    outln!(
        "\n{:<44} {:<22} {:<26} after",
        "prompt",
        "expected",
        "before"
    );
    let (mut ok_before, mut ok_after) = (0, 0);
    for ((t, b), a) in demo.test.iter().zip(&before).zip(&after) {
        ok_before += usize::from(b.0 == t.intent);
        ok_after += usize::from(a.0 == t.intent);
        let before = format!("{} {:.0}%", b.0, 100.0 * b.1);
        let after = format!("{} {:.0}%", a.0, 100.0 * a.1);
        outln!("{:<44} {:<22} {before:<26} {after}", t.prompt, t.intent);
    }
    outln!(
        "correct: {ok_before}/{n} before, {ok_after}/{n} after",
        n = demo.test.len()
    );

    // 3. Save through the journal (two alternating slots) into a flash backed by a file,
    //    open the file again as a rebooted device would, read the state back into a fresh
    //    head and store, and check the predictions survived.
    let region = max_state_bytes(NEW, F, STORE)
        .and_then(Journal::<FileFlash>::region_len)
        .context("the demo's adaptation state exceeds 4 GiB")?;
    let flash = FileFlash::create(&args.state, region as usize)?;
    let mut journal = Journal::open(flash, 0, region).map_err(|e| anyhow::anyhow!("{e}"))?;
    let seq = journal
        .save(&head, &store)
        .map_err(|e| anyhow::anyhow!("saving: {e}"))?;
    drop(journal);
    let flash = FileFlash::open(&args.state, region as usize)?;
    let mut journal = Journal::open(flash, 0, region).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut head2 = Box::new(Head::<NEW, F>::new(model).map_err(|e| anyhow::anyhow!("{e}"))?);
    let mut store2: Box<Store<STORE, F>> = Box::default();
    let seq2 = journal
        .load(&mut head2, &mut store2)
        .map_err(|e| anyhow::anyhow!("loading: {e}"))?;
    let reloaded = predict_all(&mut runner, &head2, &demo.test);
    let same = reloaded
        .iter()
        .zip(&after)
        .all(|(a, b)| a.0 == b.0 && a.1.to_bits() == b.1.to_bits());
    outln!(
        "\nsaved state #{seq} to {} and reloaded #{seq2}: {} classes, {} examples, predictions {}",
        args.state.display(),
        head2.num_new(),
        store2.len(),
        if same { "identical" } else { "DIFFERENT" }
    );
    if !same || seq != seq2 {
        bail!("the reloaded state does not reproduce the adapted predictions");
    }

    // 4. Memory.
    let adapt = ram_bytes::<NEW, F, STORE, SLOTS>();
    outln!("\nmemory: model {} bytes (flash), scratch {} bytes + adaptation {} bytes = {} bytes RAM ({} new intents x {} prompts, {} features)",
        flash_bytes, model.scratch_bytes(), adapt, model.scratch_bytes() + adapt, NEW, STORE / NEW, F);
    Ok(())
}
