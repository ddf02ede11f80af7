//! The console on the shipped model and on a small test model, with its journal in a
//! simulated NOR flash (`hone_build::flash::SimFlash`).

use std::boxed::Box;
use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use hone::adapt::{AdaptRam, LABEL_LEN, SESSION_EXAMPLES, SESSION_NEW};
use hone::{Model, Runner};
use hone_build::flash::SimFlash;
use hone_build::testutil::{tiny_model, XorShift};
use hone_build::HostSteps;

use crate::command::{parse, Command, ParseError};
use crate::{region_len, Console, Restored, DEFAULT_THRESHOLD};

const SHIPPED: &[u8] = include_bytes!("../../../models/hone-intent/model.hone");
/// Feature capacity of the shipped model (64 features) and of the test model.
const F: usize = 64;

type Flash = SimFlash<256>;

/// Runs `lines` through a console started on `flash`; returns the banner and each reply.
fn session(blob: &[u8], flash: &mut Flash, lines: &[&str]) -> (String, Vec<String>) {
    let mut steps = HostSteps::new();
    let model = Model::load(blob, &mut steps).unwrap();
    let mut scratch = vec![0u32; model.scratch_words()];
    let runner = Runner::new(&model, &mut scratch).unwrap();
    let mut ram = Box::new(AdaptRam::<F>::new());
    let len = flash.image().len() as u32;
    let mut console = Console::new(runner, &mut ram, flash, 0, len).unwrap();
    let mut banner = String::new();
    console.banner(&mut banner).unwrap();
    let replies = lines
        .iter()
        .map(|l| {
            let mut out = String::new();
            console.line(l, &mut out).unwrap();
            out
        })
        .collect();
    (banner, replies)
}

fn flash_for(blob: &[u8]) -> Flash {
    let mut steps = HostSteps::new();
    let model = Model::load(blob, &mut steps).unwrap();
    Flash::new(region_len::<Flash>(&model).unwrap() as usize)
}

fn tiny() -> Vec<u8> {
    tiny_model().unwrap()
}

/// Each reply is whole lines; an error reply is exactly one line.
fn well_formed(reply: &str) {
    assert!(reply.is_empty() || reply.ends_with('\n'), "{reply:?}");
    if reply.contains("error:") && !reply.starts_with("improved") && !reply.starts_with("rolled") {
        assert!(reply.starts_with("error: "), "{reply:?}");
        assert_eq!(reply.lines().count(), 1, "{reply:?}");
    }
}

#[test]
fn lines_parse_into_commands_or_say_why_not() {
    assert_eq!(parse("  \r"), Ok(Command::Blank));
    assert_eq!(parse(" turn it off\r"), Ok(Command::Prompt("turn it off")));
    assert_eq!(
        parse(":teach water_plants  water the garden \r"),
        Ok(Command::Teach {
            label: "water_plants",
            text: "water the garden"
        })
    );
    assert_eq!(parse(":train"), Ok(Command::Train));
    assert_eq!(parse(":forget x"), Ok(Command::Forget("x")));
    assert_eq!(parse(":threshold"), Ok(Command::Threshold(None)));
    assert_eq!(parse(":threshold 0.5"), Ok(Command::Threshold(Some(0.5))));
    assert_eq!(parse(":help"), Ok(Command::Help));
    assert_eq!(parse(":fly"), Err(ParseError::Unknown("fly")));
    assert!(matches!(parse(":teach x"), Err(ParseError::Usage(_))));
    assert!(matches!(parse(":teach"), Err(ParseError::Usage(_))));
    assert!(matches!(parse(":train now"), Err(ParseError::Usage(_))));
    assert!(matches!(parse(":forget a b"), Err(ParseError::Usage(_))));
    assert_eq!(
        parse(":teach \"water plants\" water the garden"),
        Err(ParseError::QuotedLabel)
    );
    assert_eq!(
        parse(":forget \"water plants\""),
        Err(ParseError::QuotedLabel)
    );
    let long = "x".repeat(LABEL_LEN + 1);
    let line = format!(":teach {long} text");
    assert_eq!(parse(&line), Err(ParseError::BadLabel(&long)));
    assert_eq!(parse(":teach :x text"), Err(ParseError::BadLabel(":x")));
    for bad in ["1.5", "-0.1", "NaN", "x"] {
        let line = format!(":threshold {bad}");
        assert_eq!(parse(&line), Err(ParseError::BadThreshold(bad)));
    }
    let shown = ParseError::Unknown("a\nb").to_string();
    assert!(!shown.contains('\n'), "{shown}");
}

