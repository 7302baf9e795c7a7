//! A FIFO of length-prefixed messages inside one [`ByteBuf`]: used for each
//! channel's send queue and its receive queue (where the newest message may
//! still be in reassembly).
//!
//! Layout: `u32_le(len) || bytes` records in `[head .. tail)`, or, once
//! appends wrapped around to the front, in `[head .. wrap)` then `[0 ..
//! tail)` (a ring of contiguous records, so every message stays one
//! slice). The last record may be *open* (its length not final yet). When
//! the tail reaches the end, appends continue at the front if the room
//! before the oldest record holds them (moving only an open record);
//! otherwise the live records are compacted to the front. (Compacting
//! every time moved about two bytes for each byte sent of 1 MiB
//! messages.)

use super::buf::ByteBuf;

/// Bytes of the per-message length header.
pub const HEADER: usize = 4;

#[derive(Debug)]
pub(crate) struct MsgFifo<B> {
    buf: B,
    head: usize,
    tail: usize,
    /// End of the older records once appends wrapped to the front (then
    /// `tail <= head`, and `[head .. wrap)` holds at least one record).
    wrap: Option<usize>,
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
            wrap: None,
            complete: 0,
            open: None,
        }
    }

    pub fn limit(&self) -> usize {
        self.buf.limit()
    }

    /// Bytes in use (headers included).
    pub fn used(&self) -> usize {
        match self.wrap {
            Some(end) => end - self.head + self.tail,
            None => self.tail - self.head,
        }
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
    /// While wrapped, only the room before the oldest record counts (it
    /// grows as messages are taken).
    pub fn fits(&self, extra: usize, new_record: bool) -> bool {
        let need = extra.saturating_add(if new_record { HEADER } else { 0 });
        self.used().saturating_add(need) <= self.buf.limit()
            && self
                .wrap
                .is_none_or(|_| self.tail.saturating_add(need) <= self.head)
    }

    /// Makes room for `extra` bytes at the tail; caller checked `fits`.
    fn reserve(&mut self, extra: usize) -> bool {
        if self.wrap.is_some() {
            return self.tail + extra <= self.head; // allocated: we were there
        }
        let end = self.tail + extra;
        if end <= self.buf.limit() {
            return self.buf.grow_to(end);
        }
        // Continue at the front, before the oldest record, moving only the
        // open record (if any).
        let start = self.open.unwrap_or(self.tail);
        let moving = self.tail - start;
        if moving + extra <= self.head {
            self.buf.bytes_mut().copy_within(start..self.tail, 0);
            if start > self.head {
                self.wrap = Some(start);
            } else {
                self.head = 0; // only the open record was live
            }
            if let Some(open) = self.open.as_mut() {
                *open = 0;
            }
            self.tail = moving;
            return true;
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
        if self.wrap == Some(self.head) {
            self.wrap = None;
            self.head = 0;
        }
        // (While wrapped the tail is below the head, so this means empty.)
        if self.head == self.tail {
            self.head = 0;
            self.tail = 0;
        }
    }

    /// Drops everything (abort).
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.wrap = None;
        self.complete = 0;
        self.open = None;
    }

    pub fn shrink(&mut self) {
        if self.used() == 0 {
            self.head = 0;
            self.tail = 0;
            self.wrap = None;
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
    fn appends_wrap_to_the_front_instead_of_moving_queued_messages() {
        // Room for three 8-byte messages (12 bytes each with the header).
        let mut f = MsgFifo::new([0u8; 36]);
        for m in [b"aaaaaaaa", b"bbbbbbbb", b"cccccccc"] {
            assert!(f.push(m));
        }
        assert!(!f.fits(8, true));
        f.pop();
        // "dddddddd" goes where "aaaaaaaa" was; "bbbbbbbb" stays put.
        assert!(f.fits(8, true));
        assert!(f.push(b"dddddddd"));
        assert_eq!((f.head, f.tail, f.wrap), (12, 12, Some(36)));
        assert!(!f.fits(0, true)); // the front room is used up
        assert_eq!(f.front(), Some(&b"bbbbbbbb"[..]));
        f.pop();
        assert!(f.push(b"eeeeeeee"));
        f.pop();
        // The older records are gone: reading continues at the front.
        assert_eq!(f.wrap, None);
        assert_eq!(f.front(), Some(&b"dddddddd"[..]));
        f.pop();
        assert_eq!(f.front(), Some(&b"eeeeeeee"[..]));
        assert_eq!(f.used(), 12);
    }

    #[test]
    fn an_open_record_moves_alone_when_appends_wrap() {
        let mut f = MsgFifo::new([0u8; 32]);
        assert!(f.push(b"0123456789")); // 14 bytes
        assert!(f.append(b"xy")); // open record at 14..20
        f.pop(); // only the open record is live, at 14
        assert!(f.append(b"0123456789ab")); // 20 + 12 = 32: fits at the end
        assert!(f.append(b"!")); // does not: the open record moves to 0
        assert_eq!((f.head, f.wrap, f.open), (0, None, Some(0)));
        assert!(f.finish());
        assert_eq!(f.front(), Some(&b"xy0123456789ab!"[..]));
    }

    /// Random pushes, appends, finishes and pops against a `VecDeque`
    /// model: every message comes back intact and in order, `used` counts
    /// exactly the live records, and an operation the fifo refuses is one
    /// that `fits` said would not fit.
    #[test]
    fn matches_a_queue_model() {
        use proptest::prelude::*;
        use std::collections::VecDeque;
        use std::vec::Vec;

        #[derive(Clone, Debug)]
        enum Op {
            Push(usize),
            Append(usize),
            Finish,
            Pop,
        }
        let op = prop_oneof![
            (0usize..40).prop_map(Op::Push),
            (0usize..40).prop_map(Op::Append),
            Just(Op::Finish),
            Just(Op::Pop),
            Just(Op::Pop),
        ];
        proptest!(|(ops in proptest::collection::vec(op, 1..200))| {
            let mut f = MsgFifo::new([0u8; 96]);
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let mut open: Option<Vec<u8>> = None;
            let mut next = 0u8;
            let mut bytes = |n: usize| -> Vec<u8> {
                (0..n).map(|_| { next = next.wrapping_add(1); next }).collect()
            };
            for op in ops {
                match op {
                    Op::Push(n) if open.is_none() => {
                        let m = bytes(n);
                        let fits = f.fits(n, true);
                        prop_assert_eq!(f.push(&m), fits);
                        if fits { model.push_back(m); }
                    }
                    Op::Push(_) => {}
                    Op::Append(n) => {
                        let d = bytes(n);
                        let fits = f.fits(n, open.is_none());
                        prop_assert_eq!(f.append(&d), fits);
                        if fits { open.get_or_insert_with(Vec::new).extend_from_slice(&d); }
                    }
                    Op::Finish => {
                        let fits = open.is_some() || f.fits(0, true);
                        prop_assert_eq!(f.finish(), fits);
                        if fits { model.push_back(open.take().unwrap_or_default()); }
                    }
                    Op::Pop => {
                        prop_assert_eq!(f.front(), model.front().map(Vec::as_slice));
                        f.pop();
                        model.pop_front();
                    }
                }
                let live: usize = model.iter().map(|m| HEADER + m.len()).sum::<usize>()
                    + open.as_ref().map_or(0, |o| HEADER + o.len());
                prop_assert_eq!(f.used(), live);
                prop_assert_eq!(f.complete(), model.len());
                prop_assert_eq!(f.open_len(), open.as_ref().map_or(0, Vec::len));
            }
        });
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
