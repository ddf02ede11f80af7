//! Golden checks: recompute every vector of the embedded golden file on the device and
//! compare with the host's result bit for bit (`hone_golden::check_*`).
//!
//! One line per vector: `golden <i>: <kind> … PASS (<n> <unit>)` or `golden <i>: … FAIL <first
//! difference>`.

use core::iter::Peekable;

use hone::Runner;
use hone_golden::{Golden, Mismatch, Vector};

#[cfg(hone_fw_adapt)]
use crate::adapt::{self, EvalExpect, Session, TrainExpect};
use crate::figures::Figures;
use crate::flash::{Backend, Storage};
use crate::measure::{Clock, Meter};

/// Largest matvec output a golden vector may ask for (the accumulators live on the stack).
pub const MAX_ROWS: usize = 512;

/// Why the golden file could not be checked at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum Error {
    /// The golden file is unreadable.
    Golden(hone_golden::Error),
    /// The vectors were computed with another model than the embedded one.
    ModelCrc {
        /// CRC recorded in the golden file.
        expected: u32,
        /// CRC of the embedded model.
        actual: u32,
    },
}

/// Outcome of a golden run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Vectors that matched.
    pub passed: u32,
    /// Vectors that did not match (or could not be run).
    pub failed: u32,
    /// Multiply-accumulates done by matvec vectors.
    pub matvec_macs: u64,
    /// Work measured for those matvec vectors (in the meter's unit).
    pub matvec_work: u64,
    /// Classification vectors run.
    pub classified: u32,
    /// Total work of `Runner::classify` over them.
    pub classify_work: u64,
    /// Most work of one `Runner::classify`.
    pub classify_work_max: u64,
    /// Most tokens of one prompt.
    pub max_tokens: usize,
    /// Adaptation figures.
    pub adapt: Figures,
}

/// Checks every vector of `golden` against `model` (the blob `runner` executes), printing a
/// line per vector; adaptation vectors persist through `storage`. Model vectors fail when
/// there is no runner.
pub fn run<C: Clock, B: Backend>(
    golden: &[u8],
    model: &[u8],
    mut runner: Option<&mut Runner<'_, '_, '_>>,
    storage: &mut Storage<B>,
    meter: &mut Meter<C>,
) -> Result<Summary, Error> {
    let g = Golden::parse(golden).map_err(Error::Golden)?;
    if g.header.model_crc != 0 {
        let actual = hone_golden::model_crc(model);
        if actual != g.header.model_crc {
            return Err(Error::ModelCrc {
                expected: g.header.model_crc,
                actual,
            });
        }
    }
    let mut s = Summary::default();
    let mut it = g.vectors().enumerate().peekable();
    while let Some((i, v)) = it.next() {
        let v = v.map_err(Error::Golden)?;
        if is_adapt(&v) {
            match runner.as_deref_mut() {
                Some(r) => adapt_section((i, v), &mut it, r, storage, meter, &mut s)?,
                None => {
                    defmt::error!("golden {=usize}: adapt FAIL no model embedded", i);
                    s.failed += 1;
                }
            }
            continue;
        }
        let ok = match v {
            Vector::Matvec { x, w, acc } => matvec(i, x, w, acc, meter, &mut s),
            Vector::Classify {
                prompt,
                tokens,
                features,
                log_probs,
                label,
            } => match runner.as_deref_mut() {
                Some(r) => {
                    let expected = Expected {
                        tokens,
                        features,
                        log_probs,
                        label,
                    };
                    classify(i, prompt, &expected, r, meter, &mut s)
                }
                None => {
                    defmt::error!("golden {=usize}: classify FAIL no model embedded", i);
                    false
                }
            },
            _ => {
                defmt::error!("golden {=usize}: FAIL unsupported vector kind", i);
                false
            }
        };
        if ok {
            s.passed += 1;
        } else {
            s.failed += 1;
        }
    }
    Ok(s)
}

