//! [`Console`]: the adaptation session of one model, its journal in flash, and the reply to
//! each line of the protocol ([`crate::command`]).

use core::fmt::{self, Write};

use embedded_storage::nor_flash::NorFlash;
use hone::adapt::persist::{max_state_bytes, Journal};
use hone::adapt::{
    session_ram_bytes, AdaptError, AdaptRam, Session, TrainConfig, SESSION_EXAMPLES, SESSION_NEW,
};
use hone::{Model, Runner};

use crate::command::{parse, Command, Shown, USAGE};

/// Confidence under which a prompt is answered `unknown`, until `:threshold` sets another.
pub const DEFAULT_THRESHOLD: f32 = 0.3;

/// Length of the flash region (two journal slots, erase-aligned for `Fl`) that holds any
/// adaptation state of `model` at the session's capacities; `None` past `u32`. Host and
/// device size the region with it, so that both read the same journal.
pub fn region_len<Fl: NorFlash>(model: &Model<'_>) -> Option<u32> {
    max_state_bytes(SESSION_NEW, model.feature_dim(), SESSION_EXAMPLES)
        .and_then(Journal::<Fl>::region_len)
}

/// What the console found in its journal when it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restored {
    /// The latest state saved for this model, of this generation.
    State(u32),
    /// Nothing saved yet.
    Nothing,
    /// A state saved for another model: ignored (the next save supersedes it).
    OtherModel,
    /// The flash could not be read: starting empty.
    Unreadable,
}

/// A personalisation console: classifies prompts with the adapted head, collects labelled
/// examples, trains with the never-worse guard and keeps the state in a power-safe journal.
///
/// It borrows everything it works in (the runner's scratch, the adaptation RAM, the flash),
/// allocates nothing, and answers every line, however malformed, with text: replies end with
/// a line break, errors are one line starting with `error:`.
pub struct Console<'r, 'm, 'a, 's, Fl: NorFlash, const F: usize> {
    runner: Runner<'m, 'a, 's>,
    session: Session<'r, 'm, 'a, F>,
    journal: Journal<Fl>,
    train: TrainConfig,
    threshold: f32,
    restored: Restored,
}

impl<'r, 'm, 'a, 's, Fl: NorFlash, const F: usize> Console<'r, 'm, 'a, 's, Fl, F> {
    /// A console for `runner`'s model with its state in `ram` and its journal in
    /// `[base, base + len)` of `flash` (e.g. [`region_len`] long). Loads the latest state
    /// saved there for this model, if any ([`Console::restored`] says what was found).
    /// Fails when the model's features exceed `F` or the region is unusable.
    pub fn new(
        runner: Runner<'m, 'a, 's>,
        ram: &'r mut AdaptRam<F>,
        flash: Fl,
        base: u32,
        len: u32,
    ) -> Result<Self, AdaptError> {
        let mut session = Session::new(runner.model(), ram)?;
        let mut journal = Journal::open(flash, base, len)?;
        let restored = match journal.load(&mut session.head, session.store) {
            Ok(seq) => Restored::State(seq),
            Err(AdaptError::NoSavedState) => Restored::Nothing,
            Err(AdaptError::Incompatible) => Restored::OtherModel,
            Err(_) => Restored::Unreadable,
        };
        Ok(Self {
            runner,
            session,
            journal,
            train: TrainConfig::default(),
            threshold: DEFAULT_THRESHOLD,
            restored,
        })
    }

    /// What was found in the journal at start.
    pub fn restored(&self) -> Restored {
        self.restored
    }

