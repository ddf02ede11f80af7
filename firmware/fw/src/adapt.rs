//! On-device adaptation driven by golden adaptation vectors: enrol prompt/label pairs from
//! flash, fine-tune the head, report accuracy before/after, persist through the board's
//! `NorFlash`, reload into a fresh head and store, and check that the state survived.
//!
//! Each step is compared bit for bit with the host build's result (`hone_golden::adapt`
//! runs the same steps on both sides).

use embedded_storage::nor_flash::ReadNorFlash;
use hone::adapt::{persist::Journal, Head, Store};
use hone::Runner;
use hone_golden::adapt::{train_config, Session, MAX_CLASSES};

use crate::flash::{Backend, Storage};
use crate::measure::{Clock, Meter};

/// Adaptation figures gathered over a golden run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Prompts enrolled.
    pub enrolled: u32,
    /// Work of feature extraction + storing, summed over enrolled prompts.
    pub enrol_work: u64,
    /// Work of imprinting + training.
    pub train_work: u64,
    /// Epochs trained.
    pub epochs: u32,
    /// Evaluation prompts.
    pub evaluated: u32,
    /// Of which the base model got right.
    pub correct_before: u32,
    /// Of which the adapted head got right.
    pub correct_after: u32,
    /// Work of a save.
    pub save_work: u64,
    /// Work of reopening the journal and loading.
    pub load_work: u64,
    /// Sequence number of the last save.
    pub saved_seq: u32,
}

/// Expected outputs of an [`hone_golden::Vector::Train`].
pub struct TrainExpect {
    /// Epochs.
    pub epochs: u16,
    /// Shuffle seed.
    pub seed: u32,
    /// Steps.
    pub steps: u32,
    /// Kept epoch.
    pub best_epoch: u16,
    /// Validation NLL before, bits.
    pub val_before: u32,
    /// Validation NLL after, bits.
    pub val_after: u32,
    /// Rollback.
    pub rolled_back: bool,
}

/// Expected outputs of an [`hone_golden::Vector::Evaluate`].
pub struct EvalExpect<'a> {
    /// True label name.
    pub truth: &'a str,
    /// Base label.
    pub before: u32,
    /// Adapted label.
    pub after: u32,
    /// Adapted log-probabilities, bits.
    pub log_probs: &'a [u8],
}

/// `Enrol`: collect the prompt; the class id must match.
pub fn enrol<C: Clock>(
    i: usize,
    session: &mut Session<'_, '_>,
    runner: &mut Runner<'_, '_, '_>,
    (prompt, label, class): (&str, &str, u32),
    meter: &mut Meter<C>,
    f: &mut Figures,
) -> bool {
    let (got, work) = meter.measure(|| session.enrol(runner, prompt, label));
    match got {
        Ok(c) if u32::try_from(c) == Ok(class) => {
            f.enrolled += 1;
            f.enrol_work += work;
            defmt::info!(
                "golden {=usize}: enrol {=str:?} as {=str} (class {=u32}) PASS",
                i,
                prompt,
                label,
                class
            );
            true
        }
        Ok(c) => {
            defmt::error!(
                "golden {=usize}: enrol {=str:?} FAIL class {=usize}, expected {=u32}",
                i,
                prompt,
                c,
                class
            );
            false
        }
        Err(e) => {
            defmt::error!("golden {=usize}: enrol {=str:?} FAIL {}", i, prompt, e);
            false
        }
    }
}

/// `Train`: imprint and fine-tune; the report must match bit for bit.
pub fn train<C: Clock>(
    i: usize,
    session: &mut Session<'_, '_>,
    e: &TrainExpect,
    meter: &mut Meter<C>,
    f: &mut Figures,
) -> bool {
    let (got, work) = meter.measure(|| session.train(train_config(e.epochs, e.seed)));
    let r = match got {
        Ok(r) => r,
        Err(err) => {
            defmt::error!("golden {=usize}: train FAIL {}", i, err);
            return false;
        }
    };
    f.train_work += work;
    f.epochs += u32::from(e.epochs);
    let same = r.steps == e.steps
        && r.best_epoch == e.best_epoch
        && hone_golden::f32_matches(e.val_before, r.val_before)
        && hone_golden::f32_matches(e.val_after, r.val_after)
        && r.rolled_back == e.rolled_back;
    if same {
        defmt::info!(
            "golden {=usize}: train {=u16} epochs, {=u32} steps, kept epoch {=u16}, val NLL {=f32} -> {=f32} PASS ({=u64} {=str})",
            i, e.epochs, r.steps, r.best_epoch, r.val_before, r.val_after, work, meter.unit().name()
        );
    } else {
        defmt::error!(
            "golden {=usize}: train FAIL report {} (expected steps {=u32}, kept epoch {=u16}, val NLL bits {=u32:#x} -> {=u32:#x})",
            i, r, e.steps, e.best_epoch, e.val_before, e.val_after
        );
    }
    same
}

