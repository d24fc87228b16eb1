//! Black-box tests of the CGI plugin (`[cgi]`, `--cgi`, `--cgi-interpreter`)
//! with real programs: shell scripts, php-cgi (Debian php-cgi), git's
//! smart-HTTP backend (`git http-backend`, with the auth plugin guarding
//! pushes), X-Sendfile and X-ZeroCopy offload, and the faults (crash, hang,
//! garbage, client gone) with the children and descriptors counted after.
//!
//! Run against a binary built with the `cgi` feature (default) — the git
//! test also needs `auth` (default).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use blackbox::{
    contains, curl, path_str, pattern, req, scaled, wait_for, Conn, Response, Server, Site,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `tool` (Debian package `package`) is installed, or fails.
fn need(tool: &str, package: &str) {
    if have(tool) {
        return;
    }
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
    assert!(
        have(tool),
        "the `{tool}` command is required (Debian package {package}); tests/run.sh installs it"
    );
}

/// Writes an executable script into the docroot.
fn script(site: &Site, rel: &str, body: &str) {
    site.file(rel, body);
    let p = site.root().join(rel);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn start(site: &Site, cfg: &str) -> Server {
    // Uploads of 100 MiB: the engine's body limit is raised for them.
    site.start_with_config(&format!(
        "[server]\nworkers = 1\nmax_body_size = 209715200\n\n[cgi]\nprefix = \"/cgi-bin\"\n{cfg}"
    ))
}

/// The server's child processes (all threads).
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// The process state letter (`Z` for a zombie), if it exists.
fn state(pid: u32) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 2..];
    after.chars().next()
}

