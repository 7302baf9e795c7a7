//! The seed documents' Switch/Reactor usage, in Rust: a `MyReactor`
//! declaring its channel with a priority, a switch made from it, `receive`
//! printing what arrives, a loop over `switch.peers().list()` sending to
//! the outbound peers, and a broadcast. Three nodes on loopback; exits by
//! itself.
//!
//! ```text
//! cargo run --release -p mconn-tokio --example switch
//! ```

use std::time::Duration;

use mconn::identity::NodeKey;
use mconn::switch::{ChannelDescriptor, SwitchConfig};
use mconn_driver::switch::Reactor;
use mconn_tokio::{NodeConfig, Switch, SwitchPeer, Tokio};
use tokio::sync::mpsc;

const MY_CHANNEL_ID: u8 = 0x60;

/// Declares a reactor that handles messages on `MY_CHANNEL_ID`.
struct MyReactor {
    name: &'static str,
    seen: mpsc::UnboundedSender<()>,
}

impl Reactor<Tokio> for MyReactor {
    fn channels(&self) -> Vec<ChannelDescriptor> {
        vec![ChannelDescriptor::new(MY_CHANNEL_ID, 1)]
    }

    async fn receive(&mut self, _channel: u8, peer: &SwitchPeer, msg: Vec<u8>) {
        let from = peer.id().to_string();
        println!(
            "{} <- {}…: {}",
            self.name,
            &from[..8],
            String::from_utf8_lossy(&msg)
        );
        let _ = self.seen.send(());
    }
}

async fn node(name: &'static str, seed: u8, seen: &mpsc::UnboundedSender<()>) -> Switch {
    let node = NodeConfig::new(NodeKey::from_seed([seed; 32]), "example-chain", &[]);
    let mut config = SwitchConfig::new(node.key.node_id());
    config.allow_duplicate_ip = true; // all three run on 127.0.0.1
    Switch::builder(node, config)
        .reactor(MyReactor {
            name,
            seen: seen.clone(),
        })
        .expect("one reactor, one channel")
        .listen("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .expect("listening on loopback")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (seen, mut arrivals) = mpsc::unbounded_channel();
    let a = node("A", 1, &seen).await;
    let b = node("B", 2, &seen).await;
    let c = node("C", 3, &seen).await;
    for other in [&b, &c] {
        a.dial(other.net_addr().expect("bound")).await?;
    }
    b.dial(c.net_addr().expect("bound")).await?;

    // Send a message to all outbound connections.
    for switch in [&a, &b, &c] {
        for peer in switch.peers().list() {
            if peer.is_outbound() {
                peer.send(MY_CHANNEL_ID, b"Here's a random message").await?;
            }
        }
    }
    // And one to everyone.
    let sent = a.broadcast(MY_CHANNEL_ID, b"A says hello to all").await;
    println!("A broadcast to {} peers", sent.queued);

    // 3 outbound sends (A→B, A→C, B→C) + 2 broadcast deliveries.
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(10), arrivals.recv())
            .await?
            .ok_or("reactors stopped")?;
    }
    for (name, switch) in [("A", &a), ("B", &b), ("C", &c)] {
        let peers = switch.peers();
        println!(
            "{name}: {} peers ({} out, {} in)",
            peers.len(),
            peers.num_outbound(),
            peers.num_inbound()
        );
    }
    for switch in [&a, &b, &c] {
        switch.stop().await;
    }
    Ok(())
}
