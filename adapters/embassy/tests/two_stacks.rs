//! Two embassy-net stacks in one process, joined by an in-memory IP link
//! (no TAP, no root, no OS sockets: packets never leave the process), each
//! running `mconn-embassy` over a `TcpSocket`: SecretConnection handshake,
//! NodeInfo exchange, messages on several channels both ways, graceful close.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::time::Duration;

use embassy_futures::join::join3;
use embassy_futures::select::{select, select3};
use embassy_net::driver::{Capabilities, Driver, HardwareAddress, LinkState, RxToken, TxToken};
use embassy_net::tcp::TcpSocket;
use embassy_net::{Config, Ipv4Address, Ipv4Cidr, StackResources, StaticConfigV4};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use mconn::conn::ChannelConfig;
use mconn::identity::NodeKey;
use mconn::session::{Security, SessionConfig};
use mconn::wire::node_info::{NodeInfo, ProtocolVersion};
use mconn_embassy::{new_conn, run_socket, storage_size, Disconnect, Error};

/// Both directions of the link: packets queued per receiving side.
#[derive(Default)]
struct Wire {
    queues: [Mutex<VecDeque<Vec<u8>>>; 2],
    wakers: [Mutex<Option<Waker>>; 2],
}

struct Port {
    wire: Arc<Wire>,
    side: usize,
}

struct Rx(Vec<u8>);

struct Tx<'a> {
    wire: &'a Wire,
    to: usize,
}

impl RxToken for Rx {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(mut self, f: F) -> R {
        f(&mut self.0)
    }
}

impl TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = vec![0u8; len];
        let r = f(&mut packet);
        self.wire.queues[self.to].lock().unwrap().push_back(packet);
        if let Some(w) = self.wire.wakers[self.to].lock().unwrap().take() {
            w.wake();
        }
        r
    }
}

impl Driver for Port {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, cx: &mut Context) -> Option<(Rx, Tx<'_>)> {
        let packet = self.wire.queues[self.side].lock().unwrap().pop_front();
        match packet {
            Some(p) => Some((
                Rx(p),
                Tx {
                    wire: &self.wire,
                    to: 1 - self.side,
                },
            )),
            None => {
                *self.wire.wakers[self.side].lock().unwrap() = Some(cx.waker().clone());
                None
            }
        }
    }
    fn transmit(&mut self, _cx: &mut Context) -> Option<Tx<'_>> {
        Some(Tx {
            wire: &self.wire,
            to: 1 - self.side,
        })
    }
    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        LinkState::Up
    }
    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = 1500;
        caps
    }
    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ip
    }
}

const CHANNELS: [ChannelConfig; 3] = [
    ChannelConfig::new(0x10, 10)
        .send_queue(4)
        .recv_message_capacity(70_000),
    ChannelConfig::new(0x11, 5)
        .send_queue(4)
        .recv_message_capacity(70_000),
    ChannelConfig::new(0x12, 1)
        .send_queue(4)
        .recv_message_capacity(70_000),
];
const SIZES: [usize; 8] = [0, 1, 100, 1023, 1024, 1025, 5000, 65_536];

fn payload(ch: u8, seq: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13) ^ ch ^ seq as u8)
        .collect()
}

fn addr(last: u8) -> Ipv4Address {
    Ipv4Address::new(192, 0, 2, last) // TEST-NET-1; the link is in memory
}

