//! The `Range` request header (RFC 9110 §14.1–14.2), sans I/O.
//!
//! Contract:
//! - [`parse_range`] accepts any byte slice as the raw field value and any
//!   representation length. It recognises only the `bytes` unit (matched
//!   case-insensitively), tolerates optional whitespace around list elements
//!   and empty list elements, and resolves each range-spec against `len`
//!   into inclusive `(first, last)` pairs written to the caller's array in
//!   header order. Any syntax error, another unit, a number overflowing
//!   `u64`, `first > last`, or more than [`MAX_RANGES`] specs makes the whole
//!   header [`RangeOutcome::Ignore`]d (serve 200). Valid syntax with no
//!   satisfiable spec gives [`RangeOutcome::Unsatisfiable`] (416).
//! - [`coalesce`] accepts any slice of pairs and reports whether they form a
//!   single contiguous span.
//! - No function panics on any input, allocates, or uses `unsafe`; all
//!   arithmetic is checked.
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

/// Most range-specs accepted in one header; more makes the header ignored.
pub const MAX_RANGES: usize = 16;

/// What to do with a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeOutcome {
    /// Invalid or unsupported: ignore the header and send the whole
    /// representation with 200.
    Ignore,
    /// This many satisfiable ranges (>= 1) were written to `out`, in header
    /// order, as inclusive `(first, last)` pairs with `last < len`.
    Ranges(usize),
    /// Syntactically valid, but no range overlaps the representation: 416.
    Unsatisfiable,
}

/// One syntactically valid range-spec.
enum Spec {
    /// `first-last` or `first-` (open).
    Int(u64, Option<u64>),
    /// `-suffix_length`.
    Suffix(u64),
}

/// Parses a `Range` field value (e.g. `bytes=0-99, 200-, -50`) against a
/// representation of `len` bytes.
pub fn parse_range(value: &[u8], len: u64, out: &mut [(u64, u64); MAX_RANGES]) -> RangeOutcome {
    let value = trim_ows(value);
    let Some(eq) = value.iter().position(|&b| b == b'=') else {
        return RangeOutcome::Ignore;
    };
    let Some((unit, set)) = value.split_at_checked(eq) else {
        return RangeOutcome::Ignore;
    };
    if !unit.eq_ignore_ascii_case(b"bytes") {
        return RangeOutcome::Ignore;
    }
    // `set` still starts with the '='.
    let set = set.get(1..).unwrap_or(&[]);

    let mut specs = 0usize;
    let mut written = 0usize;
    for element in set.split(|&b| b == b',') {
        let element = trim_ows(element);
        if element.is_empty() {
            continue;
        }
        specs = match specs.checked_add(1) {
            Some(n) if n <= MAX_RANGES => n,
            _ => return RangeOutcome::Ignore,
        };
        let Some(spec) = parse_spec(element) else {
            return RangeOutcome::Ignore;
        };
        let resolved = match spec {
            Spec::Int(first, Some(last)) if first > last => return RangeOutcome::Ignore,
            Spec::Int(first, last) => resolve_int(first, last, len),
            Spec::Suffix(n) => resolve_suffix(n, len),
        };
        if let Some(pair) = resolved {
            // `written < specs <= MAX_RANGES`, so the slot always exists.
            let Some(slot) = out.get_mut(written) else {
                return RangeOutcome::Ignore;
            };
            *slot = pair;
            written = written.saturating_add(1);
        }
    }
    if specs == 0 {
        // `1#range-spec`: at least one element is required.
        RangeOutcome::Ignore
    } else if written == 0 {
        RangeOutcome::Unsatisfiable
    } else {
        RangeOutcome::Ranges(written)
    }
}

/// If `ranges` (inclusive pairs, any order) together cover exactly one
/// contiguous span (overlapping or adjacent), returns it. Returns `None` for
/// an empty slice, a gap, or any pair with `first > last`.
pub fn coalesce(ranges: &[(u64, u64)]) -> Option<(u64, u64)> {
    let mut lo = u64::MAX;
    let mut hi = 0u64;
    for &(a, b) in ranges {
        if a > b {
            return None;
        }
        lo = lo.min(a);
        hi = hi.max(b);
    }
    if ranges.is_empty() {
        return None;
    }
    // The union has a gap iff some pair ends before `hi` and the byte right
    // after it is covered by no pair.
    for &(_, end) in ranges {
        if end >= hi {
            continue;
        }
        let next = end.checked_add(1)?;
        if !ranges.iter().any(|&(a, b)| a <= next && next <= b) {
            return None;
        }
    }
    Some((lo, hi))
}

fn resolve_int(first: u64, last: Option<u64>, len: u64) -> Option<(u64, u64)> {
    if first >= len {
        return None;
    }
    let max = len.checked_sub(1)?;
    Some((first, last.map_or(max, |l| l.min(max))))
}

