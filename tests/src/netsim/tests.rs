//! The simulator's own behaviour: clock and timers, bounds, and the
//! network's latency, back-pressure, fragmentation, EOF and refusal.

use std::io::ErrorKind;
use std::sync::Mutex;

use embedded_io_async::{Read, Write};
use mconn_driver::HalfClose;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(d: Duration) -> Instant {
    Instant::ZERO + d
}

#[test]
fn timers_fire_in_deadline_order_and_the_clock_jumps_to_them() {
    let sim = Simulation::new(NetConfig::new(1));
    let fired = Arc::new(Mutex::new(Vec::new()));
    for (i, secs) in [(0, 3), (1, 1), (2, 2), (3, 1)] {
        let fired = fired.clone();
        sim.spawn(async move {
            Sleep::until(at(Duration::from_secs(secs))).await;
            fired.lock().unwrap().push((i, Sim::now()));
        });
    }
    sim.run_until(|| fired.lock().unwrap().len() == 4).unwrap();
    let s = |n| at(Duration::from_secs(n));
    assert_eq!(
        *fired.lock().unwrap(),
        vec![(1, s(1)), (3, s(1)), (2, s(2)), (0, s(3))]
    );
    assert_eq!(sim.now(), s(3));
    sim.run_for(ms(500)).unwrap();
    assert_eq!(
        sim.now(),
        at(ms(3500)),
        "run_for ends at its time even when idle"
    );
    assert_eq!(sim.tasks(), 0);
}

/// Wakes itself and stays pending forever.
struct Spin;

impl Future for Spin {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn stuck_runs_return_an_error_instead_of_hanging() {
    let mut config = NetConfig::new(2);
    config.limits = Limits {
        max_steps: 1000,
        max_time: Duration::from_secs(10),
    };
    let sim = Simulation::new(config);
    let e = sim.run_until(|| false).unwrap_err();
    assert_eq!(e.kind, StuckKind::Deadlock);

    sim.spawn(async {
        loop {
            Sleep::until(Sim::now() + Duration::from_secs(1)).await;
        }
    });
    let e = sim.run_until(|| false).unwrap_err();
    assert_eq!(
        (e.kind, e.now),
        (StuckKind::TimeLimit, at(Duration::from_secs(10)))
    );
    assert!(e.to_string().contains("time limit"), "{e}");

    sim.spawn(Spin);
    let e = sim.block_on(std::future::pending::<()>()).unwrap_err();
    assert_eq!((e.kind, e.steps), (StuckKind::StepLimit, 1000));
}

#[test]
fn connecting_where_nobody_listens_is_refused_after_a_round_trip() {
    let sim = Simulation::new(NetConfig::new(3));
    let (a, b) = (node_ip(0), node_ip(1));
    let latency = sim.latency(a, b);
    assert!(latency >= ms(1) && latency <= ms(5), "{latency:?}");
    let to = SocketAddr::new(b, 80);
    let r = sim.block_on_at(a, net::connect(to)).unwrap();
    assert_eq!(
        r.err().map(|e| e.kind()),
        Some(ErrorKind::ConnectionRefused)
    );
    assert_eq!(sim.now(), at(2 * latency));
    let events: Vec<NetEvent> = sim.trace().iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        vec![
            NetEvent::Connect { from: a, to },
            NetEvent::Refused { from: a, to }
        ]
    );
    assert_eq!(sim.net_stats().refused, 1);
}

/// Accepts one connection at `node`:80 and reads it to the end into `into`,
/// noting the largest read.
fn spawn_sink(sim: &Simulation, node: IpAddr, into: Arc<Mutex<(Vec<u8>, usize, bool)>>) {
    let listener = sim
        .on(node, || net::bind(SocketAddr::new(node, 80)))
        .expect("binds");
    sim.spawn_on(node, async move {
        let (mut r, _w, _) = net::accept(&listener).await.unwrap();
        let mut buf = [0u8; 4096];
        loop {
            let n = r.read(&mut buf).await.unwrap();
            let mut s = into.lock().unwrap();
            if n == 0 {
                s.2 = true;
                return;
            }
            s.0.extend_from_slice(&buf[..n]);
            s.1 = s.1.max(n);
        }
    });
}

