//! The three base64 flavours auth meets, written out (each is a few lines):
//!
//! - standard base64 (RFC 4648 §4), decoding only: `Authorization: Basic`
//!   credentials and `{SHA}` htpasswd entries;
//! - the crypt(3) encoding of MD5-crypt and SHA-crypt (`./0-9A-Za-z`,
//!   24-bit groups written least significant 6 bits first);
//! - bcrypt's encoding (`./A-Za-z0-9`, most significant bits first, no
//!   padding).
//!
//! Contract: total functions over any input, no allocation, no panic
//! (outputs are caller-provided slices and every index is checked).

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/// crypt(3)'s alphabet (MD5-crypt, SHA-crypt).
pub const CRYPT: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// bcrypt's alphabet.
pub const BCRYPT: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn index_of(alphabet: &[u8; 64], c: u8) -> Option<u32> {
    alphabet.iter().position(|&a| a == c).map(|i| i as u32)
}

/// Decodes standard base64 into `out`; `None` for a character outside the
/// alphabet, bad padding, non-zero trailing bits, or an `out` too small.
/// Padding may be left out (some clients do).
pub fn decode_std<'o>(input: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let body = match input {
        [rest @ .., b'=', b'='] => rest,
        [rest @ .., b'='] => rest,
        _ => input,
    };
    // With padding the total must be a multiple of 4.
    if body.len() != input.len() && input.len() % 4 != 0 {
        return None;
    }
    if body.len() % 4 == 1 {
        return None;
    }
    let mut n = 0usize;
    for chunk in body.chunks(4) {
        let mut acc: u32 = 0;
        for &c in chunk {
            acc = (acc << 6) | index_of(STD, c)?;
        }
        let bytes = match chunk.len() {
            4 => 3,
            3 => {
                if acc & 0x3 != 0 {
                    return None;
                }
                acc >>= 2;
                2
            }
            2 => {
                if acc & 0xf != 0 {
                    return None;
                }
                acc >>= 4;
                1
            }
            _ => return None,
        };
        for i in (0..bytes).rev() {
            *out.get_mut(n)? = (acc >> (8 * i)) as u8;
            n += 1;
        }
    }
    out.get(..n)
}

/// Writes the crypt(3) encoding of one 24-bit group `(b2 << 16) | (b1 << 8)
/// | b0` as `chars` characters, least significant first.
pub fn crypt_group(b2: u8, b1: u8, b0: u8, chars: usize, out: &mut [u8], pos: &mut usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..chars {
        if let Some(slot) = out.get_mut(*pos) {
            *slot = CRYPT[(w & 0x3f) as usize];
        }
        *pos += 1;
        w >>= 6;
    }
}

/// bcrypt-encodes `data` into `out`, returning the characters written
/// (`ceil(len * 8 / 6)`, no padding).
pub fn bcrypt_encode<'o>(data: &[u8], out: &'o mut [u8]) -> Option<&'o [u8]> {
    let mut n = 0usize;
    for chunk in data.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let w = (b(0) << 16) | (b(1) << 8) | b(2);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            *out.get_mut(n)? = BCRYPT[((w >> (18 - 6 * i)) & 0x3f) as usize];
            n += 1;
        }
    }
    out.get(..n)
}

/// Decodes bcrypt's encoding of `out.len()` bytes (the trailing bits of the
/// last character are ignored, as every implementation does).
pub fn bcrypt_decode(input: &[u8], out: &mut [u8]) -> Option<()> {
    if input.len() != (out.len() * 8).div_ceil(6) {
        return None;
    }
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut n = 0usize;
    for &c in input {
        acc = (acc << 6) | index_of(BCRYPT, c)?;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            if let Some(slot) = out.get_mut(n) {
                *slot = (acc >> bits) as u8;
            }
            n += 1;
            acc &= (1 << bits) - 1;
        }
    }
    Some(())
}

/// Whether every byte of `s` is in `alphabet`.
pub fn all_in(s: &[u8], alphabet: &[u8; 64]) -> bool {
    s.iter().all(|c| alphabet.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_decode_table() {
        let cases: &[(&str, Option<&[u8]>)] = &[
            ("", Some(b"")),
            ("YQ==", Some(b"a")),
            ("YQ", Some(b"a")),
            ("YWI=", Some(b"ab")),
            ("YWI", Some(b"ab")),
            ("YWJj", Some(b"abc")),
            ("YWxpY2U6c2VjcmV0", Some(b"alice:secret")),
            ("dXNlcjpwYXNz", Some(b"user:pass")),
            ("+/+/", Some(&[0xfb, 0xff, 0xbf])),
            ("YQ=", None),      // padding without a multiple of 4
            ("Y", None),        // one char cannot carry a byte
            ("YR==", None),     // non-zero trailing bits
            ("YWJ=", None),     // non-zero trailing bits
            ("!!!", None),      // outside the alphabet
            ("YW Jj", None),    // space inside
            ("YQ==YQ==", None), // padding in the middle
            ("=", None),
            ("====", None),
            ("-_", None), // URL-safe alphabet is not Basic's
        ];
        for &(input, want) in cases {
            let mut out = [0u8; 32];
            let got = decode_std(input.as_bytes(), &mut out);
            assert_eq!(got, want, "{input:?}");
        }
        let mut small = [0u8; 2];
        assert_eq!(decode_std(b"YWJj", &mut small), None);
    }

    #[test]
    fn bcrypt_roundtrip() {
        for len in 0..40usize {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut enc = [0u8; 64];
            let e = bcrypt_encode(&data, &mut enc).unwrap().to_vec();
            assert_eq!(e.len(), (len * 8).div_ceil(6));
            assert!(all_in(&e, BCRYPT));
            let mut dec = vec![0u8; len];
            bcrypt_decode(&e, &mut dec).unwrap();
            assert_eq!(dec, data);
        }
        let mut out = [0u8; 16];
        assert!(bcrypt_decode(b"short", &mut out).is_none());
        assert!(bcrypt_decode(b"!!!!!!!!!!!!!!!!!!!!!!", &mut out).is_none());
    }

    #[test]
    fn crypt_groups() {
        let mut out = [0u8; 8];
        let mut pos = 0;
        crypt_group(0, 0, 0, 4, &mut out, &mut pos);
        crypt_group(0xff, 0xff, 0xff, 4, &mut out, &mut pos);
        assert_eq!(&out, b"....zzzz");
        // Writing past the end is ignored, not a panic.
        crypt_group(1, 2, 3, 4, &mut out, &mut pos);
        assert_eq!(pos, 12);
    }
}
