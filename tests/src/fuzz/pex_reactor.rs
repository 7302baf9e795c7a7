//! Target `pex_reactor` (being written).

/// See the module docs.
pub fn pex_reactor(_data: &[u8]) {}

pub(super) fn seeds(_out: &mut Vec<super::seeds::Seed>) {}
