//! `firmware-server ctl [--config FILE] COMMAND [OPTIONS]`: plain blocking
//! std code over a `UnixStream`.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use fws_api::plugin::Section;

use crate::config::CtlConfig;
use crate::proto::{
    decode_answer, encode_command, frame_len, Answer, Command, Connection, LogChunk, StatusReply,
    MAX_REPLY,
};
use crate::ring;

pub const USAGE: &str = "\
usage: firmware-server ctl [--config FILE] COMMAND [--socket PATH] [--json]

Talks to a running server's control socket ([ctl] socket in the config).

commands:
  status            version, uptime, features, per-worker connections,
                    requests, bytes, errors, refused connections, log drops
  connections       the open connections
  config            the effective configuration
  log [--follow]    lines from the logger's RAM ring (--follow: keep polling)
  reopen-logs       reopen the log files (logrotate) and reload the plugins
  tls reload-certs  reload the TLS certificates and keys (tls plugin)
  tls fingerprint   SHA-256 fingerprints of the certificates in use

options:
  --socket PATH     the control socket (overrides the config)
  --json            machine-readable output
";

/// Plugins whose own commands the client passes on (`ctl NAME ARGS...`).
pub const PLUGIN_COMMANDS: &[&str] = &["tls"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub command: Command,
    pub socket: Option<PathBuf>,
    pub json: bool,
    pub follow: bool,
}

/// What the command line asks for: `Ok(None)` is `--help`.
pub fn parse_args(args: &[String]) -> Result<Option<Options>, String> {
    let mut command = None;
    let mut socket = None;
    let mut json = false;
    let mut follow = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--help" | "-h" | "help" => return Ok(None),
            "--json" => json = true,
            "--follow" | "-f" => follow = true,
            "--socket" => match it.next() {
                Some(p) if !p.is_empty() => socket = Some(PathBuf::from(p)),
                _ => return Err("--socket needs a path".into()),
            },
            s if s.starts_with("--socket=") => {
                let p = &s["--socket=".len()..];
                if p.is_empty() {
                    return Err("--socket needs a path".into());
                }
                socket = Some(PathBuf::from(p));
            }
            s if s.starts_with('-') => return Err(format!("unknown option '{s}' (try --help)")),
            s => {
                if let Some(Command::Plugin { args, .. }) = command.as_mut() {
                    args.push(s.to_string());
                    continue;
                }
                if command.is_some() {
                    return Err(format!("unexpected argument '{s}' (try --help)"));
                }
                command = Some(match s {
                    "status" => Command::Status,
                    "connections" => Command::Connections,
                    "config" => Command::Config,
                    "log" => Command::Log { after: 0 },
                    "reopen-logs" => Command::ReopenLogs,
                    p if PLUGIN_COMMANDS.contains(&p) => Command::Plugin {
                        name: p.to_string(),
                        args: Vec::new(),
                    },
                    other => {
                        return Err(format!(
                        "unknown command '{other}' (expected status, connections, config, log, reopen-logs)"
                    ))
                    }
                });
            }
        }
    }
    let Some(command) = command else {
        return Err(
            "missing command (status, connections, config, log, reopen-logs; try --help)".into(),
        );
    };
    if follow && !matches!(command, Command::Log { .. }) {
        return Err("--follow goes with the log command only".into());
    }
    Ok(Some(Options {
        command,
        socket,
        json,
        follow,
    }))
}

/// One request, one reply.
pub fn exchange(s: &mut UnixStream, cmd: &Command) -> Result<Answer, String> {
    // A server that refuses the connection (busy) answers and closes
    // before reading: its answer is still worth reading after a failed write.
    let sent = s.write_all(&encode_command(cmd));
    let mut prefix = [0u8; 4];
    let got = s.read_exact(&mut prefix);
    if let (Err(e), Err(_)) = (&sent, &got) {
        return Err(format!("cannot send the request: {e}"));
    }
    got.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => "the server closed the connection without answering".into(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "the server did not answer in time".into()
        }
        _ => format!("cannot read the reply: {e}"),
    })?;
    let n = frame_len(prefix, MAX_REPLY).map_err(|m| format!("bad reply: {m}"))?;
    let mut payload = vec![0u8; n];
    s.read_exact(&mut payload)
        .map_err(|e| format!("cannot read the reply: {e}"))?;
    decode_answer(&payload).map_err(|m| format!("bad reply: {m}"))
}

fn fail(msg: &str) -> u8 {
    eprintln!("firmware-server: ctl: {msg}");
    1
}

