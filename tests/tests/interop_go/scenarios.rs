//! The scenarios, each parameterised by CometBFT line and dial direction.

use crate::driver::{Driver, Ev, Plain, Secret, Sess, Stack};
use crate::go::{GoPeer, Line};
use crate::traffic::{content, Checker, Plan, Sender};
use mconn::conn::{ChannelConfig, Config, Keepalive, PingLimit};
use mconn::identity::{NodeId, NodeKey};
use mconn::session::{self, Session, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn::Instant;
use serde_json::Value;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

const OUR_SEED: [u8; 32] = [0x11; 32];
pub(crate) const GO_SEED: [u8; 32] = [0x22; 32];
/// Content salts: what we send / what Go sends.
pub(crate) const OUR_SALT: u64 = 0x5eed_0001;
pub(crate) const GO_SALT: u64 = 0x5eed_0002;
pub(crate) const MIB: usize = 1 << 20;
pub(crate) const WAIT: Duration = Duration::from_secs(20);
const RUN: Duration = Duration::from_secs(30);

/// One test at a time: the keepalive runs use 100 ms deadlines and the
/// machine has few cores; the whole suite stays well under five minutes.
pub fn serial(f: impl FnOnce()) {
    static SERIAL: Mutex<()> = Mutex::new(());
    let _guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    f()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn our_key() -> NodeKey {
    NodeKey::from_seed(OUR_SEED)
}

pub(crate) fn go_id() -> NodeId {
    NodeKey::from_seed(GO_SEED).node_id()
}

fn direction(go_dials: bool) -> &'static str {
    if go_dials {
        "Go dials us"
    } else {
        "we dial Go"
    }
}

/// Appends a result line to stdout and the report file.
pub(crate) fn report(line: Line, scenario: &str, go_dials: bool, text: &str) {
    let scenario = format!("{scenario} ({})", direction(go_dials));
    report_entry(line, &scenario, text);
}

/// [`report`] for a scenario without a dial direction.
pub(crate) fn report_entry(line: Line, scenario: &str, text: &str) {
    let entry = format!("{} {scenario}: {text}", line.version());
    println!("{entry}");
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-go-report.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{entry}");
    }
}

/// A channel on both sides: id, priority, send queue, largest message.
#[derive(Clone, Copy)]
pub(crate) struct Chan(pub u8, pub u32, pub usize, pub usize);

pub(crate) fn go_channels(chans: &[Chan]) -> String {
    let items: Vec<String> = chans
        .iter()
        .map(|c| format!("{:x}:{}:{}:{}", c.0, c.1, c.2, c.3))
        .collect();
    items.join(",")
}

pub(crate) fn our_channels(chans: &[Chan]) -> Vec<ChannelConfig> {
    chans
        .iter()
        .map(|c| {
            ChannelConfig::new(c.0, c.1)
                .send_queue(c.2)
                .recv_message_capacity(c.3)
        })
        .collect()
}

pub(crate) fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Starts Go and connects to it in the requested direction.
fn connect(
    line: Line,
    label: &str,
    mut go_args: Vec<String>,
    go_dials: bool,
) -> (GoPeer, TcpStream) {
    go_args.extend(args(&["-seed", &hex(&GO_SEED)]));
    if !go_args.iter().any(|a| a == "-timeout") {
        go_args.extend(args(&["-timeout", "40s"]));
    }
    if go_dials {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        go_args.extend(args(&[
            "-connect",
            &listener.local_addr().unwrap().to_string(),
        ]));
        let mut go = GoPeer::spawn(line, label, &go_args);
        let stream = accept(&listener, &mut go);
        (go, stream)
    } else {
        go_args.push("-listen".into());
        let mut go = GoPeer::spawn(line, label, &go_args);
        let addr = go.wait("listening", WAIT)["addr"]
            .as_str()
            .unwrap()
            .to_string();
        let stream = connect_retry(&addr, &mut go);
        (go, stream)
    }
}

