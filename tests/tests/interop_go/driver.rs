//! A small blocking-free std driver for our sans-IO machines over one
//! `std::net::TcpStream`: the driving contract (feed input, handle
//! timeouts, drain transmit/messages/events) in a polling loop, with every
//! wait bounded.
//!
//! Three stacks plug in:
//! * [`Plain`]: the MConnection directly on the socket (no NodeInfo);
//! * [`Secret`]: SecretConnection, then the MConnection (no NodeInfo);
//! * [`Sess`]: the full [`Session`] (SecretConnection, NodeInfo, MConnection).

use mconn::conn::{self, ChannelConfig, Config, ConnStats, GrowBuf, MConnection};
use mconn::identity::NodeKey;
use mconn::secret::{SecretConnection, SEALED_FRAME_LEN};
use mconn::session::{self, Session};
use mconn::Instant;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

/// What a stack reports to the test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    Connected,
    Closed(String),
}

/// The calls the driver and the tests need, over any of the stacks.
pub trait Stack {
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> usize;
    fn handle_timeout(&mut self, now: Instant);
    fn poll_timeout(&self) -> Option<Instant>;
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize;
    fn poll_event(&mut self) -> Option<Ev>;
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), conn::Error>;
    fn poll_message(&mut self) -> Option<(u8, Vec<u8>)>;
    /// Whether anything we queued is still unsent.
    fn wants_transmit(&mut self) -> bool;
    fn close(&mut self);
    fn stats(&self) -> ConnStats;
}

/// Maps a connection event; `Writable` is not needed (senders retry).
fn conn_event(e: conn::Event) -> Option<Ev> {
    match e {
        conn::Event::Writable(_) => None,
        conn::Event::Closed(reason) => Some(Ev::Closed(format!("{reason:?}"))),
    }
}

fn poll_conn_event(conn: &mut MConnection<GrowBuf>) -> Option<Ev> {
    while let Some(e) = conn.poll_event() {
        if let Some(ev) = conn_event(e) {
            return Some(ev);
        }
    }
    None
}

/// The MConnection directly on the socket.
pub struct Plain {
    conn: MConnection<GrowBuf>,
    announced: bool,
}

impl Plain {
    pub fn new(config: &Config, channels: &[ChannelConfig]) -> Plain {
        let conn = MConnection::with_alloc(config, channels, Instant::ZERO).expect("config");
        Plain {
            conn,
            announced: false,
        }
    }
}

impl Stack for Plain {
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> usize {
        self.conn.handle_input(now, input).unwrap_or(input.len())
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        self.conn.poll_transmit(now, out)
    }
    fn poll_event(&mut self) -> Option<Ev> {
        if !self.announced {
            self.announced = true;
            return Some(Ev::Connected);
        }
        poll_conn_event(&mut self.conn)
    }
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), conn::Error> {
        self.conn.try_send(ch, msg)
    }
    fn poll_message(&mut self) -> Option<(u8, Vec<u8>)> {
        self.conn.poll_message().map(|(ch, m)| (ch, m.to_vec()))
    }
    fn wants_transmit(&mut self) -> bool {
        self.conn.wants_transmit()
    }
    fn close(&mut self) {
        self.conn.close()
    }
    fn stats(&self) -> ConnStats {
        self.conn.stats()
    }
}

/// SecretConnection, then the MConnection on its plaintext stream.
pub struct Secret {
    secret: SecretConnection,
    conn: MConnection<GrowBuf>,
    established: bool,
    announced: bool,
    failed: Option<String>,
    reported_failure: bool,
}

impl Secret {
    pub fn new(key: &NodeKey, config: &Config, channels: &[ChannelConfig]) -> Secret {
        Secret {
            secret: SecretConnection::with_rng(key, &mut rand_core::OsRng),
            conn: MConnection::with_alloc(config, channels, Instant::ZERO).expect("config"),
            established: false,
            announced: false,
            failed: None,
            reported_failure: false,
        }
    }

    /// The authenticated peer ID, once established.
    pub fn remote_id(&self) -> Option<String> {
        self.secret.remote_id().map(|id| id.to_string())
    }
}

