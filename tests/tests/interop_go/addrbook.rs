//! Address book interop: `addrbook.json` written by CometBFT's
//! `pex.AddrBook` and read by ours, the other way round, and the address
//! classes of spec §7.2 (validity, locality, routability, network group)
//! compared with CometBFT's own functions.

use crate::go::{GoPeer, Line};
use crate::scenarios::{args, report_entry, WAIT};
use mconn::identity::{NetAddr, NodeKey};
use mconn::pex::{
    is_local_ip, is_routable_ip, is_valid_ip, AddrBook, AddrGroup, BookConfig, BucketKind,
    KnownAddr, UnixTime,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// One address of the test book and what happens to it.
struct Planned {
    addr: &'static str,
    src: usize,
    good: bool,
    attempts: u32,
    bad: bool,
}

/// Sources (by index into this list): one IPv4, one IPv6.
const SOURCES: [&str; 2] = ["5.6.7.8:26656", "[2a00:1450:4001::1]:26656"];

/// Eight routable addresses (IPv4, IPv6, 6to4, a non-default port): three
/// marked good (old buckets, one attempted again afterwards), some
/// attempted, one banned.
const PLAN: [Planned; 8] = [
    planned("1.2.3.4:26656", 0, true, 0, false),
    planned("8.8.4.4:26656", 0, false, 2, false),
    planned("[2001:4860:4860::8888]:26656", 0, true, 1, false),
    planned("[2a01:4f8:1:2::3]:26657", 1, false, 0, false),
    planned("9.9.9.9:443", 1, false, 1, true),
    planned("172.32.0.1:1", 1, false, 0, false),
    planned("[2002:c000:204::1]:26656", 0, false, 3, false),
    planned("100.64.0.1:26656", 1, true, 0, false),
];

const fn planned(addr: &'static str, src: usize, good: bool, attempts: u32, bad: bool) -> Planned {
    Planned {
        addr,
        src,
        good,
        attempts,
        bad,
    }
}

fn with_id(seed: u8, socket: &str) -> NetAddr {
    let id = NodeKey::from_seed([seed; 32]).node_id();
    format!("{id}@{socket}").parse().expect("a test address")
}

fn planned_addr(i: usize) -> NetAddr {
    with_id(0x40 + i as u8, PLAN[i].addr)
}

fn source_addr(i: usize) -> NetAddr {
    with_id(0x30 + i as u8, SOURCES[i])
}

/// A path for `name` under the test target's tmp dir, any old file there
/// removed (tests run one at a time).
pub(crate) fn book_path(line: Line, name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("interop-go")
        .join(format!("books-{}", line.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// What both sides must agree on for one entry.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    ip: String,
    port: u64,
    src: String,
    bucket_type: u64,
    attempts: u64,
    buckets: Vec<u64>,
    last_attempt_us: u64,
    last_success_us: u64,
    last_ban_us: u64,
}

fn ours(e: &KnownAddr) -> Entry {
    Entry {
        ip: e.addr.ip.to_string(),
        port: u64::from(e.addr.port),
        src: e.src.to_string(),
        bucket_type: match e.kind {
            BucketKind::New => 1,
            BucketKind::Old => 2,
        },
        attempts: u64::from(e.attempts),
        buckets: e.buckets.iter().map(|&b| u64::from(b)).collect(),
        last_attempt_us: e.last_attempt.as_micros(),
        last_success_us: e.last_success.as_micros(),
        last_ban_us: e.last_ban.as_micros(),
    }
}

fn theirs(go: &mut GoPeer, v: &Value) -> Entry {
    let mut u = |k: &str| match v[k].as_u64() {
        Some(n) => n,
        None => go.fail(&format!("book_entry field {k}: {v}")),
    };
    Entry {
        ip: v["ip"].as_str().unwrap_or_default().to_string(),
        port: u("port"),
        src: v["src"].as_str().unwrap_or_default().to_string(),
        bucket_type: u("bucket_type"),
        attempts: u("attempts"),
        buckets: v["buckets"]
            .as_array()
            .map(|b| b.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default(),
        last_attempt_us: u("last_attempt_us"),
        last_success_us: u("last_success_us"),
        last_ban_us: u("last_ban_us"),
    }
}

/// Go's `book_entry` events by node ID.
fn go_entries(go: &mut GoPeer) -> BTreeMap<String, (Entry, Value)> {
    let mut out = BTreeMap::new();
    for v in go.all("book_entry") {
        let id = v["id"].as_str().unwrap_or_default().to_string();
        let e = theirs(go, &v);
        out.insert(id, (e, v));
    }
    out
}

fn now() -> UnixTime {
    UnixTime::from_system_time(SystemTime::now())
}

/// Go's book writes (in a +05:30 local zone, as a node would), ours reads.
pub fn go_writes_we_read(line: Line) {
    let path = book_path(line, "go-written.json");
    let entries: Vec<Value> = PLAN
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "addr": planned_addr(i).to_string(),
                "src": source_addr(p.src).to_string(),
                "good": p.good, "attempts": p.attempts, "bad": p.bad,
            })
        })
        .collect();
    let spec = json!({ "entries": entries }).to_string();
    let mut go = GoPeer::spawn(
        line,
        "addrbook writer",
        &args(&[
            "-scenario",
            "book-write",
            "-book",
            path.to_str().unwrap(),
            "-book-spec",
            &spec,
            "-tz-offset",
            "5h30m",
        ]),
    );
    go.expect_clean_exit(WAIT);
    let summary = go.wait("book", WAIT);
    let written = go_entries(&mut go);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("+05:30\""), "Go wrote local times");

    let (book, report) = match AddrBook::load(&path, BookConfig::default(), now()) {
        Ok(b) => b,
        Err(e) => go.fail(&format!("we could not load Go's book: {e}")),
    };
    let key: String = book.key().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(summary["key"], key.as_str(), "the book key survives");
    let loaded: BTreeMap<String, Entry> = book
        .snapshot()
        .iter()
        .map(|e| (e.addr.id.to_string(), ours(e)))
        .collect();
    let go_view: BTreeMap<String, &Entry> =
        written.iter().map(|(k, (e, _))| (k.clone(), e)).collect();
    let our_view: BTreeMap<String, &Entry> = loaded.iter().map(|(k, e)| (k.clone(), e)).collect();
    assert_eq!(
        our_view, go_view,
        "our book holds exactly Go's saved entries"
    );
    assert_eq!(
        (report.restored, report.rehashed, report.dropped),
        (written.len(), 0, 0)
    );

    // What Go did matches the plan: good ones old, attempts counted, the
    // banned one not saved at all (Go keeps bans in memory only).
    let banned = planned_addr(PLAN.iter().position(|p| p.bad).unwrap());
    let banned_ev = go.wait("banned", WAIT);
    assert_eq!(banned_ev["is_banned"], true, "Go banned it: {banned_ev}");
    assert!(!written.contains_key(&banned.id.to_string()));
    assert!(!book.has(&banned.id) && !book.is_banned(&banned.id));
    for (i, p) in PLAN.iter().enumerate().filter(|(_, p)| !p.bad) {
        let a = planned_addr(i);
        let e = book.get(&a.id).expect("entry");
        assert_eq!(e.addr, a);
        assert_eq!(e.src, source_addr(p.src));
        assert_eq!(e.kind == BucketKind::Old, p.good, "{a}");
        assert_eq!(e.attempts, p.attempts, "{a}");
    }
    let v6 = loaded.values().filter(|e| e.ip.contains(':')).count();
    let old = book.old_count();
    report_entry(
        line,
        "addrbook.json written by Go, read by us",
        &format!(
            "ok; {} entries ({old} old, {} new, {v6} IPv6) with the same id/ip/port/src/bucket type/buckets/attempts/times (µs), key kept, 0 rehashed; the banned one is not in Go's file",
            loaded.len(),
            loaded.len() - old
        ),
    );
}

