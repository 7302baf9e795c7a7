//! The in-memory network: listeners registered by address, and streams made
//! of two bounded, delayed byte flows.
//!
//! * `connect` takes one link latency for the SYN to reach the listener
//!   (refused there if nobody listens or its backlog is full) and one more
//!   for the answer to come back.
//! * Each direction of a stream holds at most `NetConfig::buffer` bytes in
//!   flight or unread: a writer waits for room (TCP back-pressure).
//! * Written bytes become readable one link latency later, in order; with
//!   `NetConfig::max_chunk`, writes are cut into random chunks and each read
//!   returns at most one chunk.
//! * Shutting down or dropping a writer is a FIN: the reader sees EOF after
//!   the data before it. Dropping a reader makes the other side's writes
//!   fail with `BrokenPipe`.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mconn::Instant;

use super::executor::Sleep;
use super::trace::NetEvent;
use super::world::{try_world, world, World};

/// First port handed out for `bind` on port 0.
const FIRST_LISTEN_PORT: u16 = 20_000;
/// First port of dialing sockets.
const FIRST_DIAL_PORT: u16 = 40_000;

/// Counters of the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Connects started.
    pub connects: u64,
    /// Connects refused (nobody listening, or a full backlog).
    pub refused: u64,
    /// Streams established.
    pub established: u64,
    /// Bytes written into streams.
    pub bytes: u64,
    /// Receive buffers set (`ReadHalf::set_receive_buffer`), and the sum
    /// of their sizes (a simulated stream has none: they change nothing).
    pub receive_buffers: u64,
    /// See `receive_buffers`.
    pub receive_buffer_bytes: u64,
}

struct ListenerState {
    id: u64,
    backlog: VecDeque<(Reader, Writer, SocketAddr)>,
    waker: Option<Waker>,
}

/// The network's state (inside the thread's world).
pub(crate) struct Network {
    listeners: BTreeMap<SocketAddr, ListenerState>,
    next_listener: u64,
    next_listen_port: BTreeMap<IpAddr, u16>,
    next_dial_port: BTreeMap<IpAddr, u16>,
    links: BTreeMap<(IpAddr, IpAddr), Duration>,
    pub(crate) stats: NetStats,
}

impl Network {
    pub(crate) fn new() -> Self {
        Network {
            listeners: BTreeMap::new(),
            next_listener: 0,
            next_listen_port: BTreeMap::new(),
            next_dial_port: BTreeMap::new(),
            links: BTreeMap::new(),
            stats: NetStats::default(),
        }
    }

    /// Whether something listens at `addr`.
    pub(crate) fn is_listening(&self, addr: SocketAddr) -> bool {
        self.listeners.contains_key(&addr)
    }

    fn dial_port(&mut self, ip: IpAddr) -> u16 {
        let next = self.next_dial_port.entry(ip).or_insert(FIRST_DIAL_PORT);
        let port = *next;
        *next = next.checked_add(1).unwrap_or(FIRST_DIAL_PORT);
        port
    }
}

impl World {
    /// The one-way latency between two IPs, drawn once per pair from the
    /// configured range.
    pub(crate) fn latency(&self, a: IpAddr, b: IpAddr) -> Duration {
        let key = if a <= b { (a, b) } else { (b, a) };
        if let Some(d) = self.net.borrow().links.get(&key) {
            return *d;
        }
        let (lo, hi) = self.config.latency;
        let lo_us = lo.as_micros() as u64;
        let hi_us = (hi.as_micros() as u64).max(lo_us);
        let d = Duration::from_micros(lo_us + self.random() % (hi_us - lo_us + 1));
        self.net.borrow_mut().links.insert(key, d);
        d
    }

    pub(crate) fn record(&self, event: NetEvent) {
        self.trace.borrow_mut().record(self.now(), event);
    }

    /// The SYN from `from` reached `to`: queues the listener's end of a new
    /// stream and returns the dialer's, or `None` if refused.
    fn offer_connection(
        &self,
        from: IpAddr,
        to: SocketAddr,
        latency: Duration,
    ) -> Option<(Reader, Writer)> {
        let mut net = self.net.borrow_mut();
        let backlog = self.config.backlog;
        match net.listeners.get(&to) {
            Some(l) if l.backlog.len() < backlog => {}
            _ => return None,
        }
        let local = SocketAddr::new(from, net.dial_port(from));
        let stream = Arc::new(Mutex::new(Stream {
            flows: [Flow::new(self.now()), Flow::new(self.now())],
            latency,
            addrs: [local, to],
        }));
        let dialer = (
            Reader {
                stream: stream.clone(),
                side: 0,
            },
            Writer {
                stream: stream.clone(),
                side: 0,
            },
        );
        let listener_end = (
            Reader {
                stream: stream.clone(),
                side: 1,
            },
            Writer { stream, side: 1 },
            local,
        );
        net.stats.established += 1;
        let l = net.listeners.get_mut(&to)?;
        l.backlog.push_back(listener_end);
        let waker = l.waker.take();
        drop(net);
        if let Some(w) = waker {
            w.wake();
        }
        self.record(NetEvent::Established { from: local, to });
        Some(dialer)
    }
}

