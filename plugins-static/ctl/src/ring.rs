//! Reading the logger plugin's replies (documented in its crate: `ring SEQ`
//! answers `seq N` and then the lines newer than SEQ; `stats` answers one
//! `KEY VALUE` line per counter). Parsed defensively: anything unexpected
//! is an error message or an absent value, never a panic.

use crate::proto::LogChunk;

/// Parses a `ring` reply to a request for lines after `after`.
pub fn parse(text: &str, after: u64) -> Result<LogChunk, String> {
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let next = first
        .strip_prefix("seq ")
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            let shown: String = first.chars().take(40).collect();
            format!("expected `seq N` on the first line, got {shown:?}")
        })?;
    let mut out: Vec<String> = lines.map(str::to_string).collect();
    // Every line ends with '\n': the split leaves one empty piece.
    if out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    let n = out.len() as u64;
    let missed = if after > 0 && next >= after {
        (next - after).saturating_sub(n)
    } else {
        0
    };
    Ok(LogChunk {
        next,
        lines: out,
        missed,
    })
}

/// `KEY VALUE` lines with a numeric value; others are skipped.
pub fn stats(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l
                .trim()
                .split_once(|c: char| c.is_whitespace() || c == '=' || c == ':')?;
            let v = v.trim().parse::<u64>().ok()?;
            (!k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                .then(|| (k.to_string(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_replies() {
        let c = parse("seq 0\n", 0).unwrap();
        assert_eq!((c.next, c.lines.len(), c.missed), (0, 0, 0));
        let c = parse("seq 5\na\nb\n", 0).unwrap();
        assert_eq!(
            (c.next, c.lines, c.missed),
            (5, vec!["a".to_string(), "b".into()], 0)
        );
        // Asked after 1, got 2 of the 4 newer lines: 2 were evicted.
        let c = parse("seq 5\nd\ne\n", 1).unwrap();
        assert_eq!(c.missed, 2);
        // Restarted ring.
        let c = parse("seq 2\nx\n", 9).unwrap();
        assert_eq!((c.next, c.missed), (2, 0));
        // Lines that contain spaces and empty lines in the middle are kept.
        let c = parse("seq 3\na b\n\nc\n", 0).unwrap();
        assert_eq!(c.lines, ["a b", "", "c"]);
        for bad in ["", "next 5\n", "seq x\n", "seq -1\n", "a\nseq 1\n"] {
            assert!(parse(bad, 0).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stats_lines() {
        let s = stats(
            "written_access 3\nwritten_error 0\ndropped 2\nbad line here\nx y\nring_lines 7\n",
        );
        assert_eq!(
            s,
            [
                ("written_access".to_string(), 3),
                ("written_error".into(), 0),
                ("dropped".into(), 2),
                ("ring_lines".into(), 7)
            ]
        );
        assert_eq!(stats("dropped=4\n"), [("dropped".to_string(), 4)]);
        assert!(stats("").is_empty());
    }
}