#[test]
fn two_embassy_net_stacks_handshake_and_exchange() {
    let wire = Arc::new(Wire::default());
    let net = |last| {
        Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(addr(last), 24),
            gateway: None,
            dns_servers: Default::default(),
        })
    };
    let mut res_a = StackResources::<2>::new();
    let mut res_b = StackResources::<2>::new();
    let (stack_a, mut runner_a) = embassy_net::new(
        Port {
            wire: wire.clone(),
            side: 0,
        },
        net(1),
        &mut res_a,
        1,
    );
    let (stack_b, mut runner_b) = embassy_net::new(Port { wire, side: 1 }, net(2), &mut res_b, 2);

    let (key_a, key_b) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]));
    let (id_a, id_b) = (key_a.node_id().to_string(), key_b.node_id().to_string());
    let ids = [0x10, 0x11, 0x12];
    let info = |id, moniker| NodeInfo {
        protocol_version: ProtocolVersion::new(8, 11, 0),
        default_node_id: id,
        listen_addr: "tcp://192.0.2.1:26656",
        network: "embassy-test",
        channels: &ids,
        moniker,
        ..NodeInfo::default()
    };
    let (info_a, info_b) = (info(&id_a, "a"), info(&id_b, "b"));
    let config = SessionConfig::new(mconn::conn::Config::cometbft());
    let mut storage_a = vec![0u8; storage_size(&CHANNELS, &info_a)];
    let mut storage_b = vec![0u8; storage_size(&CHANNELS, &info_b)];
    let send_timeout = Duration::from_secs(10);
    let a = new_conn::<CriticalSectionRawMutex>(
        &mut storage_a,
        &config,
        &CHANNELS,
        &info_a,
        Security::Secret {
            key: &key_a,
            ephemeral: [3; 32],
        },
        true,
        Some(key_b.node_id()),
        send_timeout,
    )
    .unwrap();
    let b = new_conn::<CriticalSectionRawMutex>(
        &mut storage_b,
        &config,
        &CHANNELS,
        &info_b,
        Security::Secret {
            key: &key_b,
            ephemeral: [4; 32],
        },
        false,
        None,
        send_timeout,
    )
    .unwrap();

    let (mut sock_bufs_a, mut sock_bufs_b) = ([0u8; 8192], [0u8; 8192]);
    let (mut sock_bufs_a2, mut sock_bufs_b2) = ([0u8; 8192], [0u8; 8192]);
    let mut sa = TcpSocket::new(stack_a, &mut sock_bufs_a, &mut sock_bufs_a2);
    let mut sb = TcpSocket::new(stack_b, &mut sock_bufs_b, &mut sock_bufs_b2);
    let (mut rx_a, mut tx_a, mut rx_b, mut tx_b) =
        ([0u8; 4096], [0u8; 4096], [0u8; 4096], [0u8; 4096]);

    let scenario = async {
        let (connected, accepted) = futures::join!(
            async {
                stack_a.wait_config_up().await;
                sa.connect((addr(2), 26656)).await
            },
            sb.accept(26656)
        );
        connected.unwrap();
        accepted.unwrap();
        let app = async {
            a.connected().await.unwrap();
            b.connected().await.unwrap();
            assert_eq!(a.remote_id(), Some(key_b.node_id()));
            assert_eq!(b.remote_id(), Some(key_a.node_id()));
            assert!(a.is_outbound() && !b.is_outbound());
            assert_eq!(b.with_remote_node_info(|i| i.moniker == "a"), Some(true));
            // Every channel at once, both ways.
            let sends = |from: &'static str| {
                let conn = if from == "a" { &a } else { &b };
                futures::future::join_all(ids.iter().map(move |&ch| async move {
                    for (seq, len) in SIZES.iter().enumerate() {
                        conn.send(ch, &payload(ch, seq, *len)).await.unwrap();
                    }
                }))
            };
            let recvs = |to: &'static str| {
                let conn = if to == "a" { &a } else { &b };
                futures::future::join_all(ids.iter().map(move |&ch| async move {
                    for (seq, len) in SIZES.iter().enumerate() {
                        let ok = conn
                            .recv_with(ch, |m| m == payload(ch, seq, *len).as_slice())
                            .await
                            .unwrap();
                        assert!(ok, "channel {ch:#x} message {seq}");
                    }
                }))
            };
            futures::join!(sends("a"), sends("b"), recvs("a"), recvs("b"));
            assert_eq!(
                a.channel_stats(0x12).unwrap().messages_received,
                SIZES.len() as u64
            );
            a.try_send(0x11, b"last").unwrap();
            a.close().await.unwrap();
            assert_eq!(b.recv_with(0x11, |m| m.to_vec()).await.unwrap(), b"last");
            assert_eq!(
                b.recv_any_with(|_, _| ()).await,
                Err(Error::Closed(Disconnect::Eof))
            );
        };
        let (end_a, end_b, ()) = join3(
            run_socket(&a, &mut sa, &mut rx_a, &mut tx_a),
            run_socket(&b, &mut sb, &mut rx_b, &mut tx_b),
            app,
        )
        .await;
        assert!(end_a.is_graceful_close(), "{end_a:?}");
        assert_eq!(end_b, Disconnect::Eof);
    };
    let limit = async {
        embassy_time::Timer::after(embassy_time::Duration::from_secs(60)).await;
        panic!("embassy test timed out");
    };
    futures::executor::block_on(select3(
        async {
            runner_a.run().await;
        },
        async {
            runner_b.run().await;
        },
        async {
            select(scenario, limit).await;
        },
    ));
}
