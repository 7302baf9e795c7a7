//! Interop against CometBFT's own Go p2p code (v0.38.x and v1.0.x, fetched
//! as Go modules; harness in `tests/interop/go`), over loopback TCP, both
//! who-dials-whom ways:
//!
//! 1. `mconn_*`: Go's `MConnection` on plaintext TCP against our MConnection.
//! 2. `secret_*`: Go's `MakeSecretConnection` + `MConnection` against ours.
//! 3. `switch_*`: Go's transport + Switch + a test reactor against our tokio
//!    adapter (`mconn-tokio`); graceful close from each side.
//! 4. `keepalive_*`: 200 ms pings / 100 ms pong timeout on both sides, 20+
//!    intervals with and without traffic, then pong-timeout detection of a
//!    side that stops answering, both ways.
//! 5. `reject_*`: different network, no common channel, wrong dialed ID.
//! 6. `packet_edge_*`: the largest payload per packet on channel ids below
//!    and above 0x80 is accepted by Go.
//! 7. `switch_node_*` (README scenarios 7–9): our `Switch` against Go's:
//!    broadcasts both ways, our inbound limit against 3 Go nodes, a
//!    persistent Go peer killed and redialled.
//! 8. `addrbook_*`, `addr_classes_match_go` (10–12): `addrbook.json` both
//!    ways, and spec §7.2's address classes against CometBFT's own functions.
//! 9. `pex_*` (13–14): our node learns a Go node's addresses; our seed
//!    introduces three Go nodes to each other.
//!
//! Run with `cargo test -p mconn-tests --features interop-go`. Needs Go;
//! without it every test fails saying so. Per-run counts go to stdout
//! (`-- --nocapture`) and to `target/tmp/interop-go-report.txt`.

mod addrbook;
mod driver;
mod go;
mod pex;
mod scenarios;
mod switch;
mod switch_node;
mod traffic;

use go::Line;

macro_rules! both_lines {
    ($($name:ident => $body:expr;)*) => {
        /// Against CometBFT v0.38.x.
        mod v038 {
            use super::*;
            $(#[test] fn $name() { scenarios::serial(|| $body(Line::V038)); })*
        }
        /// Against CometBFT v1.0.x.
        mod v1 {
            use super::*;
            $(#[test] fn $name() { scenarios::serial(|| $body(Line::V1)); })*
        }
    };
}

use scenarios::{conn_scenario, keepalive, packet_edge, reject, Reject, Security};
use switch::switch_scenario;

both_lines! {
    mconn_go_dials_us => |l| conn_scenario(l, true, Security::Plain);
    mconn_we_dial_go => |l| conn_scenario(l, false, Security::Plain);
    secret_go_dials_us => |l| conn_scenario(l, true, Security::Secret);
    secret_we_dial_go => |l| conn_scenario(l, false, Security::Secret);
    switch_go_dials_us_go_closes => |l| switch_scenario(l, true, true);
    switch_go_dials_us_we_close => |l| switch_scenario(l, true, false);
    switch_we_dial_go_go_closes => |l| switch_scenario(l, false, true);
    switch_we_dial_go_we_close => |l| switch_scenario(l, false, false);
    keepalive_go_dials_us => |l| keepalive(l, true);
    keepalive_we_dial_go => |l| keepalive(l, false);
    reject_network_go_dials_us => |l| reject(l, true, Reject::Network);
    reject_network_we_dial_go => |l| reject(l, false, Reject::Network);
    reject_no_common_channel_go_dials_us => |l| reject(l, true, Reject::NoCommonChannel);
    reject_no_common_channel_we_dial_go => |l| reject(l, false, Reject::NoCommonChannel);
    reject_wrong_id_go_dials_us => |l| reject(l, true, Reject::WrongId);
    reject_wrong_id_we_dial_go => |l| reject(l, false, Reject::WrongId);
    packet_edge_go_dials_us => |l| packet_edge(l, true);
    packet_edge_we_dial_go => |l| packet_edge(l, false);
    go_to_go_full_payload_on_high_channel => scenarios::go_to_go_full_payload_on_high_channel;
    switch_node_broadcast_go_dials_us => |l| switch_node::broadcast(l, true);
    switch_node_broadcast_we_dial_go => |l| switch_node::broadcast(l, false);
    switch_node_inbound_limit => switch_node::inbound_limit;
    switch_node_persistent_peer_killed_and_redialled => switch_node::persistent_redial;
    addrbook_go_writes_we_read => addrbook::go_writes_we_read;
    addrbook_we_write_go_reads => addrbook::we_write_go_reads;
    addr_classes_match_go => addrbook::addr_classes;
    pex_we_learn_from_go => pex::we_learn_from_go;
    pex_our_seed_introduces_go_nodes => pex::seed_introduces_go_nodes;
}
