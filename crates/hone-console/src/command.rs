//! The line protocol: what one input line asks for ([`Command`]), or why it asks for nothing
//! the console can do ([`ParseError`]). Parsing touches no model state.
//!
//! A line is trimmed of surrounding whitespace (so `\r\n` endings are fine). A line starting
//! with `:` is a command; any other non-empty line is a prompt to classify.

use core::fmt;

use hone::adapt::LABEL_LEN;

/// What one line asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Command<'l> {
    /// A blank line: nothing to do.
    Blank,
    /// Classify this prompt.
    Prompt(&'l str),
    /// `:teach LABEL TEXT`: collect `text` as an example of `label`.
    Teach {
        /// The label (pre-trained or to enrol).
        label: &'l str,
        /// The example prompt.
        text: &'l str,
    },
    /// `:train`: adapt to the collected examples, then save.
    Train,
    /// `:forget LABEL`: remove an enrolled label and its examples, then save.
    Forget(&'l str),
    /// `:labels`: list the labels.
    Labels,
    /// `:save`: save the adaptation state now.
    Save,
    /// `:stats`: memory, examples and journal generation.
    Stats,
    /// `:threshold [X]`: show or set the confidence under which a prompt is `unknown`.
    Threshold(Option<f32>),
    /// `:help`: list the commands.
    Help,
}

/// Why a line is not a command the console can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError<'l> {
    /// `:word` that is no command.
    Unknown(&'l str),
    /// A command with missing or extra arguments; holds its usage.
    Usage(&'static str),
    /// A label that is empty, too long or contains characters a label cannot have.
    BadLabel(&'l str),
    /// A label written with quotes, as if it could contain spaces.
    QuotedLabel,
    /// A threshold that is not a number in `[0, 1]`.
    BadThreshold(&'l str),
}

/// Usage of every command, in `:help` order.
pub const USAGE: [(&str, &str); 9] = [
    (
        ":teach LABEL TEXT",
        "collect TEXT as an example of LABEL (new or existing)",
    ),
    (
        ":train",
        "adapt to the collected examples (never worse), then save",
    ),
    (
        ":forget LABEL",
        "remove an enrolled label and its examples, then save",
    ),
    (":labels", "list pre-trained and enrolled labels"),
    (":save", "save the adaptation state now"),
    (
        ":stats",
        "RAM of the adaptation state, examples held, journal generation",
    ),
    (
        ":threshold [X]",
        "show or set the confidence under which a prompt is unknown",
    ),
    (":help", "this list"),
    (
        "TEXT",
        "classify TEXT: prints LABEL CONFIDENCE, or unknown CONFIDENCE",
    ),
];

fn usage(i: usize) -> &'static str {
    USAGE.get(i).map_or("", |u| u.0)
}

/// Whether `label` can name a class here: 1 to [`LABEL_LEN`] bytes, none of them whitespace,
/// a control character or a quote, and not starting with `:`.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= LABEL_LEN
        && !label.starts_with(':')
        && !label
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'')
}

/// Splits off the first whitespace-separated word: `(word, rest)`, the rest trimmed.
fn word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.split_once(char::is_whitespace) {
        Some((w, rest)) => (w, rest.trim()),
        None => (s, ""),
    }
}

/// The label argument of `:teach` or `:forget`.
fn label(w: &str) -> Result<&str, ParseError<'_>> {
    if w.starts_with('"') || w.starts_with('\'') {
        Err(ParseError::QuotedLabel)
    } else if valid_label(w) {
        Ok(w)
    } else {
        Err(ParseError::BadLabel(w))
    }
}

/// Parses one input line.
pub fn parse(line: &str) -> Result<Command<'_>, ParseError<'_>> {
    let line = line.trim();
    let Some(cmd) = line.strip_prefix(':') else {
        return Ok(if line.is_empty() {
            Command::Blank
        } else {
            Command::Prompt(line)
        });
    };
    let (name, args) = word(cmd);
    let bare = |c: Command<'static>, i: usize| {
        if args.is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Usage(usage(i)))
        }
    };
    match name {
        "teach" => {
            let (l, text) = word(args);
            if l.is_empty() || text.is_empty() {
                return Err(ParseError::Usage(usage(0)));
            }
            Ok(Command::Teach {
                label: label(l)?,
                text,
            })
        }
        "train" => bare(Command::Train, 1),
        "forget" => {
            let (l, rest) = word(args);
            if l.is_empty() || !rest.is_empty() {
                return Err(if l.starts_with('"') || l.starts_with('\'') {
                    ParseError::QuotedLabel
                } else {
                    ParseError::Usage(usage(2))
                });
            }
            Ok(Command::Forget(label(l)?))
        }
        "labels" => bare(Command::Labels, 3),
        "save" => bare(Command::Save, 4),
        "stats" => bare(Command::Stats, 5),
        "threshold" => {
            let (x, rest) = word(args);
            if !rest.is_empty() {
                return Err(ParseError::Usage(usage(6)));
            }
            if x.is_empty() {
                return Ok(Command::Threshold(None));
            }
            match x.parse::<f32>() {
                Ok(t) if (0.0..=1.0).contains(&t) => Ok(Command::Threshold(Some(t))),
                _ => Err(ParseError::BadThreshold(x)),
            }
        }
        "help" | "?" => bare(Command::Help, 7),
        _ => Err(ParseError::Unknown(name)),
    }
}

/// User text shown back on one line: control characters (line breaks among them) escaped.
#[derive(Debug, Clone, Copy)]
pub struct Shown<'t>(pub &'t str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if c.is_control() {
                write!(f, "{}", c.escape_default())?;
            } else {
                fmt::Write::write_char(f, c)?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for ParseError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Unknown(c) => {
                write!(f, "unknown command `:{}` (:help lists them)", Shown(c))
            }
            ParseError::Usage(u) => write!(f, "usage: {u}"),
            ParseError::BadLabel(l) => write!(
                f,
                "bad label `{}`: 1 to {LABEL_LEN} bytes, no spaces, quotes or control characters",
                Shown(l)
            ),
            ParseError::QuotedLabel => {
                f.write_str("a label cannot contain spaces: write it as one word, e.g. with `_`")
            }
            ParseError::BadThreshold(x) => {
                write!(f, "threshold `{}` is not a number in [0, 1]", Shown(x))
            }
        }
    }
}
