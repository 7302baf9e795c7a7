//! Throughput over one connection and one channel/stream: the receiver
//! counts whole messages; the rate is `(messages - 1) × size` over the time
//! from the first to the last delivery, once the window has passed and at
//! least `min_msgs` arrived. Every system is measured the same way (the Go
//! program implements the same rule).
//!
//! Rust sides run one thread each (a current-thread tokio runtime or a plain
//! blocking loop; mconn-smol's connection tasks run on smol's global
//! executor); the Go sides are two processes. The mconn rows are in
//! [`crate::adapter`].

use std::io::{BufWriter, Read, Write};
use std::net::TcpStream as StdStream;
use std::time::{Duration, Instant};

use futures::{AsyncReadExt, AsyncWriteExt};
use mconn::secret::{Aead, AeadBackend, AeadKind};
use tokio_util::compat::TokioAsyncReadCompatExt;

use crate::gobench::{ms, Go, GoConf};
use crate::net::Net;

/// One throughput measurement's shape.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Message size.
    pub size: usize,
    /// Measurement window.
    pub dur: Duration,
    /// Minimum messages before stopping.
    pub min_msgs: usize,
}

/// Counts whole messages on the receiving side.
#[derive(Debug)]
pub struct Counter {
    shape: Shape,
    msgs: usize,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Counter {
    /// A fresh counter.
    pub fn new(shape: Shape) -> Self {
        Counter {
            shape,
            msgs: 0,
            first: None,
            last: None,
        }
    }

    /// One message arrived.
    pub fn on_msg(&mut self) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.msgs += 1;
    }

    /// Whether the window is over.
    pub fn done(&self) -> bool {
        match (self.first, self.last) {
            (Some(f), Some(l)) => l - f >= self.shape.dur && self.msgs >= self.shape.min_msgs,
            _ => false,
        }
    }

