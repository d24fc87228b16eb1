//! Streaming decoder for `Transfer-Encoding: chunked` request bodies
//! (RFC 9112 §7.1), sans I/O.
//!
//! Contract:
//! - [`ChunkedDecoder::decode`] accepts any byte slice: the next bytes of the
//!   body, split at any point (one byte at a time included). It consumes as
//!   much as it can but delivers at most one span of payload per call, as a
//!   range into the caller's slice; framing bytes are consumed and never
//!   need to be re-presented. Output does not depend on how the input is
//!   split. After the last chunk and the trailer section it reports `done`
//!   and consumes nothing more (bytes after the body belong to the next
//!   request).
//! - The grammar is enforced strictly, to rule out request smuggling: hex
//!   chunk-size (at most 16 significant digits), chunk extensions validated
//!   as tokens / quoted-strings with the line bounded to [`MAX_CHUNK_LINE`]
//!   bytes, CRLF exactly (no bare LF or CR), CRLF after each chunk's data,
//!   trailer fields syntax-checked and discarded, the trailer section bounded
//!   to [`MAX_TRAILER`] bytes. Errors are sticky.
//! - It never panics on any input, never allocates, uses no `unsafe`; the
//!   decoder is a small `Copy` value and all arithmetic is checked.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::arithmetic_side_effects,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

use core::ops::Range;

/// Maximum length of a chunk-size line (size plus extensions, without CRLF).
pub const MAX_CHUNK_LINE: usize = 1024;

/// Maximum size of the trailer section, including every CRLF and the final
/// empty line.
pub const MAX_TRAILER: usize = 8192;

/// Why a chunked body was rejected. The caller should answer 400 and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// The chunk-size is missing or not hexadecimal (or is followed by junk).
    BadSize,
    /// The chunk-size has more than 16 significant hex digits.
    SizeOverflow,
    /// Malformed chunk extension.
    BadExtension,
    /// The chunk-size line is longer than [`MAX_CHUNK_LINE`].
    ExtensionTooLong,
    /// A line did not end in exactly CRLF, or chunk data was not followed by
    /// CRLF.
    BadLineEnding,
    /// Malformed trailer field line (bad name, whitespace before the colon,
    /// obs-fold, control character in the value).
    BadTrailer,
    /// The trailer section is larger than [`MAX_TRAILER`].
    TrailerTooLarge,
}

/// The result of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Input bytes used; the caller drops `input[..consumed]`.
    pub consumed: usize,
    /// Payload bytes delivered by this call, as a range into `input`
    /// (`0..0` when none). Always `data.end <= consumed`.
    pub data: Range<usize>,
    /// The whole body, including the trailer section, has been consumed.
    pub done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Start of a chunk-size line: a hex digit is required.
    SizeStart,
    /// Inside the chunk-size digits.
    Size,
    /// Whitespace after the size; only `;` may follow.
    SizeBws,
    /// After `;`, optional whitespace, then an extension name.
    ExtPreName,
    ExtName,
    /// Whitespace after a name; `=` or `;` must follow.
    ExtPostName,
    /// After `=`, optional whitespace, then a token or quoted-string.
    ExtPreValue,
    ExtToken,
    ExtQuoted,
    ExtQuotedPair,
    /// Right after a closing quote.
    ExtAfterQuote,
    /// Whitespace after a value; only `;` may follow.
    ExtPostValue,
    /// CR of the chunk-size line seen; LF required.
    SizeLf,
    /// Inside chunk data; `size` holds the bytes left.
    Data,
    DataCr,
    DataLf,
    TrailerLineStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// CR of the empty line ending the trailer section seen.
    FinalLf,
    Done,
    Failed(ChunkError),
}

