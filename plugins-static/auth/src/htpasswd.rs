//! htpasswd files: `user:hash` lines (Apache's format; fields after a
//! second `:` are ignored, as Apache does), `#` comments and blank lines.
//!
//! A file either loads whole or not at all: any malformed line is an error
//! `FILE:LINE: message`, and the caller keeps its previous table. Entries
//! whose hash is refused (plain text, DES crypt, unknown scheme, a cost too
//! high) and later duplicates of a user are left out with a warning; they
//! never match. Input is bounded ([`MAX_FILE`], [`MAX_LINE`]), parsing never
//! panics.

use crate::hash::{Hash, Parsed};

/// Largest htpasswd file read.
pub const MAX_FILE: usize = 1 << 20;
/// Longest line.
pub const MAX_LINE: usize = 4096;
/// Longest user name (the engine's `REMOTE_USER` holds 63 bytes).
pub const MAX_USER: usize = 63;

/// The users of one htpasswd file, sorted by name.
#[derive(Debug, Default)]
pub struct Table {
    users: Vec<(Box<[u8]>, Hash)>,
}

impl Table {
    pub fn get(&self, user: &[u8]) -> Option<&Hash> {
        self.users
            .binary_search_by(|(u, _)| (**u).cmp(user))
            .ok()
            .and_then(|i| self.users.get(i))
            .map(|(_, h)| h)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// The result of parsing a file: the table or the errors, and warnings
/// either way.
pub struct Loaded {
    pub table: Result<Table, Vec<String>>,
    pub warnings: Vec<String>,
}

/// Parses the text of htpasswd file `name` (used in messages).
pub fn parse(name: &str, text: &[u8]) -> Loaded {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let mut users: Vec<(Box<[u8]>, Hash, usize)> = Vec::new();
    if text.len() > MAX_FILE {
        return Loaded {
            table: Err(vec![format!(
                "{name}: file is larger than {MAX_FILE} bytes"
            )]),
            warnings,
        };
    }
    for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let line = trim_end(line);
        if line.len() > MAX_LINE {
            errors.push(format!("{name}:{n}: line is longer than {MAX_LINE} bytes"));
            continue;
        }
        let start = line
            .iter()
            .position(|c| !matches!(c, b' ' | b'\t'))
            .unwrap_or(line.len());
        if start == line.len() || line.get(start) == Some(&b'#') {
            continue;
        }
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            errors.push(format!(
                "{name}:{n}: expected USER:HASH (no ':' on the line)"
            ));
            continue;
        };
        let user = line.get(..colon).unwrap_or(&[]);
        let rest = line.get(colon + 1..).unwrap_or(&[]);
        let field = rest.split(|&c| c == b':').next().unwrap_or(&[]);
        if user.is_empty() {
            errors.push(format!("{name}:{n}: empty user name"));
            continue;
        }
        if user.iter().any(|&c| c < 0x20 || c == 0x7f) {
            errors.push(format!("{name}:{n}: control character in the user name"));
            continue;
        }
        let shown = String::from_utf8_lossy(user);
        if user.len() > MAX_USER {
            warnings.push(format!(
                "{name}:{n}: user name longer than {MAX_USER} bytes, entry ignored"
            ));
            continue;
        }
        match Hash::parse(field) {
            Parsed::Ok(h) => users.push((user.into(), h, n)),
            Parsed::Malformed(why) => errors.push(format!("{name}:{n}: user {shown}: {why}")),
            Parsed::Refused(why) => warnings.push(format!(
                "{name}:{n}: user {shown}: {why}; entry refused (this user cannot log in)"
            )),
        }
    }
    if !errors.is_empty() {
        return Loaded {
            table: Err(errors),
            warnings,
        };
    }
    // Equal names stay in file order (by line): the first one wins, as in
    // Apache. (An unstable sort is smaller code than the stable one.)
    users.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut out: Vec<(Box<[u8]>, Hash)> = Vec::with_capacity(users.len());
    for (user, hash, n) in users {
        if out.last().is_some_and(|(u, _)| *u == user) {
            warnings.push(format!(
                "{name}:{n}: user {} appears again, this entry is ignored",
                String::from_utf8_lossy(&user)
            ));
            continue;
        }
        out.push((user, hash));
    }
    Loaded {
        table: Ok(Table { users: out }),
        warnings,
    }
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA_SECRET: &str = "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="; // "secret"

    #[test]
    fn loads_and_looks_up() {
        let text = format!(
            "# made by hand\n\nalice:{SHA_SECRET}\r\n  \nbob:{SHA_SECRET}:extra:fields\n\
             carol:plaintext\ndave:abJnggxhB/yWI\nalice:{SHA_SECRET}\n{}:{SHA_SECRET}\n",
            "u".repeat(64)
        );
        let l = parse("pw", text.as_bytes());
        let t = l.table.unwrap();
        assert_eq!(t.len(), 2);
        assert!(t.get(b"alice").unwrap().verify(b"secret"));
        assert!(t.get(b"bob").unwrap().verify(b"secret"));
        assert!(t.get(b"carol").is_none(), "plain text is never accepted");
        assert!(t.get(b"dave").is_none(), "DES crypt is never accepted");
        assert!(t.get(b"eve").is_none());
        let w = l.warnings.join("\n");
        assert!(w.contains("pw:6: user carol: plain-text"), "{w}");
        assert!(w.contains("pw:7: user dave: DES crypt"), "{w}");
        assert!(w.contains("pw:8: user alice appears again"), "{w}");
        assert!(w.contains("pw:9: user name longer than 63"), "{w}");
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases: &[(&str, &str)] = &[
            ("alice\n", "f:1: expected USER:HASH"),
            (
                "ok:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n:{SHA}x\n",
                "f:2: empty user name",
            ),
            ("a\x01b:x\n", "f:1: control character"),
            ("\n\nbob:$apr1$salt$short\n", "f:3: user bob: MD5-crypt"),
            ("bob:{SHA}abc\n", "f:1: user bob: {SHA}"),
            ("bob:$2y$05$tooshort\n", "f:1: user bob: bcrypt"),
        ];
        for &(text, want) in cases {
            let l = parse("f", text.as_bytes());
            let e = l.table.unwrap_err().join("\n");
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let long = format!("u:{}\n", "x".repeat(MAX_LINE));
        assert!(parse("f", long.as_bytes()).table.is_err());
        let big = vec![b'#'; MAX_FILE + 1];
        assert!(parse("f", &big).table.is_err());
        // Binary junk never panics.
        let junk: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let _ = parse("f", &junk);
    }

    #[test]
    fn empty_file_is_an_empty_table() {
        let l = parse("f", b"");
        assert!(l.table.unwrap().is_empty());
    }
}
