//! Writes the seed corpora (real traffic, NodeInfo and PEX encodings,
//! operation scripts) to `fuzz/corpus/<target>/seed-*`:
//! `cargo run -p mconn-tests --example gen_corpus`

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let seeds = mconn_tests::fuzz::seeds::seeds();
    for (target, name, data) in &seeds {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        std::fs::write(dir.join(name), data).expect("write seed");
    }
    println!("wrote {} seeds under {}", seeds.len(), root.display());
}
