//! The switch's tasks: accept loop, dialer, one task per connection
//! (driving it and routing its messages), one per reactor, and the timer.

use core::future::poll_fn;
use core::task::Poll;
use std::net::SocketAddr;
use std::sync::Arc;

use embassy_futures::join::join;
use embassy_futures::select::{select, Either};
use futures_channel::oneshot;
use mconn::handshake::{parse_listen_addr, Host};
use mconn::identity::NetAddr;
use mconn::switch::{
    ConnId, ConnectFailure, DisconnectReason, Misbehaviour, PeerInfo, ReactorId, Refusal, Report,
};

use super::inbox::{Delivery, Offer};
use super::{DialError, Inner, OnRuntime, Reactor, Runtime, Switch, SwitchPeer};
use crate::{Disconnect, Peer};

pub(crate) type DialSlot<RT> = oneshot::Sender<Result<SwitchPeer<RT>, DialError>>;

/// A slot for the outcome of one dial and the future that waits for it.
pub(crate) fn dial_slot<RT: Runtime>() -> (
    DialSlot<RT>,
    impl core::future::Future<Output = Result<SwitchPeer<RT>, DialError>>,
) {
    let (tx, rx) = oneshot::channel();
    let wait = async move {
        rx.await
            .unwrap_or(Err(DialError::Refused(Refusal::Stopped)))
    };
    (tx, wait)
}

fn reason_of(end: Disconnect) -> DisconnectReason {
    match end {
        Disconnect::Session(r) => DisconnectReason::Session(r),
        Disconnect::Eof => DisconnectReason::Eof,
        Disconnect::Io(_) => DisconnectReason::SocketError,
    }
}

/// Counts a connection task out when it ends, however it ends.
struct TaskGuard<RT: Runtime>(Arc<Inner<RT>>);

impl<RT: Runtime> Drop for TaskGuard<RT> {
    fn drop(&mut self) {
        let mut c = self.0.control();
        c.tasks -= 1;
        c.wake_stop_waiters();
    }
}

impl<RT: Runtime> Inner<RT> {
    /// An attempt ended before its peer was added.
    fn attempt_failed(self: &Arc<Self>, conn: ConnId, why: ConnectFailure, err: DialError) {
        {
            let mut c = self.control();
            c.pending.remove(&conn);
            c.reasons.remove(&conn);
            c.manager.connect_failed(RT::now(), conn, why);
            if let Some(slot) = c.dial_waiters.remove(&conn) {
                let _ = slot.send(Err(err));
            }
        }
        self.run_actions();
    }

    /// The handshake of `conn` finished: ask the policy, and add the peer.
    fn added(
        self: &Arc<Self>,
        conn: ConnId,
        info: PeerInfo,
        peer: &Peer<OnRuntime<RT>>,
    ) -> Result<SwitchPeer<RT>, Refusal> {
        let result = {
            let mut c = self.control();
            c.pending.remove(&conn);
            let result = c
                .manager
                .handshake_done(RT::now(), conn, info)
                .and_then(|()| c.manager.peer(&info.id).copied().ok_or(Refusal::Stopped));
            match result {
                Ok(entry) => {
                    let sp = SwitchPeer::new(peer.clone(), entry);
                    c.peers.insert(conn, sp.clone());
                    if let Some(slot) = c.dial_waiters.remove(&conn) {
                        let _ = slot.send(Ok(sp.clone()));
                    }
                    Ok(sp)
                }
                Err(refusal) => {
                    if let Some(slot) = c.dial_waiters.remove(&conn) {
                        let _ = slot.send(Err(DialError::Refused(refusal)));
                    }
                    Err(refusal)
                }
            }
        };
        self.run_actions();
        result
    }

    /// An added peer's connection ended.
    fn removed(self: &Arc<Self>, conn: ConnId, end: Disconnect) {
        {
            let mut c = self.control();
            let reason = c.reasons.remove(&conn).unwrap_or(reason_of(end));
            c.manager.peer_closed(RT::now(), conn, reason);
        }
        self.run_actions();
    }
}

