//! Runtime configuration: built-in defaults, the config-file schema, layering
//! (defaults -> board text -> config file -> command line) and printing the
//! effective configuration back in config-file syntax.
//!
//! Adding a section: add its name to [`sections_known`] and one arm to
//! `Config::apply_table`.

pub mod cli;
pub use fws_api::doc;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Read;
use std::net::{Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::LevelFilter;

pub use cli::{Cli, Command};
pub use doc::{Document, Entry, Table, Value};

/// Largest accepted config file (and board text), in bytes.
pub const MAX_CONFIG_SIZE: usize = doc::MAX_FILE_SIZE;

const WORKERS_MAX: usize = 256;
const CONNECTIONS_MAX: usize = 65536;
const DURATION_MAX_MS: u64 = 24 * 3600 * 1000;
const LEVELS: &str = "off|error|warn|info|debug|trace";

/// A name-based virtual host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VHost {
    /// Host names, lowercased (port not included).
    pub names: Vec<String>,
    pub root: PathBuf,
}

/// The effective engine configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub root: PathBuf,
    /// 0 = one per CPU (resolved by the engine, not here).
    pub workers: usize,
    pub max_connections: usize,
    pub backlog: u32,
    pub buffer_size: usize,
    pub buffers_per_worker: usize,
    pub tcp_nodelay: bool,
    pub tcp_fastopen: u32,
    pub defer_accept: bool,
    pub header_timeout: Duration,
    pub keepalive_timeout: Duration,
    pub send_timeout: Duration,
    pub shutdown_grace: Duration,
    /// 0 = unlimited.
    pub max_keepalive_requests: u32,
    pub max_body_size: u64,
    pub index: Vec<String>,
    pub follow_symlinks: bool,
    pub gzip_static: bool,
    pub hide_dotfiles: bool,
    /// Open-file cache entries per worker (0 = off).
    pub file_cache: usize,
    /// How long a cached open file (or a cached miss) is trusted.
    pub file_cache_ttl: Duration,
    pub log_level: LevelFilter,
    /// The user to switch to once the listeners are bound ("" = stay).
    pub user: String,
    /// The group to switch to ("" = the user's primary group).
    pub group: String,
    /// Refuse to serve as root: started as root, a `user` is required.
    pub require_drop: bool,
    /// With every slot taken, a new connection takes the slot of the
    /// longest-idle one (keep-alive idle, lingering, or still sending its
    /// head) instead of getting a 503.
    pub reclaim_slots: bool,
    /// `[mime]` overrides of the built-in table: (extension lowercased, type).
    pub mime: Vec<(String, String)>,
    pub vhosts: Vec<VHost>,
    /// Sections that belong to plugins, kept as written for the plugin to
    /// validate. A layer that has any section of a plugin replaces the
    /// earlier layers' sections of that plugin.
    pub plugin_sections: Vec<PluginSection>,
}

/// A plugin's config section and the file it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSection {
    pub plugin: String,
    pub file: String,
    pub table: Table,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 8080))],
            root: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/www")),
            workers: 0,
            max_connections: 1024,
            backlog: 511,
            buffer_size: 4096,
            buffers_per_worker: 64,
            tcp_nodelay: true,
            tcp_fastopen: 0,
            defer_accept: false,
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(15),
            send_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
            max_keepalive_requests: 1000,
            max_body_size: 1 << 20,
            index: vec!["index.html".into(), "index.htm".into()],
            follow_symlinks: false,
            gzip_static: true,
            hide_dotfiles: true,
            file_cache: 64,
            file_cache_ttl: Duration::from_secs(1),
            log_level: LevelFilter::Info,
            user: String::new(),
            group: String::new(),
            require_drop: false,
            reclaim_slots: false,
            mime: Vec::new(),
            vhosts: Vec::new(),
            plugin_sections: Vec::new(),
        }
    }
}

/// Sections the config file may contain (`vhost` is written `[[vhost]]`).
pub fn sections_known() -> &'static [&'static str] {
    &["server", "mime", "vhost"]
}

/// Defaults -> `board_text` (reported as file `<board>`) -> `cli.config` -> CLI
/// overrides. Every error of every layer is returned, each ready to print as one
/// stderr line: problems in the config text as `FILE:LINE: message`; start-up
/// failures (config file unreadable or over 1 MiB, a command-line value that
/// conflicts with the config) as `firmware-server: ...`.
pub fn build(cli: &Cli, board_text: Option<&str>) -> Result<Config, Vec<String>> {
    let mut cfg = Config::default();
    let mut errs = Vec::new();
    if let Some(text) = board_text {
        if let Err(e) = cfg.apply_text(text, "<board>") {
            errs.extend(e);
        }
    }
    if let Some(path) = &cli.config {
        let name = path.display().to_string();
        match read_config(path) {
            Ok(bytes) => {
                if let Err(e) = cfg.apply_bytes(bytes, &name) {
                    errs.extend(e);
                }
            }
            Err(msg) => errs.push(format!("firmware-server: {name}: {msg}")),
        }
    }
    if let Err(e) = cli.apply(&mut cfg) {
        errs.push(format!("firmware-server: {e}"));
    }
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(errs)
    }
}

/// Collected while applying one document.
#[derive(Default)]
struct Apply {
    errs: Vec<(u32, String)>,
    /// The current table contains a syntax error (missing keys are not reported).
    broken: bool,
    workers_line: Option<u32>,
    group_line: Option<u32>,
    max_connections_line: Option<u32>,
    /// Lowercased mime extension -> line (duplicates within this document).
    mime_seen: HashMap<String, u32>,
    /// Index into `Config::mime` by extension (built on first use).
    mime_index: Option<HashMap<String, usize>>,
    /// `Some` once the document has a `[[vhost]]`: it then replaces earlier layers'.
    vhosts: Option<Vec<VHost>>,
    /// Host name -> line of the `[[vhost]]` that claims it.
    vhost_names: HashMap<String, u32>,
    /// Plugin sections of this document.
    plugin_sections: Vec<PluginSection>,
}

impl Apply {
    fn err(&mut self, line: u32, msg: String) {
        self.errs.push((line, msg));
    }
}

fn located(file: &str, line: u32, msg: &str) -> String {
    if line == 0 {
        format!("{file}: {msg}")
    } else {
        format!("{file}:{line}: {msg}")
    }
}

