//! What the testnet observes of each node, and the summary it prints.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use mconn::identity::NodeId;
use serde_json::{json, Value};

use super::{Testnet, TestnetNode};

/// One node, as observed at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    /// Its moniker.
    pub moniker: String,
    /// Its ID.
    pub id: NodeId,
    /// Whether it is the seed.
    pub is_seed: bool,
    /// Its bound p2p address.
    pub listen: Option<SocketAddr>,
    /// Its RPC address, if serving.
    pub rpc: Option<SocketAddr>,
    /// Other non-seed nodes (what it must find).
    pub others: usize,
    /// Of those, how many its book holds.
    pub known: usize,
    /// Of those, how many it is connected to.
    pub connected: usize,
    /// How many it must be connected to: `min(others, max outbound)`.
    pub target: usize,
    /// All its peers now (the seed included, while connected).
    pub peers: usize,
    /// Live entries in its book.
    pub book_size: usize,
    /// Demo messages it received.
    pub received: u64,
    /// Demo messages it sent.
    pub sent: u64,
}

impl NodeView {
    /// Observes `node`; `members` are the non-seed nodes' IDs.
    pub(super) fn of(node: &TestnetNode, members: &[NodeId]) -> NodeView {
        let id = node.id();
        let book: BTreeSet<NodeId> = crate::book::known_ids(&node.pex);
        let peers = node.switch.peers();
        let others: Vec<&NodeId> = members.iter().filter(|m| **m != id).collect();
        let max_outbound = node.switch.with_policy(|p| p.config().max_outbound);
        NodeView {
            moniker: node.moniker.clone(),
            id,
            is_seed: node.is_seed,
            listen: node.switch.local_addr(),
            rpc: node.rpc.as_ref().map(|r| r.local_addr()),
            others: others.len(),
            known: others.iter().filter(|o| book.contains(o)).count(),
            connected: others.iter().filter(|o| peers.has(o)).count(),
            target: others.len().min(max_outbound),
            peers: peers.len(),
            book_size: book.len(),
            received: node.demo.received(),
            sent: node.demo.sent(),
        }
    }

    /// Whether this node has found the network (the seed always has).
    pub fn is_complete(&self) -> bool {
        self.is_seed || (self.known == self.others && self.connected >= self.target)
    }
}

/// Which nodes are still missing what, for the timeout error (the first
/// few).
pub(super) fn missing(views: &[NodeView]) -> String {
    const SHOWN: usize = 4;
    let incomplete: Vec<&NodeView> = views.iter().filter(|v| !v.is_complete()).collect();
    let mut parts: Vec<String> = incomplete
        .iter()
        .take(SHOWN)
        .map(|v| {
            format!(
                "{} knows {}/{} and is connected to {}/{}",
                v.moniker, v.known, v.others, v.connected, v.target
            )
        })
        .collect();
    if incomplete.len() > SHOWN {
        parts.push(format!("{} more", incomplete.len() - SHOWN));
    }
    parts.join("; ")
}

/// Smallest, mean and largest of a set of counts.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Smallest.
    pub min: usize,
    /// Mean.
    pub mean: f64,
    /// Largest.
    pub max: usize,
}

impl Stats {
    /// Of `values` (all zero when empty).
    pub fn of(values: impl IntoIterator<Item = usize>) -> Stats {
        let values: Vec<usize> = values.into_iter().collect();
        if values.is_empty() {
            return Stats::default();
        }
        Stats {
            min: values.iter().copied().min().unwrap_or(0),
            mean: values.iter().sum::<usize>() as f64 / values.len() as f64,
            max: values.iter().copied().max().unwrap_or(0),
        }
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "min {}, mean {:.1}, max {}",
            self.min, self.mean, self.max
        )
    }
}

/// The testnet's summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The network.
    pub network: String,
    /// Time to full discovery, if it completed.
    pub discovery: Option<Duration>,
    /// Every node.
    pub views: Vec<NodeView>,
    /// Other non-seed nodes each non-seed node is connected to.
    pub peers: Stats,
    /// Other non-seed nodes each non-seed node's book holds.
    pub known: Stats,
    /// Demo messages received, all nodes together.
    pub messages_exchanged: u64,
}

impl Report {
    pub(super) fn new(testnet: &Testnet, discovery: Option<Duration>) -> Report {
        let views = testnet.observe();
        let members = || views.iter().filter(|v| !v.is_seed);
        Report {
            network: testnet.network.clone(),
            discovery,
            peers: Stats::of(members().map(|v| v.connected)),
            known: Stats::of(members().map(|v| v.known)),
            messages_exchanged: views.iter().map(|v| v.received).sum(),
            views,
        }
    }