pub(crate) fn accept(listener: &TcpListener, go: &mut GoPeer) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = std::time::Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => return s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if start.elapsed() > WAIT {
                    go.fail("Go did not dial us");
                }
                go.pump();
                thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// The Switch listener is up a moment after it is announced.
pub(crate) fn connect_retry(addr: &str, go: &mut GoPeer) -> TcpStream {
    let start = std::time::Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return s,
            Err(e) if start.elapsed() > WAIT => {
                go.fail(&format!("could not connect to {addr}: {e}"))
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Asserts that every message Go received checked out and counts match.
pub(crate) fn check_go_received(go: &mut GoPeer, plan: &Plan) -> (u64, u64) {
    let done = go.wait("recv_done", WAIT);
    let (msgs, bytes) = plan.totals();
    let bad: Vec<Value> = go
        .all("recv")
        .into_iter()
        .filter(|v| v["ok"] != true)
        .collect();
    if !bad.is_empty() || done["bad"] != 0 {
        go.fail(&format!("Go got bad messages: {bad:?}"));
    }
    if done["msgs"] != msgs || done["bytes"] != bytes {
        go.fail(&format!(
            "Go received {done}, expected {msgs} messages / {bytes} bytes"
        ));
    }
    (msgs as u64, bytes as u64)
}

pub(crate) fn check_we_received(go: &mut GoPeer, checker: &Checker, plan: &Plan) {
    let (msgs, bytes) = plan.totals();
    if !checker.bad.is_empty() || checker.msgs != msgs || checker.bytes != bytes {
        go.fail(&format!(
            "we received {} messages / {} bytes (expected {msgs} / {bytes}); bad: {:?}",
            checker.msgs, checker.bytes, checker.bad
        ));
    }
}

// ---------------------------------------------------------------------------
// Scenarios 1 and 2: MConnection, plaintext or over SecretConnection.

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Plain,
    Secret,
}

/// Several channels with different priorities; messages from 0 bytes to
/// 1 MiB (many packets), interleaved across channels.
fn bulk() -> (Vec<Chan>, Plan) {
    let chans = vec![
        Chan(0x01, 1, 10, 2 * MIB),
        Chan(0x20, 6, 100, 2 * MIB),
        Chan(0x21, 10, 100, 2 * MIB),
        Chan(0x40, 5, 1000, 2 * MIB),
    ];
    let votes: Vec<usize> = (0..40).map(|i| 100 + 7 * i).collect();
    let plan = Plan(vec![
        (0x01, vec![MIB, 0, 1, 1023, 1024, 1025]),
        (0x20, vec![0, 200, 5000, 65536, MIB]),
        (0x21, votes),
        (0x40, vec![300_000, 2048, 0, MIB - 1, 1]),
    ]);
    (chans, plan)
}

pub fn conn_scenario(line: Line, go_dials: bool, security: Security) {
    let (chans, plan) = bulk();
    let theirs = plan.without_empty();
    let scenario = if security == Security::Plain {
        "mconn"
    } else {
        "secret"
    };
    let key = our_key();
    let go_args = args(&[
        "-scenario",
        scenario,
        "-channels",
        &go_channels(&chans),
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
    ]);
    let (mut go, stream) = connect(line, scenario, go_args, go_dials);
    let config = Config::cometbft();
    let channels = our_channels(&chans);
    match security {
        Security::Plain => {
            let d = Driver::new(stream, Plain::new(&config, &channels));
            exchange(line, scenario, go_dials, &mut go, d, &plan, &theirs, |_| {
                None
            });
        }
        Security::Secret => {
            let d = Driver::new(stream, Secret::new(&key, &config, &channels));
            exchange(line, scenario, go_dials, &mut go, d, &plan, &theirs, |s| {
                s.remote_id()
            });
            let secret = go.wait("secret", WAIT);
            assert_eq!(
                secret["remote_id"],
                key.node_id().to_string(),
                "Go authenticated our ID"
            );
        }
    }
}

/// Sends `plan` to Go and receives `theirs`, checks every message on both
/// sides, then closes gracefully from our side and waits for Go to see it.
#[allow(clippy::too_many_arguments)]
fn exchange<S: Stack>(
    line: Line,
    scenario: &str,
    go_dials: bool,
    go: &mut GoPeer,
    mut d: Driver<S>,
    plan: &Plan,
    theirs: &Plan,
    remote_id: impl Fn(&S) -> Option<String>,
) {
    let mut sender = Sender::new(plan, OUR_SALT);
    let mut checker = Checker::new(theirs, GO_SALT);
    let mut closing = false;
    let result = d.run(RUN, |d| {
        if d.closed_reason().is_some() || d.peer_closed.is_some() {
            return true;
        }
        if !d.is_connected() {
            return false;
        }
        let sent = sender.pump(&mut d.stack);
        while let Some((ch, msg)) = d.stack.poll_message() {
            checker.receive(ch, &msg);
        }
        if !closing && sent && checker.complete() && d.flushed() && go.find("recv_done").is_some() {
            d.stack.close();
            closing = true;
        }
        false
    });
    if let Err(e) = result {
        go.fail(&format!(
            "our side: {e}; still expected (ch, got, planned): {:?}",
            checker.missing()
        ));
    }
    if let Some(id) = remote_id(&d.stack) {
        assert_eq!(id, go_id().to_string(), "we authenticated Go's ID");
    }
    if d.closed_reason() != Some("Closed") {
        go.fail(&format!(
            "we did not close gracefully: {:?} / peer closed {:?}",
            d.events, d.peer_closed
        ));
    }
    let stats = d.stack.stats();
    d.finish();
    check_we_received(go, &checker, theirs);
    let (msgs, bytes) = check_go_received(go, plan);
    let (their_msgs, their_bytes) = theirs.totals();
    let closed = go.wait("closed", WAIT);
    if !closed["reason"].as_str().unwrap_or("").contains("EOF") {
        go.fail(&format!(
            "Go saw {closed}, expected EOF after our graceful close"
        ));
    }
    go.expect_clean_exit(WAIT);
    report(
        line,
        scenario,
        go_dials,
        &format!(
            "ok; to Go {msgs} messages / {bytes} bytes, from Go {their_msgs} / {their_bytes} (no 0-byte ones) on {} channels; we sent {} packets / {} wire bytes, got {} packets / {} wire bytes",
            plan.0.len(),
            stats.packets_sent,
            stats.bytes_sent,
            stats.packets_received,
            stats.bytes_received
        ),
    );
}

// ---------------------------------------------------------------------------
// NodeInfo and sessions for the scenarios with a NodeInfo exchange
// (scenario 3 itself is in switch.rs).

pub(crate) const NETWORK: &str = "mconn-interop";
pub(crate) const OUR_VERSION: &str = "0.1.0";
pub(crate) const OUR_MONIKER: &str = "mconn-rust";

fn our_info<'a>(
    id: &'a str,
    listen: &'a str,
    network: &'a str,
    channels: &'a [u8],
) -> NodeInfo<'a> {
    NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: listen,
        network,
        version: OUR_VERSION,
        channels,
        moniker: OUR_MONIKER,
        tx_index: "off",
        ..NodeInfo::default()
    }
}

