//! Request-target path decoding and normalisation, sans I/O.
//!
//! Contract:
//! - [`normalize`] accepts any byte slice as the path of an origin-form
//!   request-target (it defensively stops at the first raw `?` or `#`) and a
//!   caller-provided output buffer. It percent-decodes exactly once, rejects
//!   malformed escapes, NUL, backslash, control characters and invalid UTF-8
//!   (which covers overlong encodings such as `%c0%ae`), then resolves `.`,
//!   `..` and empty segments — *after* decoding, so `%2e%2e` and `%2f` are a
//!   real dot-segment and separator. A path that would climb above the root
//!   is an error, never clamped.
//! - On success `out[..len]` holds a *relative* path: segments joined by a
//!   single `/`, no leading or trailing `/`, no `.` or `..` segment, no NUL,
//!   no `\`, no control character, valid UTF-8; `""` means the root. Joining
//!   it below a docroot cannot leave the docroot (symlinks aside).
//! - `out` must hold the decoded path minus its leading `/`, else
//!   [`PathError::TooLong`]; `out.len() >= raw.len()` always suffices.
//! - Never panics on any input, never allocates, no `unsafe`; all arithmetic
//!   is checked or saturating on provably small values.
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

/// Why a request path was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// `%` not followed by two hex digits, or a (decoded) control character.
    BadEscape,
    /// A decoded NUL byte.
    Nul,
    /// A decoded `\`.
    Backslash,
    /// The decoded bytes are not valid UTF-8 (includes overlong forms).
    InvalidUtf8,
    /// `..` would climb above the root.
    AboveRoot,
    /// The output buffer is too small.
    TooLong,
    /// The path does not start with `/`.
    NotAbsolute,
}

/// A successfully normalised path; the bytes are `out[..len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Normalized {
    /// Length of the relative path written to `out` (0 for the root).
    pub len: usize,
    /// The decoded path ended in `/`, `/.` or `/..` (always true for the
    /// root): the client named a directory.
    pub trailing_slash: bool,
    /// Some result segment starts with `.` (a first segment that is exactly
    /// `.well-known` does not count; later dot segments below it still do).
    pub hidden: bool,
}

/// Decodes and normalises `raw` into `out`; see the module docs.
pub fn normalize(raw: &[u8], out: &mut [u8]) -> Result<Normalized, PathError> {
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    let path = raw.get(..end).unwrap_or(&[]);
    let Some((b'/', rest)) = path.split_first() else {
        return Err(PathError::NotAbsolute);
    };

    let n = decode_into(rest, out)?;
    let decoded = out.get(..n).ok_or(PathError::TooLong)?;
    if core::str::from_utf8(decoded).is_err() {
        return Err(PathError::InvalidUtf8);
    }
    let trailing_slash = matches!(
        decoded.rsplit(|&b| b == b'/').next(),
        None | Some(b"" | b"." | b"..")
    );

    let len = squash(out, n)?;
    let result = out.get(..len).ok_or(PathError::TooLong)?;
    let hidden = result
        .split(|&b| b == b'/')
        .enumerate()
        .any(|(i, seg)| seg.first() == Some(&b'.') && !(i == 0 && seg == b".well-known"));

    Ok(Normalized {
        len,
        trailing_slash,
        hidden,
    })
}

