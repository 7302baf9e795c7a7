//! Optional send/receive rate caps: off by default, a non-blocking token
//! bucket when on, and `poll_timeout` says when sending may resume.

use core::time::Duration;

use mconn::conn::{ChannelConfig, Config, GrowBuf, MConnection};
use mconn::Instant;

fn open(config: Config) -> MConnection<GrowBuf> {
    let chans = [ChannelConfig::new(0x20, 1)
        .send_queue(1000)
        .recv_message_capacity(1 << 20)];
    MConnection::with_alloc(&config, &chans, Instant::ZERO).unwrap()
}

/// Drives the sender like an adapter: transmit whenever allowed, sleep to
/// `poll_timeout` otherwise. Returns bytes sent by `until`.
fn send_for(c: &mut MConnection<GrowBuf>, until: Instant) -> usize {
    let mut now = Instant::ZERO;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    for _ in 0..1_000_000 {
        while c.try_send(0x20, &[1u8; 10_000]).is_ok() {}
        total += c.poll_transmit(now, &mut buf);
        let next = c.poll_timeout().expect("keepalive or rate deadline");
        if next > until {
            return total;
        }
        now = next.max(now);
        c.handle_timeout(now);
    }
    panic!("unbounded");
}

#[test]
fn unlimited_by_default() {
    let mut c = open(Config::cometbft());
    c.try_send(0x20, &vec![0u8; 500_000]).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    assert!(c.poll_transmit(Instant::ZERO, &mut buf) > 500_000);
}

#[test]
fn send_rate_is_honoured_over_time() {
    let mut config = Config::cometbft();
    config.send_rate = Some(100_000);
    let mut c = open(config);
    let sent = send_for(&mut c, Instant::ZERO + Duration::from_secs(10));
    // 10 s at 100 kB/s plus the initial burst (100 ms worth, at least two packets).
    let expected = 1_000_000 + 10_000;
    assert!(
        sent.abs_diff(expected) < 15_000,
        "sent {sent}, expected ~{expected}"
    );
}

#[test]
fn rate_limited_sender_reports_when_to_resume() {
    let mut config = Config::cometbft();
    config.send_rate = Some(10_000);
    let mut c = open(config);
    c.try_send(0x20, &[0u8; 50_000]).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let first = c.poll_transmit(Instant::ZERO, &mut buf);
    assert!(first > 0 && first < 50_000);
    assert_eq!(c.poll_transmit(Instant::ZERO, &mut buf), 0);
    let resume = c.poll_timeout().unwrap();
    assert!(resume > Instant::ZERO && resume < Instant::ZERO + Duration::from_secs(1));
    c.handle_timeout(resume);
    assert!(c.poll_transmit(resume, &mut buf) > 0);
}

#[test]
fn recv_rate_back_pressures_input() {
    let mut sender = open(Config::cometbft());
    let mut config = Config::cometbft();
    config.recv_rate = Some(50_000);
    let mut receiver = open(config);
    sender.try_send(0x20, &[9u8; 200_000]).unwrap();
    let mut wire = vec![0u8; 1 << 20];
    let n = sender.poll_transmit(Instant::ZERO, &mut wire);
    let mut offset = 0;
    let mut now = Instant::ZERO;
    for _ in 0..10_000 {
        offset += receiver.handle_input(now, &wire[offset..n]).unwrap();
        if offset == n {
            break;
        }
        now = receiver.poll_timeout().unwrap();
        receiver.handle_timeout(now);
    }
    assert_eq!(offset, n);
    // ~200 kB at 50 kB/s minus the 10 kB initial allowance: close to 4 s.
    let secs = now.as_micros() as f64 / 1e6;
    assert!((3.5..4.5).contains(&secs), "took {secs} s");
    assert_eq!(receiver.poll_message().map(|(_, m)| m.len()), Some(200_000));
}

