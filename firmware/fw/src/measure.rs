//! Deterministic work counters.
//!
//! Under QEMU with `-icount shift=N`, one guest instruction takes exactly 2^N ns of virtual
//! time, so a timer clocked at `f` Hz counts `f · 2^N / 10^9` ticks per instruction and
//! `instructions = ticks · 10^9 / (f · 2^N)` (exact to about ±1 instruction with N = 10).
//! QEMU does not model cycles (nor DWT CYCCNT): under QEMU we report instructions, never
//! cycles or time. On real hardware the DWT cycle counter reports cycles.
//!
//! Counters are read through volatile MMIO; each `unsafe` block names the register it
//! touches.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::{syst::SystClkSource, SCB, SYST};
#[cfg(not(armv6m))]
use cortex_m::peripheral::{DCB, DWT};

/// The `-icount shift` the QEMU runner uses (`firmware/qemu-run.sh`, `crates/hone-qemu`).
pub const ICOUNT_SHIFT: u32 = 10;

/// What a [`Clock`] counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug, defmt::Format)]
pub enum Unit {
    /// Guest instructions (QEMU with `-icount`).
    Instructions,
    /// CPU cycles (hardware DWT).
    Cycles,
}

impl Unit {
    /// Lower-case name used in output lines.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Instructions => "instructions",
            Unit::Cycles => "cycles",
        }
    }
}

/// A free-running counter.
pub trait Clock {
    /// What [`Clock::convert`] returns.
    const UNIT: Unit;
    /// Raw ticks since start (64-bit, extended in software).
    fn ticks(&mut self) -> u64;
    /// Converts a number of ticks into [`Clock::UNIT`].
    fn convert(&self, ticks: u64) -> u64;
}

/// A [`Clock`] with its own reading cost calibrated away.
pub struct Meter<C> {
    clock: C,
    overhead: u64,
}

impl<C: Clock> Meter<C> {
    /// Wraps `clock` and measures the cost of an empty measurement.
    pub fn new(clock: C) -> Self {
        let mut m = Self { clock, overhead: 0 };
        let ((), empty) = m.measure(|| ());
        m.overhead = empty;
        m
    }

    /// The unit of every figure this meter returns.
    pub fn unit(&self) -> Unit {
        C::UNIT
    }

    /// Cost of an empty measurement, already subtracted from [`Meter::measure`].
    pub fn overhead(&self) -> u64 {
        self.overhead
    }

    /// Runs `f` and returns its result with the work it took.
    #[inline(never)]
    pub fn measure<R>(&mut self, f: impl FnOnce() -> R) -> (R, u64) {
        let t0 = self.clock.ticks();
        let r = f();
        let t1 = self.clock.ticks();
        let n = self.clock.convert(t1.wrapping_sub(t0));
        (r, n.saturating_sub(self.overhead))
    }
}

