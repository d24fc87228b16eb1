//! Generic parser for the TOML subset used by the config file.
//!
//! Supported: `# comments` (also trailing), `[table]`, `[[array-of-tables]]`,
//! `key = value` with bare (`[A-Za-z0-9_-]+`) or quoted keys, and values that are
//! basic strings (`"..."` with `\" \\ \n \t \r \uXXXX \UXXXXXXXX` escapes), literal
//! strings (`'...'`), 64-bit integers (optional sign, `_` between digits),
//! `true`/`false` and lists of values (which may span several lines).
//! Not supported: floats, dates, inline tables, dotted keys, multi-line strings.
//!
//! The parser is schema-free: it only builds a [`Document`] keeping the line numbers,
//! and reports *all* syntax errors as `(line, message)` pairs (line 0 = whole file).
//! Input is bounded ([`MAX_FILE_SIZE`], [`MAX_LINE_LEN`], list nesting depth) and the
//! parser never panics.

use std::collections::HashMap;
use std::fmt;

/// Largest accepted document, in bytes.
pub const MAX_FILE_SIZE: usize = 1 << 20;
/// Longest accepted line, in bytes (without the line ending).
pub const MAX_LINE_LEN: usize = 4096;
/// Deepest accepted list nesting (`[[[1]]]` is 3).
const MAX_DEPTH: usize = 8;

/// A parsed document: `tables[0]` is always the implicit root table (name `""`,
/// line 0) holding the keys written before the first header; the other tables
/// follow in file order (each `[[x]]` header is its own table).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    pub tables: Vec<Table>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub name: String,
    /// Written as `[[name]]`.
    pub array: bool,
    /// Line of the header (0 for the root table).
    pub line: u32,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: Value,
    /// Line of the key (also for a list spanning several lines).
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    List(Vec<Value>),
}

/// Writes the value in config-file syntax (strings quoted and escaped), so that
/// parsing `key = {value}` gives the same value back.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => write_quoted(f, s),
            Value::Int(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}

