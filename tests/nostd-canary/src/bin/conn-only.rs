//! No-std canary, MConnection alone (no SecretConnection, no NodeInfo):
//! two in-memory connections exchange messages on two channels. Its size
//! next to the full session's shows what the handshake and AEAD add.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mconn::conn::{ChannelConfig, Config, MConnection};
use mconn::Instant;
use mconn_nostd_canary::{finish, paint_stack};

const CHANNELS: [ChannelConfig; 2] = [
    ChannelConfig::new(0x20, 10)
        .recv_message_capacity(512)
        .send_buffer(2048)
        .recv_buffer(2048),
    ChannelConfig::new(0x30, 1)
        .recv_message_capacity(512)
        .send_buffer(2048)
        .recv_buffer(2048),
];
/// At least `Config::arena_size(&CHANNELS)` (checked at run time).
const STORAGE: usize = 4 * 2048 + 1024;

type C<'a> = MConnection<mconn::conn::FixedBuf<'a>>;

/// Moves bytes between the two connections through a 512-byte "wire".
fn pump<'x>(a: &mut C<'x>, b: &mut C<'x>, now: Instant) -> Option<()> {
    let mut wire = [0u8; 512];
    for _ in 0..64 {
        let mut moved = 0;
        for turn in 0..2 {
            let (from, to) = if turn == 0 {
                (&mut *a, &mut *b)
            } else {
                (&mut *b, &mut *a)
            };
            let n = from.poll_transmit(now, &mut wire);
            if to.handle_input(now, &wire[..n]).ok()? != n {
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

fn exchange() -> Option<usize> {
    let now = Instant::ZERO;
    let config = Config::cometbft();
    if Config::arena_size(&CHANNELS) > STORAGE {
        return None;
    }
    let (mut storage_a, mut storage_b) = ([0u8; STORAGE], [0u8; STORAGE]);
    let mut a = MConnection::in_arena(&config, &CHANNELS, now, &mut storage_a).ok()?;
    let mut b = MConnection::in_arena(&config, &CHANNELS, now, &mut storage_b).ok()?;
    a.try_send(0x30, &[7u8; 300]).ok()?;
    a.try_send(0x20, b"urgent").ok()?;
    b.try_send(0x20, b"reply").ok()?;
    pump(&mut a, &mut b, now)?;
    let mut got = 0;
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
    let reply = matches!(a.poll_message(), Some((0x20, b"reply")));
    (got == 2 && reply).then_some(got)
}

#[entry]
fn main() -> ! {
    paint_stack();
    let ok = core::hint::black_box(exchange()).is_some();
    let state = core::mem::size_of::<C<'static>>() + STORAGE;
    finish("conn-only", ok, state)
}
