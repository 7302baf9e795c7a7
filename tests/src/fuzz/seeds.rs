//! Seed inputs for every target, built from real traffic: the bytes two
//! MConnections actually exchange, real NodeInfo and PEX encodings, and
//! operation scripts that drive a full conversation.
//!
//! `cargo run -p mconn-tests --example gen_corpus` writes them to
//! `fuzz/corpus/<target>/seed-*`; the replay test also runs them directly.

use mconn::conn::{ChannelConfig, Config, MConnection};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::wire::packet::Codec;
use mconn::wire::pex::{self, NetAddress};
use mconn::Instant;

mod node;

/// One seed: target name, file name, bytes.
pub type Seed = (&'static str, String, Vec<u8>);

/// Every seed of every target.
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    packet_stream(&mut out);
    mconn_ops(&mut out);
    node_info(&mut out);
    pex(&mut out);
    secret(&mut out);
    session(&mut out);
    node::seeds(&mut out);
    out
}

/// Runs a sender MConnection with `config` and `channels`, sends `msgs`,
/// lets `ping_at` pass (a ping), and returns everything it transmitted.
fn traffic(config: &Config, channels: &[ChannelConfig], msgs: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut a = MConnection::with_alloc(config, channels, Instant::ZERO).expect("valid");
    let mut wire = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut now = Instant::ZERO;
    for (i, (ch, msg)) in msgs.iter().enumerate() {
        // Queues are small: flush until this message is accepted.
        for _ in 0..1000 {
            if a.try_send(*ch, msg).is_ok() {
                break;
            }
            let n = a.poll_transmit(now, &mut buf);
            wire.extend_from_slice(&buf[..n]);
        }
        if i == msgs.len() / 2 {
            if let Some(t) = a.poll_timeout() {
                now = t;
                a.handle_timeout(now);
            }
        }
    }
    for _ in 0..1000 {
        let n = a.poll_transmit(now, &mut buf);
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&buf[..n]);
    }
    wire
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt)
        .collect()
}

const STREAM_CHANNELS: [(u8, usize); 4] = [(0x00, 5000), (0x20, 100), (0x80, 3000), (0xff, 0)];

/// Real traffic towards the `packet_stream` receiver configured by `cfg`.
fn stream_traffic(cfg: u8) -> Vec<u8> {
    const PAYLOADS: [usize; 4] = [1024, 16, 100, 4096];
    let channels: Vec<ChannelConfig> = STREAM_CHANNELS
        .iter()
        .map(|&(id, cap)| {
            ChannelConfig::new(id, 1)
                .send_queue(4)
                .recv_message_capacity(cap)
        })
        .collect();
    let msgs: Vec<(u8, Vec<u8>)> = vec![
        (0x20, b"vote".to_vec()),
        (0x00, pattern(2500, 1)),
        (0x80, pattern(1100, 2)),
        (0xff, Vec::new()),
        (0x20, pattern(100, 3)),
        (0x20, Vec::new()),
        (0x80, pattern(3000, 4)),
        (0x00, pattern(17, 5)),
    ];
    let mut config = if cfg & 1 == 0 {
        Config::cometbft()
    } else {
        Config::seed()
    };
    config.max_packet_payload = PAYLOADS[usize::from(cfg >> 1) & 3];
    traffic(&config, &channels, &msgs)
}

fn packet_stream(out: &mut Vec<Seed>) {
    for codec in 0..2u8 {
        for payload in 0..4u8 {
            let chunking = (payload * 3 + codec) & 7;
            let tight = (payload & 1) << 6;
            let keepalive = codec << 7;
            let cfg = codec | payload << 1 | chunking << 3 | tight | keepalive;
            let mut data = vec![cfg, payload.wrapping_mul(77)];
            data.extend_from_slice(&stream_traffic(cfg));
            out.push(("packet_stream", format!("seed-traffic-{cfg:02x}"), data));
        }
    }
    // Just keepalive packets, in both codecs.
    for (cfg, codec) in [(0x38u8, Codec::Protobuf), (0x39, Codec::GoWire)] {
        let mut data = vec![cfg, 0];
        let mut buf = [0u8; 8];
        for p in [
            mconn::wire::packet::Packet::Ping,
            mconn::wire::packet::Packet::Pong,
        ] {
            let n = codec.encode(&p, &mut buf).expect("fits");
            data.extend_from_slice(&buf[..n]);
        }
        out.push(("packet_stream", format!("seed-keepalive-{cfg:02x}"), data));
    }
}

/// Builds `mconn_ops` scripts (see `mconn_ops::Harness::op`).
struct Script(Vec<u8>);

