//! std glue shared by the tokio and smol adapters.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use crate::Lock;

impl<T> Lock<T> for Mutex<T> {
    fn new(value: T) -> Self {
        Mutex::new(value)
    }
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut self.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(std::time::Instant::now)
}

/// The process clock as an [`mconn::Instant`] (microseconds since first use).
pub fn std_now() -> mconn::Instant {
    mconn::Instant::from_micros(origin().elapsed().as_micros() as u64)
}

/// The `std::time::Instant` of `t`, or `None` if it is too far away to
/// represent (a deadline never reached).
pub fn std_instant(t: mconn::Instant) -> Option<std::time::Instant> {
    origin().checked_add(Duration::from_micros(t.as_micros()))
}

/// 32 fresh bytes from the OS for a SecretConnection's ephemeral key.
pub fn ephemeral_key() -> [u8; 32] {
    use rand_core::RngCore;
    let mut key = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut key);
    key
}

/// Unacknowledged data older than this ends a connection (Linux
/// `TCP_USER_TIMEOUT`): CometBFT's pong timeout.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(45);

/// Socket options every std adapter sets: `TCP_NODELAY` on, `TCP_USER_TIMEOUT`
/// at [`TCP_USER_TIMEOUT`], on Linux `TCP_NOTSENT_LOWAT` at
/// `opts.unsent_limit` so that the kernel keeps only that much unsent data
/// (the rest waits in the connection's priority queues, where a
/// high-priority message can still overtake it), and `SO_RCVBUF` at
/// `opts.recv_buffer` if set (see [`SocketOptions`](crate::SocketOptions)).
pub fn tune_socket(
    socket: socket2::SockRef<'_>,
    opts: crate::SocketOptions,
) -> std::io::Result<()> {
    let unsent_limit = opts.unsent_limit;
    if let Some(bytes) = opts.recv_buffer {
        socket.set_recv_buffer_size(bytes as usize)?;
    }
    socket.set_tcp_nodelay(true)?;
    // A peer whose window stays closed is alive and back-pressuring (the
    // session then keeps its pong deadline open); a peer that stops
    // acknowledging altogether is dead: let TCP say so.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT))?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Some(limit) = unsent_limit {
        socket.set_tcp_notsent_lowat(limit)?;
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = unsent_limit;
    Ok(())
}

/// The accept queue of a listener the switch binds (the kernel caps it at
/// `net.core.somaxconn`). A short queue (128, the std default) overflows
/// under a burst of connections: the kernel then completes some with SYN
/// cookies that never reach `accept`, so admission cannot even refuse them.
pub const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking TCP listener on `addr` with a [`LISTEN_BACKLOG`] accept
/// queue and `SO_REUSEADDR`, for an adapter to wrap.
pub fn listen_socket(addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::SocketOptions;

    #[test]
    fn tune_socket_applies_every_option() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let sock = socket2::SockRef::from(&client);
        let kernel_default = sock.recv_buffer_size().unwrap();
        let opts = SocketOptions {
            unsent_limit: Some(32 * 1024),
            recv_buffer: Some(48 * 1024),
        };
        tune_socket(socket2::SockRef::from(&client), opts).unwrap();
        assert!(sock.tcp_nodelay().unwrap());
        assert_eq!(sock.tcp_notsent_lowat().unwrap(), 32 * 1024);
        assert_eq!(sock.tcp_user_timeout().unwrap(), Some(TCP_USER_TIMEOUT));
        // Linux doubles the value for its bookkeeping.
        assert_eq!(sock.recv_buffer_size().unwrap(), 2 * 48 * 1024);
        // Without `recv_buffer` the kernel's own sizing stays.
        let other = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        tune_socket(socket2::SockRef::from(&other), SocketOptions::default()).unwrap();
        let other = socket2::SockRef::from(&other);
        assert_eq!(other.recv_buffer_size().unwrap(), kernel_default);
    }
}
