//! The reactors' inboxes: one bounded queue per reactor, fed by every
//! peer's routing loop, with the core's [`Routes`] deciding ownership and
//! what happens when a reactor falls behind.

use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;
use std::vec::Vec;

use mconn::switch::{
    Admit, ChannelDescriptor, DisconnectReason, InboxBudget, ReactorId, RouteError, Routes,
};

use super::{Runtime, SwitchPeer};

/// What a reactor's task takes from its inbox.
pub(crate) enum Delivery<RT: Runtime> {
    Added(SwitchPeer<RT>),
    Removed(SwitchPeer<RT>, DisconnectReason),
    Message {
        peer: SwitchPeer<RT>,
        channel: u8,
        msg: Vec<u8>,
    },
    Stop,
}

/// The outcome of offering a received message.
pub(crate) enum Offer {
    /// Queued for its reactor.
    Queued,
    /// The reactor's inbox is full and the channel back-pressures: the
    /// message comes back; offer it again after [`Inboxes::register_waiter`] wakes.
    Wait(Vec<u8>),
    /// The channel's policy disconnects the peer.
    Disconnect,
    /// Dropped by the channel's policy (counted in the routes' stats).
    Dropped,
    /// No reactor owns the channel.
    NoReactor,
}

struct Queue<RT: Runtime> {
    items: VecDeque<Delivery<RT>>,
    reader: Option<Waker>,
}

/// Every reactor's inbox, behind the switch's inbox lock.
pub(crate) struct Inboxes<RT: Runtime> {
    pub(crate) routes: Routes,
    queues: Vec<Queue<RT>>,
    /// Routing loops waiting for room.
    waiters: Vec<Waker>,
}

impl<RT: Runtime> Inboxes<RT> {
    pub(crate) fn new() -> Self {
        Inboxes {
            routes: Routes::new(),
            queues: Vec::new(),
            waiters: Vec::new(),
        }
    }

    pub(crate) fn add_reactor(
        &mut self,
        channels: &[ChannelDescriptor],
        budget: InboxBudget,
    ) -> Result<ReactorId, RouteError> {
        let id = self.routes.add_reactor(channels, budget)?;
        self.queues.push(Queue {
            items: VecDeque::new(),
            reader: None,
        });
        Ok(id)
    }

    pub(crate) fn reactors(&self) -> impl Iterator<Item = ReactorId> {
        (0..self.queues.len()).map(ReactorId)
    }

    /// Queues a delivery outside the budget (peer added/removed, stop):
    /// these are bounded by the number of peers and never lost.
    pub(crate) fn push_control(&mut self, reactor: ReactorId, delivery: Delivery<RT>) {
        if let Some(q) = self.queues.get_mut(reactor.0) {
            q.items.push_back(delivery);
            if let Some(w) = q.reader.take() {
                w.wake();
            }
        }
    }

    /// Offers a message received from `peer` on `channel`.
    pub(crate) fn offer(&mut self, peer: &SwitchPeer<RT>, channel: u8, msg: Vec<u8>) -> Offer {
        match self.routes.admit(channel, msg.len()) {
            Admit::Deliver(r) => {
                let delivery = Delivery::Message {
                    peer: peer.clone(),
                    channel,
                    msg,
                };
                self.push_control(r, delivery);
                Offer::Queued
            }
            Admit::Wait(_) => Offer::Wait(msg),
            Admit::Disconnect(_) => Offer::Disconnect,
            Admit::Drop(_) => Offer::Dropped,
            Admit::NoReactor => Offer::NoReactor,
        }
    }

    /// A routing loop waits for room in some inbox.
    pub(crate) fn register_waiter(&mut self, waker: &Waker) {
        if !self.waiters.iter().any(|w| w.will_wake(waker)) {
            self.waiters.push(waker.clone());
        }
    }

    /// The reactor finished with a message of `len` bytes: its budget has
    /// room again, so waiting routing loops try again.
    pub(crate) fn release(&mut self, reactor: ReactorId, len: usize) {
        self.routes.release(reactor, len);
        for w in self.waiters.drain(..) {
            w.wake();
        }
    }

    pub(crate) fn poll_next(
        &mut self,
        reactor: ReactorId,
        cx: &mut Context<'_>,
    ) -> Poll<Delivery<RT>> {
        let Some(q) = self.queues.get_mut(reactor.0) else {
            return Poll::Ready(Delivery::Stop);
        };
        match q.items.pop_front() {
            Some(d) => Poll::Ready(d),
            None => {
                q.reader = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