impl Config {
    /// Parses `text` and applies it; errors are `FILE:LINE: message`.
    /// Syntax errors and the schema errors of the parts that did parse are
    /// reported together.
    pub fn apply_text(&mut self, text: &str, file: &str) -> Result<(), Vec<String>> {
        let (doc, syntax) = doc::parse_partial(text);
        self.apply(&doc, file, syntax)
    }

    /// Reads (at most [`MAX_CONFIG_SIZE`] bytes) and applies a config file.
    pub fn load_file(&mut self, path: &Path) -> Result<(), Vec<String>> {
        let name = path.display().to_string();
        let bytes = read_config(path).map_err(|msg| vec![format!("{name}: {msg}")])?;
        self.apply_bytes(bytes, &name)
    }

    fn apply_bytes(&mut self, bytes: Vec<u8>, name: &str) -> Result<(), Vec<String>> {
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = 1 + good.iter().filter(|&&c| c == b'\n').count();
                return Err(vec![format!("{name}:{line}: invalid UTF-8")]);
            }
        };
        self.apply_text(&text, name)
    }

    /// Applies a parsed document on top of `self`. All-or-nothing: on error `self`
    /// is unchanged and every error is returned as `FILE:LINE: message`.
    pub fn apply_document(&mut self, doc: &Document, file: &str) -> Result<(), Vec<String>> {
        self.apply(doc, file, Vec::new())
    }

    fn apply(
        &mut self,
        doc: &Document,
        file: &str,
        syntax: Vec<(u32, String)>,
    ) -> Result<(), Vec<String>> {
        let mut new = self.clone();
        let mut st = Apply {
            errs: syntax,
            ..Apply::default()
        };
        let mut syntax_lines: Vec<u32> = st.errs.iter().map(|e| e.0).collect();
        syntax_lines.sort_unstable();
        for (i, table) in doc.tables.iter().enumerate() {
            // A syntax error inside the table may have removed a required key.
            let end = doc.tables.get(i + 1).map_or(u32::MAX, |t| t.line);
            let first = syntax_lines.partition_point(|&l| l < table.line);
            st.broken = syntax_lines.get(first).is_some_and(|&l| l < end);
            new.apply_table(table, &mut st);
        }
        if let Some(v) = st.vhosts.take() {
            new.vhosts = v;
        }
        for sec in &st.plugin_sections {
            new.plugin_sections.retain(|old| old.plugin != sec.plugin);
        }
        new.plugin_sections
            .extend(st.plugin_sections.drain(..).map(|mut sec| {
                sec.file = file.to_string();
                sec
            }));
        if !new.group.is_empty() && new.user.is_empty() {
            let line = st.group_line.unwrap_or(0);
            st.err(
                line,
                "group: needs a user to switch to as well (set user = \"NAME\")".to_string(),
            );
        }
        if st.errs.is_empty() && new.workers > 0 && new.max_connections < new.workers {
            let line = st.max_connections_line.or(st.workers_line).unwrap_or(0);
            st.err(
                line,
                format!(
                    "max_connections: expected a value >= workers ({}), got {}",
                    new.workers, new.max_connections
                ),
            );
        }
        if st.errs.is_empty() {
            *self = new;
            return Ok(());
        }
        st.errs.sort_by_key(|e| e.0);
        Err(st
            .errs
            .iter()
            .map(|(line, msg)| located(file, *line, msg))
            .collect())
    }

    /// One arm per known section.
    fn apply_table(&mut self, t: &Table, st: &mut Apply) {
        match (t.name.as_str(), t.array) {
            ("", _) => {
                for e in &t.entries {
                    st.err(
                        e.line,
                        format!(
                            "key {} is outside of any section (expected it under a header such as [server])",
                            doc::format_key(&e.key)
                        ),
                    );
                }
            }
            ("server", false) => self.apply_server(t, st),
            ("mime", false) => self.apply_mime(t, st),
            ("vhost", true) => self.apply_vhost(t, st),
            (name, array) if sections_known().contains(&name) => {
                let n = doc::format_key(name);
                let (written, want) = if array {
                    (format!("[[{n}]]"), format!("[{n}]"))
                } else {
                    (format!("[{n}]"), format!("[[{n}]]"))
                };
                st.err(t.line, format!("section {written} must be written {want}"));
            }
            (name, _) if crate::plugins::enabled(name) => {
                st.plugin_sections.push(PluginSection {
                    plugin: name.to_string(),
                    file: String::new(),
                    table: t.clone(),
                });
            }
            (name, _) if crate::plugins::ALL.contains(&name) => st.err(
                t.line,
                format!(
                    "section [{}] needs the {name} plugin, which this build does not include",
                    doc::format_key(name)
                ),
            ),
            (name, _) => st.err(
                t.line,
                format!(
                    "unknown section [{}] (expected [server], [mime], [[vhost]]{})",
                    doc::format_key(name),
                    crate::plugins::names()
                        .iter()
                        .map(|n| format!(", [{n}]"))
                        .collect::<String>()
                ),
            ),
        }
    }

    fn apply_server(&mut self, t: &Table, st: &mut Apply) {
        for e in &t.entries {
            let v = &e.value;
            let r = match e.key.as_str() {
                "listen" => listen_list(v).map(|x| self.listen = x),
                "root" => path(v).map(|x| self.root = x),
                "workers" => {
                    st.workers_line = Some(e.line);
                    int(v, 0, WORKERS_MAX as i64).map(|x| self.workers = x)
                }
                "max_connections" => {
                    st.max_connections_line = Some(e.line);
                    int(v, 1, CONNECTIONS_MAX as i64).map(|x| self.max_connections = x)
                }
                "backlog" => int(v, 1, 65535).map(|x| self.backlog = x),
                "buffer_size" => size(v, 1024, 65536).map(|x| self.buffer_size = x),
                "buffers_per_worker" => int(v, 1, 65536).map(|x| self.buffers_per_worker = x),
                "tcp_nodelay" => boolean(v).map(|x| self.tcp_nodelay = x),
                "tcp_fastopen" => int(v, 0, 65535).map(|x| self.tcp_fastopen = x),
                "defer_accept" => boolean(v).map(|x| self.defer_accept = x),
                "header_timeout" => duration(v, false).map(|x| self.header_timeout = x),
                "keepalive_timeout" => duration(v, false).map(|x| self.keepalive_timeout = x),
                "send_timeout" => duration(v, false).map(|x| self.send_timeout = x),
                "shutdown_grace" => duration(v, true).map(|x| self.shutdown_grace = x),
                "max_keepalive_requests" => {
                    int(v, 0, u32::MAX.into()).map(|x| self.max_keepalive_requests = x)
                }
                "max_body_size" => size(v, 0, i64::MAX as u64).map(|x| self.max_body_size = x),
                "index" => index_list(v).map(|x| self.index = x),
                "follow_symlinks" => boolean(v).map(|x| self.follow_symlinks = x),
                "gzip_static" => boolean(v).map(|x| self.gzip_static = x),
                "hide_dotfiles" => boolean(v).map(|x| self.hide_dotfiles = x),
                "file_cache" => int(v, 0, 4096).map(|x| self.file_cache = x),
                "file_cache_ttl" => duration(v, true).map(|x| self.file_cache_ttl = x),
                "log_level" => level(v).map(|x| self.log_level = x),
                "user" => account(v).map(|x| self.user = x),
                "group" => {
                    st.group_line = Some(e.line);
                    account(v).map(|x| self.group = x)
                }
                "require_drop" => boolean(v).map(|x| self.require_drop = x),
                "reclaim_slots" => boolean(v).map(|x| self.reclaim_slots = x),
                _ => {
                    st.err(e.line, unknown_key(&e.key, "[server]"));
                    continue;
                }
            };
            if let Err(msg) = r {
                st.err(e.line, format!("{}: {msg}", e.key));
            }
        }
    }

    fn apply_mime(&mut self, t: &Table, st: &mut Apply) {
        for e in &t.entries {
            let ext_ok = (1..=16).contains(&e.key.len())
                && e.key
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'+' | b'-'));
            if !ext_ok {
                st.err(
                    e.line,
                    format!(
                        "mime: expected a file extension without the dot (1-16 letters, digits, '_', '+', '-'), got {}",
                        doc::format_key(&e.key)
                    ),
                );
                continue;
            }
            let ty = match &e.value {
                Value::Str(s) if !s.is_empty() && s.bytes().all(|c| (0x20..0x7f).contains(&c)) => s,
                v => {
                    st.err(
                        e.line,
                        format!(
                            "mime.{}: expected a media type string like \"text/html\" (printable ASCII), got {}",
                            e.key,
                            shown(v)
                        ),
                    );
                    continue;
                }
            };
            let ext = e.key.to_ascii_lowercase();
            if let Some(first) = st.mime_seen.insert(ext.clone(), e.line) {
                st.err(
                    e.line,
                    format!("mime: extension \"{ext}\" is already set at line {first} (extensions are case-insensitive)"),
                );
                continue;
            }
            let index = st.mime_index.get_or_insert_with(|| {
                self.mime
                    .iter()
                    .enumerate()
                    .map(|(i, (x, _))| (x.clone(), i))
                    .collect()
            });
            match index.get(&ext) {
                Some(&i) => self.mime[i].1 = ty.clone(),
                None => {
                    index.insert(ext.clone(), self.mime.len());
                    self.mime.push((ext, ty.clone()));
                }
            }
        }
    }

    fn apply_vhost(&mut self, t: &Table, st: &mut Apply) {
        // Any [[vhost]] in this document replaces the vhosts of earlier layers.
        if st.vhosts.is_none() {
            st.vhosts = Some(Vec::new());
        }
        let mut names: Option<(Vec<String>, u32)> = None;
        let mut root = None;
        let mut ok = true;
        for e in &t.entries {
            let r = match e.key.as_str() {
                "names" => host_names(&e.value).map(|x| names = Some((x, e.line))),
                "root" => path(&e.value).map(|x| root = Some(x)),
                _ => {
                    st.err(e.line, unknown_key(&e.key, "[[vhost]]"));
                    ok = false;
                    continue;
                }
            };
            if let Err(msg) = r {
                st.err(e.line, format!("{}: {msg}", e.key));
                ok = false;
            }
        }
        for (key, missing) in [("names", names.is_none()), ("root", root.is_none())] {
            let present = t.entries.iter().any(|e| e.key == key);
            if missing && !present && !st.broken {
                st.err(t.line, format!("[[vhost]]: missing required key {key}"));
            }
        }
        let (Some((names, names_line)), Some(root), true) = (names, root, ok) else {
            return;
        };
        for n in &names {
            if let Some(first) = st.vhost_names.insert(n.clone(), t.line) {
                st.err(
                    names_line,
                    format!("names: host \"{n}\" is already used by the [[vhost]] at line {first}"),
                );
            }
        }
        st.vhosts
            .get_or_insert_with(Vec::new)
            .push(VHost { names, root });
    }

    /// The configuration in config-file syntax; parsing it back onto
    /// `Config::default()` gives an equal `Config`.
    pub fn to_config_text(&self) -> String {
        fn q(s: &str) -> String {
            Value::Str(s.to_string()).to_string()
        }
        fn list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
            let v: Vec<String> = items.into_iter().map(|s| q(s.as_ref())).collect();
            format!("[{}]", v.join(", "))
        }
        fn dur(d: Duration) -> String {
            if d.subsec_nanos() == 0 {
                format!("\"{}s\"", d.as_secs())
            } else {
                format!("\"{}ms\"", d.as_millis())
            }
        }
        let path = |p: &Path| q(&p.to_string_lossy());
        let level = self.log_level.as_str().to_ascii_lowercase();
        let listen: Vec<String> = self.listen.iter().map(|a| a.to_string()).collect();
        let server: [(&str, String); 27] = [
            ("listen", list(&listen)),
            ("root", path(&self.root)),
            ("workers", self.workers.to_string()),
            ("max_connections", self.max_connections.to_string()),
            ("backlog", self.backlog.to_string()),
            ("buffer_size", self.buffer_size.to_string()),
            ("buffers_per_worker", self.buffers_per_worker.to_string()),
            ("tcp_nodelay", self.tcp_nodelay.to_string()),
            ("tcp_fastopen", self.tcp_fastopen.to_string()),
            ("defer_accept", self.defer_accept.to_string()),
            ("header_timeout", dur(self.header_timeout)),
            ("keepalive_timeout", dur(self.keepalive_timeout)),
            ("send_timeout", dur(self.send_timeout)),
            ("shutdown_grace", dur(self.shutdown_grace)),
            (
                "max_keepalive_requests",
                self.max_keepalive_requests.to_string(),
            ),
            ("max_body_size", self.max_body_size.to_string()),
            ("index", list(&self.index)),
            ("follow_symlinks", self.follow_symlinks.to_string()),
            ("gzip_static", self.gzip_static.to_string()),
            ("hide_dotfiles", self.hide_dotfiles.to_string()),
            ("file_cache", self.file_cache.to_string()),
            ("file_cache_ttl", dur(self.file_cache_ttl)),
            ("log_level", q(&level)),
            ("user", q(&self.user)),
            ("group", q(&self.group)),
            ("require_drop", self.require_drop.to_string()),
            ("reclaim_slots", self.reclaim_slots.to_string()),
        ];
        let mut out = String::from("# firmware-server effective configuration\n[server]\n");
        for (k, v) in server {
            let _ = writeln!(out, "{k} = {v}");
        }
        out.push_str("\n[mime]\n");
        for (ext, ty) in &self.mime {
            let _ = writeln!(out, "{} = {}", doc::format_key(ext), q(ty));
        }
        for vh in &self.vhosts {
            let _ = writeln!(
                out,
                "\n[[vhost]]\nnames = {}\nroot = {}",
                list(&vh.names),
                path(&vh.root)
            );
        }
        out
    }
}