/// `Evaluate`: base and adapted predictions and the adapted log-probabilities must match.
pub fn evaluate(
    i: usize,
    session: &Session<'_, '_>,
    runner: &mut Runner<'_, '_, '_>,
    prompt: &str,
    e: &EvalExpect<'_>,
    f: &mut Figures,
) -> bool {
    let base = runner.classify(prompt);
    let before = base.label;
    let before_right = base.name == e.truth;
    let mut out = [0f32; MAX_CLASSES];
    let after = session.classify(runner, prompt, &mut out);
    let n = session.head.num_classes();
    let after_name = session.head.label(after).unwrap_or("");
    let probs = hone_golden::check_f32(e.log_probs, &out[..n]);
    let ok = u32::try_from(before) == Ok(e.before) && u32::try_from(after) == Ok(e.after);
    f.evaluated += 1;
    f.correct_before += u32::from(before_right);
    f.correct_after += u32::from(after_name == e.truth);
    match (ok, probs) {
        (true, Ok(())) => {
            defmt::info!(
                "golden {=usize}: evaluate {=str:?} ({=str}): before {=usize}, after {=str} PASS",
                i,
                prompt,
                e.truth,
                before,
                after_name
            );
            true
        }
        (_, Err(m)) => {
            defmt::error!(
                "golden {=usize}: evaluate {=str:?} FAIL log_probs {}",
                i,
                prompt,
                m
            );
            false
        }
        (false, Ok(())) => {
            defmt::error!(
                "golden {=usize}: evaluate {=str:?} FAIL labels {=usize}/{=usize}, expected {=u32}/{=u32}",
                i, prompt, before, after, e.before, e.after
            );
            false
        }
    }
}

/// `Persist`: save through the journal, reopen it as after a reboot, load into a fresh head
/// and store, and compare with the state in RAM.
pub fn persist<C: Clock, B: Backend>(
    i: usize,
    session: &Session<'_, '_>,
    storage: &mut Storage<B>,
    meter: &mut Meter<C>,
    f: &mut Figures,
) -> bool {
    let cap = storage.capacity() as u32;
    let (saved, save_work) =
        meter.measure(|| Journal::open(&mut *storage, 0, cap)?.save(&session.head, &session.store));
    let seq = match saved {
        Ok(seq) => seq,
        Err(e) => {
            defmt::error!("golden {=usize}: persist FAIL save {}", i, e);
            return false;
        }
    };
    let model = session.head.model();
    let mut head = match Head::new(model) {
        Ok(h) => h,
        Err(e) => {
            defmt::error!("golden {=usize}: persist FAIL {}", i, e);
            return false;
        }
    };
    let mut store = Store::new();
    let (loaded, load_work) =
        meter.measure(|| Journal::open(&mut *storage, 0, cap)?.load(&mut head, &mut store));
    f.save_work = save_work;
    f.load_work = load_work;
    f.saved_seq = seq;
    let same = head.rows() == session.head.rows() && store == session.store;
    match loaded {
        Ok(s) if s == seq && same => {
            defmt::info!(
                "golden {=usize}: persist {=usize} classes, {=usize} examples (seq {=u32}) reloaded identical PASS",
                i,
                head.num_new(),
                store.len(),
                seq
            );
            true
        }
        Ok(s) => {
            defmt::error!(
                "golden {=usize}: persist FAIL reloaded seq {=u32} (saved {=u32}), identical: {=bool}",
                i,
                s,
                seq,
                same
            );
            false
        }
        Err(e) => {
            defmt::error!("golden {=usize}: persist FAIL load {}", i, e);
            false
        }
    }
}
