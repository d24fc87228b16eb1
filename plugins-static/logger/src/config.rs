//! The `[logger]` section: parsing, validation (`FILE:LINE: message`, all
//! errors) and printing back in config-file syntax.

use std::fmt::Write as _;
use std::path::PathBuf;

use fws_api::doc::{format_key, Value};
use fws_api::plugin::Section;

use crate::format::Format;

/// Where a stream of lines goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Off,
    /// The process's standard error. For `error`, this leaves the engine's
    /// own logger in place.
    Stderr,
    File(PathBuf),
    Syslog {
        facility: u8,
        path: PathBuf,
    },
    Ring,
}

pub const DEV_LOG: &str = "/dev/log";
/// `daemon`.
pub const DEFAULT_FACILITY: u8 = 3;

const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

fn facility_name(f: u8) -> &'static str {
    FACILITIES
        .iter()
        .find(|(_, n)| *n == f)
        .map_or("daemon", |(s, _)| s)
}

impl Target {
    /// Parses `off`, `stderr`, `ring`, `file:/PATH` (or just `/PATH`),
    /// `syslog`, `syslog:FACILITY`, `syslog:/SOCKET`, `syslog:FACILITY:/SOCKET`.
    pub fn parse(s: &str) -> Result<Target, String> {
        const EXPECTED: &str = "expected \"off\", \"stderr\", \"ring\", \"file:/ABSOLUTE/PATH\", \"syslog\", \"syslog:FACILITY\", \"syslog:/SOCKET\" or \"syslog:FACILITY:/SOCKET\"";
        match s {
            "off" => return Ok(Target::Off),
            "stderr" => return Ok(Target::Stderr),
            "ring" => return Ok(Target::Ring),
            "syslog" => {
                return Ok(Target::Syslog {
                    facility: DEFAULT_FACILITY,
                    path: DEV_LOG.into(),
                })
            }
            _ => {}
        }
        let path = |p: &str, what: &str| -> Result<PathBuf, String> {
            if p.starts_with('/') && p.len() > 1 && !p.ends_with('/') && !p.contains('\0') {
                Ok(PathBuf::from(p))
            } else {
                Err(format!(
                    "expected an absolute {what} path, got {}",
                    Value::Str(p.into())
                ))
            }
        };
        if let Some(p) = s.strip_prefix("file:") {
            return path(p, "file").map(Target::File);
        }
        if s.starts_with('/') {
            return path(s, "file").map(Target::File);
        }
        if let Some(rest) = s.strip_prefix("syslog:") {
            let (fac, sock) = if rest.starts_with('/') {
                (None, Some(rest))
            } else {
                match rest.split_once(':') {
                    Some((f, p)) => (Some(f), Some(p)),
                    None => (Some(rest), None),
                }
            };
            let facility = match fac {
                None => DEFAULT_FACILITY,
                Some(f) => match FACILITIES.iter().find(|(n, _)| *n == f) {
                    Some((_, n)) => *n,
                    None => {
                        return Err(format!(
                            "unknown syslog facility {}: expected one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7",
                            Value::Str(f.into())
                        ))
                    }
                },
            };
            let path = match sock {
                None => PathBuf::from(DEV_LOG),
                Some(p) => path(p, "socket")?,
            };
            return Ok(Target::Syslog { facility, path });
        }
        Err(format!("{EXPECTED}, got {}", Value::Str(s.into())))
    }

    /// The target in config syntax (what [`Target::parse`] reads back).
    pub fn text(&self) -> String {
        match self {
            Target::Off => "off".into(),
            Target::Stderr => "stderr".into(),
            Target::Ring => "ring".into(),
            Target::File(p) => format!("file:{}", p.display()),
            Target::Syslog { facility, path } => {
                if path.as_os_str() == DEV_LOG {
                    format!("syslog:{}", facility_name(*facility))
                } else {
                    format!("syslog:{}:{}", facility_name(*facility), path.display())
                }
            }
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub access: Target,
    pub format: Format,
    pub error: Target,
    pub error_level: log::LevelFilter,
    pub ring_size: usize,
    pub queue_size: usize,
    /// Lines of the key of each target (for errors found when opening).
    pub access_line: u32,
    pub error_line: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            access: Target::Off,
            format: Format::Combined,
            error: Target::Stderr,
            error_level: log::LevelFilter::Info,
            ring_size: 64 * 1024,
            queue_size: 16 * 1024,
            access_line: 0,
            error_line: 0,
        }
    }
}

pub const RING_MIN: u64 = 1024;
/// A `ring` reply holds at most the ring: this keeps it far below the ctl
/// plugin's 16 MiB reply limit.
pub const RING_MAX: u64 = 4 << 20;
pub const QUEUE_MIN: u64 = 4096;
pub const QUEUE_MAX: u64 = 16 << 20;

const KEYS: &str = "access, format, error, error_level, ring_size, queue_size";

