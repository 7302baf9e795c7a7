//! Building the Go interop harness (`tests/interop/go`, CometBFT's own p2p
//! code) for one CometBFT release line: the one place the interop suites
//! (`mconn-tests`, `mconn-node`) and the benchmarks (`mconn-bench`) get the
//! Go binary from.
//!
//! Each line is pinned by its own module file (`go.mod` for v0.38, `v1.mod`
//! for v1.0), passed to `go build -modfile`. The binary goes into a
//! directory the caller chooses (under its target directory); `go build`
//! caches across runs, so a rebuild with nothing changed is quick.
//! [`GoProcess`] runs the built binary with its output plumbed.
//!
//! ```no_run
//! use mconn_tests::go_harness::{self, Line};
//!
//! let out = std::env::temp_dir().join("my-go-harness");
//! let bin = go_harness::binary(Line::V1, &out);
//! assert!(bin.starts_with(&out));
//! ```

use std::ffi::OsStr;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;

/// A CometBFT release line the harness is built against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Line {
    /// CometBFT v0.38 (p2p protocol 8), pinned by `go.mod`.
    V038,
    /// CometBFT v1.0 (p2p protocol 9), pinned by `v1.mod`.
    V1,
}

impl Line {
    /// Every supported line.
    pub const ALL: [Line; 2] = [Line::V038, Line::V1];

    /// The module file (in [`source_dir`]) pinning this line's version.
    pub fn modfile(self) -> &'static str {
        match self {
            Line::V038 => "go.mod",
            Line::V1 => "v1.mod",
        }
    }

    /// The line's short name (`v0.38`, `v1.0`).
    pub fn name(self) -> &'static str {
        match self {
            Line::V038 => "v0.38",
            Line::V1 => "v1.0",
        }
    }

    /// The exact CometBFT version pinned for this line (the built binary
    /// reports it in its `start` event).
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

/// What to do when Go is missing.
const GO_NEEDED: &str = "Go is needed for the CometBFT side: install Go 1.23 or newer \
    (https://go.dev/dl/) and put `go` on PATH (or set GO=/path/to/go)";

/// The Go harness's source directory (the Go module `tests/interop/go`).
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop/go")
}

/// A `go` command: `$GO` if set, else `go` on PATH.
pub fn go_command() -> Command {
    Command::new(std::env::var_os("GO").unwrap_or_else(|| "go".into()))
}

/// Where [`build`] puts the binary for `line` in `out_dir`.
pub fn binary_path(line: Line, out_dir: &Path) -> PathBuf {
    out_dir.join(format!("cometbft-{}", line.name()))
}

/// Builds the harness for `line` into `out_dir` (created if missing) and
/// returns the binary; the error says what is missing (Go, the module
/// proxy) with `go`'s own output.
pub fn build(line: Line, out_dir: &Path) -> Result<PathBuf, String> {
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
    let src = source_dir();
    let out = binary_path(line, out_dir);
    let built = go_command()
        .args(["build", "-buildvcs=false", "-modfile", line.modfile(), "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&src)
        .output()
        .map_err(|e| format!("{GO_NEEDED}\n(could not run `go build`: {e})"))?;
    if !built.status.success() {
        return Err(format!(
            "`go build -modfile {}` in {} failed (module downloads need the Go module proxy):\n{}",
            line.modfile(),
            src.display(),
            String::from_utf8_lossy(&built.stderr)
        ));
    }
    Ok(out)
}

/// [`build`] once per process and line (later calls return the first
/// result); panics with the build error. Every call in a process must
/// pass the same `out_dir`.
pub fn binary(line: Line, out_dir: &Path) -> PathBuf {
    static BUILT: [OnceLock<(PathBuf, Result<PathBuf, String>)>; 2] =
        [OnceLock::new(), OnceLock::new()];
    let (dir, built) =
        BUILT[line as usize].get_or_init(|| (out_dir.to_path_buf(), build(line, out_dir)));
    assert_eq!(dir, out_dir, "one output directory per process");
    built.clone().unwrap_or_else(|e| panic!("{e}"))
}

/// The line [`GoProcess::lines`] delivers after the process's last one.
pub const EOF_LINE: &str = r#"{"ev":"eof"}"#;

/// A running harness process (its scenarios print JSON lines on stdout and
/// log on stderr): stdout arrives line by line on a channel, stderr is
/// collected; killed and reaped on drop.
pub struct GoProcess {
    /// The process.
    pub child: Child,
    /// Its stdout, one line at a time, then [`EOF_LINE`] at the end.
    pub lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl GoProcess {
    /// Starts `bin` with `args`, stdin closed.
    pub fn spawn<S: AsRef<OsStr>>(bin: &Path, args: &[S]) -> io::Result<GoProcess> {
        let mut child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
            let _ = tx.send(EOF_LINE.to_string());
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                if let Ok(mut s) = sink.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        });
        Ok(GoProcess {
            child,
            lines,
            stderr,
        })
    }

    /// The last `max_chars` characters of its stderr so far.
    pub fn stderr_tail(&self, max_chars: usize) -> String {
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        let skip = stderr.chars().count().saturating_sub(max_chars);
        stderr.chars().skip(skip).collect()
    }

    /// Kills the process (if it still runs) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GoProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
