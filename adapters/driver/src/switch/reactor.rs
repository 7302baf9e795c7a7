//! Reactors: application code that owns channels. Each reactor runs on its
//! own task and takes deliveries from its own bounded inbox, so a slow
//! reactor costs only its own budget.

use core::future::Future;
use std::vec::Vec;

use mconn::switch::{ChannelDescriptor, DisconnectReason, InboxBudget};
use mconn::Instant;

use super::{Runtime, Switch, SwitchPeer};

/// A component that owns one or more channels: the seed documents'
/// `Reactor` (`GetChannels`, `AddPeer`, `RemovePeer`, `Receive`) in async Rust.
///
/// The switch calls a reactor's methods from the reactor's own task, one at
/// a time and in order: `add_peer` of a peer comes before any `receive`
/// from it, and `remove_peer` after the last. Messages are owned; nothing
/// runs under a peer's lock. While a method runs, messages for this reactor
/// wait in its inbox (bounded by [`inbox_budget`](Self::inbox_budget));
/// when the inbox is full, each channel's
/// [`OverflowPolicy`](mconn::switch::OverflowPolicy) decides.
///
/// ```no_run
/// use mconn::switch::ChannelDescriptor;
/// use mconn_driver::switch::{Reactor, Runtime, SwitchPeer};
///
/// const MY_CHANNEL: u8 = 0x60;
/// struct MyReactor;
///
/// impl<RT: Runtime> Reactor<RT> for MyReactor {
///     fn channels(&self) -> Vec<ChannelDescriptor> {
///         vec![ChannelDescriptor::new(MY_CHANNEL, 1)]
///     }
///     async fn receive(&mut self, _ch: u8, peer: &SwitchPeer<RT>, msg: Vec<u8>) {
///         println!("{}: {}", peer.id(), String::from_utf8_lossy(&msg));
///     }
/// }
/// ```
pub trait Reactor<RT: Runtime>: Send + 'static {
    /// The channels this reactor owns (`GetChannels`). Two reactors may not
    /// claim one channel.
    fn channels(&self) -> Vec<ChannelDescriptor>;

    /// How much may wait in this reactor's inbox (all peers together).
    fn inbox_budget(&self) -> InboxBudget {
        InboxBudget::default()
    }

    /// Called once on the reactor's task before anything else, with a
    /// handle to the switch (to dial, broadcast, report peers).
    fn start(&mut self, switch: &Switch<RT>) -> impl Future<Output = ()> + Send {
        let _ = switch;
        async {}
    }

    /// A peer was added (`AddPeer`).
    fn add_peer(&mut self, peer: &SwitchPeer<RT>) -> impl Future<Output = ()> + Send {
        let _ = peer;
        async {}
    }

    /// A peer left (`RemovePeer`), with why.
    fn remove_peer(
        &mut self,
        peer: &SwitchPeer<RT>,
        reason: DisconnectReason,
    ) -> impl Future<Output = ()> + Send {
        let _ = (peer, reason);
        async {}
    }

    /// A message arrived on one of this reactor's channels (`Receive`).
    fn receive(
        &mut self,
        channel: u8,
        peer: &SwitchPeer<RT>,
        msg: Vec<u8>,
    ) -> impl Future<Output = ()> + Send;

    /// When [`on_timeout`](Self::on_timeout) should next run, if ever
    /// (asked again after every call).
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) passed.
    fn on_timeout(&mut self, now: Instant) -> impl Future<Output = ()> + Send {
        let _ = now;
        async {}
    }

    /// The switch is stopping; the last call.
    fn stop(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}
