//! Black-box tests of the access plugin (`[[access]]` rules): address rules
//! close the connection at accept time, prefix rules answer 403.
//!
//! Run against a binary built with `--features access`.

use std::net::SocketAddr;
use std::time::Duration;

use blackbox::{path_str, req, scaled, Conn, Server, Site};

fn site() -> Site {
    let s = Site::new();
    s.file("index.html", "home\n")
        .file("admin/index.html", "admin\n")
        .file("administrator.html", "not admin\n")
        .file("pub/a.txt", "public\n")
        .file("other.txt", "other\n");
    s
}

/// Sends a request and asserts the server closes without answering.
#[track_caller]
fn assert_closed_without_response(addr: SocketAddr) {
    let mut c = Conn::connect(addr);
    let _ = c.try_send(req("GET", "/index.html", &[]).as_bytes());
    match c.closed_within(scaled(3.0)) {
        Ok(true) => {}
        Ok(false) => panic!("{addr}: connection not closed"),
        Err(data) => panic!(
            "{addr}: expected a close without response, got {:?}",
            String::from_utf8_lossy(&data)
        ),
    }
}

#[track_caller]
fn get_on(addr: SocketAddr, path: &str, host: &str) -> u16 {
    let mut c = Conn::connect(addr);
    c.request(&format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n"))
        .status
}

fn start(site: &Site, cfg: &str, extra: &[&str]) -> Server {
    let path = path_str(&site.config("server.toml", cfg));
    let mut args = vec!["--config", path.as_str()];
    args.extend_from_slice(extra);
    site.start_args(&args)
}

#[test]
fn address_deny_closes_before_any_response() {
    let s = site();
    let srv = s.start_with_config("[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n");
    assert_closed_without_response(srv.addr());
    // Also without sending anything: the server closes on its own.
    let mut c = srv.connect();
    assert_eq!(c.closed_within(scaled(3.0)), Ok(true));
}

#[test]
fn address_not_matching_is_allowed() {
    let s = site();
    let srv = s.start_with_config(
        "[[access]]\naction = \"deny\"\nfrom = [\"10.0.0.0/8\", \"127.0.0.2\", \"fd00::/8\"]\n",
    );
    srv.get("/index.html").assert_body(200, "home\n");
}

#[test]
fn ipv6_rules() {
    let s = site();
    // ::1 denied, IPv4 loopback allowed.
    let srv = start(
        &s,
        "[[access]]\naction = \"deny\"\nfrom = \"::1/128\"\n",
        &["--listen", "127.0.0.1:0", "--listen", "[::1]:0"],
    );
    let v4 = srv
        .addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv4)
        .unwrap();
    let v6 = srv
        .addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv6)
        .unwrap();
    assert_eq!(get_on(v4, "/index.html", "localhost"), 200);
    assert_closed_without_response(v6);
    drop(srv);

    // Only ::1 allowed, default deny.
    let srv = start(
        &s,
        "[[access]]\ndefault = \"deny\"\n[[access]]\naction = \"allow\"\nfrom = [\"::1\"]\n",
        &["--listen", "127.0.0.1:0", "--listen", "[::1]:0"],
    );
    let v4 = srv
        .addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv4)
        .unwrap();
    let v6 = srv
        .addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv6)
        .unwrap();
    assert_eq!(get_on(v6, "/index.html", "localhost"), 200);
    assert_closed_without_response(v4);
    drop(srv);

    // An IPv6 range does not cover IPv4 clients, and ::/0 covers ::1.
    let srv = start(
        &s,
        "[[access]]\naction = \"deny\"\nfrom = \"::/0\"\n",
        &["--listen", "127.0.0.1:0", "--listen", "[::1]:0"],
    );
    let v4 = srv
        .addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv4)
        .unwrap();
    let v6 = srv
        .addrs()
        .iter()
        .copied()
        .find(SocketAddr::is_ipv6)
        .unwrap();
    assert_eq!(get_on(v4, "/index.html", "localhost"), 200);
    assert_closed_without_response(v6);
}

