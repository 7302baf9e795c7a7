//! `switch_policy` with the mode byte's top bit set: [`Routes`] driven by
//! registrations, arriving messages and releases, against a counting model.
//!
//! Input after the mode byte: `op…` (see [`Harness::op`]). Checks, after
//! every call:
//!
//! * `add_reactor` is refused exactly when the model sees a reason (a
//!   channel listed twice, a channel owned by another reactor, too many
//!   channels or reactors), with one of those reasons, and then registers
//!   nothing; otherwise it gets the next reactor number;
//! * ownership, the channel list and the descriptors equal the model's;
//! * every `admit` verdict is the model's (deliver when the inbox is empty
//!   or the message fits both budgets, else the channel's policy), and the
//!   inbox counters equal the model's;
//! * while every release is of a message that was delivered, an inbox
//!   holds at most its message budget (at least one) and at most its byte
//!   budget unless it holds a single message.

use std::collections::VecDeque;

use mconn::conn::MAX_CHANNELS;
use mconn::switch::{
    Admit, ChannelDescriptor, InboxBudget, InboxStats, OverflowPolicy, ReactorId, RouteError,
    Routes,
};

use super::super::Input;

/// Channel IDs come from `0..CHANNEL_POOL`, so registrations collide.
const CHANNEL_POOL: u8 = 24;
const MAX_OPS: usize = 4096;

fn policy(b: u8) -> OverflowPolicy {
    match b % 3 {
        0 => OverflowPolicy::BackPressure,
        1 => OverflowPolicy::Disconnect,
        _ => OverflowPolicy::Drop,
    }
}

/// One reactor inbox as the model keeps it.
struct Inbox {
    budget: InboxBudget,
    stats: InboxStats,
    /// Lengths of the messages delivered and not released, oldest first.
    held: VecDeque<usize>,
}

struct Harness {
    routes: Routes,
    channels: Vec<(ChannelDescriptor, ReactorId)>,
    inboxes: Vec<Inbox>,
    /// Every release so far was of a delivered message.
    honest: bool,
}

impl Harness {
    fn owner(&self, channel: u8) -> Option<ReactorId> {
        self.channels
            .iter()
            .find(|(d, _)| d.id() == channel)
            .map(|(_, r)| *r)
    }

    fn op(&mut self, input: &mut Input<'_>) {
        match input.u8() % 5 {
            0 => {
                let n = usize::from(input.u8() % 20);
                let descriptors: Vec<ChannelDescriptor> = (0..n)
                    .map(|_| {
                        let b = input.u8();
                        ChannelDescriptor::new(b % CHANNEL_POOL, u32::from(b >> 5))
                            .overflow(policy(b >> 5))
                    })
                    .collect();
                let budget = InboxBudget {
                    messages: usize::from(input.u8() % 5),
                    bytes: usize::from(input.u16() % 600),
                };
                self.add_reactor(&descriptors, budget);
            }
            1 | 2 => {
                let channel = input.u8() % (CHANNEL_POOL + 2);
                let len = match input.u16() {
                    0xffff => usize::MAX,
                    n => usize::from(n % 700),
                };
                self.admit(channel, len);
            }
            3 => self.release_delivered(input.u8(), input.u8()),
            _ => {
                let reactor = ReactorId(usize::from(input.u8() % 20));
                let len = usize::from(input.u16());
                self.honest = false;
                self.routes.release(reactor, len);
                if let Some(inbox) = self.inboxes.get_mut(reactor.0) {
                    let s = &mut inbox.stats;
                    s.queued_messages = s.queued_messages.saturating_sub(1);
                    s.queued_bytes = s.queued_bytes.saturating_sub(len);
                }
            }
        }
        self.check();
    }

