//! The `[fastcgi]` sections (config file) and `--fastcgi ROUTE=ADDR` (a
//! section from `<command line>`). Every problem is reported as
//! `FILE:LINE: message`, all at once.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use fws_api::doc::{Entry, Value};
use fws_api::gateway::OffloadDirs;
use fws_api::plugin::{Env, Section};

/// Where a backend listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

impl std::fmt::Display for Addr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Addr::Unix(p) => write!(f, "unix:{}", p.display()),
            Addr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// What a route matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// Files with this extension (lower case, no dot).
    Ext(String),
    /// Paths under this prefix (normalised: no leading or trailing `/`).
    Prefix(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// As written (`.php=unix:/run/php-fpm.sock`).
    pub text: String,
    pub what: Match,
    /// Index into [`Conf::backends`].
    pub backend: usize,
    /// `None`: every virtual host; `Some(i)`: that one.
    pub vhost: Option<(String, usize)>,
}

/// An authorizer guarding a URL prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorizer {
    pub text: String,
    /// Normalised prefix (no leading or trailing `/`).
    pub prefix: Vec<u8>,
    pub backend: usize,
    pub vhost: Option<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct Conf {
    pub routes: Vec<Route>,
    pub authorizers: Vec<Authorizer>,
    /// Distinct backend addresses (routes to one address share its pool).
    pub backends: Vec<Addr>,
    /// Most connections each worker opens to one backend.
    pub max_conns: usize,
    /// Keep backend connections open between requests (`FCGI_KEEP_CONN`).
    pub keep_conn: bool,
    /// Most idle kept connections per backend per worker.
    pub max_idle: usize,
    pub connect_timeout: Duration,
    /// No response head, or no progress, for this long: 504.
    pub timeout: Duration,
    /// Most bytes of PARAMS per request.
    pub max_params: usize,
    pub offload: OffloadDirs,
    pub offload_text: Vec<String>,
    /// Most X-ZeroCopy body bytes gathered (the spans are replaced and a
    /// Content-Length computed once the whole body is at hand).
    pub zerocopy_buffer: usize,
    /// Programs the server starts and supervises.
    pub bin_paths: Vec<crate::spawn::BinPath>,
    /// `NAME=VALUE` given to them (`PHP_FCGI_CHILDREN=4`).
    pub bin_env: Vec<(String, String)>,
}

impl Default for Conf {
    fn default() -> Self {
        Conf {
            routes: Vec::new(),
            authorizers: Vec::new(),
            backends: Vec::new(),
            max_conns: 16,
            keep_conn: true,
            max_idle: 4,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
            max_params: 32 * 1024,
            offload: OffloadDirs::default(),
            offload_text: Vec::new(),
            zerocopy_buffer: 64 * 1024,
            bin_paths: Vec::new(),
            bin_env: Vec::new(),
        }
    }
}

const KEYS: &str =
    "route, authorizer, vhost, max_conns, keep_conn, max_idle, connect_timeout, timeout, \
max_params, offload_dirs, zerocopy_buffer, bin_path, bin_env";

fn strings(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Str(s) => Ok(vec![s.clone()]),
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s.clone()),
                other => Err(format!("expected strings, got {other}")),
            })
            .collect(),
        other => Err(format!(
            "expected a string or a list of strings, got {other}"
        )),
    }
}

fn duration(v: &Value) -> Result<Duration, String> {
    let d = match v {
        Value::Int(n) if *n > 0 => Duration::from_secs(*n as u64),
        Value::Str(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: u64 = num
                .parse()
                .map_err(|_| format!("expected a duration like 30 or \"500ms\", got {s:?}"))?;
            match unit.trim() {
                "ms" => Duration::from_millis(n),
                "" | "s" => Duration::from_secs(n),
                "m" => Duration::from_secs(n * 60),
                u => return Err(format!("unknown duration unit {u:?} (ms, s, m)")),
            }
        }
        other => return Err(format!("expected a duration, got {other}")),
    };
    if d.is_zero() || d > Duration::from_secs(24 * 3600) {
        return Err("a duration between 1ms and 24h".into());
    }
    Ok(d)
}

fn int(v: &Value, lo: i64, hi: i64) -> Result<i64, String> {
    match v {
        Value::Int(n) if (lo..=hi).contains(n) => Ok(*n),
        other => Err(format!(
            "expected an integer from {lo} to {hi}, got {other}"
        )),
    }
}

/// `unix:/path` or `HOST:PORT` (an IP address: no name lookups at start).
pub fn parse_addr(s: &str) -> Result<Addr, String> {
    if let Some(p) = s.strip_prefix("unix:") {
        let p = PathBuf::from(p);
        if !p.is_absolute() {
            return Err(format!("unix socket path must be absolute, got {s:?}"));
        }
        // sun_path holds 107 bytes and a NUL.
        if p.as_os_str().len() > 107 {
            return Err(format!("unix socket path longer than 107 bytes: {s:?}"));
        }
        return Ok(Addr::Unix(p));
    }
    s.parse()
        .map(Addr::Tcp)
        .map_err(|_| format!("expected unix:/PATH or IP:PORT, got {s:?}"))
}

