//! The receiver's checks on a peer's NodeInfo (spec §3.3), in Go's order.

use super::listen_addr::parse_listen_addr;
use super::NodeInfoError;
use crate::wire::node_info::NodeInfo;

/// Most channels a NodeInfo may list (`maxNumChannels`).
pub const MAX_NUM_CHANNELS: usize = 16;

/// Go's `IsASCIIText(s) && ASCIITrim(s) != ""`: non-empty, bytes 32..=126,
/// not all spaces.
fn is_printable_text(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().all(|c| (32..=126).contains(c)) && b.iter().any(|&c| c != b' ')
}

/// Decodes a node ID: exactly 40 hex digits (either case, like Go's
/// `validateID`) into 20 bytes.
pub(crate) fn parse_node_id(id: &str) -> Option<[u8; 20]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let b = id.as_bytes();
    if b.len() != 40 {
        return None;
    }
    let mut out = [0u8; 20];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// Whether `id` is exactly the lowercase hex of `raw` (Go compares ID strings).
fn id_equals(id: &str, raw: &[u8; 20]) -> bool {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let b = id.as_bytes();
    b.len() == 40
        && raw.iter().zip(b.chunks_exact(2)).all(|(&x, pair)| {
            pair[0] == HEX[usize::from(x >> 4)] && pair[1] == HEX[usize::from(x & 0xf)]
        })
}

/// Go's `DefaultNodeInfo.Validate()`, plus the node ID check Go performs
/// while parsing the listen address. Checks, in order: node ID, listen
/// address, version, channels (count, duplicates), moniker, tx_index, RPC
/// address. See [`parse_listen_addr`] for what "valid host" means without DNS.
///
/// ```
/// use mconn::handshake::{validate, NodeInfoError};
/// use mconn::wire::node_info::NodeInfo;
/// let info = NodeInfo {
///     default_node_id: "56475aa75463474c0285df5dbf2bcab73da65135",
///     listen_addr: "tcp://0.0.0.0:26656",
///     moniker: "node-a",
///     ..NodeInfo::default()
/// };
/// assert_eq!(validate(&info), Ok(()));
/// assert_eq!(validate(&NodeInfo { moniker: "  ", ..info }), Err(NodeInfoError::InvalidMoniker));
/// assert_eq!(validate(&NodeInfo { channels: &[1, 2, 1], ..info }), Err(NodeInfoError::DuplicateChannel(1)));
/// ```
pub fn validate(info: &NodeInfo<'_>) -> Result<(), NodeInfoError> {
    parse_node_id(info.default_node_id).ok_or(NodeInfoError::InvalidNodeId)?;
    parse_listen_addr(info.listen_addr)?;
    if !info.version.is_empty() && !is_printable_text(info.version) {
        return Err(NodeInfoError::InvalidVersion);
    }
    if info.channels.len() > MAX_NUM_CHANNELS {
        return Err(NodeInfoError::TooManyChannels);
    }
    let mut seen = [false; 256];
    for &ch in info.channels {
        let slot = &mut seen[usize::from(ch)];
        if *slot {
            return Err(NodeInfoError::DuplicateChannel(ch));
        }
        *slot = true;
    }
    if !is_printable_text(info.moniker) {
        return Err(NodeInfoError::InvalidMoniker);
    }
    if !matches!(info.tx_index, "" | "on" | "off") {
        return Err(NodeInfoError::InvalidTxIndex);
    }
    if !info.rpc_address.is_empty() && !is_printable_text(info.rpc_address) {
        return Err(NodeInfoError::InvalidRpcAddress);
    }
    Ok(())
}

/// Dialer only: the key the SecretConnection authenticated must be the one
/// we dialed (`id@host:port`). Go checks this right after the
/// SecretConnection, before sending its NodeInfo; [`check_peer`] repeats it.
pub fn check_dialed_id(
    authenticated_remote_id: &[u8; 20],
    dialed_id: &[u8; 20],
) -> Result<(), NodeInfoError> {
    if authenticated_remote_id == dialed_id {
        Ok(())
    } else {
        Err(NodeInfoError::DialedIdMismatch)
    }
}

/// Go's `CompatibleWith`: same `protocol_version.block` (p2p and app
/// versions are not compared), same network, and at least one common
/// channel if `local` lists any.
pub fn check_compatible(local: &NodeInfo<'_>, remote: &NodeInfo<'_>) -> Result<(), NodeInfoError> {
    if local.protocol_version.block != remote.protocol_version.block {
        return Err(NodeInfoError::BlockVersionMismatch);
    }
    if local.network != remote.network {
        return Err(NodeInfoError::NetworkMismatch);
    }
    if !local.channels.is_empty() && !local.channels.iter().any(|c| remote.channels.contains(c)) {
        return Err(NodeInfoError::NoCommonChannel);
    }
    Ok(())
}

