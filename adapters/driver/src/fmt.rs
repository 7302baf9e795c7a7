//! Logging macros that forward to `defmt`, `log`, or nothing.
//!
//! Use them with plain `{}` / `{:?}` placeholders and arguments that implement
//! both `core::fmt::Debug`/`Display` and `defmt::Format` when that feature is on.
#![allow(unused_macros)]

#[cfg(feature = "defmt")]
macro_rules! trace { ($($t:tt)*) => { ::defmt::trace!($($t)*) } }
#[cfg(feature = "defmt")]
macro_rules! debug { ($($t:tt)*) => { ::defmt::debug!($($t)*) } }
#[cfg(feature = "defmt")]
macro_rules! warn { ($($t:tt)*) => { ::defmt::warn!($($t)*) } }

#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! trace { ($($t:tt)*) => { ::log::trace!($($t)*) } }
#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! debug { ($($t:tt)*) => { ::log::debug!($($t)*) } }
#[cfg(all(feature = "log", not(feature = "defmt")))]
macro_rules! warn { ($($t:tt)*) => { ::log::warn!($($t)*) } }

#[cfg(not(any(feature = "log", feature = "defmt")))]
macro_rules! trace { ($($t:tt)*) => {{ let _ = || { let _ = ::core::format_args!($($t)*); }; }} }
#[cfg(not(any(feature = "log", feature = "defmt")))]
macro_rules! debug { ($($t:tt)*) => {{ let _ = || { let _ = ::core::format_args!($($t)*); }; }} }
#[cfg(not(any(feature = "log", feature = "defmt")))]
macro_rules! warn { ($($t:tt)*) => {{ let _ = || { let _ = ::core::format_args!($($t)*); }; }} }
