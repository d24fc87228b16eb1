//! The `[[auth]]` sections: rules (tables with `prefix`) and at most one
//! settings table (a table without `prefix`). Every problem is reported as
//! `FILE:LINE: message`, all of them at once.

use std::time::Duration;

use fws_api::doc::{Entry, Value};
use fws_api::plugin::{Env, Section};

/// Plugin-wide tuning (per worker).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cache_ttl: Duration,
    pub cache_entries: usize,
    pub fail_limit: u32,
    pub fail_window: Duration,
    pub throttle_entries: usize,
    pub verify_budget: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cache_ttl: Duration::from_secs(300),
            cache_entries: 256,
            fail_limit: 10,
            fail_window: Duration::from_secs(60),
            throttle_entries: 256,
            verify_budget: Duration::from_millis(250),
        }
    }
}

/// What a rule does with the requests it matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Basic authentication against an htpasswd file.
    Protect { realm: String, htpasswd: String },
    /// No authentication (an exception inside a protected prefix).
    Public,
}

/// One `[[auth]]` rule as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleConf {
    /// As written (for `config_text`).
    pub prefix_text: String,
    /// Decoded and normalised: no leading or trailing `/`, "" for the root.
    pub prefix: Vec<u8>,
    /// The name as written and the virtual host index (i + 1 for `[[vhost]]` i).
    pub vhost: Option<(String, usize)>,
    pub kind: Kind,
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Default)]
pub struct Conf {
    pub settings: Settings,
    /// Whether a settings table was written (then `config_text` prints it).
    pub settings_given: bool,
    pub rules: Vec<RuleConf>,
}

const RULE_KEYS: &str = "prefix, vhost, realm, htpasswd, public";
const SETTINGS_KEYS: &str =
    "cache_ttl, cache_entries, fail_limit, fail_window, throttle_entries, verify_budget";

fn is_setting(key: &str) -> bool {
    SETTINGS_KEYS.split(", ").any(|k| k == key)
}

/// A duration: integer seconds, or a string with a unit (ms, s, m, h).
pub fn duration(v: &Value) -> Result<Duration, String> {
    match v {
        Value::Int(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
        Value::Str(s) => {
            let s = s.trim();
            let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            let (num, unit) = s.split_at(split);
            let n: u64 = num
                .parse()
                .map_err(|_| format!("expected a duration such as \"250ms\", \"10s\", \"5m\" or an integer (seconds), got {v}"))?;
            let ms = match unit.trim() {
                "ms" => 1,
                "s" | "" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return Err(format!("expected a duration unit ms, s, m or h, got {v}")),
            };
            n.checked_mul(ms)
                .map(Duration::from_millis)
                .ok_or_else(|| format!("duration {v} is too large"))
        }
        _ => Err(format!(
            "expected a duration (\"250ms\", \"10s\", \"5m\" or integer seconds), got {v}"
        )),
    }
}

/// Writes a duration the way [`duration`] reads it.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 60_000 == 0 && ms > 0 {
        format!("\"{}m\"", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("\"{}s\"", ms / 1000)
    } else {
        format!("\"{ms}ms\"")
    }
}

fn int_in(v: &Value, lo: i64, hi: i64) -> Result<i64, String> {
    match v {
        Value::Int(n) if (lo..=hi).contains(n) => Ok(*n),
        _ => Err(format!("expected an integer from {lo} to {hi}, got {v}")),
    }
}

fn dur_in(v: &Value, lo: Duration, hi: Duration) -> Result<Duration, String> {
    let d = duration(v)?;
    if d < lo || d > hi {
        return Err(format!(
            "expected a duration from {} to {}, got {v}",
            show_duration(lo).trim_matches('"'),
            show_duration(hi).trim_matches('"')
        ));
    }
    Ok(d)
}

