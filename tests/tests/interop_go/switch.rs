//! Scenario 3: Go's transport + Switch + a test reactor against our tokio
//! adapter (`mconn-tokio`: SecretConnection, NodeInfo, MConnection).

use crate::go::{GoPeer, Line};
use crate::scenarios::{
    args, check_go_received, check_we_received, go_channels, go_id, hex, our_channels, our_key,
    report, Chan, GO_SALT, GO_SEED, MIB, NETWORK, OUR_MONIKER, OUR_SALT, OUR_VERSION, WAIT,
};
use crate::traffic::{bytes_value, content, unwrap_bytes_value, Checker, Plan};
use mconn::conn;
use mconn::wire::node_info::ProtocolVersion;
use mconn_tokio::{connect, Disconnect, Error, Listener, NodeConfig, Peer};
use serde_json::Value;
use std::time::Duration;
use tokio::time::{sleep, timeout, Instant};

const RUN: Duration = Duration::from_secs(30);

pub fn switch_scenario(line: Line, go_dials: bool, go_closes: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(line, go_dials, go_closes));
}

async fn run(line: Line, go_dials: bool, go_closes: bool) {
    // Go: 20 21 22 30; we: 21 22 30 40. Common: 21 22 30.
    let go_chans = [
        Chan(0x20, 6, 100, 2 * MIB),
        Chan(0x21, 10, 100, 2 * MIB),
        Chan(0x22, 7, 100, 2 * MIB),
        Chan(0x30, 5, 10, 2 * MIB),
    ];
    let our_chans = [
        Chan(0x21, 10, 100, 2 * MIB),
        Chan(0x22, 7, 100, 2 * MIB),
        Chan(0x30, 5, 10, 2 * MIB),
        Chan(0x40, 5, 1000, 2 * MIB),
    ];
    let votes: Vec<usize> = (0..30).map(|i| 120 + 3 * i).collect();
    let plan = Plan(vec![
        (0x21, vec![0, 1, 1024, 5000, MIB]),
        (0x22, votes),
        (0x30, vec![65536, 0, 2048, MIB - 5]),
    ]);
    let theirs = plan.without_empty();
    let key = our_key();
    let mut go_args = args(&[
        "-scenario",
        "switch",
        "-network",
        NETWORK,
        "-channels",
        &go_channels(&go_chans),
        "-send",
        &theirs.arg(),
        "-send-salt",
        &GO_SALT.to_string(),
        "-recv",
        &plan.arg(),
        "-recv-salt",
        &OUR_SALT.to_string(),
        "-peer-id",
        &key.node_id().to_string(),
        "-try-send",
        "20",
        "-seed",
        &hex(&GO_SEED),
        "-timeout",
        "40s",
    ]);
    if go_closes {
        go_args.extend(args(&["-close", "flush"]));
    }
    let mut config = NodeConfig::new(key.clone(), NETWORK, &our_channels(&our_chans));
    config.moniker = OUR_MONIKER.into();
    config.version = OUR_VERSION.into();

    // Connect in the requested direction; the adapter runs the handshake.
    let (mut go, peer) = if go_dials {
        let listener = Listener::bind("127.0.0.1:0", config.clone()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        go_args.extend(args(&["-connect", &addr.to_string()]));
        let mut go = GoPeer::spawn(line, "switch", &go_args);
        let peer = match timeout(WAIT, listener.accept()).await {
            Ok(Ok((peer, _))) => peer,
            other => go.fail(&format!("accept: {other:?}")),
        };
        (go, peer)
    } else {
        go_args.push("-listen".into());
        let mut go = GoPeer::spawn(line, "switch", &go_args);
        let addr = go.wait("listening", WAIT)["addr"]
            .as_str()
            .unwrap()
            .to_string();
        // The transport listens before the harness prints "listening" (no
        // probing: a probe connection would count as a rejected peer).
        let peer = match connect(&config, addr.as_str(), Some(go_id())).await {
            Ok(peer) => peer,
            Err(e) => go.fail(&format!("connect: {e}")),
        };
        (go, peer)
    };
    assert_eq!(peer.remote_id(), Some(go_id()), "we authenticated Go's ID");
    assert_eq!(peer.is_outbound(), !go_dials);
    check_go_node_info(line, &peer, &go_chans);
    assert_eq!(
        peer.try_send(0x40, b"not for Go"),
        Err(Error::Conn(conn::Error::PeerLacksChannel)),
        "Go has no channel 0x40"
    );

    // Traffic: one sending task per channel (they interleave), receiving here.
    let senders: Vec<_> = plan
        .0
        .iter()
        .map(|(ch, lens)| {
            let (peer, ch, lens) = (peer.clone(), *ch, lens.clone());
            tokio::spawn(async move {
                for (idx, &len) in lens.iter().enumerate() {
                    peer.send(ch, &bytes_value(&content(OUR_SALT, ch, idx, len)))
                        .await?;
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    let mut checker = Checker::new(&theirs, GO_SALT);
    let deadline = Instant::now() + RUN;
    while !checker.complete() {
        match timeout(deadline - Instant::now(), peer.recv_any()).await {
            Ok(Ok((ch, msg))) => checker.receive(ch, unwrap_bytes_value(&msg).expect("BytesValue")),
            Ok(Err(e)) => go.fail(&format!(
                "receiving: {e}; still expected {:?}",
                checker.missing()
            )),
            Err(_) => go.fail(&format!(
                "receiving timed out; still expected {:?}",
                checker.missing()
            )),
        }
    }
    for s in senders {
        if let Err(e) = s.await.unwrap() {
            go.fail(&format!("sending: {e}"));
        }
    }

    // The graceful close.
    let ours = if go_closes {
        let end = wait_end(&peer, deadline).await;
        if end != Some(Disconnect::Eof) {
            go.fail(&format!("expected Go to close the stream, got {end:?}"));
        }
        "we saw the stream end after all of Go's messages".to_string()
    } else {
        while go.find("recv_done").is_none() {
            if Instant::now() > deadline {
                go.fail("Go did not receive everything");
            }
            sleep(Duration::from_millis(5)).await;
        }
        if let Err(e) = peer.close().await {
            go.fail(&format!("our graceful close: {e}"));
        }
        "we closed gracefully (mconn-tokio close: queue flushed)".to_string()
    };
    let stats = peer.stats();

    let connected = go.wait("connected", WAIT);
    let expect = [
        ("remote_id", Value::from(key.node_id().to_string())),
        ("id_ok", Value::from(true)),
        ("outbound", Value::from(go_dials)),
        ("moniker", Value::from(OUR_MONIKER)),
        ("network", Value::from(NETWORK)),
        ("version", Value::from(OUR_VERSION)),
        ("channels", Value::from("21223040")),
    ];
    for (k, v) in expect {
        if connected[k] != v {
            go.fail(&format!(
                "Go's view of us: {k} = {}, expected {v}",
                connected[k]
            ));
        }
    }
    let try_send = go.wait("try_send", WAIT);
    if try_send["ch"] != 0x20 || try_send["accepted"] != false {
        go.fail(&format!("Go's Peer.Send on a channel we lack: {try_send}"));
    }
    check_we_received(&mut go, &checker, &theirs);
    let (msgs, bytes) = check_go_received(&mut go, &plan);
    let (their_msgs, their_bytes) = theirs.totals();
    let closed = go.wait("closed", WAIT);
    let go_close = if go_closes {
        if closed["by"] != "us" {
            go.fail(&format!("Go did not close itself: {closed}"));
        }
        "Go closed with FlushStop + StopPeerGracefully".to_string()
    } else {
        if !closed["reason"].as_str().unwrap_or("").contains("EOF") {
            go.fail(&format!(
                "Go saw {closed}, expected EOF after our graceful close"
            ));
        }
        format!("Go's reactor saw RemovePeer({})", closed["reason"])
    };
    go.expect_clean_exit(WAIT);
    report(
        line,
        if go_closes { "switch vs mconn-tokio, Go closes" } else { "switch vs mconn-tokio, we close" },
        go_dials,
        &format!(
            "ok; to Go {msgs} messages / {bytes} bytes, from Go {their_msgs} / {their_bytes}, on 3 common channels (of 4 each); NodeInfo and IDs checked both ways; sends on a channel the peer lacks refused both ways; {ours}; {go_close}; we sent {} packets / {} wire bytes",
            stats.packets_sent, stats.bytes_sent
        ),
    );
}

/// Waits (bounded) for the connection to end.
async fn wait_end(peer: &Peer, deadline: Instant) -> Option<Disconnect> {
    while Instant::now() < deadline {
        if let Some(end) = peer.disconnect_reason() {
            return Some(end);
        }
        sleep(Duration::from_millis(5)).await;
    }
    None
}

fn check_go_node_info(line: Line, peer: &Peer, go_chans: &[Chan]) {
    let ids: Vec<u8> = go_chans.iter().map(|c| c.0).collect();
    peer.with_remote_node_info(|info| {
        assert_eq!(info.default_node_id, go_id().to_string());
        assert_eq!(info.version, line.version().trim_start_matches('v'));
        assert_eq!(
            info.protocol_version,
            ProtocolVersion::new(line.p2p_protocol(), 11, 0)
        );
        assert_eq!(info.network, NETWORK);
        assert_eq!(info.moniker, "go-peer");
        assert_eq!(info.channels, &ids[..]);
    })
    .expect("Go's NodeInfo");
}
