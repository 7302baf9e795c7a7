//! The network map a crawl writes (`map.json`) and the summary table it
//! prints.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use mconn::identity::NodeId;
use mconn::pex::KnownAddr;
use mconn::wire::node_info::StoredNodeInfo;
use serde_json::{json, Value};

use crate::probe::node_info_json;

/// A peer the crawler completed a handshake with.
#[derive(Clone, Debug)]
pub struct Reached {
    /// The address the connection went to.
    pub remote: SocketAddr,
    /// Its NodeInfo.
    pub node_info: StoredNodeInfo<Vec<u8>>,
}

/// One node of the map.
#[derive(Clone, Debug)]
pub struct MapEntry {
    /// Its ID.
    pub id: NodeId,
    /// Its IP (as the book has it, or where we reached it).
    pub ip: IpAddr,
    /// Its port.
    pub port: u16,
    /// `Some(true)`: reached; `Some(false)`: every dial failed (down,
    /// firewalled, wrong ID or another network); `None`: not tried within
    /// the crawl's duration.
    pub reachable: Option<bool>,
    /// Failed dials recorded by the address book.
    pub attempts: u32,
    /// Its NodeInfo, when reached.
    pub node_info: Option<StoredNodeInfo<Vec<u8>>>,
}

/// What a crawl found.
#[derive(Clone, Debug)]
pub struct NetworkMap {
    /// The network crawled.
    pub network: String,
    /// The seeds it started from, as given.
    pub seeds: Vec<String>,
    /// How long it ran.
    pub duration: Duration,
    /// Every node, ordered by ID.
    pub entries: Vec<MapEntry>,
}

impl NetworkMap {
    /// Merges the crawler's address book with the peers it reached: every
    /// book entry, plus reached peers the book does not hold (seeds).
    pub fn build(
        network: String,
        seeds: Vec<String>,
        duration: Duration,
        book: &[KnownAddr],
        reached: &BTreeMap<NodeId, Reached>,
    ) -> Self {
        let mut entries: BTreeMap<NodeId, MapEntry> = BTreeMap::new();
        for k in book {
            let hit = reached.get(&k.addr.id);
            let reachable = match hit {
                Some(_) => Some(true),
                None if k.attempts > 0 => Some(false),
                None => None,
            };
            entries.insert(
                k.addr.id,
                MapEntry {
                    id: k.addr.id,
                    ip: k.addr.ip,
                    port: k.addr.port,
                    reachable,
                    attempts: k.attempts,
                    node_info: hit.map(|r| r.node_info.clone()),
                },
            );
        }
        for (id, r) in reached {
            entries.entry(*id).or_insert_with(|| MapEntry {
                id: *id,
                ip: r.remote.ip().to_canonical(),
                port: r.remote.port(),
                reachable: Some(true),
                attempts: 0,
                node_info: Some(r.node_info.clone()),
            });
        }
        NetworkMap {
            network,
            seeds,
            duration,
            entries: entries.into_values().collect(),
        }
    }

    /// Counts by reachability, and versions and networks of reached nodes.
    pub fn summary(&self) -> Summary {
        let mut s = Summary {
            addresses: self.entries.len(),
            ..Summary::default()
        };
        for e in &self.entries {
            match e.reachable {
                Some(true) => s.reachable += 1,
                Some(false) => s.unreachable += 1,
                None => s.not_tried += 1,
            }
            if let Some(info) = &e.node_info {
                let info = info.info();
                *s.versions.entry(or_unknown(info.version)).or_default() += 1;
                *s.networks.entry(or_unknown(info.network)).or_default() += 1;
            }
        }
        s
    }

    /// The map as JSON: `network`, `seeds`, `duration_s`, `counts` and
    /// `nodes` (each with `id`, `ip`, `port`, `reachable`, `attempts`, and
    /// when reached `moniker`, `version`, `network`, `channels` and the
    /// whole `node_info` in CometBFT's shape).
    pub fn to_json(&self) -> Value {
        let s = self.summary();
        let nodes: Vec<Value> = self.entries.iter().map(entry_json).collect();
        json!({
            "network": self.network,
            "seeds": self.seeds,
            "duration_s": self.duration.as_secs_f64(),
            "counts": {
                "addresses": s.addresses,
                "reachable": s.reachable,
                "unreachable": s.unreachable,
                "not_tried": s.not_tried,
            },
            "nodes": nodes,
        })
    }
}

fn entry_json(e: &MapEntry) -> Value {
    let mut v = json!({
        "id": e.id.to_string(),
        "ip": e.ip.to_string(),
        "port": e.port,
        "reachable": e.reachable,
        "attempts": e.attempts,
    });
    if let Some(stored) = &e.node_info {
        let info = stored.info();
        let full = node_info_json(&info);
        v["moniker"] = json!(info.moniker);
        v["version"] = json!(info.version);
        v["network"] = json!(info.network);
        v["channels"] = full["channels"].clone();
        v["node_info"] = full;
    }
    v
}

fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "(none)".into()
    } else {
        s.to_string()
    }
}

/// Totals of a [`NetworkMap`]; `Display` prints the summary table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Nodes in the map.
    pub addresses: usize,
    /// Reached.
    pub reachable: usize,
    /// Tried and never reached.
    pub unreachable: usize,
    /// Not tried.
    pub not_tried: usize,
    /// Reached nodes per software version.
    pub versions: BTreeMap<String, usize>,
    /// Reached nodes per network.
    pub networks: BTreeMap<String, usize>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{:<24}{:>6}", "addresses found", self.addresses)?;
        writeln!(f, "{:<24}{:>6}", "reachable", self.reachable)?;
        writeln!(f, "{:<24}{:>6}", "unreachable", self.unreachable)?;
        writeln!(f, "{:<24}{:>6}", "not tried", self.not_tried)?;
        for (title, counts) in [("version", &self.versions), ("network", &self.networks)] {
            writeln!(f)?;
            writeln!(f, "{:<24}{:>6}", title, "nodes")?;
            if counts.is_empty() {
                writeln!(f, "{:<24}{:>6}", "(none reached)", 0)?;
            }
            let mut rows: Vec<(&String, &usize)> = counts.iter().collect();
            rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (name, n) in rows {
                writeln!(f, "{name:<24}{n:>6}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mconn::identity::NetAddr;
    use mconn::pex::UnixTime;
    use mconn::wire::node_info::{NodeInfo, ProtocolVersion};

    fn stored(id: &str, version: &str) -> StoredNodeInfo<Vec<u8>> {
        let info = NodeInfo {
            protocol_version: ProtocolVersion::new(8, 11, 0),
            default_node_id: id,
            listen_addr: "tcp://1.2.3.4:26656",
            network: "chain",
            version,
            channels: &[0x00],
            moniker: "m",
            ..NodeInfo::default()
        };
        let mut body = vec![0u8; info.encoded_len()];
        let n = info.encode(&mut body).unwrap();
        body.truncate(n);
        StoredNodeInfo::new(body).unwrap()
    }

    #[test]
    fn book_and_reached_peers_merge_into_one_entry_per_id() {
        let a: NetAddr = "56475aa75463474c0285df5dbf2bcab73da65135@1.2.3.4:26656"
            .parse()
            .unwrap();
        let b: NetAddr = "24f6ed6acbfe1009c030d7ca567c33ca48309114@5.6.7.8:26656"
            .parse()
            .unwrap();
        let c: NetAddr = "0000000000000000000000000000000000000001@9.9.9.9:1"
            .parse()
            .unwrap();
        let seed: NetAddr = "0000000000000000000000000000000000000002@8.8.8.8:2"
            .parse()
            .unwrap();
        let now = UnixTime::from_secs(1);
        let mut failed = KnownAddr::new(b, a, now);
        failed.attempts = 2;
        let book = vec![KnownAddr::new(a, a, now), failed, KnownAddr::new(c, a, now)];
        let mut reached = BTreeMap::new();
        for (addr, version) in [(a, "0.38.0"), (seed, "0.38.0")] {
            let info = stored(&addr.id.to_string(), version);
            reached.insert(
                addr.id,
                Reached {
                    remote: addr.socket_addr(),
                    node_info: info,
                },
            );
        }
        let map = NetworkMap::build(
            "chain".into(),
            vec![seed.to_string()],
            Duration::from_secs(3),
            &book,
            &reached,
        );
        assert_eq!(map.entries.len(), 4);
        let s = map.summary();
        assert_eq!((s.reachable, s.unreachable, s.not_tried), (2, 1, 1));
        assert_eq!(s.versions.get("0.38.0"), Some(&2));
        let json = map.to_json();
        assert_eq!(json["counts"]["addresses"], 4);
        let nodes = json["nodes"].as_array().unwrap();
        let a_json = nodes.iter().find(|n| n["id"] == a.id.to_string()).unwrap();
        assert_eq!(a_json["reachable"], true);
        assert_eq!(a_json["version"], "0.38.0");
        assert_eq!(a_json["channels"], "00");
        let c_json = nodes.iter().find(|n| n["id"] == c.id.to_string()).unwrap();
        assert_eq!(c_json["reachable"], Value::Null);
        assert!(c_json.get("moniker").is_none());
        let table = s.to_string();
        assert!(table.contains("reachable"), "{table}");
        assert!(table.contains("0.38.0"), "{table}");
    }
}
