//! Black-box tests of the logger plugin through the real binary: file
//! target (combined and common lines, mode 0600, goaccess, logrotate-style
//! reopen on SIGHUP), escaping, syslog over a Unix datagram socket, the ring
//! target, a full disk (/dev/full), the error log, and config errors.
//!
//! Needs Debian's `goaccess` (installed with apt-get when missing).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use blackbox::{path_str, req, run, scaled, wait_for, Server, Site};

/// A site with an index page of 6 bytes and a logger section.
fn site() -> Site {
    let s = Site::new();
    s.file("index.html", "hello\n");
    s
}

fn start(s: &Site, logger: &str) -> Server {
    s.start_with_config(&format!("[logger]\n{logger}"))
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

/// Waits until `p` holds at least `n` lines; returns them.
#[track_caller]
fn lines(p: &Path, n: usize) -> Vec<String> {
    match wait_for(scaled(5.0), || {
        let t = read(p);
        (t.lines().count() >= n).then(|| t.lines().map(str::to_string).collect::<Vec<_>>())
    }) {
        Some(v) => v,
        None => panic!(
            "{} did not get {n} lines; it has:\n{}",
            p.display(),
            read(p)
        ),
    }
}

/// Checks the `[dd/Mon/yyyy:hh:mm:ss +0000]` field and returns the line with
/// it replaced by `[DATE]`.
#[track_caller]
fn undate(line: &str) -> String {
    let open = line
        .find('[')
        .unwrap_or_else(|| panic!("no date in {line:?}"));
    let close = open + 1 + line[open + 1..].find(']').expect("date closed");
    let d = &line[open + 1..close];
    let b = d.as_bytes();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    assert!(
        d.len() == 26
            && digits(0..2)
            && b[2] == b'/'
            && months.contains(&&d[3..6])
            && b[6] == b'/'
            && digits(7..11)
            && b[11] == b':'
            && digits(12..14)
            && b[14] == b':'
            && digits(15..17)
            && b[17] == b':'
            && digits(18..20)
            && &d[20..] == " +0000",
        "bad CLF date {d:?} in {line:?}"
    );
    format!("{}[DATE]{}", &line[..open], &line[close + 1..])
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p)
        .expect("log file exists")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn file_target_writes_combined_lines_mode_0600() {
    let s = site();
    let log = s.dir.join("access.log");
    let srv = start(&s, &format!("access = \"file:{}\"\n", path_str(&log)));
    srv.get_with(
        "/index.html",
        &[
            ("Referer", "http://ref.example/page?a=1"),
            ("User-Agent", "Test/1.0 (x)"),
        ],
    )
    .assert_status(200);
    srv.get("/missing").assert_status(404);
    srv.request(&req("HEAD", "/index.html", &[]))
        .assert_status(200);
    srv.get_with(
        "/index.html",
        &[("Authorization", "Basic dXNlcjpzM2NyZXQtcGFzc3dvcmQ=")],
    )
    .assert_status(200);
    srv.request("GET /index.html HTTP/1.0\r\n\r\n")
        .assert_status(200);
    let mut got: Vec<String> = lines(&log, 5).iter().map(|l| undate(l)).collect();
    // An error page's length: `-` or its byte count, depending on whether
    // the engine reports generated bodies.
    let i404 = got
        .iter()
        .position(|l| l.contains("/missing"))
        .unwrap_or_else(|| panic!("no 404 line in {got:?}"));
    let e404 = got[i404]
        .strip_prefix("127.0.0.1 - - [DATE] \"GET /missing HTTP/1.1\" 404 ")
        .and_then(|r| r.strip_suffix(" \"-\" \"-\""))
        .unwrap_or_else(|| panic!("404 line: {:?}", got[i404]))
        .to_string();
    assert!(
        e404 == "-" || e404.parse::<u64>().is_ok_and(|n| n > 0),
        "{e404}"
    );
    got[i404] = got[i404].replace(&format!(" 404 {e404} "), " 404 - ");
    // Lines from different workers may come out in either order.
    got.sort();
    let mut want = [
        "127.0.0.1 - - [DATE] \"GET /index.html HTTP/1.1\" 200 6 \"http://ref.example/page?a=1\" \"Test/1.0 (x)\"",
        "127.0.0.1 - - [DATE] \"GET /missing HTTP/1.1\" 404 - \"-\" \"-\"",
        "127.0.0.1 - - [DATE] \"HEAD /index.html HTTP/1.1\" 200 - \"-\" \"-\"",
        "127.0.0.1 - - [DATE] \"GET /index.html HTTP/1.1\" 200 6 \"-\" \"-\"",
        "127.0.0.1 - - [DATE] \"GET /index.html HTTP/1.0\" 200 6 \"-\" \"-\"",
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(mode(&log), 0o600, "access log must be created 0600");
    let text = read(&log);
    assert!(
        !text.contains("dXNlcjpzM2NyZXQtcGFzc3dvcmQ") && !text.contains("Basic"),
        "the Authorization header leaked into the log:\n{text}"
    );
    // The log's date is today's (UTC), not a fixed value.
    let today = blackbox::http_date(std::time::SystemTime::now());
    let (day, mon, year) = (&today[5..7], &today[8..11], &today[12..16]);
    let first = &text[text.find('[').unwrap() + 1..];
    assert!(
        first.starts_with(&format!("{day}/{mon}/{year}")) || today.starts_with("Thu, 01 Jan"),
        "date of {first:?} is not today ({today})"
    );
}

#[test]
fn common_format_has_no_referer_or_agent() {
    let s = site();
    let log = s.dir.join("a.log");
    let srv = start(
        &s,
        &format!("access = \"{}\"\nformat = \"common\"\n", path_str(&log)),
    );
    srv.get_with(
        "/index.html",
        &[("Referer", "http://r/"), ("User-Agent", "UA")],
    )
    .assert_status(200);
    let got = undate(&lines(&log, 1)[0]);
    assert_eq!(
        got,
        "127.0.0.1 - - [DATE] \"GET /index.html HTTP/1.1\" 200 6"
    );
}

#[test]
fn requests_that_never_parse_are_logged_too() {
    // Garbage and an over-long head are answered 400/431; the log shows
    // them with "-" as the request line, so probes are visible.
    let s = site();
    let log = s.dir.join("a.log");
    let srv = start(
        &s,
        &format!("access = \"{}\"\nformat = \"common\"\n", path_str(&log)),
    );
    let mut c = srv.connect();
    c.send("GARBAGE\r\n\r\n");
    assert_eq!(c.read_response().status, 400);
    let mut c = srv.connect();
    c.send(format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(8000)
    ));
    assert_eq!(c.read_response().status, 414);
    let got: Vec<String> = lines(&log, 2).iter().map(|l| undate(l)).collect();
    assert!(
        got.contains(&"127.0.0.1 - - [DATE] \"-\" 400 -".to_string()),
        "{got:?}"
    );
    assert!(
        got.contains(&"127.0.0.1 - - [DATE] \"-\" 414 -".to_string()),
        "{got:?}"
    );
}

/// Finds `goaccess`, installing Debian's package when it is missing.
fn goaccess() -> &'static str {
    let found = || {
        Command::new("goaccess")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found() {
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", "goaccess"])
            .status();
    }
    assert!(
        found(),
        "this test needs Debian's `goaccess` (apt-get install goaccess); it is not installed and \
         could not be installed"
    );
    "goaccess"
}

/// The number after `"key":` in a JSON text.
fn json_number(json: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\"");
    let at = json.find(&pat)? + pat.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[test]
fn goaccess_parses_the_combined_log() {
    let tool = goaccess();
    let s = site();
    let log = s.dir.join("access.log");
    let srv = start(&s, &format!("access = \"file:{}\"\n", path_str(&log)));
    let n = 7;
    for i in 0..n {
        let ua = format!("Mozilla/5.0 (X11; Linux x86_64) Test/{i} \"quoted\"");
        let path = if i % 3 == 0 {
            "/missing"
        } else {
            "/index.html"
        };
        srv.get_with(
            path,
            &[("User-Agent", &ua), ("Referer", "http://example.org/x")],
        );
    }
    lines(&log, n);
    let out = s.dir.join("report.json");
    let o = Command::new(tool)
        .arg(&log)
        .args(["--log-format=COMBINED", "--no-global-config", "-o"])
        .arg(&out)
        .output()
        .expect("run goaccess");
    assert!(
        o.status.success(),
        "goaccess failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        read(&log)
    );
    let json = read(&out);
    assert_eq!(
        json_number(&json, "total_requests"),
        Some(n as u64),
        "goaccess report: {}",
        &json[..json.len().min(800)]
    );
    assert_eq!(json_number(&json, "valid_requests"), Some(n as u64));
    assert_eq!(json_number(&json, "failed_requests"), Some(0));
}

#[test]
fn sighup_reopens_after_logrotate_rename() {
    let s = site();
    let log = s.dir.join("access.log");
    // An existing world-readable file gets a warning.
    fs::write(&log, "").unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o644)).unwrap();
    let srv = start(&s, &format!("access = \"file:{}\"\n", path_str(&log)));
    assert!(
        wait_for(scaled(5.0), || srv
            .stderr_text()
            .contains("is readable by everyone")
            .then_some(()))
        .is_some(),
        "no warning about the world-readable log file; stderr:\n{}",
        srv.stderr_text()
    );
    srv.get("/index.html?before").assert_status(200);
    lines(&log, 1);
    let rotated = s.dir.join("access.log.1");
    fs::rename(&log, &rotated).unwrap();
    srv.signal("HUP");
    assert!(
        wait_for(scaled(5.0), || log.exists().then_some(())).is_some(),
        "SIGHUP did not reopen (create) {}",
        log.display()
    );
    assert_eq!(mode(&log), 0o600);
    srv.get("/index.html?after").assert_status(200);
    let new = lines(&log, 1);
    assert!(new[0].contains("GET /index.html?after "), "{new:?}");
    let old = read(&rotated);
    assert!(old.contains("?before") && !old.contains("?after"), "{old}");
    // The server still serves and logs after a few more HUPs.
    srv.signal("HUP");
    srv.signal("HUP");
    srv.get("/index.html?again").assert_status(200);
    assert!(lines(&log, 2).iter().any(|l| l.contains("?again")));
}