fn write_quoted(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    use fmt::Write;
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c < ' ' || c == '\u{7f}' => write!(f, "\\u{:04X}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// A key as it must be written in a file: bare when possible, quoted otherwise.
pub fn format_key(key: &str) -> String {
    if !key.is_empty() && key.bytes().all(is_bare) {
        key.to_string()
    } else {
        Value::Str(key.to_string()).to_string()
    }
}

fn is_bare(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Parses `text`; on failure returns every error found, sorted by line.
pub fn parse(text: &str) -> Result<Document, Vec<(u32, String)>> {
    let (doc, errs) = parse_partial(text);
    if errs.is_empty() {
        Ok(doc)
    } else {
        Err(errs)
    }
}

/// Like [`parse`], but also returns what could be parsed despite the errors:
/// statements with a syntax error are left out, and so are the entries under a
/// broken section header (so that a schema check of the partial document reports
/// no follow-on errors, except for keys that are missing because their line was
/// broken). With the file or a line too long the document is empty.
pub fn parse_partial(text: &str) -> (Document, Vec<(u32, String)>) {
    let empty = || Document {
        tables: vec![Table {
            name: String::new(),
            array: false,
            line: 0,
            entries: Vec::new(),
        }],
    };
    if text.len() > MAX_FILE_SIZE {
        return (
            empty(),
            vec![(
                0,
                format!("file is larger than 1 MiB ({MAX_FILE_SIZE} bytes)"),
            )],
        );
    }
    let long: Vec<(u32, String)> = text
        .split('\n')
        .enumerate()
        .filter(|(_, l)| l.strip_suffix('\r').unwrap_or(l).len() > MAX_LINE_LEN)
        .map(|(i, _)| {
            (
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                format!("line is longer than {MAX_LINE_LEN} bytes"),
            )
        })
        .collect();
    if !long.is_empty() {
        return (empty(), long);
    }
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    Parser {
        text,
        b: text.as_bytes(),
        pos: start,
        line: 1,
        depth: 0,
    }
    .run()
}

/// A syntax error; `resume` = the cursor already sits at the start of the next
/// statement (nothing must be skipped).
struct SyntaxError {
    line: u32,
    msg: String,
    resume: bool,
}

enum Stmt {
    Header {
        name: String,
        array: bool,
        line: u32,
    },
    Entry(Entry),
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    pos: usize,
    line: u32,
    depth: usize,
}

impl Parser<'_> {
    fn run(mut self) -> (Document, Vec<(u32, String)>) {
        let mut tables = vec![Table {
            name: String::new(),
            array: false,
            line: 0,
            entries: Vec::new(),
        }];
        let mut errs: Vec<(u32, String)> = Vec::new();
        // Keys of the current table -> line; headers seen -> (line, array).
        let mut keys: HashMap<String, u32> = HashMap::new();
        let mut headers: HashMap<String, (u32, bool)> = HashMap::new();
        // After a broken header: drop entries until the next good one.
        let mut dropping = false;
        loop {
            self.skip_ws();
            let stmt = match self.peek() {
                None => break,
                Some(b'#') => {
                    self.skip_comment();
                    continue;
                }
                _ if self.at_eol() => {
                    self.newline();
                    continue;
                }
                Some(b'[') => {
                    dropping = true;
                    self.header()
                }
                Some(_) => self.key_value().map(Stmt::Entry),
            };
            let stmt = stmt.and_then(|s| self.end_of_line().map(|()| s));
            match stmt {
                Ok(Stmt::Header { name, array, line }) => {
                    dropping = false;
                    match headers.get(&name) {
                        Some(&(first, was_array)) if was_array != array => {
                            let (a, b) = if was_array { ("[[", "]]") } else { ("[", "]") };
                            errs.push((
                                line,
                                format!(
                                    "section {} was already written {a}{}{b} at line {first}",
                                    format_key(&name),
                                    format_key(&name)
                                ),
                            ));
                        }
                        Some(&(first, _)) if !array => errs.push((
                            line,
                            format!(
                                "duplicate section [{}] (first at line {first})",
                                format_key(&name)
                            ),
                        )),
                        Some(_) => {}
                        None => {
                            headers.insert(name.clone(), (line, array));
                        }
                    }
                    keys.clear();
                    tables.push(Table {
                        name,
                        array,
                        line,
                        entries: Vec::new(),
                    });
                }
                Ok(Stmt::Entry(_)) if dropping => {}
                Ok(Stmt::Entry(e)) => {
                    if let Some(first) = keys.get(&e.key) {
                        errs.push((
                            e.line,
                            format!(
                                "duplicate key {} (first set at line {first})",
                                format_key(&e.key)
                            ),
                        ));
                    } else {
                        keys.insert(e.key.clone(), e.line);
                        if let Some(t) = tables.last_mut() {
                            t.entries.push(e);
                        }
                    }
                }
                Err(e) => {
                    errs.push((e.line, e.msg));
                    self.recover(e.resume);
                }
            }
        }
        errs.sort_by_key(|e| e.0);
        (Document { tables }, errs)
    }

    /// After an error: skip the rest of the line; inside a list also skip the
    /// following lines up to the next thing that looks like a statement.
    fn recover(&mut self, resume: bool) {
        let in_list = self.depth > 0;
        self.depth = 0;
        if resume {
            return;
        }
        self.skip_line();
        if in_list {
            while self.pos < self.b.len() && !looks_like_statement(self.b, self.pos, false) {
                self.skip_line();
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.b.get(self.pos.saturating_add(off)).copied()
    }

    fn at_eol(&self) -> bool {
        match self.peek() {
            None | Some(b'\n') => true,
            Some(b'\r') => self.peek_at(1) == Some(b'\n'),
            _ => false,
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_comment(&mut self) {
        if self.peek() == Some(b'#') {
            while !matches!(self.peek(), None | Some(b'\n')) {
                self.pos += 1;
            }
        }
    }

    /// Consumes one line ending, if any.
    fn newline(&mut self) -> bool {
        let n = match (self.peek(), self.peek_at(1)) {
            (Some(b'\n'), _) => 1,
            (Some(b'\r'), Some(b'\n')) => 2,
            _ => return false,
        };
        self.pos += n;
        self.line += 1;
        true
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == b'\n' {
                self.line += 1;
                return;
            }
        }
    }

    /// Skips blanks, comments and line endings; true if a line ending was crossed.
    fn skip_blank(&mut self) -> bool {
        let mut crossed = false;
        loop {
            self.skip_ws();
            self.skip_comment();
            if !self.newline() {
                return crossed;
            }
            crossed = true;
        }
    }

    fn err(&self, msg: String) -> SyntaxError {
        SyntaxError {
            line: self.line,
            msg,
            resume: false,
        }
    }

    /// What is at the cursor, for "got ..." in messages.
    fn snippet(&self) -> String {
        if self.peek().is_none() {
            return "end of file".into();
        }
        if self.at_eol() {
            return "end of line".into();
        }
        let rest = self.text.get(self.pos..).unwrap_or("");
        let mut chars = rest.chars();
        let mut tok = String::new();
        let mut n = 0;
        if let Some(c) = chars.next() {
            tok.extend(c.escape_debug());
            for c in chars {
                if c.is_whitespace() || matches!(c, ',' | ']' | '#') {
                    break;
                }
                if n == 24 {
                    tok.push_str("...");
                    break;
                }
                tok.extend(c.escape_debug());
                n += 1;
            }
        }
        format!("'{tok}'")
    }

    fn end_of_line(&mut self) -> Result<(), SyntaxError> {
        self.skip_ws();
        self.skip_comment();
        if self.at_eol() {
            self.newline();
            Ok(())
        } else {
            Err(self.err(format!("expected end of line, got {}", self.snippet())))
        }
    }

    fn header(&mut self) -> Result<Stmt, SyntaxError> {
        let line = self.line;
        self.pos += 1;
        let array = self.peek() == Some(b'[');
        if array {
            self.pos += 1;
        }
        self.skip_ws();
        let name = self.key("a section name")?;
        self.skip_ws();
        if self.peek() == Some(b'.') {
            return Err(self.err("dotted section names are not supported".into()));
        }
        let close: &[u8] = if array { b"]]" } else { b"]" };
        if !self.b.get(self.pos..).unwrap_or(&[]).starts_with(close) {
            return Err(self.err(format!(
                "expected '{}' to close the section header, got {}",
                if array { "]]" } else { "]" },
                self.snippet()
            )));
        }
        self.pos += close.len();
        if name.is_empty() {
            return Err(SyntaxError {
                line,
                msg: "empty section name".into(),
                resume: false,
            });
        }
        Ok(Stmt::Header { name, array, line })
    }

    fn key(&mut self, what: &str) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(b'"') => self.basic_string(),
            Some(b'\'') => self.literal_string(),
            _ => {
                let start = self.pos;
                while self.peek().is_some_and(is_bare) {
                    self.pos += 1;
                }
                if start == self.pos {
                    return Err(self.err(format!(
                        "expected {what} (letters, digits, '_', '-' or \"quoted\"), got {}",
                        self.snippet()
                    )));
                }
                Ok(String::from_utf8_lossy(&self.b[start..self.pos]).into_owned())
            }
        }
    }

    fn key_value(&mut self) -> Result<Entry, SyntaxError> {
        let line = self.line;
        let key = self.key("a key")?;
        self.skip_ws();
        match self.peek() {
            Some(b'=') => self.pos += 1,
            Some(b'.') => return Err(self.err("dotted keys are not supported".into())),
            _ => {
                return Err(self.err(format!(
                    "expected '=' after key {}, got {}",
                    format_key(&key),
                    self.snippet()
                )))
            }
        }
        self.skip_ws();
        if self.at_eol() || self.peek() == Some(b'#') {
            return Err(self.err(format!("expected a value after '{} ='", format_key(&key))));
        }
        let value = self.value(line)?;
        Ok(Entry { key, value, line })
    }

    fn value(&mut self, key_line: u32) -> Result<Value, SyntaxError> {
        match self.peek() {
            Some(b'"') => self.basic_string().map(Value::Str),
            Some(b'\'') => self.literal_string().map(Value::Str),
            Some(b'[') => self.list(key_line),
            Some(b'{') => Err(self.err("inline tables are not supported".into())),
            _ => self.scalar(),
        }
    }

    fn scalar(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"_-+.:".contains(&c))
        {
            self.pos += 1;
        }
        let tok = String::from_utf8_lossy(&self.b[start..self.pos]).into_owned();
        match tok.as_str() {
            "" => Err(self.err(format!(
                "expected a value (\"string\", integer, true/false or [list]), got {}",
                self.snippet()
            ))),
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => parse_int(&tok).map(Value::Int).map_err(|m| self.err(m)),
        }
    }

    fn basic_string(&mut self) -> Result<String, SyntaxError> {
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.err("string is not closed (missing '\"')".into()));
            };
            match c {
                b'"' => {
                    self.pos += 1;
                    break;
                }
                b'\\' => {
                    self.pos += 1;
                    let e = self.peek();
                    let simple = match e {
                        Some(b'"') => Some(b'"'),
                        Some(b'\\') => Some(b'\\'),
                        Some(b'n') => Some(b'\n'),
                        Some(b't') => Some(b'\t'),
                        Some(b'r') => Some(b'\r'),
                        _ => None,
                    };
                    if let Some(s) = simple {
                        self.pos += 1;
                        out.push(s);
                    } else if e == Some(b'u') || e == Some(b'U') {
                        self.pos += 1;
                        let ch = self.unicode_escape(if e == Some(b'u') { 4 } else { 8 })?;
                        out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    } else if self.at_eol() {
                        return Err(self.err("string is not closed (missing '\"')".into()));
                    } else {
                        return Err(self.err(format!(
                            "unknown escape {} in string (supported: \\\" \\\\ \\n \\t \\r \\uXXXX \\UXXXXXXXX)",
                            self.snippet_escape()
                        )));
                    }
                }
                _ if self.at_eol() => {
                    return Err(self.err("string is not closed (missing '\"')".into()))
                }
                c if is_control(c) => {
                    return Err(self.err(format!(
                        "control character {} in string (write it as an escape)",
                        self.snippet_char()
                    )))
                }
                c => {
                    self.pos += 1;
                    out.push(c);
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.err("invalid UTF-8 in string".into()))
    }

    fn snippet_char(&self) -> String {
        let c = self
            .text
            .get(self.pos..)
            .and_then(|s| s.chars().next())
            .unwrap_or('?');
        format!("'{}'", c.escape_debug())
    }

    fn snippet_escape(&self) -> String {
        let c = self
            .text
            .get(self.pos..)
            .and_then(|s| s.chars().next())
            .unwrap_or('?');
        format!("'\\{}'", c.escape_debug())
    }

    fn unicode_escape(&mut self, n: usize) -> Result<char, SyntaxError> {
        let digits = self.b.get(self.pos..self.pos.saturating_add(n));
        let code = digits
            .filter(|d| d.iter().all(u8::is_ascii_hexdigit))
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok());
        match code.and_then(char::from_u32) {
            Some(ch) => {
                self.pos += n;
                Ok(ch)
            }
            None => Err(self.err(format!(
                "invalid unicode escape (expected {n} hex digits of a valid code point)"
            ))),
        }
    }

    fn literal_string(&mut self) -> Result<String, SyntaxError> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                Some(b'\'') => break,
                _ if self.at_eol() => {
                    return Err(self.err("string is not closed (missing \"'\")".into()))
                }
                Some(c) if is_control(c) => {
                    return Err(self.err(format!(
                        "control character {} in string",
                        self.snippet_char()
                    )))
                }
                _ => self.pos += 1,
            }
        }
        let s = String::from_utf8_lossy(&self.b[start..self.pos]).into_owned();
        self.pos += 1;
        Ok(s)
    }

    fn list(&mut self, key_line: u32) -> Result<Value, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err(format!("lists nested deeper than {MAX_DEPTH} levels")));
        }
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.list_gap(key_line)?;
            if self.peek() == Some(b']') {
                self.pos += 1;
                break;
            }
            items.push(self.value(key_line)?);
            self.list_gap(key_line)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    break;
                }
                _ => {
                    return Err(self.err(format!(
                        "expected ',' or ']' in list, got {}",
                        self.snippet()
                    )))
                }
            }
        }
        self.depth -= 1;
        Ok(Value::List(items))
    }

    /// Skips blanks/comments/line ends between list items, and detects a list that
    /// was never closed (end of file, or a new line that starts a statement).
    fn list_gap(&mut self, key_line: u32) -> Result<(), SyntaxError> {
        let crossed = self.skip_blank();
        let eof = self.peek().is_none();
        if eof || (crossed && looks_like_statement(self.b, self.pos, true)) {
            return Err(SyntaxError {
                line: key_line,
                msg: "list is not closed (missing ']')".into(),
                resume: !eof,
            });
        }
        Ok(())
    }
}

fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

/// Does the line at `i` start with `key =` or a `[section]` header?
/// (`bare_headers_only`: inside a list, `["a"]` is a nested list, not a header.)
fn looks_like_statement(b: &[u8], mut i: usize, bare_headers_only: bool) -> bool {
    let at = |i: usize| b.get(i).copied();
    let skip_ws = |mut i: usize| {
        while matches!(at(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        i
    };
    let key_end = |i: usize, quoted_ok: bool| -> usize {
        match at(i) {
            Some(q @ (b'"' | b'\'')) if quoted_ok => {
                let mut j = i + 1;
                while let Some(c) = at(j) {
                    match c {
                        b'\n' => return i,
                        b'\\' if q == b'"' => j += 2,
                        c if c == q => return j + 1,
                        _ => j += 1,
                    }
                }
                i
            }
            _ => {
                let mut j = i;
                while at(j).is_some_and(is_bare) {
                    j += 1;
                }
                j
            }
        }
    };
    i = skip_ws(i);
    if at(i) == Some(b'[') {
        i += 1;
        if at(i) == Some(b'[') {
            i += 1;
        }
        i = skip_ws(i);
        let j = key_end(i, !bare_headers_only);
        j > i && at(skip_ws(j)) == Some(b']')
    } else {
        let j = key_end(i, true);
        j > i && at(skip_ws(j)) == Some(b'=')
    }
}

fn parse_int(tok: &str) -> Result<i64, String> {
    let digits = tok.strip_prefix(['+', '-']).unwrap_or(tok);
    let b = digits.as_bytes();
    let well_formed = b.first().is_some_and(u8::is_ascii_digit)
        && b.last().is_some_and(u8::is_ascii_digit)
        && b.iter().all(|&c| c.is_ascii_digit() || c == b'_')
        && !digits.contains("__");
    if !well_formed {
        let looks_numeric = tok
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == b'+' || c == b'-');
        return Err(if looks_numeric {
            format!("expected an integer, got '{tok}' (sizes and durations with a unit need quotes, e.g. \"64K\"; floats are not supported)")
        } else {
            format!("expected a value (\"string\", integer, true/false or [list]), got '{tok}'")
        });
    }
    if b.len() > 1 && b[0] == b'0' {
        return Err(format!("leading zeros are not allowed, got '{tok}'"));
    }
    let clean: String = tok.chars().filter(|&c| c != '_').collect();
    clean
        .parse::<i64>()
        .map_err(|_| format!("integer out of range (64-bit), got '{tok}'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    fn errs(text: &str) -> Vec<(u32, String)> {
        match parse(text) {
            Ok(d) => panic!("expected errors, got {d:?}"),
            Err(e) => e,
        }
    }

    fn one_err(text: &str) -> (u32, String) {
        let e = errs(text);
        assert_eq!(e.len(), 1, "{e:?}");
        e.into_iter().next().unwrap()
    }

    #[test]
    fn parses_spec_example() {
        let text = r#"# top comment
[server]
listen = ["127.0.0.1:8080"]        # built-in default
workers = 0
max_body_size = "1M"
tcp_nodelay = true
defer_accept = false
index = [
  "index.html",   # first
  "index.htm",
]

[mime]
wasm = "application/wasm"

[[vhost]]
names = ["router.lan", "192.168.1.1"]
root = "/www/admin"
[[vhost]]
"names" = []
"#;
        let d = parse(text).unwrap();
        assert_eq!(d.tables.len(), 5);
        assert_eq!(d.tables[0].name, "");
        assert!(d.tables[0].entries.is_empty());
        let srv = &d.tables[1];
        assert_eq!(
            (srv.name.as_str(), srv.array, srv.line),
            ("server", false, 2)
        );
        let keys: Vec<_> = srv
            .entries
            .iter()
            .map(|e| (e.key.as_str(), e.line))
            .collect();
        assert_eq!(
            keys,
            [
                ("listen", 3),
                ("workers", 4),
                ("max_body_size", 5),
                ("tcp_nodelay", 6),
                ("defer_accept", 7),
                ("index", 8)
            ]
        );
        assert_eq!(srv.entries[0].value, Value::List(vec![s("127.0.0.1:8080")]));
        assert_eq!(srv.entries[1].value, Value::Int(0));
        assert_eq!(srv.entries[3].value, Value::Bool(true));
        assert_eq!(
            srv.entries[5].value,
            Value::List(vec![s("index.html"), s("index.htm")])
        );
        assert_eq!(d.tables[2].entries[0].value, s("application/wasm"));
        assert!(d.tables[3].array && d.tables[4].array);
        assert_eq!(d.tables[3].line, 16);
        assert_eq!(d.tables[4].entries[0].key, "names");
        assert_eq!(d.tables[4].entries[0].value, Value::List(vec![]));
    }

    #[test]
    fn root_keys_crlf_bom_and_whitespace() {
        let d = parse("\u{feff}a = 1\r\n\t[ x ]  \r\n  b='lit\\n' # c\r\n").unwrap();
        assert_eq!(d.tables[0].entries[0].key, "a");
        assert_eq!(d.tables[1].name, "x");
        assert_eq!(d.tables[1].line, 2);
        assert_eq!(d.tables[1].entries[0].value, s("lit\\n"));
        assert_eq!(d.tables[1].entries[0].line, 3);
        assert_eq!(parse("").unwrap().tables.len(), 1);
    }

    #[test]
    fn strings_and_integers() {
        let d = parse(
            "a = \"q\\\" b\\\\ n\\n t\\t r\\r \\u00e9 \\U0001F600 # not a comment\"\n\
             b = -9_223_372_036_854_775_808\nc = +42\nd = 0\ne = 'C:\\dir'\nf = \"\"\n\
             g = [[1, 2], [\"x\"], []]\n\"quoted key\" = true\n",
        )
        .unwrap();
        let e = &d.tables[0].entries;
        assert_eq!(e[0].value, s("q\" b\\ n\n t\t r\r é 😀 # not a comment"));
        assert_eq!(e[1].value, Value::Int(i64::MIN));
        assert_eq!(e[2].value, Value::Int(42));
        assert_eq!(e[3].value, Value::Int(0));
        assert_eq!(e[4].value, s("C:\\dir"));
        assert_eq!(e[5].value, s(""));
        assert_eq!(
            e[6].value,
            Value::List(vec![
                Value::List(vec![Value::Int(1), Value::Int(2)]),
                Value::List(vec![s("x")]),
                Value::List(vec![]),
            ])
        );
        assert_eq!(e[7].key, "quoted key");
    }

    #[test]
    fn display_round_trips() {
        let vals = [
            s("plain"),
            s("q\"\\\n\t\r\u{1}\u{7f}é 😀"),
            Value::Int(-5),
            Value::Bool(false),
            Value::List(vec![s("a"), Value::Int(1), Value::List(vec![])]),
        ];
        for v in vals {
            let text = format!("{} = {v}\n", format_key("k+y"));
            let d = parse(&text).unwrap();
            assert_eq!(d.tables[0].entries[0].key, "k+y");
            assert_eq!(d.tables[0].entries[0].value, v, "{text}");
        }
        assert_eq!(format_key("a_b-1"), "a_b-1");
        assert_eq!(format_key(""), "\"\"");
    }

    #[test]
    fn size_limits() {
        let big = "#".repeat(MAX_FILE_SIZE + 1);
        let (l, m) = one_err(&big);
        assert_eq!(l, 0);
        assert!(m.contains("larger than 1 MiB"), "{m}");
        let text = format!(
            "a = 1\nb = \"{}\"\nc = 2\n#{}\n",
            "x".repeat(4100),
            "y".repeat(4096)
        );
        let e = errs(&text);
        assert_eq!(e.iter().map(|x| x.0).collect::<Vec<_>>(), [2, 4], "{e:?}");
        assert!(e[0].1.contains("longer than 4096"));
        // Exactly 4096 bytes is fine, also with CRLF.
        assert!(parse(&format!("#{}\r\n", "y".repeat(4095))).is_ok());
    }

    #[test]
    fn duplicates() {
        let (l, m) = one_err("[s]\na = 1\nb = 2\na = 3\n");
        assert_eq!(l, 4);
        assert_eq!(m, "duplicate key a (first set at line 2)");
        // Same key in different tables / array instances is fine.
        assert!(parse("a = 1\n[s]\na = 1\n[[v]]\na = 1\n[[v]]\na = 1\n").is_ok());
        let (l, m) = one_err("[s]\n[t]\n[s]\n");
        assert_eq!(l, 3);
        assert_eq!(m, "duplicate section [s] (first at line 1)");
        let (l, m) = one_err("[[v]]\n[v]\n");
        assert_eq!(l, 2);
        assert_eq!(m, "section v was already written [[v]] at line 1");
        let (l, _) = one_err("[v]\n[[v]]\n");
        assert_eq!(l, 2);
        assert!(parse("[\"a b\"]\n[\"a b\"]\n").is_err());
    }

    #[test]
    fn syntax_errors() {
        let cases: &[(&str, u32, &str)] = &[
            ("a = \"abc\n", 1, "string is not closed"),
            ("a = \"abc", 1, "string is not closed"),
            ("a = 'abc\n", 1, "string is not closed"),
            ("a = \"a\\qb\"\n", 1, "unknown escape '\\q'"),
            ("a = \"\\u12\"\n", 1, "invalid unicode escape"),
            ("a = \"\\uD800\"\n", 1, "invalid unicode escape"),
            ("a = \"x\u{1}\"\n", 1, "control character"),
            ("\n\na = yes\n", 3, "got 'yes'"),
            ("a = 1.5\n", 1, "expected an integer, got '1.5'"),
            ("a = 64K\n", 1, "need quotes"),
            ("a = 0x10\n", 1, "expected an integer"),
            ("a = 1__0\n", 1, "expected an integer"),
            ("a = 012\n", 1, "leading zeros"),
            ("a = 9223372036854775808\n", 1, "out of range"),
            ("a = \n", 1, "expected a value after 'a ='"),
            ("a = # c\n", 1, "expected a value"),
            ("a 1\n", 1, "expected '=' after key a, got '1'"),
            ("a\n", 1, "got end of line"),
            ("a.b = 1\n", 1, "dotted keys"),
            ("= 1\n", 1, "expected a key"),
            ("a = {x = 1}\n", 1, "inline tables"),
            ("a = 1 2\n", 1, "expected end of line, got '2'"),
            ("a = \"x\" y\n", 1, "expected end of line"),
            ("[s\n", 1, "expected ']' to close"),
            ("[[s]\n", 1, "expected ']]' to close"),
            ("[s.t]\n", 1, "dotted section"),
            ("[]\n", 1, "expected a section name"),
            ("[\"\"]\n", 1, "empty section name"),
            ("[s] x\n", 1, "expected end of line"),
            ("a = [1 2]\n", 1, "expected ',' or ']' in list, got '2'"),
            ("a = [1,,2]\n", 1, "expected a value"),
            ("a = [1,\n", 1, "list is not closed"),
            ("a = [\"x\"\n", 1, "list is not closed"),
            ("a = [[[[[[[[[1]]]]]]]]]\n", 1, "nested deeper"),
            ("a = 1\rb = 2\n", 1, "expected end of line, got '\\rb'"),
        ];
        for &(text, line, want) in cases {
            let (l, m) = one_err(text);
            assert!(m.contains(want), "{text:?}: {m:?} lacks {want:?}");
            assert_eq!(l, line, "{text:?}: {m}");
        }
        assert!(parse("a = [[[[[[[[1]]]]]]]]\n").is_ok());
    }

    #[test]
    fn all_errors_reported_with_recovery() {
        let text = "[server]\n\
                    a = yes\n\
                    b = [\n  \"x\",\n  bad,\n  \"y\",\n]\n\
                    c = 1\n\
                    d = [\"open\",\n\
                    e = 2\n\
                    [mime]\n\
                    f = \"z\n\
                    f = 1\n\
                    [[vhost]]\n\
                    g = [1,\n";
        let e = errs(text);
        let lines: Vec<u32> = e.iter().map(|x| x.0).collect();
        assert_eq!(lines, [2, 5, 9, 12, 15], "{e:?}");
        assert!(e[2].1.contains("list is not closed"));
        // The statements after a broken list are still parsed (duplicate detection
        // shows that `e = 2` landed in the table).
        let e = errs("d = [1,\ne = 2\ne = 3\n");
        assert_eq!(
            e,
            [
                (1, "list is not closed (missing ']')".to_string()),
                (3, "duplicate key e (first set at line 2)".to_string())
            ]
        );
    }

    #[test]
    fn partial_document() {
        let (d, e) = parse_partial("[s]\na = 1\nb = x\n[t\nc = 2\n[u]\nd = [1,\n");
        assert_eq!(e.iter().map(|x| x.0).collect::<Vec<_>>(), [3, 4, 7]);
        let names: Vec<_> = d
            .tables
            .iter()
            .map(|t| (t.name.as_str(), t.entries.len()))
            .collect();
        assert_eq!(names, [("", 0), ("s", 1), ("u", 0)]);
        let (d, e) = parse_partial(&"x".repeat(5000));
        assert_eq!((d.tables.len(), e.len()), (1, 1));
    }

    /// Deterministic fuzzing: random bytes biased to syntax characters, and
    /// mutations of a valid document. Must never panic.
    #[test]
    fn fuzz_never_panics() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[u8] = b"[]=\"'#\\,\n\r\t ab_-019xuU.{}+:\x00\x7f";
        let base = "[server]\nlisten = [\"127.0.0.1:8080\", # c\n \"[::1]:0\"]\nworkers = 4\n\
                    root = \"/w\\u00e9\"\n[[vhost]]\nnames = ['a', \"b\"]\n[mime]\n\"c++\" = 'x'\n";
        for i in 0..4000 {
            let len = (rnd() % 200) as usize;
            let bytes: Vec<u8> = if i % 2 == 0 {
                (0..len)
                    .map(|_| {
                        let r = rnd();
                        if r % 10 == 0 {
                            (r >> 8) as u8
                        } else {
                            alphabet[(r >> 8) as usize % alphabet.len()]
                        }
                    })
                    .collect()
            } else {
                let mut b = base.as_bytes().to_vec();
                for _ in 0..(1 + rnd() % 4) {
                    let r = rnd();
                    let at = (r >> 16) as usize % (b.len() + 1);
                    let c = alphabet[(r >> 8) as usize % alphabet.len()];
                    match r % 3 {
                        0 if at < b.len() => b[at] = c,
                        1 if at < b.len() => {
                            b.remove(at);
                        }
                        _ => b.insert(at, c),
                    }
                }
                b
            };
            let text = String::from_utf8_lossy(&bytes);
            if let Ok(d) = parse(&text) {
                // Whatever parses must print back to something that parses equally.
                for t in &d.tables {
                    for e in &t.entries {
                        let again =
                            parse(&format!("{} = {}", format_key(&e.key), e.value)).unwrap();
                        assert_eq!(again.tables[0].entries[0].value, e.value);
                    }
                }
            }
        }
        // Pathological nesting and many lines.
        assert!(parse(&"[".repeat(4000)).is_err());
        assert!(parse(&format!("a = {}", "[".repeat(4000))).is_err());
        assert!(parse(&"a = [\n".repeat(100_000)).is_err());
        assert!(parse(&"x\n".repeat(100_000)).is_err());
    }
}
