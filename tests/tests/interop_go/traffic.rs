//! Traffic plans shared with the Go harness: which messages go on which
//! channel, their deterministic content, and checking them by SHA-256.

use crate::driver::Stack;
use mconn::conn::Error;
use sha2::{Digest, Sha256};

/// Message lengths per channel, sent in order.
#[derive(Clone, Debug)]
pub struct Plan(pub Vec<(u8, Vec<usize>)>);

impl Plan {
    /// The same lengths on every channel in `channels`.
    pub fn uniform(channels: &[u8], lens: &[usize]) -> Plan {
        Plan(channels.iter().map(|&ch| (ch, lens.to_vec())).collect())
    }

    /// The plan without 0-byte messages: what Go sends. CometBFT's
    /// MConnection can silently drop a 0-byte message when another channel
    /// wins the scheduling round in which it was dequeued
    /// (`Channel.isSendPending` treats an empty `sending` as "nothing in
    /// flight"); see docs/protocol.md. Our side sends them.
    pub fn without_empty(&self) -> Plan {
        Plan(
            self.0
                .iter()
                .map(|(ch, lens)| (*ch, lens.iter().copied().filter(|&l| l > 0).collect()))
                .collect(),
        )
    }

    /// The Go flag form: `20:0,1,1024;21:5`.
    pub fn arg(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .filter(|(_, lens)| !lens.is_empty())
            .map(|(ch, lens)| {
                let lens: Vec<String> = lens.iter().map(usize::to_string).collect();
                format!("{ch:x}:{}", lens.join(","))
            })
            .collect();
        items.join(";")
    }

    /// (messages, bytes).
    pub fn totals(&self) -> (usize, usize) {
        self.0.iter().fold((0, 0), |(m, b), (_, lens)| {
            (m + lens.len(), b + lens.iter().sum::<usize>())
        })
    }

    fn lens(&self, ch: u8) -> &[usize] {
        self.0
            .iter()
            .find(|(c, _)| *c == ch)
            .map_or(&[], |(_, l)| l)
    }
}

/// Message `idx` (of length `n`) on channel `ch`: a splitmix64 stream seeded
/// from (salt, ch, idx, n), little-endian. Same as `content` in the Go harness.
pub fn content(salt: u64, ch: u8, idx: usize, n: usize) -> Vec<u8> {
    let mut s = salt ^ (u64::from(ch) << 48) ^ ((idx as u64) << 24) ^ n as u64;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Wraps a payload as `google.protobuf.BytesValue` (the Go test reactor's
/// message type): field 1, omitted when empty.
pub fn bytes_value(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0x0a];
    let mut n = data.len() as u64;
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(data);
    out
}

/// The payload of a `google.protobuf.BytesValue` as Go encodes it.
pub fn unwrap_bytes_value(msg: &[u8]) -> Option<&[u8]> {
    if msg.is_empty() {
        return Some(msg);
    }
    let (&tag, mut rest) = msg.split_first()?;
    if tag != 0x0a {
        return None;
    }
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let (&b, r) = rest.split_first()?;
        rest = r;
        len |= usize::from(b & 0x7f) << shift;
        shift += 7;
        if b < 0x80 {
            break;
        }
    }
    (rest.len() == len).then_some(rest)
}

/// Verifies received messages against a plan, per channel in order.
pub struct Checker {
    plan: Plan,
    salt: u64,
    next: [usize; 256],
    pub msgs: usize,
    pub bytes: usize,
    pub bad: Vec<String>,
}

impl Checker {
    pub fn new(plan: &Plan, salt: u64) -> Checker {
        Checker {
            plan: plan.clone(),
            salt,
            next: [0; 256],
            msgs: 0,
            bytes: 0,
            bad: Vec::new(),
        }
    }

    pub fn receive(&mut self, ch: u8, msg: &[u8]) {
        let idx = self.next[usize::from(ch)];
        self.next[usize::from(ch)] += 1;
        self.msgs += 1;
        self.bytes += msg.len();
        let ok = self.plan.lens(ch).get(idx) == Some(&msg.len())
            && sha256(msg) == sha256(&content(self.salt, ch, idx, msg.len()));
        if !ok {
            self.bad.push(format!(
                "ch {ch:#04x} #{idx}: {} bytes, sha256 mismatch or unexpected",
                msg.len()
            ));
        }
    }

    /// What is still expected: (channel, received, planned) per channel.
    pub fn missing(&self) -> Vec<(u8, usize, usize)> {
        self.plan
            .0
            .iter()
            .map(|(ch, lens)| (*ch, self.next[usize::from(*ch)], lens.len()))
            .filter(|(_, got, want)| got < want)
            .collect()
    }

    pub fn complete(&self) -> bool {
        self.msgs >= self.plan.totals().0
    }
}

/// Queues a plan's messages as room allows (channels interleave in the
/// MConnection's scheduler). `wrap` turns a payload into the wire message.
pub struct Sender {
    plan: Plan,
    salt: u64,
    next: Vec<usize>,
    ready: Vec<Option<Vec<u8>>>,
    wrap: fn(&[u8]) -> Vec<u8>,
}

impl Sender {
    pub fn new(plan: &Plan, salt: u64) -> Sender {
        Sender::wrapped(plan, salt, <[u8]>::to_vec)
    }

    pub fn wrapped(plan: &Plan, salt: u64, wrap: fn(&[u8]) -> Vec<u8>) -> Sender {
        let n = plan.0.len();
        Sender {
            plan: plan.clone(),
            salt,
            next: vec![0; n],
            ready: vec![None; n],
            wrap,
        }
    }

    /// Queues what fits; returns whether everything is queued.
    pub fn pump(&mut self, stack: &mut impl Stack) -> bool {
        let mut all = true;
        for (i, (ch, lens)) in self.plan.0.iter().enumerate() {
            while self.next[i] < lens.len() {
                let (salt, wrap, idx) = (self.salt, self.wrap, self.next[i]);
                let msg =
                    self.ready[i].get_or_insert_with(|| wrap(&content(salt, *ch, idx, lens[idx])));
                match stack.try_send(*ch, msg) {
                    Ok(()) => {
                        self.ready[i] = None;
                        self.next[i] += 1;
                    }
                    Err(Error::Full) => break,
                    Err(e) => panic!("try_send on {ch:#04x}: {e}"),
                }
            }
            all &= self.next[i] == lens.len();
        }
        all
    }
}