fn alive(pid: u32) -> bool {
    state(pid).is_some_and(|c| c != 'Z')
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Waits until the server has no child processes (none running, none a
/// zombie); panics with what is left.
#[track_caller]
fn assert_no_children(server: &Server) {
    let pid = server.pid();
    let gone = wait_for(scaled(10.0), || children(pid).is_empty().then_some(()));
    assert!(
        gone.is_some(),
        "children left behind: {:?}",
        children(pid)
            .iter()
            .map(|c| (*c, state(*c)))
            .collect::<Vec<_>>()
    );
}

/// Status and body (any framing: CGI output is usually chunked).
#[track_caller]
fn assert_is(r: &Response, status: u16, body: impl AsRef<[u8]>) {
    r.assert_status(status);
    assert!(r.body == body.as_ref(), "body differs:\n{r:?}");
}

fn get(server: &Server, target: &str, headers: &[(&str, &str)]) -> Response {
    server.request(&req("GET", target, headers))
}

fn env_of(r: &Response) -> Vec<(String, String)> {
    r.body_str()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

const ENV_SH: &str =
    "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv\necho \"CWD=$(pwd)\"\n\
for f in /proc/$$/fd/*; do echo \"FD_$(basename $f)=$(readlink $f)\"; done\n";

// ---------------------------------------------------------------------------
// Environment, mapping, status rules
// ---------------------------------------------------------------------------

#[test]
fn environment_is_an_allow_list() {
    let site = Site::new();
    script(&site, "cgi-bin/env.sh", ENV_SH);
    let cfg = path_str(&site.config(
        "cgi.toml",
        "[server]\nworkers = 1\n[cgi]\nprefix = \"/cgi-bin\"\npath = \"/bin:/usr/bin\"\n\
         env = [\"FIXED_VAR=fixed\"]\n",
    ));
    let root = site.root_str();
    let server = Server::start_with_env(
        &["--root", &root, "--config", &cfg],
        &[
            ("LD_PRELOAD", "/nonexistent/fws-preload.so"),
            ("LD_LIBRARY_PATH", "/nonexistent/fws-lib"),
            ("FWS_SERVER_SECRET", "leaked"),
        ],
    );
    let r = get(
        &server,
        "/cgi-bin/env.sh/extra/path?a=1&b=2",
        &[
            ("Proxy", "http://evil.example:8080/"),
            ("X-Custom", "yes"),
            ("X_Under", "sneaky"),
            ("Accept", "a"),
            ("Accept", "b"),
        ],
    );
    r.assert_status(200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"), "{r:?}");
    let env = env_of(&r);
    let addr = server.addr();
    for (n, v) in [
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", "a=1&b=2"),
        ("SCRIPT_NAME", "/cgi-bin/env.sh"),
        ("PATH_INFO", "/extra/path"),
        ("REQUEST_URI", "/cgi-bin/env.sh/extra/path?a=1&b=2"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("SERVER_PORT", &addr.port().to_string()),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("HTTP_X_CUSTOM", "yes"),
        ("HTTP_ACCEPT", "a, b"),
        ("HTTP_HOST", "localhost"),
        ("REDIRECT_STATUS", "200"),
        ("PATH", "/bin:/usr/bin"),
        ("FIXED_VAR", "fixed"),
    ] {
        assert_eq!(var(&env, n), Some(v), "{n} in {env:?}");
    }
    let root_canon = path_str(&std::fs::canonicalize(site.root()).unwrap());
    assert_eq!(var(&env, "DOCUMENT_ROOT"), Some(root_canon.as_str()));
    assert_eq!(
        var(&env, "SCRIPT_FILENAME"),
        Some(format!("{root_canon}/cgi-bin/env.sh").as_str())
    );
    assert_eq!(
        var(&env, "CWD"),
        Some(format!("{root_canon}/cgi-bin").as_str())
    );
    // httpoxy, loader variables, the server's own environment.
    for n in [
        "HTTP_PROXY",
        "HTTP_X_UNDER",
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "FWS_SERVER_SECRET",
        "HTTPS",
    ] {
        assert_eq!(var(&env, n), None, "{n} reached the script: {env:?}");
    }
    // No server descriptor (sockets, poller, self-pipe, docroot, logs)
    // reaches the script: beyond 0-2 only what its own shell opened.
    // (What the server merely inherited from whoever started the tests is
    // not its own: those are left out.)
    let fds_of = |pid: &str| -> Vec<String> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .parse::<u32>()
                    .is_ok_and(|n| n > 2)
            })
            .filter_map(|e| std::fs::read_link(e.path()).ok())
            .map(|t| path_str(&t))
            .collect()
    };
    let inherited = fds_of("self");
    let server_fds: Vec<String> = fds_of(&server.pid().to_string())
        .into_iter()
        .filter(|t| !inherited.contains(t))
        .collect();
    assert!(server_fds.len() >= 3, "{server_fds:?}");
    for (n, target) in env.iter().filter(|(n, _)| n.starts_with("FD_")) {
        let fd: u32 = n[3..].parse().unwrap();
        if fd <= 2 {
            // stdin is /dev/null without a request body; stdout and stderr
            // are the pipes to the server.
            let want = if fd == 0 { "/dev/null" } else { "pipe:" };
            assert!(target.starts_with(want), "fd {fd} -> {target}");
            continue;
        }
        if target.ends_with("/cgi-bin/env.sh")
            || target == "/dev/null"
            || inherited.contains(target)
        {
            continue; // its script, a /dev/null, or what the tests inherited
        }
        assert!(
            !server_fds.contains(target)
                && !target.starts_with("socket:")
                && !target.starts_with("anon_inode:"),
            "server descriptor {fd} -> {target} leaked into the script"
        );
    }
}

#[test]
fn mapping_and_status_rules() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/ok.sh",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho ok\n",
    );
    site.file(
        "cgi-bin/noexec.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nx'\n",
    );
    site.mkdir("cgi-bin/sub");
    site.file("static.txt", "plain file");
    site.file(
        "app/page.sh",
        "echo 'Content-Type: text/plain'\necho\necho \"interp $PATH_INFO\"\n",
    );
    let server = start(&site, "interpreter = \".sh=/bin/sh\"\n");
    assert_is(&get(&server, "/cgi-bin/ok.sh", &[]), 200, "ok\n");
    // An interpreter runs files that are not executable, under the prefix too.
    get(&server, "/cgi-bin/noexec.sh", &[]).assert_status(200);
    get(&server, "/cgi-bin/missing.sh", &[]).assert_status(404);
    get(&server, "/cgi-bin/sub/", &[]).assert_status(403);
    get(&server, "/cgi-bin/", &[]).assert_status(403);
    assert_is(&get(&server, "/app/page.sh/x/y", &[]), 200, "interp /x/y\n");
    assert_is(&get(&server, "/static.txt", &[]), 200, "plain file");
    // Nothing under a hidden directory runs.
    site.file(
        ".hidden/run.sh",
        "printf 'Content-Type: text/plain\\n\\nran'\n",
    );
    let r = get(&server, "/.hidden/run.sh", &[]);
    assert!(r.status == 404 || r.status == 403, "{r:?}");
    assert!(!contains(&r.body, b"ran"), "{r:?}");
    drop(server);

    // Without an interpreter a file that is not executable is 403.
    let server = start(&site, "");
    get(&server, "/cgi-bin/noexec.sh", &[]).assert_status(403);
    // Outside the prefix a .sh file is just a file.
    let r = get(&server, "/app/page.sh", &[]);
    r.assert_status(200);
    assert!(contains(&r.body, b"echo"), "{r:?}");
}

