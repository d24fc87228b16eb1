//! Path traversal and symlinks: nothing outside the docroot is ever served
//! (unless follow_symlinks allows a symlink out).

use blackbox::*;

fn site() -> Site {
    // base/secret.txt holds SECRET (created by Site::new).
    let s = Site::new();
    s.file("index.html", "home")
        .file("a.txt", "AAAA")
        .file("sub/b.txt", "BBBB")
        .file("a/x", "a-x");
    // A directory literally named "%2e%2e" inside the docroot.
    s.file("%2e%2e/marker.txt", "literal-percent-dir");
    s.outside("outdir/secret2.txt", SECRET);
    s
}

/// Assert a response never carries outside content.
#[track_caller]
fn assert_no_leak(r: &Response, what: &str) {
    let body = r.body_str();
    assert!(
        !body.contains(SECRET),
        "{what}: leaked the secret file!\n{r:?}"
    );
    assert!(
        !body.contains("root:x:0:0") && !body.contains("root:*:0:0"),
        "{what}: leaked /etc/passwd!\n{r:?}"
    );
}

/// Send a raw target; expect one of `allowed`, no leak; if the status is
/// 400, the connection must be closed.
fn try_probe(srv: &Server, target: &str, allowed: &[u16]) -> Result<Response, String> {
    let mut c = srv.connect();
    let _ = c.try_send(req("GET", target, &[]));
    let r = c
        .try_read_response(false)
        .map_err(|e| format!("GET {target}: {}", describe(&e)))?;
    let body = r.body_str();
    if body.contains(SECRET) || body.contains("root:x:0:0") {
        return Err(format!(
            "GET {target}: LEAKED content from outside the docroot!\n{r:?}"
        ));
    }
    if !allowed.contains(&r.status) {
        return Err(format!(
            "GET {target}: expected one of {allowed:?}, got:\n{r:?}"
        ));
    }
    if r.status == 400 && c.closed_within(scaled(3.0)) != Ok(true) {
        return Err(format!(
            "GET {target}: 400 but the connection was not closed"
        ));
    }
    Ok(r)
}

#[track_caller]
fn probe(srv: &Server, target: &str, allowed: &[u16]) -> Response {
    try_probe(srv, target, allowed).unwrap_or_else(|e| panic!("{e}"))
}

/// Probe every target; report all failures together.
#[track_caller]
fn probe_all(srv: &Server, cases: &[(&str, &[u16])]) {
    let mut f = Failures::new();
    for (t, allowed) in cases {
        f.check(try_probe(srv, t, allowed));
    }
    f.finish();
}

#[test]
fn dotdot_is_400() {
    let s = site();
    let srv = s.start();
    probe_all(
        &srv,
        &[
            ("/../secret.txt", &[400]),
            ("/../../../../etc/passwd", &[400]),
            ("/../etc/passwd", &[400]),
            ("/sub/../../secret.txt", &[400]),
        ],
    );
}

#[test]
fn encoded_dotdot_is_400() {
    let s = site();
    let srv = s.start();
    probe_all(
        &srv,
        &[
            ("/%2e%2e/secret.txt", &[400]),
            ("/%2e%2e/%2e%2e/etc/passwd", &[400]),
            ("/%2E%2E/%2E%2E/%2E%2E/etc/passwd", &[400]),
            ("/.%2e/secret.txt", &[400]),
            ("/%2e./secret.txt", &[400]),
            ("/a/%2e%2e/%2e%2e/x", &[400]),
            ("/a/%2e%2e/%2e%2e/secret.txt", &[400]),
            ("/sub/%2e%2e/%2e%2e/outdir/secret2.txt", &[400]),
        ],
    );
}

#[test]
fn encoded_slash_dotdot_never_escapes() {
    let s = site();
    let srv = s.start();
    probe_all(
        &srv,
        &[
            ("/..%2fsecret.txt", &[400, 404]),
            ("/..%2f..%2fetc%2fpasswd", &[400, 404]),
            ("/%2e%2e%2fsecret.txt", &[400, 404]),
            ("/sub%2f..%2f..%2fsecret.txt", &[400, 404]),
            ("/..%2F..%2F..%2Fetc%2Fpasswd", &[400, 404]),
        ],
    );
}

#[test]
fn double_encoding_is_decoded_once() {
    let s = site();
    let srv = s.start();
    // %252e%252e decodes once to the literal name "%2e%2e", which exists as
    // a directory inside the docroot: it must be served from there.
    let r = probe(&srv, "/%252e%252e/marker.txt", &[200]);
    r.assert_body(200, "literal-percent-dir");
    probe_all(
        &srv,
        &[
            ("/%252e%252e/%252e%252e/secret.txt", &[404, 400]),
            ("/%252e%252e/", &[403, 404]),
        ],
    );
}

#[test]
fn backslash_forms_are_400() {
    let s = site();
    let srv = s.start();
    probe_all(
        &srv,
        &[
            ("/..\\secret.txt", &[400]),
            ("/sub\\..\\..\\secret.txt", &[400]),
            ("/%5c..%5csecret.txt", &[400]),
            ("/..%5c..%5cetc%5cpasswd", &[400]),
            ("/sub%5cb.txt", &[400]),
        ],
    );
}

#[test]
fn nul_byte_is_400() {
    let s = site();
    let srv = s.start();
    probe_all(
        &srv,
        &[
            ("/a.txt%00", &[400]),
            ("/a.txt%00.html", &[400]),
            ("/%00/../secret.txt", &[400]),
        ],
    );
}

