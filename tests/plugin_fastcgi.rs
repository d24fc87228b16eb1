//! Black-box tests of the FastCGI plugin (`[fastcgi]`, `--fastcgi`): a
//! fake FastCGI backend written here (Unix and TCP) for the faults and the
//! kept-alive pool, and php-fpm (Debian php-fpm) started with a generated
//! pool on a Unix socket in a temporary directory for real PHP pages.
//!
//! Run against a binary built with the `fastcgi` feature (default).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use blackbox::{path_str, req, scaled, wait_for, Server, Site};

// ---------------------------------------------------------------------------
// A fake FastCGI application (records written by hand, independently of the
// server's codec).
// ---------------------------------------------------------------------------

fn record(kind: u8, id: u16, content: &[u8]) -> Vec<u8> {
    let pad = (8 - content.len() % 8) % 8;
    let mut v = vec![1, kind, (id >> 8) as u8, id as u8];
    v.extend_from_slice(&(content.len() as u16).to_be_bytes());
    v.extend_from_slice(&[pad as u8, 0]);
    v.extend_from_slice(content);
    v.extend(std::iter::repeat_n(0u8, pad));
    v
}

fn pairs(mut d: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let len = |d: &mut &[u8]| -> usize {
        if d[0] < 0x80 {
            let n = d[0] as usize;
            *d = &d[1..];
            n
        } else {
            let n = u32::from_be_bytes([d[0] & 0x7f, d[1], d[2], d[3]]) as usize;
            *d = &d[4..];
            n
        }
    };
    while !d.is_empty() {
        let nl = len(&mut d);
        let vl = len(&mut d);
        out.push((
            String::from_utf8_lossy(&d[..nl]).into_owned(),
            String::from_utf8_lossy(&d[nl..nl + vl]).into_owned(),
        ));
        d = &d[nl + vl..];
    }
    out
}

/// Reads one request: (id, keep_conn, params, stdin); `None` at EOF.
/// A request as the fake backend sees it: id, role and keep_conn, params,
/// stdin.
type FakeRequest = (u16, (u8, bool), Vec<(String, String)>, Vec<u8>);

fn read_request(s: &mut impl Read) -> Option<FakeRequest> {
    let (mut params, mut stdin, mut keep, mut id) = (Vec::new(), Vec::new(), (0, false), 0);
    loop {
        let mut h = [0u8; 8];
        s.read_exact(&mut h).ok()?;
        let len = u16::from_be_bytes([h[4], h[5]]) as usize;
        let mut c = vec![0u8; len + h[6] as usize];
        s.read_exact(&mut c).ok()?;
        c.truncate(len);
        id = u16::from_be_bytes([h[2], h[3]]).max(id);
        match h[1] {
            1 => keep = (c[1], c[2] & 1 == 1),
            4 => params.extend_from_slice(&c),
            5 if len == 0 => return Some((id, keep, pairs(&params), stdin)),
            5 => stdin.extend_from_slice(&c),
            t => panic!("fake backend: unexpected record type {t}"),
        }
    }
}

