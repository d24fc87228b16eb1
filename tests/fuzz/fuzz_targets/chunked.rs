//! The chunked decoder. Two properties:
//! 1. Split invariance: any bytes give the same payload, the same end and
//!    the same error whether fed in one piece or cut at points the input
//!    itself chooses (the first byte seeds the piece sizes).
//! 2. Reference model: a payload encoded as chunked (chunk sizes, extensions,
//!    trailer fields chosen by the input) decodes to exactly that payload
//!    and ends exactly at the end of the encoding.
#![no_main]

use fws_api::http::chunked::ChunkedDecoder;
use libfuzzer_sys::fuzz_target;

/// Feeds `body` in pieces whose sizes come from `sizes` (cycled; bytes not
/// consumed are carried into the next call). Returns (payload, end, error).
fn decode(body: &[u8], sizes: &[u8]) -> (Vec<u8>, Option<usize>, Option<String>) {
    let mut d = ChunkedDecoder::default();
    let mut out = Vec::new();
    let (mut pos, mut avail, mut i) = (0usize, 0usize, 0usize);
    loop {
        let step = if sizes.is_empty() {
            body.len().max(1)
        } else {
            usize::from(sizes[i % sizes.len()] % 17) + 1
        };
        i += 1;
        avail = (avail + step).min(body.len() - pos);
        let input = &body[pos..pos + avail];
        match d.decode(input) {
            Ok(s) => {
                assert!(s.data.start <= s.data.end && s.data.end <= s.consumed);
                assert!(s.consumed <= input.len());
                out.extend_from_slice(&input[s.data.clone()]);
                pos += s.consumed;
                avail -= s.consumed;
                if s.done {
                    assert!(d.is_done());
                    // Once done, more input is not consumed.
                    let more = d.decode(b"0\r\n\r\n").expect("done stays done");
                    assert_eq!(more.consumed, 0);
                    return (out, Some(pos), None);
                }
                if s.consumed == 0 && pos + avail == body.len() {
                    return (out, None, None);
                }
            }
            Err(e) => {
                // Errors are sticky.
                assert_eq!(d.decode(b"0\r\n\r\n"), Err(e));
                return (out, None, Some(format!("{e:?}")));
            }
        }
    }
}

fn hex(n: usize) -> String {
    format!("{n:x}")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // 1. Split invariance on arbitrary bytes.
        let cut = usize::from(mode >> 1).min(rest.len());
        let (sizes, body) = rest.split_at(cut);
        let whole = decode(body, &[]);
        let split = decode(body, sizes);
        let ones = decode(body, &[0]);
        // A failed decode may have delivered a different amount of payload
        // before the bad byte was reached in one piece vs in pieces; only
        // the error must agree. Otherwise everything agrees.
        if whole.2.is_some() {
            assert_eq!(whole.2, split.2);
            assert_eq!(whole.2, ones.2);
        } else {
            assert_eq!(whole, split);
            assert_eq!(whole, ones);
        }
    } else {
        // 2. Encode `payload` ourselves, decode, compare.
        let cut = usize::from(mode >> 1).min(rest.len());
        let (shape, payload) = rest.split_at(cut);
        let mut enc = Vec::new();
        let mut left = payload;
        let mut k = 0usize;
        let mut next = || {
            let v = shape.get(k).copied().unwrap_or(7);
            k += 1;
            v
        };
        while !left.is_empty() {
            let s = next();
            let n = (usize::from(s) % 40 + 1).min(left.len());
            let sz = hex(n);
            // Leading zeros, upper-case digits, extensions with token and
            // quoted values (with an escaped quote), chosen by the shape.
            if s & 0x40 != 0 {
                enc.extend_from_slice(b"00");
            }
            if s & 0x80 != 0 {
                enc.extend_from_slice(sz.to_uppercase().as_bytes());
            } else {
                enc.extend_from_slice(sz.as_bytes());
            }
            match next() % 4 {
                0 => {}
                1 => enc.extend_from_slice(b";ext"),
                2 => enc.extend_from_slice(b" ; name=value;x"),
                _ => enc.extend_from_slice(b";q=\"a \\\"quoted\\\" v\""),
            }
            enc.extend_from_slice(b"\r\n");
            enc.extend_from_slice(&left[..n]);
            enc.extend_from_slice(b"\r\n");
            left = &left[n..];
        }
        enc.extend_from_slice(b"0\r\n");
        for t in 0..(next() % 3) {
            enc.extend_from_slice(format!("X-Trailer-{t}: value {t}\r\n").as_bytes());
        }
        enc.extend_from_slice(b"\r\n");
        let end = enc.len();
        // Something after the body (a pipelined request) is not consumed.
        enc.extend_from_slice(b"GET / HTTP/1.1\r\n");
        for sizes in [&[][..], shape, &[0][..]] {
            let (out, done_at, err) = decode(&enc, sizes);
            assert_eq!(err, None);
            assert_eq!(done_at, Some(end));
            assert_eq!(out, payload);
        }
    }
});
