//! Where the two ends of a benchmark connection live: loopback, or two
//! private network namespaces joined by a veth pair with `tc netem` delay.
//!
//! Only namespaces and links this process creates are touched; they are
//! removed on drop.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;

/// The path between sender and receiver.
pub enum Net {
    /// 127.0.0.1.
    Loopback,
    /// Two namespaces and a delayed veth pair.
    Netns(Netns),
}

impl Net {
    /// A listener on the receiving side.
    pub fn listen(&self) -> TcpListener {
        match self {
            Net::Loopback => TcpListener::bind("127.0.0.1:0").expect("bind loopback"),
            Net::Netns(ns) => in_netns(&ns.b, || {
                TcpListener::bind((ns.addr_b, 0)).expect("bind in netns")
            }),
        }
    }

    /// A connection from the sending side.
    pub fn connect(&self, addr: SocketAddr) -> TcpStream {
        let s = match self {
            Net::Loopback => TcpStream::connect(addr),
            Net::Netns(ns) => in_netns(&ns.a, || TcpStream::connect(addr)),
        }
        .expect("connect");
        s.set_nodelay(true).ok();
        s
    }

    /// Command prefix that runs a program on side `a` (sender) or `b` (receiver).
    pub fn exec_prefix(&self, receiver: bool) -> Vec<String> {
        match self {
            Net::Loopback => Vec::new(),
            Net::Netns(ns) => {
                let name = if receiver { &ns.b } else { &ns.a };
                ["ip", "netns", "exec", name]
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            }
        }
    }

    /// Address a receiver should listen on.
    pub fn listen_addr(&self) -> String {
        match self {
            Net::Loopback => "127.0.0.1:0".into(),
            Net::Netns(ns) => format!("{}:0", ns.addr_b),
        }
    }
}

/// Two namespaces `a` (sender, 10.231.0.1) and `b` (receiver, 10.231.0.2).
pub struct Netns {
    a: String,
    b: String,
    addr_b: std::net::Ipv4Addr,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Netns {
    /// Creates the namespaces and a veth pair with `one_way_ms` of netem
    /// delay on each side, or says why it cannot.
    pub fn create(one_way_ms: u32) -> Result<Netns, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("not root".into());
        }
        for tool in ["ip", "tc"] {
            if Command::new(tool).arg("-V").output().is_err() {
                return Err(format!("no `{tool}`"));
            }
        }
        let pid = std::process::id();
        let ns = Netns {
            a: format!("mcbench-a-{pid}"),
            b: format!("mcbench-b-{pid}"),
            addr_b: std::net::Ipv4Addr::new(10, 231, 0, 2),
        };
        run(&["ip", "netns", "add", &ns.a])?;
        run(&["ip", "netns", "add", &ns.b])?;
        let (va, vb) = (
            format!("mcba{}", pid % 100_000),
            format!("mcbb{}", pid % 100_000),
        );
        let delay = format!("{one_way_ms}ms");
        let steps: Vec<Vec<&str>> = vec![
            vec![
                "ip", "link", "add", &va, "netns", &ns.a, "type", "veth", "peer", "name", &vb,
                "netns", &ns.b,
            ],
            vec![
                "ip",
                "-n",
                &ns.a,
                "addr",
                "add",
                "10.231.0.1/30",
                "dev",
                &va,
            ],
            vec![
                "ip",
                "-n",
                &ns.b,
                "addr",
                "add",
                "10.231.0.2/30",
                "dev",
                &vb,
            ],
            vec!["ip", "-n", &ns.a, "link", "set", &va, "up"],
            vec!["ip", "-n", &ns.b, "link", "set", &vb, "up"],
            vec!["ip", "-n", &ns.a, "link", "set", "lo", "up"],
            vec!["ip", "-n", &ns.b, "link", "set", "lo", "up"],
            vec![
                "tc", "-n", &ns.a, "qdisc", "add", "dev", &va, "root", "netem", "delay", &delay,
                "limit", "100000",
            ],
            vec![
                "tc", "-n", &ns.b, "qdisc", "add", "dev", &vb, "root", "netem", "delay", &delay,
                "limit", "100000",
            ],
        ];
        for step in steps {
            run(&step)?; // on error, drop removes what exists
        }
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.a]);
        let _ = run(&["ip", "netns", "del", &self.b]);
    }
}

/// Runs `f` on a fresh thread that has joined namespace `name`; sockets it
/// creates stay in that namespace wherever they are used afterwards.
fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> T {
    let path = format!("/var/run/netns/{name}");
    std::thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(&path).expect("open netns");
            // SAFETY: setns on a valid namespace fd only changes this
            // thread's network namespace, which ends with the thread.
            let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .expect("netns thread")
    })
}
