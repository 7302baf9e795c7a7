//! CometBFT's `TestDeriveSecretsAndChallengeGolden` (spec §2.9): all 32
//! lines, columns 1–4 (DH secret, loc_is_least, recv key, send key).

use mconn::secret::handshake::derive_keys;

fn unhex32(s: &str) -> [u8; 32] {
    assert_eq!(s.len(), 64, "{s}");
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn golden() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let local = format!("{dir}/tests/data/TestDeriveSecretsAndChallengeGolden.golden");
    let shared = format!("{dir}/../shared/vectors/TestDeriveSecretsAndChallengeGolden.golden");
    let text = std::fs::read_to_string(&local).expect("golden file copy in tests/data");
    if let Ok(upstream) = std::fs::read_to_string(shared) {
        assert_eq!(
            text, upstream,
            "tests/data copy differs from shared/vectors"
        );
    }
    text
}

#[test]
fn derive_secrets_golden() {
    let text = golden();
    let mut lines = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols.len(), 5, "{line}");
        let dh = unhex32(cols[0]);
        let loc_is_least = match cols[1] {
            "true" => true,
            "false" => false,
            other => panic!("bad bool {other}"),
        };
        let keys = derive_keys(&dh, loc_is_least);
        assert_eq!(keys.recv, unhex32(cols[2]), "recv key, line {lines}");
        assert_eq!(keys.send, unhex32(cols[3]), "send key, line {lines}");
        lines += 1;
    }
    assert_eq!(lines, 32);
}