impl Script {
    fn new(setup: u8, channels: u8, rates: u8) -> Self {
        Script(vec![setup, channels, rates])
    }
    fn op(&mut self, code: u8, side: usize, args: &[u8]) -> &mut Self {
        self.0.push(code | (side as u8) << 7);
        self.0.extend_from_slice(args);
        self
    }
    fn send(&mut self, side: usize, ch: u8, len: u16) -> &mut Self {
        let [lo, hi] = len.to_le_bytes();
        self.op(0, side, &[ch, lo, hi])
    }
    fn transmit(&mut self, side: usize, size: u16) -> &mut Self {
        let [lo, hi] = size.to_le_bytes();
        self.op(4, side, &[lo, hi])
    }
    fn deliver(&mut self, side: usize, max: u16) -> &mut Self {
        let [lo, hi] = max.to_le_bytes();
        self.op(6, side, &[lo, hi])
    }
    fn take(&mut self, side: usize, max: u8) -> &mut Self {
        self.op(8, side, &[max.saturating_sub(1)])
    }
    fn pop(&mut self, side: usize, ch: u8) -> &mut Self {
        self.op(10, side, &[ch])
    }
    fn tick_ms(&mut self, ms: u16) -> &mut Self {
        let [lo, hi] = ms.to_le_bytes();
        self.op(11, 0, &[lo, hi])
    }
    fn close(&mut self, side: usize) -> &mut Self {
        self.op(12, side, &[])
    }
    fn abort(&mut self, side: usize) -> &mut Self {
        self.op(13, side, &[])
    }
    fn inject(&mut self, side: usize, at: u16, bytes: &[u8]) -> &mut Self {
        let [lo, hi] = at.to_le_bytes();
        self.op(14, side, &[bytes.len() as u8, lo, hi]);
        self.0.extend_from_slice(bytes);
        self
    }
    fn shrink(&mut self, side: usize) -> &mut Self {
        self.op(15, side, &[])
    }
    /// A conversation: both sides send on every channel, bytes move in
    /// small pieces, messages are taken as they come.
    fn conversation(&mut self) -> &mut Self {
        for round in 0..3u16 {
            for ch in 0..3u8 {
                self.send(0, ch, 7 + round * 90 + u16::from(ch))
                    .send(1, ch, 250 - round * 50);
            }
            self.transmit(0, 100)
                .transmit(1, 4096)
                .deliver(0, 60)
                .deliver(1, 4096)
                .take(1, 2)
                .transmit(0, 4096)
                .deliver(0, 4096)
                .take(0, 8)
                .take(1, 8)
                .pop(0, round as u8);
        }
        self
    }
}

fn mconn_ops(out: &mut Vec<Seed>) {
    let mut seeds = Vec::new();
    // Protobuf, CometBFT keepalive, roomy buffers; a full conversation with pings.
    let mut s = Script::new(0x00, 0b0101_0100, 0);
    s.conversation()
        .tick_ms(60_000)
        .transmit(0, 4096)
        .transmit(1, 4096)
        .deliver(0, 4096)
        .deliver(1, 4096)
        .transmit(0, 4096)
        .transmit(1, 4096)
        .deliver(0, 4096)
        .deliver(1, 4096)
        .tick_ms(30_000);
    seeds.push(("conversation-pb", s));
    // go-wire, seed keepalive, 16-byte packets, growable buffers.
    let mut s = Script::new(0x2b, 0b0001_0001, 0);
    s.conversation().tick_ms(41_000).conversation().shrink(0);
    seeds.push(("conversation-gowire", s));
    // Tight budgets: back-pressure, Full and Writable.
    let mut s = Script::new(0x04, 0, 0xc0);
    for _ in 0..4 {
        s.send(0, 0, 300).send(0, 0, 300).send(0, 1, 200);
    }
    s.transmit(0, 4096)
        .deliver(0, 4096)
        .send(0, 0, 10)
        .take(1, 1);
    s.transmit(0, 4096).deliver(0, 4096).take(1, 8);
    seeds.push(("backpressure", s));
    // Graceful close with data queued, abort on the other side.
    let mut s = Script::new(0x02, 0b0101_0101, 0);
    s.conversation().send(0, 2, 1500).close(0).transmit(0, 300);
    s.deliver(0, 300).abort(1);
    seeds.push(("close-abort", s));
    // Rate caps with a fast decay period.
    let mut s = Script::new(0x86, 0b0101_0101, 0b0001_0101);
    s.conversation().tick_ms(100).conversation();
    seeds.push(("rates", s));
    // Short keepalive, silent peer: pong timeout.
    let mut s = Script::new(0x18, 0, 0);
    s.send(0, 0, 20)
        .tick_ms(2000)
        .transmit(0, 4096)
        .tick_ms(1500);
    seeds.push(("pong-timeout", s));
    // Oversized message: the receiver closes.
    let mut s = Script::new(0x00, 0b0000_0010, 0);
    s.send(0, 0, 330).transmit(0, 4096).deliver(0, 4096);
    seeds.push(("oversize", s));
    // Injected bytes (a stray ping and garbage) into a live stream.
    let mut s = Script::new(0x40, 0b0101_0100, 0);
    s.send(0, 0, 100)
        .transmit(0, 4096)
        .inject(0, 5, &[0x02, 0x0a, 0x00]);
    s.inject(0, 200, &[0x7f, 0xff, 0xff])
        .deliver(0, 4096)
        .take(1, 8);
    seeds.push(("inject", s));
    for (name, s) in seeds {
        out.push(("mconn_ops", format!("seed-{name}"), s.0));
    }
}

