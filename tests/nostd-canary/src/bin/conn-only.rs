//! No-std canary, MConnection alone (no SecretConnection, no NodeInfo):
//! two in-memory connections exchange messages on two channels. Its size
//! next to the full session's shows what the handshake and AEAD add.
#![no_std]
#![no_main]

use cortex_m_rt::entry;
use mconn::conn::{Config, MConnection};
use mconn::Instant;
use mconn_nostd_canary::{finish, paint_stack, pump, received_both, CHANNELS};

/// At least `Config::arena_size(&CHANNELS)` (checked at run time).
const STORAGE: usize = 4 * 2048 + 1024;

type C<'a> = MConnection<mconn::conn::FixedBuf<'a>>;

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
    let got = received_both(&mut b)?;
    let reply = matches!(a.poll_message(), Some((0x20, b"reply")));
    reply.then_some(got)
}

#[entry]
fn main() -> ! {
    paint_stack();
    let ok = core::hint::black_box(exchange()).is_some();
    let state = core::mem::size_of::<C<'static>>() + STORAGE;
    finish("conn-only", ok, state)
}