#[test]
fn prefix_deny_answers_403_and_keeps_the_connection() {
    let s = site();
    let srv = s.start_with_config("[[access]]\naction = \"deny\"\nprefix = \"/admin/\"\n");
    let mut c = srv.connect();
    for path in [
        "/admin/",
        "/admin",
        "/admin/index.html",
        "/%61dmin/",
        "/pub/../admin/x",
        "//admin//",
    ] {
        let r = c.request(&req("GET", path, &[]));
        assert_eq!(r.status, 403, "{path}: {r:?}");
        assert!(r.body_str().contains("Forbidden"), "{path}");
        assert!(
            !r.connection_has("close"),
            "{path}: 403 must keep the connection"
        );
    }
    // HEAD gets the 403 head only.
    let r = c.request(&req("HEAD", "/admin/", &[]));
    assert_eq!(r.status, 403);
    // Segment boundaries: /administrator.html is not under /admin/.
    c.request(&req("GET", "/administrator.html", &[]))
        .assert_body(200, "not admin\n");
    c.request(&req("GET", "/index.html", &[]))
        .assert_body(200, "home\n");
    // A missing file under the prefix is 403 too (the rule runs before the handler).
    assert_eq!(c.request(&req("GET", "/admin/nope", &[])).status, 403);
}

#[test]
fn vhost_scoped_rules() {
    let s = site();
    s.dir.write("router/admin/index.html", "router admin\n");
    s.dir.write("router/index.html", "router home\n");
    let root = path_str(&s.dir.join("router"));
    let srv = s.start_with_config(&format!(
        "[[vhost]]\nnames = [\"router.lan\"]\nroot = \"{root}\"\n\
         [[access]]\naction = \"deny\"\nprefix = \"/admin\"\nvhost = \"router.lan\"\n\
         [[access]]\naction = \"deny\"\nprefix = \"/other.txt\"\nvhost = \"default\"\n"
    ));
    let a = srv.addr();
    assert_eq!(get_on(a, "/admin/", "router.lan"), 403);
    assert_eq!(get_on(a, "/admin/", "ROUTER.LAN:8080"), 403);
    assert_eq!(get_on(a, "/index.html", "router.lan"), 200);
    assert_eq!(get_on(a, "/admin/", "localhost"), 200);
    assert_eq!(get_on(a, "/other.txt", "localhost"), 403);
    assert_eq!(get_on(a, "/other.txt", "router.lan"), 404);
    // Absolute-form target: the host comes from the URI.
    assert_eq!(get_on(a, "http://router.lan/admin/", "localhost"), 403);
}

#[test]
fn default_deny() {
    let s = site();
    let srv = s.start_with_config("[[access]]\ndefault = \"deny\"\n");
    assert_closed_without_response(srv.addr());
    drop(srv);
    // A lone [access] table works too.
    let srv = s.start_with_config("[access]\ndefault = \"deny\"\n");
    assert_closed_without_response(srv.addr());
    drop(srv);
    let srv = s.start_with_config(
        "[[access]]\ndefault = \"deny\"\n[[access]]\naction = \"allow\"\nfrom = \"127.0.0.1/32\"\n",
    );
    srv.get("/index.html").assert_body(200, "home\n");
    drop(srv);
    // Default deny with an allowed prefix: the connection is kept (the
    // answer depends on the path), other paths get 403.
    let srv = s.start_with_config(
        "[[access]]\ndefault = \"deny\"\n[[access]]\naction = \"allow\"\nprefix = \"/pub\"\n",
    );
    let mut c = srv.connect();
    c.request(&req("GET", "/pub/a.txt", &[]))
        .assert_body(200, "public\n");
    assert_eq!(c.request(&req("GET", "/index.html", &[])).status, 403);
    assert_eq!(c.request(&req("GET", "/", &[])).status, 403);
}