#[test]
fn request_fields_are_escaped_and_lines_cannot_be_forged() {
    let s = site();
    let log = s.dir.join("access.log");
    let srv = start(&s, &format!("access = \"file:{}\"\n", path_str(&log)));
    // What the HTTP parser lets through: quotes, backslashes, tabs and
    // high bytes in header values, quotes in the target.
    let mut c = srv.connect();
    c.send(
        b"GET /index.html?q=\"x\" HTTP/1.1\r\nHost: h\r\nUser-Agent: a\tb\"c\\d\xc3\xa9\r\n\
          Referer: \" 200 1 \"-\" \"-\r\n\r\n",
    );
    c.read_response().assert_status(200);
    // A forged line after a bare LF inside a header value.
    let mut c = srv.connect();
    c.send(
        b"GET /index.html?real HTTP/1.1\r\nHost: h\r\nUser-Agent: x\"\n\
          127.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /fake HTTP/1.1\" 200 1 \"-\" \"-\"\r\n\
          Connection: close\r\n\r\n",
    );
    let _ = c.read_response();
    // A bare CR, controls, DEL.
    for ua in [&b"a\rb"[..], b"a\x1b[31mb", b"a\x7fb", b"a\x0bb"] {
        let mut raw = b"GET /index.html?ctl HTTP/1.1\r\nHost: h\r\nUser-Agent: ".to_vec();
        raw.extend_from_slice(ua);
        raw.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let mut c = srv.connect();
        c.send(&raw);
        let _ = c.read_response();
    }
    srv.get("/index.html?last").assert_status(200);
    let all = wait_for(scaled(5.0), || {
        let t = read(&log);
        t.contains("?last")
            .then(|| t.lines().map(str::to_string).collect::<Vec<_>>())
    })
    .unwrap_or_else(|| panic!("no ?last line in:\n{}", read(&log)));
    let first = all
        .iter()
        .find(|l| l.contains("?q="))
        .unwrap_or_else(|| panic!("no ?q= line in {all:?}"))
        .clone();
    assert!(
        first.contains("\"GET /index.html?q=\\x22x\\x22 HTTP/1.1\" 200 6 \"\\x22 200 1 \\x22-\\x22 \\x22-\" \"a\\x09b\\x22c\\x5Cd\\xC3\\xA9\""),
        "{first}"
    );
    for l in &all {
        undate(l);
        assert!(l.starts_with("127.0.0.1 - - ["), "a line was forged: {l:?}");
        assert!(
            !l.contains("/fake") || l.contains("\\x22GET /fake"),
            "{l:?}"
        );
        assert_eq!(l.matches('"').count(), 6, "unescaped quote in {l:?}");
        assert!(
            l.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "raw control or high byte in {l:?}"
        );
        assert!(
            !l.contains("10/Oct/2000:13:55:36 +0000]"),
            "forged date as a field: {l:?}"
        );
    }
}