    /// The adaptation session (head and examples).
    pub fn session(&self) -> &Session<'r, 'm, 'a, F> {
        &self.session
    }

    /// Confidence under which a prompt is `unknown`.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// Generation of the latest state in the journal (`None`: nothing saved).
    pub fn generation(&self) -> Option<u32> {
        self.journal.seq()
    }

    /// Sets the training configuration `:train` uses ([`TrainConfig::default`] until then).
    pub fn set_train_config(&mut self, cfg: TrainConfig) {
        self.train = cfg;
    }

    /// Writes the greeting: the model, what was restored, how to get help.
    pub fn banner(&self, out: &mut impl Write) -> fmt::Result {
        let head = &self.session.head;
        writeln!(
            out,
            "hone console: model `{}`, {} pre-trained labels, {} enrolled, {} examples",
            self.runner.model().name(),
            head.old_classes(),
            head.num_new(),
            self.session.store.len()
        )?;
        match self.restored {
            Restored::State(seq) => writeln!(out, "restored state #{seq} from flash")?,
            Restored::Nothing => writeln!(out, "no saved state: starting fresh")?,
            Restored::OtherModel => writeln!(
                out,
                "the saved state belongs to another model: starting fresh (saving replaces it)"
            )?,
            Restored::Unreadable => {
                writeln!(out, "error: the saved state cannot be read: starting fresh")?
            }
        }
        writeln!(out, "type a prompt to classify it, or :help")
    }

    /// Answers one input line (see [`crate::command`] for the protocol).
    pub fn line(&mut self, input: &str, out: &mut impl Write) -> fmt::Result {
        match parse(input) {
            Ok(cmd) => self.run(cmd, out),
            Err(e) => writeln!(out, "error: {e}"),
        }
    }

    fn run(&mut self, cmd: Command<'_>, out: &mut impl Write) -> fmt::Result {
        match cmd {
            Command::Blank => Ok(()),
            Command::Prompt(text) => self.classify(text, out),
            Command::Teach { label, text } => self.teach(label, text, out),
            Command::Train => self.train(out),
            Command::Forget(label) => self.forget(label, out),
            Command::Labels => self.labels(out),
            Command::Save => self.save(out),
            Command::Stats => self.stats(out),
            Command::Threshold(t) => {
                if let Some(t) = t {
                    self.threshold = t;
                }
                writeln!(out, "threshold {:.2}", self.threshold)
            }
            Command::Help => USAGE
                .iter()
                .try_for_each(|(u, what)| writeln!(out, "{u:<18} {what}")),
        }
    }

    fn classify(&mut self, text: &str, out: &mut impl Write) -> fmt::Result {
        let (c, p) = self.session.predict(&mut self.runner, text);
        let label = match self.session.head.label(c) {
            Some(l) if p >= self.threshold => l,
            _ => "unknown",
        };
        writeln!(out, "{label} {p:.2}")
    }

    fn teach(&mut self, label: &str, text: &str, out: &mut impl Write) -> fmt::Result {
        let held = self.session.store.len();
        if held >= SESSION_EXAMPLES {
            return writeln!(
                out,
                "error: the example store is full ({held} of {SESSION_EXAMPLES}): :forget a label first"
            );
        }
        let head = &self.session.head;
        let known = head.find(label);
        if known.is_none() && head.num_new() >= SESSION_NEW {
            return writeln!(
                out,
                "error: no room for another label ({SESSION_NEW} enrolled): :forget one first"
            );
        }
        let c = match self.session.enrol(&mut self.runner, text, label) {
            Ok(c) => c,
            Err(e) => return writeln!(out, "error: {e}"),
        };
        let kind = if c < self.session.head.old_classes() {
            "pre-trained"
        } else if known.is_none() {
            // A new row starts as its example's direction, so that it competes fairly before
            // the next `:train` (which imprints every enrolled row again).
            let _ = self.session.head.imprint(c, self.session.store);
            "new"
        } else {
            "enrolled"
        };
        let n = u16::try_from(c).map_or(0, |c| self.session.store.count(c));
        writeln!(
            out,
            "taught {label} ({kind}): {n} example{}; :train to learn",
            plural(n)
        )
    }

    fn train(&mut self, out: &mut impl Write) -> fmt::Result {
        if self.session.head.num_new() == 0 {
            return writeln!(out, "error: nothing to train: :teach LABEL TEXT first");
        }
        let r = match self.session.train(self.train) {
            Ok(r) => r,
            Err(e) => return writeln!(out, "error: training: {e}"),
        };
        if r.rolled_back {
            write!(
                out,
                "rolled back to the imprinted head: fine-tuning did not lower the validation loss ({:.3})",
                r.val_before
            )?;
        } else {
            write!(
                out,
                "improved: validation loss {:.3} -> {:.3} ({} epochs)",
                r.val_before, r.val_after, r.best_epoch
            )?;
        }
        self.saved(out)
    }

    fn forget(&mut self, label: &str, out: &mut impl Write) -> fmt::Result {
        match self.session.forget(label) {
            Ok(n) => {
                write!(out, "forgot {label} and its {n} example{}", plural(n))?;
                self.saved(out)
            }
            Err(_) if self.session.head.find(label).is_some() => writeln!(
                out,
                "error: `{label}` is pre-trained: only enrolled labels can be forgotten"
            ),
            Err(_) => writeln!(out, "error: no enrolled label `{}`", Shown(label)),
        }
    }

    /// Saves, then ends the current reply line with `; saved #N`, or ends it and reports the
    /// failure on an error line.
    fn saved(&mut self, out: &mut impl Write) -> fmt::Result {
        match self.journal.save(&self.session.head, self.session.store) {
            Ok(seq) => writeln!(out, "; saved #{seq}"),
            Err(e) => writeln!(out, "\nerror: saving: {e}"),
        }
    }

    fn labels(&self, out: &mut impl Write) -> fmt::Result {
        let head = &self.session.head;
        let old = head.old_classes();
        write!(out, "pre-trained ({old}):")?;
        for c in 0..old {
            write!(out, " {}", head.label(c).unwrap_or("?"))?;
        }
        write!(out, "\nenrolled ({} of {SESSION_NEW}):", head.num_new())?;
        if head.num_new() == 0 {
            write!(out, " none")?;
        }
        for c in old..head.num_classes() {
            let n = u16::try_from(c).map_or(0, |c| self.session.store.count(c));
            write!(out, " {} ({n})", head.label(c).unwrap_or("?"))?;
        }
        writeln!(out)
    }

    fn save(&mut self, out: &mut impl Write) -> fmt::Result {
        match self.journal.save(&self.session.head, self.session.store) {
            Ok(seq) => writeln!(out, "saved #{seq}"),
            Err(e) => writeln!(out, "error: saving: {e}"),
        }
    }

    fn stats(&self, out: &mut impl Write) -> fmt::Result {
        write!(
            out,
            "adaptation state {} bytes RAM; examples {} of {SESSION_EXAMPLES}; enrolled {} of {SESSION_NEW}; ",
            session_ram_bytes::<F>(),
            self.session.store.len(),
            self.session.head.num_new()
        )?;
        match self.journal.seq() {
            Some(seq) => write!(out, "journal #{seq}")?,
            None => write!(out, "journal empty")?,
        }
        writeln!(out, " (slot {} bytes)", self.journal.capacity())
    }
}

/// The plural ending of a count of `n`.
fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