/// Our book writes, Go's `NewAddrBook(..).OnStart()` reads.
pub fn we_write_go_reads(line: Line) {
    let path = book_path(line, "ours.json");
    let mut rng = rand_core::OsRng;
    let mut book = AddrBook::new(BookConfig::default(), &mut rng);
    let t = now();
    for (i, p) in PLAN.iter().enumerate() {
        let a = planned_addr(i);
        assert_eq!(
            book.add_address(t, a, source_addr(p.src), &mut rng),
            Ok(true)
        );
        if p.good {
            book.mark_good(t, &a.id);
        }
        for _ in 0..p.attempts {
            book.mark_attempt(t, &a.id);
        }
        if p.bad {
            assert!(book.mark_bad(t, &a.id, Duration::from_secs(24 * 3600)));
        }
    }
    book.save(&path).unwrap();
    let snapshot: BTreeMap<String, Entry> = book
        .snapshot()
        .iter()
        .map(|e| (e.addr.id.to_string(), ours(e)))
        .collect();
    assert_eq!(snapshot.len(), PLAN.len(), "the banned entry is saved too");

    let mut go = GoPeer::spawn(
        line,
        "addrbook reader",
        &args(&["-scenario", "book-read", "-book", path.to_str().unwrap()]),
    );
    go.expect_clean_exit(WAIT);
    let summary = go.wait("book", WAIT);
    let read = go_entries(&mut go);
    let key: String = book.key().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(summary["key"], key.as_str(), "Go keeps our key");
    assert_eq!(summary["size"], snapshot.len(), "Go's Size()");
    assert_eq!(summary["text_has_tabs"], true);
    let go_view: BTreeMap<String, &Entry> = read.iter().map(|(k, (e, _))| (k.clone(), e)).collect();
    let our_view: BTreeMap<String, &Entry> = snapshot.iter().map(|(k, e)| (k.clone(), e)).collect();
    assert_eq!(
        go_view, our_view,
        "Go's book holds exactly our saved entries"
    );
    for (id, (e, v)) in &read {
        if v["has"] != true || v["good"] != (e.bucket_type == 2) || v["banned"] != false {
            go.fail(&format!("Go's answers for {id}: {v}"));
        }
    }
    let banned_id = planned_addr(PLAN.iter().position(|p| p.bad).unwrap()).id;
    assert!(book.is_banned(&banned_id));
    let ban = &read[&banned_id.to_string()].0;
    assert!(
        ban.last_ban_us > t.as_micros(),
        "Go read the future ban time"
    );
    let old = read.values().filter(|(e, _)| e.bucket_type == 2).count();
    report_entry(
        line,
        "addrbook.json written by us, read by Go (OnStart)",
        &format!(
            "ok; Go's Size() = {} and its re-saved file has our {} entries ({old} old) with the same fields, buckets and key; our banned entry loads in Go as an ordinary new entry (IsBanned false: Go does not read bans)",
            summary["size"],
            read.len()
        ),
    );
}

