//! Keepalive: when to ping, when to answer, when the peer is presumed dead.
//! Pure timing logic; the connection turns its flags into packets.

use core::time::Duration;

use super::config::{Keepalive, PingLimit};
use super::event::CloseReason;
use crate::time::{earliest, Instant};

#[derive(Debug)]
pub(crate) struct KeepaliveState {
    mode: Keepalive,
    limit: PingLimit,
    ping_tokens: u32,
    tokens_at: Instant,
    /// CometBFT: the fixed ping schedule. Seed: silence deadline.
    next_ping: Option<Instant>,
    /// When the peer must have answered our ping.
    pong_deadline: Option<Instant>,
    ping_sent_at: Option<Instant>,
    /// A ping should go out.
    pub ping_pending: bool,
    /// A pong should go out.
    pub pong_pending: bool,
    /// Round trip of the last answered ping.
    pub last_rtt: Option<Duration>,
}

impl KeepaliveState {
    pub fn new(mode: Keepalive, limit: PingLimit, now: Instant) -> Self {
        let next_ping = match mode {
            Keepalive::CometBft { ping_interval, .. } => Some(now + ping_interval),
            Keepalive::Seed { ping_timeout, .. } => Some(now + ping_timeout),
            Keepalive::Off => None,
        };
        KeepaliveState {
            mode,
            limit,
            ping_tokens: limit.burst,
            tokens_at: now,
            next_ping,
            pong_deadline: None,
            ping_sent_at: None,
            ping_pending: false,
            pong_pending: false,
            last_rtt: None,
        }
    }

    pub fn mode(&self) -> Keepalive {
        self.mode
    }

    pub fn limit(&self) -> PingLimit {
        self.limit
    }

    pub fn is_seed(&self) -> bool {
        matches!(self.mode, Keepalive::Seed { .. })
    }

    fn pong_timeout(&self) -> Option<Duration> {
        match self.mode {
            Keepalive::CometBft { pong_timeout, .. } | Keepalive::Seed { pong_timeout, .. } => {
                Some(pong_timeout)
            }
            Keepalive::Off => None,
        }
    }

    /// Any packet arrived. In seed mode that proves the peer alive.
    pub fn on_packet(&mut self, now: Instant) {
        if let Keepalive::Seed { ping_timeout, .. } = self.mode {
            self.answered(now);
            self.next_ping = Some(now + ping_timeout);
        }
    }

    fn answered(&mut self, now: Instant) {
        if self.pong_deadline.take().is_some() {
            self.last_rtt = self.ping_sent_at.map(|t| now.saturating_duration_since(t));
        }
    }

    /// The peer pinged us.
    pub fn on_ping(&mut self, now: Instant) -> Result<(), CloseReason> {
        let refill = self.limit.refill.as_micros().max(1);
        let earned = now.saturating_duration_since(self.tokens_at).as_micros() / refill;
        if earned > 0 {
            let earned = u32::try_from(earned).unwrap_or(u32::MAX);
            self.ping_tokens = self
                .ping_tokens
                .saturating_add(earned)
                .min(self.limit.burst);
            self.tokens_at += self
                .limit
                .refill
                .checked_mul(earned)
                .unwrap_or(Duration::MAX);
            if self.ping_tokens == self.limit.burst {
                self.tokens_at = now;
            }
        }
        if self.ping_tokens == 0 {
            // CometBFT mode: a flood is misbehaviour. Seed mode: just not answered.
            return if self.is_seed() {
                Ok(())
            } else {
                Err(CloseReason::PingFlood)
            };
        }
        self.ping_tokens -= 1;
        self.pong_pending = true;
        Ok(())
    }

    /// The peer answered our ping.
    pub fn on_pong(&mut self, now: Instant) {
        self.answered(now);
    }

    /// Our ping went out.
    pub fn on_ping_sent(&mut self, now: Instant) {
        self.ping_pending = false;
        self.ping_sent_at = Some(now);
        if self.pong_deadline.is_none() {
            self.pong_deadline = self.pong_timeout().map(|t| now + t);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let ping = if self.ping_pending || (self.is_seed() && self.pong_deadline.is_some()) {
            None
        } else {
            self.next_ping
        };
        earliest(ping, self.pong_deadline)
    }

    /// Deadlines that passed. `stalled` means we are not reading because
    /// our own application has not drained its messages (the peer's pong
    /// may be waiting unread), or the peer's window refuses our output (our
    /// ping may be waiting unread): its timeout restarts instead of firing.
    pub fn handle_timeout(&mut self, now: Instant, stalled: bool) -> Result<(), CloseReason> {
        if let Some(deadline) = self.pong_deadline {
            if now >= deadline {
                if !stalled {
                    return Err(CloseReason::PongTimeout);
                }
                self.pong_deadline = self.pong_timeout().map(|t| now + t);
            }
        }
        match self.mode {
            Keepalive::CometBft { ping_interval, .. } => {
                if let Some(at) = self.next_ping.filter(|&at| now >= at) {
                    // One ping in flight at a time, as in Go (where the pong
                    // timeout is below the interval). While our stalled input
                    // keeps the pong deadline alive, more pings would pile up
                    // unread at the peer and look like a ping flood to it.
                    if self.pong_deadline.is_none() {
                        self.ping_pending = true;
                    }
                    let next = at + ping_interval;
                    self.next_ping = Some(if next <= now {
                        now + ping_interval
                    } else {
                        next
                    });
                }
            }
            Keepalive::Seed { .. } => {
                if self.pong_deadline.is_none() && self.next_ping.is_some_and(|at| now >= at) {
                    self.ping_pending = true;
                }
            }
            Keepalive::Off => {}
        }
        Ok(())
    }
}
