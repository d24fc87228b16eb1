//! Black-box tests of the auth plugin (`[[auth]]`): HTTP Basic against
//! htpasswd files made by the real tools — Apache's `htpasswd` (Debian
//! apache2-utils) and `openssl passwd` (Debian openssl). A missing tool is
//! installed with apt-get; if that fails the test FAILS with a message.
//!
//! Run against a binary built with `--features auth`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use blackbox::{contains, curl, path_str, req, scaled, wait_for, Response, Server, Site};

// ---------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `tool` (from Debian package `package`) is installed.
fn need(tool: &str, package: &str) {
    static APT_UPDATED: OnceLock<()> = OnceLock::new();
    if have(tool) {
        return;
    }
    APT_UPDATED.get_or_init(|| {
        let _ = Command::new("apt-get")
            .args(["update", "-qq"])
            .stdout(Stdio::null())
            .status();
    });
    let _ = Command::new("apt-get")
        .args(["install", "-y", "-qq", package])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status();
    assert!(
        have(tool),
        "the `{tool}` command is required (Debian package {package}); install it with \
         `apt-get install {package}`"
    );
}

/// Runs Apache's htpasswd with `args`.
#[track_caller]
fn htpasswd(args: &[&str]) {
    need("htpasswd", "apache2-utils");
    let out = Command::new("htpasswd")
        .args(args)
        .output()
        .expect("run htpasswd");
    assert!(
        out.status.success(),
        "htpasswd {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `openssl passwd -ALG PASSWORD` (ALG = 5, 6, apr1, 1).
#[track_caller]
fn openssl_passwd(alg: &str, password: &str) -> String {
    need("openssl", "openssl");
    let out = Command::new("openssl")
        .args(["passwd", &format!("-{alg}"), password])
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl passwd -{alg} failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn append(file: &Path, line: &str) {
    let mut text = std::fs::read_to_string(file).unwrap_or_default();
    text.push_str(line);
    text.push('\n');
    std::fs::write(file, text).unwrap();
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = |i: usize| chunk.get(i).copied().unwrap_or(0) as u32;
        let w = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((w >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", b64(format!("{user}:{password}").as_bytes()))
}

fn site() -> Site {
    let s = Site::new();
    s.file("index.html", "home\n")
        .file("administrator.html", "not admin\n")
        .file("admin/x.txt", "admin secret\n")
        .file("admin/index.html", "admin home\n")
        .file("admin/help/faq.txt", "faq\n");
    s
}

fn htpasswd_path(s: &Site) -> PathBuf {
    s.base().join("htpasswd")
}

const REALM: &str = "Router admin";
const CHALLENGE: &str = "Basic realm=\"Router admin\", charset=\"UTF-8\"";

/// A config with one worker (the guards are per worker), `/admin/`
/// protected by `file`, plus `extra`.
fn config(file: &Path, extra: &str) -> String {
    format!(
        "[server]\nworkers = 1\n\n[[auth]]\nprefix = \"/admin/\"\nrealm = \"{REALM}\"\nhtpasswd = \"{}\"\n{extra}",
        path_str(file)
    )
}

fn start(s: &Site, cfg: &str, extra_args: &[&str]) -> Server {
    let path = path_str(&s.config("server.toml", cfg));
    let mut args = vec!["--config", path.as_str()];
    args.extend_from_slice(extra_args);
    s.start_args(&args)
}

/// Settings for tests that are not about the guards: no lockout, the
/// largest hashing budget (a debug build hashes slowly).
const RELAXED: &str = "\n[[auth]]\nfail_limit = 0\nverify_budget = \"1s\"\n";

/// GET with an Authorization header; a 503 (hashing budget spent) is
/// retried after its Retry-After, as a browser user would.
fn get_auth(srv: &Server, path: &str, auth: &str) -> Response {
    for _ in 0..20 {
        let r = srv.get_with(path, &[("Authorization", auth)]);
        if r.status != 503 {
            return r;
        }
        assert_eq!(r.header("Retry-After"), Some("1"), "{r:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
    panic!("{path}: still 503 after 20 tries");
}

#[track_caller]
fn assert_challenge(r: &Response, what: &str) {
    assert_eq!(r.status, 401, "{what}: {r:?}");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some(CHALLENGE),
        "{what}: {r:?}"
    );
}

// ---------------------------------------------------------------------------
// Schemes
// ---------------------------------------------------------------------------

#[test]
fn every_scheme_from_the_real_tools() {
    let s = site();
    let f = htpasswd_path(&s);
    let fs = path_str(&f);
    htpasswd(&["-c", "-b", "-B", "-C", "5", &fs, "bcrypt", "Open Sesame"]);
    htpasswd(&["-b", "-s", &fs, "sha", "pässwörd"]);
    htpasswd(&["-b", "-m", &fs, "apr1", "hunter2"]);
    append(&f, &format!("sha256:{}", openssl_passwd("5", "five-pw")));
    append(&f, &format!("sha512:{}", openssl_passwd("6", "six-pw")));
    append(&f, &format!("md5crypt:{}", openssl_passwd("1", "one-pw")));
    // $2a$ and $2b$ are the same algorithm as htpasswd's $2y$.
    let text = std::fs::read_to_string(&f).unwrap();
    let bc = text.lines().find(|l| l.starts_with("bcrypt:")).unwrap();
    append(&f, &bc.replacen("bcrypt:$2y$", "bcrypt2a:$2a$", 1));
    append(&f, &bc.replacen("bcrypt:$2y$", "bcrypt2b:$2b$", 1));
    // Refused at load, never accepted.
    append(&f, "plain:plainpw");
    append(&f, "des:abJnggxhB/yWI");
    let srv = start(&s, &config(&f, RELAXED), &[]);

    let users: &[(&str, &str)] = &[
        ("bcrypt", "Open Sesame"),
        ("bcrypt2a", "Open Sesame"),
        ("bcrypt2b", "Open Sesame"),
        ("sha", "pässwörd"),
        ("apr1", "hunter2"),
        ("sha256", "five-pw"),
        ("sha512", "six-pw"),
        ("md5crypt", "one-pw"),
    ];
    for (user, pw) in users {
        let r = get_auth(&srv, "/admin/x.txt", &basic(user, pw));
        assert_eq!(
            (r.status, r.body_str().as_str()),
            (200, "admin secret\n"),
            "{user}: {r:?}"
        );
        let r = get_auth(&srv, "/admin/x.txt", &basic(user, &format!("{pw}x")));
        assert_challenge(&r, &format!("{user} with a wrong password"));
        let r = get_auth(&srv, "/admin/x.txt", &basic(user, ""));
        assert_challenge(&r, &format!("{user} with an empty password"));
    }
    // The stored hash is not a password; unknown users fail.
    let stored = bc.split_once(':').unwrap().1;
    assert_challenge(
        &get_auth(&srv, "/admin/x.txt", &basic("bcrypt", stored)),
        "hash as password",
    );
    assert_challenge(
        &get_auth(&srv, "/admin/x.txt", &basic("nobody", "x")),
        "unknown user",
    );
    assert_challenge(
        &get_auth(&srv, "/admin/x.txt", &basic("plain", "plainpw")),
        "plain text",
    );
    assert_challenge(&get_auth(&srv, "/admin/x.txt", &basic("des", "x")), "DES");
    let err = srv.stderr_text();
    let n_plain = text.lines().count() + 3; // after the $2a$ and $2b$ lines
    assert!(
        err.contains(&format!("{fs}:{}: user plain: plain-text", n_plain)),
        "no FILE:LINE warning for the plain-text entry:\n{err}"
    );
    assert!(err.contains("user des: DES crypt"), "{err}");
}

// ---------------------------------------------------------------------------
// Challenges and malformed headers
// ---------------------------------------------------------------------------

fn one_user_site() -> (Site, PathBuf) {
    let s = site();
    let f = htpasswd_path(&s);
    htpasswd(&["-c", "-b", "-s", &path_str(&f), "alice", "secret"]);
    (s, f)
}

#[test]
fn no_credentials_gets_401_with_challenge_and_keeps_the_connection() {
    let (s, f) = one_user_site();
    let srv = start(&s, &config(&f, ""), &[]);
    let mut c = srv.connect();
    let r = c.request(&req("GET", "/admin/x.txt", &[]));
    assert_challenge(&r, "no credentials");
    assert!(!r.connection_has("close"), "{r:?}");
    assert!(!contains(&r.body, b"admin secret"));
    let r = c.request(&req("HEAD", "/admin/x.txt", &[]));
    assert_challenge(&r, "HEAD");
    assert!(r.body.is_empty());
    // The browser's retry on the same connection.
    let r = c.request(&req(
        "GET",
        "/admin/x.txt",
        &[("Authorization", &basic("alice", "secret"))],
    ));
    assert_eq!(r.status, 200, "{r:?}");
    // The directory itself and its redirect are protected too.
    assert_challenge(&srv.get("/admin/"), "/admin/");
    assert_challenge(&srv.get("/admin"), "/admin");
}

#[test]
fn malformed_authorization_is_400_or_401_and_the_server_keeps_serving() {
    let (s, f) = one_user_site();
    let srv = start(&s, &config(&f, ""), &[]);
    let long = format!("Basic {}", "QUFB".repeat(1100)); // over 4 KiB
    let cases: &[(&str, &str)] = &[
        ("Basic !!!", "bad base64"),
        ("Basic", "Basic alone"),
        ("Basic ", "Basic and a space"),
        ("Bearer x", "another scheme"),
        ("Digest username=\"alice\"", "Digest"),
        ("Basic YWxpY2U=", "base64 without colon"),
        ("Basic YWxpY2U6c2VjcmV0 extra", "trailing junk"),
        ("Basic AGFsaWNlOnNlY3JldA==", "NUL in the user"),
        ("basic", "lower-case scheme alone"),
        (&long, "a 4 KiB header"),
    ];
    for (value, what) in cases {
        let mut c = srv.connect();
        let r = c.request_bytes(
            format!(
                "GET /admin/x.txt HTTP/1.1\r\nHost: localhost\r\nAuthorization: {value}\r\n\r\n"
            )
            .as_bytes(),
        );
        assert!(
            matches!(r.status, 400 | 401 | 431),
            "{what}: expected 400/401 (431 for a head over the buffer), got {r:?}"
        );
        assert!(!contains(&r.body, b"admin secret"), "{what}");
        if r.status == 401 {
            assert_eq!(r.header("WWW-Authenticate"), Some(CHALLENGE), "{what}");
        }
        assert_eq!(
            srv.get("/index.html").status,
            200,
            "server still serves after {what}"
        );
    }
    // Two Authorization headers, even both right, are refused.
    let good = basic("alice", "secret");
    let r = srv.request(&req(
        "GET",
        "/admin/x.txt",
        &[("Authorization", &good), ("Authorization", &good)],
    ));
    assert!(matches!(r.status, 400 | 401), "{r:?}");
}

#[test]
fn oversized_authorization_reaching_the_plugin_is_400() {
    let (s, f) = one_user_site();
    let cfg = config(&f, "").replace("workers = 1\n", "workers = 1\nbuffer_size = 16384\n");
    let srv = start(&s, &cfg, &[]);
    let long = format!(
        "Basic {}",
        b64(format!("alice:{}", "p".repeat(3000)).as_bytes())
    );
    let r = get_auth(&srv, "/admin/x.txt", &long);
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(srv.get("/index.html").status, 200);
    assert_eq!(
        get_auth(&srv, "/admin/x.txt", &basic("alice", "secret")).status,
        200
    );
}

// ---------------------------------------------------------------------------
// Paths and virtual hosts
// ---------------------------------------------------------------------------

#[test]
fn outside_the_prefix_needs_no_auth_and_encodings_do_not_dodge_it() {
    let (s, f) = one_user_site();
    let cfg = config(&f, "\n[[auth]]\nprefix = \"/admin/help/\"\npublic = true\n");
    let srv = start(&s, &cfg, &[]);
    assert_eq!(srv.get("/index.html").status, 200);
    assert_eq!(
        srv.get("/administrator.html").status,
        200,
        "segment boundary"
    );
    assert_eq!(
        srv.get("/admin/help/faq.txt").status,
        200,
        "public exception"
    );
    for p in [
        "/admin/x.txt",
        "/%61dmin/x.txt",
        "/%61%64%6d%69%6e/x.txt",
        "/x/../admin/x.txt",
        "/admin/./x.txt",
        "//admin//x.txt",
        "/admin/help/../x.txt",
        "/admin%2fx.txt",
        "/./admin/x.txt?a=b",
    ] {
        let r = srv.get(p);
        assert_challenge(&r, p);
        assert!(!contains(&r.body, b"admin secret"), "{p}");
    }
    // Undecodable paths get the engine's 400, not the file.
    for p in ["/admin/%zz", "/admin/%00x", "/admin/..%5cx"] {
        let r = srv.get(p);
        assert!(r.status == 400 || r.status == 401, "{p}: {r:?}");
        assert!(!contains(&r.body, b"admin secret"), "{p}");
    }
}

#[test]
fn vhost_scoped_rules() {
    let (s, f) = one_user_site();
    s.dir.write("router/index.html", "router home\n");
    s.dir.write("router/admin/x.txt", "router admin\n");
    let f2 = s.base().join("htpasswd-router");
    htpasswd(&["-c", "-b", "-m", &path_str(&f2), "root", "toor"]);
    let cfg = format!(
        "[server]\nworkers = 1\n\n[[vhost]]\nnames = [\"router.lan\", \"192.168.1.1\"]\nroot = \"{}\"\n\n\
         [[auth]]\nprefix = \"/\"\nvhost = \"router.lan\"\nrealm = \"Router\"\nhtpasswd = \"{}\"\n\n\
         [[auth]]\nprefix = \"/admin/\"\nrealm = \"{REALM}\"\nhtpasswd = \"{}\"\n",
        path_str(&s.dir.join("router")),
        path_str(&f2),
        path_str(&f)
    );
    let srv = start(&s, &cfg, &[]);
    let on = |host: &str, path: &str, auth: Option<&str>| {
        let mut h = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n");
        if let Some(a) = auth {
            h.push_str(&format!("Authorization: {a}\r\n"));
        }
        srv.request(&(h + "\r\n"))
    };
    // The router vhost is protected everywhere, by its own realm and file.
    let r = on("router.lan", "/", None);
    assert_eq!(r.status, 401, "{r:?}");
    assert_eq!(
        r.header("WWW-Authenticate"),
        Some("Basic realm=\"Router\", charset=\"UTF-8\"")
    );
    assert_eq!(
        on("ROUTER.LAN:80", "/", None).status,
        401,
        "host case and port"
    );
    assert_eq!(
        on("192.168.1.1", "/", None).status,
        401,
        "any name of the vhost"
    );
    assert_eq!(
        on("router.lan", "/", Some(&basic("root", "toor"))).status,
        200
    );
    assert_eq!(
        on("router.lan", "/", Some(&basic("alice", "secret"))).status,
        401
    );
    // /admin/ is more specific than the vhost's "/": the generic rule wins there.
    let r = on(
        "router.lan",
        "/admin/x.txt",
        Some(&basic("alice", "secret")),
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "router admin\n"));
    // Other hosts: only /admin/ is protected.
    assert_eq!(on("example.org", "/index.html", None).status, 200);
    assert_challenge(
        &on("example.org", "/admin/x.txt", None),
        "default host /admin/",
    );
    assert_eq!(
        on("example.org", "/admin/x.txt", Some(&basic("root", "toor"))).status,
        401
    );
}

// ---------------------------------------------------------------------------
// Reloading
// ---------------------------------------------------------------------------

/// Polls (every 100 ms, 503s included) until `auth` gets `want`.
#[track_caller]
fn status_becomes(srv: &Server, auth: &str, want: u16, within: Duration) -> bool {
    wait_for(within, || {
        let r = srv.get_with("/admin/x.txt", &[("Authorization", auth)]);
        if r.status == want {
            return Some(());
        }
        std::thread::sleep(Duration::from_millis(75));
        None
    })
    .is_some()
}

#[test]
fn changed_file_is_picked_up_without_restart() {
    let (s, f) = one_user_site();
    let fs = path_str(&f);
    let srv = start(&s, &config(&f, RELAXED), &[]);
    let old = basic("alice", "secret");
    let new = basic("alice", "n3w-Secret");
    assert_eq!(get_auth(&srv, "/admin/x.txt", &old).status, 200); // now cached
    assert_eq!(get_auth(&srv, "/admin/x.txt", &new).status, 401);

    // Change the password with the real tool (same inode, maybe same size).
    htpasswd(&["-b", "-B", "-C", "5", &fs, "alice", "n3w-Secret"]);
    htpasswd(&["-b", "-m", &fs, "bob", "bobpw"]);
    let t0 = Instant::now();
    assert!(
        status_becomes(&srv, &new, 200, scaled(3.0)),
        "the new password did not work within 3 s"
    );
    let took = t0.elapsed();
    assert!(took < scaled(2.5), "took {took:?}");
    assert_eq!(
        get_auth(&srv, "/admin/x.txt", &old).status,
        401,
        "the cached old password must stop working"
    );
    assert_eq!(
        get_auth(&srv, "/admin/x.txt", &basic("bob", "bobpw")).status,
        200
    );

    // A broken file keeps the users loaded before and says where it broke.
    let good_text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, format!("{good_text}this line has no colon\n")).unwrap();
    let bad_line = good_text.lines().count() + 1;
    let want = format!("{fs}:{bad_line}: expected USER:HASH");
    assert!(
        wait_for(scaled(3.0), || srv
            .stderr_text()
            .contains(&want)
            .then_some(()))
        .is_some(),
        "no {want:?} in stderr:\n{}",
        srv.stderr_text()
    );
    assert_eq!(
        get_auth(&srv, "/admin/x.txt", &basic("bob", "bobpw")).status,
        200
    );

    // Fixed again, then changed and announced with SIGHUP.
    std::fs::write(&f, &good_text).unwrap();
    htpasswd(&["-D", &fs, "bob"]);
    srv.signal("HUP");
    assert!(
        status_becomes(&srv, &basic("bob", "bobpw"), 401, scaled(3.0)),
        "a deleted user still logs in"
    );
    assert_eq!(get_auth(&srv, "/admin/x.txt", &new).status, 200);

    // A file that disappears keeps the old users (and is logged).
    std::fs::remove_file(&f).unwrap();
    std::thread::sleep(scaled(1.5));
    assert_eq!(get_auth(&srv, "/admin/x.txt", &new).status, 200);
    assert!(srv
        .stderr_text()
        .contains("keeping the users loaded before"));
}

// ---------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------

#[test]
fn passwords_never_appear_in_the_log() {
    let s = site();
    let f = htpasswd_path(&s);
    let pw = "Zebra-Password-9137";
    htpasswd(&["-c", "-b", "-B", "-C", "5", &path_str(&f), "alice", pw]);
    let srv = start(&s, &config(&f, ""), &["--log-level", "trace"]);
    let tokens = [
        basic("alice", pw),
        basic("alice", "Wrong-Zebra-4242"),
        basic(pw, ""),       // the password typed into the user field
        basic("nobody", pw), // unknown user
        format!(
            "Basic {}",
            b64(format!("alice:{pw}").as_bytes()).trim_end_matches('=')
        ),
        format!("Bearer {pw}"),
        format!("Basic {pw}"), // not base64
    ];
    for t in &tokens {
        let _ = get_auth(&srv, "/admin/x.txt", t);
    }
    let _ = get_auth(&srv, "/admin/x.txt", &basic("alice", pw));
    std::thread::sleep(Duration::from_millis(200));
    let err = srv.stderr_text();
    assert!(
        err.contains("alice"),
        "trace log has nothing about auth:\n{err}"
    );
    for secret in [pw, "Wrong-Zebra-4242"] {
        assert!(!err.contains(secret), "{secret} appears in the log:\n{err}");
    }
    for t in &tokens {
        let b = t.split_once(' ').unwrap().1;
        assert!(
            !err.contains(b),
            "the Authorization value {b} appears in the log"
        );
    }
}

// ---------------------------------------------------------------------------
// Guards
// ---------------------------------------------------------------------------

fn curl_status(srv: &Server, from: &str, user: &str) -> String {
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--interface",
        from,
        "-u",
        user,
        &srv.url("/admin/x.txt"),
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn repeated_failures_lock_out_one_address_only() {
    let (s, f) = one_user_site();
    let srv = start(
        &s,
        &config(&f, "\n[[auth]]\nfail_limit = 3\nfail_window = \"1m\"\n"),
        &[],
    );
    for i in 0..3 {
        assert_eq!(
            curl_status(&srv, "127.0.0.1", "alice:bad"),
            "401",
            "failure {i}"
        );
    }
    // Locked: even the right password is refused, with Retry-After.
    let r = get_auth(&srv, "/admin/x.txt", &basic("alice", "secret"));
    assert_eq!(r.status, 401, "{r:?}");
    let secs: u64 = r
        .header("Retry-After")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    // Another client address is not affected.
    assert_eq!(curl_status(&srv, "127.0.0.2", "alice:secret"), "200");
    // Public files are not affected either.
    assert_eq!(srv.get("/index.html").status, 200);
}

#[test]
fn hashing_budget_answers_503_with_retry_after() {
    let s = site();
    let f = htpasswd_path(&s);
    htpasswd(&["-c", "-b", "-B", "-C", "8", &path_str(&f), "alice", "pw"]);
    let cfg = config(
        &f,
        "\n[[auth]]\nverify_budget = \"100ms\"\nfail_limit = 0\ncache_ttl = 0\n",
    );
    let srv = start(&s, &cfg, &[]);
    let auth = basic("alice", "pw");
    let mut got = Vec::new();
    // bcrypt-8 takes about 15 ms in a release build, more in a debug one:
    // a 100 ms budget runs out within a few checks.
    for _ in 0..40 {
        let r = srv.get_with("/admin/x.txt", &[("Authorization", &auth)]);
        got.push(r.status);
        if r.status == 503 {
            assert_eq!(r.header("Retry-After"), Some("1"), "{r:?}");
            assert!(!contains(&r.body, b"admin secret"));
            break;
        }
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(got.last(), Some(&503), "the budget never ran out: {got:?}");
    // Public files are served meanwhile, and the budget refills.
    assert_eq!(srv.get("/index.html").status, 200);
    assert!(
        status_becomes(&srv, &auth, 200, scaled(5.0)),
        "the budget never refilled"
    );
}

#[test]
fn cached_logins_skip_the_hash() {
    let s = site();
    let f = htpasswd_path(&s);
    htpasswd(&["-c", "-b", "-B", "-C", "10", &path_str(&f), "alice", "pw"]);
    let srv = start(&s, &config(&f, ""), &[]);
    let mut c = srv.connect();
    let auth = basic("alice", "pw");
    let t0 = Instant::now();
    let r = c.request(&req("GET", "/admin/x.txt", &[("Authorization", &auth)]));
    let first = t0.elapsed();
    assert_eq!(r.status, 200);
    let t1 = Instant::now();
    for _ in 0..5 {
        let r = c.request(&req("GET", "/admin/x.txt", &[("Authorization", &auth)]));
        assert_eq!(r.status, 200);
    }
    let five = t1.elapsed();
    assert!(
        five < first,
        "5 cached logins ({five:?}) should cost less than one bcrypt-10 check ({first:?})"
    );
}

#[test]
fn request_body_on_a_refused_request_does_not_break_the_connection() {
    let (s, f) = one_user_site();
    let srv = start(&s, &config(&f, ""), &[]);
    let mut c = srv.connect();
    c.send(b"POST /admin/x.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello");
    let r = c.read_response();
    assert_challenge(&r, "POST with a body");
    if !r.connection_has("close") {
        let r = c.request(&req("GET", "/index.html", &[]));
        assert_eq!(r.status, 200, "{r:?}");
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

fn check(s: &Site, cfg: &str) -> blackbox::RunResult {
    let path = path_str(&s.config("check.toml", cfg));
    blackbox::run(&["--root", &s.root_str(), "--config", &path, "--check-config"])
}

#[test]
fn check_config_prints_rules_and_reports_every_error() {
    let (s, f) = one_user_site();
    let fs = path_str(&f);
    let r = check(
        &s,
        &config(&f, "\n[[auth]]\nprefix = \"/admin/help/\"\npublic = true\n"),
    );
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("[[auth]]\nprefix = \"/admin/\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("htpasswd = \"{fs}\"")),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("verify_budget = \"250ms\""),
        "{}",
        r.stdout
    );

    let bad =
        "[[auth]]\nprefix = \"admin\"\nrealm = \"r\"\nhtpasswd = \"/nonexistent/pw\"\ncolour = 1\n\
               [[auth]]\nprefix = \"/b/\"\nrealm = \"r\"\nhtpasswd = \"/nonexistent/pw\"\n\
               [[auth]]\nfail_limit = \"many\"\n";
    let r = check(&s, bad);
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    let e = r.stderr;
    for want in [
        "check.toml:2: auth: expected a path starting with '/'",
        "check.toml:5: auth: unknown key colour",
        "check.toml:11: auth: fail_limit: expected an integer",
    ] {
        assert!(e.contains(want), "{want:?} not in:\n{e}");
    }
    // A good config with an unreadable or broken htpasswd file.
    let r = check(
        &s,
        "[[auth]]\nprefix = \"/b/\"\nrealm = \"r\"\nhtpasswd = \"/nonexistent/pw\"\n",
    );
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr
            .contains("check.toml:1: auth: htpasswd: /nonexistent/pw:"),
        "{}",
        r.stderr
    );
    std::fs::write(&f, "alice:{SHA}tooshort\n").unwrap();
    let r = check(&s, &config(&f, ""));
    assert_eq!(r.code(), Some(1));
    assert!(
        r.stderr.contains(&format!("{fs}:1: user alice: {{SHA}}")),
        "{}",
        r.stderr
    );
}
