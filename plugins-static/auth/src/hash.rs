//! Password hashes as Apache's `htpasswd` (and `mkpasswd`, `openssl
//! passwd`) write them, and their verification.
//!
//! Accepted: bcrypt `$2y$`/`$2a$`/`$2b$` (cost 4 to [`BCRYPT_MAX_COST`]),
//! `{SHA}` (base64 SHA-1), MD5-crypt `$apr1$` and `$1$`, SHA-crypt `$5$` and
//! `$6$` (optional `rounds=N$`, N up to [`SHA_MAX_ROUNDS`]). Anything else —
//! plain text, DES crypt, unknown schemes — is [`Parsed::Refused`]: the entry
//! never matches.
//!
//! Verification recomputes the hash from the offered password and compares
//! the final hash (its stored encoding) in constant time; the stored hash is
//! never accepted as a password. Contract: no panic, no allocation
//! (scratch space is on the stack, passwords are bounded by
//! [`MAX_PASSWORD`]).

use blowfish::Blowfish;

use crate::b64;
use crate::digest::{Digest, Md5, Sha1, Sha256, Sha512};

/// Longest password verified (longer ones never match).
pub const MAX_PASSWORD: usize = 512;
/// bcrypt costs above this are refused at load: 2^18 rounds already take
/// tens of seconds on a router CPU (Apache's `htpasswd -C` stops at 17).
pub const BCRYPT_MAX_COST: u8 = 17;
/// SHA-crypt rounds above this are refused at load (the default is 5000).
pub const SHA_MAX_ROUNDS: u32 = 1_000_000;
const SHA_DEFAULT_ROUNDS: u32 = 5000;
const SHA_MIN_ROUNDS: u32 = 1000;

/// A stored password hash.
#[derive(Clone, PartialEq, Eq)]
pub enum Hash {
    Bcrypt {
        cost: u8,
        salt: [u8; 16],
        /// The 31 encoding characters of the 23 hash bytes.
        hash: [u8; 31],
    },
    Sha1([u8; 20]),
    Md5Crypt {
        apr1: bool,
        salt: Salt<8>,
        /// The 22 encoding characters.
        hash: [u8; 22],
    },
    ShaCrypt {
        sha512: bool,
        rounds: u32,
        salt: Salt<16>,
        /// 43 (SHA-256) or 86 (SHA-512) encoding characters.
        hash: [u8; 86],
    },
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.scheme())
    }
}

/// A salt of at most `N` bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Salt<const N: usize> {
    len: u8,
    buf: [u8; N],
}

impl<const N: usize> Salt<N> {
    fn new(s: &[u8]) -> Option<Self> {
        let mut buf = [0u8; N];
        buf.get_mut(..s.len())?.copy_from_slice(s);
        Some(Salt {
            len: s.len() as u8,
            buf,
        })
    }
    fn get(&self) -> &[u8] {
        self.buf.get(..self.len as usize).unwrap_or(&[])
    }
}

/// What a stored hash field is.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Ok(Hash),
    /// A supported scheme, but the field is malformed (a parse error).
    Malformed(&'static str),
    /// Not accepted (plain text, DES crypt, unknown or too costly): the
    /// entry is left out with a warning.
    Refused(String),
}

