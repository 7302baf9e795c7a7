//! What both canary binaries share: the channels, an in-memory wire
//! between two endpoints, the delivery check, a panic handler that fails
//! the run, the exit through semihosting, and a stack high-water probe.
#![no_std]

use core::panic::PanicInfo;

use mconn::conn::{ByteBuf, ChannelConfig, MConnection};
use mconn::session::Session;
use mconn::Instant;

use cortex_m_semihosting::{debug, hprintln};

/// Both binaries' channels: urgent 0x20 (priority 10) and bulk 0x30.
pub const CHANNELS: [ChannelConfig; 2] = [
    ChannelConfig::new(0x20, 10)
        .recv_message_capacity(512)
        .send_buffer(2048)
        .recv_buffer(2048),
    ChannelConfig::new(0x30, 1)
        .recv_message_capacity(512)
        .send_buffer(2048)
        .recv_buffer(2048),
];

/// A sans-IO endpoint: a bare MConnection or a full Session.
pub trait Endpoint {
    /// `poll_transmit`.
    fn transmit(&mut self, now: Instant, out: &mut [u8]) -> usize;
    /// `handle_input`; `None` on error.
    fn input(&mut self, now: Instant, bytes: &[u8]) -> Option<usize>;
    /// `poll_message`.
    fn message(&mut self) -> Option<(u8, &[u8])>;
}

impl<B: ByteBuf> Endpoint for MConnection<B> {
    fn transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        self.poll_transmit(now, out)
    }
    fn input(&mut self, now: Instant, bytes: &[u8]) -> Option<usize> {
        self.handle_input(now, bytes).ok()
    }
    fn message(&mut self) -> Option<(u8, &[u8])> {
        self.poll_message()
    }
}

impl<B: ByteBuf> Endpoint for Session<B> {
    fn transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        self.poll_transmit(now, out)
    }
    fn input(&mut self, now: Instant, bytes: &[u8]) -> Option<usize> {
        self.handle_input(now, bytes).ok()
    }
    fn message(&mut self) -> Option<(u8, &[u8])> {
        self.poll_message()
    }
}

/// Moves bytes both ways through a 512-byte "wire" until both are quiet
/// (at most 64 rounds); `None` if a side refused bytes or never settled.
pub fn pump<E: Endpoint>(a: &mut E, b: &mut E, now: Instant) -> Option<()> {
    let mut wire = [0u8; 512];
    for _ in 0..64 {
        let mut moved = 0;
        for turn in 0..2 {
            let (from, to) = if turn == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            let n = from.transmit(now, &mut wire);
            if to.input(now, &wire[..n])? != n {
                return None;
            }
            moved += n;
        }
        if moved == 0 {
            return Some(());
        }
    }
    None
}

/// Takes `b`'s messages: exactly 300 bytes of 7 on 0x30 and `urgent` on
/// 0x20, intact.
pub fn received_both<E: Endpoint>(b: &mut E) -> Option<usize> {
    let mut got = 0;
    while let Some((ch, msg)) = b.message() {
        let ok = match ch {
            0x20 => msg == b"urgent",
            0x30 => msg.len() == 300 && msg.iter().all(|&x| x == 7),
            _ => false,
        };
        if !ok {
            return None;
        }
        got += 1;
    }
    (got == 2).then_some(got)
}

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