/// Issue #13's scripted session on the shipped model: teach three prompts of a new intent,
/// train, classify a fresh prompt of it; restart on the same flash: still right.
#[test]
fn a_taught_intent_is_learned_saved_and_restored() {
    let mut flash = flash_for(SHIPPED);
    let fresh = "the vegetable patch needs watering";
    let (banner, r) = session(
        SHIPPED,
        &mut flash,
        &[
            fresh,
            ":teach water_plants water the garden now",
            ":teach water_plants start the sprinklers for ten minutes",
            ":teach water_plants give the tomato beds some water",
            ":train",
            fresh,
            ":stats",
        ],
    );
    assert!(banner.contains("no saved state"), "{banner}");
    assert!(!r[0].starts_with("water_plants"), "{}", r[0]);
    assert_eq!(
        r[1],
        "taught water_plants (new): 1 example; :train to learn\n"
    );
    assert!(r[3].starts_with("taught water_plants (enrolled): 3 examples"));
    assert!(
        (r[4].starts_with("improved: ") || r[4].starts_with("rolled back to the imprinted head: "))
            && r[4].ends_with("; saved #1\n"),
        "{}",
        r[4]
    );
    assert!(r[5].starts_with("water_plants 0."), "{}", r[5]);
    assert!(r[6].contains("examples 3 of") && r[6].contains("journal #1"));
    // A restart finds the state and answers the same, bit for bit.
    let (banner, again) = session(SHIPPED, &mut flash, &[fresh, ":labels"]);
    assert!(banner.contains("restored state #1"), "{banner}");
    assert_eq!(again[0], r[5]);
    assert!(again[1].contains("\nenrolled (1 of 16): water_plants (3)\n"));
    assert!(again[1].starts_with("pre-trained (135): "));
}

#[test]
fn bad_lines_get_one_line_errors_and_the_console_goes_on() {
    let blob = tiny();
    let mut flash = flash_for(&blob);
    let lines = [
        ":fly",
        ":teach",
        ":teach weather",
        ":teach \"the weather\" what is the weather",
        ":teach weather    ",
        ":teach weather \u{0}\u{fffd}",
        ":train",
        ":forget weather",
        ":forget lights_off",
        ":threshold 2",
        ":labels extra",
        "what is the weather",
    ];
    let (_, r) = session(&blob, &mut flash, &lines);
    for (line, reply) in lines.iter().zip(&r).take(lines.len() - 1) {
        assert!(reply.starts_with("error: "), "{line}: {reply}");
        assert_eq!(reply.lines().count(), 1, "{line}: {reply}");
    }
    // NUL and U+FFFD are cleaned away: no token, and nothing was enrolled for it.
    assert!(r[5].contains("no tokens"), "{}", r[5]);
    assert!(r[6].contains("nothing to train"), "{}", r[6]);
    assert!(r[7].contains("no enrolled label `weather`"), "{}", r[7]);
    assert!(r[11].split_whitespace().count() == 2, "{}", r[11]);
}

#[test]
fn forgetting_removes_the_label_and_its_examples_and_saves() {
    let blob = tiny();
    let mut flash = flash_for(&blob);
    let (_, r) = session(
        &blob,
        &mut flash,
        &[
            ":teach weather what is the weather",
            ":teach weather weather today",
            ":teach volume volume up",
            ":forget weather",
            ":forget weather",
            ":labels",
            ":stats",
        ],
    );
    assert_eq!(r[3], "forgot weather and its 2 examples; saved #1\n");
    assert!(r[4].starts_with("error: no enrolled label"));
    assert!(
        r[5].ends_with("enrolled (1 of 16): volume (1)\n"),
        "{}",
        r[5]
    );
    assert!(r[6].contains("examples 1 of"), "{}", r[6]);
    let (banner, r) = session(&blob, &mut flash, &[":labels"]);
    assert!(banner.contains("restored state #1"));
    assert!(
        r[0].ends_with("enrolled (1 of 16): volume (1)\n"),
        "{}",
        r[0]
    );
}

#[test]
fn full_label_slots_and_a_full_store_are_refused() {
    let blob = tiny();
    let mut flash = flash_for(&blob);
    let mut lines: Vec<String> = (0..=SESSION_NEW)
        .map(|k| format!(":teach label{k} play the music"))
        .collect();
    let fill = SESSION_EXAMPLES - SESSION_NEW;
    lines.extend((0..=fill).map(|_| ":teach label0 turn the lights on".to_string()));
    lines.push(":stats".to_string());
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_, r) = session(&blob, &mut flash, &refs);
    assert!(r[SESSION_NEW - 1].starts_with("taught label15 (new)"));
    assert!(r[SESSION_NEW].starts_with("error: no room for another label"));
    let last = r.len() - 2;
    assert!(r[last - 1].starts_with("taught label0"), "{}", r[last - 1]);
    assert!(r[last].starts_with("error: the example store is full"));
    assert!(r[last + 1].contains(&format!("examples {SESSION_EXAMPLES} of")));
}

