//! `hone demo` and `hone eval` end to end on a small checkpoint made here. (The shipped
//! model's figures on CLINC150 are checked by `tests/run-all.sh` with a release build.)

use std::path::Path;

use hone_build::testutil::XorShift;
use hone_tests::fixtures::{self, hone, CLASSES};
use serde_json::{json, Value};

use fixtures::hone_ok as ok;

fn exported(dir: &Path) -> std::path::PathBuf {
    let ckpt = dir.join("ckpt");
    fixtures::static_checkpoint(&ckpt);
    let model = dir.join("model.hone");
    fixtures::export(&ckpt, &model, &[]);
    model
}

#[test]
fn demo_enrols_saves_and_reloads() {
    let dir = fixtures::scratch_dir("cli-demo");
    let model = exported(&dir);
    // Two new intents made of words the fixture model gives no class to.
    let demo = json!({
        "intents": [
            {"name": "question", "prompts": ["what is my", "what is the", "can you what is", "what is today", "is what my"]},
            {"name": "request", "prompts": ["can you please", "please can you", "you can please now", "can you now please", "please you can"]}
        ],
        "test": [
            {"text": "what is the today", "intent": "question"},
            {"prompt": "please can you now", "intent": "request"},
            {"prompt": "play music volume", "intent": "music"}
        ]
    });
    let demo_path = dir.join("demo.json");
    std::fs::write(&demo_path, demo.to_string()).unwrap();
    let state = dir.join("flash.bin");
    let out = ok(&[
        "demo",
        "--model",
        model.to_str().unwrap(),
        "--demo",
        demo_path.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
    ]);
    assert!(
        out.contains("enrolled 2 new intents from 10 prompts"),
        "{out}"
    );
    assert!(out.contains("predictions identical"), "{out}");
    assert!(out.contains("memory: model"), "{out}");
    // The saved flash image holds a journal slot (magic `HNAD`).
    let flash = std::fs::read(&state).unwrap();
    assert!(flash.windows(4).any(|w| w == b"HNAD"));
    // A broken demo file is a clear error, not a panic.
    std::fs::write(&demo_path, "{\"intents\": []}").unwrap();
    let bad = hone(&[
        "demo",
        "--model",
        model.to_str().unwrap(),
        "--demo",
        demo_path.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("error:"));
}

#[test]
fn eval_reports_heads_and_omits_what_the_data_lacks() {
    let dir = fixtures::scratch_dir("cli-eval");
    let model = exported(&dir);
    let mut rng = XorShift(77);
    let split = |rng: &mut XorShift, n| -> Vec<Value> {
        fixtures::prompts(rng, n)
            .into_iter()
            .map(|(p, l)| json!([p, l]))
            .collect()
    };
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let full = json!({"train": split(&mut rng, 12), "val": split(&mut rng, 5), "test": split(&mut rng, 10)});
    std::fs::write(data.join("data_full.json"), full.to_string()).unwrap();
    let names: Vec<&str> = CLASSES.iter().map(|(l, _)| *l).collect();
    std::fs::write(
        data.join("domains.json"),
        json!({"house": names}).to_string(),
    )
    .unwrap();
    let out = ok(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--json",
        "--seeds",
        "2",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let full_acc = v["full_head_acc"].as_f64().unwrap();
    assert!(full_acc > 0.9, "{v:#}");
    assert!(v["five_shot_acc"].as_f64().unwrap() > 0.5, "{v:#}");
    assert_eq!(v["five_shot_runs"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["flash_bytes"].as_u64().unwrap(),
        std::fs::metadata(&model).unwrap().len()
    );
    // No `home` domain and no oos prompts: those figures are omitted, not invented.
    assert!(v["enrol"].as_object().unwrap().is_empty(), "{v:#}");
    assert!(v["oos_recall"].is_null(), "{v:#}");
}

#[test]
fn eval_enrols_one_domain_of_a_data_set_the_head_has_never_seen() {
    // Like tests/data/heldout-intents: every intent is new to the model's head; enrolling one
    // domain scores only its prompts (the other domain's are neither old nor enrolled), and
    // old-intent accuracy is null rather than 0.
    let dir = fixtures::scratch_dir("cli-eval-heldout");
    let model = exported(&dir);
    let intents: [(&str, &[&str]); 4] = [
        ("question", &["what", "is"]),
        ("request", &["can", "you", "please"]),
        ("switch", &["turn", "on", "off"]),
        ("setting", &["set", "for", "me"]),
    ];
    let mut rng = XorShift(5);
    let mut split = |n: usize| -> Vec<Value> {
        let mut out = Vec::new();
        for _ in 0..n {
            for (name, words) in &intents {
                let len = 2 + rng.next_u32() as usize % 3;
                let p: Vec<&str> = (0..len)
                    .map(|_| words[rng.next_u32() as usize % words.len()])
                    .collect();
                out.push(json!([p.join(" "), name]));
            }
        }
        out
    };
    let full = json!({"train": split(10), "val": split(3), "test": split(5)});
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("data_full.json"), full.to_string()).unwrap();
    let domains = json!({"asking": ["question", "request"], "control": ["switch", "setting"]});
    std::fs::write(data.join("domains.json"), domains.to_string()).unwrap();
    let out = ok(&[
        "eval",
        "--data",
        data.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--enrol-domain",
        "asking",
        "--only-enrol",
        "--seeds",
        "1",
        "--json",
    ]);
    let v: Value = serde_json::from_str(&out).unwrap();
    for k in ["k5", "k10"] {
        let e = &v["enrol"][k];
        assert!(e["old"].is_null() && e["old_before"].is_null(), "{v:#}");
        // Scoring the `control` prompts as failed new intents would cap this at 0.5.
        assert!(e["new"].as_f64().unwrap() > 0.5, "{v:#}");
        assert_eq!(e["new"], e["all"], "{v:#}");
    }
}