#[test]
fn per_vhost_prefixes_stderr_and_check_config() {
    let site = Site::new();
    let other = site.base().join("other");
    std::fs::create_dir_all(other.join("admin")).unwrap();
    let admin = other.join("admin/who.sh");
    std::fs::write(
        &admin,
        "#!/bin/sh\necho 'warning from the script' >&2\nprintf 'Content-Type: text/plain\\n\\nrouter'\n",
    )
    .unwrap();
    std::fs::set_permissions(&admin, std::fs::Permissions::from_mode(0o755)).unwrap();
    script(
        &site,
        "admin/who.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\ndefault'\n",
    );
    let cfg = format!(
        "[server]\nworkers = 1\n\n[[vhost]]\nnames = [\"router.lan\"]\nroot = \"{}\"\n\n\
         [[cgi]]\nvhost = \"router.lan\"\nprefix = \"/admin\"\n",
        path_str(&other)
    );
    let server = site.start_with_config(&cfg);
    // Only router.lan runs /admin; elsewhere it is a plain file.
    let r = server.request(
        "GET /admin/who.sh HTTP/1.1
Host: router.lan

",
    );
    assert_is(&r, 200, "router");
    let r = get(&server, "/admin/who.sh", &[]);
    r.assert_status(200);
    assert!(contains(&r.body, b"printf"), "{r:?}");
    // stderr lines reach the error log, naming the script.
    let logged = wait_for(scaled(10.0), || {
        let t = server.stderr_text();
        t.contains("who.sh: warning from the script").then_some(())
    });
    assert!(logged.is_some(), "{}", server.stderr_text());
    drop(server);
    // --check-config prints the effective [cgi] configuration.
    let file = path_str(&site.config("check.toml", &cfg));
    let out = blackbox::run(&[
        "--root",
        &site.root_str(),
        "--config",
        &file,
        "--check-config",
    ]);
    assert_eq!(out.code(), Some(0), "{}", out.stderr);
    assert!(
        out.stdout
            .contains("[[cgi]]\nvhost = \"router.lan\"\nprefix = [\"/admin\"]"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("max_processes = 16"), "{}", out.stdout);
    // A bad key is a FILE:LINE error.
    let bad = path_str(&site.config("bad.toml", "[cgi]\nprefix = \"/cgi-bin\"\nmax_procs = 3\n"));
    let out = blackbox::run(&[
        "--root",
        &site.root_str(),
        "--config",
        &bad,
        "--check-config",
    ]);
    assert_ne!(out.code(), Some(0));
    assert!(
        out.stderr
            .contains("bad.toml:3: cgi: unknown key max_procs"),
        "{}",
        out.stderr
    );
}

#[test]
fn scripts_run_as_the_configured_user() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/id.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\n'\nid -u\nid -G\n",
    );
    let cfg = "[cgi]\nprefix = \"/cgi-bin\"\nuser = \"nobody\"\n";
    if !Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
    {
        // Not root: the setting is refused at start-up, never ignored.
        let file = path_str(&site.config("u.toml", cfg));
        let out = blackbox::run(&[
            "--root",
            &site.root_str(),
            "--config",
            &file,
            "--check-config",
        ]);
        assert_ne!(out.code(), Some(0));
        assert!(
            out.stderr
                .contains("user needs the server to start as root"),
            "{}",
            out.stderr
        );
        return;
    }
    // The script must be reachable by nobody (the test's own directories
    // only; the system temp directory is world-searchable).
    for p in [
        site.base().to_path_buf(),
        site.root(),
        site.root().join("cgi-bin"),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let server = site.start_with_config(cfg);
    let r = get(&server, "/cgi-bin/id.sh", &[]);
    r.assert_status(200);
    let body = r.body_str();
    let mut lines = body.lines();
    assert_eq!(lines.next(), Some("65534"), "{body}");
    // Only nobody's own group: root's supplementary groups are dropped.
    assert_eq!(lines.next(), Some("65534"), "{body}");
}

