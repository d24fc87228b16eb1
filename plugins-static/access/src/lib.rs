//! The access plugin: allow or deny by client address and by URI prefix,
//! per virtual host, first match wins, with a default policy.
//!
//! ## Configuration
//! Every table is written `[[access]]` (the config parser does not allow a
//! `[access]` table next to `[[access]]` ones; a lone `[access]` table is
//! accepted too). Rules are tried in file order; the first rule whose
//! conditions all hold decides. A table holding only `default` sets the
//! policy used when no rule matches (`"allow"` when absent).
//!
//! ```toml
//! [[access]]
//! default = "allow"                 # or "deny"; in a table of its own
//!
//! [[access]]
//! action = "deny"                   # required: "allow" | "deny"
//! from = ["10.0.0.0/8", "fd00::/8"] # optional: CIDRs or single addresses; absent = any
//! prefix = "/admin/"                # optional: a URI path prefix; absent = any path
//! vhost = "router.lan"              # optional: a name (or list) of a [[vhost]]; absent = any
//! ```
//!
//! - `from`: a string or a list of strings, each `ADDR/LEN` or a bare
//!   address (`/32`, `/128`). Host bits below the prefix length must be
//!   zero (a typo guard). Clients connecting over IPv6 with an IPv4-mapped
//!   address (`::ffff:a.b.c.d`) are matched as the IPv4 address, and a rule
//!   written in the mapped range (`::ffff:10.0.0.0/104`) is an IPv4 rule.
//! - `prefix`: matched on segment boundaries against the decoded,
//!   normalised request path: `"/admin"` and `"/admin/"` both match
//!   `/admin`, `/admin/` and `/admin/x`, never `/administrator`; `"/"`
//!   matches every path. Write it decoded (a space, not `%20`); `..` is
//!   refused. A request whose path does not decode matches no prefix rule
//!   (the engine answers it with 400 anyway).
//! - `vhost`: names of `[[vhost]]` sections (case-insensitive); `"default"`
//!   means the default host (requests no `[[vhost]]` claims), unless a
//!   `[[vhost]]` is itself named so. The match follows the engine's routing,
//!   so `Host: ROUTER.LAN:80.` is `router.lan`.
//!
//! ## When a decision is taken
//! - At accept time (before a byte is read) the connection is closed
//!   without a response when the first rule that can match the client's
//!   address is a deny rule without `prefix` and `vhost`, or when no rule
//!   can match the address and the default is deny. Any rule that matches
//!   the address but also needs the request (a prefix or a vhost) makes the
//!   outcome depend on the request, so the decision waits.
//! - In the request stage (after the head is parsed, before auth and the
//!   handler) the rules are tried with the address, the virtual host and
//!   the path; a deny answers `403 Forbidden` (the connection stays open).
//!
//! With no `[access]` table the hooks return at once and never allocate;
//! with rules they walk a small list and never allocate either.
#![forbid(unsafe_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fws_api::doc::{format_key, Entry, Value};
use fws_api::http::error::HttpError;
use fws_api::plugin::{ConnInfo, Env, Exchange, Plugin, Reply, Section, Verdict};

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, len: u8 },
    V6 { net: u128, len: u8 },
}

fn mask32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(len.into()))
        .unwrap_or(0)
}

fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(len.into()))
        .unwrap_or(0)
}

/// The address as rules see it: IPv4-mapped IPv6 becomes IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

