//! Interop: our sans-IO `SecretConnection` against tendermint-rs's
//! `tendermint-p2p` `SecretConnection` (`Version::V0_34`) over real loopback
//! TCP, both who-dials-whom ways, 100 KiB each way, authenticated IDs checked
//! on both sides. Every socket has read/write timeouts and every loop a
//! deadline, so a stuck peer fails the test instead of hanging it.

use mconn::identity::NodeKey;
use mconn::secret::{SecretConnection, SEALED_FRAME_LEN};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const DEADLINE: Duration = Duration::from_secs(30);
const PAYLOAD: usize = 100 * 1024 + 333; // not a multiple of the frame size

fn payload(seed: u8) -> Vec<u8> {
    (0..PAYLOAD)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

fn timeouts(s: &TcpStream) {
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
}

/// What one side saw: the peer ID it authenticated and the bytes it got.
struct Outcome {
    remote_id: String,
    received: Vec<u8>,
}

/// Runs our machine over `stream`: handshake, then sends `data` (from a
/// writer thread, so neither side can deadlock on full socket buffers)
/// while reading `expect` bytes.
fn run_ours(stream: TcpStream, key: &NodeKey, data: Vec<u8>, expect: usize) -> Outcome {
    timeouts(&stream);
    let start = Instant::now();
    let mut conn = SecretConnection::with_rng(key, &mut rand_core::OsRng);
    let mut stream_w = stream.try_clone().unwrap();
    let mut stream_r = stream;
    let mut pending = Vec::new(); // received, not yet consumed ciphertext
    let mut received = Vec::new();
    let mut out = [0u8; 2 * SEALED_FRAME_LEN];
    let mut rbuf = [0u8; 16 * 1024];

    // Handshake.
    while !conn.is_established() {
        assert!(start.elapsed() < DEADLINE, "our handshake timed out");
        loop {
            let n = conn.poll_transmit(&mut out);
            if n == 0 {
                break;
            }
            stream_w.write_all(&out[..n]).unwrap();
        }
        if conn.is_established() {
            break;
        }
        let n = stream_r.read(&mut rbuf).expect("read during handshake");
        assert!(n > 0, "peer closed during handshake");
        pending.extend_from_slice(&rbuf[..n]);
        feed(&mut conn, &mut pending, &mut received);
    }
    let remote_id = conn.remote_id().unwrap().to_string();

    // Seal everything up front and write it from another thread.
    let mut sealed = vec![0u8; data.len().div_ceil(1024) * SEALED_FRAME_LEN];
    let (used, written) = conn.seal(&data, &mut sealed).unwrap();
    assert_eq!(used, data.len());
    sealed.truncate(written);
    let writer = thread::spawn(move || {
        stream_w.write_all(&sealed).unwrap();
        stream_w.flush().unwrap();
        stream_w
    });

    // Anything that arrived with the handshake, then the rest.
    feed(&mut conn, &mut pending, &mut received);
    while received.len() < expect {
        assert!(start.elapsed() < DEADLINE, "our receive timed out");
        let n = stream_r.read(&mut rbuf).expect("read data");
        assert!(n > 0, "peer closed early");
        pending.extend_from_slice(&rbuf[..n]);
        feed(&mut conn, &mut pending, &mut received);
    }
    let _stream = writer.join().unwrap();
    Outcome {
        remote_id,
        received,
    }
}

/// Offers `pending` until the machine takes no more, collecting plaintext.
fn feed(conn: &mut SecretConnection, pending: &mut Vec<u8>, received: &mut Vec<u8>) {
    loop {
        let used = conn
            .handle_input(pending)
            .expect("our SecretConnection failed");
        pending.drain(..used);
        let p = conn.plaintext();
        let got = p.len();
        received.extend_from_slice(p);
        conn.consume_plaintext(got);
        if used == 0 && got == 0 {
            return;
        }
    }
}

/// Runs tendermint-p2p over `stream`, writing `data` from a thread.
fn run_theirs(stream: TcpStream, seed: [u8; 32], data: Vec<u8>, expect: usize) -> Outcome {
    use tendermint_p2p::secret_connection::{SecretConnection, Version};
    timeouts(&stream);
    let key = ed25519_consensus::SigningKey::from(seed);
    let conn = SecretConnection::new(stream, key, Version::V0_34).expect("their handshake");
    let remote_id = conn.remote_pubkey().peer_id().to_string();
    let (mut tx, mut rx) = conn.split().unwrap();
    let writer = thread::spawn(move || {
        tx.write_all(&data).unwrap();
        tx.flush().unwrap();
    });
    let start = Instant::now();
    let mut received = Vec::new();
    // tendermint-p2p's Read panics if a frame's payload exceeds the read
    // buffer, so always read with room for a whole frame (1024 bytes).
    let mut buf = [0u8; 1024];
    while received.len() < expect {
        assert!(start.elapsed() < DEADLINE, "their receive timed out");
        let n = rx.read(&mut buf).expect("their read");
        assert!(n > 0, "our side closed early");
        received.extend_from_slice(&buf[..n]);
    }
    writer.join().unwrap();
    Outcome {
        remote_id,
        received,
    }
}

/// Accepts one connection, giving up after the deadline.
fn accept(listener: &TcpListener) -> TcpStream {
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(start.elapsed() < DEADLINE, "accept timed out");
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

fn exchange(ours_dials: bool) {
    let our_key = NodeKey::from_seed([0x31; 32]);
    let their_seed = [0x42; 32];
    let their_id = NodeKey::from_seed(their_seed).node_id().to_string();
    let ours_data = payload(1);
    let theirs_data = payload(2);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    // Whoever does not dial accepts.
    let (their_listener, our_listener) = if ours_dials {
        (Some(listener), None)
    } else {
        (None, Some(listener))
    };
    let theirs_send = theirs_data.clone();
    let theirs = thread::spawn(move || {
        let stream = match their_listener {
            Some(l) => accept(&l),
            None => TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap(),
        };
        run_theirs(stream, their_seed, theirs_send, PAYLOAD)
    });
    let stream = match our_listener {
        Some(l) => accept(&l),
        None => TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap(),
    };
    let ours = run_ours(stream, &our_key, ours_data.clone(), PAYLOAD);
    let theirs = theirs.join().expect("tendermint-p2p side panicked");

    assert_eq!(ours.remote_id, their_id);
    assert_eq!(theirs.remote_id, our_key.node_id().to_string());
    assert_eq!(ours.received.len(), PAYLOAD);
    assert!(ours.received == theirs_data, "we got their bytes");
    assert!(theirs.received == ours_data, "they got our bytes");
}

#[test]
fn ours_dials_tendermint_p2p() {
    exchange(true);
}

#[test]
fn tendermint_p2p_dials_ours() {
    exchange(false);
}
