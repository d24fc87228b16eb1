//! Command-line parsing (no external crates).

use std::ffi::{OsStr, OsString};
use std::net::SocketAddr;
use std::path::PathBuf;

use log::LevelFilter;

use fws_api::doc::{Entry, Table, Value};

use super::{
    check_listen, parse_level, Config, PluginSection, CONNECTIONS_MAX, LEVELS, WORKERS_MAX,
};

/// Options that belong to a plugin: `(flag, plugin, key)`. Each use of a
/// flag adds its value to the list `key` of a section named after the plugin
/// (file `<command line>`), which the plugin receives after the sections of
/// the config files. A flag whose plugin is not compiled in is an error.
pub const PLUGIN_OPTIONS: &[(&str, &str, &str)] = &[
    ("--cgi", "cgi", "prefix"),
    ("--cgi-interpreter", "cgi", "interpreter"),
    ("--fastcgi", "fastcgi", "route"),
    ("--tls-listen", "tls", "listen"),
    ("--cert", "tls", "cert"),
    ("--key", "tls", "key"),
];

/// The file name plugin sections from the command line are reported under.
pub const CLI_FILE: &str = "<command line>";

pub const USAGE: &str = "\
Usage: firmware-server [OPTIONS]

A small static HTTP/1.1 server for router firmware.

Options:
  --listen ADDR:PORT     address to listen on; repeatable, replaces the configured
                         list (IPv6 as [::1]:8080; port 0 = any free port)
  --root DIR             docroot of the default virtual host
  --config FILE          runtime config file
  --workers N            worker threads (0 = one per CPU)
  --max-connections N    total connection slots across all workers
  --log-level LEVEL      off|error|warn|info|debug|trace (RUST_LOG overrides if set)
  --check-config         validate the configuration, print the effective
                         configuration and exit (errors: exit 1)
  -V, --version          print the version and exit
  -h, --help             print this help and exit

Plugin options (each needs its plugin compiled in; repeatable):
  --cgi PREFIX           run files under this URL prefix as CGI scripts
  --cgi-interpreter .EXT=PROGRAM
                         run CGI files ending in .EXT with PROGRAM
  --fastcgi ROUTE=ADDR   send requests for ROUTE (.ext or /prefix) to the
                         FastCGI server ADDR (unix:PATH or HOST:PORT)
  --tls-listen ADDR:PORT HTTPS listener
  --cert FILE            TLS certificate chain (PEM)
  --key FILE             TLS private key (PEM)

Both --option VALUE and --option=VALUE are accepted.
";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Run(Cli),
    Help,
    Version,
}

/// Command-line overrides; `None`/empty = not given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cli {
    pub listen: Vec<SocketAddr>,
    pub root: Option<PathBuf>,
    pub config: Option<PathBuf>,
    pub workers: Option<usize>,
    pub max_connections: Option<usize>,
    pub log_level: Option<LevelFilter>,
    pub check_config: bool,
    /// Plugin options in order: (index into [`PLUGIN_OPTIONS`], value).
    pub plugin_options: Vec<(usize, String)>,
}

