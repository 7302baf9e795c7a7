//! A reactor that stops reading, next to one that keeps going, under each
//! overflow policy.

use mconn::conn::Keepalive;
use mconn::switch::{InboxBudget, Misbehaviour, OverflowPolicy};
use mconn_tests::netsim::Gate;

use super::*;

/// The stalled reactor: owns [`CHANNEL`] with a 4-message inbox; records
/// each message when `receive` starts, then waits for the gate, then
/// records it again as done.
struct Stalled {
    policy: OverflowPolicy,
    gate: Gate,
    arrived: Arc<Mutex<Vec<u32>>>,
    done: Arc<Mutex<Vec<u32>>>,
}

const BUDGET: usize = 4;

impl Reactor<Sim> for Stalled {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(CHANNEL, 1)
            .recv_message_capacity(4096)
            .overflow(self.policy)]
    }
    fn inbox_budget(&self) -> InboxBudget {
        InboxBudget {
            messages: BUDGET,
            bytes: 1 << 20,
        }
    }
    async fn receive(&mut self, _ch: u8, _peer: &SwitchPeer<Sim>, msg: Vec<u8>) {
        let seq = u32::from_be_bytes(msg[..4].try_into().unwrap());
        self.arrived.lock().unwrap().push(seq);
        self.gate.wait().await;
        self.done.lock().unwrap().push(seq);
    }
}

/// The other reactor on the same peers: owns [`OTHER`], records sequence numbers.
struct Flowing {
    got: Arc<Mutex<Vec<u32>>>,
    removed: Arc<Mutex<Vec<DisconnectReason>>>,
}

impl Reactor<Sim> for Flowing {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(OTHER, 1).recv_message_capacity(4096)]
    }
    async fn remove_peer(&mut self, _peer: &SwitchPeer<Sim>, reason: DisconnectReason) {
        self.removed.lock().unwrap().push(reason);
    }
    async fn receive(&mut self, _ch: u8, _peer: &SwitchPeer<Sim>, msg: Vec<u8>) {
        let seq = u32::from_be_bytes(msg[..4].try_into().unwrap());
        self.got.lock().unwrap().push(seq);
    }
}

fn message(seq: u32, len: usize) -> Vec<u8> {
    let mut m = vec![seq as u8; len.max(4)];
    m[..4].copy_from_slice(&seq.to_be_bytes());
    m
}

/// Two nodes; node 1 (the receiver) has a stalled and a flowing reactor.
struct Overflow {
    sim: Simulation,
    sender: Switch<Sim>,
    receiver: Switch<Sim>,
    to_receiver: SwitchPeer<Sim>,
    gate: Gate,
    arrived: Arc<Mutex<Vec<u32>>>,
    done: Arc<Mutex<Vec<u32>>>,
    got: Arc<Mutex<Vec<u32>>>,
    removed: Arc<Mutex<Vec<DisconnectReason>>>,
}

/// Pings every 3 s, pongs due within 2 s.
fn fast_keepalive(node: &mut NodeConfig) {
    node.session.conn.keepalive = Keepalive::CometBft {
        ping_interval: Duration::from_secs(3),
        pong_timeout: Duration::from_secs(2),
    };
}

impl Overflow {
    fn new(policy: OverflowPolicy) -> Self {
        let sim = Simulation::new(NetConfig::new(99));
        let (mut node, config) = settings(0);
        fast_keepalive(&mut node);
        let (watcher, _) = Watcher::new(&[CHANNEL, OTHER]);
        let sender = start(
            &sim,
            0,
            Switch::builder(node, config).reactor(watcher).unwrap(),
        );
        let (mut node, config) = settings(1);
        fast_keepalive(&mut node);
        let gate = Gate::closed();
        let (arrived, done) = (Arc::default(), Arc::default());
        let (got, removed) = (Arc::default(), Arc::default());
        let stalled = Stalled {
            policy,
            gate: gate.clone(),
            arrived: Arc::clone(&arrived),
            done: Arc::clone(&done),
        };
        let flowing = Flowing {
            got: Arc::clone(&got),
            removed: Arc::clone(&removed),
        };
        let builder = Switch::builder(node, config).reactor(stalled).unwrap();
        let receiver = start(&sim, 1, builder.reactor(flowing).unwrap());
        let to_receiver = dial(&sim, &sender, 0, addr(1)).expect("connects");
        Overflow {
            sim,
            sender,
            receiver,
            to_receiver,
            gate,
            arrived,
            done,
            got,
            removed,
        }
    }

    /// Queues messages `seqs` on `channel` at the sender (waiting for room).
    fn send(&self, channel: u8, seqs: std::ops::Range<u32>, len: usize) {
        let peer = self.to_receiver.clone();
        self.sim
            .block_on_at(node_ip(0), async move {
                for seq in seqs {
                    peer.send(channel, &message(seq, len))
                        .await
                        .expect("queued");
                }
            })
            .unwrap();
    }