#[test]
fn command_line_options() {
    let site = Site::new();
    script(
        &site,
        "scripts/a.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nA'\n",
    );
    site.file("x.cgi", "printf 'Content-Type: text/plain\\n\\nX'\n");
    let root = site.root_str();
    let server = Server::start(&[
        "--root",
        &root,
        "--cgi",
        "/scripts",
        "--cgi-interpreter",
        ".cgi=/bin/sh",
    ]);
    assert_is(&get(&server, "/scripts/a.sh", &[]), 200, "A");
    assert_is(&get(&server, "/x.cgi", &[]), 200, "X");
    // A bad option value is a startup error naming the command line.
    let out = blackbox::run(&["--root", &root, "--cgi", "noslash", "--check-config"]);
    assert_ne!(out.code(), Some(0));
    assert!(out.stderr.contains("<command line>"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// Bodies in and out
// ---------------------------------------------------------------------------

#[test]
fn bodies_stream_both_ways() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/cat.sh",
        "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nexec cat\n",
    );
    script(
        &site,
        "cgi-bin/len.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\nContent-Length: 5\\n\\nhello'\n",
    );
    let server = start(&site, "");
    let body = pattern(3 * 1024 * 1024 + 17, 7);
    let s = TcpStream::connect(server.addr()).unwrap();
    let mut w = s.try_clone().unwrap();
    let mut c = Conn::from_stream(s);
    c.send(format!(
        "POST /cgi-bin/cat.sh HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    // Write and read at once: the body is far larger than every buffer.
    let b2 = body.clone();
    let writer = std::thread::spawn(move || w.write_all(&b2));
    c.set_timeout(scaled(30.0));
    let r = c.read_response();
    writer.join().unwrap().unwrap();
    r.assert_status(200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(
        r.body == body,
        "echoed body differs ({} bytes)",
        r.body.len()
    );

    // A chunked request body.
    let mut c = server.connect();
    c.send("POST /cgi-bin/cat.sh HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    assert_is(&c.read_response(), 200, "hello world");

    // HTTP/1.0: no chunked, the end of the body is the end of the connection.
    let mut c = server.connect();
    c.send("POST /cgi-bin/cat.sh HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    let (raw, _) = c.read_to_end(scaled(10.0));
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        !text.to_ascii_lowercase().contains("transfer-encoding"),
        "{text}"
    );
    assert!(text.contains("Connection: close"), "{text}");
    assert!(text.ends_with("\r\n\r\nabc"), "{text}");

    // The script's own Content-Length is kept, and keep-alive works.
    let mut c = server.connect();
    for _ in 0..3 {
        let r = c.request(&req("GET", "/cgi-bin/len.sh", &[]));
        r.assert_body(200, "hello");
        assert_eq!(r.header("transfer-encoding"), None);
    }
    // HEAD: the head only.
    let mut c = server.connect();
    c.send(req("HEAD", "/cgi-bin/len.sh", &[]));
    let r = c.read_head_response();
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(5));
    assert_no_children(&server);
}

#[test]
fn large_upload_keeps_memory_flat() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/count.sh",
        "#!/bin/sh\nn=$(wc -c)\nprintf 'Content-Type: text/plain\\n\\n%s' \"$n\"\n",
    );
    let server = start(&site, "");
    // Warm up (first requests map buffers), then measure.
    get(&server, "/cgi-bin/count.sh", &[]).assert_status(200);
    let before = rss_kib(server.pid());
    const SIZE: usize = 100 * 1024 * 1024;
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(scaled(60.0))).unwrap();
    write!(
        s,
        "POST /cgi-bin/count.sh HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let chunk = pattern(256 * 1024, 3);
    let mut sent = 0;
    let mut peak = before;
    while sent < SIZE {
        s.write_all(&chunk).unwrap();
        sent += chunk.len();
        if sent % (8 * 1024 * 1024) == 0 {
            peak = peak.max(rss_kib(server.pid()));
        }
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    // Chunked: "0009\r\n104857600\r\n0\r\n\r\n".
    assert!(text.contains(&format!("\r\n{SIZE}\r\n")), "{text}");
    assert!(text.ends_with("\r\n0\r\n\r\n"), "{text}");
    let after = rss_kib(server.pid());
    eprintln!("100 MiB upload: server RSS before {before} KiB, peak {peak} KiB, after {after} KiB");
    // 100 MiB went through; the server's resident memory moved by far less
    // than one tenth of that at any point.
    assert!(
        peak.saturating_sub(before) < 10 * 1024 && after.saturating_sub(before) < 10 * 1024,
        "RSS before {before} KiB, peak {peak} KiB, after {after} KiB"
    );
}

// ---------------------------------------------------------------------------
// Faults: crash, garbage, hang, client gone, too many processes
// ---------------------------------------------------------------------------

#[test]
fn faults_end_cleanly() {
    let site = Site::new();
    let pids = site.base().join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let pd = path_str(&pids);
    script(&site, "cgi-bin/crash.sh", "#!/bin/sh\nkill -SEGV $$\n");
    script(&site, "cgi-bin/silent.sh", "#!/bin/sh\nexit 0\n");
    script(
        &site,
        "cgi-bin/garbage.sh",
        "#!/bin/sh\necho 'this is not a header'\necho\necho body\n",
    );
    script(
        &site,
        "cgi-bin/badstatus.sh",
        "#!/bin/sh\nprintf 'Status: 99x\\n\\n'\n",
    );
    // Crashes once the test has seen its head (the file "go" appears).
    script(
        &site,
        "cgi-bin/midcrash.sh",
        &format!(
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\npartial'\n\
             while [ ! -e {pd}/go ]; do sleep 0.05; done\nkill -KILL $$\n"
        ),
    );
    script(
        &site,
        "cgi-bin/hang.sh",
        &format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {pd}/hang.child\necho $$ > {pd}/hang.pid\nwait\n"
        ),
    );
    script(
        &site,
        "cgi-bin/slow.sh",
        &format!(
            "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nfirst'\nsleep 1000 &\necho $! > {pd}/slow.child\n\
             echo $$ > {pd}/slow.pid\nwait\n"
        ),
    );
    script(
        &site,
        "cgi-bin/stall.sh",
        &format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {pd}/stall.child\n\
             printf 'Content-Type: text/plain\\n\\nsome'\nwait\n"
        ),
    );
    script(
        &site,
        "cgi-bin/hold.sh",
        "#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nheld'\nexec sleep 1000\n",
    );
    let server = start(
        &site,
        "first_byte_timeout = 1\nidle_timeout = 1\nmax_processes = 2\n",
    );
    get(&server, "/cgi-bin/ok.sh", &[]).assert_status(404);
    let fds_before = fd_count(server.pid());

    get(&server, "/cgi-bin/crash.sh", &[]).assert_status(502);
    get(&server, "/cgi-bin/silent.sh", &[]).assert_status(502);
    get(&server, "/cgi-bin/garbage.sh", &[]).assert_status(502);
    get(&server, "/cgi-bin/badstatus.sh", &[]).assert_status(502);

    // Dies after the head: the chunked body never gets its last chunk.
    let mut c = server.connect();
    c.send(req("GET", "/cgi-bin/midcrash.sh", &[]));
    c.read_head_only().assert_status(200);
    std::fs::write(pids.join("go"), "").unwrap();
    let (raw, _) = c.read_to_end(scaled(10.0));
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "a crashed body was sent as complete: {text:?}"
    );

    // Hangs before the head: 504, and the whole group is killed.
    get(&server, "/cgi-bin/hang.sh", &[]).assert_status(504);
    for f in ["hang.pid", "hang.child"] {
        let pid: u32 = std::fs::read_to_string(pids.join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            wait_for(scaled(10.0), || (!alive(pid)).then_some(())).is_some(),
            "{f} {pid} still running"
        );
    }

    // Stalls after the head: the idle timeout ends the connection without
    // the last chunk and kills the group.
    let mut c = server.connect();
    c.send(req("GET", "/cgi-bin/stall.sh", &[]));
    c.read_head_only().assert_status(200);
    let (raw, closed) = c.read_to_end(scaled(20.0));
    assert!(closed, "the connection stayed open");
    assert!(
        !raw.ends_with(b"0\r\n\r\n"),
        "a stalled body was sent as complete"
    );
    let stalled: u32 = std::fs::read_to_string(pids.join("stall.child"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        wait_for(scaled(10.0), || (!alive(stalled)).then_some(())).is_some(),
        "the stalled script's child {stalled} still runs"
    );

    // The client goes away mid-response: the group is killed.
    let mut c = server.connect();
    c.send(req("GET", "/cgi-bin/slow.sh", &[]));
    let r = c.read_head_only();
    r.assert_status(200);
    let pid_file = pids.join("slow.child");
    wait_for(scaled(10.0), || pid_file.exists().then_some(())).expect("slow.sh started");
    let child: u32 = wait_for(scaled(10.0), || {
        std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    })
    .unwrap();
    drop(c);
    assert!(
        wait_for(scaled(10.0), || (!alive(child)).then_some(())).is_some(),
        "the script's child {child} outlived the client"
    );

    // Two processes at most: a third request gets 503 with Retry-After.
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut c = server.connect();
        c.send(req("GET", "/cgi-bin/hold.sh", &[]));
        c.read_head_only().assert_status(200);
        holders.push(c);
    }
    let r = get(&server, "/cgi-bin/hold.sh", &[]);
    r.assert_status(503);
    assert_eq!(r.header("retry-after"), Some("1"), "{r:?}");
    drop(holders);

    assert_no_children(&server);
    // Every descriptor opened for these requests is closed again.
    let settled = wait_for(scaled(10.0), || {
        (fd_count(server.pid()) <= fds_before).then_some(())
    });
    assert!(
        settled.is_some(),
        "descriptors: {fds_before} before, {} after",
        fd_count(server.pid())
    );
    // And the server still answers.
    get(&server, "/cgi-bin/missing.sh", &[]).assert_status(404);
}