#[test]
fn the_threshold_decides_unknown() {
    let blob = tiny();
    let mut flash = flash_for(&blob);
    let p = "play the music";
    let (_, r) = session(
        &blob,
        &mut flash,
        &[":threshold 0", p, ":threshold 1", p, ":threshold"],
    );
    assert_eq!(r[0], "threshold 0.00\n");
    let (label, conf) = r[1].trim_end().split_once(' ').unwrap();
    assert_ne!(label, "unknown");
    assert_eq!(r[3], format!("unknown {conf}\n"));
    assert_eq!(r[4], "threshold 1.00\n");
}

#[test]
fn help_lists_every_command() {
    let blob = tiny();
    let (_, r) = session(&blob, &mut flash_for(&blob), &[":help"]);
    for c in [
        ":teach",
        ":train",
        ":forget",
        ":labels",
        ":save",
        ":stats",
        ":threshold",
    ] {
        assert!(r[0].contains(c), "{c}");
    }
}

#[test]
fn a_state_of_another_model_is_ignored_and_replaced() {
    let blob = tiny();
    let mut flash = Flash::new(64 * 1024);
    let (_, r) = session(
        &blob,
        &mut flash,
        &[":teach weather weather today", ":save"],
    );
    assert_eq!(r[1], "saved #1\n");
    let (banner, r) = session(SHIPPED, &mut flash, &[":save"]);
    assert!(banner.contains("another model"), "{banner}");
    assert_eq!(r[0], "saved #2\n");
    let (banner, _) = session(SHIPPED, &mut flash, &[]);
    assert!(banner.contains("restored state #2"), "{banner}");
}

#[test]
fn the_console_reports_what_it_restored_and_holds() {
    let blob = tiny();
    let mut steps = HostSteps::new();
    let model = Model::load(&blob, &mut steps).unwrap();
    let mut scratch = vec![0u32; model.scratch_words()];
    let mut ram = Box::new(AdaptRam::<F>::new());
    let mut flash = flash_for(&blob);
    let len = flash.image().len() as u32;
    let runner = Runner::new(&model, &mut scratch).unwrap();
    let mut c = Console::new(runner, &mut ram, &mut flash, 0, len).unwrap();
    assert_eq!((c.restored(), c.generation()), (Restored::Nothing, None));
    assert_eq!(c.threshold(), DEFAULT_THRESHOLD);
    let mut out = String::new();
    c.line(":teach weather weather today", &mut out).unwrap();
    c.line(":threshold 0.25", &mut out).unwrap();
    c.line(":forget weather", &mut out).unwrap();
    assert!(
        out.contains("forgot weather and its 1 example; saved #1"),
        "{out}"
    );
    assert_eq!((c.generation(), c.threshold()), (Some(1), 0.25));
    assert_eq!(c.session().num_classes(), model.num_classes());
    drop(c);
    let runner = Runner::new(&model, &mut scratch).unwrap();
    let c = Console::new(runner, &mut ram, &mut flash, 0, len).unwrap();
    assert_eq!(
        (c.restored(), c.generation()),
        (Restored::State(1), Some(1))
    );
    // A region too small for two slots is refused.
    let runner = Runner::new(&model, &mut scratch).unwrap();
    assert!(Console::new(runner, &mut ram, &mut flash, 0, 256).is_err());
}

/// Random lines (command words, labels, prompt words, stray bytes) never panic, and every
/// reply is well formed; the console still answers at the end.
#[test]
fn random_lines_never_stop_the_console() {
    let blob = tiny();
    let mut flash = flash_for(&blob);
    const PARTS: &[&str] = &[
        ":teach",
        ":train",
        ":forget",
        ":labels",
        ":save",
        ":stats",
        ":threshold",
        ":help",
        ":",
        "::",
        "weather",
        "volume",
        "turn",
        "the",
        "lights",
        "off",
        "play",
        "music",
        "0.5",
        "-1",
        "nan",
        "\"",
        "'",
        "\t",
        "\r",
        "\n",
        "\u{0}",
        "é",
        "日本",
        "🦀",
        "!!!",
        "[CLS]",
        "[SEP]",
    ];
    let mut rng = XorShift(0x1234_5678);
    let lines: Vec<String> = (0..1500)
        .map(|_| {
            let n = rng.next_u32() % 8;
            let mut line = String::new();
            for _ in 0..n {
                let part = PARTS[(rng.next_u32() as usize) % PARTS.len()];
                line.push_str(part);
                if !rng.next_u32().is_multiple_of(3) {
                    line.push(' ');
                }
            }
            line
        })
        .chain([":stats".to_string()])
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (_, r) = session(&blob, &mut flash, &refs);
    let mut errors = 0;
    for reply in &r {
        well_formed(reply);
        errors += usize::from(reply.starts_with("error:"));
    }
    assert!(errors > 100, "{errors}");
    assert!(r.last().unwrap().starts_with("adaptation state"));
}
