//! The `[cgi]` sections (config file) and the `--cgi` / `--cgi-interpreter`
//! options (a section from `<command line>`). Every problem is reported as
//! `FILE:LINE: message`, all at once.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use fws_api::doc::{Entry, Value};
use fws_api::gateway::OffloadDirs;
use fws_api::plugin::{Env, Section};

/// One URL prefix whose files are executed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// As written.
    pub text: String,
    /// Normalised like `Exchange::path`: no leading or trailing `/`.
    pub norm: Vec<u8>,
    /// `None`: every virtual host; `Some(i)`: that one (0 default, i + 1
    /// for `[[vhost]]` i), with the name as written.
    pub vhost: Option<(String, usize)>,
}

/// `.ext=PROGRAM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpreter {
    /// Lower-case, without the dot.
    pub ext: String,
    pub program: PathBuf,
    pub vhost: Option<(String, usize)>,
}

#[derive(Debug, Clone)]
pub struct Conf {
    pub prefixes: Vec<Prefix>,
    pub interpreters: Vec<Interpreter>,
    /// The fixed `PATH` of every script.
    pub path: String,
    pub max_processes: usize,
    pub first_byte_timeout: Duration,
    pub idle_timeout: Duration,
    /// Run scripts as this user / group (the server must run as root).
    pub user: Option<(String, u32, u32)>,
    pub group: Option<(String, u32)>,
    /// Scripts named `nph-*` send the whole HTTP response themselves.
    pub nph: bool,
    /// Where X-Sendfile and X-ZeroCopy files may come from.
    pub offload: OffloadDirs,
    pub offload_text: Vec<String>,
    /// Most X-ZeroCopy body bytes buffered to compute a Content-Length.
    pub zerocopy_buffer: usize,
    /// Fixed variables every script gets (`GIT_PROJECT_ROOT=/srv/git`).
    pub env: Vec<(String, String)>,
}

impl Default for Conf {
    fn default() -> Self {
        Conf {
            prefixes: Vec::new(),
            interpreters: Vec::new(),
            path: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            max_processes: 16,
            first_byte_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            user: None,
            group: None,
            nph: true,
            offload: OffloadDirs::default(),
            offload_text: Vec::new(),
            zerocopy_buffer: 64 * 1024,
            env: Vec::new(),
        }
    }
}

const KEYS: &str = "prefix, interpreter, vhost, path, max_processes, first_byte_timeout, \
idle_timeout, user, group, nph, offload_dirs, zerocopy_buffer, env";

/// A list of strings: one string or a list of them.
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

/// A duration: integer seconds, or a string with a unit (ms, s, m).
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

/// Normalises a configured prefix with the engine's own path rules.
pub fn normalize_prefix(p: &str) -> Result<Vec<u8>, String> {
    if !p.starts_with('/') {
        return Err(format!("expected a path starting with '/', got {p:?}"));
    }
    if p.contains(['?', '#']) {
        return Err(format!("a prefix is a path, without '?' or '#': {p:?}"));
    }
    let mut out = vec![0u8; p.len()];
    match fws_api::http::path::normalize(p.as_bytes(), &mut out) {
        Ok(n) if n.len > 0 => {
            out.truncate(n.len);
            Ok(out)
        }
        Ok(_) => Err("the docroot itself cannot be a CGI prefix".into()),
        Err(e) => Err(format!("prefix {p:?} is not a valid path ({e:?})")),
    }
}

fn interpreter(s: &str) -> Result<(String, PathBuf), String> {
    let Some((ext, prog)) = s.split_once('=') else {
        return Err(format!("expected .EXT=PROGRAM, got {s:?}"));
    };
    let ext = ext.trim();
    let Some(bare) = ext.strip_prefix('.') else {
        return Err(format!("the extension must start with '.', got {ext:?}"));
    };
    if bare.is_empty() || !bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!("bad extension {ext:?}"));
    }
    let prog = PathBuf::from(prog.trim());
    if !prog.is_absolute() {
        return Err(format!(
            "the interpreter must be an absolute path, got {:?}",
            prog
        ));
    }
    match std::fs::metadata(&prog) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("{}: not a regular file", prog.display())),
        Err(e) => return Err(format!("{}: {e}", prog.display())),
    }
    Ok((bare.to_ascii_lowercase(), prog))
}

