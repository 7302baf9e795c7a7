//! [`Routes`]: which reactor owns each channel, and each reactor's inbox
//! budget, shared by every peer of a node.
//!
//! A reactor declares its channels ([`ChannelDescriptor`]) and gets an
//! inbox bounded by messages and bytes ([`InboxBudget`]). When a message
//! arrives the runtime asks [`Routes::admit`]; when the reactor takes it,
//! [`Routes::release`]. What happens when the inbox is full is decided per
//! channel ([`OverflowPolicy`]).
//!
//! ```
//! use mconn::switch::{Admit, ChannelDescriptor, InboxBudget, OverflowPolicy, Routes};
//! let mut routes = Routes::new();
//! let budget = InboxBudget { messages: 1, bytes: 1 << 20 };
//! let consensus = routes.add_reactor(&[ChannelDescriptor::new(0x20, 6)], budget).unwrap();
//! let pex = routes
//!     .add_reactor(&[ChannelDescriptor::new(0x00, 1).overflow(OverflowPolicy::Drop)], budget)
//!     .unwrap();
//! assert_eq!(routes.admit(0x20, 100), Admit::Deliver(consensus));
//! assert_eq!(routes.admit(0x20, 100), Admit::Wait(consensus)); // stop reading this peer
//! routes.release(consensus, 100);
//! assert_eq!(routes.admit(0x20, 100), Admit::Deliver(consensus));
//! assert_eq!(routes.admit(0x00, 10), Admit::Deliver(pex));
//! assert_eq!(routes.admit(0x00, 10), Admit::Drop(pex));
//! assert_eq!(routes.admit(0x99, 10), Admit::NoReactor);
//! ```

use core::fmt;

use crate::conn::{ChannelConfig, MAX_CHANNELS};

/// What to do with a message whose reactor inbox is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OverflowPolicy {
    /// Stop reading this peer until the inbox has room (TCP back-pressure:
    /// all of that peer's channels wait, keepalive continues). The default.
    #[default]
    BackPressure,
    /// Disconnect the peer ([`Misbehaviour::ReactorOverflow`](super::Misbehaviour::ReactorOverflow)).
    Disconnect,
    /// Drop the message and count it.
    Drop,
}

/// A channel a reactor owns: its connection settings and overflow policy.
///
/// ```
/// use mconn::switch::{ChannelDescriptor, OverflowPolicy};
/// let votes = ChannelDescriptor::new(0x22, 7)
///     .send_queue(100)
///     .recv_message_capacity(1 << 20)
///     .overflow(OverflowPolicy::Disconnect);
/// assert_eq!((votes.id(), votes.config.priority), (0x22, 7));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelDescriptor {
    /// The MConnection settings of the channel.
    pub config: ChannelConfig,
    /// What to do when the owner's inbox is full.
    pub overflow: OverflowPolicy,
}

impl ChannelDescriptor {
    /// Channel `id` with `priority` and [`ChannelConfig::new`]'s defaults,
    /// back-pressure on overflow.
    pub const fn new(id: u8, priority: u32) -> Self {
        Self::from_config(ChannelConfig::new(id, priority))
    }

    /// A channel with these settings, back-pressure on overflow.
    pub const fn from_config(config: ChannelConfig) -> Self {
        ChannelDescriptor {
            config,
            overflow: OverflowPolicy::BackPressure,
        }
    }

    /// The channel byte ID.
    pub const fn id(&self) -> u8 {
        self.config.id
    }

    /// Sets the overflow policy.
    pub const fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.overflow = policy;
        self
    }

    /// See [`ChannelConfig::send_queue`].
    pub const fn send_queue(mut self, messages: usize) -> Self {
        self.config = self.config.send_queue(messages);
        self
    }

    /// See [`ChannelConfig::recv_message_capacity`].
    pub const fn recv_message_capacity(mut self, bytes: usize) -> Self {
        self.config = self.config.recv_message_capacity(bytes);
        self
    }

    /// See [`ChannelConfig::send_buffer`].
    pub const fn send_buffer(mut self, bytes: usize) -> Self {
        self.config = self.config.send_buffer(bytes);
        self
    }

    /// See [`ChannelConfig::recv_buffer`].
    pub const fn recv_buffer(mut self, bytes: usize) -> Self {
        self.config = self.config.recv_buffer(bytes);
        self
    }
}

