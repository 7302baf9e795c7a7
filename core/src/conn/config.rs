//! Connection and channel configuration, validated at construction.

use core::fmt;
use core::time::Duration;

use super::fifo::HEADER;
use crate::wire::packet::{Codec, DEFAULT_MAX_PAYLOAD};

/// Most channels one connection can carry (NodeInfo allows 16).
pub const MAX_CHANNELS: usize = 16;
/// Largest `max_packet_payload` supported (staging buffers are sized for it).
pub const MAX_PAYLOAD_LIMIT: usize = 4096;

/// One channel: its byte id, relative priority and memory budgets.
///
/// ```
/// use mconn::conn::ChannelConfig;
/// let votes = ChannelConfig::new(0x22, 7).send_queue(100).recv_message_capacity(1 << 20);
/// assert_eq!(votes.recv_buffer_bytes(), (1 << 20) + 4 + 65536);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelConfig {
    /// Channel byte id, unique per connection.
    pub id: u8,
    /// Relative priority (> 0): a channel with priority 10 gets ten times the
    /// bandwidth of one with priority 1 when both are saturated.
    pub priority: u32,
    /// Messages that may wait in the send queue (the one being sent not counted).
    pub send_queue_capacity: usize,
    /// Byte budget of the send queue; 0 = derived (see [`send_buffer_bytes`](Self::send_buffer_bytes)).
    pub send_buffer: usize,
    /// Largest message accepted from the peer on this channel.
    pub recv_message_capacity: usize,
    /// Byte budget for received messages not yet taken by the application,
    /// including the one in reassembly; 0 = derived.
    pub recv_buffer: usize,
}

impl ChannelConfig {
    /// CometBFT's defaults for an unconfigured channel: queue 1, 21 MiB messages.
    pub const fn new(id: u8, priority: u32) -> Self {
        ChannelConfig {
            id,
            priority,
            send_queue_capacity: 1,
            send_buffer: 0,
            recv_message_capacity: 22_020_096,
            recv_buffer: 0,
        }
    }

    /// Sets the send queue capacity in messages.
    pub const fn send_queue(mut self, messages: usize) -> Self {
        self.send_queue_capacity = messages;
        self
    }

    /// Sets the largest message accepted from the peer.
    pub const fn recv_message_capacity(mut self, bytes: usize) -> Self {
        self.recv_message_capacity = bytes;
        self
    }

    /// Sets the send queue byte budget.
    pub const fn send_buffer(mut self, bytes: usize) -> Self {
        self.send_buffer = bytes;
        self
    }

    /// Sets the receive byte budget.
    pub const fn recv_buffer(mut self, bytes: usize) -> Self {
        self.recv_buffer = bytes;
        self
    }

    /// Effective send budget: as configured, or room for two messages of
    /// `recv_message_capacity` (at least 64 KiB).
    pub const fn send_buffer_bytes(&self) -> usize {
        if self.send_buffer != 0 {
            return self.send_buffer;
        }
        let one = self.recv_message_capacity.saturating_add(HEADER);
        let two = one.saturating_mul(2);
        if two < 65536 {
            65536
        } else {
            two
        }
    }

    /// Effective receive budget: as configured, or one full message plus 64 KiB.
    pub const fn recv_buffer_bytes(&self) -> usize {
        if self.recv_buffer != 0 {
            return self.recv_buffer;
        }
        self.recv_message_capacity
            .saturating_add(HEADER)
            .saturating_add(65536)
    }
}

/// The channels a CometBFT v0.38/v1 node registers, in its order (spec §4.3).
pub const COMETBFT_CHANNELS: [ChannelConfig; 10] = [
    ChannelConfig::new(0x30, 5)
        .send_queue(1)
        .recv_message_capacity(1_048_584),
    ChannelConfig::new(0x40, 5)
        .send_queue(1000)
        .recv_message_capacity(104_857_605),
    ChannelConfig::new(0x20, 6)
        .send_queue(100)
        .recv_message_capacity(1_048_576),
    ChannelConfig::new(0x21, 10)
        .send_queue(100)
        .recv_message_capacity(1_048_576),
    ChannelConfig::new(0x22, 7)
        .send_queue(100)
        .recv_message_capacity(1_048_576),
    ChannelConfig::new(0x23, 1)
        .send_queue(2)
        .recv_message_capacity(1_048_576),
    ChannelConfig::new(0x38, 6)
        .send_queue(1)
        .recv_message_capacity(1_048_576),
    ChannelConfig::new(0x60, 5)
        .send_queue(10)
        .recv_message_capacity(4_000_000),
    ChannelConfig::new(0x61, 3)
        .send_queue(10)
        .recv_message_capacity(16_000_000),
    ChannelConfig::new(0x00, 1)
        .send_queue(10)
        .recv_message_capacity(64_000),
];

