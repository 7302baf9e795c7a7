//! The bodies of `/status` and `/net_info`, in the shapes of CometBFT's
//! `rpc/core/types` (`ResultStatus`, `ResultNetInfo`), for the fields a
//! p2p-only node has. Like CometBFT's JSON encoder, 64-bit and `int`
//! numbers are strings (`"n_peers": "2"`).

use mconn::wire::node_info::NodeInfo;
use mconn_tokio::{Switch, SwitchPeer};
use serde_json::{json, Value};

use crate::probe::node_info_json;

/// The JSON-RPC envelope CometBFT's URI handler answers with.
pub fn envelope(result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": -1, "result": result })
}

/// A JSON-RPC error in CometBFT's shape.
pub fn error(code: i32, message: &str, data: &str) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": -1,
        "error": { "code": code, "message": message, "data": data },
    })
}

/// Our NodeInfo as peers receive it, with `other.rpc_address` set to
/// `rpc_address` (`tcp://host:port`) and `tx_index` "off".
pub fn our_node_info(switch: &Switch, rpc_address: &str) -> Value {
    let node = switch.node_config();
    let id = switch.node_id().to_string();
    let channels: Vec<u8> = node.channels.iter().map(|c| c.id).collect();
    node_info_json(&NodeInfo {
        protocol_version: node.protocol_version,
        default_node_id: &id,
        listen_addr: &node.listen_addr,
        network: &node.network,
        version: &node.version,
        channels: &channels,
        moniker: &node.moniker,
        tx_index: "off",
        rpc_address,
    })
}

/// `/status`: `node_info` only. A p2p-only node has no blocks and no
/// validator key, so `sync_info` and `validator_info` are left out rather
/// than filled with made-up values.
pub fn status(switch: &Switch, rpc_address: &str) -> Value {
    json!({ "node_info": our_node_info(switch, rpc_address) })
}

/// `/net_info`: `listening`, `listeners` (`Listener(@<announced
/// address>)`, as CometBFT prints them), `n_peers` and each peer's
/// `node_info`, `is_outbound`, `connection_status` and `remote_ip`.
pub fn net_info(switch: &Switch) -> Value {
    let peers = switch.peers();
    let listeners: Vec<String> = switch
        .local_addr()
        .map(|_| format!("Listener(@{})", switch.node_config().listen_addr))
        .into_iter()
        .collect();
    let list: Vec<Value> = peers.list().iter().map(|p| peer(switch, p)).collect();
    json!({
        "listening": switch.local_addr().is_some(),
        "listeners": listeners,
        "n_peers": list.len().to_string(),
        "peers": list,
    })
}

fn peer(switch: &Switch, p: &SwitchPeer) -> Value {
    let node_info = p
        .node_info()
        .map(|stored| node_info_json(&stored.info()))
        .unwrap_or(Value::Null);
    json!({
        "node_info": node_info,
        "is_outbound": p.is_outbound(),
        "connection_status": connection_status(switch, p),
        "remote_ip": p.remote_addr().ip().to_canonical().to_string(),
    })
}

/// CometBFT's `ConnectionStatus` (Go field names, no JSON tags), minimal:
/// the connection's age in nanoseconds, the byte counts of the send and
/// receive monitors, and per channel of ours its queue and priority.
fn connection_status(switch: &Switch, p: &SwitchPeer) -> Value {
    let age = mconn_driver::std_now().saturating_duration_since(p.entry().since);
    let stats = p.stats();
    let channels: Vec<Value> = switch
        .node_config()
        .channels
        .iter()
        .map(|c| {
            let ch = p.channel_stats(c.id).unwrap_or_default();
            json!({
                "ID": c.id,
                "SendQueueCapacity": c.send_queue_capacity.to_string(),
                "SendQueueSize": ch.send_queue_len.to_string(),
                "Priority": c.priority.to_string(),
                "RecentlySent": ch.recently_sent.to_string(),
            })
        })
        .collect();
    json!({
        "Duration": age.as_nanos().to_string(),
        "SendMonitor": { "Bytes": stats.bytes_sent.to_string() },
        "RecvMonitor": { "Bytes": stats.bytes_received.to_string() },
        "Channels": channels,
    })
}