/// The client; returns the exit code (0 ok, 1 failure, 2 bad command line).
pub fn client(args: &[String], sections: &[Section<'_>]) -> u8 {
    let opts = match parse_args(args) {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return 0;
        }
        Err(m) => {
            eprintln!("firmware-server: ctl: {m}");
            return 2;
        }
    };
    let socket = match &opts.socket {
        Some(p) => p.clone(),
        None => match CtlConfig::from_sections(sections) {
            Ok(c) => c.socket,
            Err(errs) => {
                for e in errs {
                    eprintln!("{e}");
                }
                return 1;
            }
        },
    };
    let mut s = match connect(&socket) {
        Ok(s) => s,
        Err(m) => {
            return fail(&format!(
                "{m} (is the server running with a [ctl] section?)"
            ))
        }
    };
    if opts.follow {
        return follow(&socket, s, opts.json);
    }
    let answer = match exchange(&mut s, &opts.command) {
        Ok(a) => a,
        Err(m) => return fail(&m),
    };
    let text = match answer {
        Answer::Error(m) => return fail(&m),
        Answer::Status(st) => {
            if opts.json {
                status_json(&st)
            } else {
                status_human(&st)
            }
        }
        Answer::Connections(c) => {
            if opts.json {
                connections_json(&c)
            } else {
                connections_human(&c)
            }
        }
        Answer::Config(text) => {
            if opts.json {
                format!("{{\"config\":{}}}\n", json_str(&text))
            } else {
                text
            }
        }
        Answer::Log(chunk) => log_text(&chunk, opts.json),
        Answer::Done(m) => {
            if opts.json {
                format!("{{\"ok\":true,\"message\":{}}}\n", json_str(&m))
            } else {
                format!("{m}\n")
            }
        }
    };
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    0
}

fn connect(socket: &std::path::Path) -> Result<UnixStream, String> {
    let s = UnixStream::connect(socket)
        .map_err(|e| format!("cannot connect to {}: {e}", socket.display()))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    Ok(s)
}

/// `log --follow`: polls about every 500 ms until interrupted (or the
/// server goes away: exit 1; or stdout is closed: exit 0). A connection the
/// server dropped between polls (its `timeout` may be shorter than the
/// poll interval) is opened again once.
fn follow(socket: &std::path::Path, mut s: UnixStream, json: bool) -> u8 {
    let mut after = 0u64;
    loop {
        let mut answer = exchange(&mut s, &Command::Log { after });
        if answer.is_err() {
            answer = connect(socket).and_then(|fresh| {
                s = fresh;
                exchange(&mut s, &Command::Log { after })
            });
        }
        match answer {
            Ok(Answer::Log(chunk)) => {
                after = chunk.next;
                if !chunk.lines.is_empty() || chunk.missed > 0 {
                    let mut out = io::stdout().lock();
                    if out
                        .write_all(log_text(&chunk, json).as_bytes())
                        .and_then(|()| out.flush())
                        .is_err()
                    {
                        return 0;
                    }
                }
            }
            Ok(Answer::Error(m)) => return fail(&m),
            Ok(_) => return fail("unexpected reply to log"),
            Err(m) => return fail(&m),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn log_text(c: &LogChunk, json: bool) -> String {
    if json {
        let lines: Vec<String> = c.lines.iter().map(|l| json_str(l)).collect();
        return format!(
            "{{\"next\":{},\"missed\":{},\"lines\":[{}]}}\n",
            c.next,
            c.missed,
            lines.join(",")
        );
    }
    let mut out = String::new();
    if c.missed > 0 {
        let _ = writeln!(
            out,
            "... {} line(s) left the ring before they were read",
            c.missed
        );
    }
    for l in &c.lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn uptime(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h}h {m}m {s}s")
    } else if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else {
        format!("{s}s")
    }
}

fn totals(st: &StatusReply) -> [u64; 5] {
    let mut t = [0u64; 5];
    for w in &st.workers {
        for (a, b) in t
            .iter_mut()
            .zip([w.live, w.capacity, w.requests, w.bytes, w.errors])
        {
            *a = a.saturating_add(b);
        }
    }
    t
}

fn log_drops(st: &StatusReply) -> Option<u64> {
    match &st.logger {
        Some(Ok(text)) => ring::stats(text)
            .into_iter()
            .find(|(k, _)| k == "dropped")
            .map(|(_, v)| v),
        _ => None,
    }
}

pub fn status_human(st: &StatusReply) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "firmware-server {}", st.version);
    let _ = writeln!(o, "uptime:      {}", uptime(st.uptime_secs));
    let _ = writeln!(o, "features:    {}", st.features.join(" "));
    let _ = writeln!(
        o,
        "refused:     {} (503, every connection slot busy)",
        st.refused
    );
    let drops = match (&st.logger, log_drops(st)) {
        (None, _) => "n/a (no logger plugin)".to_string(),
        (Some(Err(m)), _) => format!("n/a (logger: {m})"),
        (Some(Ok(_)), Some(n)) => n.to_string(),
        (Some(Ok(_)), None) => "unknown (unexpected logger stats)".to_string(),
    };
    let _ = writeln!(o, "log drops:   {drops}");
    let _ = writeln!(
        o,
        "{:<8}{:>8}{:>10}{:>12}{:>14}{:>10}",
        "worker", "live", "capacity", "requests", "bytes", "errors"
    );
    let row = |o: &mut String, name: &str, v: [u64; 5]| {
        let _ = writeln!(
            o,
            "{:<8}{:>8}{:>10}{:>12}{:>14}{:>10}",
            name, v[0], v[1], v[2], v[3], v[4]
        );
    };
    for (i, w) in st.workers.iter().enumerate() {
        row(
            &mut o,
            &i.to_string(),
            [w.live, w.capacity, w.requests, w.bytes, w.errors],
        );
    }
    row(&mut o, "total", totals(st));
    o
}

