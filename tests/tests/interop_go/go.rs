//! The Go side: building `tests/interop/go` once per CometBFT line and
//! running it as a child process that prints JSON events on stdout.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

/// A CometBFT release line the harness is built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    V038,
    V1,
}

impl Line {
    /// The module file pinning this line's CometBFT version.
    fn modfile(self) -> &'static str {
        match self {
            Line::V038 => "go.mod",
            Line::V1 => "v1.mod",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Line::V038 => "v0.38",
            Line::V1 => "v1.0",
        }
    }

    /// The exact CometBFT version pinned for this line (checked against
    /// what the built binary reports).
    pub fn version(self) -> &'static str {
        match self {
            Line::V038 => "v0.38.26",
            Line::V1 => "v1.0.1",
        }
    }

    /// The p2p protocol version a node of this line advertises.
    pub fn p2p_protocol(self) -> u64 {
        match self {
            Line::V038 => 8,
            Line::V1 => 9,
        }
    }
}

const GO_NEEDED: &str = "Go is needed for the interop suite: install Go 1.23 or newer \
    (https://go.dev/dl/) and put `go` on PATH (or set GO=/path/to/go)";

fn go_command() -> Command {
    Command::new(std::env::var_os("GO").unwrap_or_else(|| "go".into()))
}

/// Builds the harness for `line` (once per test process; `go build` caches
/// across runs) and returns the binary.
pub fn binary(line: Line) -> PathBuf {
    static BUILT: [OnceLock<Result<PathBuf, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = &BUILT[line as usize];
    slot.get_or_init(|| build(line))
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn build(line: Line) -> Result<PathBuf, String> {
    match go_command().arg("version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => {
            return Err(format!(
                "{GO_NEEDED}\n(`go version` failed: {})",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
        Err(e) => return Err(format!("{GO_NEEDED}\n(could not run `go`: {e})")),
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/go");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("interop-go")
        .join(format!("cometbft-{}", line.name()));
    let status = go_command()
        .args(["build", "-buildvcs=false", "-modfile", line.modfile(), "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .output()
        .map_err(|e| format!("{GO_NEEDED}\n(could not run `go build`: {e})"))?;
    if !status.status.success() {
        return Err(format!(
            "`go build -modfile {}` in {} failed (module downloads need the Go module proxy):\n{}",
            line.modfile(),
            src.display(),
            String::from_utf8_lossy(&status.stderr)
        ));
    }
    Ok(out)
}

/// A running Go peer. Killed on drop.
pub struct GoPeer {
    pub label: String,
    child: Child,
    rx: Receiver<Value>,
    events: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

impl GoPeer {
    /// Starts the harness for `line` with `args`, checks its version banner.
    pub fn spawn(line: Line, label: &str, args: &[String]) -> GoPeer {
        let mut child = Command::new(binary(line))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the Go harness");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({"ev": "raw", "line": line}));
                if tx.send(v).is_err() {
                    return;
                }
            }
            let _ = tx.send(serde_json::json!({"ev": "eof"}));
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut peer = GoPeer {
            label: format!("{} {label}", line.name()),
            child,
            rx,
            events: Vec::new(),
            stderr,
        };
        let start = peer.wait("start", Duration::from_secs(20));
        if start["cometbft"] != line.version() {
            peer.fail(&format!(
                "built against {} instead of {}",
                start["cometbft"],
                line.version()
            ));
        }
        peer
    }

    /// Moves events that arrived into the log; fails on a Go-side error.
    pub fn pump(&mut self) {
        while let Ok(v) = self.rx.try_recv() {
            self.push(v);
        }
    }

    fn push(&mut self, v: Value) {
        let error = v["ev"] == "error";
        self.events.push(v);
        if error {
            self.fail("the Go side reported an error");
        }
    }

    /// The first event named `ev` so far.
    pub fn find(&mut self, ev: &str) -> Option<Value> {
        self.pump();
        self.events.iter().find(|v| v["ev"] == ev).cloned()
    }

    /// All events named `ev` so far.
    pub fn all(&mut self, ev: &str) -> Vec<Value> {
        self.all_any(&[ev])
    }

    /// All events named any of `evs` so far, in order.
    pub fn all_any(&mut self, evs: &[&str]) -> Vec<Value> {
        self.pump();
        self.events
            .iter()
            .filter(|v| evs.iter().any(|ev| v["ev"] == *ev))
            .cloned()
            .collect()
    }

    /// The first event named any of `evs` so far.
    pub fn find_any(&mut self, evs: &[&str]) -> Option<Value> {
        self.pump();
        self.events
            .iter()
            .find(|v| evs.iter().any(|ev| v["ev"] == *ev))
            .cloned()
    }

    /// Kills the process without warning (a crash: the kernel closes its
    /// sockets) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the first event named `ev`.
    pub fn wait(&mut self, ev: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.find(ev) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(v) => self.push(v),
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("no {ev:?} event within {limit:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("exited without a {ev:?} event"))
                }
            }
        }
    }

    /// Waits for the process to exit on its own.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for Go") {
                // Let the reader thread deliver the last lines.
                let _ = self.wait("eof", Duration::from_secs(5));
                return status;
            }
            if Instant::now() > deadline {
                self.fail(&format!("did not exit within {limit:?}"));
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Asserts a clean exit (the harness prints `exit` last).
    pub fn expect_clean_exit(&mut self, limit: Duration) {
        let status = self.wait_exit(limit);
        if !status.success() || self.find("exit").is_none() {
            self.fail(&format!("did not exit cleanly: {status}"));
        }
    }

    /// Panics with the Go side's events and stderr.
    pub fn fail(&mut self, msg: &str) -> ! {
        let _ = self.child.kill();
        thread::sleep(Duration::from_millis(50));
        while let Ok(v) = self.rx.try_recv() {
            self.events.push(v);
        }
        let events: Vec<String> = self
            .events
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(Value::to_string)
            .collect();
        let stderr = self.stderr.lock().unwrap().clone();
        let tail: String = stderr
            .chars()
            .rev()
            .take(6000)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        panic!(
            "[{}] {msg}\n--- Go events (last 40):\n{}\n--- Go stderr (tail):\n{tail}",
            self.label,
            events.join("\n")
        );
    }
}

impl Drop for GoPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
