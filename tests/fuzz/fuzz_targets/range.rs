//! The Range header against a reference model. The first 8 bytes are the
//! representation length, the rest the header value. Every range returned
//! lies inside the file (first <= last < len), the outcome agrees with a
//! straightforward re-implementation of RFC 9110 §14.1.2, and `coalesce`
//! (used for multi-range requests) agrees with a byte-set merge model.
#![no_main]

use fws_api::http::range::{coalesce, parse_range, RangeOutcome, MAX_RANGES};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
enum Model {
    Ignore,
    Ranges(Vec<(u64, u64)>),
    Unsatisfiable,
}

fn digits(s: &[u8]) -> Option<u64> {
    // Not digits, or too large for u64 (the parser ignores such a header).
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse::<u64>().ok()
}

fn model(value: &[u8], len: u64) -> Model {
    let t = |s: &[u8]| -> Vec<u8> {
        let s: Vec<u8> = s.to_vec();
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
    let v = t(value);
    let Some(eq) = v.iter().position(|&b| b == b'=') else {
        return Model::Ignore;
    };
    if !v[..eq].eq_ignore_ascii_case(b"bytes") {
        return Model::Ignore;
    }
    let mut out = Vec::new();
    let mut specs = 0;
    for item in v[eq + 1..].split(|&b| b == b',') {
        let item = t(item);
        if item.is_empty() {
            continue;
        }
        specs += 1;
        if specs > MAX_RANGES {
            return Model::Ignore;
        }
        let Some(dash) = item.iter().position(|&b| b == b'-') else {
            return Model::Ignore;
        };
        let (a, b) = (&item[..dash], &item[dash + 1..]);
        if a.is_empty() {
            let Some(n) = digits(b) else {
                return Model::Ignore;
            };
            if n > 0 && len > 0 {
                out.push((len - n.min(len), len - 1));
            }
        } else {
            let Some(first) = digits(a) else {
                return Model::Ignore;
            };
            let last = if b.is_empty() {
                None
            } else {
                match digits(b) {
                    Some(l) => Some(l),
                    None => return Model::Ignore,
                }
            };
            if let Some(l) = last {
                if l < first {
                    return Model::Ignore;
                }
            }
            if first < len {
                out.push((first, last.unwrap_or(u64::MAX).min(len - 1)));
            }
        }
    }
    if specs == 0 {
        Model::Ignore
    } else if out.is_empty() {
        Model::Unsatisfiable
    } else {
        Model::Ranges(out)
    }
}

/// Union of the ranges as one span, by walking sorted intervals.
fn merge_model(r: &[(u64, u64)]) -> Option<(u64, u64)> {
    if r.is_empty() || r.iter().any(|&(a, b)| a > b) {
        return None;
    }
    let mut v = r.to_vec();
    v.sort();
    let (lo, mut hi) = v[0];
    for &(a, b) in &v[1..] {
        if a > hi.saturating_add(1) {
            return None;
        }
        hi = hi.max(b);
    }
    Some((lo, hi))
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (l, value) = data.split_at(8);
    // Mostly small lengths (interesting boundaries), sometimes huge ones.
    let raw = u64::from_le_bytes(l.try_into().unwrap());
    let len = if raw & 1 == 0 {
        (raw >> 1) % 2048
    } else {
        raw >> 1
    };
    let mut out = [(0u64, 0u64); MAX_RANGES];
    let got = match parse_range(value, len, &mut out) {
        RangeOutcome::Ignore => Model::Ignore,
        RangeOutcome::Unsatisfiable => Model::Unsatisfiable,
        RangeOutcome::Ranges(n) => {
            assert!(n >= 1 && n <= MAX_RANGES);
            for &(a, b) in &out[..n] {
                assert!(a <= b && b < len, "({a}, {b}) outside 0..{len}");
            }
            Model::Ranges(out[..n].to_vec())
        }
    };
    let want = model(value, len);
    assert_eq!(
        got,
        want,
        "value {:?} len {len}",
        String::from_utf8_lossy(value)
    );
    if let Model::Ranges(r) = &got {
        assert_eq!(coalesce(r), merge_model(r));
    }
    // coalesce on arbitrary pairs built from the input.
    let pairs: Vec<(u64, u64)> = value
        .chunks_exact(4)
        .map(|c| {
            (
                u64::from(c[0]) * 3 + u64::from(c[1]),
                u64::from(c[2]) * 3 + u64::from(c[3]),
            )
        })
        .collect();
    assert_eq!(coalesce(&pairs), merge_model(&pairs));
});