/// Serves one connection; each response names the connection number and
/// the request count on it, so the pool's reuse is visible.
fn fake_conn(mut s: impl Read + Write, conn: usize) {
    let mut n = 0;
    while let Some((id, (role, keep), params, stdin)) = read_request(&mut s) {
        n += 1;
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let mode = get("SCRIPT_NAME");
        let mut out = Vec::new();
        if role == 2 {
            // Authorizer: a bearer token decides; no body, no SCRIPT_NAME.
            let so: &[u8] = if get("HTTP_AUTHORIZATION") == "Bearer good" && mode.is_empty() {
                b"Status: 200\r\nVariable-AUTH_USER: alice\r\nContent-Type: text/plain\r\n\r\n"
            } else {
                b"Status: 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\n\r\ndenied by the authorizer\n"
            };
            out.extend(record(6, id, so));
            out.extend(record(3, id, &[0; 8]));
            if s.write_all(&out).is_err() || !keep {
                return;
            }
            continue;
        }
        match mode.as_str() {
            "/garbage" => {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nnot fastcgi at all");
                return;
            }
            "/die-early" => return,
            "/die" => {
                let head = b"Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly ten..";
                out.extend(record(6, id, head));
                let _ = s.write_all(&out);
                std::thread::sleep(Duration::from_millis(100));
                return;
            }
            "/slow" => {
                std::thread::sleep(scaled(6.0));
                return;
            }
            "/stderr" => out.extend(record(7, id, b"line one\nline two\n")),
            _ => {}
        }
        let mut body = format!(
            "conn={conn} req={n} keep={keep} method={} uri={} stdin={}\n",
            get("REQUEST_METHOD"),
            get("REQUEST_URI"),
            stdin.len()
        );
        if get("REQUEST_URI").starts_with("/ok/secret") {
            body = format!("secret for {} stdin={}\n", get("AUTH_USER"), stdin.len());
        }
        let mut so = b"Content-Type: text/plain\r\n\r\n".to_vec();
        so.extend_from_slice(body.as_bytes());
        out.extend(record(6, id, &so));
        out.extend(record(6, id, b""));
        out.extend(record(3, id, &[0, 0, 0, 0, 0, 0, 0, 0]));
        if s.write_all(&out).is_err() || !keep {
            return;
        }
    }
}

fn fake_unix(path: &Path) -> Arc<AtomicUsize> {
    let l = UnixListener::bind(path).unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::spawn(move || fake_conn(s, n));
        }
    });
    conns
}