fn resolve_suffix(n: u64, len: u64) -> Option<(u64, u64)> {
    if n == 0 || len == 0 {
        return None;
    }
    let first = len.checked_sub(n.min(len))?;
    Some((first, len.checked_sub(1)?))
}

/// `first-pos "-" [ last-pos ]` or `"-" suffix-length`.
fn parse_spec(s: &[u8]) -> Option<Spec> {
    let dash = s.iter().position(|&b| b == b'-')?;
    let (first, rest) = s.split_at_checked(dash)?;
    let last = rest.get(1..)?;
    if first.is_empty() {
        return parse_u64(last).map(Spec::Suffix);
    }
    let first = parse_u64(first)?;
    if last.is_empty() {
        Some(Spec::Int(first, None))
    } else {
        Some(Spec::Int(first, Some(parse_u64(last)?)))
    }
}

/// `1*DIGIT` into a `u64`, `None` on anything else or on overflow.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c & 0x0f))
        } else {
            None
        }
    })
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    type Pairs = &'static [(u64, u64)];

    fn run(value: &str, len: u64) -> (RangeOutcome, Vec<(u64, u64)>) {
        let mut out = [(u64::MAX, u64::MAX); MAX_RANGES];
        let r = parse_range(value.as_bytes(), len, &mut out);
        let got = match r {
            RangeOutcome::Ranges(n) => out[..n].to_vec(),
            _ => Vec::new(),
        };
        (r, got)
    }

    #[test]
    fn satisfiable_table() {
        let cases: &[(&str, u64, Pairs)] = &[
            ("bytes=0-99", 1000, &[(0, 99)]),
            ("bytes=0-0", 1, &[(0, 0)]),
            ("bytes=0-", 1000, &[(0, 999)]),
            ("bytes=999-", 1000, &[(999, 999)]),
            ("bytes=500-2000", 1000, &[(500, 999)]),
            ("bytes=-50", 1000, &[(950, 999)]),
            ("bytes=-1000", 1000, &[(0, 999)]),
            ("bytes=-5000", 1000, &[(0, 999)]),
            ("bytes=-1", 1, &[(0, 0)]),
            ("BYTES=0-1", 10, &[(0, 1)]),
            ("Bytes=0-1", 10, &[(0, 1)]),
            (
                "bytes=0-99, 200-, -50",
                1000,
                &[(0, 99), (200, 999), (950, 999)],
            ),
            ("bytes=0-1,,2-3", 10, &[(0, 1), (2, 3)]),
            ("bytes=,0-1", 10, &[(0, 1)]),
            ("bytes=0-1,", 10, &[(0, 1)]),
            ("bytes=0-1 , \t 2-3", 10, &[(0, 1), (2, 3)]),
            ("bytes=0-1, ,2-3", 10, &[(0, 1), (2, 3)]),
            ("  bytes=0-1  ", 10, &[(0, 1)]),
            ("bytes=20-30,0-1", 10, &[(0, 1)]),
            ("bytes=-0,0-1", 10, &[(0, 1)]),
            ("bytes=0-1,0-1", 10, &[(0, 1), (0, 1)]),
            ("bytes=0000000000000000000000000000007-9", 10, &[(7, 9)]),
            (
                "bytes=0-18446744073709551615",
                u64::MAX,
                &[(0, u64::MAX - 1)],
            ),
            (
                "bytes=18446744073709551614-",
                u64::MAX,
                &[(u64::MAX - 1, u64::MAX - 1)],
            ),
            (
                "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15",
                100,
                &[
                    (0, 0),
                    (1, 1),
                    (2, 2),
                    (3, 3),
                    (4, 4),
                    (5, 5),
                    (6, 6),
                    (7, 7),
                    (8, 8),
                    (9, 9),
                    (10, 10),
                    (11, 11),
                    (12, 12),
                    (13, 13),
                    (14, 14),
                    (15, 15),
                ],
            ),
        ];
        for &(value, len, want) in cases {
            let (r, got) = run(value, len);
            assert_eq!(r, RangeOutcome::Ranges(want.len()), "{value:?} len={len}");
            assert_eq!(got, want, "{value:?} len={len}");
        }
    }

    #[test]
    fn ignore_table() {
        let cases: &[&str] = &[
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes= , ,",
            "bytes=-",
            "bytes=--1",
            "bytes=1--2",
            "bytes=a-b",
            "bytes=0x1-2",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=1-2-3",
            "bytes=1 -2",
            "bytes=1- 2",
            "bytes=- 2",
            "bytes=5-1",
            "bytes=0-1,5-1",
            "bytes=9-1",
            "bytes =0-1",
            "bytes= =0-1",
            "bytes==0-1",
            "bytes=0-1;",
            "bytes=0-1;2-3",
            "bits=0-1",
            "items=0-1",
            "byte=0-1",
            "bytesx=0-1",
            "=0-1",
            "0-1",
            "bytes=18446744073709551616-",
            "bytes=0-18446744073709551616",
            "bytes=-18446744073709551616",
            "bytes=99999999999999999999999999-",
            "bytes=0-1\r\n",
            "bytes=0-1\0",
            "bytes=\u{0660}-1",
            "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15,16-16",
            "bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,13-13,14-14,15-15,99-",
        ];
        for value in cases {
            for len in [0, 1, 10, 1000, u64::MAX] {
                assert_eq!(
                    run(value, len).0,
                    RangeOutcome::Ignore,
                    "{value:?} len={len}"
                );
            }
        }
    }

    #[test]
    fn unsatisfiable_table() {
        let cases: &[(&str, u64)] = &[
            ("bytes=10-", 10),
            ("bytes=10-20", 10),
            ("bytes=1000-2000", 10),
            ("bytes=-0", 10),
            ("bytes=-0,-0", 10),
            ("bytes=0-0", 0),
            ("bytes=0-", 0),
            ("bytes=-1", 0),
            ("bytes=-5", 0),
            ("bytes=10-, 20-30, -0", 10),
            ("bytes=,10-,", 10),
            ("bytes=18446744073709551615-", u64::MAX),
        ];
        for &(value, len) in cases {
            assert_eq!(
                run(value, len).0,
                RangeOutcome::Unsatisfiable,
                "{value:?} len={len}"
            );
        }
    }

    #[test]
    fn out_untouched_beyond_count() {
        let mut out = [(7, 7); MAX_RANGES];
        assert_eq!(
            parse_range(b"bytes=50-,0-1,-2", 10, &mut out),
            RangeOutcome::Ranges(2)
        );
        assert_eq!(out[..3], [(0, 1), (8, 9), (7, 7)]);
    }

    #[test]
    fn coalesce_table() {
        let cases: &[(Pairs, Option<(u64, u64)>)] = &[
            (&[], None),
            (&[(5, 9)], Some((5, 9))),
            (&[(0, 4), (5, 9)], Some((0, 9))),
            (&[(5, 9), (0, 4)], Some((0, 9))),
            (&[(0, 5), (3, 9)], Some((0, 9))),
            (&[(0, 9), (2, 3)], Some((0, 9))),
            (&[(2, 3), (0, 9)], Some((0, 9))),
            (&[(0, 1), (3, 4)], None),
            (&[(3, 4), (0, 1)], None),
            (&[(0, 1), (4, 5), (2, 3)], Some((0, 5))),
            (&[(0, 1), (4, 5), (2, 2)], None),
            (&[(0, 0), (0, 0)], Some((0, 0))),
            (&[(0, 10), (20, 30), (5, 25)], Some((0, 30))),
            (&[(0, 10), (20, 30), (12, 25)], None),
            (&[(0, u64::MAX), (5, 6)], Some((0, u64::MAX))),
            (
                &[(u64::MAX, u64::MAX), (0, u64::MAX - 1)],
                Some((0, u64::MAX)),
            ),
            (&[(u64::MAX, u64::MAX), (0, u64::MAX - 2)], None),
            (&[(5, 4)], None),
            (&[(0, 9), (5, 4)], None),
        ];
        for &(ranges, want) in cases {
            assert_eq!(coalesce(ranges), want, "{ranges:?}");
        }
    }

    /// Brute-force cross-check of `coalesce` on small coordinates.
    #[test]
    fn coalesce_matches_bitmap_model() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let n = (next() % 5) as usize + 1;
            let mut ranges = Vec::new();
            let mut covered = [false; 24];
            for _ in 0..n {
                let a = next() % 20;
                let b = a + next() % 4;
                ranges.push((a, b));
                for c in &mut covered[a as usize..=b as usize] {
                    *c = true;
                }
            }
            let lo = covered.iter().position(|&c| c).unwrap();
            let hi = covered.iter().rposition(|&c| c).unwrap();
            let contiguous = covered[lo..=hi].iter().all(|&c| c);
            let want = contiguous.then_some((lo as u64, hi as u64));
            assert_eq!(coalesce(&ranges), want, "{ranges:?}");
        }
    }

    #[test]
    fn never_panics_on_random_headers() {
        let alphabet = b"bytes=0123456789-, \t;Bx";
        let mut seed = 12345u64;
        for _ in 0..50_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 40) as usize;
            let mut v = b"bytes=".to_vec();
            let mut s = seed;
            for _ in 0..n {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                v.push(alphabet[(s >> 33) as usize % alphabet.len()]);
            }
            for len in [0, 1, 7, 100, u64::MAX] {
                let mut out = [(0, 0); MAX_RANGES];
                if let RangeOutcome::Ranges(k) = parse_range(&v, len, &mut out) {
                    assert!((1..=MAX_RANGES).contains(&k));
                    for &(a, b) in &out[..k] {
                        assert!(a <= b && b < len, "{:?}", String::from_utf8_lossy(&v));
                    }
                }
            }
        }
    }
}
