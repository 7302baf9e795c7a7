//! [`RequestLimiter`]: how often one peer may ask us for addresses.

use core::time::Duration;

use crate::time::Instant;

/// The inbound `PexRequest` rate rule for one peer: on average one request
/// per `interval`, with up to `burst` back to back (a GCRA: each accepted
/// request pushes a "theoretical arrival time" one interval forward; a
/// request is too soon when that time is more than `burst − 1` intervals
/// ahead of now).
///
/// **Why not CometBFT's exact rule.** CometBFT lets the first two requests
/// through and then punishes any request less than 10 s after the previous
/// accepted one, measured when the message is *handled*. An honest Go peer
/// asks once when it adds us (if we are outbound for it) and then at most
/// once per 30 s `ensurePeers` tick, but the gap we observe also contains
/// network and inbox delays, so two honest requests can be handled close
/// together after one of them was held up. The GCRA keeps the same
/// sustained limit (one per 10 s) and accepts every sequence CometBFT's
/// rule accepts (by induction: after two requests the theoretical arrival
/// time is at most the last request + 2·interval, and a request ≥ interval
/// after the previous keeps it there), while with `burst = 3` it also
/// absorbs a delay of up to two intervals (20 s) on any request. Spamming
/// faster than one per interval is still caught after at most `burst`
/// extra requests.
///
/// ```
/// use core::time::Duration;
/// use mconn::pex::RequestLimiter;
/// use mconn::Instant;
/// let s = |secs: u64| Instant::from_millis(secs * 1000);
/// // CometBFT's own rule as a GCRA: two free, then 10 s apart.
/// let mut go = RequestLimiter::new(Duration::from_secs(10), 2);
/// assert!(go.accept(s(0)) && go.accept(s(0)));
/// assert!(!go.accept(s(9)));
/// assert!(go.accept(s(10)));
/// // Ours (burst 3): a third request right away is fine, a fourth is not.
/// let mut ours = RequestLimiter::new(Duration::from_secs(10), 3);
/// assert!(ours.accept(s(0)) && ours.accept(s(0)) && ours.accept(s(0)));
/// assert!(!ours.accept(s(1)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestLimiter {
    interval: Duration,
    slack: Duration,
    /// When the next request would be accepted with a full allowance.
    tat: Option<Instant>,
}

impl RequestLimiter {
    /// A limiter of one request per `interval`, `burst` (at least 1) back
    /// to back.
    pub fn new(interval: Duration, burst: u32) -> Self {
        RequestLimiter {
            interval,
            slack: interval.saturating_mul(burst.max(1) - 1),
            tat: None,
        }
    }

    /// A request arrived at `now`: `true` if it is within the rate (and
    /// counted), `false` if it came too soon (not counted).
    pub fn accept(&mut self, now: Instant) -> bool {
        let tat = self.tat.map_or(now, |t| t.max(now));
        if tat.saturating_duration_since(now) > self.slack {
            return false;
        }
        self.tat = Some(tat + self.interval);
        true
    }
}
