//! Runs fuzz inputs through a target without libFuzzer (debugging aid):
//! `cargo run -p mconn-tests --example fuzz_run -- <target> <file>...`

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: fuzz_run <target> <file>...");
    let run = mconn_tests::fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, run)| *run)
        .unwrap_or_else(|| panic!("unknown target {target}"));
    for path in args {
        let data = std::fs::read(&path).expect("readable input");
        run(&data);
        println!("{path}: ok");
    }
}