/// Normalises a configured prefix with the engine's own path rules (so it
/// compares equal to `Exchange::path`).
pub fn normalize_prefix(p: &str) -> Result<Vec<u8>, String> {
    if !p.starts_with('/') {
        return Err(format!("expected a path starting with '/', got {p:?}"));
    }
    if p.contains(['?', '#']) {
        return Err(format!("a prefix is a path, without '?' or '#': {p:?}"));
    }
    let mut out = vec![0u8; p.len()];
    match fws_api::http::path::normalize(p.as_bytes(), &mut out) {
        Ok(n) => {
            out.truncate(n.len);
            Ok(out)
        }
        Err(e) => Err(format!(
            "prefix {p:?} is not a valid path ({e:?}): use '/' separated segments, no '..' above the root, no control characters"
        )),
    }
}

fn realm_ok(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 128
        && r.bytes()
            .all(|c| (0x20..0x7f).contains(&c) && c != b'"' && c != b'\\')
}

/// Reads every `auth` section.
pub fn parse(sections: &[Section<'_>], env: &Env) -> Result<Conf, Vec<String>> {
    let mut conf = Conf::default();
    let mut errs = Vec::new();
    let mut settings_at: Option<u32> = None;
    for s in sections {
        let t = s.table;
        let at = |line: u32, msg: String| format!("{}:{}: auth: {msg}", s.file, line);
        let has_prefix = t.entries.iter().any(|e| e.key == "prefix");
        if !has_prefix {
            if let Some(first) = settings_at {
                errs.push(at(
                    t.line,
                    format!("a second settings table (an [[auth]] without prefix; the first is at line {first}); rules need prefix = \"/path/\""),
                ));
                continue;
            }
            settings_at = Some(t.line);
            conf.settings_given = true;
            for e in &t.entries {
                if let Err(m) = setting(&mut conf.settings, e) {
                    errs.push(at(e.line, m));
                }
            }
            continue;
        }
        let mut prefix = None;
        let mut vhost = None;
        let mut realm = None;
        let mut htpasswd = None;
        let mut public = false;
        for e in &t.entries {
            let r: Result<(), String> = match (e.key.as_str(), &e.value) {
                ("prefix", Value::Str(p)) => {
                    normalize_prefix(p).map(|n| prefix = Some((p.clone(), n)))
                }
                ("vhost", Value::Str(v)) => {
                    match env
                        .vhost_names
                        .iter()
                        .position(|names| names.iter().any(|n| n.eq_ignore_ascii_case(v)))
                    {
                        Some(i) => {
                            vhost = Some((v.clone(), i + 1));
                            Ok(())
                        }
                        None => Err(format!(
                            "vhost {v:?} is not a name listed in any [[vhost]] names"
                        )),
                    }
                }
                ("realm", Value::Str(r)) if realm_ok(r) => {
                    realm = Some(r.clone());
                    Ok(())
                }
                ("realm", Value::Str(_)) => Err(
                    "expected a realm of 1 to 128 printable ASCII characters, without '\"' or '\\'"
                        .into(),
                ),
                ("htpasswd", Value::Str(p)) if !p.is_empty() => {
                    htpasswd = Some(p.clone());
                    Ok(())
                }
                ("public", Value::Bool(b)) => {
                    public = *b;
                    Ok(())
                }
                ("prefix" | "vhost" | "realm" | "htpasswd", v) => {
                    Err(format!("{}: expected a non-empty string, got {v}", e.key))
                }
                ("public", v) => Err(format!("public: expected true or false, got {v}")),
                (k, _) if is_setting(k) => Err(format!(
                    "{k} belongs in the settings table (an [[auth]] without prefix), not in a rule"
                )),
                (k, _) => Err(format!("unknown key {k} (expected {RULE_KEYS})")),
            };
            if let Err(m) = r {
                errs.push(at(e.line, m));
            }
        }
        let Some((prefix_text, prefix)) = prefix else {
            continue; // its error is already reported
        };
        let kind = if public {
            if realm.is_some() || htpasswd.is_some() {
                errs.push(at(
                    t.line,
                    "a public rule takes no realm or htpasswd".into(),
                ));
                continue;
            }
            Kind::Public
        } else {
            let mut missing = Vec::new();
            if realm.is_none() && !t.entries.iter().any(|e| e.key == "realm") {
                missing.push("realm (the name the browser shows)");
            }
            if htpasswd.is_none() && !t.entries.iter().any(|e| e.key == "htpasswd") {
                missing.push("htpasswd (path of a file made by htpasswd)");
            }
            if !missing.is_empty() {
                errs.push(at(
                    t.line,
                    format!(
                        "rule for {prefix_text:?} is missing {}",
                        missing.join(" and ")
                    ),
                ));
            }
            match (realm, htpasswd) {
                (Some(realm), Some(htpasswd)) => Kind::Protect { realm, htpasswd },
                _ => continue,
            }
        };
        if let Some(other) = conf.rules.iter().find(|r| {
            r.prefix == prefix && r.vhost.as_ref().map(|v| v.1) == vhost.as_ref().map(|v| v.1)
        }) {
            errs.push(at(
                t.line,
                format!(
                    "a rule for the same prefix and vhost is already at {}:{}",
                    other.file, other.line
                ),
            ));
            continue;
        }
        conf.rules.push(RuleConf {
            prefix_text,
            prefix,
            vhost,
            kind,
            file: s.file.to_string(),
            line: t.line,
        });
    }
    if errs.is_empty() {
        // Most specific first: longer prefix, then a vhost-scoped rule.
        conf.rules.sort_unstable_by_key(|r| {
            (std::cmp::Reverse(r.prefix.len()), r.vhost.is_none(), r.line)
        });
        Ok(conf)
    } else {
        Err(errs)
    }
}

fn setting(s: &mut Settings, e: &Entry) -> Result<(), String> {
    let v = &e.value;
    let k = e.key.as_str();
    let with = |m: String| format!("{k}: {m}");
    match k {
        "cache_ttl" => {
            s.cache_ttl = dur_in(v, Duration::ZERO, Duration::from_secs(86_400)).map_err(with)?
        }
        "cache_entries" => s.cache_entries = int_in(v, 0, 65_536).map_err(with)? as usize,
        "fail_limit" => s.fail_limit = int_in(v, 0, 1_000_000).map_err(with)? as u32,
        "fail_window" => {
            s.fail_window =
                dur_in(v, Duration::from_secs(1), Duration::from_secs(86_400)).map_err(with)?
        }
        "throttle_entries" => s.throttle_entries = int_in(v, 1, 65_536).map_err(with)? as usize,
        "verify_budget" => {
            s.verify_budget =
                dur_in(v, Duration::from_millis(1), Duration::from_secs(1)).map_err(with)?
        }
        k if RULE_KEYS.split(", ").any(|r| r == k) => {
            return Err(format!(
                "{k} is a rule key: a rule needs prefix = \"/path/\" too"
            ))
        }
        k => {
            return Err(format!(
                "unknown key {k} (expected {SETTINGS_KEYS}, or prefix for a rule)"
            ))
        }
    }
    Ok(())
}

impl Conf {
    /// The effective configuration in config-file syntax.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        if self.rules.is_empty() && !self.settings_given {
            return out;
        }
        let s = &self.settings;
        let _ = write!(
            out,
            "\n[[auth]]\ncache_ttl = {}\ncache_entries = {}\nfail_limit = {}\nfail_window = {}\nthrottle_entries = {}\nverify_budget = {}\n",
            show_duration(s.cache_ttl),
            s.cache_entries,
            s.fail_limit,
            show_duration(s.fail_window),
            s.throttle_entries,
            show_duration(s.verify_budget)
        );
        for r in &self.rules {
            let q = |t: &str| Value::Str(t.to_string()).to_string();
            let _ = write!(out, "\n[[auth]]\nprefix = {}\n", q(&r.prefix_text));
            if let Some((v, _)) = &r.vhost {
                let _ = writeln!(out, "vhost = {}", q(v));
            }
            match &r.kind {
                Kind::Public => out.push_str("public = true\n"),
                Kind::Protect { realm, htpasswd } => {
                    let _ = write!(out, "realm = {}\nhtpasswd = {}\n", q(realm), q(htpasswd));
                }
            }
        }
        out
    }
}

