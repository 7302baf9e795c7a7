//! [`SwitchConfig`]: the peer-set limits (spec §5.3) and our admission caps;
//! [`Backoff`]: the persistent-peer redial schedule (spec §5.4).

use alloc::vec::Vec;
use core::time::Duration;

use rand_core::RngCore;

use crate::identity::{NetAddr, NodeId};

/// The switch policy's settings. [`SwitchConfig::new`] gives CometBFT's
/// defaults plus ours; adjust the public fields before building a
/// [`PeerManager`](super::PeerManager).
///
/// ```
/// use mconn::identity::NodeId;
/// use mconn::switch::SwitchConfig;
/// let config = SwitchConfig::new(NodeId([1; 20]));
/// assert_eq!((config.max_inbound, config.max_outbound), (40, 10));
/// assert_eq!(config.max_connections, 40 + 10 + 64 + 64);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// Our own node ID: connections to or from it are refused.
    pub our_id: NodeId,
    /// Inbound peers that are not unconditional (CometBFT `max_num_inbound_peers`: 40).
    pub max_inbound: usize,
    /// Outbound peers plus outbound handshakes that are not unconditional
    /// (`max_num_outbound_peers`: 10). Persistent dials are exempt from the
    /// check but count towards it.
    pub max_outbound: usize,
    /// Peers exempt from `max_inbound` and `max_outbound` (`unconditional_peer_ids`).
    pub unconditional_ids: Vec<NodeId>,
    /// Peers whose addresses are never gossiped (`private_peer_ids`).
    pub private_ids: Vec<NodeId>,
    /// Dialled at start and redialled forever with [`Backoff`] (`persistent_peers`).
    pub persistent_peers: Vec<NetAddr>,
    /// `false` (CometBFT's default): one peer or handshake per IP address.
    pub allow_duplicate_ip: bool,
    /// Handshakes in flight, both directions (64).
    pub max_handshakes: usize,
    /// Inbound handshakes in flight from one IP address (8).
    pub max_handshakes_per_ip: usize,
    /// Peers plus handshakes with one IP address, both directions (64).
    pub max_connections_per_ip: usize,
    /// Every socket: peers plus handshakes, both directions
    /// (`max_inbound + max_outbound + max_handshakes + 64`).
    pub max_connections: usize,
    /// Accepted sockets allowed beyond `max_inbound + unconditional_ids.len()`
    /// so handshakes can run while the inbound peer set is full (a slot may
    /// free, or the peer may be unconditional). CometBFT allows none; 8.
    pub inbound_handshake_allowance: usize,
    /// The redial schedule for persistent peers.
    pub persistent_backoff: Backoff,
    /// The first dial of each persistent peer happens at `U[0, this)` after
    /// start (3 s, as CometBFT).
    pub persistent_start_jitter: Duration,
    /// A persistent peer's connection that lasted at least this long restarts
    /// the redial schedule at attempt 1 when it ends; a shorter one continues
    /// the backoff (30 s).
    pub persistent_stable_after: Duration,
    /// A non-persistent ID reported [`Bad`](super::Report::Bad) is refused,
    /// dialled or inbound, for this long (60 s).
    pub misbehaviour_cooldown: Duration,
    /// Most IDs remembered as cooling down; when full, the entry that expires
    /// first is forgotten (1024).
    pub max_cooldowns: usize,
    /// Bytes of partial (started, not finished) received messages over all
    /// peers together ([`DEFAULT_NODE_PARTIAL_BUDGET`], 1 GiB;
    /// `usize::MAX`: no node-wide bound). Each connection may always grow
    /// its partial messages to a fair share (this / peers) and beyond it
    /// while the node has room; a peer above its share that grows when the
    /// node is full is cut with
    /// [`CloseReason::NodePartialBudget`](crate::conn::CloseReason::NodePartialBudget).
    /// See `docs/memory.md`.
    pub node_partial_budget: usize,
}