const A_ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
const B_ID: &str = "24f6ed6acbfe1009c030d7ca567c33ca48309114";

fn infos() -> Vec<(&'static str, NodeInfo<'static>)> {
    let a = NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: A_ID,
        listen_addr: "tcp://0.0.0.0:26656",
        network: "test-chain",
        version: "0.38.25",
        channels: &[0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00],
        moniker: "node-a",
        tx_index: "on",
        rpc_address: "tcp://127.0.0.1:26657",
    };
    let b = NodeInfo {
        protocol_version: ProtocolVersion::new(9, 11, 1),
        default_node_id: B_ID,
        version: "1.0.1",
        moniker: "node-b",
        listen_addr: "[::1]:26656",
        ..a
    };
    let dns = NodeInfo {
        listen_addr: "seed.example.com:26656",
        tx_index: "off",
        channels: &[0x20],
        ..b
    };
    vec![
        ("a", a),
        ("b", b),
        ("dns", dns),
        ("empty", NodeInfo::default()),
    ]
}

fn node_info(out: &mut Vec<Seed>) {
    for (i, (name, info)) in infos().into_iter().enumerate() {
        let mut body = vec![0u8; info.encoded_len()];
        info.encode(&mut body).expect("sized");
        let mut delimited = vec![0u8; info.delimited_len()];
        info.encode_delimited(&mut delimited).expect("sized");
        let mode = (i as u8) * 5;
        let mut data = vec![mode, 1];
        data.extend_from_slice(&delimited);
        // What follows NodeInfo on the wire: MConnection bytes.
        data.extend_from_slice(&[0x02, 0x0a, 0x00]);
        out.push(("node_info", format!("seed-delimited-{name}"), data));
        let mut data = vec![mode | 0x20, 7];
        data.extend_from_slice(&body);
        out.push(("node_info", format!("seed-body-{name}"), data));
    }
    let addr = b"\x00\x00tcp://[2001:db8::1]:26656";
    out.push(("node_info", "seed-listen-addr".into(), addr.to_vec()));
}

fn pex(out: &mut Vec<Seed>) {
    let mut buf = vec![0u8; 1024];
    let n = pex::encode_request(&mut buf).expect("fits");
    out.push(("pex", "seed-request".into(), buf[..n].to_vec()));
    let addrs = [
        NetAddress {
            id: A_ID,
            ip: "127.0.0.1",
            port: 26656,
        },
        NetAddress {
            id: B_ID,
            ip: "2001:db8::1",
            port: 9090,
        },
        NetAddress {
            id: "",
            ip: "",
            port: 0,
        },
    ];
    for k in [0, 1, 3] {
        let n = pex::encode_addrs(&addrs[..k], &mut buf).expect("fits");
        out.push(("pex", format!("seed-addrs-{k}"), buf[..n].to_vec()));
    }
}

/// A `Frames::script` entry: one valid frame with `data`.
fn frame_op(script: &mut Vec<u8>, data: &[u8]) {
    let [lo, hi] = (data.len() as u16).to_le_bytes();
    script.extend_from_slice(&[0, lo, hi]);
    script.extend_from_slice(data);
}

/// `data` as valid frames of at most 1024 bytes.
fn frames_of(script: &mut Vec<u8>, data: &[u8]) {
    for chunk in data.chunks(1024) {
        frame_op(script, chunk);
    }
}