/// Reads at most [`MAX_CONFIG_SIZE`] bytes; the error is the message without the
/// file name.
fn read_config(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_CONFIG_SIZE as u64 + 1).read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() > MAX_CONFIG_SIZE {
        return Err(format!(
            "file is larger than 1 MiB ({MAX_CONFIG_SIZE} bytes)"
        ));
    }
    Ok(bytes)
}

fn unknown_key(key: &str, section: &str) -> String {
    format!("unknown key {} in {section}", doc::format_key(key))
}

/// A value for "got ..." in messages, in config syntax, shortened.
fn shown(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 48 {
        s
    } else {
        let mut t: String = s.chars().take(45).collect();
        t.push_str("...");
        t
    }
}

fn int<T: TryFrom<i64>>(v: &Value, lo: i64, hi: i64) -> Result<T, String> {
    match v {
        Value::Int(n) if (lo..=hi).contains(n) => T::try_from(*n).ok(),
        _ => None,
    }
    .ok_or_else(|| format!("expected an integer {lo}..={hi}, got {}", shown(v)))
}

/// A user or group name as the system databases spell them (letters,
/// digits, `_`, `.`, `-`, a final `$`; not starting with `-`), or a numeric
/// id; `""` means none.
fn account(v: &Value) -> Result<String, String> {
    let expected =
        "expected a user or group name (letters, digits, '_', '.', '-'; at most 32) or \"\"";
    let Value::Str(s) = v else {
        return Err(format!("{expected}, got {}", shown(v)));
    };
    let body = s.strip_suffix('$').unwrap_or(s);
    let ok = s.is_empty()
        || s.len() <= 32
            && !s.starts_with('-')
            && !body.is_empty()
            && body
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
    if ok {
        Ok(s.clone())
    } else {
        Err(format!("{expected}, got {}", shown(v)))
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(format!("expected true or false, got {}", shown(v))),
    }
}