#[test]
fn overlong_utf8_dots_are_400() {
    let s = site();
    let srv = s.start();
    probe_all(
        &srv,
        &[
            ("/%c0%ae%c0%ae/secret.txt", &[400]),
            ("/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", &[400]),
            ("/%c0%af..%c0%afsecret.txt", &[400]),
            ("/%e0%80%ae%e0%80%ae/secret.txt", &[400]),
        ],
    );
}

#[test]
fn absolute_form_traversal() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let _ = c.try_send("GET http://localhost/../secret.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let r = c.read_response();
    assert_no_leak(&r, "absolute-form ..");
    r.assert_status(400);
}

#[test]
fn dotdot_staying_inside_root_never_leaks() {
    let s = site();
    let srv = s.start();
    let r = probe(&srv, "/sub/../a.txt", &[200, 400]);
    if r.status == 200 {
        r.assert_body(200, "AAAA");
    }
    let r = probe(&srv, "/sub/./b.txt", &[200, 400]);
    if r.status == 200 {
        r.assert_body(200, "BBBB");
    }
}

#[test]
fn no_traversal_probe_leaks() {
    // A broad sweep; status is free, content is not.
    let s = site();
    let srv = s.start();
    let targets = [
        "/../secret.txt",
        "/..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/%2e%2e%5csecret.txt",
        "/....//secret.txt",
        "/..;/secret.txt",
        "//../secret.txt",
        "/./../secret.txt",
        "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/%u002e%u002e/secret.txt",
        "/%25%32%65%25%32%65/secret.txt",
        "/..%00/secret.txt",
        "/..%c0%af/secret.txt",
        "/..%c1%9c/secret.txt",
        "/outdir/../../secret.txt",
        "/secret.txt",
        "/../outdir/secret2.txt",
    ];
    for t in targets {
        let mut c = srv.connect();
        let _ = c.try_send(req("GET", t, &[]));
        match c.try_read_response(false) {
            Ok(r) => {
                assert_no_leak(&r, t);
                assert_ne!(r.status, 200, "{t} must not succeed:\n{r:?}");
            }
            Err(ReadError::Closed) => {}
            Err(e) => panic!("{t}: {}", describe(&e)),
        }
    }
    srv.get("/a.txt").assert_body(200, "AAAA");
}

// ---------------------------------------------------------------------------
// Symlinks
// ---------------------------------------------------------------------------

fn symlink_site() -> Site {
    let s = site();
    let secret = s.base().join("secret.txt");
    let outdir = s.base().join("outdir");
    s.dir.symlink(&secret, "www/out.txt");
    s.dir.symlink("../secret.txt", "www/out-rel.txt");
    s.dir.symlink(&outdir, "www/outlink");
    s.dir.symlink("a.txt", "www/in.txt");
    s.dir.symlink(s.root().join("sub"), "www/insub");
    s.dir.symlink("../a.txt", "www/sub/up.txt");
    s
}

#[test]
fn symlink_leaving_root_is_403() {
    let s = symlink_site();
    let srv = s.start();
    for t in [
        "/out.txt",
        "/out-rel.txt",
        "/outlink/secret2.txt",
        "/outlink/",
    ] {
        let r = srv.get(t);
        assert_no_leak(&r, t);
        r.assert_status(403);
    }
}

#[test]
fn symlink_inside_root_is_served() {
    let s = symlink_site();
    let srv = s.start();
    srv.get("/in.txt").assert_body(200, "AAAA");
    srv.get("/insub/b.txt").assert_body(200, "BBBB");
    srv.get("/sub/up.txt").assert_body(200, "AAAA");
}

#[test]
fn follow_symlinks_true_serves_outside_targets() {
    let s = symlink_site();
    let srv = s.start_with_config("[server]\nfollow_symlinks = true\n");
    srv.get("/out.txt").assert_body(200, SECRET);
    srv.get("/out-rel.txt").assert_body(200, SECRET);
    srv.get("/outlink/secret2.txt").assert_body(200, SECRET);
    srv.get("/in.txt").assert_body(200, "AAAA");
    // Even with follow_symlinks, '..' in the URL is still refused.
    let r = srv.get("/../secret.txt");
    assert_no_leak(&r, "/../secret.txt with follow_symlinks");
    r.assert_status(400);
}

#[test]
fn dangling_symlink_is_404_or_403() {
    let s = site();
    s.dir.symlink("does-not-exist.txt", "www/dangling.txt");
    let srv = s.start();
    let r = srv.get("/dangling.txt");
    assert!(r.status == 404 || r.status == 403, "{r:?}");
}

#[test]
fn symlink_loop_does_not_hang() {
    let s = site();
    s.dir.symlink("loop-b", "www/loop-a");
    s.dir.symlink("loop-a", "www/loop-b");
    s.dir.symlink(".", "www/self");
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request(&req("GET", "/loop-a", &[]));
    assert!(r.status == 403 || r.status == 404, "{r:?}");
    let r = c.request(&req("GET", "/self/self/self/a.txt", &[]));
    assert!(r.status == 200 || r.status == 403, "{r:?}");
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
}

#[test]
fn docroot_given_through_a_symlink_works() {
    // Routers often have /www -> /tmp/www: a symlinked docroot is the root
    // itself, not a symlink "leaving" it.
    let s = site();
    let link = s.dir.symlink(s.root(), "www-link");
    let srv = Server::start(&["--root", &path_str(&link)]);
    srv.get("/a.txt").assert_body(200, "AAAA");
    srv.get("/sub/b.txt").assert_body(200, "BBBB");
    let r = srv.get("/../secret.txt");
    assert_no_leak(&r, "/../secret.txt via symlinked root");
    // With a trailing slash as well.
    let with_slash = format!("{}/", path_str(&link));
    let srv2 = Server::start(&["--root", &with_slash]);
    srv2.get("/a.txt").assert_body(200, "AAAA");
}