    /// Whether every non-seed node knows and is connected to every other.
    pub fn everyone_sees_everyone(&self) -> bool {
        self.views
            .iter()
            .filter(|v| !v.is_seed)
            .all(|v| v.known == v.others && v.connected == v.others)
    }

    /// The summary as JSON.
    pub fn to_json(&self) -> Value {
        let nodes: Vec<Value> = self
            .views
            .iter()
            .map(|v| {
                json!({
                    "moniker": v.moniker,
                    "id": v.id.to_string(),
                    "seed": v.is_seed,
                    "listen": v.listen.map(|a| a.to_string()),
                    "rpc": v.rpc.map(|a| a.to_string()),
                    "others": v.others,
                    "known": v.known,
                    "connected": v.connected,
                    "peers": v.peers,
                    "book_size": v.book_size,
                    "messages_sent": v.sent,
                    "messages_received": v.received,
                })
            })
            .collect();
        let stats = |s: &Stats| json!({ "min": s.min, "mean": s.mean, "max": s.max });
        json!({
            "network": self.network,
            "nodes": self.views.len(),
            "complete": self.discovery.is_some(),
            "discovery_s": self.discovery.map(|d| d.as_secs_f64()),
            "everyone_sees_everyone": self.everyone_sees_everyone(),
            "connected_per_node": stats(&self.peers),
            "known_per_node": stats(&self.known),
            "messages_exchanged": self.messages_exchanged,
            "per_node": nodes,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members = self.views.iter().filter(|v| !v.is_seed).count();
        writeln!(
            f,
            "testnet {}: {} nodes on 127.0.0.1 (1 seed, {members} discovering through PEX)",
            self.network,
            self.views.len()
        )?;
        match self.discovery {
            Some(d) => writeln!(f, "full discovery after   {:.1} s", d.as_secs_f64())?,
            None => writeln!(f, "full discovery         not reached")?,
        }
        writeln!(
            f,
            "peers per node         {} (of {})",
            self.peers,
            members.saturating_sub(1)
        )?;
        writeln!(f, "known per node (book)  {}", self.known)?;
        writeln!(f, "messages exchanged     {}", self.messages_exchanged)?;
        writeln!(
            f,
            "every node sees every other: {}",
            if self.everyone_sees_everyone() {
                "yes"
            } else {
                "no"
            }
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<8} {:<40} {:<21} {:>5} {:>9} {:>5} {:>8}",
            "node", "id", "listen", "peers", "connected", "known", "received"
        )?;
        for v in &self.views {
            let listen = v.listen.map(|a| a.to_string()).unwrap_or_default();
            let (connected, known) = if v.is_seed {
                ("-".to_string(), "-".to_string())
            } else {
                (
                    format!("{}/{}", v.connected, v.others),
                    format!("{}/{}", v.known, v.others),
                )
            };
            writeln!(
                f,
                "{:<8} {:<40} {:<21} {:>5} {:>9} {:>5} {:>8}",
                v.moniker, v.id, listen, v.peers, connected, known, v.received
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_counts() {
        let s = Stats::of([3, 6, 6]);
        assert_eq!((s.min, s.max), (3, 6));
        assert!((s.mean - 5.0).abs() < 1e-9);
        assert_eq!(Stats::of([]), Stats::default());
        assert_eq!(s.to_string(), "min 3, mean 5.0, max 6");
    }

    fn view(moniker: &str, known: usize, connected: usize) -> NodeView {
        NodeView {
            moniker: moniker.into(),
            id: NodeId([1; 20]),
            is_seed: false,
            listen: None,
            rpc: None,
            others: 6,
            known,
            connected,
            target: 6,
            peers: connected,
            book_size: known,
            received: 0,
            sent: 0,
        }
    }

    #[test]
    fn complete_needs_the_whole_book_and_the_target() {
        assert!(view("a", 6, 6).is_complete());
        assert!(!view("a", 5, 6).is_complete());
        assert!(!view("a", 6, 5).is_complete());
        let seed = NodeView {
            is_seed: true,
            ..view("seed", 0, 0)
        };
        assert!(seed.is_complete());
        let text = missing(&[view("node1", 6, 6), view("node2", 4, 3), seed]);
        assert_eq!(text, "node2 knows 4/6 and is connected to 3/6");
    }
}
