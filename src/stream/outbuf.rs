//! The bytes waiting to go to the server.
//!
//! Writes to a non-blocking socket may take only part of what is offered;
//! the buffer keeps the rest, in order, for the next writable event.

#[derive(Debug, Default)]
pub struct OutBuffer {
    buf: Vec<u8>,
    /// Bytes before this index were written already.
    pos: usize,
}

impl OutBuffer {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer to write more into, in place (a stanza serialized
    /// straight into it, without a string in between).
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        &mut self.buf
    }

    /// What is still to be written.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            // A burst (an announcement to every user) should not pin its
            // memory for the life of the connection.
            if self.buf.capacity() > 1 << 20 {
                self.buf.shrink_to(64 * 1024);
            }
        } else if self.pos > 64 * 1024 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_writes_keep_order() {
        let mut out = OutBuffer::default();
        out.push(b"hello ");
        out.push(b"world");
        out.advance(3);
        assert_eq!(out.pending(), b"lo world");
        out.push(b"!");
        out.advance(5);
        assert_eq!(out.pending(), b"rld!");
        out.advance(100);
        assert!(out.is_empty());
        assert_eq!(out.pending(), b"");
    }

    #[test]
    fn compacts_after_a_large_partial_write() {
        let mut out = OutBuffer::default();
        out.push(&vec![b'a'; 200_000]);
        out.push(b"tail");
        out.advance(150_000);
        assert_eq!(out.pending().len(), 50_004);
        assert!(out.pending().ends_with(b"tail"));
    }
}
