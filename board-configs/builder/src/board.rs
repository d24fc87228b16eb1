//! Reading the `[board]` section of a board file (`board-configs/NAME.toml`).
//!
//! The board file is written in the runtime configuration syntax (a TOML subset, see the
//! spec); the build tool needs only the `[board]` section, so this is a small line parser
//! for that section. Other sections are skipped without being interpreted (the engine's
//! build script and config loader check them), except that string quoting and multi-line
//! lists are tracked so a `[` or `#` inside a value is never taken for syntax.
//!
//! Errors carry `FILE:LINE: message`, like the engine's config errors.

use std::fmt;

/// The targets the build tool knows: triple, QEMU user-mode runner.
/// `.cargo/config.toml` has the matching per-target rustflags and runners.
pub const TARGETS: &[(&str, &str)] = &[
    ("mips-unknown-linux-musl", "qemu-mips-static"),
    ("mipsel-unknown-linux-musl", "qemu-mipsel-static"),
    ("armv7-unknown-linux-musleabihf", "qemu-arm-static"),
    ("aarch64-unknown-linux-musl", "qemu-aarch64-static"),
    ("x86_64-unknown-linux-musl", ""),
];

/// Whether `triple` is one of [`TARGETS`].
pub fn known_target(triple: &str) -> bool {
    TARGETS.iter().any(|(t, _)| *t == triple)
}

/// The `[board]` section of a board file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    pub name: String,
    pub description: String,
    pub target: String,
    pub cpu: String,
    pub features: Vec<String>,
}

/// A parse error at a line of the board file (1-based; 0 = the file as a whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

/// A value of a `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Str(String),
    List(Vec<String>),
    /// Anything else (integer, boolean): kept as written; the `[board]` keys never take it.
    Other(String),
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

/// Removes a trailing `# comment` that is outside any string.
fn strip_comment(line: &str) -> &str {
    let mut in_str = false;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else if c == '#' {
            return &line[..i];
        }
    }
    line
}

/// Parses a `"..."` string at the start of `s`; returns the string and the rest.
fn parse_string(s: &str, line: usize) -> Result<(String, &str), ParseError> {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, '"')) => {}
        _ => return Err(err(line, "expected a quoted string")),
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, e)) => return Err(err(line, format!("unknown escape \\{e} in string"))),
                None => break,
            },
            c if c.is_control() => return Err(err(line, "control character in string")),
            c => out.push(c),
        }
    }
    Err(err(
        line,
        "unterminated string (strings end on the line they start)",
    ))
}

/// Parses the inside of a list after `[`: `"a", "b" ]`. Returns the items, or `None` when
/// the closing `]` has not been seen yet (the list continues on the next line).
fn parse_list_items(mut s: &str, line: usize, items: &mut Vec<String>) -> Result<bool, ParseError> {
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return Ok(false);
        }
        if let Some(rest) = s.strip_prefix(']') {
            if !rest.trim().is_empty() {
                return Err(err(line, "unexpected text after ']'"));
            }
            return Ok(true);
        }
        let (item, rest) = parse_string(s, line)
            .map_err(|_| err(line, "expected a list of strings, e.g. [\"a\", \"b\"]"))?;
        items.push(item);
        s = rest.trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.is_empty() && !s.starts_with(']') {
            return Err(err(line, "expected ',' or ']' in list"));
        }
    }
}