/// Looks a user up in /etc/passwd (or takes a number): (uid, gid).
fn lookup_user(name: &str) -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 4 && (f[0] == name || f[2] == name) {
            if let (Ok(u), Ok(g)) = (f[2].parse(), f[3].parse()) {
                return Ok((u, g));
            }
        }
    }
    match name.parse::<u32>() {
        Ok(u) => Ok((u, u)),
        Err(_) => Err(format!("no user {name:?} in /etc/passwd")),
    }
}

fn lookup_group(name: &str) -> Result<u32, String> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    for line in groups.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && (f[0] == name || f[2] == name) {
            if let Ok(g) = f[2].parse() {
                return Ok(g);
            }
        }
    }
    name.parse::<u32>()
        .map_err(|_| format!("no group {name:?} in /etc/group"))
}

/// `NAME=VALUE` for `env`: a portable name, not a loader variable.
fn env_var(kv: &str) -> Result<(String, String), String> {
    let Some((n, v)) = kv.split_once('=') else {
        return Err(format!("env: expected NAME=VALUE, got {kv:?}"));
    };
    let portable = !n.is_empty()
        && !n.starts_with(|c: char| c.is_ascii_digit())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !portable || v.contains('\0') {
        return Err(format!("env: bad variable name {n:?}"));
    }
    if n.starts_with("LD_") || n == "PATH" {
        return Err(format!(
            "env: {n} may not be set (loader variables never reach scripts; PATH has its own key)"
        ));
    }
    Ok((n.to_string(), v.to_string()))
}

fn vhost_of(env: &Env, v: &str) -> Result<usize, String> {
    env.vhost_names
        .iter()
        .position(|names| names.iter().any(|n| n.eq_ignore_ascii_case(v)))
        .map(|i| i + 1)
        .ok_or_else(|| format!("vhost {v:?} is not a name listed in any [[vhost]] names"))
}

/// Reads every `cgi` section.
pub fn parse(sections: &[Section<'_>], env: &Env) -> Result<Conf, Vec<String>> {
    let mut conf = Conf::default();
    let mut errs = Vec::new();
    let mut offload = Vec::new();
    let mut seen: Vec<(&str, String, u32)> = Vec::new();
    for s in sections {
        let at = |line: u32, m: String| format!("{}:{}: cgi: {m}", s.file, line);
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
                    "prefix" => {
                        for p in strings(value)? {
                            let norm = normalize_prefix(&p)?;
                            conf.prefixes.push(Prefix {
                                text: p,
                                norm,
                                vhost: vhost.clone(),
                            });
                        }
                    }
                    "interpreter" => {
                        for i in strings(value)? {
                            let (ext, program) = interpreter(&i)?;
                            conf.interpreters.push(Interpreter {
                                ext,
                                program,
                                vhost: vhost.clone(),
                            });
                        }
                    }
                    k if vhost.is_some() => {
                        return Err(format!(
                            "{k} is a plugin-wide setting: put it in a [cgi] section without vhost"
                        ))
                    }
                    k => {
                        if let Some((_, f, l)) = seen.iter().find(|x| x.0 == k) {
                            return Err(format!("{k} is already set at {f}:{l}"));
                        }
                        match k {
                            "path" => match value {
                                Value::Str(p) if !p.is_empty() && !p.contains('\0') => {
                                    conf.path = p.clone()
                                }
                                other => {
                                    return Err(format!(
                                        "path: expected a non-empty string, got {other}"
                                    ))
                                }
                            },
                            "max_processes" => conf.max_processes = int(value, 1, 4096)? as usize,
                            "first_byte_timeout" => conf.first_byte_timeout = duration(value)?,
                            "idle_timeout" => conf.idle_timeout = duration(value)?,
                            "user" => match value {
                                Value::Str(u) if !u.is_empty() => {
                                    let (uid, gid) = lookup_user(u)?;
                                    conf.user = Some((u.clone(), uid, gid));
                                }
                                other => {
                                    return Err(format!("user: expected a user name, got {other}"))
                                }
                            },
                            "group" => match value {
                                Value::Str(g) if !g.is_empty() => {
                                    conf.group = Some((g.clone(), lookup_group(g)?));
                                }
                                other => {
                                    return Err(format!(
                                        "group: expected a group name, got {other}"
                                    ))
                                }
                            },
                            "nph" => match value {
                                Value::Bool(b) => conf.nph = *b,
                                other => {
                                    return Err(format!("nph: expected true or false, got {other}"))
                                }
                            },
                            "offload_dirs" => {
                                for d in strings(value)? {
                                    if !d.starts_with('/') {
                                        return Err(format!(
                                            "offload_dirs: expected absolute paths, got {d:?}"
                                        ));
                                    }
                                    OffloadDirs::new(&[&d])
                                        .map_err(|m| format!("offload_dirs: {m}"))?;
                                    offload.push(d);
                                }
                            }
                            "zerocopy_buffer" => {
                                conf.zerocopy_buffer = int(value, 0, 16 << 20)? as usize
                            }
                            "env" => {
                                for kv in strings(value)? {
                                    conf.env.push(env_var(&kv)?);
                                }
                            }
                            _ => return Err(format!("unknown key {k} (expected {KEYS})")),
                        }
                        seen.push((
                            match k {
                                "path" => "path",
                                "max_processes" => "max_processes",
                                "first_byte_timeout" => "first_byte_timeout",
                                "idle_timeout" => "idle_timeout",
                                "user" => "user",
                                "group" => "group",
                                "nph" => "nph",
                                "offload_dirs" => "offload_dirs",
                                "env" => "env",
                                _ => "zerocopy_buffer",
                            },
                            s.file.to_string(),
                            *line,
                        ));
                    }
                }
                Ok(())
            })();
            if let Err(m) = r {
                errs.push(at(*line, m));
            }
        }
    }
    if conf.group.is_some() && conf.user.is_none() {
        errs.push("cgi: group needs user as well".into());
    }
    if conf.user.is_some() && !rustix::process::geteuid().is_root() {
        errs.push("cgi: user needs the server to start as root".into());
    }
    match OffloadDirs::new(&offload) {
        Ok(d) => conf.offload = d,
        Err(m) => errs.push(format!("cgi: offload_dirs: {m}")),
    }
    conf.offload_text = offload;
    // Longest prefix first, a vhost-scoped one before a global one.
    conf.prefixes
        .sort_by_key(|p| (std::cmp::Reverse(p.norm.len()), p.vhost.is_none()));
    if errs.is_empty() {
        Ok(conf)
    } else {
        Err(errs)
    }
}