/// Parses the arguments (without argv[0]). `--help`/`--version` return at once.
/// Errors are one plain line (the caller adds "firmware-server: " and exits 2).
pub fn parse_args<I: IntoIterator<Item = OsString>>(args: I) -> Result<Command, String> {
    let mut cli = Cli::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = split_inline(&arg);
        let plugin_option = PLUGIN_OPTIONS.iter().position(|o| o.0 == name);
        let takes_value = plugin_option.is_some()
            || matches!(
                name.as_str(),
                "--listen"
                    | "--root"
                    | "--config"
                    | "--workers"
                    | "--max-connections"
                    | "--log-level"
            );
        let value = if takes_value {
            match inline.or_else(|| args.next()) {
                Some(v) => v,
                None => return Err(format!("option '{name}' needs a value (see --help)")),
            }
        } else {
            if inline.is_some() && is_flag(&name) {
                return Err(format!(
                    "option '{name}' does not take a value (see --help)"
                ));
            }
            OsString::new()
        };
        if let Some(i) = plugin_option {
            let s = text(&value);
            if s.is_empty() {
                return Err(format!("{name}: expected a value, got ''"));
            }
            cli.plugin_options.push((i, s));
            continue;
        }
        match name.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--check-config" => cli.check_config = true,
            "--listen" => {
                let s = text(&value);
                let addr = s.parse().map_err(|_| {
                    format!("--listen: expected ADDR:PORT (IPv6 as [::1]:8080), got '{s}'")
                })?;
                cli.listen.push(addr);
            }
            "--root" => cli.root = Some(path("--root", value)?),
            "--config" => cli.config = Some(path("--config", value)?),
            "--workers" => cli.workers = Some(number("--workers", &value, 0, WORKERS_MAX)?),
            "--max-connections" => {
                cli.max_connections = Some(number("--max-connections", &value, 1, CONNECTIONS_MAX)?)
            }
            "--log-level" => {
                let s = text(&value);
                let level = parse_level(&s)
                    .ok_or_else(|| format!("--log-level: expected {LEVELS}, got '{s}'"))?;
                cli.log_level = Some(level);
            }
            _ if name.starts_with('-') && name.len() > 1 => {
                return Err(format!("unknown option '{name}' (see --help)"))
            }
            _ => return Err(format!("unexpected argument '{name}' (see --help)")),
        }
    }
    // Conflicting numbers on the command line itself are a usage error.
    if let (Some(w), Some(m)) = (cli.workers, cli.max_connections) {
        if w > 0 && m < w {
            return Err(format!(
                "--max-connections: expected a number >= --workers ({w}), got '{m}'"
            ));
        }
    }
    Ok(Command::Run(cli))
}

fn is_flag(name: &str) -> bool {
    matches!(
        name,
        "-h" | "--help" | "-V" | "--version" | "--check-config"
    )
}

/// `--name=value` -> ("--name", Some(value)); anything else -> (lossy arg, None).
fn split_inline(arg: &OsStr) -> (String, Option<OsString>) {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let b = arg.as_bytes();
        if b.starts_with(b"--") {
            if let Some(i) = b.iter().position(|&c| c == b'=') {
                let name = String::from_utf8_lossy(&b[..i]).into_owned();
                return (name, Some(OsStr::from_bytes(&b[i + 1..]).to_os_string()));
            }
        }
    }
    #[cfg(not(unix))]
    if let Some((name, value)) = arg.to_str().and_then(|s| s.split_once('=')) {
        if name.starts_with("--") {
            return (name.to_string(), Some(value.into()));
        }
    }
    (arg.to_string_lossy().into_owned(), None)
}

fn text(v: &OsStr) -> String {
    v.to_string_lossy().into_owned()
}

fn path(flag: &str, v: OsString) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err(format!("{flag}: expected a path, got ''"));
    }
    Ok(PathBuf::from(v))
}

fn number(flag: &str, v: &OsStr, lo: usize, hi: usize) -> Result<usize, String> {
    let s = text(v);
    let n: u64 = s
        .parse()
        .map_err(|_| format!("{flag}: expected a number, got '{s}'"))?;
    usize::try_from(n)
        .ok()
        .filter(|n| (lo..=hi).contains(n))
        .ok_or_else(|| format!("{flag}: expected a number {lo}..={hi}, got '{s}'"))
}