/// Default [`SwitchConfig::node_partial_budget`]: 1 GiB (without it, 50
/// peers could hold about 5 GiB of half-finished messages with CometBFT's
/// channels).
pub const DEFAULT_NODE_PARTIAL_BUDGET: usize = 1 << 30;

impl SwitchConfig {
    /// CometBFT's limits (spec §5.3) and our admission caps, with no
    /// unconditional, private or persistent peers.
    pub fn new(our_id: NodeId) -> Self {
        let (max_inbound, max_outbound, max_handshakes) = (40, 10, 64);
        SwitchConfig {
            our_id,
            max_inbound,
            max_outbound,
            unconditional_ids: Vec::new(),
            private_ids: Vec::new(),
            persistent_peers: Vec::new(),
            allow_duplicate_ip: false,
            max_handshakes,
            max_handshakes_per_ip: 8,
            max_connections_per_ip: 64,
            max_connections: max_inbound + max_outbound + max_handshakes + 64,
            inbound_handshake_allowance: 8,
            node_partial_budget: DEFAULT_NODE_PARTIAL_BUDGET,
            persistent_backoff: Backoff::default(),
            persistent_start_jitter: Duration::from_secs(3),
            persistent_stable_after: Duration::from_secs(30),
            misbehaviour_cooldown: Duration::from_secs(60),
            max_cooldowns: 1024,
        }
    }
}

/// The redial schedule for persistent peers.
///
/// Attempt `n` (counted from 1; 0 is treated as 1) waits
/// - for `n` in `1..=fast_attempts`: `min(first * 2^(n-1), fast_cap)`;
/// - after that CometBFT's slow phase: `slow_base^i` seconds for
///   `i = n - fast_attempts`, up to `i = slow_steps`, then stays at the last
///   step (`slow_steps = 0` stays at the last fast step);
///
/// plus `U[0, jitter)`, the total capped at `max_period` when set.
///
/// CometBFT gives up after the slow phase (about a day); we never give up:
/// a persistent peer stays persistent, it is just tried rarely (every
/// `3^10` s ≈ 16.4 h with the defaults, or every `max_period`).
///
/// ```
/// use core::time::Duration;
/// use mconn::switch::Backoff;
/// # struct Zero; impl rand_core::RngCore for Zero {
/// #     fn next_u32(&mut self) -> u32 { 0 } fn next_u64(&mut self) -> u64 { 0 }
/// #     fn fill_bytes(&mut self, d: &mut [u8]) { d.fill(0) }
/// #     fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> { d.fill(0); Ok(()) } }
/// let b = Backoff::default();
/// let mut rng = Zero; // no jitter
/// assert_eq!(b.delay(1, &mut rng), Duration::from_secs(1));
/// assert_eq!(b.delay(3, &mut rng), Duration::from_secs(4));
/// assert_eq!(b.delay(20, &mut rng), Duration::from_secs(5));
/// assert_eq!(b.delay(21, &mut rng), Duration::from_secs(3));
/// assert_eq!(b.delay(30, &mut rng), Duration::from_secs(59_049));
/// assert_eq!(b.delay(1_000, &mut rng), Duration::from_secs(59_049));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Backoff {
    /// Delay before the first redial (1 s); doubles per attempt.
    pub first: Duration,
    /// Largest delay of the fast phase (5 s, CometBFT's fixed interval).
    pub fast_cap: Duration,
    /// Attempts in the fast phase (20, as CometBFT).
    pub fast_attempts: u32,
    /// Base of the slow phase in seconds (3, as CometBFT).
    pub slow_base: u32,
    /// Steps of the slow phase (10, as CometBFT).
    pub slow_steps: u32,
    /// Uniform random delay added to every step (3 s, as CometBFT).
    pub jitter: Duration,
    /// Upper bound on every delay, jitter included (`None`; CometBFT's
    /// `persistent_peers_max_dial_period`, 0 = none).
    pub max_period: Option<Duration>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(1),
            fast_cap: Duration::from_secs(5),
            fast_attempts: 20,
            slow_base: 3,
            slow_steps: 10,
            jitter: Duration::from_secs(3),
            max_period: None,
        }
    }
}

