//! The `[ctl]` section.

use std::path::PathBuf;
use std::time::Duration;

use fws_api::doc::{format_key, Value};
use fws_api::plugin::Section;

/// Where the socket lives when the section does not say.
pub const DEFAULT_SOCKET: &str = "/var/run/firmware-server.sock";
/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_PATH: usize = 107;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlConfig {
    pub socket: PathBuf,
    pub max_clients: usize,
    /// A client that sends nothing for this long is dropped.
    pub timeout: Duration,
}

impl Default for CtlConfig {
    fn default() -> Self {
        CtlConfig {
            socket: PathBuf::from(DEFAULT_SOCKET),
            max_clients: 4,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Integer seconds, or a string with a unit: "250ms", "10s", "2m".
pub fn duration(v: &Value) -> Result<Duration, String> {
    let d = match v {
        Value::Int(n) if *n >= 0 => Duration::from_secs(*n as u64),
        Value::Str(s) => {
            let (num, mul_ms) = if let Some(n) = s.strip_suffix("ms") {
                (n, 1u64)
            } else if let Some(n) = s.strip_suffix('s') {
                (n, 1000)
            } else if let Some(n) = s.strip_suffix('m') {
                (n, 60_000)
            } else {
                (s.as_str(), 1000)
            };
            let n: u64 = if !num.is_empty() && num.len() <= 9 && num.bytes().all(|c| c.is_ascii_digit()) {
                num.parse().map_err(|_| String::new())?
            } else {
                return Err(format!(
                    "expected a duration (seconds, or a string such as \"250ms\", \"10s\", \"2m\"), got {v}"
                ));
            };
            Duration::from_millis(n.saturating_mul(mul_ms))
        }
        other => {
            return Err(format!(
                "expected a duration (seconds, or a string such as \"250ms\", \"10s\", \"2m\"), got {other}"
            ))
        }
    };
    Ok(d)
}

impl CtlConfig {
    /// Reads the sections (the last one wins per key; there is normally one).
    pub fn from_sections(sections: &[Section<'_>]) -> Result<CtlConfig, Vec<String>> {
        let mut c = CtlConfig::default();
        let mut errs = Vec::new();
        for s in sections {
            if s.table.array {
                errs.push(format!(
                    "{}:{}: section [[ctl]] must be written [ctl]",
                    s.file, s.table.line
                ));
                continue;
            }
            for e in &s.table.entries {
                let r = match e.key.as_str() {
                    "socket" => match &e.value {
                        Value::Str(p) if p.is_empty() => {
                            Err("socket: expected a path, got \"\"".to_string())
                        }
                        Value::Str(p) if p.len() > MAX_PATH => Err(format!(
                            "socket: a Unix socket path holds at most {MAX_PATH} bytes, got {}",
                            p.len()
                        )),
                        Value::Str(p) if p.contains('\0') => {
                            Err("socket: the path must not contain NUL".to_string())
                        }
                        Value::Str(p) if p.ends_with('/') => Err(format!(
                            "socket: expected the path of the socket file, got a directory \"{p}\""
                        )),
                        Value::Str(p) => {
                            c.socket = PathBuf::from(p);
                            Ok(())
                        }
                        other => Err(format!("socket: expected a path string, got {other}")),
                    },
                    "max_clients" => match &e.value {
                        Value::Int(n) if (1..=64).contains(n) => {
                            c.max_clients = *n as usize;
                            Ok(())
                        }
                        other => Err(format!(
                            "max_clients: expected an integer from 1 to 64, got {other}"
                        )),
                    },
                    "timeout" => match duration(&e.value) {
                        Ok(d)
                            if d >= Duration::from_millis(100)
                                && d <= Duration::from_secs(3600) =>
                        {
                            c.timeout = d;
                            Ok(())
                        }
                        Ok(_) => Err(format!(
                            "timeout: expected a duration from 100ms to 1h, got {}",
                            e.value
                        )),
                        Err(m) => Err(format!("timeout: {m}")),
                    },
                    other => Err(format!(
                        "unknown key {} in [ctl] (expected socket, max_clients, timeout)",
                        format_key(other)
                    )),
                };
                if let Err(m) = r {
                    errs.push(format!("{}:{}: {m}", s.file, e.line));
                }
            }
        }
        if errs.is_empty() {
            Ok(c)
        } else {
            Err(errs)
        }
    }

    /// In config-file syntax.
    pub fn text(&self) -> String {
        let ms = self.timeout.as_millis();
        let timeout = if ms % 1000 == 0 {
            format!("{}", ms / 1000)
        } else {
            format!("\"{ms}ms\"")
        };
        format!(
            "\n[ctl]\nsocket = {}\nmax_clients = {}\ntimeout = {timeout}\n",
            Value::Str(self.socket.to_string_lossy().into_owned()),
            self.max_clients
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc::parse;

    fn build(text: &str) -> Result<CtlConfig, Vec<String>> {
        let d = parse(text).unwrap();
        let secs: Vec<Section<'_>> = d
            .tables
            .iter()
            .filter(|t| t.name == "ctl")
            .map(|t| Section {
                file: "f",
                table: t,
            })
            .collect();
        CtlConfig::from_sections(&secs)
    }

    #[test]
    fn good_and_round_trip() {
        let cases: &[(&str, CtlConfig)] = &[
            ("[ctl]\n", CtlConfig::default()),
            (
                "[ctl]\nsocket = \"/tmp/x.sock\"\nmax_clients = 1\ntimeout = \"250ms\"\n",
                CtlConfig {
                    socket: "/tmp/x.sock".into(),
                    max_clients: 1,
                    timeout: Duration::from_millis(250),
                },
            ),
            (
                "[ctl]\ntimeout = \"2m\"\n",
                CtlConfig {
                    timeout: Duration::from_secs(120),
                    ..CtlConfig::default()
                },
            ),
            (
                "[ctl]\ntimeout = 3\n",
                CtlConfig {
                    timeout: Duration::from_secs(3),
                    ..CtlConfig::default()
                },
            ),
        ];
        for (text, want) in cases {
            let c = build(text).unwrap();
            assert_eq!(&c, want, "{text}");
            assert_eq!(build(&c.text()).unwrap(), c);
        }
    }

    #[test]
    fn errors() {
        let long = format!("[ctl]\nsocket = \"/{}\"\n", "a".repeat(107));
        let cases: &[(&str, &[(u32, &str)])] = &[
            ("[ctl]\nsocket = 5\n", &[(2, "expected a path string")]),
            ("[ctl]\nsocket = \"\"\n", &[(2, "expected a path")]),
            ("[ctl]\nsocket = \"/tmp/\"\n", &[(2, "got a directory")]),
            (&long, &[(2, "at most 107 bytes")]),
            ("[ctl]\nmax_clients = 0\n", &[(2, "1 to 64")]),
            ("[ctl]\nmax_clients = \"4\"\n", &[(2, "1 to 64")]),
            ("[ctl]\ntimeout = \"10x\"\n", &[(2, "expected a duration")]),
            ("[ctl]\ntimeout = \"5ms\"\n", &[(2, "100ms to 1h")]),
            ("[ctl]\ntimeout = -1\n", &[(2, "expected a duration")]),
            ("[ctl]\ntimeout = 7200\n", &[(2, "100ms to 1h")]),
            (
                "[ctl]\nsockets = \"/x\"\nmax_clients = 100\n",
                &[(2, "unknown key sockets"), (3, "1 to 64")],
            ),
            ("[[ctl]]\n", &[(1, "must be written [ctl]")]),
        ];
        for (text, want) in cases {
            let errs = build(text).unwrap_err();
            assert_eq!(errs.len(), want.len(), "{text}: {errs:?}");
            for (e, (line, msg)) in errs.iter().zip(want.iter()) {
                assert!(e.starts_with(&format!("f:{line}: ")), "{e}");
                assert!(e.contains(msg), "{e} lacks {msg}");
            }
        }
    }
}
