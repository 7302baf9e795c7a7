//! A 10-node loopback mesh on the switch, started from persistent peers, on
//! tokio and on smol (one generic scenario): every node broadcasts 1,000
//! messages on each of two reactors' channels; every message must arrive at
//! every other node exactly once, in per-channel order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mconn::identity::{NetAddr, NodeId, NodeKey};
use mconn::switch::{ChannelDescriptor, SwitchConfig};
use mconn_driver::switch::{Reactor, Runtime, Switch, SwitchPeer};
use mconn_driver::NodeConfig;

const NODES: usize = 10;
const MESSAGES: u32 = 1_000;
const CHANNELS: [u8; 2] = [0x60, 0x61];

/// What one node received: (sender, channel) → the sequence numbers, in
/// arrival order.
type Log = Arc<Mutex<BTreeMap<(NodeId, u8), Vec<u32>>>>;

/// A reactor owning one channel, recording every message.
struct Recorder {
    channel: u8,
    log: Log,
}

impl<RT: Runtime> Reactor<RT> for Recorder {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(self.channel, 5)]
    }

    async fn receive(&mut self, channel: u8, peer: &SwitchPeer<RT>, msg: Vec<u8>) {
        assert_eq!(channel, self.channel);
        let seq = u32::from_be_bytes(msg[..4].try_into().unwrap());
        assert_eq!(msg.len(), 64, "message bodies arrive whole");
        let mut log = self.log.lock().unwrap();
        log.entry((peer.id(), channel)).or_default().push(seq);
    }
}

async fn sleep<RT: Runtime>(d: Duration) {
    RT::sleep_until(RT::now() + d).await;
}

/// Waits (bounded) until `ready` holds, polling every 20 ms.
async fn wait_until<RT: Runtime>(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = RT::now() + limit;
    while !ready() {
        assert!(RT::now() < deadline, "timed out waiting for {what}");
        sleep::<RT>(Duration::from_millis(20)).await;
    }
}

async fn mesh<RT: Runtime>() {
    let mut switches: Vec<Switch<RT>> = Vec::new();
    let mut logs: Vec<Log> = Vec::new();
    let mut addrs: Vec<NetAddr> = Vec::new();
    for i in 0..NODES {
        let key = NodeKey::from_seed([i as u8 + 1; 32]);
        let node = NodeConfig::new(key, "mesh-net", &[]);
        let mut config = SwitchConfig::new(node.key.node_id());
        config.allow_duplicate_ip = true; // every node is on 127.0.0.1
        config.persistent_peers = addrs.clone();
        let log = Log::default();
        let switch = Switch::<RT>::builder(node, config)
            .reactor(Recorder {
                channel: CHANNELS[0],
                log: log.clone(),
            })
            .unwrap()
            .reactor(Recorder {
                channel: CHANNELS[1],
                log: log.clone(),
            })
            .unwrap()
            .listen("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .unwrap();
        addrs.push(switch.net_addr().expect("listening on an IP address"));
        switches.push(switch);
        logs.push(log);
    }
    wait_until::<RT>("the full mesh", Duration::from_secs(60), || {
        switches.iter().all(|s| s.peers().len() == NODES - 1)
    })
    .await;
    for s in &switches {
        let peers = s.peers();
        let outbound = peers.num_outbound();
        assert_eq!(peers.len(), NODES - 1);
        assert!(peers.list().iter().all(|p| p.id() != s.node_id()));
        assert_eq!(outbound + peers.num_inbound(), NODES - 1);
    }

    // Every node broadcasts concurrently. A broadcast that did not reach
    // every peer is recorded (an assertion inside a spawned task would
    // only show as the wait below timing out).
    let done = Arc::new(Mutex::new(0usize));
    let short = Arc::new(Mutex::new(Vec::new()));
    for s in &switches {
        let (s, done, short) = (s.clone(), done.clone(), short.clone());
        RT::spawn(async move {
            'sending: for seq in 0..MESSAGES {
                for ch in CHANNELS {
                    let mut msg = [0u8; 64];
                    msg[..4].copy_from_slice(&seq.to_be_bytes());
                    msg[4] = ch;
                    let b = s.broadcast(ch, &msg).await;
                    if (b.queued, b.failed) != (NODES - 1, 0) {
                        short
                            .lock()
                            .unwrap()
                            .push(format!("seq {seq} on {ch:#x}: {b:?}"));
                        break 'sending;
                    }
                }
            }
            *done.lock().unwrap() += 1;
        });
    }
    let total = |log: &Log| log.lock().unwrap().values().map(Vec::len).sum::<usize>();
    let want = (NODES - 1) * CHANNELS.len() * MESSAGES as usize;
    wait_until::<RT>("every message", Duration::from_secs(240), || {
        let all_sent = *done.lock().unwrap() == NODES;
        all_sent && (!short.lock().unwrap().is_empty() || logs.iter().all(|l| total(l) >= want))
    })
    .await;
    let short = short.lock().unwrap().clone();
    assert!(short.is_empty(), "broadcasts that missed peers: {short:?}");
    // Nothing more trickles in (no duplicates).
    sleep::<RT>(Duration::from_millis(200)).await;
    let expected: Vec<u32> = (0..MESSAGES).collect();
    for (i, log) in logs.iter().enumerate() {
        let log = log.lock().unwrap();
        assert_eq!(
            log.len(),
            (NODES - 1) * CHANNELS.len(),
            "node {i}: senders × channels"
        );
        for ((from, ch), seqs) in log.iter() {
            assert_ne!(*from, switches[i].node_id());
            assert_eq!(seqs, &expected, "node {i} from {from} on {ch:#x}");
        }
    }
    for s in &switches {
        s.stop().await;
    }
    for s in &switches {
        assert!(s.peers().is_empty(), "stop closes every peer");
    }
}

#[test]
fn tokio_ten_node_mesh_broadcasts_arrive_once_in_order() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(mesh::<mconn_tokio::Tokio>());
}

#[test]
fn smol_ten_node_mesh_broadcasts_arrive_once_in_order() {
    smol::block_on(mesh::<mconn_smol::Smol>());
}
