//! Small helpers over the caller's RNG (the core never owns a random source).

use alloc::vec::Vec;
use rand_core::RngCore;

/// A uniform index in `0..n` (`0` when `n == 0`), by the widening-multiply
/// method (bias below 2⁻⁵⁰ for the sizes used here).
pub(crate) fn below(rng: &mut impl RngCore, n: usize) -> usize {
    let n64 = u64::try_from(n).unwrap_or(u64::MAX);
    usize::try_from(below_u64(rng, n64)).unwrap_or(0)
}

/// A uniform number in `0..n` (`0` when `n == 0`).
pub(crate) fn below_u64(rng: &mut impl RngCore, n: u64) -> u64 {
    let wide = u128::from(rng.next_u64()) * u128::from(n);
    u64::try_from(wide >> 64).unwrap_or(0)
}

/// Moves a uniformly random `k`-subset of `items` (in random order) to the
/// front and drops the rest: a partial Fisher–Yates shuffle.
pub(crate) fn choose<T>(items: &mut Vec<T>, k: usize, rng: &mut impl RngCore) {
    let k = k.min(items.len());
    for i in 0..k {
        let j = i + below(rng, items.len() - i);
        items.swap(i, j);
    }
    items.truncate(k);
}

/// `⌊√x⌋` by Newton's method (no floating point in `core`).
pub(crate) fn isqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Start at a power of two ≥ √x, so r + x / r cannot overflow.
    let bits = 64 - x.leading_zeros();
    let mut r = 1u64 << bits.div_ceil(2);
    let mut next = (r + x / r) / 2;
    while next < r {
        r = next;
        next = (r + x / r) / 2;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isqrt_is_exact_floor() {
        for x in (0..10_000u64).chain([u64::MAX, u64::MAX - 1, 1 << 62, (1 << 32) * 20480]) {
            let r = isqrt(x);
            assert!(u128::from(r) * u128::from(r) <= u128::from(x), "{x}");
            assert!(u128::from(r + 1) * u128::from(r + 1) > u128::from(x), "{x}");
        }
    }
}
