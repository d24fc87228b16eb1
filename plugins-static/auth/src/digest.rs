//! MD5, SHA-1, SHA-256 and SHA-512, written small: one round loop each,
//! no unrolling, no CPU-specific back-ends. They are only used to verify
//! passwords (and to key the verification cache), where a compact binary
//! matters more than peak speed on a router. The round constants are the
//! standard ones (fractional parts of square and cube roots of the first
//! primes; `floor(|sin(i + 1)| * 2^32)` for MD5).
//!
//! Contract: no allocation, no panic, no `unsafe`; tested against known
//! digests at every padding boundary.

/// A streaming hash function.
pub trait Digest: Sized {
    /// The digest and its length.
    type Out: AsRef<[u8]> + Copy;
    const LEN: usize;
    fn new() -> Self;
    fn update(&mut self, data: impl AsRef<[u8]>);
    fn finalize(self) -> Self::Out;
    /// The digest of `data`.
    fn digest(data: &[u8]) -> Self::Out {
        let mut h = Self::new();
        h.update(data);
        h.finalize()
    }
}

/// Block buffering and padding shared by the four functions.
#[derive(Clone, Copy)]
struct Blocks<const B: usize> {
    buf: [u8; B],
    len: usize,
    /// Message length in bytes.
    total: u128,
}

impl<const B: usize> Blocks<B> {
    fn new() -> Self {
        Blocks {
            buf: [0; B],
            len: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8], mut compress: impl FnMut(&[u8; B])) {
        self.total = self.total.wrapping_add(data.len() as u128);
        while !data.is_empty() {
            let take = (B - self.len).min(data.len());
            let (head, rest) = data.split_at(take);
            if let Some(dst) = self.buf.get_mut(self.len..self.len + take) {
                dst.copy_from_slice(head);
            }
            self.len += take;
            data = rest;
            if self.len == B {
                compress(&self.buf);
                self.len = 0;
            }
        }
    }

    /// Appends the 0x80 byte, zeros and the bit length (`len_bytes` wide,
    /// big- or little-endian), compressing the final block(s).
    fn finish(&mut self, len_bytes: usize, big_endian: bool, mut compress: impl FnMut(&[u8; B])) {
        let bits = self.total.wrapping_mul(8);
        if let Some(b) = self.buf.get_mut(self.len) {
            *b = 0x80;
        }
        self.len += 1;
        if self.len > B - len_bytes {
            if let Some(rest) = self.buf.get_mut(self.len..) {
                rest.fill(0);
            }
            compress(&self.buf);
            self.len = 0;
        }
        if let Some(rest) = self.buf.get_mut(self.len..) {
            rest.fill(0);
        }
        let be = bits.to_be_bytes();
        let le = bits.to_le_bytes();
        for i in 0..len_bytes {
            let byte = if big_endian {
                be.get(16 - len_bytes + i)
            } else {
                le.get(i)
            };
            if let (Some(dst), Some(&src)) = (self.buf.get_mut(B - len_bytes + i), byte) {
                *dst = src;
            }
        }
        compress(&self.buf);
    }
}

fn be32(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(4 * i..4 * i + 4) {
        w.copy_from_slice(s);
    }
    u32::from_be_bytes(w)
}

