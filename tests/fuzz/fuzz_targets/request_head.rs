//! The request head and its framing: any bytes, parsed as the engine does.
//! Beyond "no panic": a complete head is also complete when cut exactly at
//! its end and parses the same; every borrowed slice lies in the head; the
//! framing is unambiguous (httparse agrees on the header list, a body is
//! framed by exactly one of Content-Length / chunked, never both); a chunked
//! body that follows is decoded the same in one piece or byte by byte.
#![no_main]

use fws_api::http::chunked::ChunkedDecoder;
use fws_api::http::request::{self, Framing, MAX_HEADERS};
use libfuzzer_sys::fuzz_target;

fn within(buf: &[u8], s: &[u8]) -> bool {
    let (b, e) = (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len());
    let p = s.as_ptr() as usize;
    s.is_empty() || (p >= b && p + s.len() <= e)
}

fn count(name: &str, headers: &[httparse::Header<'_>]) -> usize {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .count()
}

fuzz_target!(|data: &[u8]| {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = request::parse(data, &mut hs);
    let req = match parsed {
        Ok(Some(r)) => r,
        Ok(None) => {
            // Incomplete: the error chosen for a full buffer is an error.
            let e = request::incomplete_error(data);
            assert!(e.status().code() >= 400);
            return;
        }
        Err(e) => {
            assert!(e.status().code() >= 400, "{e:?}");
            return;
        }
    };
    let head = &data[..req.head_len];
    assert!(req.head_len <= data.len());
    assert!(head.ends_with(b"\n"), "a head ends with its empty line");
    assert!(req.minor <= 1);
    // (An absolute-form target without a path yields the static "/".)
    for s in [req.target]
        .into_iter()
        .chain(req.query)
        .chain(req.host)
        .chain(req.if_none_match)
        .chain(req.range)
    {
        assert!(within(head, s));
    }
    assert!(
        req.path.starts_with(b"/") || req.path == b"*",
        "{:?}",
        req.path
    );
    // The same head alone is complete and identical.
    let mut hs2 = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let again = request::parse(head, &mut hs2)
        .expect("head alone")
        .expect("complete");
    assert_eq!(again.head_len, req.head_len);
    assert_eq!(again.framing, req.framing);
    assert_eq!(again.keep_alive, req.keep_alive);
    assert_eq!(again.path, req.path);
    // Framing: never both; duplicate lengths must agree; chunked is last.
    let cl = count("content-length", req.headers);
    let te = count("transfer-encoding", req.headers);
    match req.framing {
        Framing::Chunked => assert!(cl == 0, "chunked with Content-Length must be refused"),
        Framing::Length(_) => assert!(te == 0 && cl >= 1),
        Framing::None => assert!(te == 0),
    }
    if let Framing::Length(n) = req.framing {
        for h in req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        {
            // Every Content-Length field (a list, or repeated) names `n`.
            for item in request::list(h.value) {
                assert_eq!(
                    std::str::from_utf8(item)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok()),
                    Some(n)
                );
            }
        }
    }
    // A chunked body after the head: one piece and byte-by-byte agree.
    if req.framing == Framing::Chunked {
        let body = &data[req.head_len..];
        let whole = decode(body, body.len().max(1));
        let bytewise = decode(body, 1);
        if whole.2.is_some() {
            // Payload delivered before the bad byte depends on the pieces.
            assert_eq!(whole.2, bytewise.2);
        } else {
            assert_eq!(whole, bytewise);
        }
    }
});

/// Decodes `body` fed in pieces of at most `step` bytes (bytes not yet
/// consumed are carried into the next call, as the engine does).
/// Returns (payload, done, error, total consumed).
fn decode(body: &[u8], step: usize) -> (Vec<u8>, bool, Option<String>, usize) {
    let mut d = ChunkedDecoder::default();
    let mut out = Vec::new();
    let (mut pos, mut avail) = (0usize, 0usize);
    loop {
        avail = (avail + step).min(body.len() - pos);
        let input = &body[pos..pos + avail];
        match d.decode(input) {
            Ok(s) => {
                assert!(s.data.end <= s.consumed && s.consumed <= input.len());
                out.extend_from_slice(&input[s.data.clone()]);
                pos += s.consumed;
                avail -= s.consumed;
                if s.done {
                    return (out, true, None, pos);
                }
                if s.consumed == 0 && pos + avail == body.len() {
                    return (out, false, None, pos);
                }
            }
            // Where it failed depends on the pieces; the error does not.
            Err(e) => return (out, false, Some(format!("{e:?}")), 0),
        }
    }
}