impl Cidr {
    /// Parses `ADDR/LEN` or `ADDR`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!("expected an IPv4 or IPv6 address or CIDR such as \"10.0.0.0/8\" or \"fd00::/8\", got \"{s}\"")
        })?;
        let max: u8 = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => {
                let n = if !l.is_empty() && l.len() <= 3 && l.bytes().all(|c| c.is_ascii_digit()) {
                    l.parse::<u8>().ok()
                } else {
                    None
                };
                match n {
                    Some(n) if n <= max => n,
                    _ => {
                        return Err(format!(
                            "expected a prefix length 0..={max} after '/', got \"{s}\""
                        ))
                    }
                }
            }
        };
        let cidr = match ip {
            IpAddr::V4(a) => Cidr::V4 {
                net: u32::from(a),
                len,
            },
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(v4) if len >= 96 => Cidr::V4 {
                    net: u32::from(v4),
                    len: len - 96,
                },
                _ => Cidr::V6 {
                    net: u128::from(a),
                    len,
                },
            },
        };
        let masked = cidr.masked();
        if masked != cidr {
            return Err(format!(
                "host bits are set in \"{s}\" (did you mean \"{masked}\"?)"
            ));
        }
        Ok(cidr)
    }

    fn masked(self) -> Cidr {
        match self {
            Cidr::V4 { net, len } => Cidr::V4 {
                net: net & mask32(len),
                len,
            },
            Cidr::V6 { net, len } => Cidr::V6 {
                net: net & mask128(len),
                len,
            },
        }
    }

    /// Whether `ip` (already [`canonical`]) lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, ip) {
            (Cidr::V4 { net, len }, IpAddr::V4(a)) => u32::from(a) & mask32(len) == net,
            (Cidr::V6 { net, len }, IpAddr::V6(a)) => u128::from(a) & mask128(len) == net,
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Cidr::V4 { net, len } => write!(f, "{}/{len}", Ipv4Addr::from(net)),
            Cidr::V6 { net, len } => write!(f, "{}/{len}", Ipv6Addr::from(net)),
        }
    }
}

/// Checks and normalises a `prefix`: the segments joined by `/`, without
/// leading or trailing slash ("" = every path).
pub fn parse_prefix(s: &str) -> Result<Vec<u8>, String> {
    if !s.starts_with('/') {
        return Err(format!(
            "expected a path prefix starting with '/', such as \"/admin/\", got \"{s}\""
        ));
    }
    if s.bytes().any(|c| c < 0x20 || c == 0x7f || c == b'\\') {
        return Err("a path prefix must not contain control characters or '\\'".into());
    }
    if s.contains(['?', '#']) {
        return Err(format!(
            "a path prefix is matched against the path only; remove the query or fragment from \"{s}\""
        ));
    }
    let b = s.as_bytes();
    if b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
    {
        return Err(format!(
            "write the prefix decoded (e.g. a space as ' ', not %20), got \"{s}\""
        ));
    }
    let mut out = Vec::with_capacity(s.len());
    for seg in s.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(format!("a path prefix must not contain '..', got \"{s}\"")),
            seg => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(seg.as_bytes());
            }
        }
    }
    Ok(out)
}

/// Whether the normalised `path` lies under the normalised `prefix`.
pub fn prefix_matches(prefix: &[u8], path: &[u8]) -> bool {
    if prefix.is_empty() {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.first() == Some(&b'/'),
        None => false,
    }
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub allow: bool,
    /// Empty: any address.
    pub from: Vec<Cidr>,
    /// `None`: any path; `Some` normalised (see [`parse_prefix`]).
    pub prefix: Option<Vec<u8>>,
    /// Virtual host indexes (0 = default); empty: any.
    pub vhosts: Vec<usize>,
    /// As written, for `config_text`.
    vhost_names: Vec<String>,
}

impl Rule {
    fn addr_matches(&self, ip: IpAddr) -> bool {
        self.from.is_empty() || self.from.iter().any(|c| c.contains(ip))
    }

    /// Decided by the address alone.
    fn address_only(&self) -> bool {
        self.prefix.is_none() && self.vhosts.is_empty()
    }

    fn matches(&self, ip: IpAddr, vhost: usize, path: Option<&[u8]>) -> bool {
        self.addr_matches(ip)
            && (self.vhosts.is_empty() || self.vhosts.contains(&vhost))
            && match &self.prefix {
                None => true,
                Some(p) => path.is_some_and(|path| prefix_matches(p, path)),
            }
    }
}

/// What the rules say at a stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    /// Accept time only: depends on the request.
    Later,
}

/// The plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    rules: Vec<Rule>,
    default_allow: bool,
    /// Any `[access]` table present (for `config_text`).
    configured: bool,
}