/// A reactor's inbox bound, over all its channels and all peers.
///
/// An empty inbox always takes one message, even one larger than `bytes`
/// (so back-pressure can never wait forever).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InboxBudget {
    /// Messages queued for the reactor (1024).
    pub messages: usize,
    /// Bytes queued for the reactor (16 MiB).
    pub bytes: usize,
}

impl Default for InboxBudget {
    fn default() -> Self {
        InboxBudget {
            messages: 1024,
            bytes: 16 << 20,
        }
    }
}

/// A registered reactor, numbered from 0 in registration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReactorId(pub usize);

impl fmt::Display for ReactorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "reactor {}", self.0)
    }
}

/// Why [`Routes::add_reactor`] refused a reactor (nothing was registered).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RouteError {
    /// Another reactor owns `channel`.
    ChannelTaken {
        /// The channel.
        channel: u8,
        /// Its owner.
        by: ReactorId,
    },
    /// More than [`MAX_CHANNELS`] channels in all.
    TooManyChannels,
    /// More than [`MAX_CHANNELS`] reactors.
    TooManyReactors,
    /// The descriptor list names this channel twice.
    DuplicateInDescriptor(u8),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::ChannelTaken { channel, by } => {
                write!(f, "channel {channel:#04x} is owned by {by}")
            }
            RouteError::TooManyChannels => write!(f, "more than {MAX_CHANNELS} channels"),
            RouteError::TooManyReactors => write!(f, "more than {MAX_CHANNELS} reactors"),
            RouteError::DuplicateInDescriptor(c) => write!(f, "channel {c:#04x} listed twice"),
        }
    }
}

impl core::error::Error for RouteError {}

/// The verdict on one arriving message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Admit {
    /// Hand it to this reactor; its budget is charged (call `release` when taken).
    Deliver(ReactorId),
    /// [`OverflowPolicy::BackPressure`]: keep it and stop reading this peer;
    /// retry after a `release`.
    Wait(ReactorId),
    /// [`OverflowPolicy::Disconnect`]: disconnect the peer.
    Disconnect(ReactorId),
    /// [`OverflowPolicy::Drop`]: drop it (counted).
    Drop(ReactorId),
    /// No reactor owns the channel (cannot happen if the session's channels
    /// come from [`Routes::channels`]).
    NoReactor,
}

/// One reactor inbox's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct InboxStats {
    /// Messages delivered and not yet released.
    pub queued_messages: usize,
    /// Bytes delivered and not yet released.
    pub queued_bytes: usize,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages dropped (policy `Drop`).
    pub dropped: u64,
    /// Peers disconnected (policy `Disconnect`).
    pub overflow_disconnects: u64,
    /// Times a message had to wait (policy `BackPressure`).
    pub waits: u64,
}

#[derive(Clone, Copy, Debug)]
struct Route {
    descriptor: ChannelDescriptor,
    reactor: ReactorId,
}

#[derive(Clone, Copy, Debug)]
struct Inbox {
    budget: InboxBudget,
    stats: InboxStats,
}

/// Channel ownership and the reactors' inbox budgets (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Routes {
    routes: heapless::Vec<Route, MAX_CHANNELS>,
    inboxes: heapless::Vec<Inbox, MAX_CHANNELS>,
}

impl Routes {
    /// No reactors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a reactor owning `channels` with an inbox of `budget`.
    /// All-or-nothing: on error nothing is registered.
    pub fn add_reactor(
        &mut self,
        channels: &[ChannelDescriptor],
        budget: InboxBudget,
    ) -> Result<ReactorId, RouteError> {
        for (i, c) in channels.iter().enumerate() {
            if channels[..i].iter().any(|d| d.id() == c.id()) {
                return Err(RouteError::DuplicateInDescriptor(c.id()));
            }
            if let Some(by) = self.owner(c.id()) {
                return Err(RouteError::ChannelTaken {
                    channel: c.id(),
                    by,
                });
            }
        }
        if self.routes.len() + channels.len() > MAX_CHANNELS {
            return Err(RouteError::TooManyChannels);
        }
        let reactor = ReactorId(self.inboxes.len());
        let inbox = Inbox {
            budget,
            stats: InboxStats::default(),
        };
        self.inboxes
            .push(inbox)
            .map_err(|_| RouteError::TooManyReactors)?;
        for &descriptor in channels {
            // Cannot fail: the room was checked above.
            let _ = self.routes.push(Route {
                descriptor,
                reactor,
            });
        }
        Ok(reactor)
    }

