//! The Go side: `tests/interop/go` (built once per CometBFT line by
//! [`mconn_tests::go_harness`]) running as a child process that prints
//! JSON events on stdout.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::mpsc::RecvTimeoutError;
use std::thread;
use std::time::{Duration, Instant};

use mconn_tests::go_harness::GoProcess;
pub use mconn_tests::go_harness::Line;

/// The harness for `line`, built once per test process into this crate's
/// target temporary directory.
fn binary(line: Line) -> PathBuf {
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("interop-go");
    mconn_tests::go_harness::binary(line, &out)
}

/// A stdout line of the harness as an event (`{"ev": "raw"}` if not JSON).
fn event(line: String) -> Value {
    serde_json::from_str(&line).unwrap_or_else(|_| serde_json::json!({"ev": "raw", "line": line}))
}

/// A running Go peer. Killed on drop.
pub struct GoPeer {
    pub label: String,
    go: GoProcess,
    events: Vec<Value>,
}

impl GoPeer {
    /// Starts the harness for `line` with `args`, checks its version banner.
    pub fn spawn(line: Line, label: &str, args: &[String]) -> GoPeer {
        let go = GoProcess::spawn(&binary(line), args).expect("start the Go harness");
        let mut peer = GoPeer {
            label: format!("{} {label}", line.name()),
            go,
            events: Vec::new(),
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
        while let Ok(line) = self.go.lines.try_recv() {
            self.push(event(line));
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
        self.go.kill();
    }

    /// Waits up to `limit` for the first event named `ev`.
    pub fn wait(&mut self, ev: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.find(ev) {
                return v;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.go.lines.recv_timeout(left) {
                Ok(line) => self.push(event(line)),
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
            if let Some(status) = self.go.child.try_wait().expect("wait for Go") {
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
        let _ = self.go.child.kill();
        thread::sleep(Duration::from_millis(50));
        while let Ok(line) = self.go.lines.try_recv() {
            self.events.push(event(line));
        }
        let events: Vec<String> = self
            .events
            .iter()
            .rev()
            .take(40)
            .rev()
            .map(Value::to_string)
            .collect();
        let tail = self.go.stderr_tail(6000);
        panic!(
            "[{}] {msg}\n--- Go events (last 40):\n{}\n--- Go stderr (tail):\n{tail}",
            self.label,
            events.join("\n")
        );
    }
}
