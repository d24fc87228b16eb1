//! The RAM ring: the newest log lines in a fixed number of bytes, each with
//! a sequence number, so a reader can poll for what is new (`ring SEQ`).
//!
//! Layout: a byte array used circularly; each record is a 2-byte
//! little-endian length and the line (without its newline). Pushing a line
//! evicts the oldest records until it fits. Allocated once; never panics.

pub struct Ring {
    buf: Vec<u8>,
    /// Offset of the oldest record.
    head: usize,
    /// Bytes in use.
    used: usize,
    /// Records held.
    lines: u64,
    /// Sequence number of the newest record (0: none yet).
    last: u64,
}

impl Ring {
    /// A ring of `cap` bytes (at least 16).
    pub fn new(cap: usize) -> Self {
        Ring {
            buf: vec![0; cap.max(16)],
            head: 0,
            used: 0,
            lines: 0,
            last: 0,
        }
    }

    fn cap(&self) -> usize {
        self.buf.len()
    }

    fn at(&self, off: usize) -> u8 {
        self.buf.get(off % self.cap()).copied().unwrap_or(0)
    }

    fn set(&mut self, off: usize, b: u8) {
        let cap = self.cap();
        if let Some(x) = self.buf.get_mut(off % cap) {
            *x = b;
        }
    }

    fn record_len(&self, off: usize) -> usize {
        usize::from(u16::from_le_bytes([self.at(off), self.at(off + 1)]))
    }

    fn pop(&mut self) {
        if self.lines == 0 {
            return;
        }
        let n = 2 + self.record_len(self.head);
        self.head = (self.head + n) % self.cap();
        self.used = self.used.saturating_sub(n);
        self.lines -= 1;
    }

    /// Stores `line` (a trailing newline is dropped; cut to what fits).
    pub fn push(&mut self, line: &[u8]) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let max = (self.cap() - 2).min(usize::from(u16::MAX));
        let line = line.get(..line.len().min(max)).unwrap_or(&[]);
        let need = 2 + line.len();
        while self.cap() - self.used < need && self.lines > 0 {
            self.pop();
        }
        let start = self.head + self.used;
        let len = (line.len() as u16).to_le_bytes();
        self.set(start, len[0]);
        self.set(start + 1, len[1]);
        // Copy in at most two pieces.
        let cap = self.cap();
        let from = (start + 2) % cap;
        let first = line.len().min(cap - from);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(from..from + first), line.get(..first)) {
            dst.copy_from_slice(src);
        }
        let rest = line.get(first..).unwrap_or(&[]);
        if let Some(dst) = self.buf.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.used += need;
        self.lines += 1;
        self.last += 1;
    }

    /// Sequence number of the newest line (0 when none was ever stored).
    pub fn last_seq(&self) -> u64 {
        self.last
    }

    /// Lines held now.
    pub fn len(&self) -> u64 {
        self.lines
    }

    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    /// Calls `f` with each line whose sequence number is greater than `after`,
    /// oldest first. A line may come in two pieces (where it wraps).
    pub fn for_each_after(&self, after: u64, mut f: impl FnMut(u64, &[u8], &[u8])) {
        let first_seq = self.last + 1 - self.lines;
        let mut off = self.head;
        for i in 0..self.lines {
            let seq = first_seq + i;
            let n = self.record_len(off);
            let s = (off + 2) % self.cap();
            if seq > after {
                let a = n.min(self.cap() - s);
                let p1 = self.buf.get(s..s + a).unwrap_or(&[]);
                let p2 = self.buf.get(..n - a).unwrap_or(&[]);
                f(seq, p1, p2);
            }
            off = (off + 2 + n) % self.cap();
        }
    }

    /// The reply of the `ring [SEQ]` command: `seq N\n`, then each line
    /// newer than `after`, one per line.
    pub fn reply(&self, after: u64) -> String {
        let mut out = format!("seq {}\n", self.last);
        self.for_each_after(after, |_, a, b| {
            out.push_str(&String::from_utf8_lossy(a));
            out.push_str(&String::from_utf8_lossy(b));
            out.push('\n');
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(r: &Ring, after: u64) -> Vec<(u64, String)> {
        let mut v = Vec::new();
        r.for_each_after(after, |s, a, b| {
            let mut x = a.to_vec();
            x.extend_from_slice(b);
            v.push((s, String::from_utf8(x).unwrap()));
        });
        v
    }

    #[test]
    fn sequence_and_eviction() {
        let mut r = Ring::new(32);
        assert_eq!(r.reply(0), "seq 0\n");
        r.push(b"aaaa\n"); // 6 bytes
        r.push(b"bbbbbbbb"); // 10
        r.push(b"cccccccccc"); // 12 -> 28 used
        assert_eq!(r.len(), 3);
        assert_eq!(r.reply(0), "seq 3\naaaa\nbbbbbbbb\ncccccccccc\n");
        assert_eq!(r.reply(2), "seq 3\ncccccccccc\n");
        assert_eq!(r.reply(3), "seq 3\n");
        assert_eq!(r.reply(99), "seq 3\n");
        r.push(b"dddddd"); // 8: evicts aaaa; wraps
        assert_eq!(
            lines(&r, 0),
            [
                (2, "bbbbbbbb".into()),
                (3, "cccccccccc".into()),
                (4, "dddddd".into())
            ]
        );
        // Many wraps keep the newest lines intact.
        for i in 0..1000u32 {
            r.push(format!("line{i}").as_bytes());
        }
        let got = lines(&r, 0);
        assert_eq!(got.last().unwrap(), &(1004, "line999".to_string()));
        for (s, l) in &got {
            assert_eq!(l, &format!("line{}", s - 5));
        }
        assert_eq!(r.last_seq(), 1004);
    }

    #[test]
    fn oversized_and_empty_lines() {
        let mut r = Ring::new(16);
        r.push(&[b'x'; 100]);
        assert_eq!(lines(&r, 0), [(1, "x".repeat(14))]);
        r.push(b"");
        r.push(b"\n");
        assert_eq!(r.last_seq(), 3);
        assert_eq!(r.reply(1), "seq 3\n\n\n");
        let mut r = Ring::new(0);
        r.push(b"abc");
        assert_eq!(r.last_seq(), 1);
    }
}
