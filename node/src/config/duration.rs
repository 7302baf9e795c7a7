//! Go `time.Duration` strings, as CometBFT writes them in `config.toml`
//! (`"20s"`, `"100ms"`, `"1m30s"`, `"168h0m0s"`, `"0s"`).

use std::fmt;
use std::time::Duration;

/// Why a string is not a Go duration we accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not Go's `[+-]?(<number><unit>)+` syntax, or `""`.
    #[error("invalid duration {0:?} (use Go syntax such as \"3s\", \"100ms\", \"1m30s\")")]
    Syntax(String),
    /// A number without a unit (only `"0"` may go without one).
    #[error("missing unit in duration {0:?} (one of ns, us, ms, s, m, h)")]
    MissingUnit(String),
    /// A unit Go does not know.
    #[error("unknown unit {unit:?} in duration {input:?} (one of ns, us, ms, s, m, h)")]
    UnknownUnit {
        /// The unit as written.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// Below zero.
    #[error("duration {0:?} is negative")]
    Negative(String),
    /// Above Go's limit (about 292 years).
    #[error("duration {0:?} is too large")]
    Overflow(String),
}

/// Nanoseconds per unit, longest names first so `ms` is not read as `m`.
const UNITS: [(&str, u128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // micro sign
    ("\u{3bc}s", 1_000), // Greek small letter mu
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Go's largest duration: `i64::MAX` nanoseconds.
const MAX_NANOS: u128 = i64::MAX as u128;

/// Parses a Go duration string (Go's `time.ParseDuration`), refusing
/// negative values.
///
/// ```
/// use mconn_node::config::parse_duration;
/// use std::time::Duration;
/// assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
/// assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
/// assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
/// assert!(parse_duration("20").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let syntax = || DurationError::Syntax(input.to_string());
    let (negative, mut rest) = match input.as_bytes().first() {
        Some(b'-') => (true, &input[1..]),
        Some(b'+') => (false, &input[1..]),
        _ => (false, input),
    };
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(syntax());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(syntax());
        }
        let unit_len = after
            .char_indices()
            .find(|&(_, c)| c == '.' || c.is_ascii_digit())
            .map_or(after.len(), |(i, _)| i);
        let (unit, next) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit(input.to_string()));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                unit: unit.to_string(),
                input: input.to_string(),
            });
        };
        let overflow = || DurationError::Overflow(input.to_string());
        let whole = if int.is_empty() {
            0
        } else {
            int.parse::<u128>().map_err(|_| overflow())?
        };
        let mut part = whole.checked_mul(scale).ok_or_else(overflow)?;
        // Fractional digits beyond nanosecond precision are truncated, as in Go.
        let mut place = scale;
        for d in frac.bytes() {
            place /= 10;
            if place == 0 {
                break;
            }
            part += u128::from(d - b'0') * place;
        }
        total = total.checked_add(part).ok_or_else(overflow)?;
        if total > MAX_NANOS {
            return Err(overflow());
        }
        rest = next;
    }
    if negative && total > 0 {
        return Err(DurationError::Negative(input.to_string()));
    }
    Ok(Duration::from_nanos(total as u64))
}

/// Writes `d` as Go's `Duration.String` does (`"0s"`, `"100ms"`, `"3s"`,
/// `"1m30s"`, `"168h0m0s"`), so a config we write reads like CometBFT's.
///
/// ```
/// use mconn_node::config::GoDuration;
/// use std::time::Duration;
/// assert_eq!(GoDuration(Duration::from_secs(90)).to_string(), "1m30s");
/// assert_eq!(GoDuration(Duration::from_millis(100)).to_string(), "100ms");
/// assert_eq!(GoDuration(Duration::from_secs(7 * 24 * 3600)).to_string(), "168h0m0s");
/// assert_eq!(GoDuration(Duration::ZERO).to_string(), "0s");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0.as_nanos();
        if ns == 0 {
            return f.write_str("0s");
        }
        if ns < 1_000_000_000 {
            let (scale, unit) = match ns {
                0..1_000 => (1, "ns"),
                1_000..1_000_000 => (1_000, "\u{b5}s"),
                _ => (1_000_000, "ms"),
            };
            write_fixed(f, ns, scale)?;
            return f.write_str(unit);
        }
        let hours = ns / 3_600_000_000_000;
        let minutes = ns / 60_000_000_000 % 60;
        let secs_ns = ns % 60_000_000_000;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        write_fixed(f, secs_ns, 1_000_000_000)?;
        f.write_str("s")
    }
}

/// `value / scale` with the remainder as a decimal fraction, trailing zeros trimmed.
fn write_fixed(f: &mut fmt::Formatter<'_>, value: u128, scale: u128) -> fmt::Result {
    write!(f, "{}", value / scale)?;
    let rem = value % scale;
    if rem == 0 {
        return Ok(());
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{rem:0width$}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_syntax() {
        let ms = Duration::from_millis;
        for (input, want) in [
            ("0s", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("3s", ms(3000)),
            ("20s", ms(20_000)),
            ("100ms", ms(100)),
            ("1m30s", ms(90_000)),
            ("168h0m0s", Duration::from_secs(168 * 3600)),
            ("1.5s", ms(1500)),
            (".5s", ms(500)),
            ("5.s", ms(5000)),
            ("1h1m1s1ms1us1ns", Duration::new(3661, 1_001_001)),
            ("2\u{b5}s", Duration::from_micros(2)),
            ("2\u{3bc}s", Duration::from_micros(2)),
            ("1.0000000009s", ms(1000)), // sub-nanosecond digits truncated
        ] {
            assert_eq!(parse_duration(input), Ok(want), "{input}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        for input in ["", "s", ".s", "-", "1..5s", "3 s"] {
            assert!(parse_duration(input).is_err(), "{input}");
        }
        assert_eq!(
            parse_duration("20"),
            Err(DurationError::MissingUnit("20".into()))
        );
        assert!(matches!(
            parse_duration("3d"),
            Err(DurationError::UnknownUnit { .. })
        ));
        assert_eq!(
            parse_duration("-1s"),
            Err(DurationError::Negative("-1s".into()))
        );
        assert!(matches!(
            parse_duration("2562048h"),
            Err(DurationError::Overflow(_))
        ));
        assert!(matches!(
            parse_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::Overflow(_))
        ));
    }

    #[test]
    fn formats_like_go_and_round_trips() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(5), "5ns"),
            (Duration::from_micros(1500), "1.5ms"),
            (Duration::from_nanos(2500), "2.5\u{b5}s"),
            (Duration::from_millis(100), "100ms"),
            (Duration::from_millis(10), "10ms"),
            (Duration::from_secs(3), "3s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3601), "1h0m1s"),
        ] {
            assert_eq!(GoDuration(d).to_string(), text);
            assert_eq!(parse_duration(text), Ok(d), "{text}");
        }
    }
}