/// How the connection proves the peer alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Keepalive {
    /// CometBFT: a ping every `ping_interval` regardless of traffic; the
    /// connection closes if no pong arrives within `pong_timeout`.
    CometBft {
        /// Time between pings (CometBFT: 60 s).
        ping_interval: Duration,
        /// Time allowed for the pong (CometBFT: 45 s; must be below `ping_interval`).
        pong_timeout: Duration,
    },
    /// Seed documents: a ping after `ping_timeout` without receiving anything;
    /// then anything received within `pong_timeout` proves the peer alive.
    /// Pings are answered only when nothing else is queued.
    Seed {
        /// Receive silence before we ping (seed: 40 s).
        ping_timeout: Duration,
        /// Time allowed for any sign of life after our ping.
        pong_timeout: Duration,
    },
    /// No keepalive (tests, or a transport that has its own).
    Off,
}

impl Keepalive {
    /// CometBFT's fixed values: ping every 60 s, pong timeout 45 s.
    pub const COMETBFT: Keepalive = Keepalive::CometBft {
        ping_interval: Duration::from_secs(60),
        pong_timeout: Duration::from_secs(45),
    };
    /// The seed documents' values: ping after 40 s of silence, 45 s to answer.
    pub const SEED: Keepalive = Keepalive::Seed {
        ping_timeout: Duration::from_secs(40),
        pong_timeout: Duration::from_secs(45),
    };
}

/// Pings a peer may send: a burst, then one per `refill`. CometBFT mode
/// closes a connection that exceeds it; seed mode leaves excess pings unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PingLimit {
    /// Pings accepted back to back.
    pub burst: u32,
    /// Time to earn one more.
    pub refill: Duration,
}

/// Connection-wide settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Packet framing.
    pub codec: Codec,
    /// Largest payload per packet (CometBFT: 1024); peers must agree.
    pub max_packet_payload: usize,
    /// Keepalive mode and intervals.
    pub keepalive: Keepalive,
    /// Ping flood limit.
    pub ping_limit: PingLimit,
    /// Send rate cap in bytes per second; `None` = unlimited (default).
    pub send_rate: Option<u32>,
    /// Receive rate cap in bytes per second; `None` = unlimited (default).
    pub recv_rate: Option<u32>,
    /// Period of the ×0.8 decay of each channel's recently-sent counter.
    pub decay_period: Duration,
    /// Bytes the peer may keep in partial (started, not yet finished)
    /// messages across all channels, *not counting the largest one*: one
    /// message may always grow to its channel's `recv_message_capacity`
    /// (a 100 MB block still passes), every other partial message shares
    /// this budget. Exceeding it closes the connection with
    /// [`CloseReason::PartialBudget`](super::CloseReason::PartialBudget).
    /// Default [`DEFAULT_PARTIAL_BUDGET`] (4 MiB); `usize::MAX` turns it off.
    /// Must leave room for one packet on every other channel.
    pub partial_budget: usize,
    /// How long a partial message may go without a packet for it before
    /// the connection closes with
    /// [`CloseReason::PartialStale`](super::CloseReason::PartialStale)
    /// (60 s). Never fires while our own input is stalled (the peer cannot
    /// make progress then); `None` = no bound.
    pub partial_timeout: Option<Duration>,
}

/// Default [`Config::partial_budget`]: 4 MiB beyond the largest partial message.
pub const DEFAULT_PARTIAL_BUDGET: usize = 4 << 20;
/// Default [`Config::partial_timeout`]: 60 s.
pub const DEFAULT_PARTIAL_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for Config {
    fn default() -> Self {
        Config::cometbft()
    }
}

impl Config {
    /// CometBFT wire protocol and keepalive, no flush timer, no rate caps.
    pub const fn cometbft() -> Self {
        Config {
            codec: Codec::Protobuf,
            max_packet_payload: DEFAULT_MAX_PAYLOAD,
            keepalive: Keepalive::COMETBFT,
            ping_limit: PingLimit {
                burst: 16,
                refill: Duration::from_secs(1),
            },
            send_rate: None,
            recv_rate: None,
            decay_period: Duration::from_secs(2),
            partial_budget: DEFAULT_PARTIAL_BUDGET,
            partial_timeout: Some(DEFAULT_PARTIAL_TIMEOUT),
        }
    }

    /// The seed documents' go-wire framing and keepalive.
    pub const fn seed() -> Self {
        let mut c = Config::cometbft();
        c.codec = Codec::GoWire;
        c.keepalive = Keepalive::SEED;
        c
    }

    /// Bytes of caller storage [`MConnection::in_arena`](super::MConnection::in_arena)
    /// needs for `channels`.
    pub fn arena_size(channels: &[ChannelConfig]) -> usize {
        channels
            .iter()
            .map(|c| c.send_buffer_bytes().saturating_add(c.recv_buffer_bytes()))
            .fold(0, usize::saturating_add)
    }

