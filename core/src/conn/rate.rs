//! A non-blocking token bucket for optional send/receive rate caps.

use crate::time::Instant;

const MICROS: i64 = 1_000_000;

/// Credit is kept in byte·microseconds so refills are exact.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: i64,
    burst: i64,
    credit: i64,
    last: Instant,
}

impl TokenBucket {
    /// `rate` bytes per second; up to `burst` bytes back to back.
    pub fn new(rate: u32, burst: usize, now: Instant) -> Self {
        let burst = i64::try_from(burst)
            .unwrap_or(i64::MAX / MICROS)
            .min(i64::MAX / MICROS)
            * MICROS;
        TokenBucket {
            rate: i64::from(rate),
            burst,
            credit: burst,
            last: now,
        }
    }

    /// A full bucket from `now`.
    pub fn restart(&mut self, now: Instant) {
        self.credit = self.burst;
        self.last = now;
    }

    fn refill(&mut self, now: Instant) {
        let elapsed =
            i64::try_from(now.saturating_duration_since(self.last).as_micros()).unwrap_or(i64::MAX);
        self.last = self.last.max(now);
        self.credit = self
            .credit
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.burst);
    }

    /// Whether sending may go on now. Credit may go negative by one packet:
    /// the overshoot is paid back before the next send (as Go's flowrate).
    pub fn allows(&mut self, now: Instant) -> bool {
        self.allows_in_debt(now, 0)
    }

    /// Whether sending may go on now for a packet that may also use up to
    /// `debt` bytes of credit not earned yet (paid back before the next
    /// packet that may not, so the long-run rate is unchanged).
    pub fn allows_in_debt(&mut self, now: Instant, debt: usize) -> bool {
        self.refill(now);
        let debt = i64::try_from(debt)
            .unwrap_or(i64::MAX / MICROS)
            .min(i64::MAX / MICROS);
        self.credit > -debt * MICROS
    }

    pub fn spend(&mut self, bytes: usize) {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX / MICROS);
        self.credit = self.credit.saturating_sub(bytes.saturating_mul(MICROS));
    }

    /// When credit turns positive again, if it is not now.
    pub fn ready_at(&self) -> Option<Instant> {
        if self.credit > 0 {
            return None;
        }
        let wait = (-self.credit) / self.rate + 1;
        Some(Instant::from_micros(
            self.last.as_micros().saturating_add(wait as u64),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_at_the_rate() {
        let t0 = Instant::from_micros(0);
        let mut b = TokenBucket::new(1000, 100, t0);
        assert!(b.allows(t0));
        b.spend(300); // 200 in debt
        assert!(!b.allows(t0));
        // A packet that may borrow up to 300 bytes may go; up to 200 not.
        assert!(b.allows_in_debt(t0, 300));
        assert!(!b.allows_in_debt(t0, 200));
        let ready = b.ready_at().unwrap();
        assert_eq!(ready.as_micros(), 200_001);
        assert!(!b.allows(Instant::from_micros(200_000)));
        assert!(b.allows(ready));
        // Never more than the burst.
        assert!(b.allows(Instant::from_micros(10_000_000)));
        b.spend(100);
        assert!(!b.allows(Instant::from_micros(10_000_000)));
    }
}