pub fn status_json(st: &StatusReply) -> String {
    let mut o = String::from("{");
    let _ = write!(
        o,
        "\"version\":{},\"uptime_secs\":{},\"features\":[{}],\"refused\":{},",
        json_str(&st.version),
        st.uptime_secs,
        st.features
            .iter()
            .map(|f| json_str(f))
            .collect::<Vec<_>>()
            .join(","),
        st.refused
    );
    match log_drops(st) {
        Some(n) => {
            let _ = write!(o, "\"log_drops\":{n},");
        }
        None => o.push_str("\"log_drops\":null,"),
    }
    match &st.logger {
        None => o.push_str("\"logger\":null,"),
        Some(Err(m)) => {
            let _ = write!(o, "\"logger\":{{\"error\":{}}},", json_str(m));
        }
        Some(Ok(text)) => {
            let kv: Vec<String> = ring::stats(text)
                .iter()
                .map(|(k, v)| format!("{}:{v}", json_str(k)))
                .collect();
            let _ = write!(o, "\"logger\":{{{}}},", kv.join(","));
        }
    }
    let worker = |i: Option<usize>, v: [u64; 5]| {
        let id = i.map_or(String::new(), |i| format!("\"worker\":{i},"));
        format!(
            "{{{id}\"live\":{},\"capacity\":{},\"requests\":{},\"bytes\":{},\"errors\":{}}}",
            v[0], v[1], v[2], v[3], v[4]
        )
    };
    let ws: Vec<String> = st
        .workers
        .iter()
        .enumerate()
        .map(|(i, w)| worker(Some(i), [w.live, w.capacity, w.requests, w.bytes, w.errors]))
        .collect();
    let _ = writeln!(
        o,
        "\"workers\":[{}],\"total\":{}}}",
        ws.join(","),
        worker(None, totals(st))
    );
    o
}