impl Hash {
    pub fn scheme(&self) -> &'static str {
        match self {
            Hash::Bcrypt { .. } => "bcrypt",
            Hash::Sha1(_) => "{SHA}",
            Hash::Md5Crypt { apr1: true, .. } => "apr1",
            Hash::Md5Crypt { apr1: false, .. } => "md5-crypt",
            Hash::ShaCrypt { sha512: false, .. } => "sha256-crypt",
            Hash::ShaCrypt { sha512: true, .. } => "sha512-crypt",
        }
    }

    /// Whether verifying costs real CPU time (everything but `{SHA}`).
    pub fn expensive(&self) -> bool {
        !matches!(self, Hash::Sha1(_))
    }

    /// The bytes that identify this hash (for the verification cache key).
    pub fn fingerprint(&self) -> &[u8] {
        match self {
            Hash::Bcrypt { hash, .. } => hash,
            Hash::Sha1(h) => h,
            Hash::Md5Crypt { hash, .. } => hash,
            Hash::ShaCrypt { hash, sha512, .. } => {
                hash.get(..if *sha512 { 86 } else { 43 }).unwrap_or(hash)
            }
        }
    }

    /// Parses an htpasswd hash field.
    pub fn parse(field: &[u8]) -> Parsed {
        if let Some(rest) = field.strip_prefix(b"{SHA}") {
            return parse_sha1(rest);
        }
        if let Some(rest) = field.strip_prefix(b"$apr1$") {
            return parse_md5(rest, true);
        }
        if let Some(rest) = field.strip_prefix(b"$1$") {
            return parse_md5(rest, false);
        }
        if let Some(rest) = field.strip_prefix(b"$5$") {
            return parse_sha_crypt(rest, false);
        }
        if let Some(rest) = field.strip_prefix(b"$6$") {
            return parse_sha_crypt(rest, true);
        }
        for v in [&b"$2y$"[..], b"$2a$", b"$2b$"] {
            if let Some(rest) = field.strip_prefix(v) {
                return parse_bcrypt(rest);
            }
        }
        if field.first() == Some(&b'$') {
            let end = field
                .iter()
                .skip(1)
                .position(|&c| c == b'$')
                .map_or(1, |i| i + 2);
            let id = String::from_utf8_lossy(field.get(..end.min(8)).unwrap_or(b"$"));
            return Parsed::Refused(format!("unsupported hash scheme {id}"));
        }
        if field.len() == 13 && b64::all_in(field, b64::CRYPT) {
            return Parsed::Refused("DES crypt is not accepted (too weak)".into());
        }
        Parsed::Refused("plain-text or unknown password hash is not accepted".into())
    }

    /// Whether `password` matches. Never allocates; the comparison of the
    /// final hashes is constant-time.
    pub fn verify(&self, password: &[u8]) -> bool {
        if password.len() > MAX_PASSWORD {
            return false;
        }
        match self {
            Hash::Bcrypt { cost, salt, hash } => {
                let raw = bcrypt_raw(*cost, salt, password);
                let mut enc = [0u8; 31];
                let Some(enc) = b64::bcrypt_encode(raw.get(..23).unwrap_or(&raw), &mut enc) else {
                    return false;
                };
                ct_eq(enc, hash)
            }
            Hash::Sha1(want) => {
                let got = Sha1::digest(password);
                ct_eq(&got, want)
            }
            Hash::Md5Crypt { apr1, salt, hash } => {
                let got = md5_crypt(password, salt.get(), *apr1);
                ct_eq(&got, hash)
            }
            Hash::ShaCrypt {
                sha512,
                rounds,
                salt,
                hash,
            } => {
                let mut out = [0u8; 86];
                let n = if *sha512 {
                    sha_crypt::<Sha512>(password, salt.get(), *rounds, &mut out)
                } else {
                    sha_crypt::<Sha256>(password, salt.get(), *rounds, &mut out)
                };
                match (out.get(..n), hash.get(..n)) {
                    (Some(a), Some(b)) => ct_eq(a, b),
                    _ => false,
                }
            }
        }
    }
}

/// Constant-time equality of two byte strings of public length.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

fn parse_sha1(rest: &[u8]) -> Parsed {
    let mut out = [0u8; 21];
    match b64::decode_std(rest, &mut out) {
        Some(d) if d.len() == 20 && rest.len() == 28 => {
            let mut h = [0u8; 20];
            h.copy_from_slice(d);
            Parsed::Ok(Hash::Sha1(h))
        }
        _ => Parsed::Malformed("{SHA} hash must be 28 base64 characters"),
    }
}

