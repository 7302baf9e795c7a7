//! Target `packet_stream`: a peer's packet byte stream, in either codec,
//! split into arbitrary reads, fed to one MConnection.
//!
//! Input: `[config][split seed] stream…`. The stream is decoded twice: once
//! whole by a reference reassembler built on [`Codec::decode`] alone, and
//! once by an [`MConnection`] that receives it in random-sized reads (with
//! receive budgets small enough to force back-pressure, taking every
//! message as soon as it is complete). Both must agree exactly: the same
//! messages on every channel, the same close reason at the same point, the
//! same counters. Every decoded packet must re-encode canonically, and no
//! proper prefix of a packet may decode.

use mconn::conn::{
    ChannelConfig, CloseReason, Config, Error, Event, GrowBuf, Keepalive, MConnection,
};
use mconn::wire::packet::{Codec, Packet};
use mconn::Instant;

use super::{chunks, Input, Rng};

/// Channels of the connection under test: `(id, recv_message_capacity)`.
/// `0x80` takes a two-byte protobuf varint; `0xff` accepts only empty messages.
const CHANNELS: [(u8, usize); 4] = [(0x00, 5000), (0x20, 100), (0x80, 3000), (0xff, 0)];

const PAYLOADS: [usize; 4] = [1024, 16, 100, 4096];
const MAX_CHUNKS: [usize; 8] = [1, 2, 7, 64, 512, 1500, 5000, usize::MAX];

/// What the stream should do to a receiver, computed without MConnection.
#[derive(Debug, Default)]
struct Expected {
    messages: [Vec<Vec<u8>>; CHANNELS.len()],
    close: Option<CloseReason>,
    packets: u64,
    pings: u64,
    wire: u64,
}

fn channel_index(id: u8) -> Option<usize> {
    CHANNELS.iter().position(|&(c, _)| c == id)
}

/// Checks one decoded packet against the encoder and prefix behaviour.
fn check_packet(codec: Codec, max: usize, frame: &[u8], packet: &Packet<'_>) {
    // Canonical re-encoding decodes to the same packet.
    let len = codec.encoded_len(packet);
    let mut buf = vec![0u8; len];
    assert_eq!(codec.encode(packet, &mut buf), Ok(len), "encode length");
    assert_eq!(
        codec.decode(&buf, max),
        Ok(Some((*packet, len))),
        "round trip"
    );
    assert!(
        codec.encode(packet, &mut buf[..len - 1]).is_err(),
        "short buffer"
    );
    // No proper prefix is a packet.
    for k in [0, 1, frame.len() / 2, frame.len() - 1] {
        if k < frame.len() {
            assert_eq!(codec.decode(&frame[..k], max), Ok(None), "prefix {k}");
        }
    }
    // Non-minimal length varints (up to 10 bytes, as Go accepts) and
    // go-wire size bytes may exceed the canonical maximum, but never what
    // the receiver stages.
    assert!(
        frame.len() <= codec.max_body(max) + 10 + 4,
        "frame above max"
    );
}

fn expected(codec: Codec, max: usize, ping_burst: Option<u64>, stream: &[u8]) -> Expected {
    let mut exp = Expected::default();
    let mut open: [Option<Vec<u8>>; CHANNELS.len()] = Default::default();
    let mut off = 0;
    loop {
        let (packet, n) = match codec.decode(&stream[off..], max) {
            Err(e) => {
                exp.close = Some(e.into());
                break;
            }
            Ok(None) => break,
            Ok(Some(found)) => found,
        };
        assert!(n > 0 && n <= stream.len() - off);
        check_packet(codec, max, &stream[off..off + n], &packet);
        match packet {
            Packet::Msg { channel, eof, data } => {
                let Some(i) = channel_index(channel) else {
                    exp.close = Some(CloseReason::UnknownChannel(channel));
                    break;
                };
                let msg = open[i].get_or_insert_with(Vec::new);
                if msg.len() + data.len() > CHANNELS[i].1 {
                    exp.close = Some(CloseReason::MessageTooLarge(channel));
                    break;
                }
                msg.extend_from_slice(data);
                if eof {
                    exp.messages[i].push(open[i].take().unwrap_or_default());
                }
            }
            Packet::Ping => {
                exp.pings += 1;
                if ping_burst.is_some_and(|b| exp.pings > b) {
                    exp.close = Some(CloseReason::PingFlood);
                    break;
                }
            }
            Packet::Pong => {}
        }
        exp.packets += 1;
        exp.wire += n as u64;
        off += n;
    }
    exp
}

/// Takes every complete message, checking the per-channel view agrees.
fn drain(conn: &mut MConnection<GrowBuf>, got: &mut [Vec<Vec<u8>>]) {
    for _ in 0..100_000 {
        let Some((ch, msg)) = conn.poll_message() else {
            break;
        };
        let msg = msg.to_vec();
        let i = channel_index(ch).expect("message on a channel we do not have");
        assert_eq!(conn.peek_message(ch), Ok(Some(&msg[..])), "lent = front");
        got[i].push(msg);
    }
    assert_eq!(conn.poll_message(), None);
    for &(id, _) in &CHANNELS {
        let stats = conn.channel_stats(id).expect("configured channel");
        assert_eq!(stats.recv_queue_len, 0, "drained");
        assert_eq!(conn.peek_message(id), Ok(None));
    }
}

/// An MConnection receiving a peer's stream in pieces, checked against the
/// reference reassembler over the whole stream. Also used behind the
/// SecretConnection by the `secret_frames` target.
pub(crate) struct StreamCheck {
    codec: Codec,
    max: usize,
    ping_burst: Option<u64>,
    conn: MConnection<GrowBuf>,
    got: [Vec<Vec<u8>>; CHANNELS.len()],
    closes: Vec<CloseReason>,
    sent: Vec<u8>,
    fed: usize,
}

