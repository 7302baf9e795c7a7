//! The network's event trace: every connect, refusal, accept, close and
//! kill, with its simulated time. The first `trace_capacity` entries are
//! kept; a digest covers all of them, so two runs can be compared cheaply.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

use mconn::Instant;

/// Something that happened on the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NetEvent {
    /// `from` started a TCP connect to `to`.
    Connect {
        /// The dialing node.
        from: IpAddr,
        /// The address dialed.
        to: SocketAddr,
    },
    /// Nobody listens at `to` (or its backlog is full): `from`'s connect
    /// failed with `ConnectionRefused`.
    Refused {
        /// The dialing node.
        from: IpAddr,
        /// The address dialed.
        to: SocketAddr,
    },
    /// A connection from `from` to the listener at `to` was established.
    Established {
        /// The dialer's socket address.
        from: SocketAddr,
        /// The listener's address.
        to: SocketAddr,
    },
    /// The listener at `at` handed a connection from `from` to the switch.
    Accepted {
        /// The listener's address.
        at: SocketAddr,
        /// The dialer's socket address.
        from: SocketAddr,
    },
    /// The stream half of `local` towards `remote` was shut down or dropped
    /// (FIN: the other side reads EOF once the data before it arrived).
    Closed {
        /// The socket whose write side closed.
        local: SocketAddr,
        /// Its remote end.
        remote: SocketAddr,
    },
    /// A listener was bound.
    Bound(SocketAddr),
    /// The node at this address was killed (tasks, listeners, sockets dropped).
    Killed(IpAddr),
}

/// One trace entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceEntry {
    /// When.
    pub at: Instant,
    /// What.
    pub event: NetEvent,
}

/// The bounded trace and the digest of everything recorded.
#[derive(Debug)]
pub(crate) struct Trace {
    entries: Vec<TraceEntry>,
    capacity: usize,
    total: u64,
    digest: u64,
}

impl Trace {
    pub(crate) fn new(capacity: usize) -> Self {
        Trace {
            entries: Vec::new(),
            capacity,
            total: 0,
            digest: 0,
        }
    }

    pub(crate) fn record(&mut self, at: Instant, event: NetEvent) {
        let entry = TraceEntry { at, event };
        let mut h = DefaultHasher::new();
        (self.digest, entry).hash(&mut h);
        self.digest = h.finish();
        self.total += 1;
        if self.entries.len() < self.capacity {
            self.entries.push(entry);
        }
    }

    pub(crate) fn entries(&self) -> &[TraceEntry] {
        &self.entries
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    pub(crate) fn digest(&self) -> u64 {
        self.digest
    }
}