    fn add_reactor(&mut self, descriptors: &[ChannelDescriptor], budget: InboxBudget) {
        let mut reasons = Vec::new();
        for (i, d) in descriptors.iter().enumerate() {
            if descriptors[..i].iter().any(|e| e.id() == d.id()) {
                reasons.push(RouteError::DuplicateInDescriptor(d.id()));
            }
            if let Some(by) = self.owner(d.id()) {
                reasons.push(RouteError::ChannelTaken {
                    channel: d.id(),
                    by,
                });
            }
        }
        if self.channels.len() + descriptors.len() > MAX_CHANNELS {
            reasons.push(RouteError::TooManyChannels);
        }
        if self.inboxes.len() >= MAX_CHANNELS {
            reasons.push(RouteError::TooManyReactors);
        }
        match self.routes.add_reactor(descriptors, budget) {
            Err(e) => assert!(reasons.contains(&e), "refused {e:?}; model: {reasons:?}"),
            Ok(r) => {
                assert!(reasons.is_empty(), "registered despite {reasons:?}");
                assert_eq!(r, ReactorId(self.inboxes.len()), "reactor numbering");
                self.channels.extend(descriptors.iter().map(|d| (*d, r)));
                self.inboxes.push(Inbox {
                    budget,
                    stats: InboxStats::default(),
                    held: VecDeque::new(),
                });
            }
        }
    }

    fn admit(&mut self, channel: u8, len: usize) {
        let verdict = self.routes.admit(channel, len);
        let Some((descriptor, reactor)) = self
            .channels
            .iter()
            .find(|(d, _)| d.id() == channel)
            .copied()
        else {
            assert_eq!(verdict, Admit::NoReactor, "channel {channel} has no owner");
            return;
        };
        let inbox = &mut self.inboxes[reactor.0];
        let s = &mut inbox.stats;
        let fits = s.queued_messages == 0
            || (s.queued_messages < inbox.budget.messages
                && s.queued_bytes.saturating_add(len) <= inbox.budget.bytes);
        let expected = if fits {
            s.queued_messages += 1;
            s.queued_bytes = s.queued_bytes.saturating_add(len);
            s.delivered += 1;
            inbox.held.push_back(len);
            Admit::Deliver(reactor)
        } else {
            match descriptor.overflow {
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
        };
        assert_eq!(verdict, expected, "admit({channel}, {len})");
    }

    /// Releases a message that was delivered (if the picked reactor holds one).
    fn release_delivered(&mut self, pick: u8, which: u8) {
        let held: Vec<usize> = (0..self.inboxes.len())
            .filter(|&i| !self.inboxes[i].held.is_empty())
            .collect();
        let Some(&i) = held.get(usize::from(pick) % held.len().max(1)) else {
            return;
        };
        let inbox = &mut self.inboxes[i];
        let at = usize::from(which) % inbox.held.len();
        let Some(len) = inbox.held.remove(at) else {
            return;
        };
        self.routes.release(ReactorId(i), len);
        let s = &mut inbox.stats;
        s.queued_messages = s.queued_messages.saturating_sub(1);
        s.queued_bytes = s.queued_bytes.saturating_sub(len);
    }

    fn check(&self) {
        let r = &self.routes;
        assert_eq!(r.num_reactors(), self.inboxes.len());
        let descriptors: Vec<(ChannelDescriptor, ReactorId)> = r.descriptors().collect();
        assert_eq!(descriptors, self.channels, "descriptors");
        let configs: Vec<_> = r.channels().collect();
        let expected: Vec<_> = self.channels.iter().map(|(d, _)| d.config).collect();
        assert_eq!(configs, expected, "channel settings");
        for channel in 0..CHANNEL_POOL + 2 {
            assert_eq!(r.owner(channel), self.owner(channel), "owner of {channel}");
        }
        for (i, inbox) in self.inboxes.iter().enumerate() {
            let s = r.stats(ReactorId(i));
            assert_eq!(s, inbox.stats, "reactor {i} counters");
            if self.honest {
                assert_eq!(s.queued_messages, inbox.held.len());
                let held = inbox
                    .held
                    .iter()
                    .fold(0usize, |sum, len| sum.saturating_add(*len));
                assert_eq!(s.queued_bytes, held);
                assert!(s.queued_messages <= inbox.budget.messages.max(1));
                assert!(s.queued_bytes <= inbox.budget.bytes || s.queued_messages <= 1);
            }
        }
        assert_eq!(
            r.stats(ReactorId(self.inboxes.len())),
            InboxStats::default()
        );
    }
}

/// The `Routes` half of `switch_policy` (see the module docs).
pub(super) fn routes(mut input: Input<'_>) {
    let mut h = Harness {
        routes: Routes::new(),
        channels: Vec::new(),
        inboxes: Vec::new(),
        honest: true,
    };
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        h.op(&mut input);
    }
}