/// Every check on a received NodeInfo, in Go's order: [`validate`], the ID
/// equals the authenticated one (string comparison with its lowercase hex),
/// the dialed ID matches (`dialed_id` is `None` for inbound connections),
/// not ourselves, [`check_compatible`].
///
/// IDs are raw 20-byte node IDs (see the [module docs](super)).
pub fn check_peer(
    remote: &NodeInfo<'_>,
    local: &NodeInfo<'_>,
    authenticated_remote_id: &[u8; 20],
    dialed_id: Option<&[u8; 20]>,
) -> Result<(), NodeInfoError> {
    validate(remote)?;
    if !id_equals(remote.default_node_id, authenticated_remote_id) {
        return Err(NodeInfoError::IdMismatch);
    }
    if let Some(dialed) = dialed_id {
        check_dialed_id(authenticated_remote_id, dialed)?;
    }
    if remote.default_node_id == local.default_node_id
        || parse_node_id(local.default_node_id) == Some(*authenticated_remote_id)
    {
        return Err(NodeInfoError::SelfConnection);
    }
    check_compatible(local, remote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::node_info::ProtocolVersion;

    const A_ID: &str = "56475aa75463474c0285df5dbf2bcab73da65135";
    const B_ID: &str = "24f6ed6acbfe1009c030d7ca567c33ca48309114";
    const ALL: &[u8] = &[0x40, 0x20, 0x21, 0x22, 0x23, 0x30, 0x38, 0x60, 0x61, 0x00];

    fn raw(id: &str) -> [u8; 20] {
        parse_node_id(id).unwrap()
    }

    fn info(id: &'static str) -> NodeInfo<'static> {
        NodeInfo {
            protocol_version: ProtocolVersion::new(8, 11, 0),
            default_node_id: id,
            listen_addr: "tcp://0.0.0.0:26656",
            network: "test-chain",
            version: "0.38.25",
            channels: ALL,
            moniker: "node",
            tx_index: "on",
            rpc_address: "tcp://127.0.0.1:26657",
        }
    }

    fn check(remote: &NodeInfo<'_>) -> Result<(), NodeInfoError> {
        check_peer(remote, &info(A_ID), &raw(B_ID), None)
    }

    #[test]
    fn node_ids() {
        assert_eq!(raw(A_ID)[0], 0x56);
        assert_eq!(
            parse_node_id("24F6ED6ACBFE1009C030D7CA567C33CA48309114"),
            Some(raw(B_ID))
        );
        assert!(id_equals(B_ID, &raw(B_ID)));
        assert!(!id_equals(A_ID, &raw(B_ID)));
        let ok = info(B_ID);
        assert_eq!(validate(&ok), Ok(()));
        for bad in [
            "",
            "56475aa7",
            "zz475aa75463474c0285df5dbf2bcab73da65135",
            "56475aa75463474c0285df5dbf2bcab73da6513500",
        ] {
            assert_eq!(
                validate(&NodeInfo {
                    default_node_id: bad,
                    ..ok
                }),
                Err(NodeInfoError::InvalidNodeId),
                "{bad}"
            );
        }
    }

    #[test]
    fn each_validation_rule() {
        use NodeInfoError::*;
        let ok = info(B_ID);
        let cases: &[(NodeInfo<'_>, Result<(), NodeInfoError>)] = &[
            (NodeInfo { version: "", ..ok }, Ok(())),
            (
                NodeInfo {
                    version: "v 1.0 ~",
                    ..ok
                },
                Ok(()),
            ),
            (
                NodeInfo {
                    version: "0.38\t",
                    ..ok
                },
                Err(InvalidVersion),
            ),
            (
                NodeInfo {
                    version: "0.38\u{e9}",
                    ..ok
                },
                Err(InvalidVersion),
            ),
            (
                NodeInfo {
                    version: "   ",
                    ..ok
                },
                Err(InvalidVersion),
            ),
            (
                NodeInfo {
                    channels: &[],
                    ..ok
                },
                Ok(()),
            ),
            (
                NodeInfo {
                    channels: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
                    ..ok
                },
                Ok(()),
            ),
            (
                NodeInfo {
                    channels: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
                    ..ok
                },
                Err(TooManyChannels),
            ),
            (
                NodeInfo {
                    channels: &[0x20, 0x40, 0x20],
                    ..ok
                },
                Err(DuplicateChannel(0x20)),
            ),
            (NodeInfo { moniker: "", ..ok }, Err(InvalidMoniker)),
            (NodeInfo { moniker: " ", ..ok }, Err(InvalidMoniker)),
            (
                NodeInfo {
                    moniker: "a\nb",
                    ..ok
                },
                Err(InvalidMoniker),
            ),
            (
                NodeInfo {
                    moniker: " x ",
                    ..ok
                },
                Ok(()),
            ),
            (NodeInfo { tx_index: "", ..ok }, Ok(())),
            (
                NodeInfo {
                    tx_index: "off",
                    ..ok
                },
                Ok(()),
            ),
            (
                NodeInfo {
                    tx_index: "ON",
                    ..ok
                },
                Err(InvalidTxIndex),
            ),
            (
                NodeInfo {
                    tx_index: "kv",
                    ..ok
                },
                Err(InvalidTxIndex),
            ),
            (
                NodeInfo {
                    rpc_address: "",
                    ..ok
                },
                Ok(()),
            ),
            (
                NodeInfo {
                    rpc_address: "  ",
                    ..ok
                },
                Err(InvalidRpcAddress),
            ),
            (
                NodeInfo {
                    rpc_address: "tcp://\x7f",
                    ..ok
                },
                Err(InvalidRpcAddress),
            ),
            (
                NodeInfo {
                    listen_addr: "1.2.3.4",
                    ..ok
                },
                Err(InvalidListenAddr),
            ),
            (
                NodeInfo {
                    listen_addr: "1.2.3.4:70000",
                    ..ok
                },
                Err(InvalidListenAddr),
            ),
            (
                NodeInfo {
                    listen_addr: ":26656",
                    ..ok
                },
                Err(InvalidListenAddr),
            ),
            (
                NodeInfo {
                    listen_addr: "!!garbage!!",
                    ..ok
                },
                Err(InvalidListenAddr),
            ),
            (
                NodeInfo {
                    listen_addr: "",
                    ..ok
                },
                Err(InvalidListenAddr),
            ),
            (
                NodeInfo {
                    listen_addr: "node-b.example:26656",
                    ..ok
                },
                Ok(()),
            ),
        ];
        for (i, (case, want)) in cases.iter().enumerate() {
            assert_eq!(validate(case), *want, "case {i}: {case:?}");
        }
    }

    #[test]
    fn peer_checks_in_order() {
        use NodeInfoError::*;
        let b = info(B_ID);
        let a = info(A_ID);
        assert_eq!(check(&b), Ok(()));
        // Validation comes first, even when the ID is wrong too.
        assert_eq!(
            check(&NodeInfo {
                moniker: "",
                default_node_id: A_ID,
                ..b
            }),
            Err(InvalidMoniker)
        );
        // Claims another (valid) ID than the authenticated one.
        assert_eq!(
            check(&NodeInfo {
                default_node_id: A_ID,
                ..b
            }),
            Err(IdMismatch)
        );
        // Upper-case hex is valid but is not the same string.
        let upper = "24F6ED6ACBFE1009C030D7CA567C33CA48309114";
        assert_eq!(
            check(&NodeInfo {
                default_node_id: upper,
                ..b
            }),
            Err(IdMismatch)
        );
        // Dialed someone else.
        assert_eq!(check_peer(&b, &a, &raw(B_ID), Some(&raw(B_ID))), Ok(()));
        assert_eq!(
            check_peer(&b, &a, &raw(B_ID), Some(&raw(A_ID))),
            Err(DialedIdMismatch)
        );
        assert_eq!(
            check_dialed_id(&raw(A_ID), &raw(B_ID)),
            Err(DialedIdMismatch)
        );
        // Ourselves.
        assert_eq!(check_peer(&a, &a, &raw(A_ID), None), Err(SelfConnection));
        // Compatibility.
        let v1 = NodeInfo {
            protocol_version: ProtocolVersion::new(9, 11, 7),
            version: "1.0.1",
            ..b
        };
        assert_eq!(check(&v1), Ok(()));
        let other_block = NodeInfo {
            protocol_version: ProtocolVersion::new(8, 10, 0),
            ..b
        };
        assert_eq!(check(&other_block), Err(BlockVersionMismatch));
        assert_eq!(
            check(&NodeInfo {
                network: "other-chain",
                ..b
            }),
            Err(NetworkMismatch)
        );
        assert_eq!(
            check(&NodeInfo {
                channels: &[0x01, 0x02],
                ..b
            }),
            Err(NoCommonChannel)
        );
        assert_eq!(
            check(&NodeInfo { channels: &[], ..b }),
            Err(NoCommonChannel)
        );
        assert_eq!(
            check(&NodeInfo {
                channels: &[0x99, 0x00],
                ..b
            }),
            Ok(())
        );
        // An empty local channel list accepts anyone.
        let quiet = NodeInfo { channels: &[], ..a };
        assert_eq!(
            check_peer(
                &NodeInfo {
                    channels: &[0x01],
                    ..b
                },
                &quiet,
                &raw(B_ID),
                None
            ),
            Ok(())
        );
    }
}