/// A salt: bytes up to the next `$`, at most `max`, printable, no `:`.
fn split_salt(rest: &[u8], max: usize) -> Option<(&[u8], &[u8])> {
    let i = rest.iter().position(|&c| c == b'$')?;
    let (salt, hash) = (rest.get(..i)?, rest.get(i + 1..)?);
    if salt.len() > max
        || salt
            .iter()
            .any(|&c| !(0x21..0x7f).contains(&c) || c == b':')
    {
        return None;
    }
    Some((salt, hash))
}

fn parse_md5(rest: &[u8], apr1: bool) -> Parsed {
    const BAD: &str = "MD5-crypt hash must be SALT$ and 22 characters of ./0-9A-Za-z";
    let Some((salt, hash)) = split_salt(rest, 8) else {
        return Parsed::Malformed(BAD);
    };
    if hash.len() != 22 || !b64::all_in(hash, b64::CRYPT) {
        return Parsed::Malformed(BAD);
    }
    let mut h = [0u8; 22];
    h.copy_from_slice(hash);
    match Salt::new(salt) {
        Some(salt) => Parsed::Ok(Hash::Md5Crypt {
            apr1,
            salt,
            hash: h,
        }),
        None => Parsed::Malformed(BAD),
    }
}

fn parse_sha_crypt(mut rest: &[u8], sha512: bool) -> Parsed {
    const BAD: &str = "SHA-crypt hash must be [rounds=N$]SALT$HASH (salt up to 16 characters)";
    let mut rounds = SHA_DEFAULT_ROUNDS;
    if let Some(r) = rest.strip_prefix(b"rounds=") {
        let Some(end) = r.iter().position(|&c| c == b'$') else {
            return Parsed::Malformed(BAD);
        };
        let digits = r.get(..end).unwrap_or(&[]);
        if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
            return Parsed::Malformed("SHA-crypt rounds=N must be a decimal number");
        }
        let n = digits
            .iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
        if n > SHA_MAX_ROUNDS {
            return Parsed::Refused(format!(
                "SHA-crypt rounds={n} is above {SHA_MAX_ROUNDS} (each check would stall the server)"
            ));
        }
        rounds = n.max(SHA_MIN_ROUNDS);
        rest = r.get(end + 1..).unwrap_or(&[]);
    }
    let Some((salt, hash)) = split_salt(rest, 16) else {
        return Parsed::Malformed(BAD);
    };
    let want = if sha512 { 86 } else { 43 };
    if hash.len() != want || !b64::all_in(hash, b64::CRYPT) {
        return Parsed::Malformed(if sha512 {
            "SHA-512-crypt hash must end in 86 characters of ./0-9A-Za-z"
        } else {
            "SHA-256-crypt hash must end in 43 characters of ./0-9A-Za-z"
        });
    }
    let mut h = [0u8; 86];
    if let Some(dst) = h.get_mut(..want) {
        dst.copy_from_slice(hash);
    }
    match Salt::new(salt) {
        Some(salt) => Parsed::Ok(Hash::ShaCrypt {
            sha512,
            rounds,
            salt,
            hash: h,
        }),
        None => Parsed::Malformed(BAD),
    }
}

fn parse_bcrypt(rest: &[u8]) -> Parsed {
    const BAD: &str = "bcrypt hash must be $2y$NN$ and 53 characters of ./A-Za-z0-9";
    let (Some(&[d1, d2, b'$']), Some(body)) = (rest.get(..3), rest.get(3..)) else {
        return Parsed::Malformed(BAD);
    };
    if !d1.is_ascii_digit() || !d2.is_ascii_digit() || body.len() != 53 {
        return Parsed::Malformed(BAD);
    }
    let cost = (d1 - b'0') * 10 + (d2 - b'0');
    let (Some(salt_enc), Some(hash_enc)) = (body.get(..22), body.get(22..)) else {
        return Parsed::Malformed(BAD);
    };
    let mut salt = [0u8; 16];
    if b64::bcrypt_decode(salt_enc, &mut salt).is_none() || !b64::all_in(hash_enc, b64::BCRYPT) {
        return Parsed::Malformed(BAD);
    }
    if !(4..=BCRYPT_MAX_COST).contains(&cost) {
        return Parsed::Refused(format!(
            "bcrypt cost {cost} is outside 4..={BCRYPT_MAX_COST} (each check would stall the server)"
        ));
    }
    let mut hash = [0u8; 31];
    hash.copy_from_slice(hash_enc);
    Parsed::Ok(Hash::Bcrypt { cost, salt, hash })
}

