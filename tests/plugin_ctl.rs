//! Black-box tests of the ctl plugin: the control socket of a running server
//! and the `firmware-server ctl` client.
//!
//! Run against a binary built with `--features ctl,logger` (the tests that
//! need the logger adapt when `ctl status` says it is not compiled in, so
//! the suite also runs against `--features ctl`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use blackbox::{
    path_str, req, run, run_with_timeout, scaled, server_command, wait_for, Conn, RunResult,
    Server, Site,
};

struct Ctl {
    site: Site,
    server: Server,
    socket: PathBuf,
    config: String,
}

/// Starts a server with `[ctl]` on a socket in the site's temp dir, plus
/// `extra` config text (`{BASE}` in it becomes the site's temp dir); waits
/// for the socket to answer.
fn start(ctl_keys: &str, extra: &str) -> Ctl {
    let site = Site::new();
    site.file("index.html", "home\n")
        .file("a.txt", "0123456789")
        .file("big.bin", vec![b'x'; 100_000]);
    let socket = site.base().join("ctl.sock");
    let extra = extra.replace("{BASE}", &path_str(site.base()));
    let text = format!(
        "[ctl]\nsocket = \"{}\"\n{ctl_keys}\n{extra}",
        path_str(&socket)
    );
    let config = path_str(&site.config("server.toml", &text));
    let server = site.start_args(&["--config", &config, "--workers", "2"]);
    wait_socket(&socket);
    Ctl {
        site,
        server,
        socket,
        config,
    }
}

/// Whether the binary has the logger plugin (a `[logger]` section is then
/// accepted).
fn logger_in_build() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        let site = Site::new();
        let cfg = path_str(&site.config("probe.toml", "[logger]\n"));
        run(&["--check-config", "--config", &cfg]).code() == Some(0)
    })
}

/// `text` when the build has the logger plugin, else nothing.
fn logger_section(text: &str) -> &str {
    if logger_in_build() {
        text
    } else {
        ""
    }
}

#[track_caller]
fn wait_socket(socket: &Path) {
    let up = wait_for(scaled(5.0), || UnixStream::connect(socket).ok());
    assert!(
        up.is_some(),
        "the control socket {} did not come up",
        socket.display()
    );
}

impl Ctl {
    /// `firmware-server ctl --config FILE ARGS...`
    fn run(&self, args: &[&str]) -> RunResult {
        let mut full = vec!["ctl", "--config", self.config.as_str()];
        full.extend_from_slice(args);
        run(&full)
    }

    #[track_caller]
    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(
            r.code(),
            Some(0),
            "ctl {args:?}\nstdout: {}\nstderr: {}",
            r.stdout,
            r.stderr
        );
        r.stdout
    }

    fn has_logger(&self) -> bool {
        let j = self.ok(&["status", "--json"]);
        j.contains("\"logger\"]") || j.contains("\"logger\",")
    }
}

