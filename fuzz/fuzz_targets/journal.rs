//! Adaptation journal: arbitrary flash contents, then open, load, change, save and reload.
//!
//! Input: a flags byte, [`EXTRA`] bytes of material for a class to enrol, then the flash
//! image of the journal's 4 KiB region (two 2 KiB slots; padded with erased bytes). Flags:
//! bits 0–1 recompute slot 0's / slot 1's CRC from its header and payload (so that
//! mutations reach the record decoder), bit 2 picks the flash geometry (read/program/erase
//! units 1/4/256 or 4/8/512 bytes), bit 3 small capacities (1 new class, 2 examples) instead
//! of 3 and 8.
//!
//! Loading must give a typed error or a valid state: `NoSavedState` only when no slot is
//! intact, `Incompatible` leaving the head and store untouched, `Storage` leaving them untouched or
//! cleared (never a partial state);
//! a loaded state names distinct, non-empty new classes that are not pre-trained ones, and
//! holds finite values and in-range labels. Then a class is enrolled and an example added
//! from the material, the state is saved, and a rebooted device loads exactly that state.
#![no_main]

use std::sync::OnceLock;

use hone::adapt::persist::Journal;
use hone::adapt::{AdaptError, Head, Store, LABEL_LEN};
use hone::Model;
use hone_build::HostSteps;
use hone_fuzz::{fix_slot_crc, SimFlash, EXTRA, FLASH_BYTES, JOURNAL_DIM};
use libfuzzer_sys::fuzz_target;

const F: usize = 64;
const SLOT: usize = FLASH_BYTES / 2;

fn model() -> &'static Model<'static> {
    static M: OnceLock<Model<'static>> = OnceLock::new();
    M.get_or_init(|| {
        let steps = Box::leak(Box::new(HostSteps::new()));
        let m = Model::load(hone_fuzz::journal_model(), steps).expect("journal model loads");
        assert_eq!(m.feature_dim(), JOURNAL_DIM);
        m
    })
}

/// The bits of a head's enrolled rows and a store's examples, for exact comparisons (NaN
/// included).
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    names: Vec<String>,
    rows: Vec<(Vec<u32>, u32, Vec<u16>, u32)>,
    examples: Vec<(u16, Vec<u16>)>,
}

fn snapshot<const NEW: usize, const N: usize>(
    head: &Head<'_, '_, NEW, F>,
    store: &Store<N, F>,
) -> Snapshot {
    let old = head.old_classes();
    Snapshot {
        names: (0..head.num_new())
            .map(|k| {
                head.label(old + k)
                    .expect("enrolled class has a name")
                    .to_string()
            })
            .collect(),
        rows: (0..head.num_new())
            .map(|k| {
                let (w, b, a) = head.new_row(k).expect("row exists");
                (
                    w.iter().map(|x| x.to_bits()).collect(),
                    b.to_bits(),
                    a.iter().map(|x| x.to_bits()).collect(),
                    head.prior_bias(k).expect("row exists").to_bits(),
                )
            })
            .collect(),
        examples: store
            .iter()
            .map(|e| (e.label, e.feat.iter().map(|x| x.to_bits()).collect()))
            .collect(),
    }
}

/// What the adaptation API can produce: the loader must not accept anything else.
fn assert_valid<const NEW: usize, const N: usize>(
    head: &Head<'_, '_, NEW, F>,
    store: &Store<N, F>,
) {
    let old = head.old_classes();
    let m = head.classifier();
    for k in 0..head.num_new() {
        let name = head.label(old + k).expect("enrolled class has a name");
        assert!(!name.is_empty() && name.len() <= LABEL_LEN, "name {name:?}");
        assert_eq!(head.find(name), Some(old + k), "duplicate name {name:?}");
        assert!((0..m.num_classes()).all(|c| m.labels().get(c) != Some(name)));
        let (w, b, a) = head.new_row(k).expect("row exists");
        assert!(w.iter().all(|x| x.is_finite()), "row {k} not finite");
        assert!(b.is_finite(), "bias {k} not finite");
        assert!(a.iter().all(|x| x.is_finite()), "prior row {k} not finite");
        assert!(head.prior_bias(k).is_some_and(f32::is_finite));
    }
    for e in store.iter() {
        assert!(usize::from(e.label) < head.num_classes());
        assert!(e.feat.iter().all(|x| x.is_finite()), "features not finite");
        assert!(e.feat[head.dim()..].iter().all(|x| x.to_bits() == 0));
    }
}