#[test]
fn client_gone_before_the_head_kills_the_group() {
    let site = Site::new();
    let pid_file = site.base().join("quiet.pid");
    script(
        &site,
        "cgi-bin/quiet.sh",
        &format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {}\nwait\n",
            path_str(&pid_file)
        ),
    );
    // Timeouts far beyond the wait below: only noticing the client's close
    // can end the script in time.
    let server = start(&site, "first_byte_timeout = 600\nidle_timeout = 600\n");
    let mut c = server.connect();
    c.send(req("GET", "/cgi-bin/quiet.sh", &[]));
    let child: u32 = wait_for(scaled(10.0), || {
        std::fs::read_to_string(&pid_file).ok()?.trim().parse().ok()
    })
    .expect("quiet.sh started");
    drop(c);
    assert!(
        wait_for(scaled(10.0), || (!alive(child)).then_some(())).is_some(),
        "the script's child {child} outlived the client"
    );
    assert_no_children(&server);
    // Pipelined requests on a live connection are not mistaken for a close.
    script(
        &site,
        "cgi-bin/ok.sh",
        "#!/bin/sh\nsleep 0.2\nprintf 'Content-Type: text/plain\\n\\nok'\n",
    );
    let mut c = server.connect();
    c.send(format!(
        "{}{}",
        req("GET", "/cgi-bin/ok.sh", &[]),
        req("GET", "/cgi-bin/ok.sh", &[])
    ));
    assert_is(&c.read_response(), 200, "ok");
    assert_is(&c.read_response(), 200, "ok");
}

#[test]
fn nph_scripts_send_the_whole_response() {
    let site = Site::new();
    script(
        &site,
        "cgi-bin/nph-raw.sh",
        "#!/bin/sh\nprintf 'HTTP/1.1 299 Custom\\r\\nX-Raw: 1\\r\\n\\r\\nraw body'\n",
    );
    let server = start(&site, "");
    let mut c = server.connect();
    c.send(req("GET", "/cgi-bin/nph-raw.sh", &[]));
    let (raw, _) = c.read_to_end(scaled(10.0));
    assert_eq!(
        String::from_utf8_lossy(&raw),
        "HTTP/1.1 299 Custom\r\nX-Raw: 1\r\n\r\nraw body"
    );
}

// ---------------------------------------------------------------------------
// Offload: X-Sendfile and X-ZeroCopy
// ---------------------------------------------------------------------------