/// Incremental decoder state for one chunked body; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkedDecoder {
    state: State,
    /// Chunk size being parsed, then bytes left in the current chunk.
    size: u64,
    /// Significant (non-leading-zero) digits of the size seen so far.
    sig_digits: u8,
    /// Bytes of the current chunk-size line so far (excluding CRLF).
    line_len: u16,
    /// Bytes of the trailer section so far.
    trailer_len: u16,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder positioned at the start of a chunked body.
    pub const fn new() -> Self {
        Self {
            state: State::SizeStart,
            size: 0,
            sig_digits: 0,
            line_len: 0,
            trailer_len: 0,
        }
    }

    /// Bytes left in the current chunk's data, 0 when not inside data.
    pub fn payload_remaining_hint(&self) -> u64 {
        if self.state == State::Data {
            self.size
        } else {
            0
        }
    }

    /// True once the body and its trailer section have been fully consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes the next bytes of the body; see [`Step`]. Call again with
    /// the unconsumed rest while `consumed > 0 && !done`, and with more
    /// input when everything was consumed. An empty `input` consumes
    /// nothing. Once an error is returned, every later call returns it too.
    pub fn decode(&mut self, input: &[u8]) -> Result<Step, ChunkError> {
        if let State::Failed(e) = self.state {
            return Err(e);
        }
        let mut pos = 0usize;
        let mut data = 0..0;
        let mut delivered = false;
        while let Some(rest) = input.get(pos..) {
            match self.state {
                State::Done => break,
                State::Data => {
                    if delivered || rest.is_empty() {
                        break;
                    }
                    let take = match usize::try_from(self.size) {
                        Ok(left) => left.min(rest.len()),
                        Err(_) => rest.len(),
                    };
                    let end = pos.saturating_add(take);
                    data = pos..end;
                    pos = end;
                    delivered = true;
                    self.size = self
                        .size
                        .saturating_sub(u64::try_from(take).unwrap_or(u64::MAX));
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                }
                _ => {
                    let Some(&b) = rest.first() else { break };
                    if let Err(e) = self.step_byte(b) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                    pos = pos.saturating_add(1);
                }
            }
        }
        Ok(Step {
            consumed: pos,
            data,
            done: self.state == State::Done,
        })
    }

    /// Advances the framing state machine by one byte (never in `Data`).
    fn step_byte(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        self.account(b)?;
        let next = match self.state {
            SizeStart => match hex_value(b) {
                Some(d) => {
                    self.push_digit(d)?;
                    Size
                }
                None => return Err(ChunkError::BadSize),
            },
            Size => match b {
                b';' => ExtPreName,
                b' ' | b'\t' => SizeBws,
                b'\r' => SizeLf,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => match hex_value(b) {
                    Some(d) => {
                        self.push_digit(d)?;
                        Size
                    }
                    None => return Err(ChunkError::BadSize),
                },
            },
            SizeBws => match b {
                b' ' | b'\t' => SizeBws,
                b';' => ExtPreName,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPreName => match b {
                b' ' | b'\t' => ExtPreName,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => ExtName,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtName => match b {
                b' ' | b'\t' => ExtPostName,
                b'=' => ExtPreValue,
                b';' => ExtPreName,
                b'\r' => SizeLf,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => ExtName,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPostName => match b {
                b' ' | b'\t' => ExtPostName,
                b'=' => ExtPreValue,
                b';' => ExtPreName,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPreValue => match b {
                b' ' | b'\t' => ExtPreValue,
                b'"' => ExtQuoted,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => ExtToken,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtToken => match b {
                b' ' | b'\t' => ExtPostValue,
                b';' => ExtPreName,
                b'\r' => SizeLf,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => ExtToken,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtQuoted => match b {
                b'"' => ExtAfterQuote,
                b'\\' => ExtQuotedPair,
                b'\n' => return Err(ChunkError::BadLineEnding),
                // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => ExtQuoted,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtQuotedPair => match b {
                b'\n' => return Err(ChunkError::BadLineEnding),
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => ExtQuoted,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtAfterQuote => match b {
                b' ' | b'\t' => ExtPostValue,
                b';' => ExtPreName,
                b'\r' => SizeLf,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPostValue => match b {
                b' ' | b'\t' => ExtPostValue,
                b';' => ExtPreName,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ => return Err(ChunkError::BadExtension),
            },
            SizeLf => match b {
                b'\n' if self.size == 0 => {
                    self.trailer_len = 0;
                    TrailerLineStart
                }
                b'\n' => Data,
                _ => return Err(ChunkError::BadLineEnding),
            },
            DataCr => match b {
                b'\r' => DataLf,
                _ => return Err(ChunkError::BadLineEnding),
            },
            DataLf => match b {
                b'\n' => {
                    self.size = 0;
                    self.sig_digits = 0;
                    self.line_len = 0;
                    SizeStart
                }
                _ => return Err(ChunkError::BadLineEnding),
            },
            TrailerLineStart => match b {
                b'\r' => FinalLf,
                b'\n' => return Err(ChunkError::BadLineEnding),
                _ if is_tchar(b) => TrailerName,
                // Leading whitespace here is obs-fold or a bad line.
                _ => return Err(ChunkError::BadTrailer),
            },
            TrailerName => match b {
                b':' => TrailerValue,
                _ if is_tchar(b) => TrailerName,
                _ => return Err(ChunkError::BadTrailer),
            },
            TrailerValue => match b {
                b'\r' => TrailerLf,
                b'\n' => return Err(ChunkError::BadLineEnding),
                b'\t' | b' ' | 0x21..=0x7e | 0x80..=0xff => TrailerValue,
                _ => return Err(ChunkError::BadTrailer),
            },
            TrailerLf => match b {
                b'\n' => TrailerLineStart,
                _ => return Err(ChunkError::BadLineEnding),
            },
            FinalLf => match b {
                b'\n' => Done,
                _ => return Err(ChunkError::BadLineEnding),
            },
            // `decode` never calls this in these states.
            Data | Done => self.state,
            Failed(e) => return Err(e),
        };
        self.state = next;
        Ok(())
    }

    /// Enforces the size-line and trailer-section length bounds.
    fn account(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        match self.state {
            SizeStart | Size | SizeBws | ExtPreName | ExtName | ExtPostName | ExtPreValue
            | ExtToken | ExtQuoted | ExtQuotedPair | ExtAfterQuote | ExtPostValue => {
                if b == b'\r' || b == b'\n' {
                    return Ok(());
                }
                self.line_len = self.line_len.saturating_add(1);
                if usize::from(self.line_len) > MAX_CHUNK_LINE {
                    // Only leading zeros can make the digit run this long.
                    return Err(if matches!(self.state, SizeStart | Size) {
                        ChunkError::BadSize
                    } else {
                        ChunkError::ExtensionTooLong
                    });
                }
            }
            TrailerLineStart | TrailerName | TrailerValue | TrailerLf | FinalLf => {
                self.trailer_len = self.trailer_len.saturating_add(1);
                if usize::from(self.trailer_len) > MAX_TRAILER {
                    return Err(ChunkError::TrailerTooLarge);
                }
            }
            SizeLf | Data | DataCr | DataLf | Done | Failed(_) => {}
        }
        Ok(())
    }

    fn push_digit(&mut self, d: u8) -> Result<(), ChunkError> {
        if self.size == 0 && d == 0 {
            return Ok(()); // leading zero
        }
        self.sig_digits = self.sig_digits.saturating_add(1);
        if self.sig_digits > 16 {
            return Err(ChunkError::SizeOverflow);
        }
        self.size = self
            .size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(d)))
            .ok_or(ChunkError::SizeOverflow)?;
        Ok(())
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c & 0x0f),
        b'a'..=b'f' | b'A'..=b'F' => Some((c & 0x0f).wrapping_add(9)),
        _ => None,
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds one piece, looping as a caller would. Returns bytes consumed.
    fn feed(
        dec: &mut ChunkedDecoder,
        piece: &[u8],
        payload: &mut Vec<u8>,
    ) -> Result<usize, ChunkError> {
        let mut pos = 0;
        loop {
            let step = dec.decode(&piece[pos..])?;
            assert!(step.data.start <= step.data.end);
            assert!(step.data.end <= step.consumed);
            assert!(step.consumed <= piece.len() - pos);
            payload.extend_from_slice(&piece[pos..][step.data.clone()]);
            pos += step.consumed;
            assert_eq!(step.done, dec.is_done());
            if step.done || step.consumed == 0 {
                // Nothing is left unconsumed unless the body is finished.
                assert!(step.done || pos == piece.len());
                return Ok(pos);
            }
        }
    }

    /// Decodes `input` split at the given cut points.
    /// Returns (payload, done, total consumed).
    fn decode_split(input: &[u8], cuts: &[usize]) -> Result<(Vec<u8>, bool, usize), ChunkError> {
        let mut dec = ChunkedDecoder::new();
        let mut payload = Vec::new();
        let mut consumed = 0;
        let mut start = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            // A real caller keeps unconsumed bytes and prepends them to the
            // next read; with this decoder that only happens after `done`.
            let piece = &input[start..cut];
            let used = feed(&mut dec, piece, &mut payload)?;
            consumed += used;
            if dec.is_done() {
                return Ok((payload, true, consumed));
            }
            assert_eq!(used, piece.len());
            start = cut;
        }
        Ok((payload, dec.is_done(), consumed))
    }

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, bool, usize), ChunkError> {
        decode_split(input, &[])
    }

    fn decode_bytewise(input: &[u8]) -> Result<(Vec<u8>, bool, usize), ChunkError> {
        let cuts: Vec<usize> = (1..input.len()).collect();
        decode_split(input, &cuts)
    }

    const NEXT_REQUEST: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

    fn valid_cases() -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut v: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (b"0\r\n\r\n".to_vec(), b"".to_vec()),
            (b"000\r\n\r\n".to_vec(), b"".to_vec()),
            (b"5\r\nhello\r\n0\r\n\r\n".to_vec(), b"hello".to_vec()),
            (
                b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec(),
                b"hello world".to_vec(),
            ),
            (b"0005\r\nhello\r\n0000\r\n\r\n".to_vec(), b"hello".to_vec()),
            (
                b"a\r\n0123456789\r\n0\r\n\r\n".to_vec(),
                b"0123456789".to_vec(),
            ),
            (
                b"A\r\n0123456789\r\n0\r\n\r\n".to_vec(),
                b"0123456789".to_vec(),
            ),
            (
                b"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n".to_vec(),
                b"\r\n".to_vec(),
            ),
            (
                b"a\r\n0\r\n\r\n0\r\n\r\n\r\n0\r\n\r\n".to_vec(),
                b"0\r\n\r\n0\r\n\r\n".to_vec(),
            ),
            (b"5;a\r\nhello\r\n0\r\n\r\n".to_vec(), b"hello".to_vec()),
            (
                b"5;a=b\r\nhello\r\n0;x=1\r\n\r\n".to_vec(),
                b"hello".to_vec(),
            ),
            (
                b"5 ; a = b ;c;d=\"q\\\"x;y\" \t; e\r\nhello\r\n0\r\n\r\n".to_vec(),
                b"hello".to_vec(),
            ),
            (
                b"5;name=\"\"\r\nhello\r\n0\r\n\r\n".to_vec(),
                b"hello".to_vec(),
            ),
            (
                b"5;n=\"\xc3\xa9\\\xff\"\r\nhello\r\n0\r\n\r\n".to_vec(),
                b"hello".to_vec(),
            ),
            (
                b"5;!#$%&'*+-.^_`|~09AZaz=!#$%&'*+-.^_`|~\r\nhello\r\n0\r\n\r\n".to_vec(),
                b"hello".to_vec(),
            ),
            (
                b"3\r\nabc\r\n0\r\nX-Checksum: abc\r\nEmpty:\r\nBar: \t baz \xff \r\n\r\n".to_vec(),
                b"abc".to_vec(),
            ),
            (b"0\r\nA:b\r\n\r\n".to_vec(), b"".to_vec()),
            (
                b"0;ext=\"v\"\r\nTrailer-One: 1\r\n\r\n".to_vec(),
                b"".to_vec(),
            ),
        ];
        // A bigger chunk and many small ones.
        let big: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let mut enc = b"12C\r\n".to_vec();
        enc.extend_from_slice(&big);
        enc.extend_from_slice(b"\r\n0\r\n\r\n");
        v.push((enc, big.clone()));
        let mut enc = Vec::new();
        for b in &big[..40] {
            enc.extend_from_slice(b"1\r\n");
            enc.push(*b);
            enc.extend_from_slice(b"\r\n");
        }
        enc.extend_from_slice(b"0\r\n\r\n");
        v.push((enc, big[..40].to_vec()));
        v
    }

    #[test]
    fn valid_bodies_in_one_piece() {
        for (enc, want) in valid_cases() {
            let mut input = enc.clone();
            input.extend_from_slice(NEXT_REQUEST);
            let (payload, done, consumed) = decode_all(&input).unwrap();
            assert!(done, "{:?}", String::from_utf8_lossy(&enc));
            assert_eq!(payload, want, "{:?}", String::from_utf8_lossy(&enc));
            assert_eq!(consumed, enc.len(), "{:?}", String::from_utf8_lossy(&enc));
        }
    }

    #[test]
    fn every_split_point_and_bytewise_give_identical_output() {
        for (enc, want) in valid_cases() {
            let mut input = enc.clone();
            input.extend_from_slice(NEXT_REQUEST);
            let expected = Ok((want.clone(), true, enc.len()));
            for cut in 0..=input.len() {
                assert_eq!(decode_split(&input, &[cut]), expected, "cut={cut}");
                for cut2 in (cut..=input.len()).step_by(7) {
                    assert_eq!(decode_split(&input, &[cut, cut2]), expected);
                }
            }
            assert_eq!(decode_bytewise(&input), expected);
            // Without the following request, too.
            assert_eq!(decode_bytewise(&enc), expected);
        }
    }

    #[test]
    fn delivers_at_most_one_span_per_call() {
        let mut dec = ChunkedDecoder::new();
        let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let s1 = dec.decode(input).unwrap();
        assert_eq!(s1.data, 3..6);
        assert!(!s1.done);
        // Stopped right before the second chunk's data.
        assert_eq!(s1.consumed, 11);
        assert_eq!(dec.payload_remaining_hint(), 2);
        let s2 = dec.decode(&input[11..]).unwrap();
        assert_eq!(s2.data, 0..2);
        assert!(s2.done);
        assert_eq!(s2.consumed, input.len() - 11);
        assert_eq!(dec.payload_remaining_hint(), 0);
    }

    #[test]
    fn empty_input_and_after_done() {
        let mut dec = ChunkedDecoder::default();
        assert_eq!(
            dec.decode(b""),
            Ok(Step {
                consumed: 0,
                data: 0..0,
                done: false
            })
        );
        let s = dec.decode(b"0\r\n\r\nrest").unwrap();
        assert_eq!((s.consumed, s.data, s.done), (5, 0..0, true));
        let s = dec.decode(b"more").unwrap();
        assert_eq!((s.consumed, s.data, s.done), (0, 0..0, true));
        let s = dec.decode(b"").unwrap();
        assert!(s.done);
    }

    #[test]
    fn remaining_hint() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.payload_remaining_hint(), 0);
        dec.decode(b"a\r\n").unwrap();
        assert_eq!(dec.payload_remaining_hint(), 10);
        let s = dec.decode(b"0123").unwrap();
        assert_eq!(s.data, 0..4);
        assert_eq!(dec.payload_remaining_hint(), 6);
        dec.decode(b"456789").unwrap();
        assert_eq!(dec.payload_remaining_hint(), 0);

        let mut dec = ChunkedDecoder::new();
        dec.decode(b"0000ffffffffffffffff\r\n").unwrap();
        assert_eq!(dec.payload_remaining_hint(), u64::MAX);
        let s = dec.decode(&[7u8; 100]).unwrap();
        assert_eq!((s.consumed, s.data), (100, 0..100));
        assert_eq!(dec.payload_remaining_hint(), u64::MAX - 100);
    }

    #[test]
    fn error_table() {
        use ChunkError::*;
        let long_ext = {
            let mut v = b"5;".to_vec();
            v.extend(std::iter::repeat_n(b'a', 1100));
            v.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
            v
        };
        let long_zeros = {
            let mut v = vec![b'0'; 1025];
            v.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
            v
        };
        let long_trailer = {
            let mut v = b"0\r\nX: ".to_vec();
            v.extend(std::iter::repeat_n(b'a', 9000));
            v.extend_from_slice(b"\r\n\r\n");
            v
        };
        let cases: Vec<(&[u8], ChunkError)> = vec![
            (b"\r\n", BadSize),
            (b"\n", BadSize),
            (b"x\r\n", BadSize),
            (b";a\r\n0\r\n\r\n", BadSize),
            (b" 5\r\n", BadSize),
            (b"\t5\r\n", BadSize),
            (b"5x\r\n", BadSize),
            (b"-5\r\n", BadSize),
            (b"+5\r\n", BadSize),
            (b"0x5\r\n", BadSize),
            (b"5\0\r\n", BadSize),
            (b"5\r\nhello\r\nz\r\n", BadSize),
            (b"5\r\nhello\r\n\r\n", BadSize),
            (&long_zeros, BadSize),
            (b"11111111111111111\r\n", SizeOverflow),
            (b"00010000000000000000\r\n", SizeOverflow),
            (b"fffffffffffffffff\r\n", SizeOverflow),
            (b"5 \r\nhello\r\n0\r\n\r\n", BadExtension),
            (b"5 x\r\n", BadExtension),
            (b"5;\r\n", BadExtension),
            (b"5; \r\n", BadExtension),
            (b"5;;a\r\n", BadExtension),
            (b"5;=a\r\n", BadExtension),
            (b"5;a=\r\n", BadExtension),
            (b"5;a= \r\n", BadExtension),
            (b"5;a \r\n", BadExtension),
            (b"5;a b\r\n", BadExtension),
            (b"5;a=b c\r\n", BadExtension),
            (b"5;a=b \r\n", BadExtension),
            (b"5;a=b;\r\n", BadExtension),
            (b"5;a@b\r\n", BadExtension),
            (b"5;a=b@\r\n", BadExtension),
            (b"5;a=\"b\r\n", BadExtension),
            (b"5;a=\"b\"c\r\n", BadExtension),
            (b"5;a=\"b\" \r\n", BadExtension),
            (b"5;a=\"\x01\"\r\n", BadExtension),
            (b"5;a=\"\x7f\"\r\n", BadExtension),
            (b"5;a=\"\\\x01\"\r\n", BadExtension),
            (b"5;a=\"\\\r\n", BadExtension),
            (b"5;a\x00\r\n", BadExtension),
            (&long_ext, ExtensionTooLong),
            (b"5\n", BadLineEnding),
            (b"5;a\n", BadLineEnding),
            (b"5;a=b\n", BadLineEnding),
            (b"5;a=\"b\n", BadLineEnding),
            (b"5;a=\"b\"\n", BadLineEnding),
            (b"5 \n", BadLineEnding),
            (b"5;\n", BadLineEnding),
            (b"5\rX", BadLineEnding),
            (b"5\r\r\n", BadLineEnding),
            (b"5\r\nhelloX", BadLineEnding),
            (b"5\r\nhello\n", BadLineEnding),
            (b"5\r\nhello\rX", BadLineEnding),
            (b"5\r\nhello\r\r\n", BadLineEnding),
            (b"5\r\nhello\r\n0\n\r\n", BadLineEnding),
            (b"0\r\n\n", BadLineEnding),
            (b"0\r\n\rX", BadLineEnding),
            (b"0\r\nA: b\n\r\n", BadLineEnding),
            (b"0\r\nA: b\rX", BadLineEnding),
            (b"0\r\nA: b\r\n\n", BadLineEnding),
            (b"0\r\n: x\r\n\r\n", BadTrailer),
            (b"0\r\nA : x\r\n\r\n", BadTrailer),
            (b"0\r\nA\t: x\r\n\r\n", BadTrailer),
            (b"0\r\nA\r\n\r\n", BadTrailer),
            (b"0\r\nA\n", BadTrailer),
            (b"0\r\nA: b\r\n c\r\n\r\n", BadTrailer),
            (b"0\r\nA: b\r\n\tc\r\n\r\n", BadTrailer),
            (b"0\r\n A: b\r\n\r\n", BadTrailer),
            (b"0\r\nA: b\x01\r\n\r\n", BadTrailer),
            (b"0\r\nA: b\x7f\r\n\r\n", BadTrailer),
            (b"0\r\nA: b\0\r\n\r\n", BadTrailer),
            (b"0\r\nA(: b\r\n\r\n", BadTrailer),
            (b"0\r\n\"A\": b\r\n\r\n", BadTrailer),
            (&long_trailer, TrailerTooLarge),
        ];
        for (input, want) in cases {
            let show = String::from_utf8_lossy(&input[..input.len().min(40)]).into_owned();
            assert_eq!(decode_all(input), Err(want), "{show:?}");
            assert_eq!(decode_bytewise(input), Err(want), "{show:?} bytewise");
            for cut in (0..=input.len()).step_by(3) {
                assert_eq!(decode_split(input, &[cut]), Err(want), "{show:?} cut={cut}");
            }
        }
    }

    #[test]
    fn length_bounds_are_inclusive() {
        // A chunk-size line of exactly MAX_CHUNK_LINE bytes is accepted.
        let mut line = b"5;".to_vec();
        line.resize(MAX_CHUNK_LINE, b'a');
        let mut ok = line.clone();
        ok.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode_all(&ok), Ok((b"hello".to_vec(), true, ok.len())));
        let mut bad = line.clone();
        bad.push(b'a');
        bad.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        assert_eq!(decode_all(&bad), Err(ChunkError::ExtensionTooLong));

        // Leading zeros up to the line bound are accepted.
        let mut zeros = vec![b'0'; MAX_CHUNK_LINE - 1];
        zeros.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
        assert_eq!(
            decode_all(&zeros),
            Ok((b"hello".to_vec(), true, zeros.len()))
        );

        // The line bound applies afresh to every chunk.
        let mut two = ok.clone();
        two.truncate(ok.len() - 5);
        two.extend_from_slice(&ok);
        assert_eq!(
            decode_all(&two),
            Ok((b"hellohello".to_vec(), true, two.len()))
        );

        // A trailer section of exactly MAX_TRAILER bytes is accepted.
        let build = |total: usize| {
            let mut v = b"0\r\nX: ".to_vec();
            let fixed = "X: ".len() + 4; // "\r\n" after the field + final "\r\n"
            v.extend(std::iter::repeat_n(b'v', total - fixed));
            v.extend_from_slice(b"\r\n\r\n");
            v
        };
        let ok = build(MAX_TRAILER);
        assert_eq!(decode_all(&ok), Ok((Vec::new(), true, ok.len())));
        let bad = build(MAX_TRAILER + 1);
        assert_eq!(decode_all(&bad), Err(ChunkError::TrailerTooLarge));
    }

    #[test]
    fn errors_are_sticky() {
        let mut dec = ChunkedDecoder::new();
        assert_eq!(dec.decode(b"zz"), Err(ChunkError::BadSize));
        assert_eq!(dec.decode(b"0\r\n\r\n"), Err(ChunkError::BadSize));
        assert_eq!(dec.decode(b""), Err(ChunkError::BadSize));
        assert_eq!(dec.payload_remaining_hint(), 0);
        assert!(!dec.is_done());
    }

    #[test]
    fn decoder_is_small_and_copy() {
        let a = ChunkedDecoder::new();
        let b = a;
        assert_eq!(a, b);
        assert!(core::mem::size_of::<ChunkedDecoder>() <= 24);
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random payloads, chunkings, extensions and trailers, encoded and
    /// decoded with random split points.
    #[test]
    fn random_encodings_round_trip() {
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        let exts: &[&[u8]] = &[b"", b";a", b";a=b", b" ;x=\"y z\"", b";n=\"\\\"\";m"];
        let trailers: &[&[u8]] = &[b"", b"A: b\r\n", b"X-Sum: 1\r\nY:\r\n"];
        for _ in 0..3_000 {
            let len = rng.below(200);
            let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let mut enc = Vec::new();
            let mut i = 0;
            while i < len {
                let n = (rng.below(40) + 1).min(len - i);
                let zeros = "0".repeat(rng.below(3));
                let size = if rng.below(2) == 0 {
                    format!("{zeros}{n:x}")
                } else {
                    format!("{zeros}{n:X}")
                };
                enc.extend_from_slice(size.as_bytes());
                enc.extend_from_slice(exts[rng.below(exts.len())]);
                enc.extend_from_slice(b"\r\n");
                enc.extend_from_slice(&payload[i..i + n]);
                enc.extend_from_slice(b"\r\n");
                i += n;
            }
            enc.extend_from_slice(b"0");
            enc.extend_from_slice(exts[rng.below(exts.len())]);
            enc.extend_from_slice(b"\r\n");
            enc.extend_from_slice(trailers[rng.below(trailers.len())]);
            enc.extend_from_slice(b"\r\n");
            let body_len = enc.len();
            enc.extend_from_slice(NEXT_REQUEST);
            let mut cuts: Vec<usize> = (0..rng.below(6))
                .map(|_| rng.below(enc.len() + 1))
                .collect();
            cuts.sort_unstable();
            assert_eq!(
                decode_split(&enc, &cuts),
                Ok((payload, true, body_len)),
                "{:?} cuts={cuts:?}",
                String::from_utf8_lossy(&enc)
            );
        }
    }

    /// Arbitrary bytes never panic, and the outcome never depends on the
    /// split (payload delivered before an error aside).
    #[test]
    fn random_garbage_is_split_independent() {
        let mut rng = XorShift(0x1234_5678_9ABC_DEF1);
        let alphabet = b"0123456789aAfF;= \t\"\\\r\n:xX-\x01\xff";
        for _ in 0..20_000 {
            let len = rng.below(24);
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let whole = decode_all(&input);
            let bytewise = decode_bytewise(&input);
            match (&whole, &bytewise) {
                (Err(a), Err(b)) => assert_eq!(a, b),
                _ => assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(&input)),
            }
        }
    }
}
