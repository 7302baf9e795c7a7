//! A deterministic simulated runtime for the switch: the same
//! `mconn_driver::switch` code that runs on tokio and smol runs here on one
//! thread, in simulated time, over an in-memory network, reproducibly from a
//! seed.
//!
//! * [`Sim`] implements [`Runtime`]: `now`/`sleep_until` read and wait on
//!   the simulated clock, `spawn` adds a task to the executor, `bind`,
//!   `accept` and `connect` use the in-memory network, `rng` and
//!   `ephemeral_key` draw from the seeded source.
//! * The executor polls tasks one at a time from a FIFO ready queue; when
//!   nothing is ready the clock jumps to the next timer. Every run call is
//!   bounded in steps and simulated time ([`Limits`]), so a stuck simulation
//!   returns a [`Stuck`] error instead of hanging.
//! * The network gives each node an address (see [`node_ip`], 127.0.x.y so
//!   per-IP rules apply; no real socket is touched), one latency per pair of
//!   nodes drawn from [`NetConfig::latency`], bounded buffers per direction
//!   (TCP-like back-pressure), optional fragmentation, `ConnectionRefused`
//!   where nobody listens, and EOF after a FIN or when a node is
//!   [killed](Simulation::kill). Every connect, refusal, accept and close is
//!   in a [trace](Simulation::trace) with a digest for comparing runs.
//!
//! ## One simulation per thread
//!
//! `Runtime::now()` and `Runtime::spawn()` are static functions, so the
//! world lives in a `thread_local!`: a [`Simulation`] installs it and
//! removes it when dropped, and only one may exist per thread at a time
//! (each `#[test]` has its own thread). Calling a `Sim` function on a
//! thread without one panics.
//!
//! ## Nodes
//!
//! Every task runs as a node (an IP address) or as none; a task spawned by
//! another runs as the same node. [`Simulation::block_on_at`],
//! [`spawn_on`](Simulation::spawn_on) and [`on`](Simulation::on) run code
//! as a node: a switch must be started, and its `dial`/`dial_peers` called,
//! as its node, because `connect` takes the dialer's address from the
//! current node and `bind` requires it. [`Simulation::kill`] drops all of a
//! node's tasks — with them its listener and sockets (peers read EOF) —
//! and a switch started again on the same address is the restarted node.
//!
//! ```
//! use std::time::Duration;
//! use mconn::identity::NodeKey;
//! use mconn::switch::{ChannelDescriptor, SwitchConfig};
//! use mconn_driver::switch::{Reactor, Switch, SwitchPeer};
//! use mconn_driver::NodeConfig;
//! use mconn_tests::netsim::{node_ip, NetConfig, Sim, Simulation};
//!
//! struct Quiet;
//! impl Reactor<Sim> for Quiet {
//!     fn channels(&self) -> Vec<ChannelDescriptor> {
//!         vec![ChannelDescriptor::new(0x60, 1)]
//!     }
//!     async fn receive(&mut self, _: u8, _: &SwitchPeer<Sim>, _: Vec<u8>) {}
//! }
//!
//! let sim = Simulation::new(NetConfig::new(7));
//! let start = |i: usize, persistent| {
//!     let node = NodeConfig::new(NodeKey::from_seed([i as u8; 32]), "sim", &[]);
//!     let mut config = SwitchConfig::new(node.key.node_id());
//!     config.persistent_peers = persistent;
//!     let builder = Switch::<Sim>::builder(node, config).reactor(Quiet).unwrap();
//!     let addr = (node_ip(i), 26656).into();
//!     sim.block_on_at(node_ip(i), builder.listen(addr).start()).unwrap().unwrap()
//! };
//! let a = start(1, vec![]);
//! let b = start(2, vec![a.net_addr().unwrap()]);
//! sim.run_until(|| a.peers().len() == 1 && b.peers().len() == 1).unwrap();
//! assert!(b.peers().list()[0].is_outbound());
//! assert!(sim.now() < mconn::Instant::from_millis(10_000));
//! ```

mod executor;
mod gate;
mod net;
#[cfg(test)]
mod tests;
mod trace;
mod world;

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use mconn::Instant;
use mconn_driver::switch::{OnRuntime, Runtime};
use mconn_driver::{Disconnect, Peer};

pub use executor::{Limits, Sleep, Stuck, StuckKind};
pub use gate::Gate;
pub use net::{Listener, NetStats, Reader, Writer};
pub use trace::{NetEvent, TraceEntry};

use executor::Check;
use world::{world, World};

/// The address of simulated node `i`: `127.0.x.y` with `x = 1 + i / 250`
/// and `y = 1 + i % 250` (distinct for `i < 63_750`).
///
/// ```
/// use mconn_tests::netsim::node_ip;
/// assert_eq!(node_ip(0).to_string(), "127.0.1.1");
/// assert_eq!(node_ip(251).to_string(), "127.0.2.2");
/// ```
pub fn node_ip(i: usize) -> IpAddr {
    let x = u8::try_from(1 + i / 250).expect("node index out of range");
    IpAddr::V4(Ipv4Addr::new(127, 0, x, (1 + i % 250) as u8))
}