fn q(s: &str) -> String {
    Value::Str(s.to_string()).to_string()
}

/// The effective configuration in config-file syntax.
pub fn text(c: &Conf) -> String {
    let mut out = String::from("\n[cgi]\n");
    let global: Vec<String> = c
        .prefixes
        .iter()
        .filter(|p| p.vhost.is_none())
        .map(|p| q(&p.text))
        .collect();
    let _ = writeln!(out, "prefix = [{}]", global.join(", "));
    let interp: Vec<String> = c
        .interpreters
        .iter()
        .filter(|i| i.vhost.is_none())
        .map(|i| q(&format!(".{}={}", i.ext, i.program.display())))
        .collect();
    let _ = writeln!(out, "interpreter = [{}]", interp.join(", "));
    let _ = writeln!(out, "path = {}", q(&c.path));
    let _ = writeln!(out, "max_processes = {}", c.max_processes);
    let _ = writeln!(
        out,
        "first_byte_timeout = \"{}ms\"",
        c.first_byte_timeout.as_millis()
    );
    let _ = writeln!(out, "idle_timeout = \"{}ms\"", c.idle_timeout.as_millis());
    if let Some((u, _, _)) = &c.user {
        let _ = writeln!(out, "user = {}", q(u));
    }
    if let Some((g, _)) = &c.group {
        let _ = writeln!(out, "group = {}", q(g));
    }
    let _ = writeln!(out, "nph = {}", c.nph);
    let dirs: Vec<String> = c.offload_text.iter().map(|d| q(d)).collect();
    let _ = writeln!(out, "offload_dirs = [{}]", dirs.join(", "));
    let _ = writeln!(out, "zerocopy_buffer = {}", c.zerocopy_buffer);
    let env: Vec<String> = c.env.iter().map(|(n, v)| q(&format!("{n}={v}"))).collect();
    let _ = writeln!(out, "env = [{}]", env.join(", "));
    let mut vhosts: Vec<&(String, usize)> = c
        .prefixes
        .iter()
        .filter_map(|p| p.vhost.as_ref())
        .chain(c.interpreters.iter().filter_map(|i| i.vhost.as_ref()))
        .collect();
    vhosts.sort_by_key(|v| v.1);
    vhosts.dedup_by_key(|v| v.1);
    for v in vhosts {
        let _ = writeln!(out, "\n[[cgi]]\nvhost = {}", q(&v.0));
        let p: Vec<String> = c
            .prefixes
            .iter()
            .filter(|p| p.vhost.as_ref().map(|x| x.1) == Some(v.1))
            .map(|p| q(&p.text))
            .collect();
        let _ = writeln!(out, "prefix = [{}]", p.join(", "));
        let i: Vec<String> = c
            .interpreters
            .iter()
            .filter(|i| i.vhost.as_ref().map(|x| x.1) == Some(v.1))
            .map(|i| q(&format!(".{}={}", i.ext, i.program.display())))
            .collect();
        let _ = writeln!(out, "interpreter = [{}]", i.join(", "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc::Table;

    fn env() -> Env {
        Env {
            roots: vec!["/tmp".into()],
            vhost_names: vec![vec!["a.lan".into()]],
            workers: 1,
        }
    }

    fn table(entries: Vec<(&str, Value)>) -> Table {
        Table {
            name: "cgi".into(),
            array: false,
            line: 1,
            entries: entries
                .into_iter()
                .enumerate()
                .map(|(i, (k, v))| Entry {
                    key: k.into(),
                    value: v,
                    line: i as u32 + 2,
                })
                .collect(),
        }
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }

    #[test]
    fn good_and_bad_values() {
        let t = table(vec![
            ("prefix", Value::List(vec![s("/cgi-bin"), s("/x/y/")])),
            ("interpreter", s(".sh=/bin/sh")),
            ("max_processes", Value::Int(4)),
            ("idle_timeout", s("500ms")),
        ]);
        let c = parse(
            &[Section {
                file: "f",
                table: &t,
            }],
            &env(),
        )
        .unwrap();
        // Longest first.
        assert_eq!(c.prefixes[0].norm, b"cgi-bin");
        assert_eq!(c.prefixes[1].norm, b"x/y");
        assert_eq!(c.interpreters[0].ext, "sh");
        assert_eq!(c.max_processes, 4);
        assert_eq!(c.idle_timeout, Duration::from_millis(500));
        assert!(
            text(&c).contains("prefix = [\"/cgi-bin\", \"/x/y/\"]"),
            "{}",
            text(&c)
        );

        for (k, v, msg) in [
            ("prefix", s("cgi"), "starting with '/'"),
            ("prefix", s("/"), "docroot itself"),
            ("prefix", Value::Int(1), "expected a string"),
            ("interpreter", s("sh=/bin/sh"), "start with '.'"),
            ("interpreter", s(".sh=bin/sh"), "absolute"),
            ("interpreter", s(".sh=/no/such/prog"), "/no/such/prog"),
            ("interpreter", s(".sh"), ".EXT=PROGRAM"),
            ("max_processes", Value::Int(0), "from 1 to 4096"),
            ("first_byte_timeout", s("3 weeks"), "unit"),
            ("nph", s("yes"), "true or false"),
            ("offload_dirs", s("relative"), "absolute"),
            ("offload_dirs", s("/no/such/dir"), "/no/such/dir"),
            ("user", s("no-such-user-here"), "no user"),
            ("env", s("LD_PRELOAD=/x.so"), "may not be set"),
            ("env", s("A-B=1"), "bad variable name"),
            ("env", s("NOVALUE"), "NAME=VALUE"),
            ("bogus", Value::Int(1), "unknown key bogus"),
            ("vhost", s("b.lan"), "not a name"),
        ] {
            let t = table(vec![(k, v)]);
            let e = parse(
                &[Section {
                    file: "f",
                    table: &t,
                }],
                &env(),
            )
            .unwrap_err();
            assert!(e[0].starts_with("f:2: cgi: "), "{e:?}");
            assert!(e[0].contains(msg), "{k}: {e:?}");
        }
        let t = table(vec![("vhost", s("a.lan")), ("path", s("/bin"))]);
        let e = parse(
            &[Section {
                file: "f",
                table: &t,
            }],
            &env(),
        )
        .unwrap_err();
        assert!(e[0].contains("plugin-wide"), "{e:?}");
        let t = table(vec![("path", s("/bin")), ("path", s("/usr/bin"))]);
        let e = parse(
            &[Section {
                file: "f",
                table: &t,
            }],
            &env(),
        )
        .unwrap_err();
        assert!(e[0].contains("already set at f:2"), "{e:?}");
    }
}
