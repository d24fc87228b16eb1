//! File-extension to `Content-Type` mapping, sans I/O.
//!
//! Contract:
//! - [`lookup`] accepts any byte slice as an extension (without the dot),
//!   matches it ASCII-case-insensitively against a compiled-in table sorted
//!   by extension, and returns the media type (textual types carry
//!   `; charset=utf-8`). Empty extensions and extensions longer than
//!   [`MAX_EXTENSION_LEN`] bytes give `None`; the caller falls back to
//!   `application/octet-stream`.
//! - [`extension`] accepts any byte slice as a path and returns the bytes
//!   after the last `.` of its last `/`-separated segment, or `None` when
//!   there is no dot, the only dot starts the segment (`.profile`), or
//!   nothing follows the dot.
//! - Neither function panics on any input, allocates, or uses `unsafe`.
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

/// Longest extension [`lookup`] considers.
pub const MAX_EXTENSION_LEN: usize = 16;

const OCTET: &str = "application/octet-stream";

/// Sorted by extension (byte order), all lowercase ASCII.
static TABLE: &[(&str, &str)] = &[
    ("7z", "application/x-7z-compressed"),
    ("aac", "audio/aac"),
    ("apng", "image/apng"),
    ("asc", "application/pgp-signature"),
    ("atom", "application/atom+xml"),
    ("avif", "image/avif"),
    ("bin", OCTET),
    ("bmp", "image/bmp"),
    ("bz2", "application/x-bzip2"),
    ("cer", "application/pkix-cert"),
    ("chk", OCTET),
    ("cjs", "text/javascript; charset=utf-8"),
    ("conf", "text/plain; charset=utf-8"),
    ("crt", "application/x-x509-ca-cert"),
    ("css", "text/css; charset=utf-8"),
    ("csv", "text/csv; charset=utf-8"),
    ("der", "application/x-x509-ca-cert"),
    ("eot", "application/vnd.ms-fontobject"),
    ("flac", "audio/flac"),
    ("gif", "image/gif"),
    ("gz", "application/gzip"),
    ("htm", "text/html; charset=utf-8"),
    ("html", "text/html; charset=utf-8"),
    ("ico", "image/x-icon"),
    ("img", OCTET),
    ("ini", "text/plain; charset=utf-8"),
    ("ipk", OCTET),
    ("itb", OCTET),
    ("jpeg", "image/jpeg"),
    ("jpg", "image/jpeg"),
    ("js", "text/javascript; charset=utf-8"),
    ("json", "application/json"),
    ("jsonld", "application/ld+json"),
    ("jxl", "image/jxl"),
    ("log", "text/plain; charset=utf-8"),
    ("m4a", "audio/mp4"),
    ("manifest", "application/manifest+json"),
    ("map", "application/json"),
    ("md", "text/markdown; charset=utf-8"),
    ("md5", "text/plain; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("mkv", "video/x-matroska"),
    ("mov", "video/quicktime"),
    ("mp3", "audio/mpeg"),
    ("mp4", "video/mp4"),
    ("mpeg", "video/mpeg"),
    ("oga", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("ogv", "video/ogg"),
    ("otf", "font/otf"),
    ("pdf", "application/pdf"),
    ("pem", "application/x-pem-file"),
    ("png", "image/png"),
    ("rss", "application/rss+xml"),
    ("sha1", "text/plain; charset=utf-8"),
    ("sha256", "text/plain; charset=utf-8"),
    ("sig", "application/pgp-signature"),
    ("svg", "image/svg+xml"),
    ("tar", "application/x-tar"),
    ("tgz", "application/gzip"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("trx", OCTET),
    ("ttf", "font/ttf"),
    ("txt", "text/plain; charset=utf-8"),
    ("vtt", "text/vtt; charset=utf-8"),
    ("wasm", "application/wasm"),
    ("wav", "audio/wav"),
    ("weba", "audio/webm"),
    ("webm", "video/webm"),
    ("webmanifest", "application/manifest+json"),
    ("webp", "image/webp"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("xhtml", "application/xhtml+xml; charset=utf-8"),
    ("xml", "text/xml; charset=utf-8"),
    ("xz", "application/x-xz"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", "application/zip"),
    ("zst", "application/zstd"),
];

/// Content-Type for a file extension (without the dot), case-insensitive.
pub fn lookup(ext: &[u8]) -> Option<&'static str> {
    if ext.is_empty() || ext.len() > MAX_EXTENSION_LEN {
        return None;
    }
    let mut buf = [0u8; MAX_EXTENSION_LEN];
    let lower = buf.get_mut(..ext.len())?;
    for (dst, src) in lower.iter_mut().zip(ext) {
        *dst = src.to_ascii_lowercase();
    }
    let lower: &[u8] = lower;
    TABLE
        .binary_search_by(|(key, _)| key.as_bytes().cmp(lower))
        .ok()
        .and_then(|i| TABLE.get(i))
        .map(|&(_, mime)| mime)
}

/// The extension of the last segment of `path`: the bytes after its last
/// `.`, unless there is none, it is the segment's first byte, or nothing
/// follows it.
pub fn extension(path: &[u8]) -> Option<&[u8]> {
    let segment = path.rsplit(|&b| b == b'/').next()?;
    let dot = segment.iter().rposition(|&b| b == b'.')?;
    if dot == 0 {
        return None;
    }
    let (_, ext) = segment.split_at_checked(dot)?;
    let ext = ext.get(1..)?;
    if ext.is_empty() {
        None
    } else {
        Some(ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_lowercase() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?} !< {:?}", pair[0].0, pair[1].0);
        }
        for &(ext, mime) in TABLE {
            assert!(!ext.is_empty() && ext.len() <= MAX_EXTENSION_LEN, "{ext}");
            assert!(
                ext.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{ext}"
            );
            assert!(mime.contains('/') && mime.is_ascii(), "{mime}");
            assert!(!mime.bytes().any(|b| b.is_ascii_control()), "{mime}");
            if mime.starts_with("text/") {
                assert!(mime.ends_with("; charset=utf-8"), "{ext}: {mime}");
            }
        }
        assert!(TABLE.len() >= 70, "{}", TABLE.len());
    }

    #[test]
    fn every_entry_is_found_in_any_case() {
        for &(ext, mime) in TABLE {
            assert_eq!(lookup(ext.as_bytes()), Some(mime));
            assert_eq!(lookup(ext.to_ascii_uppercase().as_bytes()), Some(mime));
            let mixed: Vec<u8> = ext
                .bytes()
                .enumerate()
                .map(|(i, b)| {
                    if i % 2 == 0 {
                        b.to_ascii_uppercase()
                    } else {
                        b
                    }
                })
                .collect();
            assert_eq!(lookup(&mixed), Some(mime));
        }
    }

    #[test]
    fn lookup_table() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"html", Some("text/html; charset=utf-8")),
            (b"HTM", Some("text/html; charset=utf-8")),
            (b"css", Some("text/css; charset=utf-8")),
            (b"js", Some("text/javascript; charset=utf-8")),
            (b"mjs", Some("text/javascript; charset=utf-8")),
            (b"json", Some("application/json")),
            (b"txt", Some("text/plain; charset=utf-8")),
            (b"svg", Some("image/svg+xml")),
            (b"png", Some("image/png")),
            (b"JPG", Some("image/jpeg")),
            (b"jpeg", Some("image/jpeg")),
            (b"ico", Some("image/x-icon")),
            (b"woff2", Some("font/woff2")),
            (b"wasm", Some("application/wasm")),
            (b"gz", Some("application/gzip")),
            (b"bin", Some("application/octet-stream")),
            (b"trx", Some("application/octet-stream")),
            (b"webmanifest", Some("application/manifest+json")),
            (b"mp4", Some("video/mp4")),
            (b"", None),
            (b"unknown", None),
            (b"htmlx", None),
            (b"ht", None),
            (b"h", None),
            (b"zzz", None),
            (b"000", None),
            (b".html", None),
            (b"html ", None),
            (b"html\0", None),
            (b"\xff\xfe", None),
            (b"webmanifestwebman", None), // 17 bytes
            (b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", None),
        ];
        for &(ext, want) in cases {
            assert_eq!(lookup(ext), want, "{:?}", String::from_utf8_lossy(ext));
        }
    }

    #[test]
    fn extension_table() {
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"index.html", Some(b"html")),
            (b"/index.html", Some(b"html")),
            (b"a/b/app.min.js", Some(b"js")),
            (b"fw/openwrt.tar.gz", Some(b"gz")),
            (b"a.b/file", None),
            (b"a.b/", None),
            (b"", None),
            (b"/", None),
            (b"noext", None),
            (b".profile", None),
            (b"dir/.profile", None),
            (b"dir/.config.json", Some(b"json")),
            (b"file.", None),
            (b"..", None),
            (b"a/..", None),
            (b"a..b", Some(b"b")),
            (b"a/.", None),
            (b"x.HTML", Some(b"HTML")),
        ];
        for &(path, want) in cases {
            assert_eq!(extension(path), want, "{:?}", String::from_utf8_lossy(path));
        }
    }

    #[test]
    fn extension_then_lookup() {
        let cases: &[(&[u8], Option<&str>)] = &[
            (b"www/index.HTML", Some("text/html; charset=utf-8")),
            (b"firmware.bin", Some("application/octet-stream")),
            (b"style.css", Some("text/css; charset=utf-8")),
            (b"README", None),
            (b"archive.unknownext", None),
        ];
        for &(path, want) in cases {
            assert_eq!(extension(path).and_then(lookup), want);
        }
    }
}