/// Under a send cap kept busy by a bulk channel, a higher-priority message
/// goes at once on a little credit not yet earned, instead of waiting for
/// the next refill; the bulk channel then waits for that debt, and a
/// high-priority channel alone borrows nothing.
#[test]
fn an_urgent_message_does_not_wait_for_the_bulk_channels_credit() {
    let mut config = Config::cometbft();
    config.send_rate = Some(100_000);
    let chans = [
        ChannelConfig::new(0x20, 1)
            .send_queue(1000)
            .recv_message_capacity(1 << 20),
        ChannelConfig::new(0x22, 10).send_queue(10),
    ];
    let mut c = MConnection::with_alloc(&config, &chans, Instant::ZERO).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    c.try_send(0x20, &[1u8; 200_000]).unwrap();
    let burst = c.poll_transmit(Instant::ZERO, &mut buf);
    assert!(burst > 0 && burst < 200_000);
    assert_eq!(
        c.poll_transmit(Instant::ZERO, &mut buf),
        0,
        "the cap holds bulk"
    );
    let resume = c.poll_timeout().unwrap();
    assert!(resume > Instant::ZERO);

    c.try_send(0x22, b"vote").unwrap();
    let n = c.poll_transmit(Instant::ZERO, &mut buf);
    assert!(n > 0 && n < 20, "only the vote went: {n} bytes");
    assert_eq!(&buf[n - 4..n], b"vote");
    assert_eq!(c.poll_transmit(Instant::ZERO, &mut buf), 0);
    // The bulk channel pays the vote back: it resumes later than before.
    assert!(c.poll_timeout().unwrap() > resume);

    // With the bulk channel empty, the vote channel is the lowest busy one:
    // it waits for credit like any other.
    let mut alone = MConnection::with_alloc(&config, &chans, Instant::ZERO).unwrap();
    alone.try_send(0x22, &[2u8; 20_000]).unwrap();
    assert!(alone.poll_transmit(Instant::ZERO, &mut buf) > 0);
    alone.try_send(0x22, b"vote").unwrap();
    assert_eq!(alone.poll_transmit(Instant::ZERO, &mut buf), 0);
}

/// The receive cap alike: once bulk input used up the credit, a packet on
/// a higher-priority channel is still taken (on credit not yet earned),
/// the bulk channel's next packet is not.
#[test]
fn an_urgent_packet_is_read_while_the_receive_cap_holds_bulk() {
    let chans = [
        ChannelConfig::new(0x20, 1)
            .send_queue(10)
            .recv_message_capacity(1 << 20),
        ChannelConfig::new(0x22, 10).send_queue(10),
    ];
    let mut sender = MConnection::with_alloc(&Config::cometbft(), &chans, Instant::ZERO).unwrap();
    let mut wire = vec![0u8; 1 << 20];
    sender.try_send(0x20, &[1u8; 200_000]).unwrap();
    let bulk = sender.poll_transmit(Instant::ZERO, &mut wire);
    let bulk = wire[..bulk].to_vec();
    sender.try_send(0x22, b"vote").unwrap();
    let n = sender.poll_transmit(Instant::ZERO, &mut wire);
    let vote = wire[..n].to_vec();

    let mut config = Config::cometbft();
    config.recv_rate = Some(100_000);
    let mut receiver = MConnection::with_alloc(&config, &chans, Instant::ZERO).unwrap();
    let taken = receiver.handle_input(Instant::ZERO, &bulk).unwrap();
    assert!(
        taken > 0 && taken < bulk.len(),
        "the cap stops bulk: {taken}"
    );
    assert_eq!(receiver.handle_input(Instant::ZERO, &bulk[taken..]), Ok(0));
    assert_eq!(receiver.handle_input(Instant::ZERO, &vote), Ok(vote.len()));
    assert_eq!(receiver.poll_message(), Some((0x22, &b"vote"[..])));
    assert_eq!(receiver.handle_input(Instant::ZERO, &bulk[taken..]), Ok(0));
}