/// A bound listener (dropping it closes the connections not yet accepted).
#[derive(Debug)]
pub struct Listener {
    addr: SocketAddr,
    id: u64,
}

impl Listener {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let Some(w) = try_world() else { return };
        let mut net = w.net.borrow_mut();
        let state = match net.listeners.get(&self.addr) {
            Some(l) if l.id == self.id => net.listeners.remove(&self.addr),
            _ => None,
        };
        drop(net);
        drop(state); // the unaccepted streams' ends see EOF
    }
}

/// Binds a listener at `addr` for the current node. An unspecified IP means
/// the node's; another node's IP is `AddrNotAvailable`; port 0 picks one.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<Listener> {
    let w = world();
    let node = w.current.get();
    let ip = match (addr.ip().is_unspecified(), node) {
        (true, Some(n)) => n,
        (true, None) => return Err(io::ErrorKind::AddrNotAvailable.into()),
        (false, Some(n)) if n != addr.ip() => return Err(io::ErrorKind::AddrNotAvailable.into()),
        (false, _) => addr.ip(),
    };
    let mut net = w.net.borrow_mut();
    let port = match addr.port() {
        0 => {
            let next = net.next_listen_port.entry(ip).or_insert(FIRST_LISTEN_PORT);
            let mut port = *next;
            while net.listeners.contains_key(&SocketAddr::new(ip, port)) {
                port = port.checked_add(1).ok_or(io::ErrorKind::AddrInUse)?;
            }
            net.next_listen_port.insert(ip, port.saturating_add(1));
            port
        }
        p => p,
    };
    let addr = SocketAddr::new(ip, port);
    if net.listeners.contains_key(&addr) {
        return Err(io::ErrorKind::AddrInUse.into());
    }
    let id = net.next_listener;
    net.next_listener += 1;
    let state = ListenerState {
        id,
        backlog: VecDeque::new(),
        waker: None,
    };
    net.listeners.insert(addr, state);
    drop(net);
    w.record(NetEvent::Bound(addr));
    Ok(Listener { addr, id })
}