/// Settings of a [`Simulation`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Seeds every random choice: latencies, fragmentation, the switch's
    /// jitter ([`Runtime::rng`]) and ephemeral keys.
    pub seed: u64,
    /// One-way latency range; each pair of nodes gets one value from it (1-5 ms).
    pub latency: (Duration, Duration),
    /// Bytes in flight or unread per stream direction (64 KiB).
    pub buffer: usize,
    /// Cut writes into random chunks of at most this many bytes, each read
    /// returning at most one (`None`: reads take whatever has arrived).
    pub max_chunk: Option<usize>,
    /// Connections queued on a listener before connects are refused (128).
    pub backlog: usize,
    /// Bounds of every run call.
    pub limits: Limits,
    /// Trace entries kept (100 000); the digest covers all of them.
    pub trace_capacity: usize,
}

impl NetConfig {
    /// The defaults around `seed`.
    pub fn new(seed: u64) -> Self {
        NetConfig {
            seed,
            latency: (Duration::from_millis(1), Duration::from_millis(5)),
            buffer: 64 * 1024,
            max_chunk: None,
            backlog: 128,
            limits: Limits::default(),
            trace_capacity: 100_000,
        }
    }
}

/// A seeded [`rand_core::RngCore`] (xorshift64*, see [`crate::sim::Rng`]).
#[derive(Clone, Debug)]
pub struct SeededRng(crate::sim::Rng);

impl SeededRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        SeededRng(crate::sim::Rng::new(seed))
    }
}