    /// Sends `seqs` on `channel` from a background task, retrying on timeout.
    fn flood(&self, channel: u8, seqs: std::ops::Range<u32>, len: usize) -> Arc<Mutex<u32>> {
        let queued = Arc::new(Mutex::new(0));
        let (peer, count) = (self.to_receiver.clone(), queued.clone());
        self.sim.spawn_on(node_ip(0), async move {
            for seq in seqs {
                let msg = message(seq, len);
                while let Err(e) = peer.send(channel, &msg).await {
                    assert_eq!(e, mconn_driver::Error::Timeout, "flood send");
                }
                *count.lock().unwrap() += 1;
            }
        });
        queued
    }

    fn got(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    fn run_until(&self, done: impl FnMut() -> bool) {
        self.sim.run_until(done).unwrap();
    }

    /// The stalled reactor holds one message at its gate and its inbox
    /// fills to the budget while the other reactor keeps receiving.
    fn fill_budget(&self) {
        self.send(CHANNEL, 0..1, 100);
        self.run_until(|| self.arrived.lock().unwrap().len() == 1);
        self.send(OTHER, 0..10, 100);
        self.run_until(|| self.got() == 10);
        self.send(CHANNEL, 1..BUDGET as u32, 100);
        self.sim.run_for(Duration::from_millis(100)).unwrap();
        let stats = self.receiver.inbox_stats(0);
        assert_eq!(
            (stats.queued_messages, stats.waits, stats.dropped),
            (BUDGET, 0, 0)
        );
        // Spent, not exceeded: the other reactor still receives.
        self.send(OTHER, 10..20, 100);
        self.run_until(|| self.got() == 20);
        assert_eq!(*self.arrived.lock().unwrap(), vec![0]);
        assert!(self.done.lock().unwrap().is_empty());
    }

    fn receiver_peer(&self) -> SwitchPeer<Sim> {
        self.receiver.peers().list()[0].clone()
    }
}

#[test]
fn back_pressure_stops_the_peer_keeps_keepalive_and_loses_nothing() {
    let t = Overflow::new(OverflowPolicy::BackPressure);
    t.fill_budget();
    let conn = t.receiver_peer();
    let pongs = |t: &Overflow| {
        (
            conn.stats().pongs_received,
            t.to_receiver.stats().pongs_received,
        )
    };
    let before = pongs(&t);

    // One message over the budget: the receiver stops taking this peer's
    // messages — the other reactor's too (documented) — but its session
    // still reads the stream while the core's buffers have room, so
    // keepalive goes on both ways.
    let extra = 5;
    t.send(CHANNEL, BUDGET as u32..BUDGET as u32 + extra, 100);
    t.send(OTHER, 20..30, 100);
    t.sim.run_for(Duration::from_secs(30)).unwrap();
    let stats = t.receiver.inbox_stats(0);
    assert!(stats.waits >= 1, "{stats:?}");
    assert_eq!(
        (
            stats.queued_messages,
            stats.dropped,
            stats.overflow_disconnects
        ),
        (BUDGET, 0, 0)
    );
    assert_eq!(t.got(), 20, "the peer's other channel waits too");
    let after = pongs(&t);
    assert!(
        after.0 >= before.0 + 5 && after.1 >= before.1 + 5,
        "pongs {before:?} -> {after:?}"
    );

    // A flood far beyond every buffer: the sender is back-pressured through
    // TCP and keepalive pauses (its bytes would queue behind the data). The
    // stalled receiver's pong deadline restarts; the sender has no ping in
    // flight here, so neither session times out (when it has one, see
    // the test below).
    const FLOOD: u32 = 400;
    let queued = t.flood(OTHER, 30..30 + FLOOD, 1000);
    t.sim.run_for(Duration::from_secs(30)).unwrap();
    assert!(
        *queued.lock().unwrap() < FLOOD,
        "the sender is back-pressured"
    );
    assert_eq!(t.got(), 20);
    assert_eq!(t.receiver.peers().len(), 1);
    assert_eq!(t.sender.peers().len(), 1);
    assert_eq!(t.receiver.stats().removed + t.sender.stats().removed, 0);

    // Open the gate: everything arrives, in order, exactly once, and
    // keepalive resumes.
    t.gate.open();
    let total = BUDGET as u32 + extra;
    let all = (30 + FLOOD) as usize;
    t.run_until(|| t.done.lock().unwrap().len() == total as usize && t.got() == all);
    assert_eq!(*t.done.lock().unwrap(), (0..total).collect::<Vec<_>>());
    assert_eq!(*t.got.lock().unwrap(), (0..30 + FLOOD).collect::<Vec<_>>());
    let resumed = pongs(&t);
    t.sim.run_for(Duration::from_secs(10)).unwrap();
    let later = pongs(&t);
    assert!(
        later.0 > resumed.0 && later.1 > resumed.1,
        "pongs {resumed:?} -> {later:?}"
    );
    assert_eq!(t.receiver.peers().len(), 1);
    assert!(t.removed.lock().unwrap().is_empty());
}

/// Found by this simulation (and fixed in the core's keepalive and the
/// driver's write loop). The receiver's reactor stalls (`BackPressure`)
/// while the sender streams steadily; the sender's first ping goes out at
/// 3 s, just before TCP back-pressure stops the stream, and sits behind data
/// the stalled receiver will not read. The receiver's stalled input keeps
/// *its* pong deadline alive; the sender's pong deadline used to fire at
/// 5 s — the slow reactor cost the connection after all. Now the driver
/// tells the session while a socket write stays pending
/// (`set_output_blocked`), and the deadline restarts instead.
#[test]
fn a_ping_caught_behind_back_pressured_data_does_not_time_out_the_sender() {
    let t = Overflow::new(OverflowPolicy::BackPressure);
    t.fill_budget();
    // One over: stop taking. Then 1 KB every 10 ms from 2 s after the
    // connection started: the stream still moves at the sender's first
    // ping (3 s) and stops soon after.
    t.send(CHANNEL, BUDGET as u32..BUDGET as u32 + 1, 100);
    let peer = t.to_receiver.clone();
    let start = t.to_receiver.entry().since + Duration::from_secs(2);
    t.sim.spawn_on(node_ip(0), async move {
        Sim::sleep_until(start).await;
        for seq in 20..1000 {
            let msg = message(seq, 1000);
            loop {
                match peer.send(OTHER, &msg).await {
                    Err(mconn_driver::Error::Timeout) => continue,
                    Err(_) => return,
                    Ok(()) => break,
                }
            }
            Sim::sleep_until(Sim::now() + Duration::from_millis(10)).await;
        }
    });
    t.sim.run_for(Duration::from_secs(30)).unwrap();
    assert!(t.to_receiver.stats().pings_sent >= 1);
    assert_eq!(
        t.to_receiver.disconnect_reason(),
        None,
        "{:?}",
        t.to_receiver.stats()
    );
    assert_eq!(t.sender.peers().len(), 1);
}

#[test]
fn disconnect_policy_disconnects_the_peer_that_overflows() {
    let t = Overflow::new(OverflowPolicy::Disconnect);
    t.fill_budget();
    t.send(CHANNEL, BUDGET as u32..BUDGET as u32 + 1, 100);
    t.run_until(|| !t.removed.lock().unwrap().is_empty());
    let why = DisconnectReason::Misbehaved(Misbehaviour::ReactorOverflow { channel: CHANNEL });
    assert_eq!(*t.removed.lock().unwrap(), vec![why]);
    assert!(t.receiver.peers().is_empty());
    let stats = t.receiver.inbox_stats(0);
    assert_eq!((stats.overflow_disconnects, stats.dropped), (1, 0));
    assert_eq!(t.receiver.stats().bad_reports, 1);
    t.run_until(|| t.sender.peers().is_empty());
    // The sender is cooling down at the receiver: its dial is refused.
    let again = dial(&t.sim, &t.sender, 0, addr(1)).map(|p| p.id());
    assert!(matches!(again, Err(DialError::Handshake(_))), "{again:?}");
    assert_eq!(t.receiver.stats().refused(Refusal::CoolingDown), 1);
    // What was queued before the overflow is still delivered.
    t.gate.open();
    t.run_until(|| t.done.lock().unwrap().len() == BUDGET);
    assert_eq!(
        *t.done.lock().unwrap(),
        (0..BUDGET as u32).collect::<Vec<_>>()
    );
}

#[test]
fn drop_policy_drops_and_counts_and_the_connection_stays() {
    let t = Overflow::new(OverflowPolicy::Drop);
    t.fill_budget();
    let extra = 6;
    t.send(CHANNEL, BUDGET as u32..BUDGET as u32 + extra, 100);
    // The peer is not held up: its other channel keeps flowing.
    t.send(OTHER, 20..40, 100);
    t.run_until(|| t.got() == 40);
    t.sim.run_for(Duration::from_secs(30)).unwrap();
    let stats = t.receiver.inbox_stats(0);
    assert_eq!(
        (stats.dropped, stats.waits, stats.overflow_disconnects),
        (extra as u64, 0, 0)
    );
    assert_eq!(stats.queued_messages, BUDGET);
    assert_eq!(t.receiver.peers().len(), 1);
    assert!(t.removed.lock().unwrap().is_empty());
    t.gate.open();
    t.run_until(|| t.done.lock().unwrap().len() == BUDGET);
    t.sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(
        *t.done.lock().unwrap(),
        (0..BUDGET as u32).collect::<Vec<_>>()
    );
    assert_eq!(*t.got.lock().unwrap(), (0..40).collect::<Vec<_>>());
}