fn session(
    stream: &TcpStream,
    config: &Config,
    chans: &[Chan],
    network: &str,
    dialed: Option<NodeId>,
) -> Sess {
    let key = our_key();
    let id = key.node_id().to_string();
    let listen = format!("tcp://{}", stream.local_addr().unwrap());
    let ids: Vec<u8> = chans.iter().map(|c| c.0).collect();
    let mut ephemeral = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut ephemeral);
    let session = Session::with_alloc(
        &SessionConfig::new(*config),
        &our_channels(chans),
        &our_info(&id, &listen, network, &ids),
        session::Security::Secret {
            key: &key,
            ephemeral,
        },
        dialed,
        Instant::ZERO,
    )
    .expect("session config");
    Sess { session }
}

// ---------------------------------------------------------------------------
// Scenario 4: keepalive.

const PING: Duration = Duration::from_millis(200);
/// As long as CometBFT allows below `PING`: either process may stall this
/// long (a loaded CI machine, Go's collector) without a spurious timeout.
const PONG: Duration = Duration::from_millis(180);
/// Each phase (with traffic, then idle) lasts this long: 25 ping intervals.
const PHASE: Duration = Duration::from_millis(5000);
const INTERVALS: u64 = 20;

fn keepalive_config() -> Config {
    let mut config = Config::cometbft();
    config.keepalive = Keepalive::CometBft {
        ping_interval: PING,
        pong_timeout: PONG,
    };
    // Go pings every 200 ms here: our flood limit must allow that rate.
    config.ping_limit = PingLimit {
        burst: 16,
        refill: Duration::from_millis(50),
    };
    config
}

