//! Persistence: a simulated NOR flash that enforces alignment and program-once-after-erase,
//! and cuts power after every possible write/erase step of a save.

mod adapt_common;

use adapt_common::*;
use hone::adapt::persist::{max_state_bytes, Journal};
use hone::adapt::{AdaptError, Head, NewRows, Optimizer, Store, Trainer, Validation, Workspace};
use hone::{Model, Runner};
use hone_build::flash::SimFlash;
use hone_build::testutil::{build_static, tiny_model};
use hone_build::HostSteps;

/// Sector size of the simulated flash.
const ES: usize = 256;
const SLOT: usize = 8 * 1024;

const F64: usize = 64;
type H<'m, 'a> = Head<'m, 'a, NEW, F64>;
type S = Store<N, F64>;
type State = (NewRows<NEW, F64>, S);

/// Three distinct states of a 48-feature model (two chunks, the second partial): A enrols
/// two labels, B trains them and adds replayed examples, C enrols a third.
fn states(m: &Model<'_>) -> [State; 3] {
    let mut s = vec![0u32; m.scratch_words()];
    let mut r = Runner::new(m, &mut s).unwrap();
    let mut head = H::new(m).unwrap();
    let mut store = S::new();
    let w = head.enrol("weather").unwrap();
    let v = head.enrol("volume").unwrap();
    for p in &WEATHER[..5] {
        store.collect(&mut r, &head, p, w).unwrap();
    }
    for p in &VOLUME[..5] {
        store.collect(&mut r, &head, p, v).unwrap();
    }
    head.imprint_all(&store);
    let a = (head.rows().clone(), store.clone());
    for (p, y) in PRETRAIN.iter().step_by(4) {
        store.collect(&mut r, &head, p, *y).unwrap();
    }
    let mut ws = Box::new(Workspace::<NEW, F64, N, 2>::new());
    let cfg = config(Optimizer::ADAM, Validation::Holdout { every: 3 });
    Trainer::new(&mut head, &store, &mut ws, cfg)
        .unwrap()
        .train()
        .unwrap();
    let b = (head.rows().clone(), store.clone());
    let x = head.enrol("alarm clock").unwrap();
    store
        .collect(&mut r, &head, "wake me up at seven", x)
        .unwrap();
    head.imprint_all(&store);
    let c = (head.rows().clone(), store.clone());
    assert!(a != b && b != c && a != c);
    [a, b, c]
}

fn save(flash: SimFlash, m: &Model<'_>, st: &State) -> (SimFlash, Result<u32, AdaptError>) {
    let mut j = Journal::open(flash, 0, 2 * SLOT as u32).unwrap();
    let mut head = H::new(m).unwrap();
    head.set_rows(st.0.clone()).unwrap();
    let res = j.save(&head, &st.1);
    (j.into_inner(), res)
}

/// What a rebooted device loads: `None` if nothing.
fn load(flash: &SimFlash, m: &Model<'_>) -> Option<State> {
    let mut j = Journal::open(flash.reboot(), 0, 2 * SLOT as u32).unwrap();
    let mut head = H::new(m).unwrap();
    let mut store = S::new();
    match j.load(&mut head, &mut store) {
        Ok(_) => Some((head.rows().clone(), store)),
        Err(AdaptError::NoSavedState) => None,
        Err(e) => panic!("load failed: {e:?}"),
    }
}

fn model_blob() -> Vec<u8> {
    pretrained(&build_static(64, 48, 0x5eed_0005).unwrap())
}

#[test]
fn save_then_load_round_trips_exactly() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    assert_eq!(m.feature_dim(), 48);
    let [a, b, c] = states(&m);
    let mut flash = SimFlash::<ES>::new(2 * SLOT);
    assert_eq!(load(&flash, &m), None);
    for (i, st) in [&a, &b, &c, &a].into_iter().enumerate() {
        let (f, seq) = save(flash, &m, st);
        flash = f;
        assert_eq!(seq, Ok(i as u32 + 1));
        assert_eq!(load(&flash, &m).as_ref(), Some(st));
    }
}