/// Percent-decodes `raw` into `out`, validating every decoded byte.
/// Syntax errors take precedence over `TooLong`: the whole input is scanned.
fn decode_into(raw: &[u8], out: &mut [u8]) -> Result<usize, PathError> {
    let mut bytes = raw.iter();
    let mut slots = out.iter_mut();
    let mut n = 0usize;
    let mut overflow = false;
    while let Some(&b) = bytes.next() {
        let c = if b == b'%' {
            let hi = bytes.next().and_then(|&h| hex_value(h));
            let lo = bytes.next().and_then(|&l| hex_value(l));
            match (hi, lo) {
                (Some(hi), Some(lo)) => hi.wrapping_shl(4) | lo,
                _ => return Err(PathError::BadEscape),
            }
        } else {
            b
        };
        match c {
            0 => return Err(PathError::Nul),
            b'\\' => return Err(PathError::Backslash),
            0x01..=0x1f | 0x7f => return Err(PathError::BadEscape),
            _ => {}
        }
        match slots.next() {
            Some(slot) => {
                *slot = c;
                // n counts written slots, so it is bounded by out.len().
                n = n.saturating_add(1);
            }
            None => overflow = true,
        }
    }
    if overflow {
        Err(PathError::TooLong)
    } else {
        Ok(n)
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c & 0x0f),
        b'a'..=b'f' | b'A'..=b'F' => Some((c & 0x0f).wrapping_add(9)),
        _ => None,
    }
}

