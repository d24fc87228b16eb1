//! Path decoding and normalisation against a reference model written the
//! obvious way (decode into a Vec, split, push/pop a segment stack). The
//! engine's in-place version must agree on every input: same result, same
//! error, same flags; the result never leaves the root (no `..`/`.`/empty
//! segment, no leading `/`), and normalising it again is the identity.
#![no_main]

use fws_api::http::path::{normalize, PathError};
use libfuzzer_sys::fuzz_target;

type Outcome = Result<(Vec<u8>, bool, bool), PathError>;

fn model(raw: &[u8]) -> Outcome {
    let end = raw
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(raw.len());
    let path = &raw[..end];
    if path.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    let mut dec = Vec::new();
    let mut i = 1;
    while i < path.len() {
        let c = if path[i] == b'%' {
            let h = path.get(i + 1).and_then(|&c| (c as char).to_digit(16));
            let l = path.get(i + 2).and_then(|&c| (c as char).to_digit(16));
            i += 3;
            match (h, l) {
                (Some(h), Some(l)) => (h * 16 + l) as u8,
                _ => return Err(PathError::BadEscape),
            }
        } else {
            i += 1;
            path[i - 1]
        };
        if c == 0 {
            return Err(PathError::Nul);
        }
        if c == b'\\' {
            return Err(PathError::Backslash);
        }
        if c < 0x20 || c == 0x7f {
            return Err(PathError::BadEscape);
        }
        dec.push(c);
    }
    if std::str::from_utf8(&dec).is_err() {
        return Err(PathError::InvalidUtf8);
    }
    let last = dec.split(|&b| b == b'/').last().unwrap_or(b"");
    let trailing = dec.is_empty() || matches!(last, b"" | b"." | b"..");
    let mut stack: Vec<&[u8]> = Vec::new();
    for seg in dec.split(|&b| b == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
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
        .any(|(i, s)| s.starts_with(b".") && !(i == 0 && *s == b".well-known"));
    Ok((stack.join(&b'/'), trailing, hidden))
}

fn run(raw: &[u8], cap: usize) -> Outcome {
    let mut out = vec![0u8; cap];
    normalize(raw, &mut out).map(|n| (out[..n.len].to_vec(), n.trailing_slash, n.hidden))
}

fuzz_target!(|data: &[u8]| {
    let got = run(data, data.len());
    let want = model(data);
    assert_eq!(got, want, "input {:?}", String::from_utf8_lossy(data));
    if let Ok((p, _, _)) = &got {
        assert!(!p.starts_with(b"/") && !p.ends_with(b"/"));
        for seg in p.split(|&b| b == b'/') {
            assert!(!p.is_empty() || seg.is_empty());
            assert!(p.is_empty() || !matches!(seg, b"" | b"." | b".."), "{p:?}");
        }
        // Idempotent: re-encode the characters the decoder treats specially.
        let mut again = b"/".to_vec();
        for &b in p {
            match b {
                b'%' | b'?' | b'#' => again.extend_from_slice(format!("%{b:02X}").as_bytes()),
                _ => again.push(b),
            }
        }
        assert_eq!(run(&again, again.len()).map(|r| r.0), Ok(p.clone()));
    }
    // A too-small buffer gives TooLong or the same answer, never a panic.
    let small = run(data, data.len() / 2);
    assert!(
        small == got || small == Err(PathError::TooLong) || got.is_err(),
        "{small:?} vs {got:?}"
    );
});