/// Cuts power at every step of a save — torn and clean — in three situations: the first
/// save on a blank chip, a save over one state, and a save over two states (erasing the
/// older). After each cut a rebooted device loads exactly the previous state (or nothing),
/// except after the final step, when it loads the new one; and the next save succeeds.
#[test]
fn a_power_cut_at_any_step_leaves_the_previous_or_the_new_state() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let [a, b, c] = states(&m);
    let blank = SimFlash::<ES>::new(2 * SLOT);
    let (one, _) = save(blank.clone(), &m, &a);
    let (two, _) = save(one.clone(), &m, &b);
    let mut cut_points = 0;
    for (before, prev, next) in [
        (&blank, None, &a),
        (&one, Some(&a), &b),
        (&two, Some(&b), &c),
    ] {
        // Steps of an uninterrupted save.
        let (probe, res) = save(before.reboot(), &m, next);
        res.unwrap();
        let total = probe.steps();
        eprintln!(
            "save of {} examples: {total} write/erase steps",
            next.1.len()
        );
        assert!(total > 100, "{total}");
        for cut in 0..=total {
            for clean in [false, true] {
                let mut f = before.reboot();
                f.cut_after(cut, clean);
                let (f, res) = save(f, &m, next);
                let loaded = load(&f, &m);
                if cut == total {
                    assert!(res.is_ok());
                    assert_eq!(loaded.as_ref(), Some(next), "cut {cut}");
                } else {
                    assert_eq!(res, Err(AdaptError::Storage));
                    assert_eq!(loaded.as_ref(), prev, "cut {cut} of {total}, clean {clean}");
                }
                cut_points += 1;
                // The device recovers: the next save after the reboot lands.
                if cut % 97 == 0 {
                    let (f, res) = save(f.reboot(), &m, next);
                    res.unwrap();
                    assert_eq!(load(&f, &m).as_ref(), Some(next));
                }
            }
        }
    }
    eprintln!("{cut_points} power-cut points exercised");
    assert!(cut_points > 600);
}

#[test]
fn a_corrupted_latest_slot_falls_back_to_the_previous_state() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let [a, b, _] = states(&m);
    let (f, _) = save(SimFlash::<ES>::new(2 * SLOT), &m, &a);
    let (mut f, _) = save(f, &m, &b);
    // b is in slot 1; flip one payload bit (a bit decay or a stray write).
    f.image_mut()[SLOT + 100] ^= 0x10;
    assert_eq!(load(&f, &m).as_ref(), Some(&a));
    // Only garbage: nothing loads, nothing panics.
    f.image_mut()[40] ^= 0x01;
    assert_eq!(load(&f, &m), None);
}

#[test]
fn incompatible_or_oversized_states_and_bad_regions_are_refused() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let [a, b, _] = states(&m);
    let (f, _) = save(SimFlash::<ES>::new(2 * SLOT), &m, &a);
    // Another model (same feature length, other head): Incompatible, head untouched.
    let other_blob = pretrained(&build_static(64, 48, 0x5eed_0006).unwrap());
    let mut other_steps = HostSteps::new();
    let other = Model::load(&other_blob, &mut other_steps).unwrap();
    let mut j = Journal::open(f.reboot(), 0, 2 * SLOT as u32).unwrap();
    let mut head = H::new(&other).unwrap();
    head.enrol("mine").unwrap();
    let mut store = S::new();
    store.add(0, &[0.5; 48]).unwrap();
    let (rows, kept) = (head.rows().clone(), store.clone());
    assert_eq!(j.load(&mut head, &mut store), Err(AdaptError::Incompatible));
    assert_eq!((head.rows(), &store), (&rows, &kept));
    // A smaller store capacity than the saved examples: Incompatible.
    let mut small = Store::<4, F64>::new();
    let mut head = H::new(&m).unwrap();
    assert_eq!(j.load(&mut head, &mut small), Err(AdaptError::Incompatible));
    // A state too large for the slot is refused before anything is erased.
    let tiny = 2 * 2 * ES as u32;
    let (f, res) = {
        let mut j = Journal::open(f.reboot(), 0, tiny).unwrap();
        let mut head = H::new(&m).unwrap();
        head.set_rows(b.0.clone()).unwrap();
        let res = j.save(&head, &b.1);
        (j.into_inner(), res)
    };
    let slot = tiny / 2 - 16;
    assert!(
        matches!(res, Err(AdaptError::StateTooLarge { bytes, slot: s }) if bytes > s && s == slot),
        "{res:?}"
    );
    assert_eq!(load(&f, &m).as_ref(), Some(&a));
    // Misaligned, too small or out-of-chip regions.
    for (base, len) in [(1, 2 * SLOT as u32), (0, ES as u32), (0, 4 * SLOT as u32)] {
        assert_eq!(
            Journal::open(SimFlash::<ES>::new(2 * SLOT), base, len).err(),
            Some(AdaptError::Storage)
        );
    }
    // The tiny test model's state never loads into a head of this one.
    let tm_blob = tiny_model().unwrap();
    let mut tm_steps = HostSteps::new();
    let tm = Model::load(&tm_blob, &mut tm_steps).unwrap();
    let mut j = Journal::open(f.reboot(), 0, 2 * SLOT as u32).unwrap();
    let mut head = Head::<NEW, F64>::new(&tm).unwrap();
    assert_eq!(
        j.load(&mut head, &mut S::new()),
        Err(AdaptError::Incompatible)
    );
}

