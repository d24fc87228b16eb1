//! The auth plugin's parsers of untrusted bytes: htpasswd files (the text
//! an admin or a tool wrote) and the `Authorization` request header.
//! - htpasswd: parsing never panics; every user in the table is at most
//!   MAX_USER bytes, and each error/warning names the file.
//! - Authorization: a `Basic` value encoded from (user, password) decodes to
//!   exactly them; arbitrary values decode to credentials that lie inside
//!   the decoded bytes and contain no control character in the user.
#![no_main]

use fws_auth::header::{credentials, Problem, Secret, MAX_VALUE};
use fws_auth::htpasswd::{self, MAX_USER};
use libfuzzer_sys::fuzz_target;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            let loaded = htpasswd::parse("fuzz.htpasswd", rest);
            for m in loaded
                .warnings
                .iter()
                .chain(loaded.table.as_ref().err().into_iter().flatten())
            {
                assert!(m.starts_with("fuzz.htpasswd"), "{m}");
            }
            if let Ok(t) = &loaded.table {
                // Lookups of every line's name never panic; names are bounded.
                for line in rest.split(|&b| b == b'\n') {
                    let user = line.split(|&b| b == b':').next().unwrap_or(b"");
                    if let Some(h) = t.get(user) {
                        assert!(user.len() <= MAX_USER);
                        let _ = h.scheme();
                    }
                }
            }
        }
        1 => {
            // Arbitrary header value(s): the input split at NUL bytes.
            let values: Vec<&[u8]> = rest.split(|&b| b == 0).collect();
            let mut secret = Secret::new();
            let headers = values.iter().map(|v| ("Authorization", *v));
            match credentials(headers, &mut secret) {
                Ok(c) => {
                    assert_eq!(values.len(), 1, "two Authorization fields must be refused");
                    assert!(values[0].len() <= MAX_VALUE);
                    assert!(!c.user.iter().any(|&b| b < 0x20 || b == 0x7f));
                    assert!(!c.password.contains(&0));
                }
                Err(Problem::Missing) => assert!(values.len() == 1),
                Err(_) => {}
            }
        }
        _ => {
            // Round trip: "Basic " + base64(user ":" password).
            let cut = rest.iter().position(|&b| b == b':').unwrap_or(rest.len());
            let user = &rest[..cut];
            let password = rest.get(cut + 1..).unwrap_or(b"");
            let mut value = b"Basic ".to_vec();
            value.extend_from_slice(&b64(rest));
            let mut secret = Secret::new();
            let got = credentials(std::iter::once(("authorization", &value[..])), &mut secret);
            let clean = cut < rest.len()
                && !user.iter().any(|&b| b < 0x20 || b == 0x7f)
                && !password.contains(&0)
                && value.len() <= MAX_VALUE;
            match got {
                Ok(c) => {
                    assert!(clean);
                    assert_eq!(c.user, user);
                    assert_eq!(c.password, password);
                }
                Err(e) => assert!(!clean, "{e:?} for a valid header"),
            }
        }
    }
});