    /// Bytes per second.
    pub fn rate(&self) -> f64 {
        match (self.first, self.last) {
            (Some(f), Some(l)) if self.msgs > 1 => {
                ((self.msgs - 1) * self.shape.size) as f64 / (l - f).as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

/// A single-thread tokio runtime.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Raw TCP: the sender writes `size`-byte messages through a 64 KiB
/// buffered writer; the receiver reads 64 KiB at a time and counts messages.
pub fn tcp(net: &Net, shape: Shape) -> f64 {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    std::thread::scope(|s| {
        let recv = s.spawn(move || {
            let (mut sock, _) = listener.accept().expect("accept");
            let mut c = Counter::new(shape);
            let mut buf = vec![0u8; 64 * 1024];
            let mut partial = 0usize;
            while !c.done() {
                let n = match sock.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                partial += n;
                while partial >= shape.size {
                    partial -= shape.size;
                    c.on_msg();
                }
            }
            c.rate()
        });
        let sock = net.connect(addr);
        let msg = vec![0xa5u8; shape.size];
        let mut w = BufWriter::with_capacity(64 * 1024, sock);
        while w.write_all(&msg).is_ok() {}
        recv.join().expect("tcp receiver")
    })
}

/// yamux's configuration under test.
pub fn yamux_config(tuned: bool) -> yamux::Config {
    let mut cfg = yamux::Config::default();
    if tuned {
        // Larger frames: fewer headers and window updates per byte.
        cfg.set_split_send_size(256 * 1024);
    }
    cfg
}

/// Opens a yamux client connection and one outbound stream; the connection
/// is driven by a spawned task.
pub async fn yamux_client(
    sock: StdStream,
    cfg: yamux::Config,
    streams: usize,
) -> Vec<yamux::Stream> {
    sock.set_nonblocking(true).expect("nonblocking");
    let sock = tokio::net::TcpStream::from_std(sock).expect("tokio stream");
    let mut conn = yamux::Connection::new(sock.compat(), cfg, yamux::Mode::Client);
    let mut out = Vec::new();
    for _ in 0..streams {
        out.push(
            futures::future::poll_fn(|cx| conn.poll_new_outbound(cx))
                .await
                .expect("yamux outbound"),
        );
    }
    tokio::spawn(async move {
        while let Some(Ok(_)) = futures::future::poll_fn(|cx| conn.poll_next_inbound(cx)).await {}
    });
    out
}

/// Accepts `streams` inbound yamux streams; the connection is then driven by
/// a spawned task.
pub async fn yamux_server(
    sock: StdStream,
    cfg: yamux::Config,
    streams: usize,
) -> Vec<yamux::Stream> {
    sock.set_nonblocking(true).expect("nonblocking");
    sock.set_nodelay(true).ok();
    let sock = tokio::net::TcpStream::from_std(sock).expect("tokio stream");
    let mut conn = yamux::Connection::new(sock.compat(), cfg, yamux::Mode::Server);
    let mut out = Vec::new();
    for _ in 0..streams {
        out.push(
            futures::future::poll_fn(|cx| conn.poll_next_inbound(cx))
                .await
                .expect("yamux inbound")
                .expect("yamux inbound"),
        );
    }
    tokio::spawn(async move {
        while let Some(Ok(_)) = futures::future::poll_fn(|cx| conn.poll_next_inbound(cx)).await {}
    });
    out
}

/// yamux ↔ yamux, one stream, plaintext.
pub fn yamux(net: &Net, shape: Shape, tuned: bool) -> f64 {
    let listener = net.listen();
    let addr = listener.local_addr().expect("addr");
    std::thread::scope(|s| {
        let recv = s.spawn(move || {
            let (sock, _) = listener.accept().expect("accept");
            rt().block_on(async {
                let mut st = yamux_server(sock, yamux_config(tuned), 1).await.remove(0);
                let mut c = Counter::new(shape);
                let mut buf = vec![0u8; 64 * 1024];
                let mut partial = 0usize;
                while !c.done() {
                    let n = match st.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    partial += n;
                    while partial >= shape.size {
                        partial -= shape.size;
                        c.on_msg();
                    }
                }
                c.rate()
            })
        });
        let sock = net.connect(addr);
        rt().block_on(async {
            // The first write creates the stream on the wire.
            let mut st = yamux_client(sock, yamux_config(tuned), 1).await.remove(0);
            let msg = vec![0xa5u8; shape.size];
            let give_up = shape.dur * 4 + Duration::from_secs(20);
            let _ =
                tokio::time::timeout(give_up, async { while st.write_all(&msg).await.is_ok() {} })
                    .await;
        });
        recv.join().expect("yamux receiver")
    })
}

/// CometBFT ↔ CometBFT (two Go processes).
pub fn cometbft(
    go: &Go,
    net: &Net,
    shape: Shape,
    secret: bool,
    conf: GoConf,
) -> Result<f64, String> {
    let mut args = vec![
        "-size".to_string(),
        shape.size.to_string(),
        "-dur".into(),
        ms(shape.dur),
        "-min-msgs".into(),
        shape.min_msgs.to_string(),
    ];
    if secret {
        args.push("-secret".into());
    }
    args.extend(conf.args());
    let v = go.pair(net, &args)?;
    v["bytes_per_sec"]
        .as_f64()
        .ok_or_else(|| format!("no rate in {v}"))
}

/// Raw single-core ChaCha20-Poly1305 seal rate of `kind` on 1028-byte
/// buffers, bytes/s.
pub fn seal_rate(kind: AeadKind, dur: Duration) -> f64 {
    let aead = Aead::with_kind(kind, &[7; 32]);
    let mut frame = [0x55u8; 1028];
    let mut nonce = [0u8; 12];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < dur {
        for _ in 0..256 {
            nonce[4..].copy_from_slice(&n.to_le_bytes());
            let tag = aead.seal_in_place(&nonce, &mut frame).expect("seal");
            std::hint::black_box(tag);
            n += 1;
        }
    }
    n as f64 * 1028.0 / start.elapsed().as_secs_f64()
}
