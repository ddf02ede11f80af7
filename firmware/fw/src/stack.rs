//! Peak stack use by stack painting (`cortex-m-stack`): the free stack is filled with a
//! pattern, the work runs, and the lowest overwritten word gives the peak.
//!
//! The figure is the depth below the top of RAM (`_stack_start`), so it includes the frames
//! of the caller: it is the stack the whole program needed while the work ran.

/// Runs `f` and returns its result with the peak stack depth, in bytes, reached meanwhile.
pub fn peak<R>(f: impl FnOnce() -> R) -> (R, u32) {
    cortex_m_stack::repaint_stack();
    let r = f();
    let free = cortex_m_stack::stack_painted();
    (r, cortex_m_stack::stack_size().saturating_sub(free))
}

/// Total stack reserved by the linker script (RAM left after static data), in bytes.
pub fn reserved() -> u32 {
    cortex_m_stack::stack_size()
}