fn offload_site() -> (Site, String) {
    let site = Site::new();
    let files = site.base().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("big.bin"), pattern(300_000, 9)).unwrap();
    std::fs::write(files.join("small.txt"), "SMALL").unwrap();
    std::os::unix::fs::symlink(site.base().join("secret.txt"), files.join("escape")).unwrap();
    let fd = path_str(&std::fs::canonicalize(&files).unwrap());
    let base = path_str(&std::fs::canonicalize(site.base()).unwrap());
    let sendfile = |name: &str, path: &str| {
        script(
            &site,
            &format!("cgi-bin/{name}"),
            &format!(
                "#!/bin/sh\nprintf 'X-Sendfile: {path}\\nContent-Type: application/x-test\\nCache-Control: no-store\\n\\nthis body is dropped'\n"
            ),
        );
    };
    sendfile("sf.sh", &format!("{fd}/big.bin"));
    sendfile("sf-outside.sh", &format!("{base}/secret.txt"));
    sendfile("sf-escape.sh", &format!("{fd}/escape"));
    sendfile("sf-dotdot.sh", &format!("{fd}/../secret.txt"));
    sendfile("sf-missing.sh", &format!("{fd}/none.bin"));
    let zc = |name: &str, spans: &str, body: &str| {
        script(
            &site,
            &format!("cgi-bin/{name}"),
            &format!(
                "#!/bin/sh\nprintf 'X-ZeroCopy: {spans}\\nContent-Type: text/plain\\n\\n'\nprintf '%s' '{body}'\n"
            ),
        );
    };
    let small = format!("{fd}/small.txt");
    let big = format!("{fd}/big.bin");
    let body = format!("<a>{small}</a>{big}<z>");
    let s1 = format!("3/{}", small.len());
    let s2 = format!("{}/{}", 3 + small.len() + 4, big.len());
    zc("zc.sh", &format!("{s1}:{s2}"), &body);
    zc("zc-overlap.sh", &format!("3/{}:4/2", small.len()), &body);
    zc("zc-bounds.sh", &format!("3/{}", body.len()), &body);
    zc("zc-unsorted.sh", &format!("{s2}:{s1}"), &body);
    let secret = format!("{base}/secret.txt");
    zc(
        "zc-forbidden.sh",
        &format!("3/{}", secret.len()),
        &format!("<a>{secret}</a>"),
    );
    let none = format!("{fd}/none.bin");
    zc(
        "zc-missing.sh",
        &format!("3/{}", none.len()),
        &format!("<a>{none}</a>"),
    );
    // A body larger than zerocopy_buffer: streamed chunked.
    script(
        &site,
        "cgi-bin/zc-big.sh",
        &format!(
            "#!/bin/sh\nprintf 'X-ZeroCopy: 70000/{}\\nContent-Type: text/plain\\n\\n'\n\
             head -c 70000 /dev/zero | tr '\\0' 'a'\nprintf '%s' '{small}'\nprintf 'END'\n",
            small.len()
        ),
    );
    script(
        &site,
        "cgi-bin/zc-big-bad.sh",
        &format!(
            "#!/bin/sh\nprintf 'X-ZeroCopy: 70000/{}\\nContent-Type: text/plain\\n\\n'\n\
             head -c 70000 /dev/zero | tr '\\0' 'a'\nprintf '%s' '{none}'\n",
            none.len()
        ),
    );
    (site, fd)
}