fn keepalive_go_args(extra: &[&str]) -> Vec<String> {
    let ping = format!("{}ms", PING.as_millis());
    let pong = format!("{}ms", PONG.as_millis());
    let mut a = args(&[
        "-scenario",
        "secret",
        "-channels",
        "20:1:10:65536",
        "-ping",
        &ping,
        "-pong",
        &pong,
        "-peer-id",
        &our_key().node_id().to_string(),
    ]);
    a.extend(args(extra));
    a
}

pub fn keepalive(line: Line, go_dials: bool) {
    keepalive_steady(line, go_dials);
    keepalive_go_stops_answering(line, go_dials);
    keepalive_we_stop_answering(line, go_dials);
}

/// 25 intervals with traffic both ways, then 25 idle; nobody times out.
fn keepalive_steady(line: Line, go_dials: bool) {
    let count = (PHASE.as_millis() / 100) as usize;
    let plan = Plan(vec![(0x20, vec![1000; count])]);
    let hold = format!("{}ms", 2 * PHASE.as_millis() + 200);
    let go_args = keepalive_go_args(&[
        "-send",
        &plan.arg(),
        "-send-salt",
        &GO_SALT.to_string(),
        "-recv",
        &plan.arg(),
        "-recv-salt",
        &OUR_SALT.to_string(),
        "-pace",
        "100ms",
        "-hold",
        &hold,
    ]);
    let (mut go, stream) = connect(line, "keepalive", go_args, go_dials);
    let config = keepalive_config();
    let mut d = Driver::new(
        stream,
        Secret::new(
            &our_key(),
            &config,
            &our_channels(&[Chan(0x20, 1, 10, 65536)]),
        ),
    );
    let mut checker = Checker::new(&plan, GO_SALT);
    let mut start = None;
    let mut sent = 0;
    let mut phase_a = None;
    let mut closing = false;
    let result = d.run(RUN, |d| {
        if d.closed_reason().is_some() || d.peer_closed.is_some() {
            return true;
        }
        if !d.is_connected() {
            return false;
        }
        let now = d.now();
        let t0 = *start.get_or_insert(now);
        let elapsed = now.saturating_duration_since(t0);
        // One message every 100 ms during the first phase.
        while sent < count && elapsed >= Duration::from_millis(100 * sent as u64) {
            let msg = content(OUR_SALT, 0x20, sent, 1000);
            if d.stack.try_send(0x20, &msg).is_err() {
                break;
            }
            sent += 1;
        }
        while let Some((ch, msg)) = d.stack.poll_message() {
            checker.receive(ch, &msg);
        }
        if phase_a.is_none() && elapsed >= PHASE {
            phase_a = Some(d.stack.stats());
        }
        if !closing && go.find("done").is_some() && elapsed >= 2 * PHASE {
            d.stack.close();
            closing = true;
        }
        false
    });
    if let Err(e) = result {
        go.fail(&format!("our side: {e}"));
    }
    if d.closed_reason() != Some("Closed") {
        go.fail(&format!(
            "connection did not stay up: {:?}, peer closed {:?}",
            d.events, d.peer_closed
        ));
    }
    let a = phase_a.expect("phase A stats");
    let total = d.stack.stats();
    d.finish();
    check_we_received(&mut go, &checker, &plan);
    let (msgs, bytes) = check_go_received(&mut go, &plan);
    let closed = go.wait("closed", WAIT);
    if !closed["reason"].as_str().unwrap_or("").contains("EOF") {
        go.fail(&format!(
            "Go saw {closed}, expected EOF after our graceful close"
        ));
    }
    go.expect_clean_exit(WAIT);
    let b = |f: fn(&mconn::conn::ConnStats) -> u64| f(&total) - f(&a);
    let counts = [
        ("pings we sent", a.pings_sent, b(|s| s.pings_sent)),
        ("pongs Go sent", a.pongs_received, b(|s| s.pongs_received)),
        ("pings Go sent", a.pings_received, b(|s| s.pings_received)),
        ("pongs we sent", a.pongs_sent, b(|s| s.pongs_sent)),
    ];
    for (what, with, without) in counts {
        assert!(
            with >= INTERVALS && without >= INTERVALS,
            "{what}: {with} with traffic, {without} idle; expected at least {INTERVALS} each"
        );
    }
    let text: Vec<String> = counts
        .iter()
        .map(|(w, a, b)| format!("{w} {a}+{b}"))
        .collect();
    report(
        line,
        &format!(
            "keepalive {}ms/{}ms steady",
            PING.as_millis(),
            PONG.as_millis()
        ),
        go_dials,
        &format!(
            "ok; up {:?} with traffic then {:?} idle ({msgs} messages / {bytes} bytes each way during traffic); {} (with traffic + idle); last RTT {:?} us",
            PHASE,
            PHASE,
            text.join(", "),
            total.last_rtt_micros
        ),
    );
}