#[test]
fn syslog_target_sends_rfc3164_datagrams() {
    let s = site();
    let sock_path = s.dir.join("log.sock");
    let err_path = s.dir.join("err.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let err_sock = UnixDatagram::bind(&err_path).unwrap();
    sock.set_read_timeout(Some(scaled(5.0))).unwrap();
    err_sock.set_read_timeout(Some(scaled(5.0))).unwrap();
    let srv = start(
        &s,
        &format!(
            "access = \"syslog:local0:{}\"\nerror = \"syslog:user:{}\"\n",
            path_str(&sock_path),
            path_str(&err_path)
        ),
    );
    srv.get_with("/index.html", &[("User-Agent", "sys/1")])
        .assert_status(200);
    let mut buf = [0u8; 8192];
    let n = sock
        .recv(&mut buf)
        .expect("a syslog datagram for the access line");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    // <PRI>Mmm dd hh:mm:ss firmware-server[PID]: LINE
    assert!(msg.starts_with("<134>"), "local0.info is PRI 134: {msg:?}");
    let b = msg.as_bytes();
    assert!(
        b.len() > 21
            && b[8] == b' '
            && b[11] == b' '
            && b[14] == b':'
            && b[17] == b':'
            && b[20] == b' ',
        "RFC 3164 timestamp: {msg:?}"
    );
    let tag = format!(" firmware-server[{}]: ", srv.pid());
    let line = &msg[msg
        .find(&tag)
        .unwrap_or_else(|| panic!("no tag {tag:?} in {msg:?}"))
        + tag.len()..];
    assert_eq!(
        undate(line),
        "127.0.0.1 - - [DATE] \"GET /index.html HTTP/1.1\" 200 6 \"-\" \"sys/1\""
    );
    // The error log: the engine's start-up lines at info (user.info = 14).
    let mut seen = Vec::new();
    let found = loop {
        match err_sock.recv(&mut buf) {
            Ok(n) => {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                if m.contains("listening on http://") {
                    break Some(m);
                }
                seen.push(m);
            }
            Err(_) => break None,
        }
    };
    let m = found
        .unwrap_or_else(|| panic!("no error-log datagram with the listening line; got {seen:?}"));
    assert!(m.starts_with("<14>"), "{m}");
    assert!(
        m.contains(&format!("firmware-server[{}]: INFO ", srv.pid())),
        "{m}"
    );
}

#[test]
fn missing_syslog_socket_is_tolerated() {
    let s = site();
    let missing = s.dir.join("no-such.sock");
    let srv = start(&s, &format!("access = \"syslog:{}\"\n", path_str(&missing)));
    for _ in 0..5 {
        srv.get("/index.html").assert_status(200);
    }
    // Dropped lines are reported on the (engine's) error log.
    assert!(
        wait_for(scaled(5.0), || srv
            .stderr_text()
            .contains("log lines dropped")
            .then_some(()))
        .is_some(),
        "no drop warning; stderr:\n{}",
        srv.stderr_text()
    );
    assert!(srv.stderr_text().contains("syslog 5") || srv.stderr_text().contains("syslog "));
}

#[test]
fn full_disk_drops_lines_and_keeps_serving() {
    let s = site();
    let srv = start(&s, "access = \"file:/dev/full\"\nqueue_size = \"4K\"\n");
    for i in 0..30 {
        let mut c = srv.connect();
        c.send(req("GET", &format!("/index.html?{i}"), &[]).as_bytes());
        c.read_response().assert_status(200);
    }
    // Pipelined burst on one connection too.
    let mut c = srv.connect();
    let mut burst = String::new();
    for _ in 0..50 {
        burst.push_str(&req("GET", "/index.html", &[]));
    }
    c.send(burst.as_bytes());
    for _ in 0..50 {
        c.read_response().assert_status(200);
    }
    let warn = wait_for(scaled(5.0), || {
        let e = srv.stderr_text();
        e.lines()
            .rev()
            .find(|l| l.contains("log lines dropped"))
            .map(str::to_string)
    })
    .unwrap_or_else(|| panic!("no drop warning; stderr:\n{}", srv.stderr_text()));
    assert!(warn.contains("disk full "), "{warn}");
    let n: u64 = warn
        .split("disk full ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0);
    assert!(n >= 1, "disk-full drops not counted: {warn}");
    srv.get("/index.html").assert_status(200);
}

#[test]
fn ring_target_keeps_files_away() {
    let s = site();
    let srv = start(
        &s,
        "access = \"ring\"\nerror = \"ring\"\nring_size = \"8K\"\n",
    );
    for _ in 0..200 {
        srv.get("/index.html").assert_status(200);
    }
    // Nothing goes to stderr: the engine's diagnostics are in the ring.
    assert!(
        !srv.stderr_text().contains("listening on"),
        "{}",
        srv.stderr_text()
    );
    let entries: Vec<_> = fs::read_dir(s.base())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        entries.len(),
        3,
        "no files besides www, secret.txt, server.toml: {entries:?}"
    );
}

#[test]
fn error_log_file_and_level() {
    let s = site();
    let err = s.dir.join("error.log");
    let srv = start(&s, &format!("error = \"file:{}\"\n", path_str(&err)));
    let l = lines(&err, 1);
    let listening = l
        .iter()
        .find(|x| x.contains(&format!("listening on http://{}/", srv.addr())))
        .unwrap_or_else(|| panic!("{l:?}"));
    // 2000-10-10T13:55:36Z INFO target: message
    let b = listening.as_bytes();
    assert!(
        b[4] == b'-' && b[10] == b'T' && b[19] == b'Z' && listening[20..].starts_with(" INFO "),
        "{listening}"
    );
    assert_eq!(mode(&err), 0o600);
    assert!(
        !srv.stderr_text().contains("listening on"),
        "{}",
        srv.stderr_text()
    );
    // stdout keeps its plain line.
    assert!(srv
        .stdout_lines()
        .iter()
        .any(|x| x.starts_with("listening on")));
    drop(srv);

    let s = site();
    let err = s.dir.join("error.log");
    let srv = start(
        &s,
        &format!(
            "error = \"file:{}\"\nerror_level = \"warn\"\n",
            path_str(&err)
        ),
    );
    srv.get("/").assert_status(200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!read(&err).contains("INFO"), "{}", read(&err));
    assert!(!srv.stderr_text().contains("INFO"), "{}", srv.stderr_text());
}

#[test]
fn check_config_prints_the_section() {
    let s = site();
    let cfg = s.config(
        "c.toml",
        "[logger]\naccess = \"ring\"\nformat = \"common\"\nring_size = \"128K\"\n",
    );
    let r = run(&[
        "--root",
        &s.root_str(),
        "--config",
        &path_str(&cfg),
        "--check-config",
    ]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "[logger]\naccess = \"ring\"\nformat = \"common\"\nerror = \"stderr\"\nerror_level = \"info\"\nring_size = 131072\nqueue_size = 16384\n"
        ),
        "{}",
        r.stdout
    );
    // Unconfigured: nothing about the logger.
    let r = run(&["--root", &s.root_str(), "--check-config"]);
    assert_eq!(r.code(), Some(0));
    assert!(!r.stdout.contains("[logger]"), "{}", r.stdout);
}

