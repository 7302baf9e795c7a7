//! What every mconn side of the bench shares: the two channels (the Go side
//! uses the same ids, priorities and limits), randomness and a wall clock
//! shared by processes on one machine.

use mconn::conn::ChannelConfig;

/// The bulk channel (priority 1).
pub const BULK: u8 = 0x40;
/// The urgent channel (priority 10).
pub const URGENT: u8 = 0x22;

/// The bench channels: urgent (priority 10) and bulk (priority 1), queues of
/// 100 messages, 2 MiB message capacity (the Go side uses the same).
pub fn channels() -> [ChannelConfig; 2] {
    [
        ChannelConfig::new(URGENT, 10)
            .send_queue(100)
            .recv_message_capacity(2 << 20),
        ChannelConfig::new(BULK, 1)
            .send_queue(100)
            .recv_message_capacity(2 << 20),
    ]
}

/// Unix time in nanoseconds (shared by processes on one machine).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// 32 random bytes.
pub fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).expect("OS randomness");
    b
}