pub fn connections_human(c: &[Connection]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<8}{:<42}{:<42}{:<8}{:>9}  tls",
        "worker", "peer", "local", "state", "requests"
    );
    for x in c {
        let _ = writeln!(
            o,
            "{:<8}{:<42}{:<42}{:<8}{:>9}  {}",
            x.worker,
            x.peer,
            x.local,
            x.state,
            x.requests,
            if x.secure { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        o,
        "({} connection{})",
        c.len(),
        if c.len() == 1 { "" } else { "s" }
    );
    o
}

pub fn connections_json(c: &[Connection]) -> String {
    let items: Vec<String> = c
        .iter()
        .map(|x| {
            format!(
                "{{\"worker\":{},\"peer\":{},\"local\":{},\"state\":{},\"requests\":{},\"secure\":{}}}",
                x.worker,
                json_str(&x.peer),
                json_str(&x.local),
                json_str(&x.state),
                x.requests,
                x.secure
            )
        })
        .collect();
    format!("[{}]\n", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::WorkerReply;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn command_lines() {
        let ok: &[(&str, Command, Option<&str>, bool, bool)] = &[
            ("status", Command::Status, None, false, false),
            ("status --json", Command::Status, None, true, false),
            (
                "--json connections",
                Command::Connections,
                None,
                true,
                false,
            ),
            (
                "config --socket /tmp/s",
                Command::Config,
                Some("/tmp/s"),
                false,
                false,
            ),
            ("log --follow", Command::Log { after: 0 }, None, false, true),
            (
                "log -f --socket=/x --json",
                Command::Log { after: 0 },
                Some("/x"),
                true,
                true,
            ),
            ("reopen-logs", Command::ReopenLogs, None, false, false),
            (
                "tls reload-certs",
                Command::Plugin {
                    name: "tls".into(),
                    args: vec!["reload-certs".into()],
                },
                None,
                false,
                false,
            ),
        ];
        for (line, cmd, sock, json, follow) in ok {
            let o = parse_args(&args(line)).unwrap().unwrap();
            assert_eq!(&o.command, cmd, "{line}");
            assert_eq!(
                o.socket.as_deref(),
                sock.map(std::path::Path::new),
                "{line}"
            );
            assert_eq!((o.json, o.follow), (*json, *follow), "{line}");
        }
        assert_eq!(parse_args(&args("--help")), Ok(None));
        assert_eq!(parse_args(&args("status help")), Ok(None));
        let bad: &[(&str, &str)] = &[
            ("", "missing command"),
            ("--json", "missing command"),
            ("stats", "unknown command 'stats'"),
            ("status extra", "unexpected argument 'extra'"),
            ("status --socket", "--socket needs a path"),
            ("status --socket=", "--socket needs a path"),
            ("status --verbose", "unknown option '--verbose'"),
            ("status --follow", "--follow goes with the log command"),
        ];
        for (line, want) in bad {
            let e = parse_args(&args(line)).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn json_strings() {
        let cases: &[(&str, &str)] = &[
            ("", "\"\""),
            ("a\"b\\c", "\"a\\\"b\\\\c\""),
            ("\n\r\t\u{1}\u{7f}", "\"\\n\\r\\t\\u0001\\u007f\""),
            ("é😀", "\"é😀\""),
        ];
        for (s, want) in cases {
            assert_eq!(json_str(s), *want);
        }
    }

    fn st(logger: Option<Result<String, String>>) -> StatusReply {
        StatusReply {
            version: "0.1.0".into(),
            uptime_secs: 3723,
            features: vec!["ctl".into(), "logger".into()],
            refused: 2,
            workers: vec![
                WorkerReply {
                    live: 1,
                    capacity: 512,
                    requests: 10,
                    bytes: 1000,
                    errors: 1,
                },
                WorkerReply {
                    live: 0,
                    capacity: 512,
                    requests: 5,
                    bytes: 24,
                    errors: 0,
                },
            ],
            logger,
        }
    }

    #[test]
    fn status_outputs() {
        let s = st(Some(Ok(
            "written_access 3\ndropped 4\ndropped_busy 4\n".into()
        )));
        let j = status_json(&s);
        assert_eq!(
            j,
            "{\"version\":\"0.1.0\",\"uptime_secs\":3723,\"features\":[\"ctl\",\"logger\"],\"refused\":2,\
             \"log_drops\":4,\"logger\":{\"written_access\":3,\"dropped\":4,\"dropped_busy\":4},\
             \"workers\":[{\"worker\":0,\"live\":1,\"capacity\":512,\"requests\":10,\"bytes\":1000,\"errors\":1},\
             {\"worker\":1,\"live\":0,\"capacity\":512,\"requests\":5,\"bytes\":24,\"errors\":0}],\
             \"total\":{\"live\":1,\"capacity\":1024,\"requests\":15,\"bytes\":1024,\"errors\":1}}\n"
        );
        let h = status_human(&s);
        assert!(h.contains("uptime:      1h 2m 3s"), "{h}");
        assert!(h.contains("log drops:   4"), "{h}");
        assert!(h.lines().last().unwrap().starts_with("total"), "{h}");
        let j = status_json(&st(None));
        assert!(j.contains("\"log_drops\":null,\"logger\":null,"), "{j}");
        let j = status_json(&st(Some(Err("x\"y".into()))));
        assert!(j.contains("\"logger\":{\"error\":\"x\\\"y\"}"), "{j}");
        assert!(status_human(&st(None)).contains("n/a (no logger plugin)"));
    }

    #[test]
    fn connection_outputs() {
        let c = vec![Connection {
            worker: 0,
            peer: "127.0.0.1:4000".into(),
            local: "127.0.0.1:80".into(),
            state: "idle".into(),
            requests: 2,
            secure: false,
        }];
        assert_eq!(
            connections_json(&c),
            "[{\"worker\":0,\"peer\":\"127.0.0.1:4000\",\"local\":\"127.0.0.1:80\",\"state\":\"idle\",\"requests\":2,\"secure\":false}]\n"
        );
        assert_eq!(connections_json(&[]), "[]\n");
        let h = connections_human(&c);
        assert!(
            h.contains("127.0.0.1:4000") && h.ends_with("(1 connection)\n"),
            "{h}"
        );
    }

    #[test]
    fn uptimes() {
        assert_eq!(uptime(0), "0s");
        assert_eq!(uptime(61), "1m 1s");
        assert_eq!(uptime(90061), "1d 1h 1m 1s");
    }
}