#[test]
fn a_region_sized_by_max_state_bytes_holds_a_full_state() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    // Every class enrolled with the longest name, every example slot taken, and features
    // whose f16 bits need the longest varints (negative values).
    let mut head = H::new(&m).unwrap();
    let mut store = S::new();
    for k in 0..NEW {
        let name = format!("{k:x}{}", "n".repeat(hone::adapt::LABEL_LEN - 1));
        head.enrol(&name).unwrap();
    }
    let d = head.dim();
    for i in 0..N {
        let h: Vec<f32> = (0..d).map(|j| -1.5 - (i * d + j) as f32 * 1e-3).collect();
        store
            .add((head.old_classes() + i % NEW) as u16, &h)
            .unwrap();
    }
    head.imprint_all(&store);
    let bound = max_state_bytes(NEW, d, N).unwrap();
    let region = Journal::<SimFlash>::region_len(bound).unwrap();
    assert!(region.is_multiple_of(2 * ES as u32));
    let mut j = Journal::open(SimFlash::<ES>::new(region as usize), 0, region).unwrap();
    assert!(j.capacity() >= bound);
    assert_eq!(j.save(&head, &store), Ok(1));
    let mut back = (H::new(&m).unwrap(), S::new());
    assert_eq!(j.load(&mut back.0, &mut back.1), Ok(1));
    assert_eq!((back.0.rows(), &back.1), (head.rows(), &store));
    // The bound is an upper bound, and not a loose one.
    let mut j = Journal::open(SimFlash::<ES>::new(4 * ES), 0, 4 * ES as u32).unwrap();
    let Err(AdaptError::StateTooLarge { bytes, slot }) = j.save(&head, &store) else {
        panic!("a full state fits {} bytes", j.capacity());
    };
    assert_eq!(slot, j.capacity());
    assert!(
        bytes <= bound && bytes > bound - bound / 8,
        "{bytes} vs {bound}"
    );
    // Overflowing capacities are reported, not wrapped.
    assert_eq!(max_state_bytes(usize::MAX / 2, 384, 1), None);
    assert_eq!(Journal::<SimFlash>::region_len(u32::MAX), None);
}

/// The journal's payload records, as `hone::adapt::persist` writes them (same variants in the
/// same order), for crafting states that only a damaged or hostile flash holds.
#[derive(serde::Serialize)]
enum WireRec<'a> {
    Meta {
        format: u16,
        fingerprint: u32,
        dim: u16,
        new: u16,
        examples: u16,
    },
    Class {
        name: &'a str,
        bias: f32,
        prior_bias: f32,
    },
    Row([f32; 32]),
    Anchor([u16; 32]),
    Example {
        label: u16,
    },
    Feat([u16; 32]),
    End,
}

/// A chip whose slot 0 holds `payload` as state 1 with a correct header and checksum.
fn flash_with_payload(payload: &[u8]) -> SimFlash {
    let mut f = SimFlash::new(2 * SLOT);
    let (seq, len) = (1u32, payload.len() as u32);
    let mut d = hone::format::CRC32.digest();
    d.update(&seq.to_le_bytes());
    d.update(&len.to_le_bytes());
    d.update(payload);
    f.image_mut()[..4].copy_from_slice(&hone::adapt::persist::MAGIC);
    f.image_mut()[4..8].copy_from_slice(&seq.to_le_bytes());
    f.image_mut()[8..12].copy_from_slice(&len.to_le_bytes());
    f.image_mut()[12..16].copy_from_slice(&d.finalize().to_le_bytes());
    f.image_mut()[16..16 + payload.len()].copy_from_slice(payload);
    f
}