/// The number after `"key":` in `json` (first occurrence after `from`).
#[track_caller]
fn json_num(json: &str, from: &str, key: &str) -> u64 {
    let start = json
        .find(from)
        .unwrap_or_else(|| panic!("no {from} in {json}"));
    let rest = &json[start..];
    let k = format!("\"{key}\":");
    let i = rest
        .find(&k)
        .unwrap_or_else(|| panic!("no {key} in {rest}"));
    let digits: String = rest[i + k.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {rest}"))
}

/// Sends raw bytes on the control socket; returns what came back until EOF.
fn raw_exchange(socket: &Path, bytes: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(socket).expect("connect to the control socket");
    s.set_read_timeout(Some(scaled(5.0))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Either nothing (closed) or one error frame mentioning `want`.
#[track_caller]
fn assert_error_or_closed(reply: &[u8], want: &str) {
    if reply.is_empty() {
        return;
    }
    assert!(reply.len() >= 4, "short reply {reply:?}");
    let n = u32::from_be_bytes(reply[..4].try_into().unwrap()) as usize;
    assert_eq!(n, reply.len() - 4, "one frame, then close: {reply:?}");
    let text = String::from_utf8_lossy(&reply[4..]);
    assert!(text.contains(want), "reply {text:?} lacks {want:?}");
}

#[track_caller]
fn assert_still_serving(c: &Ctl) {
    c.server.get("/index.html").assert_body(200, "home\n");
    let s = c.ok(&["status"]);
    assert!(s.starts_with("firmware-server "), "{s}");
}

#[test]
fn status_human_and_json_count_requests() {
    let c = start("", logger_section("[logger]\naccess = \"ring\"\n"));
    let before = c.ok(&["status", "--json"]);
    let req0 = json_num(&before, "\"total\"", "requests");
    for _ in 0..3 {
        c.server.get("/a.txt").assert_body(200, "0123456789");
    }
    assert_eq!(c.server.get("/missing").status, 404);
    assert_eq!(c.server.get("/big.bin").body.len(), 100_000);
    let j = c.ok(&["status", "--json"]);
    assert!(j.starts_with("{\"version\":\""), "{j}");
    assert!(j.ends_with("}\n"), "{j}");
    assert!(j.contains("\"features\":["), "{j}");
    assert!(j.contains("\"ctl\""), "{j}");
    assert_eq!(json_num(&j, "\"total\"", "requests"), req0 + 5, "{j}");
    assert!(json_num(&j, "\"total\"", "bytes") >= 100_000, "{j}");
    assert!(json_num(&j, "\"total\"", "errors") >= 1, "{j}");
    assert!(json_num(&j, "\"total\"", "capacity") > 0, "{j}");
    let _ = json_num(&j, "{", "uptime_secs");
    let _ = json_num(&j, "{", "refused");
    // Two workers, each listed.
    assert!(
        j.contains("\"worker\":0,") && j.contains("\"worker\":1,"),
        "{j}"
    );
    if c.has_logger() {
        assert_eq!(json_num(&j, "{", "log_drops"), 0, "{j}");
        assert!(json_num(&j, "\"logger\"", "written_access") <= 5, "{j}");
    } else {
        assert!(j.contains("\"log_drops\":null,\"logger\":null"), "{j}");
    }

    let h = c.ok(&["status"]);
    for want in [
        "firmware-server ",
        "uptime:",
        "features:",
        "refused:",
        "log drops:",
        "worker",
        "total",
    ] {
        assert!(h.contains(want), "{want} missing in\n{h}");
    }
    let total = h.lines().find(|l| l.starts_with("total")).unwrap();
    let cols: Vec<&str> = total.split_whitespace().collect();
    assert_eq!(cols[3], (req0 + 5).to_string(), "{h}");
}

#[test]
fn connections_lists_an_open_keepalive_connection() {
    let c = start("", "");
    let stream = TcpStream::connect(c.server.addr()).unwrap();
    let me = stream.local_addr().unwrap();
    let mut conn = Conn::from_stream(stream);
    conn.request(&req("GET", "/index.html", &[]))
        .assert_body(200, "home\n");
    let h = c.ok(&["connections"]);
    let line = h
        .lines()
        .find(|l| l.contains(&me.to_string()))
        .unwrap_or_else(|| panic!("{me} not listed:\n{h}"));
    assert!(line.contains("idle"), "{line}");
    assert!(line.contains(&c.server.addr().to_string()), "{line}");
    let j = c.ok(&["connections", "--json"]);
    assert!(j.starts_with('[') && j.ends_with("]\n"), "{j}");
    assert!(j.contains(&format!("\"peer\":\"{me}\"")), "{j}");
    assert!(j.contains("\"requests\":1,"), "{j}");
    let open = json_num(&c.ok(&["status", "--json"]), "\"total\"", "live");
    assert!(open >= 1);
    drop(conn);
    let gone = wait_for(scaled(3.0), || {
        (!c.ok(&["connections", "--json"]).contains(&me.to_string())).then_some(())
    });
    assert!(gone.is_some(), "closed connection still listed");
}

#[test]
fn config_shows_the_effective_config() {
    let c = start("max_clients = 3", "[server]\nmax_keepalive_requests = 77\n");
    let text = c.ok(&["config"]);
    assert!(text.contains("[server]"), "{text}");
    assert!(text.contains("max_keepalive_requests = 77"), "{text}");
    assert!(text.contains("[ctl]"), "{text}");
    assert!(
        text.contains(&format!("socket = \"{}\"", path_str(&c.socket))),
        "{text}"
    );
    assert!(text.contains("max_clients = 3"), "{text}");
    let j = c.ok(&["config", "--json"]);
    assert!(
        j.starts_with("{\"config\":\"") && j.contains("max_clients = 3\\n"),
        "{j}"
    );
    // --check-config prints the same [ctl] section.
    let r = run(&["--check-config", "--config", &c.config]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("[ctl]\nsocket = "), "{}", r.stdout);
}

#[test]
fn reopen_logs_and_log() {
    let probe = start("", "");
    let logger = probe.has_logger();
    drop(probe);
    if !logger {
        let c = start("", "");
        let out = c.ok(&["reopen-logs"]);
        assert!(out.contains("no logger plugin"), "{out}");
        let r = c.run(&["log"]);
        assert_eq!(r.code(), Some(1));
        assert!(
            r.stderr.contains("without the logger plugin"),
            "{}",
            r.stderr
        );
        assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
        return;
    }
    let c = start(
        "",
        "[logger]\naccess = \"file:{BASE}/access.log\"\nerror = \"ring\"\n",
    );
    let path = c.site.base().join("access.log");
    c.server.get("/index.html").assert_status(200);
    let moved = path.with_extension("log.1");
    wait_for(scaled(3.0), || path.exists().then_some(())).expect("access log created");
    std::fs::rename(&path, &moved).unwrap();
    let out = c.ok(&["reopen-logs"]);
    assert!(out.contains("reopened"), "{out}");
    let j = c.ok(&["reopen-logs", "--json"]);
    assert!(j.starts_with("{\"ok\":true,\"message\":"), "{j}");
    c.server.get("/a.txt").assert_status(200);
    let fresh = wait_for(scaled(3.0), || {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|t| t.contains("/a.txt"))
    });
    assert!(fresh.is_some(), "no new access.log after reopen-logs");
    // The error log goes to the ring: `log` reads it (whatever it holds).
    let j = c.ok(&["log", "--json"]);
    assert!(j.starts_with("{\"next\":"), "{j}");
}

#[test]
fn log_reads_the_ring_and_follows() {
    let c = start("", logger_section("[logger]\naccess = \"ring\"\n"));
    if !c.has_logger() {
        let r = c.run(&["log"]);
        assert_eq!(r.code(), Some(1), "{}", r.stdout);
        assert!(r.stderr.contains("logger"), "{}", r.stderr);
        return;
    }
    c.server.get("/index.html").assert_status(200);
    c.server.get("/a.txt?first").assert_status(200);
    let out = wait_for(scaled(3.0), || {
        Some(c.ok(&["log"])).filter(|o| o.contains("/a.txt?first"))
    })
    .expect("the access line reaches the ring");
    assert!(out.contains("\"GET /index.html HTTP/1.1\" 200"), "{out}");
    let j = c.ok(&["log", "--json"]);
    assert!(j.contains("\"lines\":[\"127.0.0.1 - - ["), "{j}");
    assert!(j.contains("\\\"GET /a.txt?first HTTP/1.1\\\""), "{j}");

    // --follow: new lines show up, old ones are printed once.
    let mut child = server_command()
        .args(["ctl", "--config", &c.config, "log", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let collect_until = |seen: &mut String, want: &str| {
        let deadline = Instant::now() + scaled(5.0);
        while !seen.contains(want) && Instant::now() < deadline {
            if let Ok(b) = rx.recv_timeout(Duration::from_millis(100)) {
                seen.push_str(&String::from_utf8_lossy(&b));
            }
        }
        seen.contains(want)
    };
    assert!(collect_until(&mut seen, "/a.txt?first"), "{seen}");
    c.server.get("/a.txt?second").assert_status(200);
    assert!(collect_until(&mut seen, "/a.txt?second"), "{seen}");
    assert_eq!(seen.matches("/a.txt?first").count(), 1, "{seen}");
    assert!(child.try_wait().unwrap().is_none(), "--follow exited");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn follow_survives_a_short_server_timeout() {
    if !logger_in_build() {
        return;
    }
    let c = start("timeout = \"200ms\"", "[logger]\naccess = \"ring\"\n");
    let mut child = server_command()
        .args(["ctl", "--config", &c.config, "log", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    c.server.get("/a.txt?late").assert_status(200);
    std::thread::sleep(Duration::from_millis(1500));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        still_running,
        "--follow exited: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("/a.txt?late"), "{stdout}");
    assert!(stdout.starts_with("{\"next\":"), "{stdout}");
}

#[test]
fn log_without_a_ring_is_a_clear_error() {
    let c = start("", "");
    let r = c.run(&["log"]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout);
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.starts_with("firmware-server: ctl: log: "),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("ring") || r.stderr.contains("logger"),
        "{}",
        r.stderr
    );
}

#[test]
fn socket_is_mode_0600() {
    let c = start("", "");
    let md = std::fs::symlink_metadata(&c.socket).unwrap();
    assert!(md.file_type().is_socket());
    assert_eq!(md.permissions().mode() & 0o777, 0o600);
}

#[test]
fn garbage_and_oversized_frames() {
    let c = start("", "");
    // A frame of garbage.
    let r = raw_exchange(&c.socket, &[0, 0, 0, 5, 0xff, 0xfe, 0xfd, 0xfc, 0xfb]);
    assert_error_or_closed(&r, "malformed");
    assert_still_serving(&c);
    // Oversized length prefix, with nothing after it.
    let r = raw_exchange(&c.socket, &[0x7f, 0xff, 0xff, 0xff]);
    assert_error_or_closed(&r, "too large");
    let r = raw_exchange(&c.socket, &[0, 1, 0, 1]);
    assert_error_or_closed(&r, "too large");
    assert_still_serving(&c);
    // Empty frame; a version from the future; plain text.
    assert_error_or_closed(&raw_exchange(&c.socket, &[0, 0, 0, 0]), "empty frame");
    assert_error_or_closed(
        &raw_exchange(&c.socket, &[0, 0, 0, 2, 9, 0]),
        "protocol version 9",
    );
    assert_error_or_closed(
        &raw_exchange(&c.socket, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        "too large",
    );
    // A truncated frame, then the client goes away.
    {
        let mut s = UnixStream::connect(&c.socket).unwrap();
        s.write_all(&[0, 0, 0, 100, 1, 2]).unwrap();
    }
    // Half a length prefix, then close.
    {
        let mut s = UnixStream::connect(&c.socket).unwrap();
        s.write_all(&[0, 0]).unwrap();
    }
    // A random burst.
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..20 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let mut framed = vec![0, 0, 0, 60];
        framed.extend_from_slice(&bytes[..60]);
        let _ = raw_exchange(&c.socket, &framed);
    }
    assert_still_serving(&c);
}

#[test]
fn silent_client_is_dropped_after_the_timeout() {
    let c = start("timeout = \"500ms\"", "");
    let mut s = UnixStream::connect(&c.socket).unwrap();
    s.set_read_timeout(Some(scaled(5.0))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "expected EOF, got {:?}", &buf[..n]);
    assert!(
        t.elapsed() >= Duration::from_millis(400),
        "{:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < scaled(4.0), "{:?}", t.elapsed());
    assert_still_serving(&c);
}

#[test]
fn concurrent_clients_are_bounded() {
    let c = start("max_clients = 2\ntimeout = \"3s\"", "");
    // Let the server finish with the probe connection of `start`.
    std::thread::sleep(Duration::from_millis(300));
    let _a = UnixStream::connect(&c.socket).unwrap();
    let _b = UnixStream::connect(&c.socket).unwrap();
    // Give the server a moment to accept both.
    std::thread::sleep(Duration::from_millis(200));
    let r = c.run(&["status"]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout);
    assert!(r.stderr.contains("busy: 2 control clients"), "{}", r.stderr);
    drop(_a);
    drop(_b);
    let ok = wait_for(scaled(3.0), || {
        (c.run(&["status"]).code() == Some(0)).then_some(())
    });
    assert!(ok.is_some(), "status still refused after the clients left");
}

#[test]
fn client_errors() {
    let site = Site::new();
    let missing = site.base().join("nope.sock");
    let r = run(&["ctl", "--socket", &path_str(&missing), "status"]);
    assert_eq!(r.code(), Some(1));
    assert_eq!(r.stderr_lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("firmware-server: ctl: cannot connect to "),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&path_str(&missing)), "{}", r.stderr);
    assert!(r.stdout.is_empty());

    // The socket path from the config file.
    let cfg = path_str(&site.config(
        "c.toml",
        &format!("[ctl]\nsocket = \"{}\"\n", path_str(&missing)),
    ));
    let r = run(&["ctl", "--config", &cfg, "status"]);
    assert_eq!(r.code(), Some(1));
    assert!(r.stderr.contains(&path_str(&missing)), "{}", r.stderr);

    for (args, want) in [
        (vec!["ctl"], "missing command"),
        (vec!["ctl", "frobnicate"], "unknown command 'frobnicate'"),
        (vec!["ctl", "status", "--socket"], "--socket needs a path"),
        (vec!["ctl", "status", "--bogus"], "unknown option '--bogus'"),
        (
            vec!["ctl", "status", "--follow"],
            "--follow goes with the log command",
        ),
        (vec!["ctl", "--config"], "--config needs a file"),
    ] {
        let r = run(&args);
        assert_eq!(r.code(), Some(2), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr_lines().len(), 1, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(want), "{args:?}: {}", r.stderr);
    }
    let r = run(&["ctl", "--help"]);
    assert_eq!(r.code(), Some(0));
    assert!(r.stdout.contains("reopen-logs"), "{}", r.stdout);

    // A bad [ctl] section in the config the client reads.
    let bad = path_str(&site.config("bad.toml", "[ctl]\nmax_clients = 0\n"));
    let r = run(&["ctl", "--config", &bad, "status"]);
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr.contains(&format!("{bad}:2: max_clients")),
        "{}",
        r.stderr
    );
}

#[test]
fn stale_socket_is_replaced_and_a_live_one_refused() {
    let c = start("", "");
    // A second server on the same socket refuses to start.
    let r = run_with_timeout(
        &[
            "--root",
            &c.site.root_str(),
            "--config",
            &c.config,
            "--listen",
            "127.0.0.1:0",
        ],
        scaled(10.0),
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(
        r.stderr.contains("another server answers on"),
        "{}",
        r.stderr
    );
    assert_still_serving(&c);
    // Kill the first one: its socket file stays behind, stale.
    let Ctl {
        site,
        server,
        socket,
        config,
    } = c;
    drop(server);
    assert!(socket.exists());
    let server = site.start_args(&["--config", &config]);
    wait_socket(&socket);
    let c = Ctl {
        site,
        server,
        socket,
        config,
    };
    assert_still_serving(&c);
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let site = Site::new();
    let path = site.outside("precious.txt", "keep me");
    let cfg = path_str(&site.config(
        "c.toml",
        &format!("[ctl]\nsocket = \"{}\"\n", path_str(&path)),
    ));
    let r = run_with_timeout(
        &[
            "--root",
            &site.root_str(),
            "--config",
            &cfg,
            "--listen",
            "127.0.0.1:0",
        ],
        scaled(10.0),
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert!(r.stderr.contains("is not a socket"), "{}", r.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn bad_ctl_config_is_reported_with_file_and_line() {
    let site = Site::new();
    let cfg = path_str(&site.config(
        "c.toml",
        "[ctl]\nsocket = 5\nmax_clients = 1000\ntimeout = \"soon\"\nlisten = \"x\"\n",
    ));
    let r = run(&["--check-config", "--config", &cfg]);
    assert_eq!(r.code(), Some(1), "{}", r.stdout);
    let lines = r.stderr_lines();
    for (line, want) in [
        (2, "socket: expected a path string"),
        (3, "max_clients: expected an integer from 1 to 64"),
        (4, "timeout: expected a duration"),
        (5, "unknown key listen"),
    ] {
        let prefix = format!("{cfg}:{line}: ");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(want)),
            "no {prefix}...{want} in\n{}",
            r.stderr
        );
    }
    assert_eq!(lines.len(), 4, "{}", r.stderr);
}

#[test]
fn no_ctl_section_serves_nothing() {
    let site = Site::new();
    site.file("index.html", "home\n");
    let srv = site.start();
    srv.get("/index.html").assert_status(200);
    let r = run(&["--check-config", "--root", &site.root_str()]);
    assert!(!r.stdout.contains("[ctl]"), "{}", r.stdout);
}