impl Stack for Secret {
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> usize {
        if self.failed.is_some() {
            return input.len();
        }
        let mut used = 0;
        loop {
            let took = match self.secret.handle_input(&input[used..]) {
                Ok(n) => n,
                Err(e) => {
                    self.failed = Some(format!("Secret({e:?})"));
                    self.conn.abort();
                    return input.len();
                }
            };
            used += took;
            if !self.established && self.secret.is_established() {
                self.established = true;
                self.conn.restart_timers(now);
            }
            let plaintext = self.secret.plaintext();
            let offered = plaintext.len();
            let fed = if offered > 0 {
                self.conn.handle_input(now, plaintext).unwrap_or(offered)
            } else {
                0
            };
            self.secret.consume_plaintext(fed);
            if fed < offered || (took == 0 && fed == 0) {
                return used;
            }
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        if self.established {
            self.conn.handle_timeout(now)
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.established.then(|| self.conn.poll_timeout()).flatten()
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        let mut n = self.secret.poll_transmit(out);
        if !self.established || self.failed.is_some() {
            return n;
        }
        // `out` is a multiple of the sealed frame size in this driver.
        while out.len() - n >= SEALED_FRAME_LEN {
            let conn = &mut self.conn;
            match self
                .secret
                .seal_frame(&mut out[n..n + SEALED_FRAME_LEN], |pt| {
                    conn.poll_transmit(now, pt)
                }) {
                Ok(0) => break,
                Ok(w) => n += w,
                Err(e) => {
                    self.failed = Some(format!("Secret({e:?})"));
                    break;
                }
            }
        }
        n
    }
    fn poll_event(&mut self) -> Option<Ev> {
        if let Some(reason) = self.failed.as_ref().filter(|_| !self.reported_failure) {
            self.reported_failure = true;
            return Some(Ev::Closed(reason.clone()));
        }
        if self.established && !self.announced {
            self.announced = true;
            return Some(Ev::Connected);
        }
        poll_conn_event(&mut self.conn)
    }
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), conn::Error> {
        if !self.established {
            return Err(conn::Error::NotConnected);
        }
        self.conn.try_send(ch, msg)
    }
    fn poll_message(&mut self) -> Option<(u8, Vec<u8>)> {
        self.conn.poll_message().map(|(ch, m)| (ch, m.to_vec()))
    }
    fn wants_transmit(&mut self) -> bool {
        self.conn.wants_transmit()
    }
    fn close(&mut self) {
        self.conn.close()
    }
    fn stats(&self) -> ConnStats {
        self.conn.stats()
    }
}

/// The full session.
pub struct Sess {
    pub session: Session<GrowBuf>,
}

impl Stack for Sess {
    fn handle_input(&mut self, now: Instant, input: &[u8]) -> usize {
        self.session.handle_input(now, input).unwrap_or(input.len())
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }
    fn poll_transmit(&mut self, now: Instant, out: &mut [u8]) -> usize {
        self.session.poll_transmit(now, out)
    }
    fn poll_event(&mut self) -> Option<Ev> {
        loop {
            return match self.session.poll_event()? {
                session::Event::Connected => Some(Ev::Connected),
                session::Event::Writable(_) => continue,
                session::Event::Closed(reason) => Some(Ev::Closed(format!("{reason:?}: {reason}"))),
            };
        }
    }
    fn try_send(&mut self, ch: u8, msg: &[u8]) -> Result<(), conn::Error> {
        self.session.try_send(ch, msg)
    }
    fn poll_message(&mut self) -> Option<(u8, Vec<u8>)> {
        self.session.poll_message().map(|(ch, m)| (ch, m.to_vec()))
    }
    fn wants_transmit(&mut self) -> bool {
        self.session.is_connected() && self.session.conn().wants_transmit()
    }
    fn close(&mut self) {
        self.session.close()
    }
    fn stats(&self) -> ConnStats {
        self.session.stats()
    }
}

/// Drives one stack over one socket.
pub struct Driver<S: Stack> {
    pub stack: S,
    stream: TcpStream,
    epoch: std::time::Instant,
    rx: Vec<u8>,
    tx: Vec<u8>,
    buf: Vec<u8>,
    /// The peer closed its side (EOF) or the socket failed.
    pub peer_closed: Option<String>,
    /// Stop touching the socket and the machine (a hung peer).
    pub muted: bool,
    /// Every byte we wrote, when enabled.
    pub tap: Option<Vec<u8>>,
    /// Events seen so far.
    pub events: Vec<Ev>,
}

/// Output buffer: whole sealed frames (the [`Secret`] stack relies on it).
const OUT: usize = 64 * SEALED_FRAME_LEN;

impl<S: Stack> Driver<S> {
    pub fn new(stream: TcpStream, stack: S) -> Driver<S> {
        stream.set_nonblocking(true).unwrap();
        stream.set_nodelay(true).unwrap();
        Driver {
            stack,
            stream,
            epoch: std::time::Instant::now(),
            rx: Vec::new(),
            tx: Vec::new(),
            buf: vec![0; OUT],
            peer_closed: None,
            muted: false,
            tap: None,
            events: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    pub fn closed_reason(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            Ev::Closed(r) => Some(r.as_str()),
            Ev::Connected => None,
        })
    }

