//! Reading a directory the engine opened, within bounds.
//!
//! - The directory is read through `/proc/self/fd/N` of the descriptor the
//!   engine resolved inside the docroot: opening that magic link reaches
//!   the very directory the descriptor is open on, so the user's path is
//!   never resolved again (no race with renames or swapped symlinks).
//! - Entries are examined with `lstat` relative to that directory
//!   (`DirEntry::metadata` does not follow symlinks).
//! - A symlink is followed only when its fully resolved target stays inside
//!   the virtual host's docroot: it is then listed as its target (type,
//!   size, time). A symlink leaving the docroot, a dangling one, or one
//!   whose target cannot be resolved is listed as `other` with size 0 and
//!   the link's own time, without a link in the HTML page.
//! - Names starting with `.` are never listed.
//! - At most `max` entries are kept; reading stops when one more visible
//!   entry appears (the listing is then *truncated*). Hidden entries cost no
//!   memory, but at most `4 * max + 64` raw entries are read in all, so a
//!   directory of many hidden files cannot make a worker spin either.

use std::cmp::Ordering;
use std::fs::{self, Metadata};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Box<[u8]>,
    pub kind: Kind,
    /// Bytes for files; 0 for everything else.
    pub size: u64,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub entries: Vec<Entry>,
    pub truncated: bool,
}

/// Reads the directory `dir` is open on. `root` is the canonical docroot
/// (symlinks are followed only to targets inside it; `None`: never).
pub fn scan(dir: &OwnedFd, root: Option<&Path>, max: usize) -> io::Result<Scan> {
    let base = format!("/proc/self/fd/{}", dir.as_raw_fd());
    let rd = fs::read_dir(&base)?;
    let mut out = Scan::default();
    let raw_cap = max.saturating_mul(4).saturating_add(64);
    let mut raw = 0usize;
    for item in rd {
        raw += 1;
        if raw > raw_cap {
            out.truncated = true;
            break;
        }
        let Ok(item) = item else { continue };
        let name = item.file_name();
        let name = name.as_bytes();
        if name.first() == Some(&b'.') {
            continue;
        }
        if out.entries.len() >= max {
            out.truncated = true;
            break;
        }
        // Gone since readdir, or unreadable: leave it out.
        let Ok(meta) = item.metadata() else { continue };
        let (kind, size, mtime) = if meta.file_type().is_symlink() {
            follow(&item.path(), root).unwrap_or((Kind::Other, 0, meta.mtime()))
        } else {
            describe(&meta)
        };
        out.entries.push(Entry {
            name: name.into(),
            kind,
            size,
            mtime,
        });
    }
    sort(&mut out.entries, order);
    Ok(out)
}

fn describe(meta: &Metadata) -> (Kind, u64, i64) {
    let ft = meta.file_type();
    if ft.is_dir() {
        (Kind::Dir, 0, meta.mtime())
    } else if ft.is_file() {
        (Kind::File, meta.len(), meta.mtime())
    } else {
        (Kind::Other, 0, meta.mtime())
    }
}

/// The target of a symlink, when it resolves to something inside `root`.
fn follow(link: &Path, root: Option<&Path>) -> Option<(Kind, u64, i64)> {
    let root = root?;
    let target = fs::canonicalize(link).ok()?;
    if !inside(&target, root) {
        return None;
    }
    let meta = fs::symlink_metadata(&target).ok()?;
    Some(describe(&meta))
}

/// Whether canonical path `p` is `root` or below it.
pub fn inside(p: &Path, root: &Path) -> bool {
    let (p, r) = (p.as_os_str().as_bytes(), root.as_os_str().as_bytes());
    p == r || (p.len() > r.len() && p.starts_with(r) && (r == b"/" || p[r.len()] == b'/'))
}

