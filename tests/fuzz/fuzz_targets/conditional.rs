//! Conditional headers: HTTP dates and ETag lists.
//! - Any bytes: a parsed date formats to an IMF-fixdate that parses back to
//!   the same second; an IMF-fixdate input is reproduced byte for byte.
//! - Any seconds up to the largest HTTP date: format → parse is identity.
//! - ETag lists (If-Match / If-None-Match): `*` matches, a list that names
//!   the tag (strongly, or weakly for the weak comparison) matches, a
//!   strong comparison never matches a weak tag, and the matcher agrees
//!   with a reference model that splits the list the obvious way.
#![no_main]

use firmware_server::handler::etag_list_matches;
use fws_api::http::date::{format_http_date, parse_http_date, MAX_HTTP_DATE};
use libfuzzer_sys::fuzz_target;

/// A list parsed the simple way: elements separated by commas/whitespace,
/// each `W/"..."` or `"..."` (no comma inside our tags).
fn model(list: &[u8], tag: &[u8], weak: bool) -> bool {
    let t = |s: &[u8]| -> Vec<u8> {
        let a = s
            .iter()
            .position(|b| !matches!(b, b' ' | b'\t'))
            .unwrap_or(s.len());
        let e = s
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t'))
            .map_or(a, |i| i + 1);
        s[a..e.max(a)].to_vec()
    };
    if t(list) == b"*" {
        return true;
    }
    let mut rest = &list[..];
    loop {
        while let [b' ' | b'\t' | b',', r @ ..] = rest {
            rest = r;
        }
        if rest.is_empty() {
            return false;
        }
        let is_weak = rest.starts_with(b"W/");
        if is_weak {
            rest = &rest[2..];
        }
        if rest.first() != Some(&b'"') {
            return false;
        }
        let Some(close) = rest[1..].iter().position(|&b| b == b'"') else {
            return false;
        };
        if &rest[..close + 2] == tag && (weak || !is_weak) {
            return true;
        }
        rest = &rest[close + 2..];
    }
}

fuzz_target!(|data: &[u8]| {
    // Dates from arbitrary bytes.
    if let Some(t) = parse_http_date(data) {
        assert!(t <= MAX_HTTP_DATE);
        let mut out = [0u8; 29];
        format_http_date(t, &mut out);
        assert_eq!(parse_http_date(&out), Some(t));
        if data.len() == 29 && data.ends_with(b" GMT") && data.get(3) == Some(&b',') {
            // (The day name is not checked against the date by parsers.)
            assert_eq!(&out[5..], &data[5..], "IMF-fixdate must round-trip");
        }
    }
    // Seconds from the input.
    if data.len() >= 8 {
        let t = u64::from_le_bytes(data[..8].try_into().unwrap()) % (MAX_HTTP_DATE + 1);
        let mut out = [0u8; 29];
        format_http_date(t, &mut out);
        assert_eq!(
            parse_http_date(&out),
            Some(t),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
    // ETag lists: the first byte picks the tag among the input's quoted
    // strings, or a fixed one.
    let tag: &[u8] = match data.first() {
        Some(b) if b & 1 == 1 => b"\"5f2a-1c8\"",
        _ => b"\"x\"",
    };
    for weak in [false, true] {
        let got = etag_list_matches(data, tag, weak);
        assert_eq!(
            got,
            model(data, tag, weak),
            "list {:?} weak {weak}",
            String::from_utf8_lossy(data)
        );
    }
    // Properties on a list built around the input.
    let mut list = b"\"a\", ".to_vec();
    list.extend_from_slice(tag);
    assert!(etag_list_matches(&list, tag, false));
    let mut weak_list = b"W/".to_vec();
    weak_list.extend_from_slice(tag);
    assert!(etag_list_matches(&weak_list, tag, true));
    assert!(!etag_list_matches(&weak_list, tag, false));
    assert!(etag_list_matches(b" * ", tag, false));
});