fn fake_tcp() -> (String, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::spawn(move || fake_conn(s, n));
        }
    });
    (addr, conns)
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Sends a raw request and reads until the server closes or `Connection`
/// ends the exchange: (raw bytes, closed by the server).
fn raw_exchange(srv: &Server, request: &str) -> Vec<u8> {
    let mut c = TcpStream::connect(srv.addr()).unwrap();
    c.set_read_timeout(Some(scaled(15.0))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    got
}

fn start_fake_server(site: &Site, sock: &Path, extra: &str) -> Server {
    let s = format!("unix:{}", path_str(sock));
    site.start_with_config(&format!(
        "[server]\nworkers = 1\n\n[fastcgi]\ntimeout = \"2s\"\nroute = [\"/ok={s}\", \"/stderr={s}\", \"/garbage={s}\", \"/die={s}\", \"/die-early={s}\", \"/slow={s}\", \"/down=unix:{}\"]\n{extra}",
        path_str(&site.base().join("nobody-listens.sock"))
    ))
}

// ---------------------------------------------------------------------------
// The fake backend: pool, faults, descriptors
// ---------------------------------------------------------------------------

#[test]
fn kept_alive_connections_are_reused() {
    let site = Site::new();
    let sock = site.base().join("fake.sock");
    let conns = fake_unix(&sock);
    let srv = start_fake_server(&site, &sock, "");
    for i in 1..=3 {
        let r = srv.get(&format!("/ok/page?{i}"));
        assert_eq!(r.status, 200, "{r:?}");
        // One backend connection, request count rising: FCGI_KEEP_CONN.
        assert_eq!(
            r.body_str(),
            format!("conn=1 req={i} keep=true method=GET uri=/ok/page?{i} stdin=0\n")
        );
    }
    assert_eq!(conns.load(Ordering::SeqCst), 1);
    // A POST body goes as STDIN.
    let body = "x".repeat(100_000);
    let r = srv.request(&format!(
        "POST /ok HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    assert_eq!(r.status, 200);
    assert!(
        r.body_str().contains("method=POST uri=/ok stdin=100000"),
        "{r:?}"
    );
}

#[test]
fn keep_conn_off_closes_each_connection() {
    let site = Site::new();
    let sock = site.base().join("fake.sock");
    let conns = fake_unix(&sock);
    let srv = start_fake_server(&site, &sock, "keep_conn = false\n");
    for _ in 0..3 {
        let r = srv.get("/ok");
        assert!(r.body_str().starts_with("conn="), "{r:?}");
        assert!(r.body_str().contains("req=1 keep=false"), "{r:?}");
    }
    assert_eq!(conns.load(Ordering::SeqCst), 3);
}

#[test]
fn tcp_backend() {
    let site = Site::new();
    let (addr, _) = fake_tcp();
    let srv = site.start_args(&["--workers", "1", "--fastcgi", &format!("/ok={addr}")]);
    let r = srv.get("/ok/x");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body_str().contains("uri=/ok/x"), "{r:?}");
    // Chunked on HTTP/1.1 (the backend gave no Content-Length).
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
}

#[test]
fn faults_give_the_right_status_and_leak_nothing() {
    let site = Site::new();
    let sock = site.base().join("fake.sock");
    fake_unix(&sock);
    let srv = start_fake_server(&site, &sock, "");
    assert_eq!(srv.get("/ok").status, 200);
    let fds = fd_count(srv.pid());

    // Down: nothing listens on the socket.
    assert_eq!(srv.get("/down/x").status, 503);
    // Garbage instead of records.
    assert_eq!(srv.get("/garbage").status, 502);
    // Closes before any answer.
    assert_eq!(srv.get("/die-early").status, 502);
    // Dies mid-response: the head was sent, so the connection is closed
    // with the body short of its Content-Length.
    let raw = raw_exchange(&srv, &req("GET", "/die", &[("Connection", "close")]));
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("Content-Length: 100"), "{text}");
    assert!(text.ends_with("only ten.."), "{text}");
    // STDERR goes to the error log, the response is fine.
    let r = srv.get("/stderr");
    assert_eq!(r.status, 200);
    assert!(wait_for(scaled(5.0), || srv
        .stderr_text()
        .contains("line two")
        .then_some(()))
    .is_some());

    // Slow: 504 after the timeout, while other requests on the same worker
    // go on being served.
    let slow_addr = srv.addr();
    let slow = std::thread::spawn(move || {
        let mut c = TcpStream::connect(slow_addr).unwrap();
        c.set_read_timeout(Some(scaled(20.0))).unwrap();
        c.write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        let _ = c.read_to_end(&mut got);
        String::from_utf8_lossy(&got).into_owned()
    });
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        assert_eq!(srv.get("/ok").status, 200);
    }
    let text = slow.join().unwrap();
    assert!(text.starts_with("HTTP/1.1 504"), "{text}");
    assert!(
        srv.stderr_text().contains("in time"),
        "{}",
        srv.stderr_text()
    );

    // Still serving, and no descriptor left behind (the pool keeps one).
    assert_eq!(srv.get("/ok").status, 200);
    let after = wait_for(scaled(5.0), || {
        let n = fd_count(srv.pid());
        (n <= fds).then_some(n)
    });
    assert!(
        after.is_some(),
        "descriptors: {fds} before, {} after",
        fd_count(srv.pid())
    );
}

#[test]
fn authorizer_guards_responder_and_static_files() {
    let site = Site::new();
    site.file("private/note.txt", "static but private\n");
    let sock = site.base().join("fake.sock");
    fake_unix(&sock);
    let s = format!("unix:{}", path_str(&sock));
    let srv = start_fake_server(
        &site,
        &sock,
        &format!("authorizer = [\"/ok/secret={s}\", \"/private={s}\"]\n"),
    );
    // Unguarded paths are untouched.
    assert!(srv.get("/ok").body_str().starts_with("conn="));
    // Denied: the authorizer's own response reaches the client.
    let r = srv.get("/ok/secret");
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.body_str(), "denied by the authorizer\n");
    // Allowed: the responder runs with the exported Variable-AUTH_USER,
    // and gets the request body the authorizer never saw.
    let good = [("Authorization", "Bearer good")];
    let r = srv.get_with("/ok/secret", &good);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_str(), "secret for alice stdin=0\n");
    let r = srv.request(&format!(
        "POST /ok/secret HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer good\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n{}",
        "b".repeat(5000)
    ));
    assert_eq!(r.body_str(), "secret for alice stdin=5000\n", "{r:?}");
    // Static files behind an authorizer.
    assert_eq!(srv.get("/private/note.txt").status, 401);
    let r = srv.get_with("/private/note.txt", &good);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body_str(), "static but private\n");
    assert_eq!(srv.get_with("/private/none.txt", &good).status, 404);
}