/// Heapsort: O(n log n), no allocation, and a fraction of the code size of
/// the standard library's sorts (binary size matters on the targets). Not
/// stable, which does not matter for a total order.
pub fn sort<T>(v: &mut [T], cmp: impl Fn(&T, &T) -> Ordering) {
    let sift = |v: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && cmp(&v[child], &v[child + 1]) == Ordering::Less {
            child += 1;
        }
        if cmp(&v[root], &v[child]) != Ordering::Less {
            break;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

/// Directories first, then by name: ASCII case-insensitively, ties broken
/// by the raw bytes (a total, deterministic order).
pub fn order(a: &Entry, b: &Entry) -> Ordering {
    let rank = |k: Kind| u8::from(k != Kind::Dir);
    rank(a.kind)
        .cmp(&rank(b.kind))
        .then_with(|| {
            a.name
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.name.iter().map(u8::to_ascii_lowercase))
        })
        .then_with(|| a.name.cmp(&b.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn e(name: &str, kind: Kind) -> Entry {
        Entry {
            name: name.as_bytes().into(),
            kind,
            size: 0,
            mtime: 0,
        }
    }

    #[test]
    fn ordering() {
        let mut v = vec![
            e("b.txt", Kind::File),
            e("Zeta", Kind::Dir),
            e("a.txt", Kind::File),
            e("B.txt", Kind::File),
            e("alpha", Kind::Dir),
            e("link", Kind::Other),
            e("_x", Kind::File),
            e("10", Kind::File),
            e("9", Kind::File),
        ];
        v.sort_by(order);
        let names: Vec<&[u8]> = v.iter().map(|e| &*e.name).collect();
        let want: Vec<&[u8]> = [
            "alpha", "Zeta", "10", "9", "_x", "a.txt", "B.txt", "b.txt", "link",
        ]
        .iter()
        .map(|s| s.as_bytes())
        .collect();
        assert_eq!(names, want);
    }

    #[test]
    fn heapsort_sorts() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for n in [0usize, 1, 2, 3, 10, 101, 1000] {
            let mut v: Vec<u64> = (0..n)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed % 50
                })
                .collect();
            let mut want = v.clone();
            want.sort();
            sort(&mut v, |a, b| a.cmp(b));
            assert_eq!(v, want, "n = {n}");
        }
    }

    #[test]
    fn inside_checks() {
        let cases: &[(&str, &str, bool)] = &[
            ("/srv/www", "/srv/www", true),
            ("/srv/www/a", "/srv/www", true),
            ("/srv/wwwx", "/srv/www", false),
            ("/srv", "/srv/www", false),
            ("/etc/passwd", "/", true),
        ];
        for &(p, r, want) in cases {
            assert_eq!(inside(Path::new(p), Path::new(r)), want, "{p} in {r}");
        }
    }

    fn tmp(tag: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("fws-dirlisting-unit-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(p.join("www/sub")).unwrap();
        p
    }

    fn open(p: &Path) -> OwnedFd {
        OwnedFd::from(fs::File::open(p).unwrap())
    }

    #[test]
    fn scan_real_directory() {
        let base = tmp("scan");
        let www = base.join("www");
        fs::write(www.join("f.txt"), b"12345").unwrap();
        fs::write(www.join(".hidden"), b"x").unwrap();
        fs::create_dir(www.join(".git")).unwrap();
        fs::write(base.join("outside.txt"), b"secret").unwrap();
        std::os::unix::fs::symlink("f.txt", www.join("in-link")).unwrap();
        std::os::unix::fs::symlink("sub", www.join("dir-link")).unwrap();
        std::os::unix::fs::symlink("../outside.txt", www.join("out-link")).unwrap();
        std::os::unix::fs::symlink("nowhere", www.join("dangling")).unwrap();
        let root = fs::canonicalize(&www).unwrap();
        let s = scan(&open(&www), Some(&root), 100).unwrap();
        assert!(!s.truncated);
        let got: Vec<(&[u8], Kind, u64)> = s
            .entries
            .iter()
            .map(|e| (&*e.name, e.kind, e.size))
            .collect();
        let want: Vec<(&[u8], Kind, u64)> = vec![
            (b"dir-link", Kind::Dir, 0),
            (b"sub", Kind::Dir, 0),
            (b"dangling", Kind::Other, 0),
            (b"f.txt", Kind::File, 5),
            (b"in-link", Kind::File, 5),
            (b"out-link", Kind::Other, 0),
        ];
        assert_eq!(got, want);
        // Without a known root no symlink is followed.
        let s = scan(&open(&www), None, 100).unwrap();
        assert!(s
            .entries
            .iter()
            .filter(|e| e.name.starts_with(b"in-"))
            .all(|e| e.kind == Kind::Other));
        // Truncation: reading stops after `max` visible entries.
        let s = scan(&open(&www), Some(&root), 2).unwrap();
        assert!(s.truncated);
        assert_eq!(s.entries.len(), 2);
        let s = scan(&open(&www), Some(&root), 6).unwrap();
        assert!(!s.truncated);
        assert_eq!(s.entries.len(), 6);
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn hidden_entries_are_bounded() {
        let base = tmp("hidden");
        let www = base.join("www");
        for i in 0..80 {
            fs::write(www.join(format!(".h{i}")), b"").unwrap();
        }
        // max = 1: at most 68 raw entries are read, all hidden -> truncated.
        let s = scan(&open(&www), None, 1).unwrap();
        assert!(s.truncated);
        assert!(s.entries.len() <= 1);
        let s = scan(&open(&www), None, 100).unwrap();
        assert!(!s.truncated);
        assert_eq!(s.entries.len(), 1); // "sub"
        fs::remove_dir_all(&base).unwrap();
    }
}