/// Parses the `[board]` section out of the text of a board file.
pub fn parse_board(text: &str) -> Result<Board, Vec<ParseError>> {
    let mut errors = Vec::new();
    let mut section: Option<String> = None;
    let mut entries: Vec<(usize, String, Value)> = Vec::new();
    let mut board_seen = false;
    // A multi-line list in progress: (line it started, key, items so far, in [board]?).
    let mut open_list: Option<(usize, String, Vec<String>, bool)> = None;

    for (idx, raw) in text.lines().enumerate() {
        let lineno = idx + 1;
        let line = strip_comment(raw).trim();

        if let Some((start, key, mut items, in_board)) = open_list.take() {
            match parse_list_items(line, lineno, &mut items) {
                Ok(true) => {
                    if in_board {
                        entries.push((start, key, Value::List(items)));
                    }
                }
                Ok(false) => open_list = Some((start, key, items, in_board)),
                Err(e) => errors.push(e),
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            let inner = if let Some(s) = line.strip_prefix("[[") {
                s.strip_suffix("]]")
            } else {
                line.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
            };
            match inner.map(str::trim) {
                Some(name) if !name.is_empty() => {
                    if name == "board" {
                        if board_seen {
                            errors.push(err(lineno, "duplicate [board] section"));
                        }
                        board_seen = true;
                    }
                    section = Some(name.to_string());
                }
                _ => errors.push(err(lineno, "bad section header, expected [name]")),
            }
            continue;
        }
        let in_board = section.as_deref() == Some("board");
        let Some((key, value)) = line.split_once('=') else {
            errors.push(err(lineno, "expected key = value"));
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            errors.push(err(lineno, format!("bad key '{key}'")));
            continue;
        }
        if section.is_none() {
            errors.push(err(lineno, format!("key '{key}' outside any section")));
            continue;
        }
        if let Some(rest) = value.strip_prefix('[') {
            let mut items = Vec::new();
            match parse_list_items(rest, lineno, &mut items) {
                Ok(true) => {
                    if in_board {
                        entries.push((lineno, key.to_string(), Value::List(items)));
                    }
                }
                Ok(false) => open_list = Some((lineno, key.to_string(), items, in_board)),
                Err(e) => errors.push(e),
            }
        } else if value.starts_with('"') {
            match parse_string(value, lineno) {
                Ok((s, rest)) if rest.trim().is_empty() => {
                    if in_board {
                        entries.push((lineno, key.to_string(), Value::Str(s)));
                    }
                }
                Ok(_) => errors.push(err(lineno, "unexpected text after string")),
                Err(e) => errors.push(e),
            }
        } else if value.is_empty() {
            errors.push(err(lineno, format!("missing value for '{key}'")));
        } else if in_board {
            entries.push((lineno, key.to_string(), Value::Other(value.to_string())));
        }
    }
    if let Some((start, key, _, _)) = open_list {
        errors.push(err(
            start,
            format!("list for '{key}' is not closed with ']'"),
        ));
    }
    if !board_seen {
        errors.push(err(0, "no [board] section"));
        return Err(errors);
    }

    let mut name = None;
    let mut description = None;
    let mut target = None;
    let mut cpu = None;
    let mut features = None;
    let mut last_line = 0;
    for (lineno, key, value) in entries {
        last_line = last_line.max(lineno);
        let slot = match key.as_str() {
            "name" | "description" | "target" | "cpu" => {
                let slot = match key.as_str() {
                    "name" => &mut name,
                    "description" => &mut description,
                    "target" => &mut target,
                    _ => &mut cpu,
                };
                match value {
                    Value::Str(s) => {
                        if slot.is_some() {
                            errors.push(err(lineno, format!("duplicate key '{key}'")));
                        } else {
                            *slot = Some((lineno, s));
                        }
                    }
                    _ => errors.push(err(lineno, format!("'{key}' expects a string"))),
                }
                continue;
            }
            "features" => &mut features,
            other => {
                errors.push(err(
                    lineno,
                    format!("unknown key '{other}' in [board] (expected name, description, target, cpu, features)"),
                ));
                continue;
            }
        };
        match value {
            Value::List(items) => {
                if slot.is_some() {
                    errors.push(err(lineno, "duplicate key 'features'"));
                    continue;
                }
                for f in &items {
                    if !valid_feature(f) {
                        errors.push(err(lineno, format!("bad feature name '{f}'")));
                    }
                }
                *slot = Some(items);
            }
            _ => errors.push(err(
                lineno,
                "'features' expects a list of strings, e.g. [\"tls\"]",
            )),
        }
    }

    let mut require = |v: Option<(usize, String)>, key: &str| -> String {
        match v {
            Some((_, s)) if !s.is_empty() => s,
            Some((l, _)) => {
                errors.push(err(l, format!("'{key}' must not be empty")));
                String::new()
            }
            None => {
                errors.push(err(last_line, format!("[board] needs '{key}'")));
                String::new()
            }
        }
    };
    let name = require(name, "name");
    let target = require(target, "target");
    let cpu = require(cpu, "cpu");
    let description = description.map(|(_, s)| s).unwrap_or_default();
    if !target.is_empty() && !known_target(&target) {
        let known: Vec<&str> = TARGETS.iter().map(|(t, _)| *t).collect();
        errors.push(err(
            0,
            format!(
                "unsupported target '{target}' (known: {})",
                known.join(", ")
            ),
        ));
    }
    if errors.is_empty() {
        Ok(Board {
            name,
            description,
            target,
            cpu,
            features: features.unwrap_or_default(),
        })
    } else {
        Err(errors)
    }
}

/// A cargo feature name as the build tool accepts it (also `crate/feature`).
pub fn valid_feature(f: &str) -> bool {
    !f.is_empty()
        && f.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/'))
        && !f.starts_with(['-', '/'])
}

/// A board name as the build tool accepts it: it names `board-configs/NAME.toml`.
pub fn valid_board_name(n: &str) -> bool {
    !n.is_empty()
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !n.starts_with(['.', '-'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
# a board
[board]
name = "ath79-generic"   # trailing comment
description = "MIPS \"24Kc\" # not a comment"
target = "mips-unknown-linux-musl"
cpu = "mips32r2"
features = ["auth", "logger"]

[server]
listen = ["0.0.0.0:80", "[::]:80"]   # brackets inside strings
workers = 1
index = [
  "index.html",  # comment inside a list
  "index.htm",
]

[[vhost]]
names = ["router.lan"]
"#;

    #[test]
    fn parses_board_section() {
        let b = parse_board(GOOD).unwrap();
        assert_eq!(b.name, "ath79-generic");
        assert_eq!(b.description, "MIPS \"24Kc\" # not a comment");
        assert_eq!(b.target, "mips-unknown-linux-musl");
        assert_eq!(b.cpu, "mips32r2");
        assert_eq!(b.features, vec!["auth", "logger"]);
    }

    #[test]
    fn empty_features_and_no_description() {
        let b = parse_board(
            "[board]\nname = \"x\"\ntarget = \"aarch64-unknown-linux-musl\"\ncpu = \"cortex-a53\"\nfeatures = []\n",
        )
        .unwrap();
        assert!(b.features.is_empty());
        assert_eq!(b.description, "");
    }

    #[test]
    fn multi_line_features() {
        let b = parse_board(
            "[board]\nname = \"x\"\ntarget = \"aarch64-unknown-linux-musl\"\ncpu = \"c\"\nfeatures = [\n \"tls\",\n \"cgi\" ]\n",
        )
        .unwrap();
        assert_eq!(b.features, vec!["tls", "cgi"]);
    }

    #[test]
    fn board_section_after_server() {
        let b = parse_board(
            "[server]\nworkers = 2\n[board]\nname = \"x\"\ntarget = \"mipsel-unknown-linux-musl\"\ncpu = \"mips32r2\"\n",
        )
        .unwrap();
        assert_eq!(b.target, "mipsel-unknown-linux-musl");
    }

    fn errors(text: &str) -> Vec<String> {
        parse_board(text)
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn missing_board_section() {
        assert_eq!(
            errors("[server]\nworkers = 1\n"),
            vec!["0: no [board] section"]
        );
    }

    #[test]
    fn missing_keys_are_reported_all() {
        let e = errors("[board]\nname = \"x\"\n");
        assert!(e.iter().any(|m| m.contains("needs 'target'")), "{e:?}");
        assert!(e.iter().any(|m| m.contains("needs 'cpu'")), "{e:?}");
    }

    #[test]
    fn unknown_and_duplicate_keys() {
        let e = errors(
            "[board]\nname = \"x\"\nname = \"y\"\ntarget = \"mips-unknown-linux-musl\"\ncpu = \"c\"\nram = \"64M\"\n",
        );
        assert!(e.contains(&"3: duplicate key 'name'".to_string()), "{e:?}");
        assert!(
            e.iter().any(|m| m.starts_with("6: unknown key 'ram'")),
            "{e:?}"
        );
    }

    #[test]
    fn wrong_types() {
        let e = errors("[board]\nname = 1\ntarget = [\"a\"]\ncpu = \"c\"\nfeatures = \"tls\"\n");
        assert!(
            e.contains(&"2: 'name' expects a string".to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(&"3: 'target' expects a string".to_string()),
            "{e:?}"
        );
        assert!(
            e.iter()
                .any(|m| m.starts_with("5: 'features' expects a list")),
            "{e:?}"
        );
    }

    #[test]
    fn unsupported_target() {
        let e = errors(
            "[board]\nname = \"x\"\ntarget = \"riscv64gc-unknown-linux-musl\"\ncpu = \"c\"\n",
        );
        assert!(
            e[0].contains("unsupported target 'riscv64gc-unknown-linux-musl'"),
            "{e:?}"
        );
    }

    #[test]
    fn syntax_errors() {
        let e = errors(
            "[board\n[board]\nname = \"x\ntarget\nfeatures = [\"a\" \"b\"]\ncpu = \"c\" extra\n",
        );
        assert!(
            e.contains(&"1: bad section header, expected [name]".to_string()),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with("3: unterminated string")),
            "{e:?}"
        );
        assert!(e.contains(&"4: expected key = value".to_string()), "{e:?}");
        assert!(
            e.contains(&"5: expected ',' or ']' in list".to_string()),
            "{e:?}"
        );
        assert!(
            e.contains(&"6: unexpected text after string".to_string()),
            "{e:?}"
        );
    }

    #[test]
    fn unclosed_list() {
        let e = errors("[board]\nname = \"x\"\ntarget = \"mips-unknown-linux-musl\"\ncpu = \"c\"\nfeatures = [\"a\",\n");
        assert!(
            e.contains(&"5: list for 'features' is not closed with ']'".to_string()),
            "{e:?}"
        );
    }

    #[test]
    fn bad_feature_names() {
        let e = errors("[board]\nname = \"x\"\ntarget = \"mips-unknown-linux-musl\"\ncpu = \"c\"\nfeatures = [\"a b\"]\n");
        assert!(
            e.contains(&"5: bad feature name 'a b'".to_string()),
            "{e:?}"
        );
    }

    #[test]
    fn comment_stripping_respects_strings() {
        assert_eq!(strip_comment(r#"a = "x # y" # z"#), r#"a = "x # y" "#);
        assert_eq!(strip_comment(r#"a = "x \" # y" # z"#), r#"a = "x \" # y" "#);
        assert_eq!(strip_comment("# all"), "");
    }

    #[test]
    fn names() {
        assert!(valid_board_name("ath79-generic"));
        assert!(!valid_board_name("../etc/passwd"));
        assert!(!valid_board_name(""));
        assert!(valid_feature("tls"));
        assert!(valid_feature("firmware-server/tls"));
        assert!(!valid_feature("--all-features"));
    }

    #[test]
    fn shipped_board_files_parse() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap();
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let b = parse_board(&text).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            assert_eq!(
                Some(b.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            n += 1;
        }
        assert!(n >= 4, "expected at least four board files, found {n}");
    }
}