impl Cli {
    /// Applies the overrides on top of `cfg` (validated like the config file;
    /// all-or-nothing). `--listen` replaces the whole list.
    pub fn apply(&self, cfg: &mut Config) -> Result<(), String> {
        let mut new = cfg.clone();
        if !self.listen.is_empty() {
            check_listen(&self.listen).map_err(|m| format!("--listen: {m}"))?;
            new.listen = self.listen.clone();
        }
        if let Some(root) = &self.root {
            if root.as_os_str().is_empty() {
                return Err("--root: expected a path, got ''".into());
            }
            new.root = root.clone();
        }
        if let Some(w) = self.workers {
            if w > WORKERS_MAX {
                return Err(format!(
                    "--workers: expected a number 0..={WORKERS_MAX}, got '{w}'"
                ));
            }
            new.workers = w;
        }
        if let Some(m) = self.max_connections {
            if !(1..=CONNECTIONS_MAX).contains(&m) {
                return Err(format!(
                    "--max-connections: expected a number 1..={CONNECTIONS_MAX}, got '{m}'"
                ));
            }
            new.max_connections = m;
        }
        if let Some(level) = self.log_level {
            new.log_level = level;
        }
        if new.workers > 0 && new.max_connections < new.workers {
            return Err(if self.max_connections.is_some() {
                format!(
                    "--max-connections: expected a number >= workers ({}), got '{}'",
                    new.workers, new.max_connections
                )
            } else {
                format!(
                    "--workers: expected a number <= max_connections ({}), got '{}'",
                    new.max_connections, new.workers
                )
            });
        }
        new.plugin_sections.extend(self.plugin_sections()?);
        *cfg = new;
        Ok(())
    }