impl Access {
    /// The accept-time decision for a client address.
    pub fn at_accept(&self, ip: IpAddr) -> Decision {
        let ip = canonical(ip);
        for r in &self.rules {
            if !r.addr_matches(ip) {
                continue;
            }
            if !r.address_only() {
                return Decision::Later;
            }
            return if r.allow {
                Decision::Allow
            } else {
                Decision::Deny
            };
        }
        if self.default_allow {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    /// The decision for a request.
    pub fn at_request(&self, ip: IpAddr, vhost: usize, path: Option<&[u8]>) -> Decision {
        let ip = canonical(ip);
        let allow = self
            .rules
            .iter()
            .find(|r| r.matches(ip, vhost, path))
            .map_or(self.default_allow, |r| r.allow);
        if allow {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }

    fn inactive(&self) -> bool {
        self.rules.is_empty() && self.default_allow
    }
}

fn action(v: &Value, key: &str) -> Result<bool, String> {
    match v {
        Value::Str(s) if s == "allow" => Ok(true),
        Value::Str(s) if s == "deny" => Ok(false),
        other => Err(format!(
            "{key}: expected \"allow\" or \"deny\", got {other}"
        )),
    }
}

/// A string or a non-empty list of strings.
fn strings<'v>(v: &'v Value, key: &str) -> Result<Vec<&'v str>, String> {
    match v {
        Value::Str(s) => Ok(vec![s.as_str()]),
        Value::List(items) if items.is_empty() => Err(format!(
            "{key}: an empty list matches nothing; leave {key} out to match any"
        )),
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Ok(s.as_str()),
                other => Err(format!("{key}: expected a list of strings, got {other}")),
            })
            .collect(),
        other => Err(format!(
            "{key}: expected a string or a list of strings, got {other}"
        )),
    }
}

fn vhost_index(name: &str, env: &Env) -> Option<usize> {
    let n = name.strip_suffix('.').unwrap_or(name);
    for (i, names) in env.vhost_names.iter().enumerate() {
        if names.iter().any(|v| v.eq_ignore_ascii_case(n)) {
            return Some(i + 1);
        }
    }
    n.eq_ignore_ascii_case("default").then_some(0)
}

struct Parsed {
    rule: Option<Rule>,
    default: Option<(bool, u32)>,
}

fn parse_table(
    entries: &[Entry],
    line: u32,
    env: &Env,
    err: &mut dyn FnMut(u32, String),
) -> Parsed {
    let mut allow = None;
    let mut from = None;
    let mut prefix = None;
    let mut vhosts = None;
    let mut default = None;
    let mut rule_line = None;
    let mut bad = false;
    for e in entries {
        let r: Result<(), String> = match e.key.as_str() {
            "default" => action(&e.value, "default").map(|a| default = Some((a, e.line))),
            "action" => action(&e.value, "action").map(|a| allow = Some(a)),
            "from" => strings(&e.value, "from").and_then(|list| {
                let mut v = Vec::new();
                let mut errs = Vec::new();
                for s in list {
                    match Cidr::parse(s) {
                        Ok(c) => v.push(c),
                        Err(m) => errs.push(format!("from: {m}")),
                    }
                }
                if errs.is_empty() {
                    from = Some(v);
                    Ok(())
                } else {
                    Err(errs.join("; "))
                }
            }),
            "prefix" => match &e.value {
                Value::Str(s) => parse_prefix(s)
                    .map(|p| prefix = Some(p))
                    .map_err(|m| format!("prefix: {m}")),
                other => Err(format!(
                    "prefix: expected a string such as \"/admin/\", got {other}"
                )),
            },
            "vhost" => strings(&e.value, "vhost").and_then(|list| {
                let mut idx = Vec::new();
                let mut names = Vec::new();
                for s in list {
                    match vhost_index(s, env) {
                        Some(i) => {
                            if !idx.contains(&i) {
                                idx.push(i);
                            }
                            names.push(s.to_ascii_lowercase());
                        }
                        None => {
                            let known: Vec<String> =
                                env.vhost_names.iter().flatten().cloned().collect();
                            return Err(format!(
                                "vhost: no [[vhost]] is named \"{s}\" (known: {}\"default\" for the default host)",
                                known
                                    .iter()
                                    .map(|k| format!("\"{k}\", "))
                                    .collect::<String>()
                            ));
                        }
                    }
                }
                vhosts = Some((idx, names));
                Ok(())
            }),
            other => Err(format!(
                "unknown key {} in [access] (expected default, action, from, prefix, vhost)",
                format_key(other)
            )),
        };
        if e.key != "default" && matches!(e.key.as_str(), "action" | "from" | "prefix" | "vhost") {
            rule_line.get_or_insert(e.line);
        }
        if let Err(m) = r {
            bad = true;
            err(e.line, m);
        }
    }
    if let (Some((_, dl)), Some(_)) = (default, rule_line) {
        err(
            dl,
            "default is the policy when no rule matches: write it in an [[access]] table of its own, without action, from, prefix or vhost".into(),
        );
        return Parsed {
            rule: None,
            default: None,
        };
    }
    if default.is_none() && allow.is_none() && !bad {
        err(
            rule_line.unwrap_or(line),
            "missing action = \"allow\" or \"deny\" (or default = \"allow\" | \"deny\" in a table of its own)".into(),
        );
    }
    let rule = match (allow, bad) {
        (Some(allow), false) => {
            let (vh, names) = vhosts.unwrap_or_default();
            Some(Rule {
                allow,
                from: from.unwrap_or_default(),
                prefix,
                vhosts: vh,
                vhost_names: names,
            })
        }
        _ => None,
    };
    Parsed { rule, default }
}