/// The next connection queued on `listener`.
pub(crate) async fn accept(listener: &Listener) -> io::Result<(Reader, Writer, SocketAddr)> {
    poll_fn(|cx| {
        let w = world();
        let mut net = w.net.borrow_mut();
        let Some(l) = net
            .listeners
            .get_mut(&listener.addr)
            .filter(|l| l.id == listener.id)
        else {
            return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
        };
        match l.backlog.pop_front() {
            Some(conn) => {
                drop(net);
                w.record(NetEvent::Accepted {
                    at: listener.addr,
                    from: conn.2,
                });
                Poll::Ready(Ok(conn))
            }
            None => {
                l.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}

/// Opens a stream from the current node to `to` (see the module docs).
pub(crate) async fn connect(to: SocketAddr) -> io::Result<(Reader, Writer)> {
    let (from, latency, sent) = {
        let w = world();
        let from = w.current.get().expect(
            "netsim: connect outside a node's task (use Simulation::spawn_on / block_on_at / on)",
        );
        w.net.borrow_mut().stats.connects += 1;
        w.record(NetEvent::Connect { from, to });
        (from, w.latency(from, to.ip()), w.now())
    };
    Sleep::until(sent + latency).await;
    let (result, arrived) = {
        let w = world();
        (w.offer_connection(from, to, latency), w.now())
    };
    Sleep::until(arrived + latency).await;
    match result {
        Some(halves) => Ok(halves),
        None => {
            let w = world();
            w.net.borrow_mut().stats.refused += 1;
            w.record(NetEvent::Refused { from, to });
            Err(io::ErrorKind::ConnectionRefused.into())
        }
    }
}

struct Segment {
    /// When it becomes readable.
    at: Instant,
    data: Vec<u8>,
    /// Bytes already read.
    pos: usize,
}

/// One direction of a stream.
struct Flow {
    segments: VecDeque<Segment>,
    /// Bytes in flight or unread.
    buffered: usize,
    last_arrival: Instant,
    /// The writer shut down: EOF once everything before arrived and was read.
    fin_at: Option<Instant>,
    reader_gone: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// A timer is set for the reader at this time.
    armed: Option<Instant>,
}

impl Flow {
    fn new(now: Instant) -> Self {
        Flow {
            segments: VecDeque::new(),
            buffered: 0,
            last_arrival: now,
            fin_at: None,
            reader_gone: false,
            reader: None,
            writer: None,
            armed: None,
        }
    }

    /// Makes sure the reader is woken at `at`.
    fn arm(&mut self, w: &World, at: Instant) {
        let Some(waker) = self.reader.clone() else {
            return;
        };
        let now = w.now();
        if at <= now {
            waker.wake();
        } else if !matches!(self.armed, Some(a) if a > now && a <= at) {
            w.exec.borrow_mut().add_timer(at, waker);
            self.armed = Some(at);
        }
    }

    /// The writer's FIN, one latency from now (after the data before it).
    fn finish(&mut self, w: Option<&World>, latency: Duration) {
        if self.fin_at.is_some() {
            return;
        }
        let at = match w {
            Some(w) => (w.now() + latency).max(self.last_arrival),
            None => self.last_arrival,
        };
        self.fin_at = Some(at);
        if let Some(w) = w {
            self.arm(w, at);
        }
    }
}

/// Both directions of one connection: flow 0 goes from the dialer (side 0)
/// to the listener's end (side 1), flow 1 back.
struct Stream {
    flows: [Flow; 2],
    latency: Duration,
    /// The dialer's and the listener's socket addresses.
    addrs: [SocketAddr; 2],
}

fn lock(stream: &Mutex<Stream>) -> MutexGuard<'_, Stream> {
    stream.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The read half of a simulated stream.
pub struct Reader {
    stream: Arc<Mutex<Stream>>,
    side: usize,
}

/// The write half of a simulated stream.
pub struct Writer {
    stream: Arc<Mutex<Stream>>,
    side: usize,
}

impl Reader {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let w = world();
        let now = w.now();
        let chunked = w.config.max_chunk.is_some();
        let mut stream = lock(&self.stream);
        let flow = &mut stream.flows[1 - self.side];
        flow.reader = Some(cx.waker().clone());
        let mut n = 0;
        while let Some(seg) = flow.segments.front_mut() {
            if seg.at > now || n == buf.len() {
                break;
            }
            let k = (seg.data.len() - seg.pos).min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&seg.data[seg.pos..seg.pos + k]);
            seg.pos += k;
            n += k;
            if seg.pos == seg.data.len() {
                flow.segments.pop_front();
            }
            if chunked {
                break;
            }
        }
        if n > 0 {
            flow.buffered -= n;
            flow.armed = None;
            if let Some(writer) = flow.writer.take() {
                writer.wake();
            }
            return Poll::Ready(Ok(n));
        }
        match (flow.segments.front().map(|s| s.at), flow.fin_at) {
            (Some(at), _) => flow.arm(&w, at),
            (None, Some(fin)) if fin <= now => return Poll::Ready(Ok(0)),
            (None, Some(fin)) => flow.arm(&w, fin),
            (None, None) => {}
        }
        Poll::Pending
    }
}

impl Writer {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let w = world();
        let now = w.now();
        let capacity = w.config.buffer.max(1);
        let chunk = w
            .config
            .max_chunk
            .map(|max| 1 + (w.random() % max.max(1) as u64) as usize);
        let mut stream = lock(&self.stream);
        let latency = stream.latency;
        let flow = &mut stream.flows[self.side];
        if flow.reader_gone || flow.fin_at.is_some() {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        let free = capacity.saturating_sub(flow.buffered);
        if free == 0 {
            flow.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(free).min(chunk.unwrap_or(usize::MAX));
        let at = (now + latency).max(flow.last_arrival);
        flow.last_arrival = at;
        flow.buffered += n;
        flow.segments.push_back(Segment {
            at,
            data: buf[..n].to_vec(),
            pos: 0,
        });
        flow.arm(&w, at);
        drop(stream);
        w.net.borrow_mut().stats.bytes += n as u64;
        Poll::Ready(Ok(n))
    }

    /// FIN towards the other side (once).
    fn finish(&mut self) {
        let w = try_world();
        let mut stream = lock(&self.stream);
        let latency = stream.latency;
        let (local, remote) = (stream.addrs[self.side], stream.addrs[1 - self.side]);
        let flow = &mut stream.flows[self.side];
        if flow.fin_at.is_some() {
            return;
        }
        flow.finish(w.as_deref(), latency);
        drop(stream);
        if let Some(w) = w {
            w.record(NetEvent::Closed { local, remote });
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        let mut stream = lock(&self.stream);
        let flow = &mut stream.flows[1 - self.side];
        flow.reader_gone = true;
        flow.segments.clear();
        flow.buffered = 0;
        flow.reader = None;
        if let Some(writer) = flow.writer.take() {
            writer.wake();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.finish();
    }
}

impl embedded_io::ErrorType for Reader {
    type Error = io::Error;
}

impl embedded_io::ErrorType for Writer {
    type Error = io::Error;
}

impl embedded_io_async::Read for Reader {
    async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read(cx, buf)).await
    }
}

impl embedded_io_async::Write for Writer {
    async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_write(cx, buf)).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counted in [`NetStats`]; the simulated stream's buffers stay as they are.
impl mconn_driver::ReadHalf for Reader {
    fn set_receive_buffer(&mut self, bytes: u32) {
        let w = world();
        let mut net = w.net.borrow_mut();
        net.stats.receive_buffers += 1;
        net.stats.receive_buffer_bytes += u64::from(bytes);
    }
}

impl mconn_driver::HalfClose for Writer {
    async fn half_close(&mut self) {
        self.finish();
    }
}