/// Go stops reading and writing after 1 s; we must close with a pong timeout.
fn keepalive_go_stops_answering(line: Line, go_dials: bool) {
    let go_args = keepalive_go_args(&["-mute-after", "1s", "-hold", "30s"]);
    let (mut go, stream) = connect(line, "keepalive (Go mutes)", go_args, go_dials);
    let config = keepalive_config();
    let mut d = Driver::new(
        stream,
        Secret::new(
            &our_key(),
            &config,
            &our_channels(&[Chan(0x20, 1, 10, 65536)]),
        ),
    );
    let result = d.run(RUN, |d| {
        d.closed_reason().is_some() || d.peer_closed.is_some()
    });
    if let Err(e) = result {
        go.fail(&format!("our side: {e}"));
    }
    let muted = go.wait("muted", WAIT);
    let at = d.now();
    let reason = d.closed_reason().map(str::to_string);
    let stats = d.stack.stats();
    drop(d);
    if reason.as_deref() != Some("PongTimeout") {
        go.fail(&format!("expected our PongTimeout, got {reason:?}"));
    }
    report(
        line,
        "keepalive, Go stops answering",
        go_dials,
        &format!(
            "ok; we closed with PongTimeout {} ms after connecting (Go muted at {} ms); {} pongs before",
            at.as_micros() / 1000,
            muted["after_ms"],
            stats.pongs_received
        ),
    );
}

