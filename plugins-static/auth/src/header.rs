//! The `Authorization: Basic` header (RFC 7617), decoded into a
//! caller-provided buffer that is wiped when dropped.
//!
//! Contract: total over any header list, no allocation, no panic.

/// Longest `Authorization` value handled (longer is malformed).
pub const MAX_VALUE: usize = 1024;
/// Room for the decoded `user:password`.
pub const MAX_DECODED: usize = MAX_VALUE / 4 * 3;

/// Why no credentials came out of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// No `Authorization` header, or an empty one: ask for credentials.
    Missing,
    /// Another scheme (Bearer, Digest...): ask for Basic.
    OtherScheme,
    /// Broken Basic credentials (bad base64, no colon, NUL or control
    /// characters in the user, oversized, several headers): 400.
    Malformed,
}

/// A buffer for decoded credentials; zeroed on drop so a password does not
/// linger on the worker's stack.
pub struct Secret {
    buf: [u8; MAX_DECODED],
}

impl Secret {
    pub fn new() -> Secret {
        Secret {
            buf: [0; MAX_DECODED],
        }
    }
}

impl Default for Secret {
    fn default() -> Self {
        Secret::new()
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.buf.fill(0);
        std::hint::black_box(&mut self.buf);
    }
}

/// Decoded Basic credentials, borrowing a [`Secret`].
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials<'s> {
    pub user: &'s [u8],
    pub password: &'s [u8],
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Finds and decodes the request's Basic credentials. `headers` are
/// `(name, value)` pairs.
pub fn credentials<'s, 'h>(
    headers: impl Iterator<Item = (&'h str, &'h [u8])>,
    secret: &'s mut Secret,
) -> Result<Credentials<'s>, Problem> {
    let mut found: Option<&[u8]> = None;
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("authorization") {
            if found.is_some() {
                return Err(Problem::Malformed);
            }
            found = Some(value);
        }
    }
    let value = trim(found.ok_or(Problem::Missing)?);
    if value.is_empty() {
        return Err(Problem::Missing);
    }
    if value.len() > MAX_VALUE {
        return Err(Problem::Malformed);
    }
    let (scheme, token) = match value.iter().position(|&c| c == b' ' || c == b'\t') {
        Some(i) => (
            value.get(..i).unwrap_or(&[]),
            trim(value.get(i..).unwrap_or(&[])),
        ),
        None => (value, &[][..]),
    };
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(Problem::OtherScheme);
    }
    let decoded = crate::b64::decode_std(token, &mut secret.buf).ok_or(Problem::Malformed)?;
    if token.is_empty() {
        return Err(Problem::Malformed);
    }
    let colon = decoded
        .iter()
        .position(|&c| c == b':')
        .ok_or(Problem::Malformed)?;
    let user = decoded.get(..colon).unwrap_or(&[]);
    let password = decoded.get(colon + 1..).unwrap_or(&[]);
    if user.iter().any(|&c| c < 0x20 || c == 0x7f) || password.contains(&0) {
        return Err(Problem::Malformed);
    }
    Ok(Credentials { user, password })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Got = Result<(Vec<u8>, Vec<u8>), Problem>;

    fn run(values: &[&str]) -> Got {
        let mut s = Secret::new();
        let hs = values.iter().map(|v| ("Authorization", v.as_bytes()));
        credentials(hs, &mut s).map(|c| (c.user.to_vec(), c.password.to_vec()))
    }

    fn ok(u: &str, p: &str) -> Got {
        Ok((u.as_bytes().to_vec(), p.as_bytes().to_vec()))
    }

    #[test]
    fn table() {
        use Problem::*;
        let big = format!("Basic {}", "QUFB".repeat(300));
        let cases: &[(&[&str], Got)] = &[
            (&[], Err(Missing)),
            (&[""], Err(Missing)),
            (&["   "], Err(Missing)),
            (&["Basic YWxpY2U6c2VjcmV0"], ok("alice", "secret")),
            (&["basic YWxpY2U6c2VjcmV0"], ok("alice", "secret")),
            (&["BASIC   YWxpY2U6c2VjcmV0  "], ok("alice", "secret")),
            (&["Basic YWxpY2U6"], ok("alice", "")),
            (&["Basic OnB3"], ok("", "pw")),
            (&["Basic YTpiOmM="], ok("a", "b:c")), // a:b:c, password keeps colons
            (&["Basic"], Err(Malformed)),
            (&["Basic "], Err(Malformed)),
            (&["Basic !!!"], Err(Malformed)),
            (&["Basic YWxpY2U="], Err(Malformed)), // "alice", no colon
            (&["Basic YWxp Y2U6"], Err(Malformed)),
            (&["Basic AGE6Yg=="], Err(Malformed)), // NUL in user
            (&["Basic YTpiAGM="], Err(Malformed)), // NUL in password
            (&["Basic G2E6Yg=="], Err(Malformed)), // ESC in user
            (&[&big], Err(Malformed)),
            (&["Bearer abc"], Err(OtherScheme)),
            (&["Digest username=\"a\""], Err(OtherScheme)),
            (&["Basicx YWxpY2U6c2VjcmV0"], Err(OtherScheme)),
            (&["YWxpY2U6c2VjcmV0"], Err(OtherScheme)),
            (
                &["Basic YWxpY2U6c2VjcmV0", "Basic YWxpY2U6c2VjcmV0"],
                Err(Malformed),
            ),
        ];
        for (values, want) in cases {
            assert_eq!(&run(values), want, "{values:?}");
        }
    }

    /// Random values, biased to base64 and separators: never a panic, and
    /// whatever decodes splits at a colon.
    #[test]
    fn junk_never_panics() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alpha = b"ABCabc019+/= :\t\x00\xff";
        for i in 0..20_000 {
            let len = (rnd() % 1100) as usize;
            let mut v: Vec<u8> = if i % 2 == 0 {
                b"Basic ".to_vec()
            } else {
                Vec::new()
            };
            v.extend((0..len).map(|_| alpha[(rnd() % alpha.len() as u64) as usize]));
            let mut s = Secret::new();
            if let Ok(c) = credentials([("Authorization", &v[..])].into_iter(), &mut s) {
                assert!(c.user.len() + c.password.len() < MAX_DECODED);
                assert!(!c.user.contains(&b':'));
            }
        }
    }

    #[test]
    fn other_headers_ignored_and_name_case_insensitive() {
        let mut s = Secret::new();
        let hs = [
            ("Host", &b"x"[..]),
            ("AUTHORIZATION", b"Basic YWxpY2U6c2VjcmV0"),
            ("Proxy-Authorization", b"Basic Ym9iOng="),
        ];
        let c = credentials(hs.into_iter(), &mut s).unwrap();
        assert_eq!(c.user, b"alice");
    }
}
