//! Replays every committed fuzz corpus and regression input through the
//! same functions the fuzz targets call (`mconn_tests::fuzz`), on stable.
//!
//! Corpus files live in `fuzz/corpus/<target>/`, minimized crash and
//! regression inputs in `fuzz/regressions/<target>/`.

use std::path::{Path, PathBuf};

use mconn_tests::fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let mut count = 0;
    for kind in ["corpus", "regressions"] {
        for path in files(&fuzz_dir().join(kind).join(target)) {
            let data = std::fs::read(&path).expect("readable corpus file");
            let result = std::panic::catch_unwind(|| run(&data));
            assert!(result.is_ok(), "{target}: {} panicked", path.display());
            count += 1;
        }
    }
    count
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (target, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        assert!(
            !files(&dir).is_empty(),
            "no corpus for {target} in {}",
            dir.display()
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "no fuzz target file for {target}"
        );
    }
}

/// One test per target, so a finding names its target.
macro_rules! replay_tests {
    ($($target:ident),* $(,)?) => {$(
        #[test]
        fn $target() {
            let n = replay(stringify!($target), mconn_tests::fuzz::$target);
            assert!(n > 0, "empty corpus");
        }
    )*};
}

replay_tests!(
    packet_stream,
    mconn_ops,
    node_info,
    pex,
    secret_handshake,
    secret_frames,
    auth_sig,
    session,
    switch_policy,
    addrbook,
    addrbook_json,
    pex_reactor,
    config_toml,
);

#[test]
fn targets_are_all_replayed() {
    // Keep the list above in step with `TARGETS`.
    assert_eq!(TARGETS.len(), 13);
}

#[test]
fn generated_seeds_run_clean() {
    for (target, name, data) in mconn_tests::fuzz::seeds::seeds() {
        let run = TARGETS
            .iter()
            .find(|(t, _)| *t == target)
            .map(|(_, run)| *run)
            .expect("seed for a known target");
        let result = std::panic::catch_unwind(|| run(&data));
        assert!(result.is_ok(), "{target}: seed {name} panicked");
    }
}

#[test]
fn trivial_inputs_do_not_panic() {
    for (_, run) in TARGETS {
        run(&[]);
        run(&[0]);
        run(&[0xff; 64]);
        run(&[0x00; 300]);
    }
}