/// A payload of length-prefixed records.
fn payload(recs: &[WireRec<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        let b = postcard::to_allocvec(r).unwrap();
        out.extend_from_slice(&(b.len() as u16).to_le_bytes());
        out.extend_from_slice(&b);
    }
    out
}

/// One enrolled class (`name`, a 48-feature row from `row`, prior `prior`) and one example of
/// it with features `feat`, for `m` (whose head has 4 classes).
fn one_class_state(m: &Model<'_>, name: &str, row: f32, prior: u16, feat: u16) -> Vec<u8> {
    let head = H::new(m).unwrap();
    let fp = hone::adapt::persist::fingerprint(&head);
    let mut recs = vec![
        WireRec::Meta {
            format: hone::adapt::persist::FORMAT,
            fingerprint: fp,
            dim: 48,
            new: 1,
            examples: 1,
        },
        WireRec::Class {
            name,
            bias: 0.5,
            prior_bias: 0.5,
        },
    ];
    for _ in 0..2 {
        recs.push(WireRec::Row([row; 32]));
        recs.push(WireRec::Anchor([prior; 32]));
    }
    recs.push(WireRec::Example { label: 4 });
    recs.push(WireRec::Feat([feat; 32]));
    recs.push(WireRec::Feat([feat; 32]));
    recs.push(WireRec::End);
    payload(&recs)
}

fn load_crafted<'m, 'a>(f: SimFlash, m: &'m Model<'a>) -> (Result<u32, AdaptError>, H<'m, 'a>, S) {
    let mut j = Journal::open(f, 0, 2 * SLOT as u32).unwrap();
    assert_eq!(j.seq(), Some(1), "the crafted slot is intact");
    let mut head = H::new(m).unwrap();
    let mut store = S::new();
    let res = j.load(&mut head, &mut store);
    (res, head, store)
}

/// Fuzzing (fuzz/, target `journal`) found a slot with a correct checksum but a payload cut
/// short reported as `NoSavedState` although `seq()` said a state exists. It is `Storage`.
#[test]
fn fuzz_regression_a_payload_cut_short_is_storage_not_no_saved_state() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let full = one_class_state(&m, "weather", 0.25, 0x3400, 0x3400);
    let (res, head, store) = load_crafted(flash_with_payload(&full), &m);
    assert_eq!(res, Ok(1));
    assert_eq!((head.num_new(), store.len()), (1, 1));
    for cut in [0, 1, 2, 5, full.len() / 2, full.len() - 1] {
        let (res, head, store) = load_crafted(flash_with_payload(&full[..cut]), &m);
        assert_eq!(res, Err(AdaptError::Storage), "cut at {cut}");
        assert_eq!((head.num_new(), store.len()), (0, 0), "cut at {cut}");
    }
}

/// Fuzzing (fuzz/, target `journal`) found that a state with a correct checksum loaded
/// non-finite rows (and, likewise, non-finite priors and features, and an empty class name):
/// values the adaptation API never produces and training would spread. They are `Storage`,
/// with the head and store cleared.
#[test]
fn fuzz_regression_non_finite_values_and_empty_names_are_refused() {
    let blob = model_blob();
    let mut steps = HostSteps::new();
    let m = Model::load(&blob, &mut steps).unwrap();
    let (f16_inf, f16_nan, f16_quarter) = (0x7c00u16, 0x7e00u16, 0x3400u16);
    let bad = [
        one_class_state(&m, "weather", f32::NAN, f16_quarter, f16_quarter),
        one_class_state(&m, "weather", f32::INFINITY, f16_quarter, f16_quarter),
        one_class_state(&m, "weather", 0.25, f16_inf, f16_quarter),
        one_class_state(&m, "weather", 0.25, f16_quarter, f16_nan),
        one_class_state(&m, "", 0.25, f16_quarter, f16_quarter),
    ];
    for (i, p) in bad.iter().enumerate() {
        let (res, head, store) = load_crafted(flash_with_payload(p), &m);
        assert_eq!(res, Err(AdaptError::Storage), "case {i}");
        assert_eq!((head.num_new(), store.len()), (0, 0), "case {i}");
    }
}