impl Access {
    /// Builds the plugin from its sections; every error is returned.
    pub fn from_sections(sections: &[Section<'_>], env: &Env) -> Result<Access, Vec<String>> {
        let mut errs = Vec::new();
        let mut rules = Vec::new();
        let mut default: Option<(bool, String, u32)> = None;
        for s in sections {
            let mut err = |line: u32, m: String| errs.push(format!("{}:{line}: {m}", s.file));
            let p = parse_table(&s.table.entries, s.table.line, env, &mut err);
            if let Some((d, line)) = p.default {
                if let Some((_, f, l)) = &default {
                    err(
                        line,
                        format!("duplicate default policy (first set at {f}:{l})"),
                    );
                } else {
                    default = Some((d, s.file.to_string(), line));
                }
            }
            rules.extend(p.rule);
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(Access {
            rules,
            default_allow: default.is_none_or(|d| d.0),
            configured: !sections.is_empty(),
        })
    }
}

fn policy(allow: bool) -> &'static str {
    if allow {
        "allow"
    } else {
        "deny"
    }
}

impl Plugin for Access {
    const NAME: &'static str = "access";
    type Worker = ();

    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>> {
        Access::from_sections(sections, env)
    }

    fn config_text(&self) -> String {
        use std::fmt::Write as _;
        if !self.configured {
            return String::new();
        }
        let mut out = format!(
            "\n[[access]]\ndefault = \"{}\"\n",
            policy(self.default_allow)
        );
        for r in &self.rules {
            let _ = write!(out, "\n[[access]]\naction = \"{}\"\n", policy(r.allow));
            if !r.from.is_empty() {
                let list = Value::List(r.from.iter().map(|c| Value::Str(c.to_string())).collect());
                let _ = writeln!(out, "from = {list}");
            }
            if let Some(p) = &r.prefix {
                let p = format!("/{}", String::from_utf8_lossy(p));
                let _ = writeln!(out, "prefix = {}", Value::Str(p));
            }
            if !r.vhost_names.is_empty() {
                let list = Value::List(r.vhost_names.iter().cloned().map(Value::Str).collect());
                let _ = writeln!(out, "vhost = {list}");
            }
        }
        out
    }

    fn worker(&self, _id: usize) -> Self::Worker {}

    fn accept(&self, _w: &mut (), conn: &ConnInfo) -> Verdict {
        if self.inactive() {
            return Verdict::Continue;
        }
        match self.at_accept(conn.peer.ip()) {
            Decision::Deny => {
                log::debug!("access: {} denied at accept", conn.peer.ip());
                Verdict::Close
            }
            Decision::Allow | Decision::Later => Verdict::Continue,
        }
    }

