//! The testnet's demo reactor: every second each node sends one small
//! message to each of its peers on [`DEMO_CHANNEL`], and counts what it
//! sends and receives, so "messages exchanged" is real traffic through the
//! switch, the connection and the reactor inboxes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mconn::switch::ChannelDescriptor;
use mconn::Instant;
use mconn_driver::switch::{Reactor, Runtime, Switch, SwitchPeer};

/// The demo's channel (not one of CometBFT's).
pub const DEMO_CHANNEL: u8 = 0x60;
/// How often each node greets its peers.
pub const DEMO_PERIOD: Duration = Duration::from_secs(1);
/// Largest demo message accepted.
const MAX_MESSAGE: usize = 256;

/// Messages counted by one node's demo reactor.
#[derive(Debug, Default)]
pub struct DemoCounters {
    sent: AtomicU64,
    received: AtomicU64,
}

impl DemoCounters {
    /// Messages queued to peers.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Well-formed messages received from peers.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

/// The demo reactor; see the [module docs](self).
pub struct DemoReactor<RT: Runtime> {
    moniker: String,
    counters: Arc<DemoCounters>,
    switch: Option<Switch<RT>>,
    next: Option<Instant>,
    round: u64,
}

impl<RT: Runtime> DemoReactor<RT> {
    /// A reactor greeting as `moniker`, counting into `counters`.
    pub fn new(moniker: impl Into<String>, counters: Arc<DemoCounters>) -> Self {
        DemoReactor {
            moniker: moniker.into(),
            counters,
            switch: None,
            next: None,
            round: 0,
        }
    }
}

/// `hello <round> from <moniker>`.
fn greeting(round: u64, moniker: &str) -> Vec<u8> {
    let mut msg = format!("hello {round} from {moniker}").into_bytes();
    msg.truncate(MAX_MESSAGE);
    msg
}

/// Whether `msg` is a greeting.
fn is_greeting(msg: &[u8]) -> bool {
    msg.starts_with(b"hello ") && msg.len() <= MAX_MESSAGE
}

impl<RT: Runtime> Reactor<RT> for DemoReactor<RT> {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(DEMO_CHANNEL, 1)
            .send_queue(16)
            .recv_message_capacity(MAX_MESSAGE)]
    }

    async fn start(&mut self, switch: &Switch<RT>) {
        self.switch = Some(switch.clone());
        self.next = Some(RT::now() + DEMO_PERIOD);
    }

    async fn receive(&mut self, _channel: u8, _peer: &SwitchPeer<RT>, msg: Vec<u8>) {
        if is_greeting(&msg) {
            self.counters.received.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }

    async fn on_timeout(&mut self, now: Instant) {
        self.next = Some(now + DEMO_PERIOD);
        let Some(switch) = &self.switch else {
            return;
        };
        self.round += 1;
        let msg = greeting(self.round, &self.moniker);
        for peer in switch.peers().list() {
            // Never wait: a full queue just skips this round for that peer.
            if peer.has_channel(DEMO_CHANNEL) && peer.try_send(DEMO_CHANNEL, &msg).is_ok() {
                self.counters.sent.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn stop(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_are_recognised_and_bounded() {
        let msg = greeting(3, "node1");
        assert_eq!(msg, b"hello 3 from node1");
        assert!(is_greeting(&msg));
        assert!(!is_greeting(b"bye"));
        assert!(greeting(1, &"x".repeat(1000)).len() <= MAX_MESSAGE);
    }
}