/// bcrypt (Provos and Mazières): EksBlowfish setup with the password and
/// its NUL terminator (at most 72 bytes), then 64 encryptions of
/// "OrpheanBeholderScryDoubt".
fn bcrypt_raw(cost: u8, salt: &[u8; 16], password: &[u8]) -> [u8; 24] {
    let mut key = [0u8; 72];
    let n = password.len().min(72);
    if let (Some(dst), Some(src)) = (key.get_mut(..n), password.get(..n)) {
        dst.copy_from_slice(src);
    }
    // key[n] is the NUL terminator; a 72-byte password loses it, as in C.
    let key = key.get(..(n + 1).min(72)).unwrap_or(&[0]);
    let mut state = Blowfish::bc_init_state();
    state.salted_expand_key(salt, key);
    for _ in 0..(1u64 << cost.min(31)) {
        state.bc_expand_key(key);
        state.bc_expand_key(salt);
    }
    let mut words = [0u32; 6];
    for (w, c) in words.iter_mut().zip(b"OrpheanBeholderScryDoubt".chunks(4)) {
        *w = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for _ in 0..64 {
        for pair in words.chunks_mut(2) {
            let r = state.bc_encrypt([pair[0], pair[1]]);
            pair[0] = r[0];
            pair[1] = r[1];
        }
    }
    let mut out = [0u8; 24];
    for (dst, w) in out.chunks_mut(4).zip(words) {
        dst.copy_from_slice(&w.to_be_bytes());
    }
    out
}

/// MD5-crypt (Kamp), with magic `$apr1$` (Apache) or `$1$`; returns the 22
/// encoding characters.
fn md5_crypt(pw: &[u8], salt: &[u8], apr1: bool) -> [u8; 22] {
    let magic: &[u8] = if apr1 { b"$apr1$" } else { b"$1$" };
    let alt = {
        let mut h = Md5::new();
        h.update(pw);
        h.update(salt);
        h.update(pw);
        h.finalize()
    };
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(magic);
    ctx.update(salt);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(16);
        ctx.update(alt.get(..n).unwrap_or(&[]));
        left -= n;
    }
    let first = pw.get(..1).unwrap_or(&[]);
    let mut i = pw.len();
    while i > 0 {
        if i & 1 != 0 {
            ctx.update([0u8]);
        } else {
            ctx.update(first);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for i in 0..1000 {
        let mut h = Md5::new();
        if i & 1 != 0 {
            h.update(pw);
        } else {
            h.update(fin);
        }
        if i % 3 != 0 {
            h.update(salt);
        }
        if i % 7 != 0 {
            h.update(pw);
        }
        if i & 1 != 0 {
            h.update(fin);
        } else {
            h.update(pw);
        }
        fin = h.finalize();
    }
    let f = |i: usize| fin.get(i).copied().unwrap_or(0);
    let mut out = [0u8; 22];
    let mut pos = 0;
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        b64::crypt_group(f(a), f(b), f(c), 4, &mut out, &mut pos);
    }
    b64::crypt_group(0, 0, f(11), 2, &mut out, &mut pos);
    out
}

/// The byte order of SHA-256-crypt's output encoding: 10 groups of three
/// bytes, then bytes 31 and 30.
const SHA256_ORDER: [(usize, usize, usize); 10] = [
    (0, 10, 20),
    (21, 1, 11),
    (12, 22, 2),
    (3, 13, 23),
    (24, 4, 14),
    (15, 25, 5),
    (6, 16, 26),
    (27, 7, 17),
    (18, 28, 8),
    (9, 19, 29),
];

/// The same for SHA-512-crypt: 21 groups, then byte 63.
const SHA512_ORDER: [(usize, usize, usize); 21] = [
    (0, 21, 42),
    (22, 43, 1),
    (44, 2, 23),
    (3, 24, 45),
    (25, 46, 4),
    (47, 5, 26),
    (6, 27, 48),
    (28, 49, 7),
    (50, 8, 29),
    (9, 30, 51),
    (31, 52, 10),
    (53, 11, 32),
    (12, 33, 54),
    (34, 55, 13),
    (56, 14, 35),
    (15, 36, 57),
    (37, 58, 16),
    (59, 17, 38),
    (18, 39, 60),
    (40, 61, 19),
    (62, 20, 41),
];

/// SHA-crypt (Drepper) with digest `D` (SHA-256 or SHA-512); writes the
/// encoding characters to `out` and returns how many (43 or 86).
fn sha_crypt<D: Digest>(pw: &[u8], salt: &[u8], rounds: u32, out: &mut [u8; 86]) -> usize {
    let l = D::LEN;
    let b = {
        let mut h = D::new();
        h.update(pw);
        h.update(salt);
        h.update(pw);
        h.finalize()
    };
    let mut a = D::new();
    a.update(pw);
    a.update(salt);
    let mut left = pw.len();
    while left > 0 {
        let n = left.min(l);
        a.update(b.as_ref().get(..n).unwrap_or(&[]));
        left -= n;
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 != 0 {
            a.update(b);
        } else {
            a.update(pw);
        }
        i >>= 1;
    }
    let a = a.finalize();

    // P': the digest of the password repeated len(pw) times, stretched to
    // len(pw) bytes. S': the same for the salt, repeated 16 + A[0] times.
    let dp = {
        let mut h = D::new();
        for _ in 0..pw.len() {
            h.update(pw);
        }
        h.finalize()
    };
    let mut p = [0u8; MAX_PASSWORD];
    let p = p.get_mut(..pw.len()).unwrap_or(&mut []);
    for (i, byte) in p.iter_mut().enumerate() {
        *byte = dp.as_ref().get(i % l).copied().unwrap_or(0);
    }
    let ds = {
        let mut h = D::new();
        for _ in 0..16 + usize::from(a.as_ref().first().copied().unwrap_or(0)) {
            h.update(salt);
        }
        h.finalize()
    };
    let mut s = [0u8; 16];
    let s = s.get_mut(..salt.len().min(16)).unwrap_or(&mut []);
    for (i, byte) in s.iter_mut().enumerate() {
        *byte = ds.as_ref().get(i % l).copied().unwrap_or(0);
    }

    let mut c = a;
    for i in 0..rounds {
        let mut h = D::new();
        if i & 1 != 0 {
            h.update(&*p);
        } else {
            h.update(c);
        }
        if i % 3 != 0 {
            h.update(&*s);
        }
        if i % 7 != 0 {
            h.update(&*p);
        }
        if i & 1 != 0 {
            h.update(c);
        } else {
            h.update(&*p);
        }
        c = h.finalize();
    }

    let f = |i: usize| c.as_ref().get(i).copied().unwrap_or(0);
    let mut pos = 0;
    if l == 64 {
        for (x, y, z) in SHA512_ORDER {
            b64::crypt_group(f(x), f(y), f(z), 4, out, &mut pos);
        }
        b64::crypt_group(0, 0, f(63), 2, out, &mut pos);
    } else {
        for (x, y, z) in SHA256_ORDER {
            b64::crypt_group(f(x), f(y), f(z), 4, out, &mut pos);
        }
        b64::crypt_group(0, f(31), f(30), 3, out, &mut pos);
    }
    pos
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(s: &str) -> Hash {
        match Hash::parse(s.as_bytes()) {
            Parsed::Ok(h) => h,
            other => panic!("{s}: {other:?}"),
        }
    }

    /// Vectors made with Debian's `htpasswd` (apache2-utils) and `openssl
    /// passwd`; the black-box tests run the tools themselves.
    #[test]
    fn known_vectors() {
        let cases: &[(&str, &str)] = &[
            ("Open Sesame", "$2y$05$3lPmfrZYeKl6fEO4LuOcCuX22ic7yXjcmM5IKFOtykLT54dvHQw62"),
            ("", "$2y$04$vbbnsIe5ne/NwmGJQQi0EuMQHmdahrlF31dZ/N613p.slYO9Vlz1e"),
            ("Open Sesame", "$2a$05$3lPmfrZYeKl6fEO4LuOcCuX22ic7yXjcmM5IKFOtykLT54dvHQw62"),
            ("Open Sesame", "$2b$05$3lPmfrZYeKl6fEO4LuOcCuX22ic7yXjcmM5IKFOtykLT54dvHQw62"),
            ("p\u{e4}ssw\u{f6}rd", "{SHA}9Rfd8dMqES/xrVXGbRsSyzjn6Pc="),
            ("hunter2", "$apr1$0lW345zw$slSkfXITjt/OMn9jimw740"),
            (
                "a-much-longer-password-than-sixteen-bytes-for-md5",
                "$apr1$Fj0.SGKY$dKE.OPfWfBP2DuFp1bLXx.",
            ),
            ("emptysalt", "$apr1$$.F6i9e6Q3ciqQOhrkcW/g."),
            ("router", "$1$abcdefgh$wH3xc9G3Ned20UMBRC0iZ1"),
            ("Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
            (
                "Hello world!",
                "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
            ),
            ("x", "$5$rounds=1200$short$ySfCaEcjdJksx4M1nBa9DHiasZZS9zrbG9jzPWFDaS2"),
            (
                "a-password-longer-than-sixty-four-bytes-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "$6$2PWduUHivz1FuEjc$H50vN.4GVsxm5ibie8ikM8e4mJs/N0cwl2N9yBg93oRBc3Q2QZesMkcUJnT1bCZsSLciCRMmj6XhFj6cDVuUT.",
            ),
            (
                "pw with spaces",
                "$5$abcdefghijklmnop$A5PHaw7goY4H8JtiVu2HNygGGxDDjqucfzlLmVZPVv8",
            ),
        ];
        for &(pw, stored) in cases {
            let h = hash(stored);
            assert!(h.verify(pw.as_bytes()), "{stored} should accept {pw:?}");
            assert!(!h.verify(b"wrong"), "{stored} must refuse a wrong password");
            let mut longer = pw.as_bytes().to_vec();
            longer.push(b'x');
            assert!(!h.verify(&longer), "{stored} must refuse {pw:?}+x");
            // The stored hash is never a password.
            assert!(!h.verify(stored.as_bytes()));
        }
    }

    /// `htpasswd -nbB -C 4 long aaaa...` (72 times `a`).
    const BCRYPT_LONG: &str = "$2y$04$/MiBn19fJmGJtDonyrKzheVOcopcGyhgZ5rzqOdN1TEqK8JBT1xQG";

    #[test]
    fn bcrypt_truncates_at_72() {
        let h = hash(BCRYPT_LONG);
        let base = [b'a'; 72];
        assert!(h.verify(&base));
        let mut more = base.to_vec();
        more.extend_from_slice(b"ignored");
        assert!(h.verify(&more), "bcrypt only uses 72 bytes");
        assert!(!h.verify(&base[..71]));
    }

    /// Prints what one check of each scheme costs on this machine:
    /// `cargo test --release -p fws-auth -- --ignored --nocapture timing`.
    #[test]
    #[ignore]
    fn timing() {
        let cases = [
            ("bcrypt cost 5", "$2y$05$3lPmfrZYeKl6fEO4LuOcCuX22ic7yXjcmM5IKFOtykLT54dvHQw62"),
            ("{SHA}", "{SHA}9Rfd8dMqES/xrVXGbRsSyzjn6Pc="),
            ("apr1", "$apr1$0lW345zw$slSkfXITjt/OMn9jimw740"),
            ("sha256-crypt 5000", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"),
            ("sha512-crypt 5000", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"),
        ];
        for (name, stored) in cases {
            let h = hash(stored);
            let n = 20;
            let t = std::time::Instant::now();
            for _ in 0..n {
                std::hint::black_box(h.verify(b"Hello world!"));
            }
            println!("{name}: {:?} per check", t.elapsed() / n);
        }
    }

    #[test]
    fn parse_table() {
        let refused = |s: &str| matches!(Hash::parse(s.as_bytes()), Parsed::Refused(_));
        let malformed = |s: &str| matches!(Hash::parse(s.as_bytes()), Parsed::Malformed(_));
        // Plain text and DES crypt are refused, never accepted.
        assert!(refused("secret"));
        assert!(refused("abJnggxhB/yWI")); // DES
        assert!(refused(""));
        assert!(refused("$md5$abc"));
        assert!(refused(
            "$2x$05$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
        ));
        assert!(refused("$y$j9T$abc$def")); // yescrypt
        assert!(refused(
            "$2y$31$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
        ));
        assert!(refused(
            "$2y$03$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
        ));
        assert!(refused(
            "$5$rounds=999999999$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
        ));
        // Known schemes with a broken body are parse errors.
        assert!(malformed("{SHA}"));
        assert!(malformed("{SHA}abc"));
        assert!(malformed("{SHA}!!!!!!!!!!!!!!!!!!!!!!!!!!!!"));
        assert!(malformed("$apr1$"));
        assert!(malformed("$apr1$salt"));
        assert!(malformed("$apr1$toolongsalt$abcdefghijklmnopqrstuv"));
        assert!(malformed("$apr1$salt$abc"));
        assert!(malformed("$apr1$salt$abcdefghijklmnopqrst!v"));
        assert!(malformed(
            "$2y$5$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234"
        ));
        assert!(malformed("$2y$05$abc"));
        assert!(malformed(
            "$2y$05$abcdefghijklmnopqrstu+abcdefghijklmnopqrstuvwxyz01234"
        ));
        assert!(malformed("$5$salt$short"));
        assert!(malformed(
            "$5$rounds=$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
        ));
        assert!(malformed(
            "$5$rounds=12a$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
        ));
        assert!(malformed(
            "$6$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
        ));
        assert!(malformed(
            "$5$sa:lt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
        ));
        // Good shapes.
        assert!(matches!(
            Hash::parse(b"$5$rounds=10$salt$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"),
            Parsed::Ok(Hash::ShaCrypt { rounds: 1000, .. })
        ));
        assert!(matches!(
            Hash::parse(b"$5$$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"),
            Parsed::Ok(Hash::ShaCrypt { rounds: 5000, .. })
        ));
    }

    #[test]
    fn never_panics_on_junk() {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let prefixes: [&[u8]; 8] = [
            b"$2y$05$",
            b"$apr1$",
            b"$1$",
            b"$5$",
            b"$6$rounds=",
            b"{SHA}",
            b"$",
            b"",
        ];
        for _ in 0..3000 {
            let p = prefixes[(rnd() % 8) as usize];
            let len = (rnd() % 100) as usize;
            let mut f = p.to_vec();
            f.extend((0..len).map(|_| {
                let r = rnd();
                if r % 3 == 0 {
                    b"./$=09AZaz"[(r >> 8) as usize % 10]
                } else {
                    (r >> 16) as u8
                }
            }));
            if let Parsed::Ok(h) = Hash::parse(&f) {
                if let Hash::Bcrypt { cost, .. } = h {
                    if cost > 6 {
                        continue;
                    }
                }
                let _ = h.verify(b"pw");
            }
        }
        assert!(!ct_eq(b"a", b"ab"));
        assert!(ct_eq(b"", b""));
        assert!(!hash("{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=").verify(&[b'p'; MAX_PASSWORD + 1]));
    }
}
