//! The CometBFT side: the bench modes of the interop harness
//! `tests/interop/go` (`interop bench -role ...`, CometBFT v0.38's own
//! `p2p/conn` and `p2p`, pinned by its `go.mod`), built by
//! [`mconn_tests::go_harness`] into the target directory and run as child
//! processes.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mconn_tests::go_harness::{self, Line};

use crate::net::Net;

/// The built Go program.
pub struct Go {
    bin: PathBuf,
}

/// A CometBFT MConnection configuration.
#[derive(Clone, Copy, Debug)]
pub struct GoConf {
    /// Send and receive rate caps (B/s), `None` = lifted.
    pub rate: Option<u64>,
    /// Flush throttle in milliseconds.
    pub flush_ms: u32,
}

impl GoConf {
    /// A CometBFT node's defaults: 5 MB/s each way, 100 ms flush throttle.
    pub const DEFAULTS: GoConf = GoConf {
        rate: Some(5_120_000),
        flush_ms: 100,
    };
    /// Rate caps lifted, default flush throttle.
    pub const UNCAPPED: GoConf = GoConf {
        rate: None,
        flush_ms: 100,
    };
    /// Rate caps lifted, 1 ms flush throttle.
    pub const TUNED: GoConf = GoConf {
        rate: None,
        flush_ms: 1,
    };

    /// Short label.
    pub fn label(self) -> String {
        match self.rate {
            Some(r) => format!(
                "defaults ({} MB/s cap, flush {} ms)",
                r / 1_000_000,
                self.flush_ms
            ),
            None => format!("uncapped, flush {} ms", self.flush_ms),
        }
    }

    /// Command-line flags.
    pub fn args(self) -> Vec<String> {
        let rate = self.rate.unwrap_or(0).to_string();
        vec![
            "-send-rate".into(),
            rate.clone(),
            "-recv-rate".into(),
            rate,
            "-flush".into(),
            format!("{}ms", self.flush_ms),
        ]
    }
}

/// A child killed on drop.
pub struct Proc {
    child: Child,
    out: BufReader<ChildStdout>,
    err: Arc<Mutex<String>>,
}

impl Proc {
    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Next stdout line (without the newline).
    pub fn line(&mut self) -> Result<String, String> {
        let mut s = String::new();
        match self.out.read_line(&mut s) {
            Ok(0) => Err(format!("go process exited: {}", self.stderr())),
            Ok(_) => Ok(s.trim_end().to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Next line parsed as JSON.
    pub fn json(&mut self) -> Result<serde_json::Value, String> {
        let l = self.line()?;
        serde_json::from_str(&l).map_err(|e| format!("bad JSON from go ({e}): {l}"))
    }

    /// The `listening <addr>` line.
    pub fn listening(&mut self) -> Result<String, String> {
        let l = self.line()?;
        l.strip_prefix("listening ")
            .map(str::to_string)
            .ok_or_else(|| format!("expected `listening`, got {l}"))
    }

    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50));
        self.err
            .lock()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// Closes stdin (the signal for idle roles to report or exit).
    pub fn close_stdin(&mut self) {
        drop(self.child.stdin.take());
    }

    /// Closes stdin (the signal for idle roles to exit) and waits briefly.
    pub fn finish(mut self) {
        drop(self.child.stdin.take());
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Go {
    /// Builds the harness for CometBFT v0.38 (its `go.mod`) into
    /// `go-harness/` next to the bench binary, with the interop suites'
    /// builder; fails clearly without Go.
    pub fn build() -> Result<Go, String> {
        let dir = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_else(std::env::temp_dir)
            .join("go-harness");
        let bin = go_harness::build(Line::V038, &dir).map_err(|e| {
            format!(
                "{e}
(or pass --no-go to skip CometBFT)"
            )
        })?;
        Ok(Go { bin })
    }

    /// `go version` output.
    pub fn version() -> String {
        go_harness::go_command()
            .arg("version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|_| "go: not found".into())
    }

    /// Starts a bench role (with `prefix`, e.g. `ip netns exec ...`).
    pub fn spawn(&self, prefix: &[String], args: &[String]) -> Result<Proc, String> {
        let mut cmd = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(&self.bin);
                c
            }
            None => Command::new(&self.bin),
        };
        spawn(cmd.arg("bench").args(args))
    }

    /// Starts another program with the same plumbing as [`spawn`](Self::spawn).
    pub fn spawn_exe(&self, exe: &std::path::Path, args: &[String]) -> Result<Proc, String> {
        spawn_exe(exe, args)
    }

    /// Runs a receiver and a sender with the same `args`; returns the
    /// receiver's JSON result.
    pub fn pair(&self, net: &Net, args: &[String]) -> Result<serde_json::Value, String> {
        let mut recv_args = vec![
            "-role".into(),
            "recv".into(),
            "-listen".into(),
            net.listen_addr(),
        ];
        recv_args.extend_from_slice(args);
        let mut recv = self.spawn(&net.exec_prefix(true), &recv_args)?;
        let addr = recv.listening()?;
        let mut send_args = vec!["-role".into(), "send".into(), "-dial".into(), addr];
        send_args.extend_from_slice(args);
        let send = self.spawn(&net.exec_prefix(false), &send_args)?;
        let res = recv.json();
        send.finish();
        res
    }

    /// Raw ChaCha20-Poly1305 seal rate of Go's x/crypto, bytes/s.
    pub fn seal_rate(&self, dur: Duration) -> Result<f64, String> {
        let mut p = self.spawn(
            &[],
            &["-role".into(), "seal".into(), "-dur".into(), ms(dur)],
        )?;
        let v = p.json()?;
        v["bytes_per_sec"]
            .as_f64()
            .ok_or_else(|| format!("no rate in {v}"))
    }
}

/// Starts a program (no Go needed) with [`Proc`]'s plumbing.
pub fn spawn_exe(exe: &std::path::Path, args: &[String]) -> Result<Proc, String> {
    spawn(Command::new(exe).args(args))
}

fn spawn(cmd: &mut Command) -> Result<Proc, String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawn {:?}: {e}", cmd.get_program()))?;
    let out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let err = Arc::new(Mutex::new(String::new()));
    if let Some(mut e) = child.stderr.take() {
        let err = err.clone();
        // Drain stderr so a chatty child never blocks; keep the first 8 KiB.
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = e.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = err.lock() {
                    if s.len() < 8192 {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            }
        });
    }
    Ok(Proc { child, out, err })
}

/// A duration as a Go flag value.
pub fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}
