//! Atomic file writes: a temporary file in the same directory, flushed to
//! disk, then moved into place, so a reader never sees half a file.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A fresh temporary path beside `path` (same directory, so the final
/// rename or link stays on one file system).
fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp.{}.{n}", std::process::id()))
}

/// Flushes the directory holding `path`, so a rename survives a crash
/// (best effort; not all platforms can open directories).
fn sync_parent(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

/// Runs `write` on a new temporary file beside `path` and flushes it;
/// on error the temporary file is removed.
fn stage(path: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<PathBuf> {
    let tmp = temp_path(path);
    let staged = write(&tmp).and_then(|()| fs::File::open(&tmp)?.sync_all());
    if let Err(e) = staged {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Replaces (or creates) `path` with `contents`, atomically.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("config.toml");
/// mconn_node::fs::write_atomic(&path, b"moniker = \"a\"\n").unwrap();
/// mconn_node::fs::write_atomic(&path, b"moniker = \"b\"\n").unwrap();
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "moniker = \"b\"\n");
/// ```
pub fn write_atomic(path: &Path, contents: &[u8]) -> io::Result<()> {
    let tmp = stage(path, |tmp| write_new(tmp, contents))?;
    if let Err(e) = fs::rename(&tmp, path) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path);
    Ok(())
}

/// Creates `path` from what `write` puts into a temporary file, atomically
/// and never replacing an existing file: `Ok(false)` if `path` exists
/// (also when another process created it meanwhile).
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("node_key.json");
/// let write = |text: &'static str| move |tmp: &std::path::Path| std::fs::write(tmp, text);
/// assert!(mconn_node::fs::create_atomic(&path, write("first")).unwrap());
/// assert!(!mconn_node::fs::create_atomic(&path, write("second")).unwrap());
/// assert_eq!(std::fs::read_to_string(&path).unwrap(), "first");
/// ```
pub fn create_atomic(path: &Path, write: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<bool> {
    if path.exists() {
        return Ok(false);
    }
    let tmp = stage(path, write)?;
    // A hard link fails if `path` exists: no window where it is replaced.
    let created = match fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // File systems without hard links: check, then rename.
        Err(_) if path.exists() => Ok(false),
        Err(_) => fs::rename(&tmp, path).map(|()| true),
    };
    let _ = fs::remove_file(&tmp);
    if matches!(created, Ok(true)) {
        sync_parent(path);
    }
    created
}

/// Writes `contents` into a file that must not exist yet.
fn write_new(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    f.write_all(contents)
}

/// Creates `dir` and its parents; on Unix new directories get mode 0700
/// (as CometBFT's home directories).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp."))
            .collect()
    }

    #[test]
    fn failed_writes_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        let err = create_atomic(&path, |_| Err(io::Error::other("boom"))).unwrap_err();
        assert_eq!(err.to_string(), "boom");
        assert!(!path.exists());
        assert!(leftovers(dir.path()).is_empty());
        // Rename onto a directory fails: the old content stays, no temp file.
        fs::create_dir(&path).unwrap();
        assert!(write_atomic(&path, b"data").is_err());
        assert!(path.is_dir());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn create_keeps_existing_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(create_atomic(&path, |t| fs::write(t, "1")).unwrap());
        assert!(!create_atomic(&path, |t| fs::write(t, "2")).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "1");
        assert!(leftovers(dir.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn private_dirs() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).unwrap();
        create_private_dir(&sub).unwrap();
        assert_eq!(
            fs::metadata(&sub).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
}
