//! The `[[dirlisting]]` sections: parsing, validation and rule lookup.
//!
//! Every section is one rule. All errors of all sections are reported as
//! `FILE:LINE: message`. Lookup ([`Rules::find`]) never allocates.

use fws_api::doc::{Table, Value};
use fws_api::plugin::Section;

/// Default for `max_entries`.
pub const DEFAULT_MAX_ENTRIES: usize = 1000;
/// Largest accepted `max_entries` (memory is about 64 bytes plus the name
/// length per entry).
pub const MAX_MAX_ENTRIES: usize = 100_000;

/// One `[[dirlisting]]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Normalised: starts and ends with `/`.
    pub prefix: String,
    /// The host name as written, and the virtual host it selects
    /// (`i + 1` for `[[vhost]]` i); `None` = every virtual host.
    pub vhost: Option<(String, usize)>,
    pub enabled: bool,
    pub max_entries: usize,
}

impl Rule {
    /// Whether the directory at `path` (normalised, relative: no leading or
    /// trailing slash, `""` for the root) is at or below this prefix.
    pub fn covers(&self, path: &[u8]) -> bool {
        // "/pub/x/" -> "pub/x/": `path + "/"` must start with it.
        let p = self.prefix.as_bytes();
        let p = p.get(1..).unwrap_or(&[]);
        if p.is_empty() {
            return true;
        }
        let stem = &p[..p.len() - 1];
        path == stem || (path.len() > stem.len() && path.starts_with(p))
    }

    fn applies_to(&self, vhost: usize) -> bool {
        self.vhost.as_ref().is_none_or(|(_, v)| *v == vhost)
    }
}

/// All rules, most specific first: longer prefix first, and for the same
/// prefix a rule naming a virtual host before one that does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules(pub Vec<Rule>);

