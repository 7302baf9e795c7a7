//! Go `time.Time` JSON text (RFC 3339 with up to nine fraction digits) ↔
//! [`UnixTime`], for `addrbook.json`.
//!
//! Writing follows Go's `RFC3339Nano` layout in UTC: trailing zeros of the
//! fraction dropped, no fraction when it is zero, and [`UnixTime::NEVER`]
//! written as Go's zero time `0001-01-01T00:00:00Z`. Reading accepts any
//! offset (`Z` or `±hh:mm`, as Go writes local times); times before 1970
//! read as `NEVER`, fraction digits beyond microseconds are truncated.

use core::fmt::Write as _;
use std::string::String;

use super::UnixTime;

/// Go's zero `time.Time` in JSON.
pub(crate) const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

const SECS_PER_DAY: i64 = 86_400;
/// The last instant Go can write as JSON: 9999-12-31T23:59:59.999999Z.
const MAX_MICROS: u64 = 253_402_300_799_999_999;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's JSON text for `t` (clamped to year 9999, Go's limit).
pub(crate) fn format(t: UnixTime) -> String {
    if t.is_never() {
        return String::from(GO_ZERO_TIME);
    }
    let micros = t.as_micros().min(MAX_MICROS);
    let secs = i64::try_from(micros / 1_000_000).unwrap_or(i64::MAX);
    let frac = micros % 1_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
    let rem = secs.rem_euclid(SECS_PER_DAY);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let mut out = String::with_capacity(32);
    let _ = write!(out, "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
    if frac != 0 {
        let digits = std::format!("{frac:06}");
        let _ = write!(out, ".{}", digits.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// Reads `N` ASCII digits at `at`.
fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = b.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Parses Go's JSON time text (without the quotes); `None` if it is not
/// RFC 3339 or out of range.
pub(crate) fn parse(s: &str) -> Option<UnixTime> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut at = 19;
    let mut micros = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while b.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 6 {
                micros = micros * 10 + i64::from(b[at] - b'0');
            }
            at += 1;
        }
        let n = at - start;
        if !(1..=9).contains(&n) {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset = match b.get(at) {
        Some(b'Z') if b.len() == at + 1 => 0,
        Some(&sign @ (b'+' | b'-')) if b.len() == at + 6 && b.get(at + 3) == Some(&b':') => {
            let (oh, om) = (digits(b, at + 1, 2)?, digits(b, at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset;
    if secs < 0 {
        return Some(UnixTime::NEVER);
    }
    let total = secs.checked_mul(1_000_000)?.checked_add(micros)?;
    Some(UnixTime::from_micros(u64::try_from(total).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_examples() {
        let cases = [
            ("1970-01-01T00:00:01Z", 1_000_000),
            ("2025-01-01T00:00:00.123456789Z", 1_735_689_600_123_456),
            ("2025-01-01T02:00:00.5+02:00", 1_735_689_600_500_000),
            ("2024-12-31T19:00:00-05:00", 1_735_689_600_000_000),
            ("2000-02-29T12:34:56Z", 951_827_696_000_000),
        ];
        for (text, micros) in cases {
            assert_eq!(parse(text), Some(UnixTime::from_micros(micros)), "{text}");
        }
        assert_eq!(parse(GO_ZERO_TIME), Some(UnixTime::NEVER));
        assert_eq!(format(UnixTime::NEVER), GO_ZERO_TIME);
        assert_eq!(
            format(UnixTime::from_micros(1_735_689_600_123_450)),
            "2025-01-01T00:00:00.12345Z"
        );
        assert_eq!(
            format(UnixTime::from_secs(1_735_689_600)),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            format(UnixTime::from_micros(u64::MAX)),
            "9999-12-31T23:59:59.999999Z"
        );
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:60Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00.1234567890Z",
            "2025-01-01T00:00:00+2:00",
            "2025-01-01T00:00:00+24:00",
            "2025-01-01T00:00:00Zjunk",
            "2025-01-01 00:00:00Z",
            "+025-01-01T00:00:00Z",
            "２０２５-01-01T00:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn every_day_round_trips() {
        for day in (0..2_932_897i64).step_by(13) {
            let t =
                UnixTime::from_micros(u64::try_from(day * SECS_PER_DAY).unwrap() * 1_000_000 + 7);
            assert_eq!(parse(&format(t)), Some(t));
            assert_eq!(days_from_civil_of(&format(t)), day);
        }
    }

    proptest::proptest! {
        #[test]
        fn any_time_round_trips(micros in 1..=MAX_MICROS) {
            let t = UnixTime::from_micros(micros);
            proptest::prop_assert_eq!(parse(&format(t)), Some(t));
        }

        #[test]
        fn any_text_parses_or_fails_without_panicking(text in "\\PC{0,40}", prefix in 0usize..40) {
            let _ = parse(&text);
            let valid = format(UnixTime::from_micros(1_735_689_600_123_456));
            let _ = parse(&std::format!("{}{text}", &valid[..prefix.min(valid.len())]));
        }
    }

    fn days_from_civil_of(text: &str) -> i64 {
        let b = text.as_bytes();
        days_from_civil(
            digits(b, 0, 4).unwrap(),
            digits(b, 5, 2).unwrap(),
            digits(b, 8, 2).unwrap(),
        )
    }
}