/// Resolves segments of the decoded path `buf[..n]` (no leading `/`) in
/// place and returns the result length. The write cursor never passes the
/// start of the segment being read, so copying forward is safe.
fn squash(buf: &mut [u8], n: usize) -> Result<usize, PathError> {
    let n = n.min(buf.len());
    let mut r = 0usize; // read cursor
    let mut w = 0usize; // write cursor (result length)
    while r < n {
        if buf.get(r) == Some(&b'/') {
            r = r.saturating_add(1);
            continue;
        }
        let start = r;
        while r < n && buf.get(r) != Some(&b'/') {
            r = r.saturating_add(1);
        }
        match buf.get(start..r) {
            Some(b".") => {}
            Some(b"..") => {
                if w == 0 {
                    return Err(PathError::AboveRoot);
                }
                w = buf
                    .get(..w)
                    .and_then(|done| done.iter().rposition(|&b| b == b'/'))
                    .unwrap_or(0);
            }
            Some(_) => {
                if w > 0 {
                    *buf.get_mut(w).ok_or(PathError::TooLong)? = b'/';
                    w = w.saturating_add(1);
                }
                for i in start..r {
                    let b = *buf.get(i).ok_or(PathError::TooLong)?;
                    *buf.get_mut(w).ok_or(PathError::TooLong)? = b;
                    w = w.saturating_add(1);
                }
            }
            None => return Err(PathError::TooLong),
        }
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outcome = Result<(String, bool, bool), PathError>;

    fn run(raw: &[u8], cap: usize) -> Outcome {
        let mut out = vec![0xAAu8; cap];
        normalize(raw, &mut out).map(|n| {
            (
                String::from_utf8(out[..n.len].to_vec()).unwrap(),
                n.trailing_slash,
                n.hidden,
            )
        })
    }

    fn ok(s: &str, trailing: bool, hidden: bool) -> Outcome {
        Ok((s.to_string(), trailing, hidden))
    }

    #[test]
    fn accepted_table() {
        let cases: &[(&[u8], Outcome)] = &[
            (b"/", ok("", true, false)),
            (b"//", ok("", true, false)),
            (b"/.", ok("", true, false)),
            (b"/./", ok("", true, false)),
            (b"/a", ok("a", false, false)),
            (b"/a/", ok("a", true, false)),
            (b"/a/b/c.html", ok("a/b/c.html", false, false)),
            (b"/a//b///c", ok("a/b/c", false, false)),
            (b"///a", ok("a", false, false)),
            (b"/a/./b/.", ok("a/b", true, false)),
            (b"/a/b/..", ok("a", true, false)),
            (b"/a/b/../", ok("a", true, false)),
            (b"/a/b/../c", ok("a/c", false, false)),
            (b"/a/..", ok("", true, false)),
            (b"/a/../b/../c/./d/..", ok("c", true, false)),
            (b"/%61%62%63", ok("abc", false, false)),
            (b"/a%2Fb", ok("a/b", false, false)),
            (b"/a%2fb%2F", ok("a/b", true, false)),
            (b"/a%2F..%2Fb", ok("b", false, false)),
            (b"/a/%2e%2E/b", ok("b", false, false)),
            (b"/a/%2e/b", ok("a/b", false, false)),
            (b"/%2F%2F", ok("", true, false)),
            (b"/%252e%252e/x", ok("%2e%2e/x", false, false)),
            (b"/%25", ok("%", false, false)),
            (b"/%3f", ok("?", false, false)),
            (b"/%23", ok("#", false, false)),
            (b"/a b", ok("a b", false, false)),
            (b"/a%20b", ok("a b", false, false)),
            (b"/caf%C3%A9", ok("caf\u{e9}", false, false)),
            ("/caf\u{e9}".as_bytes(), ok("caf\u{e9}", false, false)),
            (b"/%E2%82%AC", ok("\u{20ac}", false, false)),
            (b"/%F0%9F%98%80", ok("\u{1f600}", false, false)),
            (b"/a?x=/../../etc", ok("a", false, false)),
            (b"/a/?x", ok("a", true, false)),
            (b"/a#/../..", ok("a", false, false)),
            (b"/a?b#c", ok("a", false, false)),
            (b"/..a", ok("..a", false, true)),
            (b"/a..", ok("a..", false, false)),
            (b"/...", ok("...", false, true)),
            (b"/a/...", ok("a/...", false, true)),
            (b"/.hidden", ok(".hidden", false, true)),
            (b"/a/.git/config", ok("a/.git/config", false, true)),
            (b"/%2ehtaccess", ok(".htaccess", false, true)),
            (
                b"/.well-known/acme-challenge/x",
                ok(".well-known/acme-challenge/x", false, false),
            ),
            (b"/.well-known/", ok(".well-known", true, false)),
            (b"/.well-known", ok(".well-known", false, false)),
            (b"/.well-known/.x", ok(".well-known/.x", false, true)),
            (b"/a/.well-known", ok("a/.well-known", false, true)),
            (b"/.Well-Known", ok(".Well-Known", false, true)),
            (b"/.well-known2", ok(".well-known2", false, true)),
            (b"/x/../.well-known/y", ok(".well-known/y", false, false)),
            (b"/.hidden/..", ok("", true, false)),
            (b"/.well-known/a/..", ok(".well-known", true, false)),
        ];
        for (raw, want) in cases {
            assert_eq!(run(raw, 256), *want, "{:?}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn rejected_table() {
        use PathError::*;
        let cases: &[(&[u8], PathError)] = &[
            (b"", NotAbsolute),
            (b"a/b", NotAbsolute),
            (b"*", NotAbsolute),
            (b"?/a", NotAbsolute),
            (b"#/a", NotAbsolute),
            (b"http://h/a", NotAbsolute),
            (b"%2fa", NotAbsolute),
            (b"\\a", NotAbsolute),
            (b"/..", AboveRoot),
            (b"/../", AboveRoot),
            (b"/../etc/passwd", AboveRoot),
            (b"/a/../..", AboveRoot),
            (b"/a/../../b", AboveRoot),
            (b"/./../a", AboveRoot),
            (b"//../a", AboveRoot),
            (b"/%2e%2e", AboveRoot),
            (b"/%2E%2E/etc/passwd", AboveRoot),
            (b"/.%2e/x", AboveRoot),
            (b"/%2e./x", AboveRoot),
            (b"/%2e%2e%2fetc", AboveRoot),
            (b"/..%2f..%2fetc", AboveRoot),
            (b"/a%2f..%2f..%2fb", AboveRoot),
            (b"/a/b/../../../c", AboveRoot),
            (b"/../a/..", AboveRoot),
            (b"/%", BadEscape),
            (b"/%2", BadEscape),
            (b"/%zz", BadEscape),
            (b"/%g0", BadEscape),
            (b"/%0g", BadEscape),
            (b"/%%32%65", BadEscape),
            (b"/%-1", BadEscape),
            (b"/% 2", BadEscape),
            (b"/a%", BadEscape),
            (b"/%0a", BadEscape),
            (b"/%0D", BadEscape),
            (b"/%09", BadEscape),
            (b"/%1f", BadEscape),
            (b"/%7f", BadEscape),
            (b"/a\tb", BadEscape),
            (b"/a\rb", BadEscape),
            (b"/a\x7fb", BadEscape),
            (b"/%00", Nul),
            (b"/a\0b", Nul),
            (b"/a%00.html", Nul),
            (b"/a\\b", Backslash),
            (b"/%5c", Backslash),
            (b"/%5C..%5C..%5Cetc", Backslash),
            (b"/..\\..", Backslash),
            (b"/%c0%ae%c0%ae/", InvalidUtf8),
            (b"/%c0%af", InvalidUtf8),
            (b"/%e0%80%ae", InvalidUtf8),
            (b"/%f0%80%80%ae", InvalidUtf8),
            (b"/%c1%9c", InvalidUtf8),
            (b"/%80", InvalidUtf8),
            (b"/%ff", InvalidUtf8),
            (b"/%C3", InvalidUtf8),
            (b"/%ed%a0%80", InvalidUtf8),    // UTF-16 surrogate
            (b"/%f4%90%80%80", InvalidUtf8), // > U+10FFFF
            (b"/caf\xe9", InvalidUtf8),
            // Decoding errors come before dot-segment resolution.
            (b"/../%zz", BadEscape),
            (b"/../%c0%ae", InvalidUtf8),
        ];
        for &(raw, want) in cases {
            assert_eq!(
                run(raw, 256),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn output_capacity() {
        // The decoded path minus its leading slash must fit.
        let cases: &[(&[u8], usize, Outcome)] = &[
            (b"/", 0, ok("", true, false)),
            (b"/abc", 3, ok("abc", false, false)),
            (b"/abc", 2, Err(PathError::TooLong)),
            (b"/%61%62%63", 3, ok("abc", false, false)),
            (b"/a/../b", 6, ok("b", false, false)),
            (b"/a/../b", 5, Err(PathError::TooLong)),
            (b"/a?long-query-ignored", 1, ok("a", false, false)),
            // Syntax errors are reported even when the buffer is too small.
            (b"/abcdef%zz", 2, Err(PathError::BadEscape)),
            (b"/abcdef%00", 2, Err(PathError::Nul)),
            (b"/abcdef\\", 2, Err(PathError::Backslash)),
            (b"x", 0, Err(PathError::NotAbsolute)),
        ];
        for (raw, cap, want) in cases {
            assert_eq!(
                run(raw, *cap),
                *want,
                "{:?} cap={cap}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    /// Straightforward allocating model of the contract, written
    /// independently of the in-place implementation.
    fn reference(raw: &[u8], cap: usize) -> Outcome {
        let path = match raw.iter().position(|&b| b == b'?' || b == b'#') {
            Some(i) => &raw[..i],
            None => raw,
        };
        if path.first() != Some(&b'/') {
            return Err(PathError::NotAbsolute);
        }
        let mut decoded = Vec::new();
        let mut i = 1;
        while i < path.len() {
            let mut c = path[i];
            if c == b'%' {
                let hex = path.get(i + 1..i + 3).and_then(|h| {
                    let s = std::str::from_utf8(h).ok()?;
                    if s.bytes().all(|b| b.is_ascii_hexdigit()) {
                        u8::from_str_radix(s, 16).ok()
                    } else {
                        None
                    }
                });
                match hex {
                    Some(v) => c = v,
                    None => return Err(PathError::BadEscape),
                }
                i += 2;
            }
            if c == 0 {
                return Err(PathError::Nul);
            }
            if c == b'\\' {
                return Err(PathError::Backslash);
            }
            if c < 0x20 || c == 0x7f {
                return Err(PathError::BadEscape);
            }
            decoded.push(c);
            i += 1;
        }
        if decoded.len() > cap {
            return Err(PathError::TooLong);
        }
        let text = String::from_utf8(decoded).map_err(|_| PathError::InvalidUtf8)?;
        let segments: Vec<&str> = text.split('/').collect();
        let trailing = matches!(*segments.last().unwrap(), "" | "." | "..");
        let mut stack: Vec<&str> = Vec::new();
        for seg in segments {
            match seg {
                "" | "." => {}
                ".." => {
                    if stack.pop().is_none() {
                        return Err(PathError::AboveRoot);
                    }
                }
                s => stack.push(s),
            }
        }
        let hidden = stack
            .iter()
            .enumerate()
            .any(|(i, s)| s.starts_with('.') && !(i == 0 && *s == ".well-known"));
        Ok((stack.join("/"), trailing, hidden))
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

    #[rustfmt::skip]
    const PIECES: &[&[u8]] = &[
        b"/", b"/", b"/", b".", b".", b"..", b"%", b"2", b"e", b"E", b"f", b"F", b"5", b"c",
        b"C", b"0", b"a", b"\\", b"%2e", b"%2E", b"%2f", b"%2F", b"%5c", b"%25", b"%00", b"%c0",
        b"%ae", b"%c0%ae", b"%e2%82%ac", b"\xc3\xa9", b"\xff", b"?", b"#", b"x", b".well-known",
        b"%2e%2e", b"/../", b"/./", b"%0a", b" ", b"%7", b"g",
    ];

    fn random_path(rng: &mut XorShift) -> Vec<u8> {
        let mut v = Vec::new();
        if rng.below(10) != 0 {
            v.push(b'/');
        }
        for _ in 0..rng.below(14) {
            v.extend_from_slice(PIECES[rng.below(PIECES.len())]);
        }
        v
    }

    #[test]
    fn matches_reference_model_and_invariants() {
        let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
        let mut successes = 0;
        let mut errors = [0usize; 7];
        for _ in 0..200_000 {
            let raw = random_path(&mut rng);
            let cap = if rng.below(4) == 0 {
                rng.below(12)
            } else {
                512
            };
            let got = run(&raw, cap);
            assert_eq!(
                got,
                reference(&raw, cap),
                "{:?} cap={cap}",
                String::from_utf8_lossy(&raw)
            );
            match &got {
                Ok((s, _, _)) => {
                    successes += 1;
                    assert!(!s.starts_with('/'), "{s:?}");
                    assert!(!s.ends_with('/'), "{s:?}");
                    assert!(!s.contains("//"), "{s:?}");
                    assert!(!s.contains('\\'), "{s:?}");
                    assert!(!s.contains('\0'), "{s:?}");
                    assert!(!s.chars().any(|c| c.is_ascii_control()), "{s:?}");
                    if !s.is_empty() {
                        for seg in s.split('/') {
                            assert!(seg != "." && seg != ".." && !seg.is_empty(), "{s:?}");
                        }
                    }
                }
                Err(e) => errors[*e as usize] += 1,
            }
        }
        // The generator must exercise every outcome.
        assert!(successes > 10_000, "successes={successes}");
        assert!(errors.iter().all(|&n| n > 100), "{errors:?}");
    }

    #[test]
    fn exhaustive_short_inputs() {
        // Every 1..=4 byte string over a small alphabet, after a leading '/'.
        let alphabet = b"/.%2eEfF5c0\\a?";
        let k = alphabet.len();
        for len in 1..=4u32 {
            for mut code in 0..k.pow(len) {
                let mut raw = vec![b'/'];
                for _ in 0..len {
                    raw.push(alphabet[code % k]);
                    code /= k;
                }
                assert_eq!(run(&raw, 64), reference(&raw, 64));
            }
        }
    }
}
