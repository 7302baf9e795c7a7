//! No-std canary: uses the MConnection with no allocator, no std, and no
//! runtime. If anything in the core pulls in `std` or `alloc`, this fails to
//! build (there is no global allocator to link against).
#![no_std]
#![no_main]

use core::panic::PanicInfo;

use mconn::conn::{ChannelConfig, Config, MConnection};
use mconn::Instant;

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    loop {}
}

const CHANNELS: [ChannelConfig; 2] = [
    ChannelConfig::new(0x20, 10).recv_message_capacity(512).send_buffer(2048).recv_buffer(2048),
    ChannelConfig::new(0x30, 1).recv_message_capacity(512).send_buffer(2048).recv_buffer(2048),
];

/// Sends two messages from `a` to `b` through caller-owned buffers and checks
/// they arrive; returns the number of bytes that crossed the "wire".
fn exchange() -> Option<usize> {
    let now = Instant::ZERO;
    let mut storage_a = [0u8; 8192];
    let mut storage_b = [0u8; 8192];
    let config = Config::cometbft();
    let mut a = MConnection::in_arena(&config, &CHANNELS, now, &mut storage_a).ok()?;
    let mut b = MConnection::in_arena(&config, &CHANNELS, now, &mut storage_b).ok()?;
    a.try_send(0x30, &[7u8; 300]).ok()?;
    a.try_send(0x20, b"urgent").ok()?;
    let mut wire = [0u8; 512];
    let mut total = 0;
    let mut got = 0;
    for _ in 0..16 {
        let n = a.poll_transmit(now, &mut wire);
        if n == 0 {
            break;
        }
        total += n;
        let used = b.handle_input(now, &wire[..n]).ok()?;
        if used != n {
            return None;
        }
        while let Some((ch, msg)) = b.poll_message() {
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
    }
    (got == 2).then_some(total)
}

#[no_mangle]
pub extern "C" fn _start() -> ! {
    let result = core::hint::black_box(exchange());
    if result.is_none() {
        panic!("exchange failed");
    }
    loop {}
}