#[test]
fn routes_per_virtual_host() {
    let site = Site::new();
    let sock = site.base().join("fake.sock");
    fake_unix(&sock);
    let admin = site.base().join("admin");
    std::fs::create_dir_all(&admin).unwrap();
    let srv = site.start_with_config(&format!(
        "[server]\nworkers = 1\n\n[[vhost]]\nnames = [\"admin.test\"]\nroot = \"{}\"\n\n[[fastcgi]]\nvhost = \"admin.test\"\nroute = \"/app=unix:{}\"\n",
        path_str(&admin),
        path_str(&sock)
    ));
    let r = srv.request("GET /app/x HTTP/1.1\r\nHost: admin.test\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body_str().contains("uri=/app/x"), "{r:?}");
    // Other hosts do not have the route.
    assert_eq!(srv.get("/app/x").status, 404);
}

#[test]
fn bad_routes_are_config_errors() {
    let site = Site::new();
    let cfg = site.config(
        "bad.toml",
        "[fastcgi]\nroute = [\"php=unix:/x\"]\ntimeout = \"5 parsecs\"\nbogus = 1\n",
    );
    let r = blackbox::run(&[
        "--check-config",
        "--root",
        &site.root_str(),
        "--config",
        &path_str(&cfg),
    ]);
    assert_eq!(r.code(), Some(1));
    let err = r.stderr_lines().join("\n");
    assert!(err.contains("bad.toml:2: fastcgi:"), "{err}");
    assert!(err.contains("bad.toml:3: fastcgi:"), "{err}");
    assert!(err.contains("bad.toml:4: fastcgi: unknown key"), "{err}");
}

// ---------------------------------------------------------------------------
// php-fpm
// ---------------------------------------------------------------------------

fn php_fpm_bin() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            let mut names: Vec<_> = rd
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("php-fpm"))
                })
                .collect();
            names.sort();
            if let Some(p) = names.pop() {
                return p;
            }
        }
    }
    panic!("php-fpm is required (Debian package php-fpm); tests/run.sh installs it");
}