#[test]
fn bad_config_reports_every_error_with_file_and_line() {
    let s = site();
    let cfg = s.config(
        "bad.toml",
        "[logger]\n\
         access = \"nowhere\"\n\
         error = \"syslog:local9\"\n\
         format = \"json\"\n\
         ring_size = \"1\"\n\
         queue_size = \"lots\"\n\
         error_level = 3\n\
         colour = true\n\
         access2 = \"file:relative.log\"\n",
    );
    let file = path_str(&cfg);
    let r = run(&["--root", &s.root_str(), "--config", &file, "--check-config"]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    let errs = r.stderr_lines();
    let want: &[(u32, &str)] = &[
        (
            2,
            "expected \"off\", \"stderr\", \"ring\", \"file:/ABSOLUTE/PATH\"",
        ),
        (3, "unknown syslog facility \"local9\""),
        (4, "expected \"combined\" or \"common\", got \"json\""),
        (5, "expected a size in bytes 1024..=4194304"),
        (6, "expected a size in bytes 4096..="),
        (7, "expected a level (a string), got 3"),
        (8, "unknown key colour in [logger]"),
        (9, "unknown key access2 in [logger]"),
    ];
    for (line, msg) in want {
        let prefix = format!("{file}:{line}: ");
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&prefix) && e.contains(msg)),
            "missing `{prefix}...{msg}` in:\n{}",
            r.stderr
        );
    }
    assert_eq!(errs.len(), want.len(), "{}", r.stderr);

    // Relative paths, a missing directory, a second section.
    let cfg = s.config(
        "bad2.toml",
        &format!(
            "[logger]\naccess = \"file:logs/a.log\"\nerror = \"file:{}\"\n",
            path_str(&s.dir.join("no/such/dir/e.log"))
        ),
    );
    let file = path_str(&cfg);
    let r = run(&["--root", &s.root_str(), "--config", &file]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "{file}:2: expected an absolute file path, got \"logs/a.log\""
        )),
        "{}",
        r.stderr
    );
    let cfg = s.config(
        "bad3.toml",
        &format!(
            "[logger]\nerror = \"file:{}\"\n",
            path_str(&s.dir.join("no/such/dir/e.log"))
        ),
    );
    let file = path_str(&cfg);
    let r = run(&["--root", &s.root_str(), "--config", &file]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("{file}:2: cannot open log file "))
            && r.stderr.contains("No such file"),
        "{}",
        r.stderr
    );
    let cfg = s.config("bad4.toml", "[[logger]]\naccess = \"ring\"\n[[logger]]\n");
    let file = path_str(&cfg);
    let r = run(&["--root", &s.root_str(), "--config", &file, "--check-config"]);
    assert_eq!(r.code(), Some(1), "{r:?}");
    assert!(
        r.stderr
            .contains(&format!("{file}:1: write the logger section as [logger]")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("{file}:3: only one [logger] section")),
        "{}",
        r.stderr
    );
}