/// Parses "4096", "64K", "1M", "1G" (binary units).
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 1u64 << 10),
        b'M' | b'm' => (&s[..s.len() - 1], 1 << 20),
        b'G' | b'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn size<T: TryFrom<u64>>(v: &Value, lo: u64, hi: u64) -> Result<T, String> {
    let n = match v {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::Str(s) => parse_size(s),
        _ => None,
    };
    n.filter(|n| (lo..=hi).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| {
            let range = if hi >= i64::MAX as u64 {
                String::new()
            } else {
                format!(" {lo}..={hi}")
            };
            format!(
                "expected a size in bytes{range} (integer, or string like \"64K\", \"1M\"), got {}",
                shown(v)
            )
        })
}

/// Parses "250ms", "10s", "2m", "1h" into milliseconds.
fn parse_duration_ms(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let mult = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    if num.is_empty() {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

fn duration(v: &Value, zero_ok: bool) -> Result<Duration, String> {
    let ms = match v {
        Value::Int(n) => u64::try_from(*n).ok().and_then(|n| n.checked_mul(1000)),
        Value::Str(s) => parse_duration_ms(s),
        _ => None,
    };
    let lo = u64::from(!zero_ok);
    match ms {
        Some(ms) if (lo..=DURATION_MAX_MS).contains(&ms) => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "expected a duration {} and <= 24h (integer seconds, or string like \"250ms\", \"10s\", \"2m\"), got {}",
            if zero_ok { ">= 0" } else { "> 0" },
            shown(v)
        )),
    }
}