    pub fn is_connected(&self) -> bool {
        self.events.contains(&Ev::Connected) && self.closed_reason().is_none()
    }

    /// Whether our side has nothing left to write.
    pub fn flushed(&mut self) -> bool {
        self.tx.is_empty() && !self.stack.wants_transmit()
    }

    /// One round of the contract; returns whether anything moved.
    pub fn step(&mut self) -> bool {
        if self.muted {
            return false;
        }
        let mut moved = false;
        let now = self.now();
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
        }
        // Input: offer what is buffered (even nothing: lets a staged
        // packet go on after messages were taken), then read more.
        if self.rx.len() < (1 << 20) && self.peer_closed.is_none() {
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.peer_closed = Some("EOF".into()),
                Ok(n) => {
                    self.rx.extend_from_slice(&chunk[..n]);
                    moved = true;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => self.peer_closed = Some(e.to_string()),
            }
        }
        let used = self.stack.handle_input(now, &self.rx);
        if used > 0 {
            self.rx.drain(..used);
            moved = true;
        }
        // Output.
        while self.tx.len() < (1 << 18) {
            let n = self.stack.poll_transmit(now, &mut self.buf);
            if n == 0 {
                break;
            }
            self.tx.extend_from_slice(&self.buf[..n]);
            if let Some(tap) = self.tap.as_mut() {
                tap.extend_from_slice(&self.buf[..n]);
            }
        }
        if !self.tx.is_empty() {
            match self.stream.write(&self.tx) {
                Ok(n) => {
                    self.tx.drain(..n);
                    moved |= n > 0;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.tx.clear();
                    self.peer_closed.get_or_insert(e.to_string());
                }
            }
        }
        while let Some(ev) = self.stack.poll_event() {
            self.events.push(ev);
            moved = true;
        }
        moved
    }

    /// Runs until `done` says so; `Err` after `limit`. `done` is called
    /// after every step and may send, take messages, or close.
    pub fn run(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&mut Self) -> bool,
    ) -> Result<(), String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let moved = self.step();
            if done(self) {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "timed out after {limit:?} (events {:?}, peer closed: {:?}, unwritten {} B, unconsumed {} B, stats {:?})",
                    self.events,
                    self.peer_closed,
                    self.tx.len(),
                    self.rx.len(),
                    self.stack.stats()
                ));
            }
            if !moved {
                thread::sleep(Duration::from_micros(300));
            }
        }
    }

    /// Writes out what is still buffered (bounded), then closes our side.
    pub fn finish(mut self) {
        self.stream.set_nonblocking(false).ok();
        self.stream
            .set_write_timeout(Some(Duration::from_secs(5)))
            .ok();
        if self.peer_closed.is_none() {
            let _ = self.stream.write_all(&self.tx);
        }
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}