impl rand_core::RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        (self.0.next_u64() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

/// The simulated runtime (see the [module docs](self)); only usable while a
/// [`Simulation`] exists on the thread.
#[derive(Debug)]
pub enum Sim {}

impl Runtime for Sim {
    type Reader = Reader;
    type Writer = Writer;
    type Listener = Listener;

    fn now() -> Instant {
        world().now()
    }

    fn sleep_until(deadline: Instant) -> impl Future<Output = ()> + Send {
        Sleep::until(deadline)
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        executor::spawn(task);
    }

    fn bind(addr: SocketAddr) -> impl Future<Output = io::Result<Listener>> + Send {
        std::future::ready(net::bind(addr))
    }

    fn local_addr(listener: &Listener) -> io::Result<SocketAddr> {
        Ok(listener.addr())
    }

    async fn accept(
        listener: &Listener,
        _socket: mconn_driver::SocketOptions,
    ) -> io::Result<(Reader, Writer, SocketAddr)> {
        net::accept(listener).await
    }

    async fn connect(
        addr: SocketAddr,
        _socket: mconn_driver::SocketOptions,
    ) -> io::Result<(Reader, Writer)> {
        net::connect(addr).await
    }

    async fn serve(
        peer: Peer<OnRuntime<Sim>>,
        reader: Reader,
        writer: Writer,
        io_buffer: usize,
    ) -> Disconnect {
        peer.serve(reader, writer, io_buffer).await
    }

    fn rng() -> Box<dyn rand_core::RngCore + Send> {
        Box::new(SeededRng::new(world().random()))
    }

    fn ephemeral_key() -> [u8; 32] {
        let mut key = [0; 32];
        world().rng.borrow_mut().fill(&mut key);
        key
    }
}

/// Wakes a `block_on` future: sets its flag.
struct MainWaker(AtomicBool);

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

/// Marks a run in progress (runs do not nest).
struct Running(std::rc::Rc<World>);

impl Running {
    fn enter() -> Self {
        let w = world();
        assert!(
            !w.running.replace(true),
            "netsim: a Simulation run call inside another (e.g. block_on inside a task)"
        );
        Running(w)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.set(false);
    }
}

/// A simulated world on this thread (see the [module docs](self)): create
/// it first, build switches over [`Sim`], drive it with the run calls.
/// Dropping it drops every task and removes the world.
#[derive(Debug)]
pub struct Simulation {
    _not_send: PhantomData<*const ()>,
}

impl Simulation {
    /// Installs a world on this thread; panics if one exists.
    pub fn new(config: NetConfig) -> Self {
        world::install(World::new(config));
        Simulation {
            _not_send: PhantomData,
        }
    }

    /// The simulated time.
    pub fn now(&self) -> Instant {
        world().now()
    }

    /// Task polls and clock jumps so far.
    pub fn steps(&self) -> u64 {
        world().exec.borrow().steps
    }

    /// Live tasks.
    pub fn tasks(&self) -> usize {
        world().exec.borrow().num_tasks()
    }

    /// Tasks spawned so far.
    pub fn spawned(&self) -> u64 {
        world().exec.borrow().spawned
    }

    /// Tasks woken and not yet polled.
    pub fn ready(&self) -> usize {
        world().num_ready()
    }

    /// Spawns a task that runs as no node.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        executor::spawn_on(&world(), None, Box::pin(task));
    }

    /// Spawns a task that runs as `node`.
    pub fn spawn_on(&self, node: IpAddr, task: impl Future<Output = ()> + Send + 'static) {
        executor::spawn_on(&world(), Some(node), Box::pin(task));
    }

    /// Runs `f` as `node` (tasks it spawns belong to `node`), e.g. a
    /// switch's `dial_peers`.
    pub fn on<R>(&self, node: IpAddr, f: impl FnOnce() -> R) -> R {
        let w = world();
        let previous = w.current.replace(Some(node));
        struct Restore<'a>(&'a World, Option<IpAddr>);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.current.set(self.1);
            }
        }
        let _restore = Restore(&w, previous);
        f()
    }

    /// Runs the simulation until `future` (running as no node) completes.
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output, Stuck> {
        self.block_on_as(None, future)
    }

    /// Runs the simulation until `future`, running as `node`, completes.
    pub fn block_on_at<F: Future>(&self, node: IpAddr, future: F) -> Result<F::Output, Stuck> {
        self.block_on_as(Some(node), future)
    }

    fn block_on_as<F: Future>(&self, node: Option<IpAddr>, future: F) -> Result<F::Output, Stuck> {
        let running = Running::enter();
        let w = &running.0;
        let flag = Arc::new(MainWaker(AtomicBool::new(true)));
        let waker = Waker::from(flag.clone());
        let mut future = pin!(future);
        let mut output = None;
        w.run(w.config.limits, || {
            if !flag.0.swap(false, Ordering::AcqRel) {
                return Check::Wait;
            }
            let previous = w.current.replace(node);
            let polled = future.as_mut().poll(&mut Context::from_waker(&waker));
            w.current.set(previous);
            match polled {
                Poll::Ready(v) => {
                    output = Some(v);
                    Check::Done
                }
                Poll::Pending => Check::Again,
            }
        })?;
        Ok(output.expect("block_on finished without an output"))
    }

    /// Runs until `done()` holds (checked first and after every step).
    pub fn run_until(&self, mut done: impl FnMut() -> bool) -> Result<(), Stuck> {
        let running = Running::enter();
        let limits = running.0.config.limits;
        running
            .0
            .run(limits, || if done() { Check::Done } else { Check::Wait })
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&self, d: Duration) -> Result<(), Stuck> {
        self.run_until_time(self.now() + d)
    }

    /// Runs until the clock reads `deadline` (at once if it passed).
    pub fn run_until_time(&self, deadline: Instant) -> Result<(), Stuck> {
        let running = Running::enter();
        running
            .0
            .run_until_time(deadline, running.0.config.limits.max_steps)
    }

    /// Kills `node`: drops all its tasks — and with them its listeners and
    /// sockets, so its peers read EOF and their writes fail — and records
    /// it in the trace. Returns how many tasks were dropped. Switch handles
    /// of the node that the test still holds are dead; drop them.
    pub fn kill(&self, node: IpAddr) -> usize {
        let w = world();
        w.record(NetEvent::Killed(node));
        let mut dropped = 0;
        // Destructors may spawn; bounded so a pathological one cannot loop.
        for _ in 0..16 {
            let tasks = w.exec.borrow_mut().take_node_tasks(node);
            if tasks.is_empty() {
                break;
            }
            dropped += tasks.len();
            drop(tasks);
        }
        dropped
    }

    /// The trace kept so far (the first [`NetConfig::trace_capacity`] entries).
    pub fn trace(&self) -> Vec<TraceEntry> {
        world().trace.borrow().entries().to_vec()
    }

    /// How many events were traced, and the digest of all of them: equal
    /// for two runs with the same seed and the same inputs.
    pub fn trace_digest(&self) -> (u64, u64) {
        let w = world();
        let trace = w.trace.borrow();
        (trace.total(), trace.digest())
    }

    /// Network counters.
    pub fn net_stats(&self) -> NetStats {
        world().net.borrow().stats
    }

    /// The one-way latency between two nodes.
    pub fn latency(&self, a: IpAddr, b: IpAddr) -> Duration {
        world().latency(a, b)
    }

    /// Whether something listens at `addr`.
    pub fn is_listening(&self, addr: SocketAddr) -> bool {
        world().net.borrow().is_listening(addr)
    }
}

impl Drop for Simulation {
    fn drop(&mut self) {
        // Without the world installed, destructors of tasks touch nothing
        // of it (and a destructor that needs it cannot panic twice).
        if let Some(w) = world::uninstall() {
            let tasks = w.exec.borrow_mut().take_all_tasks();
            drop(tasks);
        }
    }
}