impl Backoff {
    /// How long to wait before redial `attempt` (see the type's docs).
    pub fn delay(&self, attempt: u32, rng: &mut impl RngCore) -> Duration {
        let step = self.step(attempt.max(1));
        let total = step.saturating_add(uniform(rng, self.jitter));
        match self.max_period {
            Some(cap) => total.min(cap),
            None => total,
        }
    }

    /// The delay of `attempt` (≥ 1) without jitter or `max_period`.
    fn step(&self, attempt: u32) -> Duration {
        if attempt <= self.fast_attempts || self.slow_steps == 0 {
            let n = attempt.min(self.fast_attempts.max(1));
            let doubled = 1u32
                .checked_shl(n - 1)
                .and_then(|factor| self.first.checked_mul(factor))
                .unwrap_or(self.fast_cap);
            return doubled.min(self.fast_cap);
        }
        let i = (attempt - self.fast_attempts).min(self.slow_steps);
        Duration::from_secs(u64::from(self.slow_base).saturating_pow(i))
    }
}

/// A uniformly random duration in `[0, max)` (zero when `max` is zero).
pub(crate) fn uniform(rng: &mut impl RngCore, max: Duration) -> Duration {
    let micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    if micros == 0 {
        return Duration::ZERO;
    }
    Duration::from_micros(rng.next_u64() % micros)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::tests::XorShift;

    #[test]
    fn delays_stay_within_the_documented_bounds_for_40_attempts() {
        let b = Backoff::default();
        let mut rng = XorShift::new(7);
        for attempt in 1..=40u32 {
            let step = if attempt <= 20 {
                Duration::from_secs(1 << (attempt - 1).min(3)).min(Duration::from_secs(5))
            } else {
                Duration::from_secs(3u64.pow((attempt - 20).min(10)))
            };
            for _ in 0..50 {
                let d = b.delay(attempt, &mut rng);
                assert!(d >= step, "attempt {attempt}: {d:?} < {step:?}");
                assert!(d < step + b.jitter, "attempt {attempt}: {d:?} too long");
            }
        }
    }

    #[test]
    fn jitter_varies_and_max_period_caps_every_step() {
        let mut b = Backoff::default();
        let mut rng = XorShift::new(3);
        let samples: Vec<Duration> = (0..20).map(|_| b.delay(1, &mut rng)).collect();
        assert!(samples.iter().any(|d| *d != samples[0]), "no jitter");
        b.max_period = Some(Duration::from_secs(10));
        for attempt in 1..=40 {
            assert!(b.delay(attempt, &mut rng) <= Duration::from_secs(10));
        }
        assert_eq!(b.delay(35, &mut rng), Duration::from_secs(10));
    }

    #[test]
    fn degenerate_schedules_do_not_overflow() {
        let b = Backoff {
            first: Duration::from_secs(u64::MAX / 2),
            fast_cap: Duration::MAX,
            fast_attempts: u32::MAX,
            slow_base: u32::MAX,
            slow_steps: u32::MAX,
            jitter: Duration::MAX,
            max_period: None,
        };
        let mut rng = XorShift::new(1);
        for attempt in [0, 1, 2, 33, 64, u32::MAX] {
            let _ = b.delay(attempt, &mut rng);
        }
        let no_slow = Backoff {
            slow_steps: 0,
            jitter: Duration::ZERO,
            ..Backoff::default()
        };
        assert_eq!(no_slow.delay(100, &mut rng), Duration::from_secs(5));
        let no_fast = Backoff {
            fast_attempts: 0,
            jitter: Duration::ZERO,
            ..Backoff::default()
        };
        assert_eq!(no_fast.delay(0, &mut rng), Duration::from_secs(3));
        assert_eq!(no_fast.delay(2, &mut rng), Duration::from_secs(9));
    }
}