/// We stop reading and writing after 1 s; Go must report "pong timeout".
fn keepalive_we_stop_answering(line: Line, go_dials: bool) {
    let go_args = keepalive_go_args(&["-hold", "30s"]);
    let (mut go, stream) = connect(line, "keepalive (we mute)", go_args, go_dials);
    let config = keepalive_config();
    let mut d = Driver::new(
        stream,
        Secret::new(
            &our_key(),
            &config,
            &our_channels(&[Chan(0x20, 1, 10, 65536)]),
        ),
    );
    let mut connected_at = None;
    let result = d.run(RUN, |d| {
        if d.closed_reason().is_some() || d.peer_closed.is_some() {
            return true;
        }
        if d.is_connected() {
            let t = *connected_at.get_or_insert(d.now());
            return d.now().saturating_duration_since(t) >= Duration::from_secs(1);
        }
        false
    });
    if let Err(e) = result {
        go.fail(&format!("our side: {e}"));
    }
    if !d.is_connected() {
        go.fail(&format!(
            "connection ended before we muted: {:?} {:?}",
            d.events, d.peer_closed
        ));
    }
    d.muted = true;
    let pongs = d.stack.stats().pongs_received;
    let closed = go.wait("closed", Duration::from_secs(10));
    if closed["reason"] != "pong timeout" {
        go.fail(&format!("expected Go's pong timeout, got {closed}"));
    }
    drop(d);
    go.expect_clean_exit(WAIT);
    report(
        line,
        "keepalive, we stop answering",
        go_dials,
        &format!(
            "ok; Go closed with \"pong timeout\" {} ms after connecting (we muted at ~1000 ms); {pongs} pongs before",
            closed["after_ms"]
        ),
    );
}

// ---------------------------------------------------------------------------
// Scenario 5: rejections.

#[derive(Clone, Copy, Debug)]
pub enum Reject {
    Network,
    NoCommonChannel,
    WrongId,
}

pub fn reject(line: Line, go_dials: bool, case: Reject) {
    let stranger = NodeKey::from_seed([0x33; 32]).node_id();
    let key = our_key();
    let mut go_args = args(&[
        "-scenario",
        "switch",
        "-network",
        NETWORK,
        "-channels",
        "20:1:10:65536",
    ]);
    let mut our_chans = vec![Chan(0x20, 1, 10, 65536)];
    let mut network = NETWORK;
    let mut dialed = (!go_dials).then(go_id);
    match case {
        Reject::Network => network = "another-chain",
        Reject::NoCommonChannel => our_chans = vec![Chan(0x21, 1, 10, 65536)],
        Reject::WrongId if go_dials => {}
        Reject::WrongId => dialed = Some(stranger),
    }
    let go_peer_id = match case {
        Reject::WrongId if go_dials => stranger,
        _ => key.node_id(),
    };
    go_args.extend(args(&[
        "-peer-id",
        &go_peer_id.to_string(),
        "-timeout",
        "20s",
    ]));
    let (mut go, stream) = connect(line, &format!("reject {case:?}"), go_args, go_dials);
    let stack = session(&stream, &Config::cometbft(), &our_chans, network, dialed);
    let mut d = Driver::new(stream, stack);
    let result = d.run(RUN, |d| {
        d.closed_reason().is_some() || d.peer_closed.is_some()
    });
    if let Err(e) = result {
        go.fail(&format!("our side: {e}"));
    }
    if d.events.contains(&Ev::Connected) {
        go.fail(&format!("we accepted the peer: {:?}", d.events));
    }
    let ours = d.closed_reason().map(str::to_string);
    let peer_closed = d.peer_closed.clone();
    drop(d);
    let rejected = go.wait("rejected", WAIT);
    let theirs = rejected["reason"].as_str().unwrap_or("").to_string();
    go.expect_clean_exit(WAIT);
    if go.find("connected").is_some() {
        go.fail("Go accepted the peer");
    }
    // Who must refuse, and with what reason.
    let (our_want, go_want): (Option<&str>, &str) = match case {
        Reject::Network => (Some("NetworkMismatch"), "peer is on a different network"),
        Reject::NoCommonChannel => (Some("NoCommonChannel"), "peer has no common channels"),
        // Go dialed the wrong ID: Go refuses after the SecretConnection and
        // we only see the socket close during the NodeInfo exchange.
        Reject::WrongId if go_dials => (None, "dialed ID"),
        // We dialed the wrong ID: we refuse; Go sees the NodeInfo read fail.
        Reject::WrongId => (Some("DialedIdMismatch"), "handshake failed"),
    };
    match our_want {
        Some(want) if !ours.as_deref().unwrap_or("").contains(want) => go.fail(&format!(
            "we closed with {ours:?} (peer closed {peer_closed:?}), expected {want}"
        )),
        None if ours.is_some() || peer_closed.is_none() => go.fail(&format!(
            "expected Go to drop us, we saw {ours:?} / {peer_closed:?}"
        )),
        _ => {}
    }
    if !theirs.contains(go_want) {
        go.fail(&format!(
            "Go rejected with {theirs:?}, expected {go_want:?}"
        ));
    }
    let ours = ours.unwrap_or_else(|| {
        format!(
            "peer closed the socket ({})",
            peer_closed.unwrap_or_default()
        )
    });
    report(
        line,
        &format!("reject {case:?}"),
        go_dials,
        &format!("ok; we: {ours}; Go ({}): {theirs}", rejected["side"]),
    );
}