/// A class name, a label choice and features from the input's material.
fn enrol_from<const NEW: usize, const N: usize>(
    extra: &[u8; EXTRA],
    head: &mut Head<'_, '_, NEW, F>,
    store: &mut Store<N, F>,
) {
    let len = usize::from(extra[0]) % (LABEL_LEN + 1);
    let name = String::from_utf8_lossy(&extra[1..1 + len.min(EXTRA - 5)]);
    let _ = head.enrol(&name);
    let mut x = u32::from_le_bytes([extra[EXTRA - 4], extra[EXTRA - 3], extra[EXTRA - 2], 1]);
    let h: Vec<f32> = (0..head.dim())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
        })
        .collect();
    let label = usize::from(extra[EXTRA - 1]) % head.num_classes();
    store
        .add(label as u16, &h)
        .expect("finite features of the model's length");
}

fn exercise<const R: usize, const W: usize, const E: usize, const NEW: usize, const N: usize>(
    image: &[u8],
    extra: &[u8; EXTRA],
) {
    let m = model();
    let flash = SimFlash::<R, W, E>::with_image(image, FLASH_BYTES);
    let mut j = Journal::open(flash, 0, FLASH_BYTES as u32).expect("the region is valid");
    let mut head = Head::<NEW, F>::new(m).expect("head fits");
    let mut store = Store::<N, F>::new();
    // Something to keep (or clear) on failure.
    head.enrol("before").expect("room for a class");
    store.add(0, &[0.25; JOURNAL_DIM]).expect("valid example");
    let before = snapshot(&head, &store);
    match j.load(&mut head, &mut store) {
        Ok(seq) => {
            assert_eq!(j.seq(), Some(seq));
            assert_valid(&head, &store);
        }
        Err(AdaptError::NoSavedState) => {
            assert_eq!(j.seq(), None, "a state exists but load says there is none");
            assert_eq!(snapshot(&head, &store), before);
        }
        Err(AdaptError::Incompatible) => assert_eq!(snapshot(&head, &store), before),
        // Refused before anything was applied, or cleared: never a partial state.
        Err(AdaptError::Storage) => {
            let cleared = head.num_new() == 0 && store.is_empty();
            assert!(
                cleared || snapshot(&head, &store) == before,
                "partial state"
            );
        }
        Err(e) => panic!("unexpected load error {e:?}"),
    }
    enrol_from(extra, &mut head, &mut store);
    let saved = snapshot(&head, &store);
    let prev = j.seq();
    let res = j.save(&head, &store);
    let flash = j.into_inner();
    // A rebooted device.
    let mut j = Journal::open(flash, 0, FLASH_BYTES as u32).expect("the region is valid");
    match res {
        Ok(seq) => {
            assert_eq!(j.seq(), Some(seq));
            let mut h2 = Head::<NEW, F>::new(m).expect("head fits");
            let mut s2 = Store::<N, F>::new();
            assert_eq!(j.load(&mut h2, &mut s2), Ok(seq));
            assert_eq!(snapshot(&h2, &s2), saved);
        }
        // Only a state larger than a slot is refused, before anything is written.
        Err(AdaptError::StateTooLarge { bytes, slot }) => {
            assert!(bytes > slot);
            assert_eq!(j.seq(), prev);
        }
        Err(e) => panic!("unexpected save error {e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut extra = [0u8; EXTRA];
    let n = rest.len().min(EXTRA);
    extra[..n].copy_from_slice(&rest[..n]);
    let mut image = vec![0xFF; FLASH_BYTES];
    let img = &rest[n..];
    let k = img.len().min(FLASH_BYTES);
    image[..k].copy_from_slice(&img[..k]);
    for slot in 0..2 {
        if flags & (1 << slot) != 0 {
            fix_slot_crc(&mut image, slot * SLOT, SLOT);
        }
    }
    match (flags >> 2) & 3 {
        0 => exercise::<1, 4, 256, 3, 8>(&image, &extra),
        1 => exercise::<4, 8, 512, 3, 8>(&image, &extra),
        2 => exercise::<1, 4, 256, 1, 2>(&image, &extra),
        _ => exercise::<4, 8, 512, 1, 2>(&image, &extra),
    }
});