/// Spec §7.2's classes, one line each, with the edges of each range.
const CLASS_TABLE: &[&str] = &[
    "1.2.3.4 1.0.0.0 11.0.0.1 224.0.0.1 100.64.0.1 255.255.255.254", // ordinary IPv4
    "0.0.0.0 :: ::ffff:0.0.0.0",                                     // unspecified
    "255.255.255.255 ::ffff:255.255.255.255",                        // broadcast
    "2001:db8::1 2001:db8:ffff::1 2001:db9::1",                      // RFC 3849
    "127.0.0.1 127.255.255.255 ::1 ::2 ::ffff:127.0.0.1",            // loopback
    "0.1.2.3 0.255.255.255",                                         // 0.0.0.0/8
    "10.0.0.1 10.255.255.255 ::ffff:10.1.2.3",                       // RFC 1918 /8
    "172.15.255.255 172.16.0.1 172.31.255.255 172.32.0.1",           // RFC 1918 /12
    "192.168.1.1 192.169.0.1",                                       // RFC 1918 /16
    "169.254.1.1 169.255.0.1",                                       // RFC 3927
    "fe80::1 fe80::ffff:ffff:ffff:ffff fe80:0:0:1::1 febf::1",       // RFC 4862
    "fc00::1 fdff:ffff::1 fe00::1",                                  // RFC 4193
    "2001:10::1 2001:1f:ffff::1 2001:20::1",                         // RFC 4843
    "::ffff:1.2.3.4 ::1.2.3.4",                                      // mapped, compatible
    "::ffff:0:1.2.3.4 64:ff9b::1.2.3.4 64:ff9b:1::1.2.3.4",          // RFC 6145, 6052
    "2002:c000:204::1 2002::1",                                      // RFC 3964 (6to4)
    "2001:0:4136:e378:8000:63bf:3fff:fdd2 2001:1::1",                // RFC 4380 (Teredo)
    "fd87:d87e:eb43:1234:5678::1 fd87:d87e:eb44::1",                 // OnionCat
    "2001:470::1 2001:470:abcd:1::1 2001:470:1bcd::1 2001:471::1",   // he.net
    "2001:4860:4860::8888 2a01:4f8:1:2::3 ff02::1 0:1:2:3::4",       // other IPv6
];

/// Our classification of every IP in the table equals CometBFT's.
pub fn addr_classes(line: Line) {
    let table: Vec<&str> = CLASS_TABLE
        .iter()
        .flat_map(|class| class.split_whitespace())
        .collect();
    let ips = table.join(",");
    let mut go = GoPeer::spawn(
        line,
        "address classes",
        &args(&["-scenario", "addr-class", "-ips", &ips]),
    );
    go.expect_clean_exit(WAIT);
    let classes = go.all("class");
    assert_eq!(classes.len(), table.len());
    let mut mismatches = Vec::new();
    let (mut routable, mut groups) = (0, std::collections::BTreeSet::new());
    for v in &classes {
        let text = v["ip"].as_str().unwrap_or_default();
        let ip: IpAddr = text.parse().expect("Rust parses what Go parsed");
        let mine = json!({
            "ip": text,
            "valid": is_valid_ip(ip),
            "local": is_local_ip(ip),
            "routable": is_routable_ip(ip),
            "group_strict": AddrGroup::of(ip, true).to_string(),
            "group_loose": AddrGroup::of(ip, false).to_string(),
        });
        for k in ["valid", "local", "routable", "group_strict", "group_loose"] {
            if mine[k] != v[k] {
                mismatches.push(format!("{text} {k}: Go {} ours {}", v[k], mine[k]));
            }
        }
        routable += usize::from(is_routable_ip(ip));
        groups.insert(AddrGroup::of(ip, false));
    }
    if !mismatches.is_empty() {
        go.fail(&format!(
            "classification differs:\n{}",
            mismatches.join("\n")
        ));
    }
    report_entry(
        line,
        "address classes (NetAddress.Valid/Local/Routable, addrbook groupKeyFor)",
        &format!(
            "ok; {} IPs × 5 answers equal ({routable} routable, {} distinct non-strict groups); strict and non-strict group keys from Go's own groupKeyFor",
            classes.len(),
            groups.len()
        ),
    );
}