fn shown(v: &Value) -> String {
    match v {
        Value::Str(_) | Value::Int(_) | Value::Bool(_) => v.to_string(),
        Value::List(_) => "a list".into(),
    }
}

/// Parses "4096", "64K", "1M" (binary units).
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if num.is_empty() || num.len() > 12 || !num.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn size(v: &Value, lo: u64, hi: u64) -> Result<usize, String> {
    let n = match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::Str(s) => parse_size(s),
        _ => None,
    };
    n.filter(|n| (lo..=hi).contains(n))
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| {
            format!(
                "expected a size in bytes {lo}..={hi} (integer, or string like \"64K\"), got {}",
                shown(v)
            )
        })
}

fn string<'v>(v: &'v Value, what: &str) -> Result<&'v str, String> {
    match v {
        Value::Str(s) => Ok(s),
        _ => Err(format!("expected {what} (a string), got {}", shown(v))),
    }
}

fn level(s: &str) -> Option<log::LevelFilter> {
    Some(match s {
        "off" => log::LevelFilter::Off,
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "info" => log::LevelFilter::Info,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => return None,
    })
}

/// Reads the plugin's sections. `Ok(None)`: no section, the plugin is off.
pub fn parse(sections: &[Section<'_>]) -> Result<Option<Config>, Vec<String>> {
    let Some(first) = sections.first() else {
        return Ok(None);
    };
    let mut errs = Vec::new();
    for s in sections.iter().skip(1) {
        errs.push(format!(
            "{}:{}: only one [logger] section is allowed (the first is at {}:{})",
            s.file, s.table.line, first.file, first.table.line
        ));
    }
    if first.table.array {
        errs.push(format!(
            "{}:{}: write the logger section as [logger], not [[logger]]",
            first.file, first.table.line
        ));
    }
    let mut cfg = Config::default();
    let file = first.file;
    for e in &first.table.entries {
        let r: Result<(), String> = (|| {
            match e.key.as_str() {
                "access" => {
                    let t = Target::parse(string(&e.value, "a log target")?)?;
                    cfg.access = t;
                    cfg.access_line = e.line;
                }
                "error" => {
                    let t = Target::parse(string(&e.value, "a log target")?)?;
                    cfg.error = t;
                    cfg.error_line = e.line;
                }
                "format" => {
                    cfg.format = match string(&e.value, "\"combined\" or \"common\"")? {
                        "combined" => Format::Combined,
                        "common" => Format::Common,
                        other => {
                            return Err(format!(
                                "expected \"combined\" or \"common\", got {}",
                                Value::Str(other.into())
                            ))
                        }
                    }
                }
                "error_level" => {
                    let s = string(&e.value, "a level")?;
                    cfg.error_level = level(s).ok_or_else(|| {
                        format!(
                            "expected off, error, warn, info, debug or trace, got {}",
                            Value::Str(s.into())
                        )
                    })?;
                }
                "ring_size" => cfg.ring_size = size(&e.value, RING_MIN, RING_MAX)?,
                "queue_size" => cfg.queue_size = size(&e.value, QUEUE_MIN, QUEUE_MAX)?,
                other => {
                    return Err(format!(
                        "unknown key {} in [logger] (expected one of: {KEYS})",
                        format_key(other)
                    ))
                }
            }
            Ok(())
        })();
        if let Err(m) = r {
            errs.push(format!("{file}:{}: {m}", e.line));
        }
    }
    if errs.is_empty() {
        Ok(Some(cfg))
    } else {
        Err(errs)
    }
}

impl Config {
    /// The section in config-file syntax.
    pub fn text(&self) -> String {
        let mut s = String::from("\n[logger]\n");
        let _ = writeln!(s, "access = {}", Value::Str(self.access.text()));
        let fmt = match self.format {
            Format::Combined => "combined",
            Format::Common => "common",
        };
        let _ = writeln!(s, "format = {}", Value::Str(fmt.into()));
        let _ = writeln!(s, "error = {}", Value::Str(self.error.text()));
        let lvl = self.error_level.as_str().to_ascii_lowercase();
        let _ = writeln!(s, "error_level = {}", Value::Str(lvl));
        let _ = writeln!(s, "ring_size = {}", self.ring_size);
        let _ = writeln!(s, "queue_size = {}", self.queue_size);
        s
    }

    pub fn uses_ring(&self) -> bool {
        self.access == Target::Ring || self.error == Target::Ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc;

    fn run(text: &str) -> Result<Option<Config>, Vec<String>> {
        let d = doc::parse(text).unwrap();
        let secs: Vec<Section<'_>> = d
            .tables
            .iter()
            .filter(|t| t.name == "logger")
            .map(|t| Section {
                file: "f.toml",
                table: t,
            })
            .collect();
        parse(&secs)
    }

    #[test]
    fn targets() {
        let sys = |f: u8, p: &str| Target::Syslog {
            facility: f,
            path: p.into(),
        };
        let ok: &[(&str, Target)] = &[
            ("off", Target::Off),
            ("stderr", Target::Stderr),
            ("ring", Target::Ring),
            ("file:/var/log/a.log", Target::File("/var/log/a.log".into())),
            ("/var/log/a.log", Target::File("/var/log/a.log".into())),
            ("syslog", sys(3, "/dev/log")),
            ("syslog:local0", sys(16, "/dev/log")),
            ("syslog:/tmp/s", sys(3, "/tmp/s")),
            ("syslog:local7:/tmp/a:b", sys(23, "/tmp/a:b")),
            ("syslog:kern", sys(0, "/dev/log")),
        ];
        for (s, t) in ok {
            assert_eq!(&Target::parse(s).unwrap(), t, "{s}");
            // Printing reads back the same.
            assert_eq!(&Target::parse(&t.text()).unwrap(), t, "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("", "expected \"off\""),
            ("files:/x", "expected \"off\""),
            ("file:", "absolute file path"),
            ("file:rel/x", "absolute file path"),
            ("file:/", "absolute file path"),
            ("file:/var/log/", "absolute file path"),
            ("syslog:local8", "unknown syslog facility \"local8\""),
            ("syslog:", "unknown syslog facility"),
            ("syslog:local0:rel", "absolute socket path"),
            ("Syslog", "expected \"off\""),
        ];
        for (s, want) in bad {
            let e = Target::parse(s).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn sections() {
        assert_eq!(run("[server]\n").unwrap(), None);
        let c = run("[logger]\n").unwrap().unwrap();
        assert_eq!(c, Config::default());
        let c = run(
            "[logger]\naccess = \"file:/tmp/a.log\"\nformat = \"common\"\nerror = \"ring\"\n\
             error_level = \"debug\"\nring_size = \"1M\"\nqueue_size = 8192\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.access, Target::File("/tmp/a.log".into()));
        assert_eq!(c.format, Format::Common);
        assert_eq!(c.error, Target::Ring);
        assert_eq!(c.error_level, log::LevelFilter::Debug);
        assert_eq!((c.ring_size, c.queue_size), (1 << 20, 8192));
        assert_eq!((c.access_line, c.error_line), (2, 4));
        // Printed text parses back to the same configuration.
        let again = run(&c.text()).unwrap().unwrap();
        assert_eq!(
            (again.access, again.format, again.error, again.error_level),
            (c.access, c.format, c.error, c.error_level)
        );
        assert_eq!(
            (again.ring_size, again.queue_size),
            (c.ring_size, c.queue_size)
        );
    }

    #[test]
    fn errors_all_reported_with_lines() {
        let cases: &[(&str, &[&str])] = &[
            (
                "[logger]\nbogus = 1\n",
                &["f.toml:2: unknown key bogus in [logger] (expected one of: access,"],
            ),
            (
                "[logger]\naccess = 5\n",
                &["f.toml:2: expected a log target (a string), got 5"],
            ),
            (
                "[logger]\nformat = \"json\"\n",
                &["f.toml:2: expected \"combined\" or \"common\", got \"json\""],
            ),
            (
                "[logger]\nerror_level = \"loud\"\n",
                &["f.toml:2: expected off, error, warn"],
            ),
            (
                "[logger]\nring_size = \"1\"\n",
                &["f.toml:2: expected a size in bytes 1024..=4194304"],
            ),
            (
                "[logger]\nring_size = \"64Q\"\n",
                &["f.toml:2: expected a size"],
            ),
            (
                "[logger]\nqueue_size = -1\n",
                &["f.toml:2: expected a size in bytes 4096.."],
            ),
            (
                "[logger]\nqueue_size = \"99999999999999999999K\"\n",
                &["f.toml:2: expected a size"],
            ),
            (
                "[logger]\nqueue_size = true\n",
                &["f.toml:2: expected a size"],
            ),
            ("[logger]\nring_size = [1]\n", &["got a list"]),
            (
                "[logger]\naccess = \"nowhere\"\nerror = \"syslog:bad\"\nformat = 1\nx = 2\n",
                &[
                    "f.toml:2: expected \"off\"",
                    "f.toml:3: unknown syslog facility",
                    "f.toml:4: expected",
                    "f.toml:5: unknown key x",
                ],
            ),
            (
                "[[logger]]\n[[logger]]\n",
                &[
                    "f.toml:1: write the logger section as [logger]",
                    "f.toml:2: only one [logger] section",
                ],
            ),
        ];
        for (text, want) in cases {
            let errs = run(text).unwrap_err();
            assert_eq!(errs.len(), want.len(), "{text}: {errs:?}");
            for w in *want {
                assert!(
                    errs.iter().any(|e| e.starts_with(w) || e.contains(w)),
                    "{text}: {errs:?} lacks {w}"
                );
            }
        }
    }
}