#[test]
fn x_sendfile_goes_through_the_static_path() {
    let (site, dir) = offload_site();
    let server = start(&site, &format!("offload_dirs = [\"{dir}\"]\n"));
    let big = pattern(300_000, 9);
    let r = get(&server, "/cgi-bin/sf.sh", &[]);
    r.assert_body(200, &big);
    assert_eq!(r.header("content-type"), Some("application/x-test"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let etag = r.must_header("etag").to_string();
    r.must_header("last-modified");
    // Range and conditional requests, as for a static file.
    let r = get(&server, "/cgi-bin/sf.sh", &[("Range", "bytes=1000-1999")]);
    r.assert_body(206, &big[1000..2000]);
    assert_eq!(r.header("content-range"), Some("bytes 1000-1999/300000"));
    get(&server, "/cgi-bin/sf.sh", &[("If-None-Match", &etag)]).assert_status(304);
    get(&server, "/cgi-bin/sf.sh", &[("If-Match", "\"other\"")]).assert_status(412);
    // HEAD: the file's length, no body.
    let mut c = server.connect();
    c.send(req("HEAD", "/cgi-bin/sf.sh", &[]));
    let r = c.read_head_response();
    assert_eq!(r.content_length(), Some(300_000));
    // Only files under offload_dirs.
    for s in ["sf-outside.sh", "sf-escape.sh", "sf-dotdot.sh"] {
        let r = get(&server, &format!("/cgi-bin/{s}"), &[]);
        r.assert_status(403);
        assert!(
            !contains(&r.body, blackbox::SECRET.as_bytes()),
            "{s}: {r:?}"
        );
    }
    get(&server, "/cgi-bin/sf-missing.sh", &[]).assert_status(404);
    // Refusals are in the error log.
    let log = server.stderr_text();
    assert!(
        log.contains("path outside the allowed offload directories"),
        "{log}"
    );
    drop(server);

    // X-Accel-Redirect: a URI in the docroot, under offload_dirs too.
    site.file("internal/doc.txt", "internal document");
    site.file("public.txt", "public");
    let accel = |name: &str, uri: &str| {
        script(
            &site,
            &format!("cgi-bin/{name}"),
            &format!("#!/bin/sh\nprintf 'X-Accel-Redirect: {uri}\\n\\n'\n"),
        );
    };
    accel("accel.sh", "/internal/doc.txt");
    accel("accel-out.sh", "/public.txt");
    accel("accel-up.sh", "/internal/../../secret.txt");
    let internal = path_str(&std::fs::canonicalize(site.root().join("internal")).unwrap());
    let server = start(
        &site,
        &format!("offload_dirs = [\"{dir}\", \"{internal}\"]\n"),
    );
    let r = get(&server, "/cgi-bin/accel.sh", &[]);
    r.assert_body(200, "internal document");
    // The type by the file's extension, as for a static file.
    assert_eq!(r.media_type().as_deref(), Some("text/plain"));
    get(&server, "/cgi-bin/accel-out.sh", &[]).assert_status(403);
    get(&server, "/cgi-bin/accel-up.sh", &[]).assert_status(403);
    drop(server);
    // No offload_dirs: nothing may be offloaded.
    let server = start(&site, "");
    get(&server, "/cgi-bin/sf.sh", &[]).assert_status(403);
}

#[test]
fn x_zerocopy_replaces_spans_with_files() {
    let (site, dir) = offload_site();
    let server = start(&site, &format!("offload_dirs = [\"{dir}\"]\n"));
    let big = pattern(300_000, 9);
    let mut want = b"<a>SMALL</a>".to_vec();
    want.extend_from_slice(&big);
    want.extend_from_slice(b"<z>");
    let r = get(&server, "/cgi-bin/zc.sh", &[]);
    r.assert_body(200, &want);
    assert_eq!(r.content_length(), Some(want.len() as u64));
    assert!(r.header("x-zerocopy").is_none());
    for s in [
        "zc-overlap.sh",
        "zc-bounds.sh",
        "zc-unsorted.sh",
        "zc-forbidden.sh",
        "zc-missing.sh",
    ] {
        let r = get(&server, &format!("/cgi-bin/{s}"), &[]);
        r.assert_status(502);
        assert!(
            !contains(&r.body, blackbox::SECRET.as_bytes()),
            "{s}: {r:?}"
        );
    }
    // Larger than zerocopy_buffer: chunked, spans replaced as they come.
    let r = get(&server, "/cgi-bin/zc-big.sh", &[]);
    r.assert_status(200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let mut want = vec![b'a'; 70000];
    want.extend_from_slice(b"SMALLEND");
    assert!(r.body == want, "{r:?}");
    // A bad span after the head went out: the connection ends without the
    // last chunk, never a body that looks complete.
    let mut c = server.connect();
    c.send(req("GET", "/cgi-bin/zc-big-bad.sh", &[]));
    let (raw, _) = c.read_to_end(scaled(10.0));
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    assert!(
        !raw.ends_with(b"0\r\n\r\n"),
        "incomplete body sent as complete"
    );
    assert_no_children(&server);
}

// ---------------------------------------------------------------------------
// Real applications: php-cgi, git http-backend
// ---------------------------------------------------------------------------

#[test]
fn php_cgi_pages() {
    need("php-cgi", "php-cgi");
    let site = Site::new();
    site.file(
        "form.php",
        "<?php header('Content-Type: text/plain');\n\
         echo 'name=', $_POST['name'] ?? '-', \"\\n\";\n\
         echo 'method=', $_SERVER['REQUEST_METHOD'], \"\\n\";\n\
         echo 'script=', $_SERVER['SCRIPT_NAME'], \"\\n\";\n\
         echo 'query=', $_SERVER['QUERY_STRING'], \"\\n\";\n\
         echo 'get=', $_GET['q'] ?? '-', \"\\n\";\n\
         echo 'proxy=', getenv('HTTP_PROXY') === false ? 'none' : getenv('HTTP_PROXY'), \"\\n\";\n\
         echo 'pathinfo=', $_SERVER['PATH_INFO'] ?? '-', \"\\n\";\n",
    );
    site.file(
        "upload.php",
        "<?php header('Content-Type: text/plain');\n\
         $f = $_FILES['doc'];\n\
         echo $f['name'], ' ', $f['size'], ' ', md5_file($f['tmp_name']), \"\\n\";\n",
    );
    site.file(
        "go.php",
        "<?php header('Location: http://example.com/elsewhere'); ?>",
    );
    site.file("local.php", "<?php header('Location: /target.txt'); ?>");
    site.file("target.txt", "the target");
    let server = start(&site, "interpreter = \".php=/usr/bin/php-cgi\"\n");
    let url = server.url("/form.php/extra?q=42");
    let out = curl(&["-d", "name=Ada Lovelace", "-H", "Proxy: http://evil/", &url]);
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "name=Ada Lovelace",
        "method=POST",
        "script=/form.php",
        "query=q=42",
        "get=42",
        "proxy=none",
        "pathinfo=/extra",
    ] {
        assert!(text.contains(line), "{line:?} not in {text}");
    }
    let data = pattern(200_000, 5);
    let up = site.outside("upload.bin", &data);
    let out = curl(&[
        "-F",
        &format!("doc=@{};filename=report.bin", path_str(&up)),
        &server.url("/upload.php"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let md5 = Command::new("md5sum").arg(&up).output().unwrap();
    let md5 = String::from_utf8_lossy(&md5.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(text.trim(), format!("report.bin 200000 {md5}"));
    let r = get(&server, "/go.php", &[]);
    r.assert_status(302);
    assert_eq!(r.header("location"), Some("http://example.com/elsewhere"));
    // php-cgi sends its own 302 with a local Location: passed to the client.
    let r = get(&server, "/local.php", &[]);
    assert_eq!(r.header("location"), Some("/target.txt"), "{r:?}");
}

#[test]
fn local_location_is_an_internal_redirect() {
    let site = Site::new();
    site.file("target.txt", "served instead");
    script(
        &site,
        "cgi-bin/redir.sh",
        "#!/bin/sh\nprintf 'Location: /target.txt\\n\\n'\n",
    );
    script(
        &site,
        "cgi-bin/redir-script.sh",
        "#!/bin/sh\nprintf 'Location: /cgi-bin/redir.sh\\n\\n'\n",
    );
    let server = start(&site, "");
    assert_is(
        &get(&server, "/cgi-bin/redir.sh", &[]),
        200,
        "served instead",
    );
    // To another script: the client is sent there.
    let r = get(&server, "/cgi-bin/redir-script.sh", &[]);
    r.assert_status(302);
    assert_eq!(r.header("location"), Some("/cgi-bin/redir.sh"));
}

fn git(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .expect("run git")
}

#[track_caller]
fn git_ok(dir: &Path, args: &[&str]) -> String {
    let o = git(dir, args);
    assert!(
        o.status.success(),
        "git {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn git_clone_and_push_over_smart_http() {
    need("git", "git");
    need("htpasswd", "apache2-utils");
    let site = Site::new();
    let base = site.base().to_path_buf();
    let repos = base.join("repos");
    std::fs::create_dir_all(&repos).unwrap();
    git_ok(
        &repos,
        &["init", "-q", "--bare", "-b", "main", "project.git"],
    );
    let seed = base.join("seed");
    std::fs::create_dir_all(&seed).unwrap();
    git_ok(&seed, &["init", "-q", "-b", "main"]);
    std::fs::write(seed.join("README"), "first\n").unwrap();
    git_ok(&seed, &["add", "README"]);
    git_ok(
        &seed,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-q",
            "-m",
            "first",
        ],
    );
    git_ok(
        &seed,
        &["push", "-q", &path_str(&repos.join("project.git")), "main"],
    );
    let exec = git_ok(&base, &["--exec-path"]).trim().to_string();
    // The same backend at two URLs: read-only, and a guarded one for pushes
    // (git-http-backend takes pushes only with REMOTE_USER set).
    let wrapper = format!("#!/bin/sh\nexec {exec}/git-http-backend\n");
    script(&site, "cgi-bin/git", &wrapper);
    script(&site, "cgi-bin/git-rw", &wrapper);
    let htp = path_str(&base.join("htpasswd"));
    let out = Command::new("htpasswd")
        .args(["-c", "-b", "-B", "-C", "5", &htp, "dev", "s3cret"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let server = start(
        &site,
        &format!(
            "env = [\"GIT_PROJECT_ROOT={}\", \"GIT_HTTP_EXPORT_ALL=1\"]\n\n\
             [[auth]]\nprefix = \"/cgi-bin/git-rw\"\nrealm = \"git\"\nhtpasswd = \"{htp}\"\n",
            path_str(&std::fs::canonicalize(&repos).unwrap())
        ),
    );
    let work = base.join("work");
    std::fs::create_dir_all(&work).unwrap();
    git_ok(
        &work,
        &[
            "clone",
            "-q",
            &server.url("/cgi-bin/git/project.git"),
            "clone",
        ],
    );
    let clone = work.join("clone");
    assert_eq!(
        std::fs::read_to_string(clone.join("README")).unwrap(),
        "first\n"
    );
    std::fs::write(clone.join("big.bin"), pattern(2 * 1024 * 1024, 11)).unwrap();
    git_ok(&clone, &["add", "big.bin"]);
    git_ok(
        &clone,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@x",
            "commit",
            "-q",
            "-m",
            "second",
        ],
    );
    // Anonymous pushes are refused (no REMOTE_USER on the read-only URL,
    // 401 on the guarded one).
    let o = git(
        &clone,
        &[
            "push",
            "-q",
            &server.url("/cgi-bin/git/project.git"),
            "main",
        ],
    );
    assert!(!o.status.success(), "anonymous push accepted");
    let o = git(
        &clone,
        &[
            "push",
            "-q",
            &server.url("/cgi-bin/git-rw/project.git"),
            "main",
        ],
    );
    assert!(!o.status.success(), "push without credentials accepted");
    let authed = server
        .url("/cgi-bin/git-rw/project.git")
        .replace("http://", "http://dev:s3cret@");
    git_ok(&clone, &["push", "-q", &authed, "main"]);
    // A fresh clone has the pushed commit.
    git_ok(
        &work,
        &[
            "clone",
            "-q",
            &server.url("/cgi-bin/git/project.git"),
            "again",
        ],
    );
    assert_eq!(
        std::fs::read(work.join("again/big.bin")).unwrap(),
        pattern(2 * 1024 * 1024, 11)
    );
    assert_no_children(&server);
}
