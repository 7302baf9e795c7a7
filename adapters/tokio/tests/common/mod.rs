//! Scenario shared by the adapter tests (tokio, smol, tokio↔smol): both
//! sides send messages of 0 B … 1 MiB on several channels at once and check
//! that each arrives exactly once, intact, in order per channel.
#![allow(dead_code)]

use futures::future::join_all;
use mconn::conn::{ChannelConfig, GrowBuf};
use mconn::identity::NodeKey;
use mconn_driver::{Conn, Error, NodeConfig, Platform};

pub const NETWORK: &str = "adapter-test";
pub const MIB: usize = 1 << 20;

/// Three channels with different priorities, room for 1 MiB messages.
pub fn channels() -> Vec<ChannelConfig> {
    [(0x10, 10), (0x11, 5), (0x12, 1)]
        .into_iter()
        .map(|(id, prio)| {
            ChannelConfig::new(id, prio)
                .send_queue(8)
                .recv_message_capacity(MIB + 16)
        })
        .collect()
}

pub fn config(seed: u8, encrypted: bool) -> NodeConfig {
    let mut c = NodeConfig::new(NodeKey::from_seed([seed; 32]), NETWORK, &channels());
    c.encrypted = encrypted;
    c.moniker = format!("node-{seed}");
    // Generous bounds: debug builds on a loaded 2-core machine are slow;
    // the timeouts themselves are tested with short values elsewhere.
    c.send_timeout = std::time::Duration::from_secs(60);
    c.session.handshake_timeout = std::time::Duration::from_secs(20);
    c.session.node_info_timeout = std::time::Duration::from_secs(20);
    c.linger = std::time::Duration::from_secs(20);
    c
}

/// What each channel carries, by message size.
pub fn plan() -> Vec<(u8, Vec<usize>)> {
    vec![
        (
            0x10,
            vec![0, 1, 7, 100, 1023, 1024, 1025, 4096, 0, 65_536, 3, MIB],
        ),
        (0x11, vec![MIB, 0, 2048, 1, 100_000, 17, 0, 1024 * 1024 - 1]),
        (0x12, (0..200).map(|i| (i * 37) % 3000).collect()),
    ]
}

/// Message `seq` of channel `ch`: recognisable bytes of length `len`.
pub fn payload(ch: u8, seq: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ ch ^ (seq as u8).wrapping_mul(7) ^ (i >> 10) as u8)
        .collect()
}

/// Sends the plan on every channel concurrently (`send` waits for room).
pub async fn send_plan<P: Platform>(peer: &Conn<P, GrowBuf>) -> Result<(), Error> {
    let per_channel = plan().into_iter().map(|(ch, sizes)| async move {
        for (seq, len) in sizes.into_iter().enumerate() {
            peer.send(ch, &payload(ch, seq, len)).await?;
        }
        Ok::<_, Error>(())
    });
    join_all(per_channel).await.into_iter().collect()
}

/// Receives the plan on every channel concurrently and checks it.
pub async fn recv_plan<P: Platform>(peer: &Conn<P, GrowBuf>) -> Result<(), Error> {
    let per_channel = plan().into_iter().map(|(ch, sizes)| async move {
        for (seq, len) in sizes.into_iter().enumerate() {
            let got = match peer.recv(ch).await {
                Ok(m) => m,
                Err(e) => panic!(
                    "channel {ch:#x} message {seq}: {e:?}; {:?}; {:?}",
                    peer.channel_stats(ch),
                    peer.stats()
                ),
            };
            assert_eq!(got.len(), len, "channel {ch:#x} message {seq}: length");
            assert!(
                got == payload(ch, seq, len),
                "channel {ch:#x} message {seq}: content"
            );
        }
        Ok::<_, Error>(())
    });
    join_all(per_channel)
        .await
        .into_iter()
        .collect::<Result<(), Error>>()?;
    for (ch, _) in plan() {
        // Nothing more (the peer may have closed already: then `Closed`).
        let extra = peer.try_recv(ch).map(|m| m.map(|m| m.len()));
        assert!(
            matches!(extra, Ok(None) | Err(Error::Closed(_))),
            "channel {ch:#x}: {extra:?}"
        );
    }
    Ok(())
}

/// Both directions at once.
pub async fn exchange<P: Platform>(peer: &Conn<P, GrowBuf>) {
    let (sent, received) = futures::join!(send_plan(peer), recv_plan(peer));
    sent.expect("send plan");
    received.expect("receive plan");
}

/// Checks what a connected peer reports about the other side.
pub fn check_identity<P: Platform>(peer: &Conn<P, GrowBuf>, remote_seed: u8, outbound: bool) {
    assert_eq!(peer.is_outbound(), outbound);
    assert_eq!(
        peer.remote_id(),
        Some(NodeKey::from_seed([remote_seed; 32]).node_id())
    );
    let info = peer.remote_node_info().expect("node info");
    assert_eq!(info.info().moniker, format!("node-{remote_seed}"));
    assert_eq!(info.info().network, NETWORK);
}