fn strings(v: &Value) -> Option<Vec<&str>> {
    match v {
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn path(v: &Value) -> Result<PathBuf, String> {
    match v {
        Value::Str(s) if !s.is_empty() && !s.contains('\0') => Ok(PathBuf::from(s)),
        _ => Err(format!(
            "expected a non-empty path string, got {}",
            shown(v)
        )),
    }
}

/// Checks a list of listen addresses: non-empty, no duplicates (except port 0,
/// which gets a distinct ephemeral port each time).
fn check_listen(addrs: &[SocketAddr]) -> Result<(), String> {
    if addrs.is_empty() {
        return Err("expected at least one address".into());
    }
    let mut seen = HashSet::new();
    for a in addrs {
        if a.port() != 0 && !seen.insert(a) {
            return Err(format!("address {a} is listed twice"));
        }
    }
    Ok(())
}

fn listen_list(v: &Value) -> Result<Vec<SocketAddr>, String> {
    const WANT: &str = "\"IP:PORT\" (IPv6 as \"[::1]:8080\")";
    let items = strings(v).filter(|l| !l.is_empty()).ok_or_else(|| {
        format!(
            "expected a non-empty list of {WANT} strings, got {}",
            shown(v)
        )
    })?;
    let addrs = items
        .iter()
        .map(|s| {
            s.parse::<SocketAddr>()
                .map_err(|_| format!("expected {WANT}, got {}", shown(&Value::Str(s.to_string()))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    check_listen(&addrs)?;
    Ok(addrs)
}

fn index_list(v: &Value) -> Result<Vec<String>, String> {
    const WANT: &str = "a list of file names (no '/', not \".\" or \"..\")";
    let items = strings(v).ok_or_else(|| format!("expected {WANT}, got {}", shown(v)))?;
    for s in &items {
        if s.is_empty() || *s == "." || *s == ".." || s.contains('/') || s.contains('\0') {
            return Err(format!(
                "expected {WANT}, got {}",
                shown(&Value::Str(s.to_string()))
            ));
        }
    }
    Ok(items.into_iter().map(String::from).collect())
}

fn valid_host_name(s: &str) -> bool {
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return inner.parse::<Ipv6Addr>().is_ok();
    }
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
}

fn host_names(v: &Value) -> Result<Vec<String>, String> {
    const WANT: &str =
        "host names (letters, digits, '-', '.', or an IPv6 address in brackets; no port)";
    let items = strings(v)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("expected a non-empty list of {WANT}, got {}", shown(v)))?;
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    let mut seen = HashSet::new();
    for s in items {
        if !valid_host_name(s) {
            return Err(format!(
                "expected {WANT}, got {}",
                shown(&Value::Str(s.to_string()))
            ));
        }
        let lower = s.to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(format!("host \"{lower}\" is listed twice"));
        }
        out.push(lower);
    }
    Ok(out)
}

/// `off|error|warn|info|debug|trace` (case-insensitive).
fn parse_level(s: &str) -> Option<LevelFilter> {
    s.parse().ok()
}

fn level(v: &Value) -> Result<LevelFilter, String> {
    match v {
        Value::Str(s) => parse_level(s),
        _ => None,
    }
    .ok_or_else(|| format!("expected one of {LEVELS}, got {}", shown(v)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn apply(text: &str) -> Result<Config, Vec<String>> {
        let mut c = Config::default();
        c.apply_text(text, "f.conf").map(|()| c)
    }

    fn err1(text: &str) -> String {
        match apply(text) {
            Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
            Err(e) => {
                assert_eq!(e.len(), 1, "{e:?}");
                e.into_iter().next().unwrap()
            }
        }
    }

    fn server(kv: &str) -> String {
        err1(&format!("[server]\n{kv}\n"))
    }

    #[test]
    fn defaults_match_spec() {
        let c = Config::default();
        assert_eq!(c.listen, ["127.0.0.1:8080".parse().unwrap()]);
        assert!(c.root.ends_with("www"));
        assert_eq!(
            (
                c.workers,
                c.max_connections,
                c.backlog,
                c.buffer_size,
                c.buffers_per_worker
            ),
            (0, 1024, 511, 4096, 64)
        );
        assert!(c.tcp_nodelay && !c.defer_accept && c.tcp_fastopen == 0);
        assert_eq!(c.header_timeout, Duration::from_secs(10));
        assert_eq!(c.keepalive_timeout, Duration::from_secs(15));
        assert_eq!(c.send_timeout, Duration::from_secs(30));
        assert_eq!(c.shutdown_grace, Duration::from_secs(5));
        assert_eq!((c.max_keepalive_requests, c.max_body_size), (1000, 1 << 20));
        assert_eq!(c.index, ["index.html", "index.htm"]);
        assert!(!c.follow_symlinks && c.gzip_static && c.hide_dotfiles);
        assert_eq!(c.log_level, LevelFilter::Info);
        assert!(c.mime.is_empty() && c.vhosts.is_empty());
        assert_eq!(sections_known(), ["server", "mime", "vhost"]);
    }

    const FULL: &str = r#"
[server]
listen = ["0.0.0.0:80", "[::1]:8080"]
root = "/www/main"
workers = 4
max_connections = 4
backlog = 128
buffer_size = "8K"
buffers_per_worker = 16
tcp_nodelay = false
tcp_fastopen = 16
defer_accept = true
header_timeout = "250ms"
keepalive_timeout = 7
send_timeout = "2m"
shutdown_grace = 0
max_keepalive_requests = 0
max_body_size = "2M"
index = ["default.htm"]
follow_symlinks = true
gzip_static = false
hide_dotfiles = false
log_level = "DEBUG"

[mime]
wasm = "application/wasm"
MD = "text/markdown; charset=utf-8"
"c++" = "text/x-c"

[[vhost]]
names = ["Router.LAN", "192.168.1.1", "[FE80::1]"]
root = "/www/admin"

[[vhost]]
root = "/www/other"
names = ["other"]
"#;

    #[test]
    fn applies_every_key() {
        let c = apply(FULL).unwrap();
        assert_eq!(
            c.listen,
            ["0.0.0.0:80".parse().unwrap(), "[::1]:8080".parse().unwrap()]
        );
        assert_eq!(c.root, Path::new("/www/main"));
        assert_eq!(
            (
                c.workers,
                c.max_connections,
                c.backlog,
                c.buffer_size,
                c.buffers_per_worker
            ),
            (4, 4, 128, 8192, 16)
        );
        assert!(!c.tcp_nodelay && c.defer_accept && c.tcp_fastopen == 16);
        assert_eq!(c.header_timeout, Duration::from_millis(250));
        assert_eq!(c.keepalive_timeout, Duration::from_secs(7));
        assert_eq!(c.send_timeout, Duration::from_secs(120));
        assert_eq!(c.shutdown_grace, Duration::ZERO);
        assert_eq!((c.max_keepalive_requests, c.max_body_size), (0, 2 << 20));
        assert_eq!(c.index, ["default.htm"]);
        assert!(c.follow_symlinks && !c.gzip_static && !c.hide_dotfiles);
        assert_eq!(c.log_level, LevelFilter::Debug);
        let mime: Vec<(&str, &str)> = c
            .mime
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        assert_eq!(
            mime,
            [
                ("wasm", "application/wasm"),
                ("md", "text/markdown; charset=utf-8"),
                ("c++", "text/x-c")
            ]
        );
        assert_eq!(
            c.vhosts,
            [
                VHost {
                    names: vec![
                        "router.lan".into(),
                        "192.168.1.1".into(),
                        "[fe80::1]".into()
                    ],
                    root: "/www/admin".into()
                },
                VHost {
                    names: vec!["other".into()],
                    root: "/www/other".into()
                }
            ]
        );
    }

    #[test]
    fn round_trip() {
        let mut custom = apply(FULL).unwrap();
        custom.root = PathBuf::from("/odd \"dir\"\\\t\u{1}é");
        custom.keepalive_timeout = Duration::from_millis(1500);
        custom.max_body_size = i64::MAX as u64;
        for c in [Config::default(), custom] {
            let text = c.to_config_text();
            let back = apply(&text).unwrap_or_else(|e| panic!("{e:?}\n{text}"));
            assert_eq!(back, c, "{text}");
            assert_eq!(back.to_config_text(), text);
        }
        let text = Config::default().to_config_text();
        assert!(text.contains("\nheader_timeout = \"10s\"\n"), "{text}");
        assert!(text.contains("\nmax_body_size = 1048576\n"), "{text}");
        assert!(text.contains("\nlog_level = \"info\"\n"), "{text}");
    }

    #[test]
    fn type_and_range_errors() {
        let cases: &[(&str, &str)] = &[
            (
                "workers = \"x\"",
                "f.conf:2: workers: expected an integer 0..=256, got \"x\"",
            ),
            (
                "workers = 257",
                "workers: expected an integer 0..=256, got 257",
            ),
            (
                "workers = -1",
                "workers: expected an integer 0..=256, got -1",
            ),
            (
                "max_connections = 0",
                "max_connections: expected an integer 1..=65536, got 0",
            ),
            (
                "max_connections = 65537",
                "max_connections: expected an integer 1..=65536",
            ),
            (
                "backlog = 0",
                "backlog: expected an integer 1..=65535, got 0",
            ),
            ("backlog = 65536", "backlog: expected an integer 1..=65535"),
            (
                "buffer_size = 1023",
                "buffer_size: expected a size in bytes 1024..=65536",
            ),
            ("buffer_size = \"65K\"", "got \"65K\""),
            ("buffer_size = \"4X\"", "buffer_size: expected a size"),
            ("buffer_size = true", "buffer_size: expected a size"),
            (
                "buffers_per_worker = 0",
                "buffers_per_worker: expected an integer 1..=65536",
            ),
            (
                "buffers_per_worker = 65537",
                "buffers_per_worker: expected an integer 1..=65536",
            ),
            (
                "tcp_nodelay = 1",
                "tcp_nodelay: expected true or false, got 1",
            ),
            (
                "defer_accept = \"yes\"",
                "defer_accept: expected true or false",
            ),
            (
                "follow_symlinks = 0",
                "follow_symlinks: expected true or false",
            ),
            (
                "gzip_static = []",
                "gzip_static: expected true or false, got []",
            ),
            (
                "hide_dotfiles = \"true\"",
                "hide_dotfiles: expected true or false",
            ),
            (
                "tcp_fastopen = -1",
                "tcp_fastopen: expected an integer 0..=65535",
            ),
            (
                "max_keepalive_requests = 4294967296",
                "max_keepalive_requests: expected an integer 0..=4294967295",
            ),
            (
                "max_body_size = -1",
                "max_body_size: expected a size in bytes (integer",
            ),
            (
                "max_body_size = \"99999999999999G\"",
                "max_body_size: expected a size",
            ),
            (
                "header_timeout = 0",
                "header_timeout: expected a duration > 0 and <= 24h",
            ),
            (
                "header_timeout = \"0ms\"",
                "header_timeout: expected a duration > 0",
            ),
            (
                "keepalive_timeout = 86401",
                "keepalive_timeout: expected a duration",
            ),
            (
                "send_timeout = \"25h\"",
                "send_timeout: expected a duration",
            ),
            ("send_timeout = \"10\"", "send_timeout: expected a duration"),
            (
                "send_timeout = \"10 s\"",
                "send_timeout: expected a duration",
            ),
            ("send_timeout = \"s\"", "send_timeout: expected a duration"),
            ("send_timeout = \"1d\"", "send_timeout: expected a duration"),
            (
                "shutdown_grace = -1",
                "shutdown_grace: expected a duration >= 0",
            ),
            (
                "shutdown_grace = \"99999999999999999h\"",
                "shutdown_grace: expected a duration",
            ),
            (
                "listen = []",
                "listen: expected a non-empty list of \"IP:PORT\"",
            ),
            (
                "listen = \"127.0.0.1:80\"",
                "listen: expected a non-empty list",
            ),
            (
                "listen = [\"localhost:80\"]",
                "listen: expected \"IP:PORT\" (IPv6 as \"[::1]:8080\"), got \"localhost:80\"",
            ),
            ("listen = [\"::1:80\"]", "listen: expected \"IP:PORT\""),
            (
                "listen = [\"1.2.3.4:80\", 5]",
                "listen: expected a non-empty list",
            ),
            (
                "listen = [\"1.2.3.4:80\", \"1.2.3.4:80\"]",
                "listen: address 1.2.3.4:80 is listed twice",
            ),
            (
                "root = \"\"",
                "root: expected a non-empty path string, got \"\"",
            ),
            ("root = 1", "root: expected a non-empty path string"),
            (
                "index = [\"a/b\"]",
                "index: expected a list of file names (no '/', not \".\" or \"..\"), got \"a/b\"",
            ),
            ("index = [\"\"]", "index: expected a list of file names"),
            ("index = [\".\"]", "index: expected a list of file names"),
            ("index = [\"..\"]", "index: expected a list of file names"),
            (
                "index = \"index.html\"",
                "index: expected a list of file names",
            ),
            (
                "log_level = \"verbose\"",
                "log_level: expected one of off|error|warn|info|debug|trace, got \"verbose\"",
            ),
            ("log_level = 3", "log_level: expected one of"),
            ("bogus = 1", "f.conf:2: unknown key bogus in [server]"),
        ];
        for &(kv, want) in cases {
            let e = server(kv);
            assert!(e.contains(want), "{kv}: {e:?} lacks {want:?}");
            assert!(e.starts_with("f.conf:2: "), "{e}");
        }
        // Valid edge values.
        for kv in [
            "workers = 256\nmax_connections = 256",
            "buffer_size = 1024",
            "buffer_size = \"64k\"",
            "buffer_size = \"64K\"",
            "max_body_size = 0",
            "header_timeout = \"24h\"",
            "header_timeout = \"1ms\"",
            "shutdown_grace = \"0s\"",
            "index = []",
            "log_level = \"off\"",
            "listen = [\"[::]:0\", \"0.0.0.0:0\"]",
            "listen = [\"127.0.0.1:0\", \"127.0.0.1:0\"]",
        ] {
            assert!(apply(&format!("[server]\n{kv}\n")).is_ok(), "{kv}");
        }
        // A long value is shortened in the message.
        let e = server(&format!("root = {}", "1".repeat(15)));
        assert!(e.ends_with("got 111111111111111"), "{e}");
        let e = server(&format!("index = [{}]", "1, ".repeat(40)));
        assert!(e.ends_with("...") && e.len() < 200, "{e}");
    }

    #[test]
    fn structure_errors() {
        assert_eq!(err1("a = 1\n"), "f.conf:1: key a is outside of any section (expected it under a header such as [server])");
        let e = err1("[nosuch]\ncert = \"x\"\n");
        assert!(
            e.starts_with(
                "f.conf:1: unknown section [nosuch] (expected [server], [mime], [[vhost]]"
            ),
            "{e}"
        );
        let e = err1("[[nosuch]]\n");
        assert!(
            e.starts_with("f.conf:1: unknown section [nosuch] (expected"),
            "{e}"
        );
        assert_eq!(
            err1("[[server]]\nworkers = 1\n"),
            "f.conf:1: section [[server]] must be written [server]"
        );
        assert_eq!(
            err1("[[mime]]\n"),
            "f.conf:1: section [[mime]] must be written [mime]"
        );
        assert_eq!(
            err1("\n[vhost]\nroot = \"/x\"\n"),
            "f.conf:2: section [vhost] must be written [[vhost]]"
        );
        // Syntax errors come through with the file name.
        assert_eq!(
            err1("[server]\nworkers = 1\nworkers = 2\n"),
            "f.conf:3: duplicate key workers (first set at line 2)"
        );
        assert_eq!(
            err1("[server]\nworkers = \n"),
            "f.conf:2: expected a value after 'workers ='"
        );
        assert_eq!(
            err1(&"#\n".repeat(MAX_CONFIG_SIZE / 2 + 1)),
            "f.conf: file is larger than 1 MiB (1048576 bytes)"
        );
    }

    #[test]
    fn syntax_and_schema_errors_together() {
        let text = "[server]\nworkers = x\nbacklog = 0\n[[vhost]]\nnames = [\"a\"\nroot = \"/a\"\n\
                    [[vhost]\nnames = [\"b\"]\n[mime]\n\".x\" = \"a/b\"\n";
        let e = apply(text).unwrap_err();
        assert_eq!(
            e,
            [
                "f.conf:2: expected a value (\"string\", integer, true/false or [list]), got 'x'",
                "f.conf:3: backlog: expected an integer 1..=65535, got 0",
                "f.conf:5: list is not closed (missing ']')",
                "f.conf:7: expected ']]' to close the section header, got ']'",
                "f.conf:10: mime: expected a file extension without the dot (1-16 letters, digits, '_', '+', '-'), got \".x\"",
            ]
        );
    }

    /// Mutated configs through the whole pipeline: never panics, and whatever is
    /// accepted prints back to the same configuration.
    #[test]
    fn fuzz_schema_never_panics() {
        let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet: &[u8] = b"[]=\"',#\n 0123456789kKmMsh.:-_abxzAZ/";
        let mut accepted = 0;
        for _ in 0..3000 {
            let mut b = FULL.as_bytes().to_vec();
            for _ in 0..(1 + rnd() % 3) {
                let r = rnd();
                let at = (r >> 16) as usize % b.len();
                let c = alphabet[(r >> 8) as usize % alphabet.len()];
                match r % 3 {
                    0 => b[at] = c,
                    1 => {
                        b.remove(at);
                    }
                    _ => b.insert(at, c),
                }
            }
            let text = String::from_utf8_lossy(&b);
            if let Ok(c) = apply(&text) {
                accepted += 1;
                assert_eq!(apply(&c.to_config_text()).unwrap(), c);
            }
        }
        assert!(accepted > 100, "{accepted}");
    }

    #[test]
    fn mime_errors() {
        assert_eq!(err1("[mime]\n\"\" = \"a/b\"\n"), "f.conf:2: mime: expected a file extension without the dot (1-16 letters, digits, '_', '+', '-'), got \"\"");
        assert!(err1("[mime]\n\".js\" = \"a/b\"\n").contains("got \".js\""));
        assert!(err1("[mime]\nabcdefghijklmnopq = \"a/b\"\n")
            .contains("mime: expected a file extension"));
        assert!(err1("[mime]\nabcdefghijklmnop = \"\"\n").contains("mime.abcdefghijklmnop: expected a media type string like \"text/html\" (printable ASCII), got \"\""));
        assert!(err1("[mime]\nx = 1\n").contains("mime.x: expected a media type"));
        assert!(err1("[mime]\nx = \"a/b\\r\\nX: y\"\n").contains("mime.x: expected a media type"));
        assert!(err1("[mime]\nx = \"text/é\"\n").contains("mime.x: expected a media type"));
        assert_eq!(
            err1("[mime]\nwasm = \"a/b\"\nWASM = \"c/d\"\n"),
            "f.conf:3: mime: extension \"wasm\" is already set at line 2 (extensions are case-insensitive)"
        );
    }

    #[test]
    fn vhost_errors() {
        assert_eq!(
            err1("[[vhost]]\nroot = \"/a\"\n"),
            "f.conf:1: [[vhost]]: missing required key names"
        );
        assert_eq!(
            err1("[[vhost]]\nnames = [\"a\"]\n"),
            "f.conf:1: [[vhost]]: missing required key root"
        );
        let e = apply("[[vhost]]\n").unwrap_err();
        assert_eq!(
            e,
            [
                "f.conf:1: [[vhost]]: missing required key names",
                "f.conf:1: [[vhost]]: missing required key root"
            ]
        );
        assert_eq!(err1("[[vhost]]\nnames = []\nroot = \"/a\"\n"), "f.conf:2: names: expected a non-empty list of host names (letters, digits, '-', '.', or an IPv6 address in brackets; no port), got []");
        for bad in ["a b", "a:80", "[::1]:80", "[nothex]", "", "a_b", "é"] {
            let e = err1(&format!(
                "[[vhost]]\nnames = [\"ok\", \"{bad}\"]\nroot = \"/a\"\n"
            ));
            assert!(
                e.starts_with("f.conf:2: names: expected a non-empty list")
                    || e.starts_with("f.conf:2: names: expected host names"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            err1("[[vhost]]\nnames = [\"a\", \"A\"]\nroot = \"/a\"\n"),
            "f.conf:2: names: host \"a\" is listed twice"
        );
        assert_eq!(
            err1("[[vhost]]\nnames = [\"a\"]\nroot = \"\"\n"),
            "f.conf:3: root: expected a non-empty path string, got \"\""
        );
        assert_eq!(
            err1("[[vhost]]\nnames = [\"a\"]\nroot = \"/a\"\nalias = 1\n"),
            "f.conf:4: unknown key alias in [[vhost]]"
        );
        assert_eq!(
            err1("[[vhost]]\nnames = [\"a\", \"b\"]\nroot = \"/a\"\n[[vhost]]\nroot = \"/b\"\nnames = [\"c\", \"B\"]\n"),
            "f.conf:6: names: host \"b\" is already used by the [[vhost]] at line 1"
        );
    }

    #[test]
    fn max_connections_vs_workers() {
        assert_eq!(
            err1("[server]\nmax_connections = 4\nworkers = 8\n"),
            "f.conf:2: max_connections: expected a value >= workers (8), got 4"
        );
        // Only workers in this layer: reported on its line.
        let mut c = apply("[server]\nmax_connections = 4\n").unwrap();
        assert_eq!(
            c.apply_text("[server]\n\nworkers = 8\n", "x").unwrap_err(),
            ["x:3: max_connections: expected a value >= workers (8), got 4"]
        );
        assert!(c.apply_text("[server]\nworkers = 4\n", "x").is_ok());
        // workers = 0 (per CPU) is not checked here.
        assert!(apply("[server]\nmax_connections = 1\nworkers = 0\n").is_ok());
    }

    #[test]
    fn all_errors_and_atomicity() {
        let text = "[[vhost]]\nnames = [\"a\"]\n\n[server]\nworkers = \"x\"\nbogus = 1\nlisten = []\n[mime]\n\".x\" = \"y\"\n[nope]\n";
        let mut c = Config::default();
        let e = c.apply_text(text, "conf").unwrap_err();
        assert_eq!(
            e.iter()
                .map(|s| s.split(": ").next().unwrap())
                .collect::<Vec<_>>(),
            ["conf:1", "conf:5", "conf:6", "conf:7", "conf:9", "conf:10"],
            "{e:#?}"
        );
        assert_eq!(c, Config::default());
    }

    #[test]
    fn load_file_paths() {
        let dir = std::env::temp_dir().join(format!("fwcfg-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.conf");
        std::fs::write(&good, "[server]\nworkers = 2\n").unwrap();
        let mut c = Config::default();
        c.load_file(&good).unwrap();
        assert_eq!(c.workers, 2);

        let bad = dir.join("bad.conf");
        std::fs::write(&bad, "[server]\n\nworkers = x\n").unwrap();
        let name = bad.display().to_string();
        assert_eq!(
            c.load_file(&bad).unwrap_err(),
            [format!(
                "{name}:3: expected a value (\"string\", integer, true/false or [list]), got 'x'"
            )]
        );

        let missing = dir.join("missing.conf");
        let e = c.load_file(&missing).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(&format!("{}: cannot read: ", missing.display())),
            "{e:?}"
        );
        let e = c.load_file(&dir).unwrap_err();
        assert!(e[0].contains(": cannot read: "), "{e:?}");

        let big = dir.join("big.conf");
        std::fs::write(&big, vec![b'#'; MAX_CONFIG_SIZE + 1]).unwrap();
        assert_eq!(
            c.load_file(&big).unwrap_err(),
            [format!(
                "{}: file is larger than 1 MiB (1048576 bytes)",
                big.display()
            )]
        );
        std::fs::write(&big, "#\n".repeat(MAX_CONFIG_SIZE / 2)).unwrap();
        assert!(c.load_file(&big).is_ok());

        let latin1 = dir.join("latin1.conf");
        std::fs::write(&latin1, b"[server]\n# caf\xe9\n").unwrap();
        assert_eq!(
            c.load_file(&latin1).unwrap_err(),
            [format!("{}:2: invalid UTF-8", latin1.display())]
        );
        assert_eq!(c.workers, 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn cli(args: &[&str]) -> Cli {
        match cli::parse_args(args.iter().map(OsString::from)).unwrap() {
            Command::Run(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn layering_order() {
        let dir = std::env::temp_dir().join(format!("fwcfg-layer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("run.conf");
        std::fs::write(
            &file,
            "[server]\nworkers = 3\nbacklog = 100\n[mime]\nwasm = \"file/wasm\"\n[[vhost]]\nnames = [\"file\"]\nroot = \"/f\"\n",
        )
        .unwrap();
        let board =
            "[server]\nworkers = 2\nbacklog = 50\nbuffer_size = 2048\nlisten = [\"0.0.0.0:80\"]\n\
                     [mime]\nwasm = \"board/wasm\"\nmd = \"text/markdown\"\n\
                     [[vhost]]\nnames = [\"board\"]\nroot = \"/b\"\n";

        // Defaults only.
        assert_eq!(build(&Cli::default(), None).unwrap(), Config::default());
        // Board over defaults.
        let c = build(&Cli::default(), Some(board)).unwrap();
        assert_eq!((c.workers, c.backlog, c.buffer_size), (2, 50, 2048));
        assert_eq!(c.vhosts[0].names, ["board"]);
        // File over board: keys override, mime merges, vhosts replace.
        let f = file.to_str().unwrap();
        let c = build(&cli(&["--config", f]), Some(board)).unwrap();
        assert_eq!((c.workers, c.backlog, c.buffer_size), (3, 100, 2048));
        assert_eq!(c.listen, ["0.0.0.0:80".parse().unwrap()]);
        assert_eq!(
            c.mime,
            [
                ("wasm".to_string(), "file/wasm".to_string()),
                ("md".to_string(), "text/markdown".to_string())
            ]
        );
        assert_eq!(c.vhosts.len(), 1);
        assert_eq!(c.vhosts[0].names, ["file"]);
        // CLI over everything; --listen replaces the list.
        let c = build(
            &cli(&[
                "--config",
                f,
                "--workers=5",
                "--listen",
                "127.0.0.1:0",
                "--listen=[::1]:0",
                "--root",
                "/r",
                "--log-level",
                "warn",
                "--max-connections",
                "9",
            ]),
            Some(board),
        )
        .unwrap();
        assert_eq!((c.workers, c.max_connections, c.backlog), (5, 9, 100));
        assert_eq!(
            c.listen,
            ["127.0.0.1:0".parse().unwrap(), "[::1]:0".parse().unwrap()]
        );
        assert_eq!(c.root, Path::new("/r"));
        assert_eq!(c.log_level, LevelFilter::Warn);

        // Errors from every layer are collected; start-up failures are
        // prefixed, config-text errors are located.
        let e = build(
            &cli(&[
                "--config",
                dir.join("nope").to_str().unwrap(),
                "--max-connections",
                "5",
            ]),
            Some("[server]\nworkers = 6\n"),
        )
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("firmware-server: "), "{e:?}");
        assert!(e[0].contains("nope: cannot read: "), "{e:?}");
        assert_eq!(
            e[1],
            "firmware-server: --max-connections: expected a number >= workers (6), got '5'"
        );
        std::fs::write(&file, "[server]\nworkers = 1\nbogus = 1\n").unwrap();
        assert_eq!(
            build(&cli(&["--config", f]), Some("[server]\nworkers = \"x\"\n")).unwrap_err(),
            [
                "<board>:2: workers: expected an integer 0..=256, got \"x\"".to_string(),
                format!("{f}:3: unknown key bogus in [server]")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