struct Fpm(Child);
impl Drop for Fpm {
    fn drop(&mut self) {
        // SIGTERM: the master stops its pool workers before it exits (a
        // SIGKILL would orphan them).
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let gone = wait_for(scaled(10.0), || self.0.try_wait().ok().flatten());
        if gone.is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn start_fpm(dir: &Path) -> (Fpm, PathBuf) {
    let sock = dir.join("php-fpm.sock");
    let conf = dir.join("php-fpm.conf");
    std::fs::write(
        &conf,
        format!(
            "[global]\nerror_log = {d}/fpm.log\npid = {d}/fpm.pid\ndaemonize = no\n\n[www]\nlisten = {s}\npm = static\npm.max_children = 2\ncatch_workers_output = yes\nclear_env = yes\n",
            d = path_str(dir),
            s = path_str(&sock)
        ),
    )
    .unwrap();
    let child = Command::new(php_fpm_bin())
        .args([
            "-F",
            "-R",
            "-n",
            "-y",
            &path_str(&conf),
            "-p",
            &path_str(dir),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let fpm = Fpm(child);
    assert!(
        wait_for(scaled(10.0), || UnixStream::connect(&sock).ok()).is_some(),
        "php-fpm did not start: {}",
        std::fs::read_to_string(dir.join("fpm.log")).unwrap_or_default()
    );
    (fpm, sock)
}

#[test]
fn php_fpm_pages() {
    let site = Site::new();
    site.file(
        "info.php",
        "<?php header('Content-Type: text/plain'); foreach (['SCRIPT_NAME','SCRIPT_FILENAME','DOCUMENT_ROOT','PATH_INFO','QUERY_STRING','REQUEST_METHOD','REQUEST_URI','SERVER_PROTOCOL','GATEWAY_INTERFACE','HTTP_X_TEST','HTTP_PROXY'] as $k) echo $k, '=', $_SERVER[$k] ?? '(unset)', \"\\n\";",
    );
    site.file(
        "form.php",
        "<?php header('Content-Type: text/plain'); echo 'name=', $_POST['name'] ?? '', \"\\n\"; if (isset($_FILES['up'])) { echo 'file=', $_FILES['up']['name'], ' size=', $_FILES['up']['size'], ' md5=', md5_file($_FILES['up']['tmp_name']), \"\\n\"; }",
    );
    site.file(
        "go.php",
        "<?php header('Location: http://example.com/there'); ",
    );
    site.file(
        "big.php",
        "<?php header('Content-Type: text/plain'); echo str_repeat('0123456789abcdef', 65536);",
    );
    site.file(
        "sf.php",
        "<?php header('X-Sendfile: ' . $_GET['f']); echo 'dropped';",
    );
    site.file("static.txt", "a static file\n");
    site.file(
        "zc.php",
        "<?php $p = $_GET['f']; $pre = 'dyn:' . (40 + 2) . ';'; header('X-ZeroCopy: ' . ($_GET['span'] ?? strlen($pre) . '/' . strlen($p))); echo $pre, $p, ';end';",
    );
    let (_fpm, sock) = start_fpm(site.base());
    let files = site.base().join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("data.bin"), vec![7u8; 300_000]).unwrap();
    let secret = site.outside("secret.txt", "not for you");
    let srv = site.start_with_config(&format!(
        "[server]\nworkers = 1\n\n[fastcgi]\nroute = \".php=unix:{}\"\noffload_dirs = [\"{}\"]\n",
        path_str(&sock),
        path_str(&files)
    ));
    let root = std::fs::canonicalize(site.root()).unwrap();

    let r = srv.get_with(
        "/info.php/extra/path?a=1&b=2",
        &[("X-Test", "yes"), ("Proxy", "http://evil")],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let b = r.body_str();
    for want in [
        "SCRIPT_NAME=/info.php\n".to_string(),
        format!("SCRIPT_FILENAME={}/info.php\n", path_str(&root)),
        format!("DOCUMENT_ROOT={}\n", path_str(&root)),
        "PATH_INFO=/extra/path\n".into(),
        "QUERY_STRING=a=1&b=2\n".into(),
        "REQUEST_METHOD=GET\n".into(),
        "REQUEST_URI=/info.php/extra/path?a=1&b=2\n".into(),
        "SERVER_PROTOCOL=HTTP/1.1\n".into(),
        "GATEWAY_INTERFACE=CGI/1.1\n".into(),
        "HTTP_X_TEST=yes\n".into(),
        "HTTP_PROXY=(unset)\n".into(),
    ] {
        assert!(b.contains(&want), "missing {want:?} in {b}");
    }

    // Form POST.
    let out = blackbox::curl(&[
        "-d",
        "name=router+one",
        &format!("http://{}/form.php", srv.addr()),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "name=router one\n");
    // File upload (multipart).
    let up = site.outside("upload.bin", vec![42u8; 200_000]);
    let out = blackbox::curl(&[
        "-F",
        "name=x",
        "-F",
        &format!("up=@{}", path_str(&up)),
        &format!("http://{}/form.php", srv.addr()),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let md5 = Command::new("md5sum").arg(&up).output().unwrap();
    let md5 = String::from_utf8_lossy(&md5.stdout)
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        format!("name=x\nfile=upload.bin size=200000 md5={md5}\n")
    );
    // Redirect.
    let r = srv.get("/go.php");
    assert_eq!(r.status, 302, "{r:?}");
    assert_eq!(r.header("location"), Some("http://example.com/there"));
    // A 1 MiB body streamed (chunked), complete.
    let r = srv.get("/big.php");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 16 * 65536);
    // Missing script: 404 from the server; static files unaffected.
    assert_eq!(srv.get("/none.php").status, 404);
    assert_eq!(srv.get("/static.txt").body_str(), "a static file\n");
    // X-Sendfile: served by the static path with a Content-Length and
    // Range support; a path outside offload_dirs is 403.
    let f = path_str(&files.join("data.bin"));
    let r = srv.get(&format!("/sf.php?f={f}"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body.len(), 300_000);
    assert_eq!(r.header("content-length"), Some("300000"));
    let r = srv.get_with(&format!("/sf.php?f={f}"), &[("Range", "bytes=0-9")]);
    assert_eq!(r.status, 206);
    assert_eq!(r.body, vec![7u8; 10]);
    let r = srv.get(&format!("/sf.php?f={}", path_str(&secret)));
    assert_eq!(r.status, 403, "{r:?}");
    assert!(!r.body_str().contains("not for you"));
    // X-ZeroCopy: the span naming a file is replaced by its contents.
    let r = srv.get(&format!("/zc.php?f={f}"));
    assert_eq!(r.status, 200, "{r:?}");
    let mut want = b"dyn:42;".to_vec();
    want.extend(vec![7u8; 300_000]);
    want.extend_from_slice(b";end");
    assert_eq!(
        r.header("content-length"),
        Some(want.len().to_string().as_str())
    );
    assert!(
        r.body == want,
        "X-ZeroCopy body differs ({} bytes)",
        r.body.len()
    );
    // A span outside the body, a forbidden file: 502, never a partial body.
    assert_eq!(srv.get(&format!("/zc.php?f={f}&span=0/99999")).status, 502);
    assert_eq!(srv.get(&format!("/zc.php?f={f}&span=3/2:1/2")).status, 502);
    let r = srv.get(&format!("/zc.php?f={}", path_str(&secret)));
    assert_eq!(r.status, 502);
    assert!(!r.body_str().contains("not for you"));
    // The pool survived all of that.
    assert_eq!(srv.get("/static.txt").status, 200);
    assert_eq!(srv.get("/go.php").status, 302);
}

// ---------------------------------------------------------------------------
// bin_path: the server starts and supervises php-cgi
// ---------------------------------------------------------------------------

/// Direct children of a process (all its threads').
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            let list = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            out.extend(
                list.split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok()),
            );
        }
    }
    out
}

#[test]
fn bin_path_starts_and_restarts_php_cgi() {
    let php = Path::new("/usr/bin/php-cgi");
    assert!(php.exists(), "php-cgi is required (Debian package php-cgi)");
    let site = Site::new();
    site.file(
        "hi.php",
        "<?php echo 'hi from ', getmypid() > 0 ? 'php' : '?', \"\\n\";",
    );
    let sock = site.base().join("bin.sock");
    let mut srv = site.start_with_config(&format!(
        "[server]\nworkers = 1\n\n[fastcgi]\nroute = \".php=unix:{s}\"\nbin_path = \"unix:{s}=/usr/bin/php-cgi\"\nbin_env = \"PHP_FCGI_CHILDREN=0\"\n",
        s = path_str(&sock)
    ));
    let ok = |srv: &Server| {
        let r = srv.get("/hi.php");
        (r.status == 200 && r.body_str() == "hi from php\n").then_some(())
    };
    assert!(wait_for(scaled(10.0), || ok(&srv)).is_some());
    let first = children(srv.pid());
    assert_eq!(first.len(), 1, "one supervised php-cgi: {first:?}");
    // It dies: the supervisor starts another (after its backoff).
    let _ = Command::new("kill")
        .args(["-9", &first[0].to_string()])
        .status();
    let second = wait_for(scaled(10.0), || {
        let c = children(srv.pid());
        (c.len() == 1 && c[0] != first[0]).then(|| c[0])
    });
    assert!(
        second.is_some(),
        "php-cgi was not restarted: {}",
        srv.stderr_text()
    );
    assert!(wait_for(scaled(10.0), || ok(&srv)).is_some());
    assert!(srv.stderr_text().contains("restarting in"));
    // A clean stop ends it too.
    srv.signal("TERM");
    assert!(srv.wait_exit(scaled(10.0)).is_some());
    let pid = second.unwrap_or(0);
    let gone = wait_for(scaled(5.0), || {
        let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        (st.is_empty() || st.contains(") Z ")).then_some(())
    });
    if gone.is_none() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    assert!(
        gone.is_some(),
        "php-cgi {pid} still runs after the server stopped"
    );
}