/// `.ext=ADDR` or `/prefix=ADDR`.
pub fn parse_route(s: &str) -> Result<(Match, Addr), String> {
    let Some((what, addr)) = s.split_once('=') else {
        return Err(format!("expected .EXT=ADDR or /PREFIX=ADDR, got {s:?}"));
    };
    let what = what.trim();
    let m = if let Some(ext) = what.strip_prefix('.') {
        if ext.is_empty() || !ext.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!("bad extension {what:?}"));
        }
        Match::Ext(ext.to_ascii_lowercase())
    } else if what.starts_with('/') {
        if what.contains(['?', '#']) {
            return Err(format!("a prefix is a path, without '?' or '#': {what:?}"));
        }
        let mut out = vec![0u8; what.len()];
        match fws_api::http::path::normalize(what.as_bytes(), &mut out) {
            Ok(n) if n.len > 0 => {
                out.truncate(n.len);
                Match::Prefix(out)
            }
            Ok(_) => return Err("the docroot itself cannot be a FastCGI prefix".into()),
            Err(e) => return Err(format!("prefix {what:?} is not a valid path ({e:?})")),
        }
    } else {
        return Err(format!(
            "a route is .EXT or /PREFIX, got {what:?} (in {s:?})"
        ));
    };
    Ok((m, parse_addr(addr.trim())?))
}

fn vhost_of(env: &Env, v: &str) -> Result<usize, String> {
    env.vhost_names
        .iter()
        .position(|names| names.iter().any(|n| n.eq_ignore_ascii_case(v)))
        .map(|i| i + 1)
        .ok_or_else(|| format!("vhost {v:?} is not a name listed in any [[vhost]] names"))
}