fn matvec<C: Clock>(
    i: usize,
    x: &[u8],
    w: &[u8],
    expected: &[u8],
    meter: &mut Meter<C>,
    s: &mut Summary,
) -> bool {
    let (rows, cols) = (expected.len() / 4, x.len());
    if rows > MAX_ROWS
        || rows.checked_mul(cols) != Some(w.len())
        || !expected.len().is_multiple_of(4)
    {
        defmt::error!(
            "golden {=usize}: matvec FAIL malformed vector ({=usize} rows, {=usize} cols, {=usize} weights)",
            i, rows, cols, w.len()
        );
        return false;
    }
    let mut acc = [0i32; MAX_ROWS];
    let acc = &mut acc[..rows];
    let x: &[i8] = bytemuck::cast_slice(x);
    let w: &[i8] = bytemuck::cast_slice(w);
    let ((), work) = meter.measure(|| hone::kernels::matvec_i8(x, w, acc));
    match hone_golden::check_i32(expected, acc) {
        Ok(()) => {
            let macs = (rows * cols) as u64;
            s.matvec_macs += macs;
            s.matvec_work += work;
            defmt::info!(
                "golden {=usize}: matvec {=usize}x{=usize} PASS ({=u64} {=str})",
                i,
                rows,
                cols,
                work,
                meter.unit().name()
            );
            true
        }
        Err(m) => {
            defmt::error!(
                "golden {=usize}: matvec {=usize}x{=usize} FAIL {}",
                i,
                rows,
                cols,
                m
            );
            false
        }
    }
}

/// Expected outputs of a classification vector.
struct Expected<'a> {
    tokens: &'a [u8],
    features: &'a [u8],
    log_probs: &'a [u8],
    label: u32,
}

fn classify<C: Clock>(
    i: usize,
    prompt: &str,
    e: &Expected<'_>,
    runner: &mut Runner<'_, '_, '_>,
    meter: &mut Meter<C>,
    s: &mut Summary,
) -> bool {
    let features = hone_golden::check_f32(e.features, runner.features(prompt));
    let ids = runner.tokens();
    let n_tokens = ids.len();
    let tokens = hone_golden::check_u32(e.tokens, ids.iter().map(|&t| u32::from(t)));
    let (p, work) = meter.measure(|| runner.classify(prompt));
    let log_probs = hone_golden::check_f32(e.log_probs, p.log_probs);
    let label_ok = u32::try_from(p.label) == Ok(e.label);
    let failure: Option<(&str, Option<Mismatch>)> = match (tokens, features, log_probs) {
        (Err(m), _, _) => Some(("tokens", Some(m))),
        (_, Err(m), _) => Some(("features", Some(m))),
        (_, _, Err(m)) => Some(("log_probs", Some(m))),
        _ if !label_ok => Some(("label", None)),
        _ => None,
    };
    match failure {
        None => {
            s.classified += 1;
            s.classify_work += work;
            s.classify_work_max = s.classify_work_max.max(work);
            s.max_tokens = s.max_tokens.max(n_tokens);
            defmt::info!(
                "golden {=usize}: classify {=str:?} -> {=str} PASS ({=usize} tokens, {=u64} {=str})",
                i,
                prompt,
                p.name,
                n_tokens,
                work,
                meter.unit().name()
            );
            true
        }
        Some((what, Some(m))) => {
            defmt::error!(
                "golden {=usize}: classify {=str:?} FAIL {=str} {}",
                i,
                prompt,
                what,
                m
            );
            false
        }
        Some((what, None)) => {
            defmt::error!(
                "golden {=usize}: classify {=str:?} FAIL {=str} {=usize}, expected {=u32}",
                i,
                prompt,
                what,
                p.label,
                e.label
            );
            false
        }
    }
}

