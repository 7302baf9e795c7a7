//! A FIFO of length-prefixed messages inside one [`ByteBuf`]: used for each
//! channel's send queue and its receive queue (where the newest message may
//! still be in reassembly).
//!
//! Layout: `[head .. tail)` holds `u32_le(len) || bytes` records. The last
//! record may be *open* (its length not final yet). Space is reclaimed by
//! resetting when empty and by compacting when an append would not fit at
//! the tail.

use super::buf::ByteBuf;

/// Bytes of the per-message length header.
pub const HEADER: usize = 4;

#[derive(Debug)]
pub(crate) struct MsgFifo<B> {
    buf: B,
    head: usize,
    tail: usize,
    /// Complete messages stored.
    complete: usize,
    /// Start of the open (in reassembly) record, if any.
    open: Option<usize>,
}

impl<B: ByteBuf> MsgFifo<B> {
    pub fn new(buf: B) -> Self {
        MsgFifo {
            buf,
            head: 0,
            tail: 0,
            complete: 0,
            open: None,
        }
    }

    pub fn limit(&self) -> usize {
        self.buf.limit()
    }

    /// Bytes in use (headers included).
    pub fn used(&self) -> usize {
        self.tail - self.head
    }

    pub fn complete(&self) -> usize {
        self.complete
    }

    pub fn has_open(&self) -> bool {
        self.open.is_some()
    }

    /// Length of the open record's data so far.
    pub fn open_len(&self) -> usize {
        self.open.map_or(0, |start| self.tail - start - HEADER)
    }

    /// Whether `extra` more bytes fit, counting a new header if `new_record`.
    pub fn fits(&self, extra: usize, new_record: bool) -> bool {
        let need = extra.saturating_add(if new_record { HEADER } else { 0 });
        self.used().saturating_add(need) <= self.buf.limit()
    }

    /// Makes room for `extra` bytes at the tail; caller checked `fits`.
    fn reserve(&mut self, extra: usize) -> bool {
        let end = self.tail + extra;
        if end <= self.buf.limit() {
            return self.buf.grow_to(end);
        }
        // Compact: move live records to the front.
        let live = self.used();
        if live + extra > self.buf.limit() || !self.buf.grow_to(live + extra) {
            return false;
        }
        let shift = self.head;
        self.buf.bytes_mut().copy_within(self.head..self.tail, 0);
        self.head = 0;
        self.tail = live;
        if let Some(open) = self.open.as_mut() {
            *open -= shift;
        }
        true
    }

    fn write(&mut self, data: &[u8]) {
        let end = self.tail + data.len();
        self.buf.bytes_mut()[self.tail..end].copy_from_slice(data);
        self.tail = end;
    }

    /// Appends one complete message; `false` if it does not fit.
    pub fn push(&mut self, msg: &[u8]) -> bool {
        debug_assert!(self.open.is_none());
        let Ok(len) = u32::try_from(msg.len()) else {
            return false;
        };
        if !self.fits(msg.len(), true) || !self.reserve(HEADER + msg.len()) {
            return false;
        }
        self.write(&len.to_le_bytes());
        self.write(msg);
        self.complete += 1;
        true
    }

    /// Appends `data` to the open record, opening one if needed.
    pub fn append(&mut self, data: &[u8]) -> bool {
        let new_record = self.open.is_none();
        let extra = data.len() + if new_record { HEADER } else { 0 };
        if !self.fits(data.len(), new_record) || !self.reserve(extra) {
            return false;
        }
        if new_record {
            self.open = Some(self.tail);
            self.write(&[0; HEADER]);
        }
        self.write(data);
        true
    }

    /// Closes the open record (opening an empty one first if none is open).
    pub fn finish(&mut self) -> bool {
        if self.open.is_none() && !self.append(&[]) {
            return false;
        }
        let Some(start) = self.open.take() else {
            return false;
        };
        let len = (self.tail - start - HEADER) as u32;
        self.buf.bytes_mut()[start..start + HEADER].copy_from_slice(&len.to_le_bytes());
        self.complete += 1;
        true
    }

    /// The oldest complete message.
    pub fn front(&self) -> Option<&[u8]> {
        if self.complete == 0 {
            return None;
        }
        let bytes = self.buf.bytes();
        let mut len = [0u8; HEADER];
        len.copy_from_slice(&bytes[self.head..self.head + HEADER]);
        let start = self.head + HEADER;
        Some(&bytes[start..start + u32::from_le_bytes(len) as usize])
    }

    /// Drops the oldest complete message.
    pub fn pop(&mut self) {
        let Some(len) = self.front().map(<[u8]>::len) else {
            return;
        };
        self.head += HEADER + len;
        self.complete -= 1;
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
        }
    }

    /// Drops everything (abort).
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.complete = 0;
        self.open = None;
    }

    pub fn shrink(&mut self) {
        if self.used() == 0 {
            self.head = 0;
            self.tail = 0;
            self.buf.shrink_to(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_pop_in_order_and_reuse_space() {
        let mut f = MsgFifo::new([0u8; 32]);
        assert!(f.push(b"abc"));
        assert!(f.push(b""));
        assert!(f.push(b"0123456789"));
        assert!(!f.push(b"0123456789ab")); // 7 + 4 + 14 + 16 > 32
        assert_eq!(f.front(), Some(&b"abc"[..]));
        f.pop();
        assert_eq!(f.front(), Some(&b""[..]));
        f.pop();
        // Compaction makes room at the tail.
        assert!(f.push(b"0123456789ab"));
        assert_eq!(f.front(), Some(&b"0123456789"[..]));
        f.pop();
        assert_eq!(f.front(), Some(&b"0123456789ab"[..]));
        f.pop();
        assert_eq!(f.front(), None);
        assert_eq!(f.used(), 0);
    }

    #[test]
    fn open_record_reassembles_behind_complete_ones() {
        let mut f = MsgFifo::new([0u8; 24]);
        assert!(f.push(b"xy"));
        assert!(f.append(b"he"));
        assert!(f.append(b"llo"));
        assert_eq!(f.open_len(), 5);
        assert_eq!(f.complete(), 1);
        assert!(f.finish());
        assert_eq!(f.complete(), 2);
        f.pop();
        assert_eq!(f.front(), Some(&b"hello"[..]));
        assert!(f.finish()); // empty message
        f.pop();
        assert_eq!(f.front(), Some(&b""[..]));
    }

    #[test]
    fn refuses_what_does_not_fit() {
        let mut f = MsgFifo::new([0u8; 8]);
        assert!(!f.push(b"12345"));
        assert!(f.append(b"1234"));
        assert!(!f.append(b"5"));
        assert!(f.fits(0, false));
    }
}