/// Reads every `fastcgi` section.
pub fn parse(sections: &[Section<'_>], env: &Env) -> Result<Conf, Vec<String>> {
    let mut conf = Conf::default();
    let mut errs = Vec::new();
    let mut offload = Vec::new();
    let mut seen: Vec<(String, String, u32)> = Vec::new();
    for s in sections {
        let at = |line: u32, m: String| format!("{}:{}: fastcgi: {m}", s.file, line);
        let t = s.table;
        let vhost = match t.entries.iter().find(|e| e.key == "vhost") {
            None => None,
            Some(e) => match &e.value {
                Value::Str(v) => match vhost_of(env, v) {
                    Ok(i) => Some((v.clone(), i)),
                    Err(m) => {
                        errs.push(at(e.line, m));
                        continue;
                    }
                },
                other => {
                    errs.push(at(e.line, format!("vhost: expected a string, got {other}")));
                    continue;
                }
            },
        };
        for e in &t.entries {
            let Entry { key, value, line } = e;
            let r: Result<(), String> = (|| {
                match key.as_str() {
                    "vhost" => {}
                    "route" => {
                        for r in strings(value)? {
                            let (what, addr) = parse_route(&r)?;
                            let backend = match conf.backends.iter().position(|b| *b == addr) {
                                Some(i) => i,
                                None => {
                                    conf.backends.push(addr);
                                    conf.backends.len() - 1
                                }
                            };
                            conf.routes.push(Route {
                                text: r,
                                what,
                                backend,
                                vhost: vhost.clone(),
                            });
                        }
                    }
                    "authorizer" => {
                        for r in strings(value)? {
                            let (what, addr) = parse_route(&r)?;
                            let Match::Prefix(prefix) = what else {
                                return Err(format!("an authorizer guards a /PREFIX, got {r:?}"));
                            };
                            let backend = match conf.backends.iter().position(|b| *b == addr) {
                                Some(i) => i,
                                None => {
                                    conf.backends.push(addr);
                                    conf.backends.len() - 1
                                }
                            };
                            conf.authorizers.push(Authorizer {
                                text: r,
                                prefix,
                                backend,
                                vhost: vhost.clone(),
                            });
                        }
                    }
                    k if vhost.is_some() => {
                        return Err(format!(
                        "{k} is a plugin-wide setting: put it in a [fastcgi] section without vhost"
                    ))
                    }
                    k => {
                        if let Some((_, f, l)) = seen.iter().find(|x| x.0 == k) {
                            return Err(format!("{k} is already set at {f}:{l}"));
                        }
                        match k {
                            "max_conns" => conf.max_conns = int(value, 1, 4096)? as usize,
                            "max_idle" => conf.max_idle = int(value, 0, 4096)? as usize,
                            "keep_conn" => match value {
                                Value::Bool(b) => conf.keep_conn = *b,
                                other => {
                                    return Err(format!(
                                        "keep_conn: expected true or false, got {other}"
                                    ))
                                }
                            },
                            "connect_timeout" => conf.connect_timeout = duration(value)?,
                            "timeout" => conf.timeout = duration(value)?,
                            "max_params" => {
                                conf.max_params = int(value, 1024, 1024 * 1024)? as usize
                            }
                            "bin_path" => {
                                for b in strings(value)? {
                                    conf.bin_paths.push(crate::spawn::parse(&b)?);
                                }
                            }
                            "bin_env" => {
                                for kv in strings(value)? {
                                    let Some((n, v)) = kv.split_once('=') else {
                                        return Err(format!(
                                            "bin_env: expected NAME=VALUE, got {kv:?}"
                                        ));
                                    };
                                    let ok = !n.is_empty()
                                        && n.bytes()
                                            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
                                        && !n.starts_with("LD_");
                                    if !ok || v.contains('\0') {
                                        return Err(format!("bin_env: bad variable name {n:?}"));
                                    }
                                    conf.bin_env.push((n.to_string(), v.to_string()));
                                }
                            }
                            "zerocopy_buffer" => {
                                conf.zerocopy_buffer = int(value, 1024, 16 * 1024 * 1024)? as usize
                            }
                            "offload_dirs" => {
                                for d in strings(value)? {
                                    offload.push(d);
                                }
                            }
                            _ => return Err(format!("unknown key {k:?} (known: {KEYS})")),
                        }
                        seen.push((k.to_string(), s.file.to_string(), *line));
                    }
                }
                Ok(())
            })();
            if let Err(m) = r {
                errs.push(at(*line, m));
            }
        }
    }
    match OffloadDirs::new(&offload) {
        Ok(o) => {
            conf.offload = o;
            conf.offload_text = offload;
        }
        Err(m) => errs.push(format!("fastcgi: offload_dirs: {m}")),
    }
    if conf.max_idle > conf.max_conns {
        conf.max_idle = conf.max_conns;
    }
    if errs.is_empty() {
        Ok(conf)
    } else {
        Err(errs)
    }
}

/// The effective settings, for `--check-config`.
pub fn text(c: &Conf) -> String {
    let mut s = String::from("[fastcgi]\n");
    let routes: Vec<String> = c
        .routes
        .iter()
        .filter(|r| r.vhost.is_none())
        .map(|r| format!("{:?}", r.text))
        .collect();
    let _ = writeln!(s, "route = [{}]", routes.join(", "));
    let auth: Vec<String> = c
        .authorizers
        .iter()
        .filter(|r| r.vhost.is_none())
        .map(|r| format!("{:?}", r.text))
        .collect();
    let _ = writeln!(s, "authorizer = [{}]", auth.join(", "));
    let _ = writeln!(s, "max_conns = {}", c.max_conns);
    let _ = writeln!(s, "max_idle = {}", c.max_idle);
    let _ = writeln!(s, "keep_conn = {}", c.keep_conn);
    let _ = writeln!(
        s,
        "connect_timeout = \"{}ms\"",
        c.connect_timeout.as_millis()
    );
    let _ = writeln!(s, "timeout = \"{}ms\"", c.timeout.as_millis());
    let _ = writeln!(s, "max_params = {}", c.max_params);
    let _ = writeln!(s, "zerocopy_buffer = {}", c.zerocopy_buffer);
    let bins: Vec<String> = c
        .bin_paths
        .iter()
        .map(|b| format!("{:?}", b.text))
        .collect();
    let _ = writeln!(s, "bin_path = [{}]", bins.join(", "));
    let env: Vec<String> = c
        .bin_env
        .iter()
        .map(|(k, v)| format!("\"{k}={v}\""))
        .collect();
    let _ = writeln!(s, "bin_env = [{}]", env.join(", "));
    let dirs: Vec<String> = c.offload_text.iter().map(|d| format!("{d:?}")).collect();
    let _ = writeln!(s, "offload_dirs = [{}]", dirs.join(", "));
    for r in c.routes.iter().filter(|r| r.vhost.is_some()) {
        if let Some((v, _)) = &r.vhost {
            let _ = writeln!(s, "\n[fastcgi]\nvhost = {v:?}\nroute = [{:?}]", r.text);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_table() {
        let ok = [
            (
                ".php=unix:/run/php-fpm.sock",
                Match::Ext("php".into()),
                Addr::Unix("/run/php-fpm.sock".into()),
            ),
            (
                ".PHP = 127.0.0.1:9000",
                Match::Ext("php".into()),
                Addr::Tcp("127.0.0.1:9000".parse().unwrap()),
            ),
            (
                "/app/=[::1]:9000",
                Match::Prefix(b"app".to_vec()),
                Addr::Tcp("[::1]:9000".parse().unwrap()),
            ),
        ];
        for (s, m, a) in ok {
            assert_eq!(parse_route(s), Ok((m, a)), "{s}");
        }
        for bad in [
            "php=unix:/x",
            ".php",
            ".=unix:/x",
            "/=unix:/x",
            ".php=unix:rel",
            ".php=localhost:9000",
            "/a?b=1.2.3.4:1",
            ".php=1.2.3.4",
        ] {
            assert!(parse_route(bad).is_err(), "{bad}");
        }
    }
}