    /// One section per plugin named by a plugin option, in order of first
    /// use; each key holds the list of its values.
    fn plugin_sections(&self) -> Result<Vec<PluginSection>, String> {
        let mut out: Vec<PluginSection> = Vec::new();
        for (i, value) in &self.plugin_options {
            let (flag, plugin, key) = PLUGIN_OPTIONS[*i];
            if !crate::plugins::enabled(plugin) {
                return Err(format!(
                    "{flag}: the {plugin} plugin is not compiled into this build \
                     (Cargo feature '{plugin}')"
                ));
            }
            let pos = match out.iter().position(|s| s.plugin == plugin) {
                Some(p) => p,
                None => {
                    out.push(PluginSection {
                        plugin: plugin.to_string(),
                        file: CLI_FILE.to_string(),
                        table: Table {
                            name: plugin.to_string(),
                            array: false,
                            line: 0,
                            entries: Vec::new(),
                        },
                    });
                    out.len() - 1
                }
            };
            let entries = &mut out[pos].table.entries;
            let v = Value::Str(value.clone());
            match entries.iter_mut().find(|e| e.key == key) {
                Some(Entry {
                    value: Value::List(items),
                    ..
                }) => items.push(v),
                _ => entries.push(Entry {
                    key: key.to_string(),
                    value: Value::List(vec![v]),
                    line: 0,
                }),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(OsString::from))
    }

    fn run(args: &[&str]) -> Cli {
        match parse(args) {
            Ok(Command::Run(c)) => c,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        parse(args).expect_err("should fail")
    }

    #[test]
    fn plugin_options_become_a_section_per_plugin() {
        let c = run(&[
            "--cgi",
            "/cgi-bin",
            "--cgi-interpreter=.sh=/bin/sh",
            "--cgi=/x",
        ]);
        let mut cfg = Config::default();
        let applied = c.apply(&mut cfg);
        if !crate::plugins::enabled("cgi") {
            assert_eq!(
                applied.unwrap_err(),
                "--cgi: the cgi plugin is not compiled into this build (Cargo feature 'cgi')"
            );
            assert!(cfg.plugin_sections.is_empty());
            return;
        }
        applied.unwrap();
        let sec = cfg.plugin_sections.last().unwrap();
        assert_eq!((sec.plugin.as_str(), sec.file.as_str()), ("cgi", CLI_FILE));
        let list = |key: &str| match &sec
            .table
            .entries
            .iter()
            .find(|e| e.key == key)
            .unwrap()
            .value
        {
            Value::List(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        let s = |v: &str| Value::Str(v.into());
        assert_eq!(list("prefix"), vec![s("/cgi-bin"), s("/x")]);
        assert_eq!(list("interpreter"), vec![s(".sh=/bin/sh")]);
    }

    #[test]
    fn plugin_options_need_a_value() {
        assert_eq!(err(&["--cgi"]), "option '--cgi' needs a value (see --help)");
        assert_eq!(err(&["--cert="]), "--cert: expected a value, got ''");
    }

    #[test]
    fn parses_all_options_both_forms() {
        assert_eq!(run(&[]), Cli::default());
        let c = run(&[
            "--listen",
            "127.0.0.1:0",
            "--listen=[::1]:8080",
            "--root",
            "/www",
            "--config=/etc/fw.conf",
            "--workers",
            "4",
            "--max-connections=100",
            "--log-level",
            "DEBUG",
            "--check-config",
        ]);
        assert_eq!(
            c,
            Cli {
                listen: vec![
                    "127.0.0.1:0".parse().unwrap(),
                    "[::1]:8080".parse().unwrap()
                ],
                root: Some("/www".into()),
                config: Some("/etc/fw.conf".into()),
                workers: Some(4),
                max_connections: Some(100),
                log_level: Some(LevelFilter::Debug),
                check_config: true,
                plugin_options: Vec::new(),
            }
        );
        // Last one wins for single-valued options; values may start with '-' or contain '='.
        let c = run(&["--root", "/a", "--root=/b=c", "--config", "-odd"]);
        assert_eq!(c.root, Some("/b=c".into()));
        assert_eq!(c.config, Some("-odd".into()));
        assert_eq!(run(&["--workers=0"]).workers, Some(0));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
        assert_eq!(parse(&["-h", "--bogus"]), Ok(Command::Help));
        assert_eq!(
            parse(&["--workers", "2", "--version"]),
            Ok(Command::Version)
        );
        assert_eq!(parse(&["-V"]), Ok(Command::Version));
        assert!(USAGE.contains("--check-config") && USAGE.contains("--max-connections"));
    }

    #[test]
    fn errors_are_one_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["--foo"], "unknown option '--foo' (see --help)"),
            (&["--foo=1"], "unknown option '--foo' (see --help)"),
            (&["-x"], "unknown option '-x' (see --help)"),
            (&["serve"], "unexpected argument 'serve' (see --help)"),
            (&["-"], "unexpected argument '-' (see --help)"),
            (&["--root"], "option '--root' needs a value (see --help)"),
            (
                &["--workers"],
                "option '--workers' needs a value (see --help)",
            ),
            (
                &["--help=1"],
                "option '--help' does not take a value (see --help)",
            ),
            (
                &["--check-config=yes"],
                "option '--check-config' does not take a value (see --help)",
            ),
            (&["--workers", "x"], "--workers: expected a number, got 'x'"),
            (&["--workers=-1"], "--workers: expected a number, got '-1'"),
            (&["--workers", ""], "--workers: expected a number, got ''"),
            (
                &["--workers", "257"],
                "--workers: expected a number 0..=256, got '257'",
            ),
            (
                &["--workers", "99999999999999999999999"],
                "--workers: expected a number, got '99999999999999999999999'",
            ),
            (
                &["--max-connections", "0"],
                "--max-connections: expected a number 1..=65536, got '0'",
            ),
            (
                &["--max-connections=65537"],
                "--max-connections: expected a number 1..=65536, got '65537'",
            ),
            (
                &["--listen", "localhost:80"],
                "--listen: expected ADDR:PORT (IPv6 as [::1]:8080), got 'localhost:80'",
            ),
            (
                &["--listen=::1:80"],
                "--listen: expected ADDR:PORT (IPv6 as [::1]:8080), got '::1:80'",
            ),
            (
                &["--log-level", "loud"],
                "--log-level: expected off|error|warn|info|debug|trace, got 'loud'",
            ),
            (&["--root="], "--root: expected a path, got ''"),
            (&["--config", ""], "--config: expected a path, got ''"),
            (
                &["--max-connections=8", "--workers", "9"],
                "--max-connections: expected a number >= --workers (9), got '8'",
            ),
        ];
        for &(args, want) in cases {
            let e = err(args);
            assert_eq!(e, want, "{args:?}");
            assert!(!e.contains('\n'));
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_paths_are_kept() {
        use std::os::unix::ffi::OsStringExt;
        let raw = b"/www/caf\xe9".to_vec();
        let mut inline = b"--root=".to_vec();
        inline.extend_from_slice(&raw);
        let cmd = parse_args([
            OsString::from_vec(inline),
            OsString::from("--config"),
            OsString::from_vec(raw.clone()),
        ])
        .unwrap();
        let Command::Run(c) = cmd else { panic!() };
        assert_eq!(c.root, Some(PathBuf::from(OsString::from_vec(raw.clone()))));
        assert_eq!(c.config, Some(PathBuf::from(OsString::from_vec(raw))));
        let e = parse_args([OsString::from_vec(b"--w\xffx".to_vec())]).unwrap_err();
        assert_eq!(e, "unknown option '--w\u{fffd}x' (see --help)");
    }

    #[test]
    fn apply_overrides_and_validates() {
        let mut cfg = Config::default();
        run(&[
            "--listen",
            "10.0.0.1:1",
            "--listen",
            "10.0.0.2:2",
            "--root",
            "/r",
            "--workers",
            "3",
            "--max-connections",
            "3",
            "--log-level",
            "off",
        ])
        .apply(&mut cfg)
        .unwrap();
        assert_eq!(
            cfg.listen,
            ["10.0.0.1:1".parse().unwrap(), "10.0.0.2:2".parse().unwrap()]
        );
        assert_eq!(cfg.root, PathBuf::from("/r"));
        assert_eq!((cfg.workers, cfg.max_connections), (3, 3));
        assert_eq!(cfg.log_level, LevelFilter::Off);
        // Nothing given: unchanged.
        let before = cfg.clone();
        run(&["--check-config"]).apply(&mut cfg).unwrap();
        assert_eq!(cfg, before);

        let fails: &[(&[&str], &str)] = &[
            (
                &["--workers", "4"],
                "--workers: expected a number <= max_connections (3), got '4'",
            ),
            (
                &["--max-connections", "2"],
                "--max-connections: expected a number >= workers (3), got '2'",
            ),
            (
                &[
                    "--listen",
                    "1.1.1.1:1",
                    "--root",
                    "/x",
                    "--listen",
                    "1.1.1.1:1",
                ],
                "--listen: address 1.1.1.1:1 is listed twice",
            ),
        ];
        for &(args, want) in fails {
            assert_eq!(run(args).apply(&mut cfg), Err(want.to_string()), "{args:?}");
            assert_eq!(cfg, before, "{args:?}: must not change on error");
        }
        // Hand-built Cli values are validated too.
        let bad = [
            (
                Cli {
                    workers: Some(257),
                    ..Cli::default()
                },
                "--workers: expected a number 0..=256, got '257'",
            ),
            (
                Cli {
                    max_connections: Some(0),
                    ..Cli::default()
                },
                "--max-connections: expected a number 1..=65536, got '0'",
            ),
            (
                Cli {
                    root: Some(PathBuf::new()),
                    ..Cli::default()
                },
                "--root: expected a path, got ''",
            ),
        ];
        for (c, want) in bad {
            assert_eq!(c.apply(&mut cfg), Err(want.to_string()));
        }
        // Port 0 may repeat (distinct ephemeral ports).
        run(&["--listen", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
            .apply(&mut cfg)
            .unwrap();
        assert_eq!(cfg.listen.len(), 2);
        // workers = 0 never conflicts.
        run(&["--workers", "0", "--max-connections", "1"])
            .apply(&mut cfg)
            .unwrap();
    }
}