fn le32(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(4 * i..4 * i + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

fn be64(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    if let Some(s) = b.get(8 * i..8 * i + 8) {
        w.copy_from_slice(s);
    }
    u64::from_be_bytes(w)
}

const K256: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];
const H256: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];
const K512: [u64; 80] = [
    0x428a2f98d728ae22,
    0x7137449123ef65cd,
    0xb5c0fbcfec4d3b2f,
    0xe9b5dba58189dbbc,
    0x3956c25bf348b538,
    0x59f111f1b605d019,
    0x923f82a4af194f9b,
    0xab1c5ed5da6d8118,
    0xd807aa98a3030242,
    0x12835b0145706fbe,
    0x243185be4ee4b28c,
    0x550c7dc3d5ffb4e2,
    0x72be5d74f27b896f,
    0x80deb1fe3b1696b1,
    0x9bdc06a725c71235,
    0xc19bf174cf692694,
    0xe49b69c19ef14ad2,
    0xefbe4786384f25e3,
    0x0fc19dc68b8cd5b5,
    0x240ca1cc77ac9c65,
    0x2de92c6f592b0275,
    0x4a7484aa6ea6e483,
    0x5cb0a9dcbd41fbd4,
    0x76f988da831153b5,
    0x983e5152ee66dfab,
    0xa831c66d2db43210,
    0xb00327c898fb213f,
    0xbf597fc7beef0ee4,
    0xc6e00bf33da88fc2,
    0xd5a79147930aa725,
    0x06ca6351e003826f,
    0x142929670a0e6e70,
    0x27b70a8546d22ffc,
    0x2e1b21385c26c926,
    0x4d2c6dfc5ac42aed,
    0x53380d139d95b3df,
    0x650a73548baf63de,
    0x766a0abb3c77b2a8,
    0x81c2c92e47edaee6,
    0x92722c851482353b,
    0xa2bfe8a14cf10364,
    0xa81a664bbc423001,
    0xc24b8b70d0f89791,
    0xc76c51a30654be30,
    0xd192e819d6ef5218,
    0xd69906245565a910,
    0xf40e35855771202a,
    0x106aa07032bbd1b8,
    0x19a4c116b8d2d0c8,
    0x1e376c085141ab53,
    0x2748774cdf8eeb99,
    0x34b0bcb5e19b48a8,
    0x391c0cb3c5c95a63,
    0x4ed8aa4ae3418acb,
    0x5b9cca4f7763e373,
    0x682e6ff3d6b2b8a3,
    0x748f82ee5defb2fc,
    0x78a5636f43172f60,
    0x84c87814a1f0ab72,
    0x8cc702081a6439ec,
    0x90befffa23631e28,
    0xa4506cebde82bde9,
    0xbef9a3f7b2c67915,
    0xc67178f2e372532b,
    0xca273eceea26619c,
    0xd186b8c721c0c207,
    0xeada7dd6cde0eb1e,
    0xf57d4f7fee6ed178,
    0x06f067aa72176fba,
    0x0a637dc5a2c898a6,
    0x113f9804bef90dae,
    0x1b710b35131c471b,
    0x28db77f523047d84,
    0x32caab7b40c72493,
    0x3c9ebe0a15c9bebc,
    0x431d67c49c100d4c,
    0x4cc5d4becb3e42b6,
    0x597f299cfc657e2a,
    0x5fcb6fab3ad6faec,
    0x6c44198c4a475817,
];
const H512: [u64; 8] = [
    0x6a09e667f3bcc908,
    0xbb67ae8584caa73b,
    0x3c6ef372fe94f82b,
    0xa54ff53a5f1d36f1,
    0x510e527fade682d1,
    0x9b05688c2b3e6c1f,
    0x1f83d9abfb41bd6b,
    0x5be0cd19137e2179,
];
const MD5_T: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];
const MD5_S: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/// MD5 (RFC 1321), for MD5-crypt only.
#[derive(Clone, Copy)]
pub struct Md5 {
    s: [u32; 4],
    blocks: Blocks<64>,
}

fn md5_compress(s: &mut [u32; 4], block: &[u8; 64]) {
    let [mut a, mut b, mut c, mut d] = *s;
    for i in 0..64 {
        let (f, g) = match i / 16 {
            0 => ((b & c) | (!b & d), i),
            1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
            2 => (b ^ c ^ d, (3 * i + 5) % 16),
            _ => (c ^ (b | !d), (7 * i) % 16),
        };
        let t = a
            .wrapping_add(f)
            .wrapping_add(MD5_T[i])
            .wrapping_add(le32(block, g));
        a = d;
        d = c;
        c = b;
        b = b.wrapping_add(t.rotate_left(MD5_S[(i / 16) * 4 + i % 4]));
    }
    for (x, y) in s.iter_mut().zip([a, b, c, d]) {
        *x = x.wrapping_add(y);
    }
}