#[test]
fn bytes_arrive_in_order_one_latency_later_in_chunks() {
    let mut config = NetConfig::new(4);
    config.max_chunk = Some(7);
    let sim = Simulation::new(config);
    let (a, b) = (node_ip(0), node_ip(1));
    let sink = Arc::new(Mutex::new((Vec::new(), 0, false)));
    spawn_sink(&sim, b, sink.clone());
    let (_r, mut w) = sim
        .block_on_at(a, net::connect(SocketAddr::new(b, 80)))
        .unwrap()
        .unwrap();
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let sent_at = sim.now();
    sim.block_on_at(a, async {
        w.write_all(&data).await.unwrap();
        w.half_close().await;
    })
    .unwrap();
    let first = || !sink.lock().unwrap().0.is_empty();
    sim.run_until(first).unwrap();
    assert_eq!(sim.now(), sent_at + sim.latency(a, b));
    sim.run_until(|| sink.lock().unwrap().2).unwrap();
    let s = sink.lock().unwrap();
    assert_eq!(s.0, data);
    assert!(s.1 <= 7, "a read returned {} bytes", s.1);
}

#[test]
fn a_reader_that_stops_reading_stops_the_writer_at_the_buffer_size() {
    let mut config = NetConfig::new(5);
    config.buffer = 1000;
    let sim = Simulation::new(config);
    let (a, b) = (node_ip(0), node_ip(1));
    let listener = sim.on(b, || net::bind(SocketAddr::new(b, 80))).unwrap();
    let server = Arc::new(Mutex::new(None));
    let slot = server.clone();
    sim.spawn_on(b, async move {
        let accepted = net::accept(&listener).await.unwrap();
        *slot.lock().unwrap() = Some(accepted);
    });
    let written = Arc::new(Mutex::new(0usize));
    let count = written.clone();
    sim.spawn_on(a, async move {
        let (_r, mut w) = net::connect(SocketAddr::new(b, 80)).await.unwrap();
        loop {
            let n = w.write(&[1; 300]).await.unwrap();
            *count.lock().unwrap() += n;
        }
    });
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(*written.lock().unwrap(), 1000, "the writer waits for room");
    let (mut r, _w, _) = server.lock().unwrap().take().unwrap();
    let mut buf = [0u8; 400];
    assert_eq!(sim.block_on_at(b, r.read(&mut buf)).unwrap().unwrap(), 400);
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(
        *written.lock().unwrap(),
        1400,
        "reading made room for as much"
    );
}

#[test]
fn killing_a_node_gives_its_peers_eof_and_broken_pipes_and_refuses_connects() {
    let sim = Simulation::new(NetConfig::new(6));
    let (a, b) = (node_ip(0), node_ip(1));
    let listener = sim.on(b, || net::bind(SocketAddr::new(b, 80))).unwrap();
    sim.spawn_on(b, async move {
        let (_r, _w, _) = net::accept(&listener).await.unwrap();
        std::future::pending::<()>().await; // holds the stream until killed
    });
    let (mut r, mut w) = sim
        .block_on_at(a, net::connect(SocketAddr::new(b, 80)))
        .unwrap()
        .unwrap();
    assert_eq!(sim.kill(b), 1);
    let killed_at = sim.now();
    let mut buf = [0u8; 16];
    assert_eq!(
        sim.block_on_at(a, r.read(&mut buf)).unwrap().unwrap(),
        0,
        "EOF"
    );
    assert_eq!(sim.now(), killed_at + sim.latency(a, b));
    let e = sim.block_on_at(a, w.write(b"x")).unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BrokenPipe);
    assert!(!sim.is_listening(SocketAddr::new(b, 80)));
    let again = sim
        .block_on_at(a, net::connect(SocketAddr::new(b, 80)))
        .unwrap();
    assert_eq!(
        again.err().map(|e| e.kind()),
        Some(ErrorKind::ConnectionRefused)
    );
    assert!(sim.trace().iter().any(|e| e.event == NetEvent::Killed(b)));
}

#[test]
fn binding_checks_the_node_and_the_port() {
    let sim = Simulation::new(NetConfig::new(7));
    let (a, b) = (node_ip(0), node_ip(1));
    let other = sim.on(a, || net::bind(SocketAddr::new(b, 80)));
    assert_eq!(
        other.err().map(|e| e.kind()),
        Some(ErrorKind::AddrNotAvailable)
    );
    let first = sim.on(a, || net::bind(SocketAddr::new(a, 80))).unwrap();
    let taken = sim.on(a, || net::bind(SocketAddr::new(a, 80)));
    assert_eq!(taken.err().map(|e| e.kind()), Some(ErrorKind::AddrInUse));
    let any = sim
        .on(a, || net::bind("0.0.0.0:0".parse().unwrap()))
        .unwrap();
    assert_eq!(any.addr().ip(), a);
    assert_ne!(any.addr().port(), 0);
    drop(first);
    assert!(
        sim.on(a, || net::bind(SocketAddr::new(a, 80))).is_ok(),
        "free again"
    );
}