fn is_adapt(v: &Vector<'_>) -> bool {
    matches!(
        v,
        Vector::Enrol { .. } | Vector::Train { .. } | Vector::Evaluate { .. } | Vector::Persist
    )
}

/// Runs a run of consecutive adaptation vectors (`first` and those following it) on one
/// session, whose store and workspace are the static [`adapt::ram`] (one session per run).
#[cfg(hone_fw_adapt)]
fn adapt_section<'g, C: Clock, B: Backend>(
    first: (usize, Vector<'g>),
    rest: &mut Peekable<impl Iterator<Item = (usize, Result<Vector<'g>, hone_golden::Error>)>>,
    runner: &mut Runner<'_, '_, '_>,
    storage: &mut Storage<B>,
    meter: &mut Meter<C>,
    s: &mut Summary,
) -> Result<(), Error> {
    let session = match adapt::ram() {
        Some(ram) => Session::new(runner.model(), ram),
        None => Err(hone::adapt::AdaptError::Storage),
    };
    let mut session = match session {
        Ok(session) => session,
        Err(e) => {
            defmt::error!("golden {=usize}: adapt FAIL {}", first.0, e);
            s.failed += 1;
            return Ok(());
        }
    };
    let mut next = Some(first);
    while let Some((i, v)) = next {
        let ok = adapt_step(i, &v, runner, &mut session, storage, meter, &mut s.adapt);
        if ok {
            s.passed += 1;
        } else {
            s.failed += 1;
        }
        next = match rest.next_if(|(_, v)| v.as_ref().is_ok_and(is_adapt)) {
            Some((i, v)) => Some((i, v.map_err(Error::Golden)?)),
            None => None,
        };
    }
    Ok(())
}

/// Without adaptation (`thumbv6m`: no room for its state): every adaptation vector fails.
#[cfg(not(hone_fw_adapt))]
fn adapt_section<'g, C: Clock, B: Backend>(
    first: (usize, Vector<'g>),
    rest: &mut Peekable<impl Iterator<Item = (usize, Result<Vector<'g>, hone_golden::Error>)>>,
    _runner: &mut Runner<'_, '_, '_>,
    _storage: &mut Storage<B>,
    _meter: &mut Meter<C>,
    s: &mut Summary,
) -> Result<(), Error> {
    defmt::error!(
        "golden {=usize}: adapt FAIL adaptation not built for this target",
        first.0
    );
    s.failed += 1;
    while let Some((i, _)) = rest.next_if(|(_, v)| v.as_ref().is_ok_and(is_adapt)) {
        defmt::error!("golden {=usize}: adapt FAIL", i);
        s.failed += 1;
    }
    Ok(())
}

/// Runs one adaptation vector.
#[cfg(hone_fw_adapt)]
fn adapt_step<C: Clock, B: Backend>(
    i: usize,
    v: &Vector<'_>,
    runner: &mut Runner<'_, '_, '_>,
    session: &mut Session<'_, '_, '_>,
    storage: &mut Storage<B>,
    meter: &mut Meter<C>,
    f: &mut Figures,
) -> bool {
    match *v {
        Vector::Enrol {
            prompt,
            label,
            class,
        } => adapt::enrol(i, session, runner, (prompt, label, class), meter, f),
        Vector::Train {
            epochs,
            seed,
            steps,
            best_epoch,
            val_before,
            val_after,
            rolled_back,
        } => {
            let e = TrainExpect {
                epochs,
                seed,
                steps,
                best_epoch,
                val_before,
                val_after,
                rolled_back,
            };
            adapt::train(i, session, &e, meter, f)
        }
        Vector::Evaluate {
            prompt,
            truth,
            before,
            after,
            log_probs,
        } => {
            let e = EvalExpect {
                truth,
                before,
                after,
                log_probs,
            };
            adapt::evaluate(i, session, runner, prompt, &e, f)
        }
        Vector::Persist => adapt::persist(i, session, storage, meter, f),
        _ => false,
    }
}