    fn request(&self, _w: &mut (), x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Verdict {
        if self.inactive() {
            return Verdict::Continue;
        }
        match self.at_request(x.conn.peer.ip(), x.vhost, x.path) {
            Decision::Allow | Decision::Later => Verdict::Continue,
            Decision::Deny => {
                reply.error(HttpError::Forbidden);
                Verdict::Respond
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc::{parse, Table};

    fn env() -> Env {
        Env {
            roots: vec!["/www".into(), "/www/admin".into()],
            vhost_names: vec![vec!["router.lan".into(), "192.168.1.1".into()]],
            workers: 1,
        }
    }

    fn tables(text: &str) -> Vec<Table> {
        parse(text)
            .unwrap()
            .tables
            .into_iter()
            .filter(|t| t.name == "access")
            .collect()
    }

    fn build(text: &str) -> Result<Access, Vec<String>> {
        let t = tables(text);
        let secs: Vec<Section<'_>> = t
            .iter()
            .map(|t| Section {
                file: "f",
                table: t,
            })
            .collect();
        Access::from_sections(&secs, &env())
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_parse_table() {
        let ok: &[(&str, &str)] = &[
            ("10.0.0.0/8", "10.0.0.0/8"),
            ("10.1.2.3", "10.1.2.3/32"),
            ("0.0.0.0/0", "0.0.0.0/0"),
            ("fd00::/8", "fd00::/8"),
            ("::1", "::1/128"),
            ("::/0", "::/0"),
            ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
            ("::ffff:1.2.3.4", "1.2.3.4/32"),
            ("2001:db8::/32", "2001:db8::/32"),
        ];
        for (s, want) in ok {
            assert_eq!(Cidr::parse(s).unwrap().to_string(), *want, "{s}");
        }
        let bad: &[(&str, &str)] = &[
            ("10.0.0.1/8", "did you mean \"10.0.0.0/8\""),
            ("10.0.0.0/33", "0..=32"),
            ("fd00::/129", "0..=128"),
            ("10.0.0.0/", "prefix length"),
            ("10.0.0.0/+8", "prefix length"),
            ("10.0.0.0/0008", "prefix length"),
            ("10.0.0/8", "expected an IPv4 or IPv6"),
            ("300.0.0.0/8", "expected an IPv4 or IPv6"),
            ("fe80::1%eth0", "expected an IPv4 or IPv6"),
            ("", "expected an IPv4 or IPv6"),
            ("any", "expected an IPv4 or IPv6"),
            ("fd00::1/8", "host bits"),
        ];
        for (s, want) in bad {
            let e = Cidr::parse(s).unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        }
    }

    #[test]
    fn cidr_contains_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.0", false),
            ("0.0.0.0/0", "1.2.3.4", true),
            ("0.0.0.0/0", "::1", false),
            ("::/0", "1.2.3.4", false),
            ("::/0", "fd00::1", true),
            ("fd00::/8", "fd12::1", true),
            ("fd00::/8", "fe80::1", false),
            ("127.0.0.1", "127.0.0.1", true),
            ("127.0.0.1", "127.0.0.2", false),
            ("::1", "::1", true),
            // IPv4-mapped clients are IPv4.
            ("127.0.0.0/8", "::ffff:127.0.0.5", true),
            ("::ffff:127.0.0.0/104", "127.1.0.1", true),
            ("::/0", "::ffff:127.0.0.1", false),
        ];
        for (c, a, want) in cases {
            let got = Cidr::parse(c).unwrap().contains(canonical(ip(a)));
            assert_eq!(got, *want, "{c} contains {a}");
        }
    }

    #[test]
    fn prefix_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("/admin/", "admin", true),
            ("/admin/", "admin/x", true),
            ("/admin", "admin/", true),
            ("/admin", "administrator", false),
            ("/admin/", "adm", false),
            ("/", "", true),
            ("/", "anything/at/all", true),
            ("//a//b/./", "a/b/c", true),
            ("/a/b", "a", false),
            ("/a/b", "a/bc", false),
        ];
        for (p, path, want) in cases {
            let pre = parse_prefix(p).unwrap();
            assert_eq!(
                prefix_matches(&pre, path.as_bytes()),
                *want,
                "{p} vs {path}"
            );
        }
        for bad in ["admin", "/a/../b", "/a%20b", "/a?x", "/a\\b", "/a\u{1}", ""] {
            assert!(parse_prefix(bad).is_err(), "{bad:?}");
        }
        assert!(parse_prefix("/100%/").is_ok());
    }

    #[test]
    fn accept_and_request_ordering() {
        // (config, client, accept decision, [(vhost, path, request decision)])
        use Decision::*;
        type Case<'a> = (
            &'a str,
            &'a str,
            Decision,
            &'a [(usize, Option<&'a str>, Decision)],
        );
        let cases: &[Case<'_>] = &[
            // No config at all: everything allowed.
            ("", "1.2.3.4", Allow, &[(0, Some("x"), Allow)]),
            // Default deny, nothing else: closed at accept.
            ("[[access]]\ndefault = \"deny\"\n", "1.2.3.4", Deny, &[(0, Some(""), Deny)]),
            // Address-only deny.
            (
                "[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n",
                "127.0.0.1",
                Deny,
                &[(0, Some(""), Deny)],
            ),
            (
                "[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n",
                "10.0.0.1",
                Allow,
                &[(0, Some(""), Allow)],
            ),
            // A prefix allow before an address deny: cannot close at accept.
            (
                "[[access]]\naction = \"allow\"\nprefix = \"/pub/\"\n[[access]]\naction = \"deny\"\nfrom = \"127.0.0.1\"\n",
                "127.0.0.1",
                Later,
                &[(0, Some("pub/a"), Allow), (0, Some("priv"), Deny), (0, None, Deny)],
            ),
            // ...but the prefix rule for another address does not matter.
            (
                "[[access]]\naction = \"allow\"\nprefix = \"/pub/\"\nfrom = \"10.0.0.0/8\"\n[[access]]\naction = \"deny\"\nfrom = \"127.0.0.1\"\n",
                "127.0.0.1",
                Deny,
                &[(0, Some("pub/a"), Deny)],
            ),
            // Address allow before default deny with prefix deny rules.
            (
                "[[access]]\ndefault = \"deny\"\n[[access]]\naction = \"deny\"\nprefix = \"/admin\"\n[[access]]\naction = \"allow\"\nfrom = [\"127.0.0.1\", \"::1\"]\n",
                "::1",
                Later,
                &[(0, Some("admin/x"), Deny), (0, Some("index.html"), Allow)],
            ),
            (
                "[[access]]\ndefault = \"deny\"\n[[access]]\naction = \"deny\"\nprefix = \"/admin\"\n[[access]]\naction = \"allow\"\nfrom = [\"127.0.0.1\", \"::1\"]\n",
                "10.9.9.9",
                Later,
                &[(0, Some("admin"), Deny), (0, Some("index.html"), Deny)],
            ),
            // Vhost-scoped rule: decided per request.
            (
                "[[access]]\naction = \"deny\"\nvhost = \"router.lan\"\n",
                "1.1.1.1",
                Later,
                &[(1, Some("x"), Deny), (0, Some("x"), Allow)],
            ),
            (
                "[[access]]\naction = \"deny\"\nvhost = \"DEFAULT\"\nprefix = \"/a\"\n",
                "1.1.1.1",
                Later,
                &[(1, Some("a"), Allow), (0, Some("a"), Deny), (0, Some("b"), Allow)],
            ),
            // First match wins: allow then deny of the same range.
            (
                "[[access]]\naction = \"allow\"\nfrom = \"127.0.0.1\"\n[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n",
                "127.0.0.1",
                Allow,
                &[(0, Some(""), Allow)],
            ),
            (
                "[[access]]\naction = \"allow\"\nfrom = \"127.0.0.1\"\n[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n",
                "127.0.0.2",
                Deny,
                &[(0, Some(""), Deny)],
            ),
            // Mapped client against an IPv4 rule.
            (
                "[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n",
                "::ffff:127.0.0.1",
                Deny,
                &[(0, Some(""), Deny)],
            ),
            // A lone [access] table.
            ("[access]\ndefault = \"deny\"\n", "::1", Deny, &[]),
        ];
        for (cfg, client, acc, reqs) in cases {
            let a = build(cfg).unwrap_or_else(|e| panic!("{cfg}: {e:?}"));
            assert_eq!(a.at_accept(ip(client)), *acc, "{cfg}\nclient {client}");
            for (vh, path, want) in *reqs {
                let got = a.at_request(ip(client), *vh, path.map(str::as_bytes));
                assert_eq!(
                    got, *want,
                    "{cfg}\nclient {client} vhost {vh} path {path:?}"
                );
            }
        }
    }

    #[test]
    fn consistency_between_accept_and_request() {
        // Whatever accept decides for sure must be what every request gets.
        let cfg = "[[access]]\ndefault = \"deny\"\n\
                   [[access]]\naction = \"allow\"\nfrom = \"10.0.0.0/8\"\nprefix = \"/p\"\n\
                   [[access]]\naction = \"deny\"\nfrom = [\"10.1.0.0/16\", \"fd00::/8\"]\n\
                   [[access]]\naction = \"allow\"\nfrom = \"10.0.0.0/8\"\n\
                   [[access]]\naction = \"deny\"\nvhost = \"router.lan\"\n\
                   [[access]]\naction = \"allow\"\nfrom = \"::/0\"\n";
        let a = build(cfg).unwrap();
        let clients = [
            "10.1.2.3",
            "10.2.0.1",
            "11.0.0.1",
            "fd00::5",
            "::1",
            "::ffff:10.2.0.1",
        ];
        let reqs = [
            (0, Some("p")),
            (0, Some("q")),
            (1, Some("p")),
            (1, Some("")),
            (0, None),
        ];
        for c in clients {
            let acc = a.at_accept(ip(c));
            let got: Vec<Decision> = reqs
                .iter()
                .map(|(v, p)| a.at_request(ip(c), *v, p.map(str::as_bytes)))
                .collect();
            if acc != Decision::Later {
                assert!(got.iter().all(|g| *g == acc), "{c}: {acc:?} vs {got:?}");
            }
        }
        // The vhost rule matches any address: decided per request.
        assert_eq!(a.at_accept(ip("11.0.0.1")), Decision::Later);
        assert_eq!(a.at_accept(ip("10.1.2.3")), Decision::Later);
        assert_eq!(a.at_accept(ip("10.2.0.1")), Decision::Later);
        assert_eq!(a.at_accept(ip("::1")), Decision::Later);
    }

    /// Random rule lists: whatever accept decides for sure is what every
    /// request from that client gets.
    #[test]
    fn accept_never_contradicts_request_random() {
        let froms = [
            None,
            Some("127.0.0.0/8"),
            Some("127.0.0.1"),
            Some("::1"),
            Some("10.0.0.0/8"),
            Some("::/0"),
        ];
        let prefixes = [None, Some("/"), Some("/a"), Some("/a/b")];
        let vhosts = [None, Some("router.lan"), Some("default")];
        let clients = [
            "127.0.0.1",
            "127.0.0.2",
            "::1",
            "10.1.1.1",
            "::ffff:127.0.0.1",
            "8.8.8.8",
        ];
        let reqs: [(usize, Option<&str>); 6] = [
            (0, Some("")),
            (0, Some("a")),
            (0, Some("a/b/c")),
            (1, Some("a")),
            (1, Some("x")),
            (0, None),
        ];
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut rnd = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        for _ in 0..3000 {
            let mut cfg = String::new();
            if rnd(2) == 0 {
                cfg.push_str(if rnd(2) == 0 {
                    "[[access]]\ndefault = \"deny\"\n"
                } else {
                    "[[access]]\ndefault = \"allow\"\n"
                });
            }
            for _ in 0..rnd(5) {
                cfg.push_str(if rnd(2) == 0 {
                    "[[access]]\naction = \"allow\"\n"
                } else {
                    "[[access]]\naction = \"deny\"\n"
                });
                if let Some(f) = froms[rnd(froms.len())] {
                    cfg.push_str(&format!("from = \"{f}\"\n"));
                }
                if let Some(p) = prefixes[rnd(prefixes.len())] {
                    cfg.push_str(&format!("prefix = \"{p}\"\n"));
                }
                if let Some(v) = vhosts[rnd(vhosts.len())] {
                    cfg.push_str(&format!("vhost = \"{v}\"\n"));
                }
            }
            let a = build(&cfg).unwrap_or_else(|e| panic!("{cfg}: {e:?}"));
            for c in clients {
                let acc = a.at_accept(ip(c));
                if acc == Decision::Later {
                    continue;
                }
                for (vh, p) in reqs {
                    let got = a.at_request(ip(c), vh, p.map(str::as_bytes));
                    assert_eq!(got, acc, "{cfg}\nclient {c} vhost {vh} path {p:?}");
                }
            }
        }
    }

    #[test]
    fn config_errors() {
        let cases: &[(&str, &[(u32, &str)])] = &[
            ("[[access]]\naction = \"drop\"\n", &[(2, "expected \"allow\" or \"deny\"")]),
            ("[[access]]\naction = true\n", &[(2, "expected \"allow\" or \"deny\", got true")]),
            ("[[access]]\nfrom = \"10.0.0.0/8\"\n", &[(2, "missing action")]),
            ("[[access]]\n", &[(1, "missing action")]),
            (
                "[[access]]\naction = \"deny\"\nfrom = [\"10.0.0.0/8\", \"10.0.0.0/99\", 5]\n",
                &[(3, "expected a list of strings")],
            ),
            (
                "[[access]]\naction = \"deny\"\nfrom = [\"10.0.0.0/99\", \"x\"]\n",
                &[(3, "0..=32")],
            ),
            ("[[access]]\naction = \"deny\"\nfrom = []\n", &[(3, "empty list")]),
            ("[[access]]\naction = \"deny\"\nfrom = 5\n", &[(3, "a string or a list")]),
            ("[[access]]\naction = \"deny\"\nprefix = \"admin\"\n", &[(3, "starting with '/'")]),
            ("[[access]]\naction = \"deny\"\nprefix = [\"/a\"]\n", &[(3, "prefix: expected a string")]),
            ("[[access]]\naction = \"deny\"\nvhost = \"nope.lan\"\n", &[(3, "no [[vhost]] is named \"nope.lan\"")]),
            ("[[access]]\naction = \"deny\"\nport = 80\n", &[(3, "unknown key port")]),
            (
                "[[access]]\ndefault = \"deny\"\naction = \"deny\"\n",
                &[(2, "in an [[access]] table of its own")],
            ),
            (
                "[[access]]\ndefault = \"deny\"\n[[access]]\ndefault = \"allow\"\n",
                &[(4, "duplicate default policy (first set at f:2)")],
            ),
            ("[[access]]\ndefault = \"maybe\"\n", &[(2, "default: expected")]),
            // All errors are reported.
            (
                "[[access]]\naction = \"x\"\nfrom = \"1.2.3.4/40\"\n[[access]]\naction = \"deny\"\nprefix = \"/../\"\n",
                &[(2, "action"), (3, "from"), (6, "'..'")],
            ),
        ];
        for (cfg, want) in cases {
            let errs = build(cfg).unwrap_err();
            assert_eq!(errs.len(), want.len(), "{cfg}: {errs:?}");
            for (e, (line, msg)) in errs.iter().zip(want.iter()) {
                assert!(e.starts_with(&format!("f:{line}: ")), "{cfg}: {e}");
                assert!(e.contains(msg), "{cfg}: {e} lacks {msg}");
            }
        }
    }

    #[test]
    fn config_text_round_trips() {
        let cfg = "[[access]]\naction = \"deny\"\nfrom = [\"10.0.0.0/8\", \"::ffff:192.168.0.0/112\"]\nprefix = \"//admin\"\nvhost = [\"Router.lan\", \"default\"]\n\
                   [[access]]\ndefault = \"deny\"\n[[access]]\naction = \"allow\"\nprefix = \"/\"\n";
        let a = build(cfg).unwrap();
        let text = a.config_text();
        assert!(
            text.contains("from = [\"10.0.0.0/8\", \"192.168.0.0/16\"]"),
            "{text}"
        );
        assert!(text.contains("prefix = \"/admin\""), "{text}");
        assert!(
            text.contains("vhost = [\"router.lan\", \"default\"]"),
            "{text}"
        );
        assert!(text.contains("default = \"deny\""), "{text}");
        let b = build(&text).unwrap();
        assert_eq!(a, b);
        assert_eq!(build("").unwrap().config_text(), "");
    }
}