/// Whether `path` (normalised, relative) is under `prefix`, on a segment
/// boundary.
pub fn under(prefix: &[u8], path: &[u8]) -> bool {
    if prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b'/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc;

    fn env() -> Env {
        Env {
            roots: vec!["/www".into(), "/www/r".into()],
            vhost_names: vec![vec!["router.lan".into(), "192.168.1.1".into()]],
            workers: 1,
        }
    }

    fn run(text: &str) -> Result<Conf, Vec<String>> {
        let d = doc::parse(text).expect("test config parses");
        let secs: Vec<Section<'_>> = d
            .tables
            .iter()
            .filter(|t| t.name == "auth")
            .map(|t| Section {
                file: "c.toml",
                table: t,
            })
            .collect();
        parse(&secs, &env())
    }

    #[test]
    fn good_config_and_order() {
        let c = run("[[auth]]\nprefix = \"/\"\nrealm = \"All\"\nhtpasswd = \"/p\"\n\
                     [[auth]]\nprefix = \"/admin/\"\nrealm = \"Admin\"\nhtpasswd = \"/p\"\n\
                     [[auth]]\nprefix = \"/admin\"\nvhost = \"ROUTER.lan\"\nrealm = \"R\"\nhtpasswd = \"/q\"\n\
                     [[auth]]\nprefix = \"/admin/pub/../pub\"\npublic = true\n\
                     [[auth]]\nfail_limit = 3\ncache_ttl = \"2m\"\nverify_budget = \"100ms\"\n")
            .unwrap();
        let order: Vec<(&[u8], Option<usize>)> = c
            .rules
            .iter()
            .map(|r| (&r.prefix[..], r.vhost.as_ref().map(|v| v.1)))
            .collect();
        assert_eq!(
            order,
            [
                (&b"admin/pub"[..], None),
                (b"admin", Some(1)),
                (b"admin", None),
                (b"", None)
            ]
        );
        assert_eq!(c.settings.fail_limit, 3);
        assert_eq!(c.settings.cache_ttl, Duration::from_secs(120));
        assert_eq!(c.settings.verify_budget, Duration::from_millis(100));
        let text = c.text();
        assert!(
            text.contains("prefix = \"/admin/pub/../pub\"\npublic = true"),
            "{text}"
        );
        assert!(text.contains("verify_budget = \"100ms\""), "{text}");
        // The printed config reads back to the same thing.
        let again = run(&text).unwrap();
        type Key = Vec<(Vec<u8>, Option<(String, usize)>, Kind)>;
        let key = |c: &Conf| -> Key {
            c.rules
                .iter()
                .map(|r| (r.prefix.clone(), r.vhost.clone(), r.kind.clone()))
                .collect()
        };
        assert_eq!(key(&again), key(&c));
        assert_eq!(again.settings, c.settings);
        assert_eq!(run("").unwrap().text(), "");
    }

    #[test]
    fn errors_table() {
        let cases: &[(&str, &str)] = &[
            ("[[auth]]\nprefix = \"admin\"\nrealm = \"r\"\nhtpasswd = \"/p\"\n", "c.toml:2: auth: expected a path starting with '/'"),
            ("[[auth]]\nprefix = \"/../x\"\nrealm = \"r\"\nhtpasswd = \"/p\"\n", "c.toml:2: auth: prefix \"/../x\" is not a valid path"),
            ("[[auth]]\nprefix = \"/a?b\"\nrealm = \"r\"\nhtpasswd = \"/p\"\n", "c.toml:2: auth: a prefix is a path"),
            ("[[auth]]\nprefix = 1\nrealm = \"r\"\nhtpasswd = \"/p\"\n", "c.toml:2: auth: prefix: expected a non-empty string, got 1"),
            ("[[auth]]\nprefix = \"/a\"\nvhost = \"nope\"\nrealm = \"r\"\nhtpasswd = \"/p\"\n", "c.toml:3: auth: vhost \"nope\" is not a name"),
            ("[[auth]]\nprefix = \"/a\"\nrealm = \"a\\\"b\"\nhtpasswd = \"/p\"\n", "c.toml:3: auth: expected a realm"),
            ("[[auth]]\nprefix = \"/a\"\nrealm = \"\"\nhtpasswd = \"/p\"\n", "c.toml:3: auth: expected a realm"),
            ("[[auth]]\nprefix = \"/a\"\nrealm = \"r\"\n", "c.toml:1: auth: rule for \"/a\" is missing htpasswd"),
            ("[[auth]]\nprefix = \"/a\"\n", "missing realm (the name the browser shows) and htpasswd"),
            ("[[auth]]\nprefix = \"/a\"\nrealm = \"r\"\nhtpasswd = \"/p\"\ncolour = 1\n", "c.toml:5: auth: unknown key colour (expected prefix"),
            ("[[auth]]\nprefix = \"/a\"\nrealm = \"r\"\nhtpasswd = \"/p\"\nfail_limit = 1\n", "c.toml:5: auth: fail_limit belongs in the settings table"),
            ("[[auth]]\nprefix = \"/a\"\npublic = \"yes\"\n", "c.toml:3: auth: public: expected true or false"),
            ("[[auth]]\nprefix = \"/a\"\npublic = true\nrealm = \"r\"\n", "c.toml:1: auth: a public rule takes no realm"),
            ("[[auth]]\nprefix = \"/a/\"\npublic = true\n[[auth]]\nprefix = \"/a\"\npublic = true\n", "c.toml:4: auth: a rule for the same prefix and vhost is already at c.toml:1"),
            ("[[auth]]\nfail_limit = -1\n", "c.toml:2: auth: fail_limit: expected an integer from 0 to 1000000, got -1"),
            ("[[auth]]\ncache_ttl = \"5 fortnights\"\n", "c.toml:2: auth: cache_ttl: expected a duration unit"),
            ("[[auth]]\nverify_budget = \"2s\"\n", "c.toml:2: auth: verify_budget: expected a duration from 1ms to 1s"),
            ("[[auth]]\ncache_entries = \"many\"\n", "cache_entries: expected an integer from 0 to 65536"),
            ("[[auth]]\nrealm = \"r\"\n", "c.toml:2: auth: realm is a rule key"),
            ("[[auth]]\nbogus = 1\n", "c.toml:2: auth: unknown key bogus (expected cache_ttl"),
            ("[[auth]]\nfail_limit = 1\n[[auth]]\nfail_limit = 2\n", "c.toml:3: auth: a second settings table"),
        ];
        for &(text, want) in cases {
            let e = run(text).unwrap_err().join("\n");
            assert!(e.contains(want), "{text:?}:\n{e}\n  lacks {want:?}");
        }
        // All errors are reported, not just the first.
        let e = run("[[auth]]\nprefix = \"x\"\nrealm = 5\nhtpasswd = \"\"\nzzz = 1\n").unwrap_err();
        assert_eq!(e.len(), 4, "{e:?}");
    }

    #[test]
    fn durations() {
        let ok: &[(Value, u64)] = &[
            (Value::Int(5), 5000),
            (Value::Str("250ms".into()), 250),
            (Value::Str("10s".into()), 10_000),
            (Value::Str("2m".into()), 120_000),
            (Value::Str("1h".into()), 3_600_000),
            (Value::Str("7".into()), 7000),
        ];
        for (v, ms) in ok {
            assert_eq!(duration(v).unwrap(), Duration::from_millis(*ms), "{v}");
            let shown = show_duration(duration(v).unwrap());
            let back = duration(&Value::Str(shown.trim_matches('"').into())).unwrap();
            assert_eq!(back, Duration::from_millis(*ms));
        }
        for v in [
            Value::Int(-1),
            Value::Str("".into()),
            Value::Str("ms".into()),
            Value::Str("1.5s".into()),
            Value::Str("99999999999999999999s".into()),
            Value::Bool(true),
        ] {
            assert!(duration(&v).is_err(), "{v}");
        }
    }

    #[test]
    fn prefix_matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("/admin/", "admin", true),
            ("/admin/", "admin/x", true),
            ("/admin", "admin/x/y", true),
            ("/admin/", "administrator", false),
            ("/admin/", "adminx/y", false),
            ("/admin/", "", false),
            ("/", "", true),
            ("/", "anything/at/all", true),
            ("/a/b/", "a/b/c", true),
            ("/a/b/", "a/bc", false),
            ("/a/./b//", "a/b", true),
            ("/%61dmin/", "admin/x", true),
        ];
        for &(p, path, want) in cases {
            let n = normalize_prefix(p).unwrap();
            assert_eq!(under(&n, path.as_bytes()), want, "{p} vs {path}");
        }
    }
}
