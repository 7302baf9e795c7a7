//! What both canary binaries share: a panic handler that fails the run,
//! the exit through semihosting, and a stack high-water probe.
#![no_std]

use core::panic::PanicInfo;

use cortex_m_semihosting::{debug, hprintln};

/// Pattern written over the free stack before the work starts.
const PAINT: u32 = 0xC0DE_CAFE;

extern "C" {
    /// Lowest address the stack may reach (end of `.bss`; cortex-m-rt).
    static mut __sheap: u32;
    /// Initial stack pointer, the top of RAM (cortex-m-rt).
    static _stack_start: u32;
}

fn stack_bounds() -> (*mut u32, usize) {
    // Only the addresses of the linker symbols are taken (no unsafe needed).
    (
        core::ptr::addr_of_mut!(__sheap),
        core::ptr::addr_of!(_stack_start) as usize,
    )
}

/// Writes [`PAINT`] over the stack below the current frame (keeping 256
/// bytes of margin under the stack pointer).
#[inline(never)]
pub fn paint_stack() {
    let (bottom, _) = stack_bounds();
    let limit = (cortex_m::register::msp::read() as usize).saturating_sub(256);
    let mut p = bottom;
    while (p as usize) < limit {
        // SAFETY: `p` lies between the end of `.bss` and the live stack
        // frames: memory nothing else uses.
        unsafe {
            p.write_volatile(PAINT);
            p = p.add(1);
        }
    }
}

/// The most stack used since [`paint_stack`], in bytes (the lowest word
/// that no longer holds the pattern).
pub fn stack_used() -> usize {
    let (bottom, top) = stack_bounds();
    let mut p = bottom;
    // SAFETY: reads stay between the end of `.bss` and the stack top.
    while (p as usize) < top && unsafe { p.read_volatile() } == PAINT {
        p = unsafe { p.add(1) };
    }
    top - p as usize
}

/// Prints the outcome and ends the emulator: exit code 0 if `ok`.
pub fn finish(name: &str, ok: bool, state_bytes: usize) -> ! {
    hprintln!(
        "{}: {}; connection state {} B, peak stack {} B",
        name,
        if ok { "ok" } else { "FAILED" },
        state_bytes,
        stack_used()
    );
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    hprintln!("panic: {}", info);
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