    /// Every registered channel's settings, in registration order: what a
    /// session is built with.
    pub fn channels(&self) -> impl Iterator<Item = ChannelConfig> + '_ {
        self.routes.iter().map(|r| r.descriptor.config)
    }

    /// Every registered channel with its owner, in registration order.
    pub fn descriptors(&self) -> impl Iterator<Item = (ChannelDescriptor, ReactorId)> + '_ {
        self.routes.iter().map(|r| (r.descriptor, r.reactor))
    }

    /// The reactor that owns `channel`.
    pub fn owner(&self, channel: u8) -> Option<ReactorId> {
        self.route(channel).map(|r| r.reactor)
    }

    /// Reactors registered.
    pub fn num_reactors(&self) -> usize {
        self.inboxes.len()
    }

    /// A message of `len` bytes arrived on `channel`: deliver it (charging
    /// the owner's budget) or apply the channel's overflow policy.
    pub fn admit(&mut self, channel: u8, len: usize) -> Admit {
        let Some(route) = self.route(channel).copied() else {
            return Admit::NoReactor;
        };
        let reactor = route.reactor;
        let Some(inbox) = self.inboxes.get_mut(reactor.0) else {
            return Admit::NoReactor;
        };
        let s = &mut inbox.stats;
        let fits = s.queued_messages == 0
            || (s.queued_messages < inbox.budget.messages
                && s.queued_bytes.saturating_add(len) <= inbox.budget.bytes);
        if fits {
            s.queued_messages += 1;
            s.queued_bytes = s.queued_bytes.saturating_add(len);
            s.delivered += 1;
            return Admit::Deliver(reactor);
        }
        match route.descriptor.overflow {
            OverflowPolicy::BackPressure => {
                s.waits += 1;
                Admit::Wait(reactor)
            }
            OverflowPolicy::Disconnect => {
                s.overflow_disconnects += 1;
                Admit::Disconnect(reactor)
            }
            OverflowPolicy::Drop => {
                s.dropped += 1;
                Admit::Drop(reactor)
            }
        }
    }

    /// `reactor` took one delivered message of `len` bytes from its inbox.
    pub fn release(&mut self, reactor: ReactorId, len: usize) {
        if let Some(inbox) = self.inboxes.get_mut(reactor.0) {
            let s = &mut inbox.stats;
            s.queued_messages = s.queued_messages.saturating_sub(1);
            s.queued_bytes = s.queued_bytes.saturating_sub(len);
        }
    }

    /// The counters of `reactor`'s inbox (zero for an unknown reactor).
    pub fn stats(&self, reactor: ReactorId) -> InboxStats {
        self.inboxes
            .get(reactor.0)
            .map(|i| i.stats)
            .unwrap_or_default()
    }

    fn route(&self, channel: u8) -> Option<&Route> {
        self.routes.iter().find(|r| r.descriptor.id() == channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(messages: usize, bytes: usize) -> InboxBudget {
        InboxBudget { messages, bytes }
    }

    #[test]
    fn a_channel_has_one_owner() {
        let mut routes = Routes::new();
        let a = routes
            .add_reactor(
                &[
                    ChannelDescriptor::new(0x20, 1),
                    ChannelDescriptor::new(0x21, 1),
                ],
                budget(4, 100),
            )
            .unwrap();
        let taken = routes.add_reactor(
            &[
                ChannelDescriptor::new(0x30, 1),
                ChannelDescriptor::new(0x21, 1),
            ],
            budget(4, 100),
        );
        assert_eq!(
            taken,
            Err(RouteError::ChannelTaken {
                channel: 0x21,
                by: a
            })
        );
        assert_eq!(
            routes.owner(0x30),
            None,
            "a refused reactor registers nothing"
        );
        let dup = [
            ChannelDescriptor::new(0x40, 1),
            ChannelDescriptor::new(0x40, 2),
        ];
        assert_eq!(
            routes.add_reactor(&dup, budget(4, 100)),
            Err(RouteError::DuplicateInDescriptor(0x40))
        );
        let b = routes
            .add_reactor(&[ChannelDescriptor::new(0x30, 1)], budget(4, 100))
            .unwrap();
        assert_eq!((a, b), (ReactorId(0), ReactorId(1)));
        assert_eq!(routes.owner(0x21), Some(a));
        assert_eq!(routes.owner(0x30), Some(b));
        let ids: heapless::Vec<u8, 4> = routes.channels().map(|c| c.id).collect();
        assert_eq!(ids.as_slice(), &[0x20, 0x21, 0x30]);
    }

    #[test]
    fn channel_and_reactor_counts_are_bounded() {
        let mut routes = Routes::new();
        let many: heapless::Vec<ChannelDescriptor, 17> =
            (0..17u8).map(|id| ChannelDescriptor::new(id, 1)).collect();
        assert_eq!(
            routes.add_reactor(&many, budget(1, 1)),
            Err(RouteError::TooManyChannels)
        );
        assert_eq!(
            routes.add_reactor(&many[..16], budget(1, 1)),
            Ok(ReactorId(0))
        );
        assert_eq!(
            routes.add_reactor(&[ChannelDescriptor::new(99, 1)], budget(1, 1)),
            Err(RouteError::TooManyChannels)
        );
        for i in 1..MAX_CHANNELS {
            assert_eq!(routes.add_reactor(&[], budget(1, 1)), Ok(ReactorId(i)));
        }
        assert_eq!(
            routes.add_reactor(&[], budget(1, 1)),
            Err(RouteError::TooManyReactors)
        );
    }

    /// Three reactors, one per policy, each with room for 2 messages / 100 bytes.
    fn three_policies() -> (Routes, [ReactorId; 3]) {
        let mut routes = Routes::new();
        let mut ids = [ReactorId(0); 3];
        let policies = [
            OverflowPolicy::BackPressure,
            OverflowPolicy::Disconnect,
            OverflowPolicy::Drop,
        ];
        for (i, policy) in policies.into_iter().enumerate() {
            let ch = ChannelDescriptor::new(i as u8, 1).overflow(policy);
            ids[i] = routes.add_reactor(&[ch], budget(2, 100)).unwrap();
        }
        (routes, ids)
    }

    #[test]
    fn full_by_messages_applies_each_policy_and_release_restores_room() {
        let (mut routes, [wait, disc, drop]) = three_policies();
        for (ch, r, over) in [
            (0, wait, Admit::Wait(wait)),
            (1, disc, Admit::Disconnect(disc)),
            (2, drop, Admit::Drop(drop)),
        ] {
            assert_eq!(routes.admit(ch, 10), Admit::Deliver(r));
            assert_eq!(routes.admit(ch, 10), Admit::Deliver(r));
            assert_eq!(routes.admit(ch, 10), over, "third message on channel {ch}");
            routes.release(r, 10);
            assert_eq!(
                routes.admit(ch, 10),
                Admit::Deliver(r),
                "room after release"
            );
            let s = routes.stats(r);
            assert_eq!((s.queued_messages, s.queued_bytes, s.delivered), (2, 20, 3));
        }
        assert_eq!(routes.stats(wait).waits, 1);
        assert_eq!(routes.stats(disc).overflow_disconnects, 1);
        assert_eq!(routes.stats(drop).dropped, 1);
        assert_eq!(routes.stats(wait).dropped + routes.stats(drop).waits, 0);
    }

    #[test]
    fn full_by_bytes_applies_each_policy_and_release_restores_room() {
        let (mut routes, [wait, disc, drop]) = three_policies();
        for (ch, r, over) in [
            (0, wait, Admit::Wait(wait)),
            (1, disc, Admit::Disconnect(disc)),
            (2, drop, Admit::Drop(drop)),
        ] {
            assert_eq!(routes.admit(ch, 60), Admit::Deliver(r));
            assert_eq!(
                routes.admit(ch, 41),
                over,
                "61..=101 bytes do not fit in 100"
            );
            assert_eq!(routes.admit(ch, 40), Admit::Deliver(r), "exactly 100 fits");
            assert_eq!(routes.admit(ch, 1), over);
            routes.release(r, 60);
            assert_eq!(routes.admit(ch, 60), Admit::Deliver(r));
            assert_eq!(routes.stats(r).queued_bytes, 100);
        }
    }

    #[test]
    fn an_empty_inbox_takes_an_oversized_message_and_budgets_are_per_reactor() {
        let (mut routes, [wait, disc, _]) = three_policies();
        assert_eq!(routes.admit(0, 1_000), Admit::Deliver(wait));
        assert_eq!(routes.admit(0, 1), Admit::Wait(wait));
        assert_eq!(
            routes.admit(1, 1),
            Admit::Deliver(disc),
            "other reactors unaffected"
        );
        routes.release(wait, 1_000);
        assert_eq!(routes.stats(wait).queued_messages, 0);
        assert_eq!(routes.admit(0, 1), Admit::Deliver(wait));
        routes.release(ReactorId(42), 5); // unknown: ignored
        assert_eq!(routes.stats(ReactorId(42)), InboxStats::default());
    }
}