// ---------------------------------------------------------------------------
// Scenario 6: packet-size edge around channel id 0x80.

/// Largest `Packet` body per channel in a plaintext MConnection stream.
fn max_packet_bodies(mut wire: &[u8]) -> Vec<(u8, usize)> {
    fn varint(b: &mut &[u8]) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[0];
            *b = &b[1..];
            v |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte < 0x80 {
                return v;
            }
        }
    }
    let mut max: Vec<(u8, usize)> = Vec::new();
    while !wire.is_empty() {
        let len = varint(&mut wire) as usize;
        let mut body = &wire[..len];
        wire = &wire[len..];
        if body[0] != 0x1a {
            continue; // ping / pong
        }
        body = &body[1..];
        let _msg_len = varint(&mut body);
        let ch = if body.first() == Some(&0x08) {
            body = &body[1..];
            varint(&mut body) as u8
        } else {
            0
        };
        match max.iter_mut().find(|(c, _)| *c == ch) {
            Some((_, m)) => *m = (*m).max(len),
            None => max.push((ch, len)),
        }
    }
    max
}

pub fn packet_edge(line: Line, go_dials: bool) {
    let chans = [
        Chan(0x7f, 1, 10, MIB),
        Chan(0x80, 2, 10, MIB),
        Chan(0xff, 3, 10, MIB),
    ];
    let sizes = [
        1, 1022, 1023, 1024, 1025, 2045, 2046, 2047, 2048, 3072, 65536,
    ];
    let ours = Plan::uniform(&[0x7f, 0x80, 0xff], &sizes);
    // Go's own sender puts 1024 bytes in a final chunk on any channel, which
    // is a 1035-byte packet on ids >= 0x80 that a Go receiver refuses (see
    // go_to_go_full_payload_on_high_channel): Go sends those only sizes
    // whose last chunk is shorter.
    let theirs = Plan(vec![
        (0x7f, sizes.to_vec()),
        (0x80, vec![1, 1022, 1023, 1025, 2047, 3000]),
        (0xff, vec![1, 1022, 1023, 1025, 2047, 3000]),
    ]);
    let go_args = args(&[
        "-scenario",
        "mconn",
        "-channels",
        &go_channels(&chans),
        "-send",
        &theirs.arg(),
        "-send-salt",
        &GO_SALT.to_string(),
        "-recv",
        &ours.arg(),
        "-recv-salt",
        &OUR_SALT.to_string(),
    ]);
    let (mut go, stream) = connect(line, "packet edge", go_args, go_dials);
    let mut d = Driver::new(
        stream,
        Plain::new(&Config::cometbft(), &our_channels(&chans)),
    );
    d.tap = Some(Vec::new());
    let mut sender = Sender::new(&ours, OUR_SALT);
    let mut checker = Checker::new(&theirs, GO_SALT);
    let mut closing = false;
    let result = d.run(RUN, |d| {
        if d.closed_reason().is_some() || d.peer_closed.is_some() {
            return true;
        }
        let sent = sender.pump(&mut d.stack);
        while let Some((ch, msg)) = d.stack.poll_message() {
            checker.receive(ch, &msg);
        }
        if !closing && sent && checker.complete() && d.flushed() && go.find("recv_done").is_some() {
            d.stack.close();
            closing = true;
        }
        false
    });
    if let Err(e) = result {
        go.fail(&format!("our side: {e}"));
    }
    let wire = d.tap.take().unwrap();
    d.finish();
    check_we_received(&mut go, &checker, &theirs);
    let (msgs, bytes) = check_go_received(&mut go, &ours);
    let max = max_packet_bodies(&wire);
    for ch in [0x7f, 0x80, 0xff] {
        let m = max.iter().find(|(c, _)| *c == ch).map(|(_, m)| *m);
        assert_eq!(
            m,
            Some(1034),
            "largest packet body on {ch:#04x} (Go accepts at most 1034)"
        );
    }
    go.wait("closed", WAIT);
    go.expect_clean_exit(WAIT);
    report(
        line,
        "packet edge",
        go_dials,
        &format!(
            "ok; Go accepted {msgs} messages / {bytes} bytes from us on 0x7f/0x80/0xff, largest packet body 1034 on each (payload 1024 on 0x7f, 1023 on 0x80 and 0xff); we got {} / {} from Go",
            checker.msgs, checker.bytes
        ),
    );
}

