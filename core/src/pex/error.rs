//! Typed errors of the address book.

use core::fmt;

/// Why [`AddrBook::add_address`](super::AddrBook::add_address) refused an
/// address (CometBFT's `AddAddress` rejections, spec §7.3, plus our subnet cap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddError {
    /// The IP is unspecified, RFC 3849 documentation or IPv4 broadcast.
    Invalid,
    /// Strict mode and the address is local or not routable.
    NonRoutable,
    /// The ID is banned.
    Banned,
    /// The address's ID is one of our private IDs.
    PrivateId,
    /// The source's ID is one of our private IDs.
    PrivateSource,
    /// One of our own addresses (same ID, or same IP and port).
    Ours,
    /// The ID is already in an old bucket (known good; its address is not
    /// replaced, which would help an eclipse attack).
    AlreadyOld,
    /// The ID is already in the most new buckets one address may occupy.
    MaxBuckets,
    /// Ours: the address's /24 (IPv4) or /48 (IPv6) already has the
    /// configured maximum of entries.
    SubnetFull,
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddError::Invalid => "invalid address",
            AddError::NonRoutable => "address is not routable",
            AddError::Banned => "address is banned",
            AddError::PrivateId => "address has a private ID",
            AddError::PrivateSource => "source has a private ID",
            AddError::Ours => "address is one of our own",
            AddError::AlreadyOld => "address is already in an old bucket",
            AddError::MaxBuckets => "address is already in the maximum number of new buckets",
            AddError::SubnetFull => "the address's subnet is full",
        })
    }
}

impl core::error::Error for AddError {}

/// A configured list (private IDs, our addresses) is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapacityError {
    /// The configured bound that was reached.
    pub capacity: usize,
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "list is full ({} entries)", self.capacity)
    }
}

impl core::error::Error for CapacityError {}