    pub(crate) fn validate(&self, channels: &[ChannelConfig]) -> Result<(), ConfigError> {
        if self.max_packet_payload == 0 || self.max_packet_payload > MAX_PAYLOAD_LIMIT {
            return Err(ConfigError::PayloadSize);
        }
        if let Keepalive::CometBft {
            ping_interval,
            pong_timeout,
        } = self.keepalive
        {
            if pong_timeout >= ping_interval || ping_interval.is_zero() {
                return Err(ConfigError::Keepalive);
            }
        }
        if let Keepalive::Seed {
            ping_timeout,
            pong_timeout,
        } = self.keepalive
        {
            if ping_timeout.is_zero() || pong_timeout.is_zero() {
                return Err(ConfigError::Keepalive);
            }
        }
        if self.decay_period.is_zero()
            || self.ping_limit.burst == 0
            || self.ping_limit.refill.is_zero()
        {
            return Err(ConfigError::Keepalive);
        }
        if matches!(self.send_rate, Some(0)) || matches!(self.recv_rate, Some(0)) {
            return Err(ConfigError::Rate);
        }
        if channels.is_empty() {
            return Err(ConfigError::NoChannels);
        }
        if channels.len() > MAX_CHANNELS {
            return Err(ConfigError::TooManyChannels);
        }
        let one_packet_each = (channels.len() - 1).saturating_mul(self.max_packet_payload);
        if self.partial_budget < one_packet_each
            || self.partial_timeout.is_some_and(|t| t.is_zero())
        {
            return Err(ConfigError::PartialLimits);
        }
        for (i, c) in channels.iter().enumerate() {
            if channels[..i].iter().any(|d| d.id == c.id) {
                return Err(ConfigError::DuplicateChannel(c.id));
            }
            if c.priority == 0 {
                return Err(ConfigError::ZeroPriority(c.id));
            }
            // A payload of 0 (protobuf, id >= 0x80, max payload 1) would
            // send empty non-eof packets forever.
            if self
                .codec
                .payload_for_channel(c.id, self.max_packet_payload)
                == 0
            {
                return Err(ConfigError::PayloadSize);
            }
            if c.send_queue_capacity == 0 {
                return Err(ConfigError::ZeroQueue(c.id));
            }
            if c.recv_message_capacity > u32::MAX as usize - HEADER
                || c.recv_buffer_bytes() < c.recv_message_capacity.saturating_add(HEADER)
                || c.send_buffer_bytes() < HEADER
            {
                return Err(ConfigError::BufferTooSmall(c.id));
            }
        }
        Ok(())
    }
}

/// Why a configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// Two channels share this id.
    DuplicateChannel(u8),
    /// This channel has priority 0.
    ZeroPriority(u8),
    /// This channel has a send queue of 0 messages.
    ZeroQueue(u8),
    /// This channel's receive budget cannot hold one full message (plus a 4-byte header).
    BufferTooSmall(u8),
    /// No channels configured.
    NoChannels,
    /// More than [`MAX_CHANNELS`].
    TooManyChannels,
    /// `max_packet_payload` is 0 or above [`MAX_PAYLOAD_LIMIT`], or leaves
    /// no room for data on some channel.
    PayloadSize,
    /// Keepalive intervals are zero, or the pong timeout is not below the ping interval.
    Keepalive,
    /// A rate cap of 0.
    Rate,
    /// `partial_budget` below one packet per channel besides one, or a
    /// `partial_timeout` of zero.
    PartialLimits,
    /// The caller's storage is smaller than [`Config::arena_size`].
    StorageTooSmall,
    /// Our own NodeInfo does not encode (above 10240 bytes or invalid).
    NodeInfo,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::DuplicateChannel(id) => write!(f, "duplicate channel {id:#04x}"),
            ConfigError::ZeroPriority(id) => write!(f, "channel {id:#04x} has priority 0"),
            ConfigError::ZeroQueue(id) => write!(f, "channel {id:#04x} has an empty send queue"),
            ConfigError::BufferTooSmall(id) => write!(
                f,
                "channel {id:#04x} receive buffer below its message capacity"
            ),
            ConfigError::NoChannels => f.write_str("no channels"),
            ConfigError::TooManyChannels => write!(f, "more than {MAX_CHANNELS} channels"),
            ConfigError::PayloadSize => {
                write!(f, "max packet payload must be 1..={MAX_PAYLOAD_LIMIT}")
            }
            ConfigError::Keepalive => f.write_str("invalid keepalive intervals"),
            ConfigError::Rate => f.write_str("rate cap of 0"),
            ConfigError::PartialLimits => {
                f.write_str("partial-message budget below one packet per channel, or zero timeout")
            }
            ConfigError::StorageTooSmall => f.write_str("storage smaller than Config::arena_size"),
            ConfigError::NodeInfo => f.write_str("local node info does not encode"),
        }
    }
}

impl core::error::Error for ConfigError {}