impl Rules {
    /// The rule deciding `path` on virtual host `vhost`: the most specific
    /// one that covers it. `None` when no rule does (listing off).
    pub fn find(&self, vhost: usize, path: &[u8]) -> Option<&Rule> {
        self.0
            .iter()
            .find(|r| r.applies_to(vhost) && r.covers(path))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parses every section. `vhost_names[i]` are the names of `[[vhost]]` i.
pub fn parse(sections: &[Section<'_>], vhost_names: &[Vec<String>]) -> Result<Rules, Vec<String>> {
    let mut errs = Vec::new();
    let mut rules: Vec<(Rule, String, u32)> = Vec::new();
    for s in sections {
        let before = errs.len();
        let rule = parse_table(s.file, s.table, vhost_names, &mut errs);
        if errs.len() > before {
            continue;
        }
        let key = |r: &Rule| (r.prefix.clone(), r.vhost.as_ref().map(|v| v.1));
        if let Some((_, file, line)) = rules.iter().find(|(r, _, _)| key(r) == key(&rule)) {
            errs.push(format!(
                "{}:{}: dirlisting: a rule for prefix {} on {} already exists ({file}:{line})",
                s.file,
                s.table.line,
                Value::Str(rule.prefix.clone()),
                match &rule.vhost {
                    Some((name, _)) => format!("vhost {}", Value::Str(name.clone())),
                    None => "every host".into(),
                }
            ));
            continue;
        }
        rules.push((rule, s.file.to_string(), s.table.line));
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut rules: Vec<Rule> = rules.into_iter().map(|r| r.0).collect();
    // No two rules have equal keys after the duplicate check.
    crate::scan::sort(&mut rules, |a, b| {
        b.prefix
            .len()
            .cmp(&a.prefix.len())
            .then(b.vhost.is_some().cmp(&a.vhost.is_some()))
    });
    Ok(Rules(rules))
}

fn parse_table(file: &str, t: &Table, vhost_names: &[Vec<String>], errs: &mut Vec<String>) -> Rule {
    let mut rule = Rule {
        prefix: "/".into(),
        vhost: None,
        enabled: true,
        max_entries: DEFAULT_MAX_ENTRIES,
    };
    for e in &t.entries {
        let at = format!("{file}:{}: dirlisting", e.line);
        match (e.key.as_str(), &e.value) {
            ("prefix", Value::Str(p)) => match check_prefix(p) {
                Ok(p) => rule.prefix = p,
                Err(m) => errs.push(format!("{at}: prefix: {m}, got {}", e.value)),
            },
            ("vhost", Value::Str(h)) => match find_vhost(h, vhost_names) {
                Some(i) => rule.vhost = Some((h.clone(), i)),
                None => errs.push(format!(
                    "{at}: vhost: expected a name of a [[vhost]] section ({}), got {}",
                    known_vhosts(vhost_names),
                    e.value
                )),
            },
            ("enabled", Value::Bool(b)) => rule.enabled = *b,
            ("max_entries", Value::Int(n)) => match usize::try_from(*n) {
                Ok(n) if (1..=MAX_MAX_ENTRIES).contains(&n) => rule.max_entries = n,
                _ => errs.push(format!(
                    "{at}: max_entries: expected an integer from 1 to {MAX_MAX_ENTRIES}, got {n}"
                )),
            },
            ("prefix" | "vhost", v) => {
                errs.push(format!("{at}: {}: expected a string, got {v}", e.key))
            }
            ("enabled", v) => errs.push(format!("{at}: enabled: expected true or false, got {v}")),
            ("max_entries", v) => errs.push(format!(
                "{at}: max_entries: expected an integer from 1 to {MAX_MAX_ENTRIES}, got {v}"
            )),
            (k, _) => errs.push(format!(
                "{at}: unknown key {} (expected prefix, vhost, enabled or max_entries)",
                fws_api::doc::format_key(k)
            )),
        }
    }
    rule
}

/// Validates a path prefix and normalises it to end with `/`.
fn check_prefix(p: &str) -> Result<String, &'static str> {
    let Some(rest) = p.strip_prefix('/') else {
        return Err("expected a path starting with '/'");
    };
    if p.bytes().any(|b| b < 0x20 || b == 0x7f || b == b'\\') {
        return Err("expected a path without control characters or '\\'");
    }
    if p.contains('%') || p.contains('?') || p.contains('#') {
        return Err("expected a plain (decoded) path without '%', '?' or '#'");
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if p.contains("//")
        || !rest.is_empty()
            && rest
                .split('/')
                .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err("expected a normalised path (no empty, '.' or '..' segments)");
    }
    if rest.is_empty() {
        Ok("/".into())
    } else {
        Ok(format!("/{rest}/"))
    }
}

fn find_vhost(name: &str, vhost_names: &[Vec<String>]) -> Option<usize> {
    let name = name.strip_suffix('.').unwrap_or(name);
    vhost_names
        .iter()
        .position(|names| {
            names
                .iter()
                .any(|n| n.strip_suffix('.').unwrap_or(n).eq_ignore_ascii_case(name))
        })
        .map(|i| i + 1)
}

fn known_vhosts(vhost_names: &[Vec<String>]) -> String {
    let all: Vec<String> = vhost_names
        .iter()
        .flatten()
        .map(|n| Value::Str(n.clone()).to_string())
        .collect();
    if all.is_empty() {
        "none is configured".into()
    } else {
        format!("one of {}", all.join(", "))
    }
}

/// The rules in config-file syntax, in file-independent (lookup) order.
pub fn text(rules: &Rules) -> String {
    let mut out = String::new();
    for r in &rules.0 {
        out.push_str("\n[[dirlisting]]\n");
        out.push_str(&format!("prefix = {}\n", Value::Str(r.prefix.clone())));
        if let Some((name, _)) = &r.vhost {
            out.push_str(&format!("vhost = {}\n", Value::Str(name.clone())));
        }
        out.push_str(&format!("enabled = {}\n", r.enabled));
        out.push_str(&format!("max_entries = {}\n", r.max_entries));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc;

    fn run(text: &str, vhosts: &[&[&str]]) -> Result<Rules, Vec<String>> {
        let d = doc::parse(text).expect("syntax");
        let secs: Vec<Section<'_>> = d
            .tables
            .iter()
            .filter(|t| t.name == "dirlisting")
            .map(|t| Section {
                file: "f.toml",
                table: t,
            })
            .collect();
        let names: Vec<Vec<String>> = vhosts
            .iter()
            .map(|v| v.iter().map(|s| s.to_string()).collect())
            .collect();
        parse(&secs, &names)
    }

    #[test]
    fn prefixes() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("/", Ok("/")),
            ("/pub", Ok("/pub/")),
            ("/pub/", Ok("/pub/")),
            ("/a/b c/", Ok("/a/b c/")),
            ("/ä/", Ok("/ä/")),
            ("pub/", Err("starting with '/'")),
            ("", Err("starting with '/'")),
            ("//", Err("normalised")),
            ("/a//b/", Err("normalised")),
            ("/a/../b/", Err("normalised")),
            ("/./", Err("normalised")),
            ("/a/..", Err("normalised")),
            ("/a%20b/", Err("decoded")),
            ("/a?x", Err("decoded")),
            ("/a\\b", Err("control")),
            ("/a\tb", Err("control")),
        ];
        for (p, want) in cases {
            match (check_prefix(p), want) {
                (Ok(got), Ok(w)) => assert_eq!(&got, w, "{p:?}"),
                (Err(got), Err(w)) => assert!(got.contains(w), "{p:?}: {got}"),
                (got, w) => panic!("{p:?}: got {got:?}, want {w:?}"),
            }
        }
    }

    #[test]
    fn covers() {
        let r = |p: &str| Rule {
            prefix: p.into(),
            vhost: None,
            enabled: true,
            max_entries: 1,
        };
        let cases: &[(&str, &str, bool)] = &[
            ("/", "", true),
            ("/", "a/b", true),
            ("/pub/", "pub", true),
            ("/pub/", "pub/x", true),
            ("/pub/", "pub/x/y", true),
            ("/pub/", "public", false),
            ("/pub/", "pu", false),
            ("/pub/", "", false),
            ("/pub/", "x/pub", false),
            ("/a/b/", "a", false),
            ("/a/b/", "a/b", true),
            ("/a/b/", "a/bc", false),
        ];
        for &(prefix, path, want) in cases {
            assert_eq!(r(prefix).covers(path.as_bytes()), want, "{prefix} {path}");
        }
    }

    #[test]
    fn defaults_and_full() {
        let rules = run("[[dirlisting]]\n", &[]).unwrap();
        assert_eq!(
            rules.0,
            [Rule {
                prefix: "/".into(),
                vhost: None,
                enabled: true,
                max_entries: 1000
            }]
        );
        let rules = run(
            "[[dirlisting]]\nprefix = \"/pub\"\nvhost = \"Files.LAN\"\nmax_entries = 5\nenabled = false\n",
            &[&["router.lan"], &["files.lan", "10.0.0.1"]],
        )
        .unwrap();
        assert_eq!(
            rules.0,
            [Rule {
                prefix: "/pub/".into(),
                vhost: Some(("Files.LAN".into(), 2)),
                enabled: false,
                max_entries: 5
            }]
        );
        assert_eq!(
            text(&rules),
            "\n[[dirlisting]]\nprefix = \"/pub/\"\nvhost = \"Files.LAN\"\nenabled = false\nmax_entries = 5\n"
        );
        // The printed text parses back to the same rules.
        assert_eq!(
            run(&text(&rules), &[&["router.lan"], &["files.lan"]]).unwrap(),
            rules
        );
        // Single-table form works too.
        assert_eq!(
            run("[dirlisting]\nprefix = \"/x/\"\n", &[]).unwrap().0[0].prefix,
            "/x/"
        );
    }

    #[test]
    fn errors_all_reported() {
        let text = "[[dirlisting]]\n\
                    prefix = \"pub\"\n\
                    vhost = \"nope\"\n\
                    max_entries = 0\n\
                    enabled = \"yes\"\n\
                    colour = 1\n\
                    [[dirlisting]]\n\
                    prefix = 5\n\
                    max_entries = 100001\n\
                    vhost = [\"a\"]\n\
                    max_entries2 = -1\n";
        let errs = run(text, &[&["files.lan"]]).unwrap_err();
        let want: &[(&str, &str)] = &[
            ("f.toml:2:", "prefix: expected a path starting with '/', got \"pub\""),
            ("f.toml:3:", "vhost: expected a name of a [[vhost]] section (one of \"files.lan\"), got \"nope\""),
            ("f.toml:4:", "max_entries: expected an integer from 1 to 100000, got 0"),
            ("f.toml:5:", "enabled: expected true or false, got \"yes\""),
            ("f.toml:6:", "unknown key colour"),
            ("f.toml:8:", "prefix: expected a string, got 5"),
            ("f.toml:9:", "max_entries: expected an integer from 1 to 100000, got 100001"),
            ("f.toml:10:", "vhost: expected a string, got [\"a\"]"),
            ("f.toml:11:", "unknown key max_entries2"),
        ];
        assert_eq!(errs.len(), want.len(), "{errs:#?}");
        for (e, (at, msg)) in errs.iter().zip(want) {
            assert!(
                e.starts_with(at) && e.contains(msg),
                "{e:?} lacks {at} {msg}"
            );
        }
        let errs = run("[[dirlisting]]\nvhost = \"x\"\n", &[]).unwrap_err();
        assert!(errs[0].contains("none is configured"), "{errs:?}");
    }

    #[test]
    fn duplicates_and_order() {
        let errs = run(
            "[[dirlisting]]\nprefix = \"/a\"\n[[dirlisting]]\nprefix = \"/a/\"\n",
            &[],
        )
        .unwrap_err();
        assert_eq!(
            errs,
            ["f.toml:3: dirlisting: a rule for prefix \"/a/\" on every host already exists (f.toml:1)"]
        );
        // Same prefix on another host is fine.
        let rules = run(
            "[[dirlisting]]\nprefix = \"/a/\"\n\
             [[dirlisting]]\nprefix = \"/a/\"\nvhost = \"h\"\nenabled = false\n\
             [[dirlisting]]\nprefix = \"/\"\n\
             [[dirlisting]]\nprefix = \"/a/b/\"\nmax_entries = 7\n",
            &[&["h"]],
        )
        .unwrap();
        let find = |vh: usize, p: &str| {
            rules
                .find(vh, p.as_bytes())
                .map(|r| (r.prefix.as_str(), r.enabled, r.max_entries))
        };
        assert_eq!(find(0, ""), Some(("/", true, 1000)));
        assert_eq!(find(0, "a"), Some(("/a/", true, 1000)));
        assert_eq!(find(1, "a/x"), Some(("/a/", false, 1000)));
        assert_eq!(find(1, "b"), Some(("/", true, 1000)));
        assert_eq!(find(1, "a/b/c"), Some(("/a/b/", true, 7)));
        let none = run(
            "[[dirlisting]]\nprefix = \"/pub/\"\nvhost = \"h\"\n",
            &[&["h"]],
        )
        .unwrap();
        assert!(none.find(0, b"pub").is_none());
        assert!(none.find(1, b"pub").is_some());
        assert!(none.find(1, b"").is_none());
    }
}
