//! One channel's state: its send queue with the message in flight, its
//! receive queue with the message in reassembly, priority accounting, stats.

use super::buf::ByteBuf;
use super::config::ChannelConfig;
use super::event::Error;
use super::fifo::MsgFifo;
use crate::time::Instant;

/// Counters for one channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelStats {
    /// Channel id.
    pub id: u8,
    /// Message bytes sent (payload, not framing).
    pub bytes_sent: u64,
    /// Messages completely sent.
    pub messages_sent: u64,
    /// Message bytes received.
    pub bytes_received: u64,
    /// Messages completely received.
    pub messages_received: u64,
    /// Messages waiting in the send queue (the one in flight not counted).
    pub send_queue_len: usize,
    /// Bytes held by the send queue.
    pub send_queue_bytes: usize,
    /// Received messages not yet taken by the application.
    pub recv_queue_len: usize,
    /// Wire bytes recently sent (decays ×0.8 per period); drives priority.
    pub recently_sent: u64,
}

/// The running totals of one channel (the rest of [`ChannelStats`] is
/// computed when asked for).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    pub bytes_sent: u64,
    pub messages_sent: u64,
    pub bytes_received: u64,
    pub messages_received: u64,
}

#[derive(Debug)]
pub(crate) struct Channel<B> {
    pub cfg: ChannelConfig,
    pub send: MsgFifo<B>,
    /// Bytes of the front send message already packetized, once it started.
    pub sent_offset: Option<usize>,
    pub recv: MsgFifo<B>,
    pub recently_sent: u64,
    /// A send was refused; report [`Event::Writable`](super::Event::Writable) on room.
    pub want_writable: bool,
    /// Largest payload per packet on this channel.
    pub payload: usize,
    /// When the message in reassembly last grew (or started); `None` when
    /// no message is in reassembly.
    pub partial_at: Option<Instant>,
    pub stats: Counters,
}

impl<B: ByteBuf> Channel<B> {
    pub fn new(cfg: ChannelConfig, send: B, recv: B, payload: usize) -> Self {
        Channel {
            cfg,
            send: MsgFifo::new(send),
            sent_offset: None,
            recv: MsgFifo::new(recv),
            recently_sent: 0,
            want_writable: false,
            payload,
            partial_at: None,
            stats: Counters::default(),
        }
    }

    /// Messages queued and not started.
    pub fn queued(&self) -> usize {
        self.send.complete() - usize::from(self.sent_offset.is_some())
    }

    pub fn has_data(&self) -> bool {
        self.send.complete() > 0
    }

    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), Error> {
        if msg.len().saturating_add(super::fifo::HEADER) > self.send.limit() {
            return Err(Error::TooLarge);
        }
        if self.queued() >= self.cfg.send_queue_capacity || !self.send.push(msg) {
            self.want_writable = true;
            return Err(Error::Full);
        }
        Ok(())
    }

    /// The next chunk to packetize: `(data, eof)`.
    pub fn next_chunk(&self) -> Option<(&[u8], bool)> {
        let msg = self.send.front()?;
        let offset = self.sent_offset.unwrap_or(0);
        let rest = msg.get(offset..)?;
        let n = rest.len().min(self.payload);
        Some((&rest[..n], n == rest.len()))
    }

    /// Records that the chunk from [`next_chunk`](Self::next_chunk) of
    /// `len` bytes went out as `wire` bytes. Returns whether a queue slot or
    /// buffer space was freed.
    pub fn commit_chunk(&mut self, len: usize, eof: bool, wire: usize) -> bool {
        let started = self.sent_offset.is_none();
        self.recently_sent = self.recently_sent.saturating_add(wire as u64);
        self.stats.bytes_sent += len as u64;
        if eof {
            self.send.pop();
            self.sent_offset = None;
            self.stats.messages_sent += 1;
        } else {
            self.sent_offset = Some(self.sent_offset.unwrap_or(0) + len);
        }
        started || eof
    }

    pub fn decay(&mut self, periods: u32) {
        for _ in 0..periods.min(200) {
            if self.recently_sent == 0 {
                break;
            }
            self.recently_sent = self.recently_sent * 4 / 5;
        }
    }

    pub fn stats(&self) -> ChannelStats {
        let c = self.stats;
        ChannelStats {
            id: self.cfg.id,
            bytes_sent: c.bytes_sent,
            messages_sent: c.messages_sent,
            bytes_received: c.bytes_received,
            messages_received: c.messages_received,
            send_queue_len: self.queued(),
            send_queue_bytes: self.send.used(),
            recv_queue_len: self.recv.complete(),
            recently_sent: self.recently_sent,
        }
    }
}
