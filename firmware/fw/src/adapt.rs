//! On-device adaptation driven by golden adaptation vectors: enrol prompt/label pairs from
//! flash, fine-tune the head, report accuracy before/after, persist through the board's
//! `NorFlash`, clear the state, reload it, and check that it survived.
//!
//! Each step is compared bit for bit with the host build's result (both sides run the same
//! steps of a [`hone::adapt::Session`]). The state's feature capacity is the embedded model's
//! feature length ([`F`]); its example store and training workspace live in a static
//! ([`ram`]), the head's enrolled rows in the caller's frame.

use hone::adapt::persist::Journal;
use hone::adapt::{session_ram_bytes, AdaptRam, SESSION_NEW};
use hone::Runner;
use hone_golden::adapt::train_config;

use crate::blobs;
use crate::figures::Figures;
use crate::flash::{Backend, Storage};
use crate::measure::{Clock, Meter};
use crate::once::TakeOnce;

/// Feature capacity of the adaptation state: the embedded model's feature length.
pub const F: usize = blobs::FEATURES;

/// The adaptation session of this firmware.
pub type Session<'r, 'm, 'a> = hone::adapt::Session<'r, 'm, 'a, F>;

/// Largest number of classes the adapted head classifies into.
pub const MAX_CLASSES: usize = blobs::CLASSES + SESSION_NEW;

/// Bytes of RAM the adaptation state takes (enrolled rows, store, workspace).
pub const RAM_BYTES: usize = session_ram_bytes::<F>();

static RAM: TakeOnce<AdaptRam<F>> = TakeOnce::new(AdaptRam::new());

/// The static example store and training workspace (the first call only; `None` after).
pub fn ram() -> Option<&'static mut AdaptRam<F>> {
    RAM.take()
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
    session: &mut Session<'_, '_, '_>,
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
    session: &mut Session<'_, '_, '_>,
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
    session: &Session<'_, '_, '_>,
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
    let n = session.num_classes();
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

/// `Persist`: save through the journal, forget the state in RAM (as a reboot would), reopen
/// the journal, load, and compare the state's digest with the one saved. Later vectors run on
/// the reloaded state.
pub fn persist<C: Clock, B: Backend>(
    i: usize,
    session: &mut Session<'_, '_, '_>,
    storage: &mut Storage<B>,
    meter: &mut Meter<C>,
    f: &mut Figures,
) -> bool {
    let cap = crate::flash::adapt_len(storage);
    let before = session.digest();
    let (classes, examples) = (session.head.num_new(), session.store.len());
    let (saved, save_work) =
        meter.measure(|| Journal::open(&mut *storage, 0, cap)?.save(&session.head, session.store));
    let seq = match saved {
        Ok(seq) => seq,
        Err(e) => {
            defmt::error!("golden {=usize}: persist FAIL save {}", i, e);
            return false;
        }
    };
    session.clear();
    let cleared = session.digest();
    let (loaded, load_work) = meter
        .measure(|| Journal::open(&mut *storage, 0, cap)?.load(&mut session.head, session.store));
    f.save_work = save_work;
    f.load_work = load_work;
    f.saved_seq = seq;
    let after = session.digest();
    let same = after == before && cleared != before;
    match loaded {
        Ok(s) if s == seq && same => {
            defmt::info!(
                "golden {=usize}: persist {=usize} classes, {=usize} examples (seq {=u32}, digest {=u32:#010x}) reloaded identical PASS",
                i,
                classes,
                examples,
                seq,
                after
            );
            true
        }
        Ok(s) => {
            defmt::error!(
                "golden {=usize}: persist FAIL reloaded seq {=u32} (saved {=u32}), digest {=u32:#010x} (saved {=u32:#010x}, cleared {=u32:#010x})",
                i,
                s,
                seq,
                after,
                before,
                cleared
            );
            false
        }
        Err(e) => {
            defmt::error!("golden {=usize}: persist FAIL load {}", i, e);
            false
        }
    }
}
