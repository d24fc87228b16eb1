//! The config-file parser (`fws_api::doc`). Any text parses (fully or
//! partially) without panicking; a document that parses serialises to text
//! that parses to the same document (line numbers aside), and serialising
//! that again gives the same text (a fixpoint).
#![no_main]

use fws_api::doc::{self, format_key, Document, MAX_LINE_LEN};
use libfuzzer_sys::fuzz_target;

fn serialise(d: &Document) -> String {
    let mut s = String::new();
    for (i, t) in d.tables.iter().enumerate() {
        if i > 0 {
            let k = format_key(&t.name);
            if t.array {
                s.push_str(&format!("[[{k}]]\n"));
            } else {
                s.push_str(&format!("[{k}]\n"));
            }
        }
        for e in &t.entries {
            s.push_str(&format!("{} = {}\n", format_key(&e.key), e.value));
        }
    }
    s
}

fn strip_lines(d: &Document) -> Vec<(String, bool, Vec<(String, String)>)> {
    d.tables
        .iter()
        .map(|t| {
            let entries = t
                .entries
                .iter()
                .map(|e| (e.key.clone(), format!("{:?}", e.value)))
                .collect();
            (t.name.clone(), t.array, entries)
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (partial, errs) = doc::parse_partial(text);
    for (line, msg) in &errs {
        assert!(!msg.is_empty());
        assert!(
            *line as usize <= text.lines().count() + 1,
            "line {line} beyond the text"
        );
    }
    assert!(!partial.tables.is_empty() && partial.tables[0].name.is_empty());
    let Ok(d) = doc::parse(text) else {
        return;
    };
    let out = serialise(&d);
    if out.lines().any(|l| l.len() > MAX_LINE_LEN) {
        return; // a list written on several lines may not fit on one
    }
    let d2 =
        doc::parse(&out).unwrap_or_else(|e| panic!("serialised text does not parse: {e:?}\n{out}"));
    assert_eq!(strip_lines(&d), strip_lines(&d2), "{out}");
    assert_eq!(serialise(&d2), out);
});