fn secret(out: &mut Vec<Seed>) {
    use mconn::secret::frame::nonce;
    use mconn::secret::{AeadBackend, RustCryptoChaCha, FRAME_PLAINTEXT_LEN, SEALED_FRAME_LEN};
    let t = super::secret::transcript();
    // B's real frame 0 (its AuthSig), sealed as B does.
    let aead = RustCryptoChaCha::new(&t.peer_send);
    let mut auth_frame = vec![0u8; SEALED_FRAME_LEN];
    auth_frame[..4].copy_from_slice(&(t.peer_auth.len() as u32).to_le_bytes());
    auth_frame[4..4 + t.peer_auth.len()].copy_from_slice(&t.peer_auth);
    let (plain, tag) = auth_frame.split_at_mut(FRAME_PLAINTEXT_LEN);
    tag.copy_from_slice(&aead.seal_in_place(&nonce(0), plain).expect("seal"));
    let traffic = stream_traffic(0x00);

    let mut data = vec![0x00, 1];
    data.extend_from_slice(&t.peer_eph_msg);
    data.extend_from_slice(&auth_frame);
    out.push(("secret_handshake", "seed-honest-raw".into(), data));
    let mut data = vec![0x05, 2];
    data.extend_from_slice(&t.peer_eph_msg[3..]);
    data.extend_from_slice(&auth_frame);
    out.push(("secret_handshake", "seed-honest-key".into(), data));
    out.push(("secret_handshake", "seed-low-order".into(), vec![0x01, 0]));
    let mut data = vec![0x0a, 3];
    frame_op(&mut data, &t.peer_auth);
    frames_of(&mut data, &traffic[..2000]);
    out.push(("secret_handshake", "seed-sealed-auth".into(), data));
    let mut data = vec![0x0e, 4];
    frame_op(&mut data, &t.peer_auth[..50]);
    frame_op(&mut data, &t.peer_auth[50..]);
    out.push(("secret_handshake", "seed-split-auth".into(), data));
    let mut data = vec![0x03, 5, 40];
    data.extend_from_slice(&traffic[..40]);
    frames_of(&mut data, &traffic[40..3000]);
    data.extend_from_slice(&[4, 0xff, 0xff, 0, 0]);
    out.push(("secret_handshake", "seed-auth-then-data".into(), data));

    for (cfg, mode) in [(0x00u8, 0u8), (0x03, 4), (0x44, 8), (0x89, 12)] {
        let mut data = vec![cfg, mode, cfg ^ 0x5a];
        frames_of(&mut data, &stream_traffic(cfg));
        out.push(("secret_frames", format!("seed-traffic-{cfg:02x}"), data));
    }
    let mut data = vec![0x00, 0x05, 9];
    data.extend_from_slice(&auth_frame);
    out.push(("secret_frames", "seed-raw".into(), data));
    let mut data = vec![0x00, 0x00, 9];
    frame_op(&mut data, &traffic[..100]);
    data.extend_from_slice(&[5, 6, 7, 0, 3, 4, 0, 0x10, 0, 0]);
    out.push(("secret_frames", "seed-bad-frames".into(), data));

    out.push(("auth_sig", "seed-auth".into(), t.peer_auth[1..].to_vec()));
    out.push(("auth_sig", "seed-ephemeral".into(), t.peer_eph_msg.to_vec()));
    out.push(("auth_sig", "seed-node-id".into(), A_ID.as_bytes().to_vec()));
    let addr = format!("tcp://{B_ID}@[2001:db8::1]:26656");
    out.push(("auth_sig", "seed-peer-addr".into(), addr.into_bytes()));
}

/// `session` ops (see `session::Pair::op`).
fn session(out: &mut Vec<Seed>) {
    // Pairs: move bytes back and forth in pieces, send, take.
    for (name, mode) in [
        ("secret", 0x00u8),
        ("plaintext", 0x01),
        ("dialer", 0x02),
        ("wrong-dial", 0x06),
        ("gowire-small", 0x31),
    ] {
        let mut ops = vec![mode, 1];
        for round in 0..6u8 {
            for side in [0u8, 0x80] {
                ops.extend_from_slice(&[side | 4, 0x00, 0x04]); // transmit 1024
                ops.extend_from_slice(&[side | 7, 0x90, 0x01]); // deliver 400
            }
            ops.extend_from_slice(&[0x00, round, 0x64, 0]); // send 100 bytes
            ops.extend_from_slice(&[0x80, round + 1, 0x10, 0x02]); // send 528
            ops.extend_from_slice(&[0x0a, 3, 0x8a, 3]); // take
        }
        ops.extend_from_slice(&[0x0c, 0xe8, 0x03]); // tick 1 s
        out.push(("session", format!("seed-pair-{name}"), ops));
    }
    // Raw: the real byte stream of an honest peer, in reads of 300 bytes.
    for (name, mode) in [("secret", 0x08u8), ("plaintext", 0x09), ("gowire", 0x39)] {
        let stream = super::session::record(mode & !8);
        let mut ops = vec![mode, 3];
        for chunk in stream.chunks(300) {
            let [lo, hi] = (chunk.len() as u16).to_le_bytes();
            ops.extend_from_slice(&[0, lo, hi]);
            ops.extend_from_slice(chunk);
            ops.extend_from_slice(&[4, 0x00, 0x08]); // transmit 2048
        }
        ops.extend_from_slice(&[6, 5, 0x20, 0]); // drain, then send
        out.push(("session", format!("seed-raw-{name}"), ops));
    }
}
