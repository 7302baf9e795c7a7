//! Fetching a peer's NodeInfo without judging it: the SecretConnection
//! handshake and the NodeInfo exchange, driven directly over a TCP stream.
//!
//! A session refuses a peer on another network before its NodeInfo can be
//! read (and forgets it). A probe still wants to show that NodeInfo, so
//! after such a refusal it connects again and runs only these two steps,
//! which stop as soon as the peer's NodeInfo is in. The peer's ID is still
//! checked against the one dialed.

use mconn::handshake::{check_dialed_id, NodeInfoExchange};
use mconn::identity::{NodeId, NodeKey};
use mconn::secret::{SecretConnection, SEALED_FRAME_LEN};
use mconn::wire::node_info::{NodeInfo, StoredNodeInfo};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use super::ProbeFailure;

/// Runs the handshake and the NodeInfo exchange on `stream` as `key`,
/// announcing `local`, and returns the peer's NodeInfo as received
/// (decoded, not validated). The caller bounds the time.
pub(super) async fn fetch_node_info(
    mut stream: TcpStream,
    key: &NodeKey,
    local: &NodeInfo<'_>,
    dialed: NodeId,
) -> Result<StoredNodeInfo<Vec<u8>>, ProbeFailure> {
    let mut secret = SecretConnection::new(key, mconn_driver::ephemeral_key());
    let mut exchange = NodeInfoExchange::from_info(local)
        .map_err(|e| ProbeFailure::Handshake(format!("our NodeInfo: {e}")))?;
    let mut rx = vec![0u8; 16 * 1024];
    let mut tx = vec![0u8; 4 * SEALED_FRAME_LEN];
    let mut authenticated = false;
    let secret_failed = |e| ProbeFailure::Handshake(format!("secret connection: {e}"));
    loop {
        // Everything we can send now: handshake bytes, then our NodeInfo.
        let mut n = secret.poll_transmit(&mut tx);
        while secret.is_established() && !exchange.is_sent() && n + SEALED_FRAME_LEN <= tx.len() {
            let frame = &mut tx[n..n + SEALED_FRAME_LEN];
            n += secret
                .seal_frame(frame, |plain| exchange.poll_transmit(plain))
                .map_err(secret_failed)?;
        }
        if n > 0 {
            stream.write_all(&tx[..n]).await.map_err(ProbeFailure::io)?;
            continue;
        }
        if exchange.is_received() {
            break;
        }
        let got = stream.read(&mut rx).await.map_err(ProbeFailure::io)?;
        if got == 0 {
            return Err(ProbeFailure::Closed);
        }
        let mut input = &rx[..got];
        // Each pass consumes input or plaintext, else stops: bounded by `got`.
        for _ in 0..=got {
            let used = secret.handle_input(input).map_err(secret_failed)?;
            input = &input[used..];
            if let (false, Some(remote)) = (authenticated, secret.remote_id()) {
                authenticated = true;
                if check_dialed_id(&remote.0, &dialed.0).is_err() {
                    return Err(ProbeFailure::WrongId {
                        expected: dialed,
                        actual: Some(remote),
                    });
                }
            }
            let plain = secret.plaintext();
            let fed = if plain.is_empty() || exchange.is_received() {
                0
            } else {
                exchange
                    .handle_input(plain)
                    .map_err(ProbeFailure::InvalidNodeInfo)?
            };
            secret.consume_plaintext(fed);
            if exchange.is_received() || (used == 0 && fed == 0) {
                break;
            }
        }
    }
    let body = exchange.peer_bytes().unwrap_or_default().to_vec();
    StoredNodeInfo::new(body).map_err(|e| ProbeFailure::InvalidNodeInfo(e.into()))
}