/// Converts timer ticks to instructions under `-icount shift=ICOUNT_SHIFT` for a timer
/// clocked at `hz`: `ticks · 10^9 / (hz · 2^shift)`, rounded to nearest.
fn icount_instructions(ticks: u64, hz: u64) -> u64 {
    let den = u128::from(hz << ICOUNT_SHIFT);
    // In u128: `ticks · 10^9` overflows u64 past ~1.8·10^10 ticks (720 M instructions of a
    // 25 MHz timer), which one enrolment can exceed.
    let n = (u128::from(ticks) * 1_000_000_000 + den / 2) / den;
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// The 32-bit down-counting CMSDK APB timer 0 of the MPS2 boards (mps2-an385/an386/an500),
/// clocked at 25 MHz.
///
/// 32 bits hold 168 M instructions at `-icount shift=10`; [`Clock::ticks`] extends the count
/// in software, so a measured region must stay below that between two readings.
pub struct CmsdkTimer0 {
    last: u32,
    total: u64,
}

impl CmsdkTimer0 {
    const BASE: usize = 0x4000_0000;
    const CTRL: *mut u32 = Self::BASE as *mut u32;
    const VALUE: *mut u32 = (Self::BASE + 4) as *mut u32;
    const RELOAD: *mut u32 = (Self::BASE + 8) as *mut u32;
    const HZ: u64 = 25_000_000;

    /// Starts timer 0 free-running from `u32::MAX`.
    pub fn start() -> Self {
        // SAFETY: CTRL, VALUE and RELOAD are the documented registers of CMSDK timer 0 on the
        // MPS2 boards; nothing else in this firmware uses the timer.
        unsafe {
            Self::CTRL.write_volatile(0);
            Self::RELOAD.write_volatile(u32::MAX);
            Self::VALUE.write_volatile(u32::MAX);
            Self::CTRL.write_volatile(1);
        }
        Self {
            last: u32::MAX,
            total: 0,
        }
    }
}

impl Clock for CmsdkTimer0 {
    const UNIT: Unit = Unit::Instructions;

    #[inline(always)]
    fn ticks(&mut self) -> u64 {
        // SAFETY: a read of CMSDK timer 0's VALUE register (see `start`).
        let now = unsafe { Self::VALUE.read_volatile() };
        self.total += u64::from(self.last.wrapping_sub(now));
        self.last = now;
        self.total
    }

    fn convert(&self, ticks: u64) -> u64 {
        icount_instructions(ticks, Self::HZ)
    }
}

/// SysTick wraps counted by the SysTick exception handler ([`systick_wrapped`]).
static SYSTICK_WRAPS: AtomicU32 = AtomicU32::new(0);

/// To be called from the board's `SysTick` exception handler.
pub fn systick_wrapped() {
    // Only this handler writes the counter (thumbv6m has no atomic read-modify-write).
    let w = SYSTICK_WRAPS.load(Ordering::Relaxed);
    SYSTICK_WRAPS.store(w.wrapping_add(1), Ordering::Relaxed);
}

/// SysTick on the core clock, extended to 64 bits by counting wraps in its exception.
/// Works on every Cortex-M (used on the micro:bit, whose QEMU core clock is 16 MHz).
pub struct SysTickClock {
    hz: u64,
}

impl SysTickClock {
    const RELOAD: u32 = 0x00FF_FFFF;

    /// Starts SysTick on the core clock (`hz` under QEMU) with its wrap interrupt enabled.
    /// The board must route its `SysTick` exception to [`systick_wrapped`].
    pub fn start(mut syst: SYST, hz: u64) -> Self {
        syst.disable_counter();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(Self::RELOAD);
        syst.clear_current();
        syst.enable_interrupt();
        syst.enable_counter();
        Self { hz }
    }
}

impl Clock for SysTickClock {
    const UNIT: Unit = Unit::Instructions;

    fn ticks(&mut self) -> u64 {
        cortex_m::interrupt::free(|_| {
            let mut wraps = SYSTICK_WRAPS.load(Ordering::Relaxed);
            let mut value = SYST::get_current();
            // A wrap whose exception is still pending: read again and count it.
            if SCB::is_pendst_pending() {
                value = SYST::get_current();
                wraps = wraps.wrapping_add(1);
            }
            u64::from(wraps) * u64::from(Self::RELOAD + 1) + u64::from(Self::RELOAD - value)
        })
    }

    fn convert(&self, ticks: u64) -> u64 {
        icount_instructions(ticks, self.hz)
    }
}

/// The DWT cycle counter (real hardware; QEMU reads it as 0). Not on Cortex-M0.
#[cfg(not(armv6m))]
pub struct DwtCycles {
    last: u32,
    total: u64,
}

#[cfg(not(armv6m))]
impl DwtCycles {
    /// Enables tracing and the cycle counter.
    pub fn start(dcb: &mut DCB, dwt: &mut DWT) -> Self {
        dcb.enable_trace();
        dwt.enable_cycle_counter();
        Self {
            last: DWT::cycle_count(),
            total: 0,
        }
    }
}

#[cfg(not(armv6m))]
impl Clock for DwtCycles {
    const UNIT: Unit = Unit::Cycles;

    fn ticks(&mut self) -> u64 {
        let now = DWT::cycle_count();
        self.total += u64::from(now.wrapping_sub(self.last));
        self.last = now;
        self.total
    }

    fn convert(&self, ticks: u64) -> u64 {
        ticks
    }
}

/// Instructions executed by [`busy_loop`]`(n)`: two per iteration.
pub const fn busy_loop_instructions(n: u32) -> u64 {
    2 * n as u64
}

/// Executes exactly `2 · n` instructions (`subs` + `bne` per iteration; `n ≥ 1`), to check that
/// a [`Clock`] really counts instructions.
#[inline(always)]
pub fn busy_loop(n: u32) {
    // SAFETY: the loop only decrements a register it owns; it touches no memory or stack.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {n}, #1",
            "bne 2b",
            n = inout(reg) n.max(1) => _,
            options(nomem, nostack),
        );
    }
}