#[test]
fn many_requests_with_a_tiny_queue_never_stall() {
    let s = site();
    let log = s.dir.join("access.log");
    let srv = start(
        &s,
        &format!(
            "access = \"file:{}\"\nqueue_size = \"4K\"\n",
            path_str(&log)
        ),
    );
    let mut c = srv.connect();
    let mut burst = String::new();
    for i in 0..300 {
        burst.push_str(&req(
            "GET",
            &format!("/index.html?{i}"),
            &[("User-Agent", &"U".repeat(200))],
        ));
    }
    c.send(burst.as_bytes());
    for _ in 0..300 {
        c.read_response().assert_status(200);
    }
    // Every line that was written is whole; written + dropped = 300.
    std::thread::sleep(Duration::from_millis(300));
    let text = read(&log);
    for l in text.lines() {
        undate(l);
        assert!(l.ends_with(&format!("\"{}\"", "U".repeat(200))), "{l}");
    }
    let written = text.lines().count();
    assert!(written >= 1, "nothing written");
    if written < 300 {
        let warn = wait_for(scaled(5.0), || {
            srv.stderr_text()
                .lines()
                .find(|l| l.contains("log lines dropped"))
                .map(str::to_string)
        });
        assert!(
            warn.is_some(),
            "{written} of 300 written but no drop warning: {}",
            srv.stderr_text()
        );
    }
}