impl Digest for Md5 {
    type Out = [u8; 16];
    const LEN: usize = 16;
    fn new() -> Self {
        Md5 {
            s: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476],
            blocks: Blocks::new(),
        }
    }
    fn update(&mut self, data: impl AsRef<[u8]>) {
        let s = &mut self.s;
        self.blocks.update(data.as_ref(), |b| md5_compress(s, b));
    }
    fn finalize(mut self) -> [u8; 16] {
        let s = &mut self.s;
        self.blocks.finish(8, false, |b| md5_compress(s, b));
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_mut(4).zip(self.s) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// SHA-1 (FIPS 180-4), for `{SHA}` entries only.
#[derive(Clone, Copy)]
pub struct Sha1 {
    s: [u32; 5],
    blocks: Blocks<64>,
}

fn sha1_compress(s: &mut [u32; 5], block: &[u8; 64]) {
    let mut w = [0u32; 80];
    for i in 0..80 {
        w[i] = if i < 16 {
            be32(block, i)
        } else {
            (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1)
        };
    }
    let [mut a, mut b, mut c, mut d, mut e] = *s;
    for (i, wi) in w.iter().enumerate() {
        let (f, k) = match i / 20 {
            0 => ((b & c) | (!b & d), 0x5a827999),
            1 => (b ^ c ^ d, 0x6ed9eba1),
            2 => ((b & c) | (b & d) | (c & d), 0x8f1bbcdc),
            _ => (b ^ c ^ d, 0xca62c1d6),
        };
        let t = a
            .rotate_left(5)
            .wrapping_add(f)
            .wrapping_add(e)
            .wrapping_add(k)
            .wrapping_add(*wi);
        e = d;
        d = c;
        c = b.rotate_left(30);
        b = a;
        a = t;
    }
    for (x, y) in s.iter_mut().zip([a, b, c, d, e]) {
        *x = x.wrapping_add(y);
    }
}

impl Digest for Sha1 {
    type Out = [u8; 20];
    const LEN: usize = 20;
    fn new() -> Self {
        Sha1 {
            s: [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0],
            blocks: Blocks::new(),
        }
    }
    fn update(&mut self, data: impl AsRef<[u8]>) {
        let s = &mut self.s;
        self.blocks.update(data.as_ref(), |b| sha1_compress(s, b));
    }
    fn finalize(mut self) -> [u8; 20] {
        let s = &mut self.s;
        self.blocks.finish(8, true, |b| sha1_compress(s, b));
        let mut out = [0u8; 20];
        for (o, w) in out.chunks_mut(4).zip(self.s) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// SHA-256 (FIPS 180-4).
#[derive(Clone, Copy)]
pub struct Sha256 {
    s: [u32; 8],
    blocks: Blocks<64>,
}

fn sha256_compress(s: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for i in 0..64 {
        w[i] = if i < 16 {
            be32(block, i)
        } else {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1)
        };
    }
    let mut v = *s;
    for (k, wi) in K256.iter().zip(w) {
        let [a, b, c, d, e, f, g, h] = v;
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(*k)
            .wrapping_add(wi);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    for (x, y) in s.iter_mut().zip(v) {
        *x = x.wrapping_add(y);
    }
}

impl Digest for Sha256 {
    type Out = [u8; 32];
    const LEN: usize = 32;
    fn new() -> Self {
        Sha256 {
            s: H256,
            blocks: Blocks::new(),
        }
    }
    fn update(&mut self, data: impl AsRef<[u8]>) {
        let s = &mut self.s;
        self.blocks.update(data.as_ref(), |b| sha256_compress(s, b));
    }
    fn finalize(mut self) -> [u8; 32] {
        let s = &mut self.s;
        self.blocks.finish(8, true, |b| sha256_compress(s, b));
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_mut(4).zip(self.s) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// SHA-512 (FIPS 180-4).
#[derive(Clone, Copy)]
pub struct Sha512 {
    s: [u64; 8],
    blocks: Blocks<128>,
}

fn sha512_compress(s: &mut [u64; 8], block: &[u8; 128]) {
    let mut w = [0u64; 80];
    for i in 0..80 {
        w[i] = if i < 16 {
            be64(block, i)
        } else {
            let s0 = w[i - 15].rotate_right(1) ^ w[i - 15].rotate_right(8) ^ (w[i - 15] >> 7);
            let s1 = w[i - 2].rotate_right(19) ^ w[i - 2].rotate_right(61) ^ (w[i - 2] >> 6);
            w[i - 16]
                .wrapping_add(s0)
                .wrapping_add(w[i - 7])
                .wrapping_add(s1)
        };
    }
    let mut v = *s;
    for (k, wi) in K512.iter().zip(w) {
        let [a, b, c, d, e, f, g, h] = v;
        let s1 = e.rotate_right(14) ^ e.rotate_right(18) ^ e.rotate_right(41);
        let ch = (e & f) ^ (!e & g);
        let t1 = h
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(*k)
            .wrapping_add(wi);
        let s0 = a.rotate_right(28) ^ a.rotate_right(34) ^ a.rotate_right(39);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        v = [t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g];
    }
    for (x, y) in s.iter_mut().zip(v) {
        *x = x.wrapping_add(y);
    }
}

impl Digest for Sha512 {
    type Out = [u8; 64];
    const LEN: usize = 64;
    fn new() -> Self {
        Sha512 {
            s: H512,
            blocks: Blocks::new(),
        }
    }
    fn update(&mut self, data: impl AsRef<[u8]>) {
        let s = &mut self.s;
        self.blocks.update(data.as_ref(), |b| sha512_compress(s, b));
    }
    fn finalize(mut self) -> [u8; 64] {
        let s = &mut self.s;
        self.blocks.finish(16, true, |b| sha512_compress(s, b));
        let mut out = [0u8; 64];
        for (o, w) in out.chunks_mut(8).zip(self.s) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// Inputs of every length around the padding boundaries, fed in one
    /// piece and byte by byte; digests from Python's hashlib.
    #[test]
    fn known_digests() {
        let msg: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        for (len, md5, sha1, sha256, sha512) in VECTORS {
            let m = &msg[..*len];
            assert_eq!(hex(&Md5::digest(m)), *md5, "md5 len {len}");
            assert_eq!(hex(&Sha1::digest(m)), *sha1, "sha1 len {len}");
            assert_eq!(hex(&Sha256::digest(m)), *sha256, "sha256 len {len}");
            assert_eq!(hex(&Sha512::digest(m)), *sha512, "sha512 len {len}");
            let mut h = Sha512::new();
            for b in m {
                h.update([*b]);
            }
            assert_eq!(hex(&h.finalize()), *sha512, "sha512 bytewise len {len}");
            let mut h = Md5::new();
            for c in m.chunks(7) {
                h.update(c);
            }
            assert_eq!(hex(&h.finalize()), *md5, "md5 chunked len {len}");
        }
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[rustfmt::skip]
    const VECTORS: &[(usize, &str, &str, &str, &str)] = &[
        (0, "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        (1, "89e74e640b8c46257a29de0616794d5d", "5d1be7e9dda1ee8896be5b7e34a85ee16452a7b4", "ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879", "365d11a1dfe610b60efa996136d37ab8afd2715b8c6bc2850dc5e6005b702bb9f59b0f306ecb2c43ee44c429967d45843524eb2f7c16aab9bde142ee268b51c6"),
        (3, "3b704fb2660febf62921a0caaa8de56b", "d2df16b976a43628c63ea246436fccf6d7635d09", "647674a296197442f518bcca323ec605dd8d098b2d4f22ee1fdcdd2bb753a189", "a4fb160ae2ee41d19cbec56b514cc5fb0c07adb0a398968a15857c9ef56ba3813d640099a21cd216a543d7e3feb42493cdf5f5787ec7c0f0a853bcb245f8f243"),
        (55, "c9e512626618c9980ef21a96597af94c", "749bbefb28edc4638b28b2b9a9e03ab9a4032b90", "8aa994584139d128848eeebc4e815639ba5ab6e6e39574195a63ac4f14f7c43b", "330eb5e81b4d722cae1e0efbf883efb180c3e346d2b3b797dafc90409583ed35af65dc2d7974a353f0c21663e196b60d3ee5a2c70c50b7b3bccdb93a5dbce6bf"),
        (56, "ecde7caa08e9f5657c863df107cac60a", "a5b6e9c29d201c774753ff8e7fb64931656f5e63", "ad574708f75c044c9b85de64cb568ee7711ff4f36448c6242f053ba8f6cc2b63", "1b5b63bfd5420b2dc480abce3dbdb3e19e5f9d4fabffba7764883937eaae878a55362c938c141712c44c3076c3fabb2c60814c2994c311c33049a8d6de2a8898"),
        (57, "b17b1a018dd6a4d1edda8aca15f17846", "eb0737bed5451790722b2df351829ce117e3d9dd", "5b46e502092be01b1100193e089fdda95638c12e19a1d24f308eb2c3d3ae849d", "909cad7c59ce1bf85c5f52fa6ad3104cddccce5e380453f124c6a3c570c421dc6a6160c4d42abb0cf71f735bd81cbbe08355b400961361f5050f3fab673aa418"),
        (63, "2f0301069e1c40af7f6c8f843b1b13f2", "d1a454409359fc372b4d22b3cea6488d6ba1be00", "280ed3e8ff1df845b2e7dfe6ac6cee817bef20e783cc65abc41b818b4d2fe076", "b16f76c30db64b5ee1ef166d2d37e13ff6cee9fd88bae9ba283cd58e0a2133b220a76db56279406461f84ce2cffd1d116d38fd9f38fc5df18770a987ff695499"),
        (64, "b6bf87c24b1bc334e2541387a92b981b", "39a0d8b645ad85f1f976731ed112ac9455e28b78", "c6ab9724ade5b6a7a1edfffb12f3aa9181351355af8fd08c919952ad211339dd", "4c7aba3659929c4fd87604c532a3b5f174d0626b2d661dbbbfac76c97a49a5a7789d2c68324c754f66bf629fa72054f334feaad8b1cf4c885ae03a1e634afc18"),
        (65, "f168246f08b6134d66bd2a10343fa9f1", "d0c96e18890114a14716e9686528d2e3fdba8d9e", "788367c73c7ddf4c53f65e68cc0d943e6227ab55b0e78ba63ace822b1c6301c0", "31ad8ce60482e91ec7f83455c280f2dbb4940a400795ae90815bc86891210ebe07b51995eb2d123d6a55a79a998e20cc07716aea7848f6c955b4a4bf14ad0b0a"),
        (111, "e145219ba825c566b3905b008ac4c378", "b7b42d19ae6be209c36efe0c5dfe5bde4d306c43", "dd1413178fb627f9abbc041ffe39c44aa7aaa0e2e6d2ca5c4528ac7073a2da45", "da780d8338a8a920ceb6892cb4ecbb0cc0c66956269aadd5dd0f48790a00857bd975890f3b2955a317738cc7a770820c29f922ffbc22020f1909d594cc987d1b"),
        (112, "78e1458b5371b996a9d07fec4f8edd17", "11e920cd4ed45c60c05a916e48a942f9e39c770b", "a65c92dac124062d0ab951a42773cb04fc98d1d4bf8897b176f8cff3509d379e", "053182f7fa4e59f8636e415a77ed4fdc650f0a43834c9d35adf899599c3ab9c4153f02ff50bd01888060cd36a6fa12d9db242fc35164c80135613514186d5843"),
        (113, "1e6ec1c88dd52428bd6f28e3d53b22e0", "2a7237734453edb508687d4fcec7e027f10be533", "6f184b6619128e865ecb2b3ea96c03d461f0664d87689480988dbee53a449161", "766fea2f90094ecec1166ea4d6e9ddc6ae6fbe4a060e049300ecbe631a7d6547409b6ac39865409e6dd5dada112955fddf32698feb98806c1910f446ac5af7e3"),
        (127, "27670172396247fa5f68637f13f8933d", "bebc42d2d3d1e5fb8ad8895c2dcef2d68a6c279a", "192409cd280e14b743642ad1343fbd3e82d9305de72c078117745a679210cc3d", "a7a75593826fd37d4e60f6101eabb9f8ab1cf4d5319ebc805266d5da8deb5097de1a235fc5d9d3d73c50ac100ffc75089fb454674ab61232091bd19cbdc67396"),
        (128, "3e85b70ffc8df5c735ecf2a8f14f1bee", "0060f2a7e34b6e4d459f560197ef93243732a400", "cc548ca2dec1f6fe4f58b2e27aa9c7521607df1130d140b55a4dad0665302356", "df007a08f3aaae47e0c92ef840ecd43645ae6098c819f2a4a66174ef1cd49e5c6dfccf0616895e570b7564af641de5863dff9f89c752913d30cf0ecf678e1635"),
        (129, "e45ecac9930fe93de302f98ba673ba36", "3a16082d1bf09b604907ec6908b9893ca3e937c0", "81e89a7b2911aaa7795f9e3d4910cb47d6cd2b00d83b8399481527261a1a7519", "a10ea769b79831bca33e9efb29fc501ded6e9c88885d079acb76eecaa8ac58d68bdc7e00103053e1519352c0d064c87accc3d553a6039decc2c4f1e7667eef79"),
        (200, "4c1e627a4bcc5ffb25084afedb8477c8", "9194d8145e556594766df1e7699e2dfda424d1ee", "44cae5223d431caed4a9e32271d6abf17c3f2f4abac45fcdb48a99fcc6072a09", "5d625ba6509497bd2ca98040de4ae84cdf2ecd52a5340287d3ca2e4fb1eeb5435ad15f7775f714e2ae44173e6a8838902c223d223bf324cdd01c93626d9de5ae"),
        (300, "919e4e6eef1223bc54e857dfde80c3ce", "92de59cf7739d2cf8c2598a6c55b469c29ff92b6", "4ebe2a8bd5ece93fb899b68e8a5fe64464b2058a5ddca6c079bc907930aa3003", "cd8fc4c36e0e79546fca813c67f25da21fb6d02035d86fa340c0fc5d4df796434a5b613d435ddf9fdf2ed55595947135b0e74fb5b13900f9d95da5e4c27905f2"),
    ];
}