/// Accepts connections until the switch stops; each admitted one gets its
/// own task at once, so a slow handshake never delays the next accept.
pub(crate) async fn accept_task<RT: Runtime>(inner: Arc<Inner<RT>>, listener: RT::Listener) {
    loop {
        let stopped = poll_fn(|cx| {
            let mut c = inner.control();
            if c.stopping {
                Poll::Ready(())
            } else {
                c.accept_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        let accepted =
            match select(RT::accept(&listener, inner.node.socket_options()), stopped).await {
                Either::First(a) => a,
                Either::Second(()) => return,
            };
        let (reader, writer, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly.
                warn!("mconn switch: accept failed: {:?}", e.kind());
                RT::sleep_until(RT::now() + core::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let admitted = {
            let mut c = inner.control();
            let r = c.manager.accept(RT::now(), remote);
            if r.is_ok() {
                c.tasks += 1;
            }
            r
        };
        inner.run_actions();
        match admitted {
            Ok(conn) => RT::spawn(connection_task(
                inner.clone(),
                conn,
                reader,
                writer,
                remote,
                None,
            )),
            Err(refusal) => {
                // Dropping the halves closes the socket before any crypto.
                debug!("mconn switch: refused {}: {}", remote, refusal);
            }
        }
    }
}

/// Opens the TCP connection of an outbound attempt, then runs it.
pub(crate) async fn dial_task<RT: Runtime>(inner: Arc<Inner<RT>>, conn: ConnId, addr: NetAddr) {
    let guard = TaskGuard(inner.clone());
    let deadline = RT::now() + inner.node.dial_timeout;
    let connect = RT::connect(addr.socket_addr(), inner.node.socket_options());
    let (reader, writer) = match select(connect, RT::sleep_until(deadline)).await {
        Either::First(Ok(halves)) => halves,
        Either::First(Err(e)) => {
            debug!("mconn switch: dial {} failed: {:?}", addr, e.kind());
            inner.attempt_failed(conn, ConnectFailure::Dial, DialError::Connect(e.kind()));
            return;
        }
        Either::Second(()) => {
            debug!("mconn switch: dial {} timed out", addr);
            inner.attempt_failed(conn, ConnectFailure::Dial, DialError::Timeout);
            return;
        }
    };
    core::mem::forget(guard); // the connection task takes over the count
    connection_task(inner, conn, reader, writer, addr.socket_addr(), Some(addr)).await;
}

enum Outcome {
    NotConnected,
    Refused,
    Added,
}

/// Drives one connection: handshake, admission, then routing its messages
/// until it ends.
async fn connection_task<RT: Runtime>(
    inner: Arc<Inner<RT>>,
    conn: ConnId,
    reader: RT::Reader,
    writer: RT::Writer,
    remote: SocketAddr,
    dialed: Option<NetAddr>,
) {
    let _guard = TaskGuard(inner.clone());
    let outbound = dialed.is_some();
    let peer = match Peer::<OnRuntime<RT>>::new(
        &inner.node,
        outbound,
        dialed.map(|a| a.id),
        RT::ephemeral_key(),
    ) {
        Ok(p) => p,
        Err(e) => {
            warn!("mconn switch: cannot set up a connection: {:?}", e);
            let err = DialError::Handshake(Disconnect::Eof);
            inner.attempt_failed(conn, ConnectFailure::Handshake, err);
            return;
        }
    };
    inner.control().pending.insert(conn, peer.clone());
    let serve = RT::serve(peer.clone(), reader, writer, inner.node.io_buffer);
    let control = async {
        // A connection that ended as it got through (a listener refusing us
        // after the handshake, e.g. while we cool down there) is a failed
        // attempt, not a peer the reactors see added and removed at once.
        if peer.connected().await.is_err() || peer.disconnect_reason().is_some() {
            return Outcome::NotConnected;
        }
        let Some(id) = peer.remote_id() else {
            return Outcome::NotConnected;
        };
        let listen_addr = peer
            .with_remote_node_info(|info| {
                let l = parse_listen_addr(info.listen_addr).ok()?;
                match l.host {
                    Host::Ip(ip) => Some(NetAddr::new(id, ip, l.port)),
                    Host::Dns(_) => None,
                }
            })
            .flatten();
        let info = PeerInfo {
            id,
            remote,
            listen_addr,
        };
        match inner.added(conn, info, &peer) {
            Ok(sp) => {
                route(&inner, &sp).await;
                Outcome::Added
            }
            Err(refusal) => {
                debug!(
                    "mconn switch: refused peer {} ({}): {}",
                    id, remote, refusal
                );
                peer.abort();
                Outcome::Refused
            }
        }
    };
    let (end, outcome) = join(serve, control).await;
    match outcome {
        Outcome::Added => inner.removed(conn, end),
        Outcome::Refused => {}
        Outcome::NotConnected => {
            debug!("mconn switch: handshake with {} failed: {}", remote, end);
            inner.attempt_failed(conn, ConnectFailure::Handshake, DialError::Handshake(end));
        }
    }
}

/// Moves a peer's messages into the reactors' inboxes until the
/// connection ends. With a full inbox and a back-pressuring channel it
/// holds the one message it has and takes no more from this peer, so the
/// core's budgets fill and TCP pushes back on the peer.
async fn route<RT: Runtime>(inner: &Arc<Inner<RT>>, peer: &SwitchPeer<RT>) {
    while let Ok((channel, msg)) = peer.connection().recv_any().await {
        let mut held = Some(msg);
        let mut said = false;
        let offer = poll_fn(|cx| {
            let mut inboxes = inner.inboxes();
            let Some(msg) = held.take() else {
                return Poll::Ready(Offer::Dropped);
            };
            match inboxes.offer(peer, channel, msg) {
                Offer::Wait(msg) => {
                    if !said {
                        said = true;
                        debug!(
                            "mconn switch: inbox for channel {:#x} full: back-pressuring {}",
                            channel,
                            peer.id()
                        );
                    }
                    held = Some(msg);
                    inboxes.register_waiter(cx.waker());
                    Poll::Pending
                }
                other => Poll::Ready(other),
            }
        });
        let offer = match select(offer, peer.finished()).await {
            Either::First(o) => o,
            Either::Second(_) => return,
        };
        let bad = match offer {
            Offer::Queued | Offer::Dropped | Offer::Wait(_) => None,
            Offer::Disconnect => Some(Misbehaviour::ReactorOverflow { channel }),
            Offer::NoReactor => Some(Misbehaviour::BadMessage { channel }),
        };
        if let Some(why) = bad {
            inner
                .control()
                .manager
                .report(RT::now(), peer.id(), Report::Bad(why));
            inner.run_actions();
        }
    }
}

/// Fires the policy's deadlines (scheduled dials, cooldowns).
pub(crate) async fn timer_task<RT: Runtime>(inner: Arc<Inner<RT>>) {
    loop {
        let (deadline, stopping) = {
            let mut c = inner.control();
            c.timer_due = false;
            (c.manager.poll_timeout(), c.stopping)
        };
        if stopping {
            return;
        }
        let rearm = poll_fn(|cx| {
            let mut c = inner.control();
            if c.timer_due || c.stopping {
                Poll::Ready(())
            } else {
                c.timer = Some(cx.waker().clone());
                Poll::Pending
            }
        });
        let fired = match deadline {
            Some(at) => matches!(select(RT::sleep_until(at), rearm).await, Either::First(())),
            None => {
                rearm.await;
                false
            }
        };
        if fired {
            let now = RT::now();
            inner.control().manager.handle_timeout(now);
            inner.run_actions();
        }
    }
}

/// Runs one reactor: its inbox, its timer, in order, until the switch stops.
pub(crate) async fn reactor_task<RT: Runtime, R: Reactor<RT>>(
    switch: Switch<RT>,
    id: ReactorId,
    mut reactor: R,
) {
    reactor.start(&switch).await;
    let inner = switch.inner.clone();
    loop {
        let next = poll_fn(|cx| inner.inboxes().poll_next(id, cx));
        let delivery = match reactor.poll_timeout() {
            Some(at) => match select(next, RT::sleep_until(at)).await {
                Either::First(d) => Some(d),
                Either::Second(()) => None,
            },
            None => Some(next.await),
        };
        match delivery {
            None => reactor.on_timeout(RT::now()).await,
            Some(Delivery::Added(p)) => reactor.add_peer(&p).await,
            Some(Delivery::Removed(p, why)) => reactor.remove_peer(&p, why).await,
            Some(Delivery::Message { peer, channel, msg }) => {
                let len = msg.len();
                reactor.receive(channel, &peer, msg).await;
                inner.inboxes().release(id, len);
            }
            Some(Delivery::Stop) => {
                reactor.stop().await;
                break;
            }
        }
    }
    let mut c = inner.control();
    c.reactors_running -= 1;
    c.wake_stop_waiters();
}