impl StreamCheck {
    /// A receiver configured by `cfg`: bit 0 codec, bits 1-2 payload limit,
    /// bit 6 tight receive budgets, bit 7 seed keepalive.
    pub(crate) fn new(cfg: u8) -> Self {
        let codec = if cfg & 1 == 0 {
            Codec::Protobuf
        } else {
            Codec::GoWire
        };
        let max = PAYLOADS[usize::from(cfg >> 1) & 3];
        let tight = cfg & 0x40 != 0;
        let seed_keepalive = cfg & 0x80 != 0;
        let mut config = Config::cometbft();
        config.codec = codec;
        config.max_packet_payload = max;
        if seed_keepalive {
            config.keepalive = Keepalive::SEED;
        }
        let ping_burst = (!seed_keepalive).then_some(u64::from(config.ping_limit.burst));
        let channels: Vec<ChannelConfig> = CHANNELS
            .iter()
            .map(|&(id, cap)| {
                let c = ChannelConfig::new(id, 1)
                    .recv_message_capacity(cap)
                    .send_buffer(16);
                if tight {
                    c.recv_buffer(cap + 4)
                } else {
                    c.recv_buffer(cap + 4 + 2 * max)
                }
            })
            .collect();
        let conn = MConnection::with_alloc(&config, &channels, Instant::ZERO).expect("valid");
        StreamCheck {
            codec,
            max,
            ping_burst,
            conn,
            got: Default::default(),
            closes: Vec::new(),
            sent: Vec::new(),
            fed: 0,
        }
    }

    /// Whether the connection closed (later input is refused).
    pub(crate) fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Feeds one read, taking messages whenever input stalls, until all of
    /// it was consumed or the connection closed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        let now = Instant::ZERO;
        let mut out = [0u8; 64];
        let mut off = 0;
        let mut stalled_before = false;
        loop {
            let n = match self.conn.handle_input(now, &chunk[off..]) {
                Ok(n) => n,
                Err(Error::Closed) => {
                    assert!(self.conn.is_closed());
                    return;
                }
                Err(e) => panic!("handle_input: {e:?}"),
            };
            assert!(n <= chunk.len() - off, "consumed more than offered");
            if stalled_before {
                assert!(
                    n > 0 || !self.conn.is_input_stalled(),
                    "stalled with every message taken"
                );
            }
            off += n;
            self.fed += n;
            stalled_before = self.conn.is_input_stalled();
            drain(&mut self.conn, &mut self.got);
            while let Some(ev) = self.conn.poll_event() {
                match ev {
                    Event::Closed(reason) => self.closes.push(reason),
                    Event::Writable(ch) => panic!("Writable({ch}) without a send"),
                }
            }
            let k = self.conn.poll_transmit(now, &mut out);
            self.sent.extend_from_slice(&out[..k]);
            if self.conn.is_closed() {
                return;
            }
            if off == chunk.len() && !self.conn.is_input_stalled() {
                return;
            }
            assert!(n > 0 || stalled_before, "no progress without back-pressure");
        }
    }

    /// Compares everything with the reference over `stream`, the
    /// concatenation of all reads.
    pub(crate) fn finish(mut self, stream: &[u8]) {
        let (codec, max) = (self.codec, self.max);
        let exp = expected(codec, max, self.ping_burst, stream);
        drain(&mut self.conn, &mut self.got);
        let mut out = [0u8; 64];
        loop {
            let k = self.conn.poll_transmit(Instant::ZERO, &mut out);
            if k == 0 {
                break;
            }
            self.sent.extend_from_slice(&out[..k]);
        }
        for (i, &(id, _)) in CHANNELS.iter().enumerate() {
            assert_eq!(
                self.got[i], exp.messages[i],
                "messages on channel {id:#04x}"
            );
            let stats = self.conn.channel_stats(id).unwrap_or_default();
            assert_eq!(stats.messages_received, exp.messages[i].len() as u64);
        }
        let closes: Vec<_> = exp.close.into_iter().collect();
        assert_eq!(self.closes, closes, "close");
        assert_eq!(self.conn.is_closed(), exp.close.is_some());
        if exp.close.is_none() {
            assert_eq!(self.fed, stream.len(), "everything consumed");
        }
        let stats = self.conn.stats();
        assert_eq!(stats.packets_received, exp.packets, "packets");
        assert_eq!(stats.pings_received, exp.pings, "pings");
        assert_eq!(stats.bytes_received, exp.wire, "wire bytes");

        // We never send messages and no timer fires: only pongs go out.
        let mut off = 0;
        let mut pongs = 0;
        while let Ok(Some((packet, n))) = codec.decode(&self.sent[off..], max) {
            assert_eq!(packet, Packet::Pong, "unexpected packet sent");
            pongs += 1;
            off += n;
        }
        assert_eq!(off, self.sent.len(), "partial packet sent");
        assert_eq!(pongs, stats.pongs_sent);
        assert!(pongs <= exp.pings);
    }
}

/// See the module docs.
pub fn packet_stream(data: &[u8]) {
    let mut input = Input::new(data);
    let cfg = input.u8();
    let seed = input.u8();
    let stream = input.rest();
    let max_chunk = MAX_CHUNKS[usize::from(cfg >> 3) & 7];
    let mut check = StreamCheck::new(cfg);
    let mut rng = Rng::new(u64::from(seed));
    for chunk in chunks(stream, max_chunk, &mut rng) {
        if check.is_closed() {
            break;
        }
        check.feed(chunk);
    }
    check.finish(stream);
}