#[test]
fn first_match_wins() {
    let s = site();
    // A prefix allow before an address deny: the address deny cannot be
    // decided at accept time.
    let srv = s.start_with_config(
        "[[access]]\naction = \"allow\"\nprefix = \"/pub/\"\n\
         [[access]]\naction = \"deny\"\nfrom = \"127.0.0.1\"\n",
    );
    let mut c = srv.connect();
    c.request(&req("GET", "/pub/a.txt", &[]))
        .assert_body(200, "public\n");
    assert_eq!(c.request(&req("GET", "/other.txt", &[])).status, 403);
    drop(srv);

    // The same prefix allow scoped to other clients: closed at accept.
    let srv = s.start_with_config(
        "[[access]]\naction = \"allow\"\nprefix = \"/pub/\"\nfrom = \"10.0.0.0/8\"\n\
         [[access]]\naction = \"deny\"\nfrom = \"127.0.0.1\"\n",
    );
    assert_closed_without_response(srv.addr());
    drop(srv);

    // Allow a host, then deny its range.
    let srv = s.start_with_config(
        "[[access]]\naction = \"allow\"\nfrom = \"127.0.0.1\"\n\
         [[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n",
    );
    assert_eq!(srv.get("/index.html").status, 200);
    drop(srv);

    // Deny the range first: the later allow never matches.
    let srv = s.start_with_config(
        "[[access]]\naction = \"deny\"\nfrom = \"127.0.0.0/8\"\n\
         [[access]]\naction = \"allow\"\nfrom = \"127.0.0.1\"\n",
    );
    assert_closed_without_response(srv.addr());
    drop(srv);

    // A prefix deny before a general allow of the client.
    let srv = s.start_with_config(
        "[[access]]\ndefault = \"deny\"\n\
         [[access]]\naction = \"deny\"\nprefix = \"/admin\"\n\
         [[access]]\naction = \"allow\"\nfrom = \"127.0.0.0/8\"\n",
    );
    let mut c = srv.connect();
    assert_eq!(c.request(&req("GET", "/admin/", &[])).status, 403);
    assert_eq!(c.request(&req("GET", "/index.html", &[])).status, 200);
}

#[test]
fn check_config_prints_rules() {
    let s = site();
    let cfg = path_str(&s.config(
        "a.toml",
        "[[access]]\ndefault = \"deny\"\n[[access]]\naction = \"allow\"\nfrom = [\"::ffff:127.0.0.0/104\", \"::1\"]\nprefix = \"//pub\"\n",
    ));
    let r = blackbox::run(&["--check-config", "--config", &cfg]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(
        r.stdout.contains("[[access]]\ndefault = \"deny\"\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("from = [\"127.0.0.0/8\", \"::1/128\"]\nprefix = \"/pub\"\n"),
        "{}",
        r.stdout
    );
    // Without any [access] table nothing is printed for it.
    let cfg = path_str(&s.config("b.toml", "[server]\nworkers = 1\n"));
    let r = blackbox::run(&["--check-config", "--config", &cfg]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(!r.stdout.contains("access"), "{}", r.stdout);
}

#[test]
fn bad_config_is_reported_with_file_and_line() {
    let s = site();
    let text = "[[access]]\n\
                action = \"drop\"\n\
                from = [\"10.0.0.0/33\"]\n\
                [[access]]\n\
                action = \"deny\"\n\
                from = \"10.0.0.1/8\"\n\
                prefix = \"admin\"\n\
                vhost = \"nowhere.lan\"\n\
                colour = \"red\"\n\
                [[access]]\n\
                from = \"::1\"\n\
                [[access]]\n\
                action = \"allow\"\n\
                from = \"fe80::1%eth0\"\n\
                [[access]]\n\
                default = \"deny\"\n\
                prefix = \"/x\"\n";
    let cfg = path_str(&s.config("bad.toml", text));
    let r = blackbox::run(&["--check-config", "--config", &cfg]);
    assert_eq!(
        r.code(),
        Some(1),
        "stdout: {}\nstderr: {}",
        r.stdout,
        r.stderr
    );
    let lines = r.stderr_lines();
    let want: &[(u32, &str)] = &[
        (2, "expected \"allow\" or \"deny\""),
        (3, "0..=32"),
        (6, "did you mean \"10.0.0.0/8\""),
        (7, "starting with '/'"),
        (8, "no [[vhost]] is named \"nowhere.lan\""),
        (9, "unknown key colour"),
        (11, "missing action"),
        (14, "expected an IPv4 or IPv6 address"),
        (16, "of its own"),
    ];
    for (line, msg) in want {
        let prefix = format!("{cfg}:{line}: ");
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&prefix) && l.contains(msg)),
            "no `{prefix}...{msg}` in:\n{}",
            r.stderr
        );
    }
    assert_eq!(lines.len(), want.len(), "{}", r.stderr);
    // The server itself refuses to start with it.
    let r = blackbox::run_with_timeout(
        &[
            "--config",
            &cfg,
            "--listen",
            "127.0.0.1:0",
            "--root",
            &s.root_str(),
        ],
        Duration::from_secs(10),
    );
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
}