#[test]
fn lines_are_written_before_exit() {
    let s = site();
    let log = s.dir.join("access.log");
    let mut srv = start(&s, &format!("access = \"file:{}\"\n", path_str(&log)));
    let mut c = srv.connect();
    for i in 0..40 {
        c.send(req("GET", &format!("/index.html?{i}"), &[]).as_bytes());
        c.read_response().assert_status(200);
    }
    drop(c);
    srv.signal("TERM");
    assert!(srv.wait_exit(scaled(10.0)).is_some(), "server did not exit");
    let text = read(&log);
    assert_eq!(text.lines().count(), 40, "{text}");
}

/// The ring through the real control socket, when this build has the ctl
/// plugin (the feature matrix also runs this file against a logger-only
/// build, where the ring is covered by the crate's unit tests).
#[test]
fn ring_read_through_ctl_when_built_in() {
    let probe = run(&["ctl", "status", "--socket", "/nonexistent/fws-ctl.sock"]);
    if probe.stderr.contains("does not include the ctl plugin") {
        eprintln!(
            "note: no ctl plugin in this build; the ring is tested by fws-logger's unit tests"
        );
        return;
    }
    let s = site();
    let sock = s.dir.join("ctl.sock");
    let srv = s.start_with_config(&format!(
        "[ctl]\nsocket = \"{}\"\n[logger]\naccess = \"ring\"\nerror = \"ring\"\n",
        path_str(&sock)
    ));
    for i in 0..3 {
        srv.get(&format!("/index.html?ring{i}")).assert_status(200);
    }
    let cfg = path_str(&s.dir.join("server.toml"));
    let out = wait_for(scaled(5.0), || {
        let r = run(&["ctl", "--config", &cfg, "log"]);
        (r.code() == Some(0) && r.stdout.contains("?ring2")).then_some(r.stdout)
    })
    .unwrap_or_else(|| {
        let r = run(&["ctl", "--config", &cfg, "log"]);
        panic!("ctl log did not show the requests: {r:?}")
    });
    assert!(
        out.contains("\"GET /index.html?ring0 HTTP/1.1\" 200 6"),
        "{out}"
    );
    assert!(
        out.contains("INFO firmware_server: listening on http://"),
        "{out}"
    );
    let st = run(&["ctl", "--config", &cfg, "status"]);
    assert_eq!(st.code(), Some(0), "{st:?}");
    let r = run(&["ctl", "--config", &cfg, "reopen-logs"]);
    assert_eq!(r.code(), Some(0), "{r:?}");
    drop(srv);

    // A full disk: `stats` (through `ctl status`) counts the drops.
    let s = site();
    let sock = s.dir.join("ctl.sock");
    let srv = s.start_with_config(&format!(
        "[ctl]\nsocket = \"{}\"\n[logger]\naccess = \"file:/dev/full\"\n",
        path_str(&sock)
    ));
    for _ in 0..5 {
        srv.get("/index.html").assert_status(200);
    }
    let cfg = path_str(&s.dir.join("server.toml"));
    let n = wait_for(scaled(5.0), || {
        let r = run(&["ctl", "--config", &cfg, "status", "--json"]);
        json_number(&r.stdout, "dropped_disk_full").filter(|&n| n >= 5)
    });
    assert_eq!(
        n,
        Some(5),
        "{:?}",
        run(&["ctl", "--config", &cfg, "status", "--json"])
    );
    // The server kept serving.
    srv.get("/index.html").assert_status(200);
}

#[test]
fn stderr_target_and_off() {
    let s = site();
    let srv = start(&s, "access = \"stderr\"\nformat = \"common\"\n");
    srv.get("/index.html?to-stderr").assert_status(200);
    let line = wait_for(scaled(5.0), || {
        srv.stderr_text()
            .lines()
            .find(|l| l.contains("?to-stderr"))
            .map(str::to_string)
    })
    .unwrap_or_else(|| panic!("no access line on stderr:\n{}", srv.stderr_text()));
    assert_eq!(
        undate(&line),
        "127.0.0.1 - - [DATE] \"GET /index.html?to-stderr HTTP/1.1\" 200 6"
    );
    drop(srv);
    // `off` for both: nothing logged anywhere, not even the engine's lines.
    let s = site();
    let srv = start(&s, "access = \"off\"\nerror = \"off\"\n");
    srv.get("/index.html?quiet").assert_status(200);
    std::thread::sleep(Duration::from_millis(200));
    assert!(srv.stderr_text().trim().is_empty(), "{}", srv.stderr_text());
}