/// Go's own behaviour behind the edge case: a Go sender puts a 1024-byte
/// final chunk on channel 0x80 (a 1035-byte packet) and a Go receiver
/// refuses it. Our sender never does (1023 bytes per packet there), and our
/// receiver refuses it like Go.
pub fn go_to_go_full_payload_on_high_channel(line: Line) {
    let chans = "80:1:10:65536";
    let plan = "80:1024";
    let mut listener = GoPeer::spawn(
        line,
        "go-to-go listener",
        &args(&[
            "-scenario",
            "mconn",
            "-listen",
            "-seed",
            &hex(&GO_SEED),
            "-channels",
            chans,
            "-recv",
            plan,
        ]),
    );
    let addr = listener.wait("listening", WAIT)["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let mut dialer = GoPeer::spawn(
        line,
        "go-to-go dialer",
        &args(&[
            "-scenario",
            "mconn",
            "-connect",
            &addr,
            "-seed",
            &hex(&OUR_SEED),
            "-channels",
            chans,
            "-send",
            plan,
        ]),
    );
    let closed = listener.wait("closed", WAIT);
    let reason = closed["reason"].as_str().unwrap_or("").to_string();
    if !reason.contains("message exceeds max size (1035 > 1034)") {
        listener.fail(&format!(
            "expected Go to refuse its own 1035-byte packet, got {closed}"
        ));
    }
    if listener.find("recv").is_some() {
        listener.fail("Go delivered the message");
    }
    listener.expect_clean_exit(WAIT);
    drop(dialer.wait("closed", WAIT));

    // Our receiver: same refusal.
    let (mut go, stream) = connect(
        line,
        "Go sends 1024 on 0x80",
        args(&["-scenario", "mconn", "-channels", chans, "-send", plan]),
        true,
    );
    let mut d = Driver::new(
        stream,
        Plain::new(
            &Config::cometbft(),
            &our_channels(&[Chan(0x80, 1, 10, 65536)]),
        ),
    );
    let result = d.run(RUN, |d| {
        while d.stack.poll_message().is_some() {}
        d.closed_reason().is_some() || d.peer_closed.is_some()
    });
    if let Err(e) = result {
        go.fail(&format!("our side: {e}"));
    }
    assert_eq!(
        d.closed_reason(),
        Some("PacketTooLarge"),
        "we refuse the 1035-byte packet like Go"
    );
    report(
        line,
        "Go's own 1024-byte final chunk on 0x80",
        true,
        &format!("Go receiver: {reason}; our receiver: PacketTooLarge (same refusal)"),
    );
}
