mod common;
use common::*;
use std::time::Duration;
use mconn_tokio::{connect, Listener};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dbg() {
    let listener = Listener::bind("127.0.0.1:0", config(2, true)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let a = config(1, true);
    let (out, inb) = tokio::join!(connect(&a, addr, None), listener.accept());
    let (a, b) = (out.unwrap(), inb.unwrap().0);
    for len in [0usize, 10, 1000, 1024, 1025, 5000, 65536, 200_000, MIB] {
        let r = tokio::time::timeout(Duration::from_secs(5), async {
            a.send(0x10, &payload(0x10, 0, len)).await.unwrap();
            b.recv(0x10).await.unwrap()
        }).await;
        eprintln!("len {len}: {:?} a={:?} b={:?}", r.as_ref().map(|v| v.len()), a.stats(), b.stats());
        if r.is_err() { eprintln!("a ch {:?}\nb ch {:?}", a.channel_stats(0x10), b.channel_stats(0x10)); break; }
    }
}
