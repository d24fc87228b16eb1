//! Features driven by the config file: virtual hosts, [mime] overrides,
//! gzip_static, root from the config.

use blackbox::*;

// ---------------------------------------------------------------------------
// Virtual hosts
// ---------------------------------------------------------------------------

fn vhost_site() -> (Site, String) {
    let s = Site::new();
    s.file("who.txt", "default").file("only-default.txt", "od");
    s.dir.write("alpha/who.txt", "alpha");
    s.dir.write("alpha/index.html", "alpha home");
    s.dir.write("beta/who.txt", "beta");
    let cfg = format!(
        "# two virtual hosts\n\
         [[vhost]]\n\
         names = [\"alpha.test\", \"192.168.1.1\"]\n\
         root = \"{}\"\n\
         \n\
         [[vhost]]\n\
         names = [\"beta.test\"]   # trailing comment\n\
         root = \"{}\"\n",
        path_str(&s.dir.join("alpha")),
        path_str(&s.dir.join("beta"))
    );
    (s, cfg)
}

fn who(srv: &Server, host: &str) -> Response {
    srv.request(&format!("GET /who.txt HTTP/1.1\r\nHost: {host}\r\n\r\n"))
}

#[test]
fn vhosts_select_docroot_by_host() {
    let (s, cfg) = vhost_site();
    let srv = s.start_with_config(&cfg);
    who(&srv, "alpha.test").assert_body(200, "alpha");
    who(&srv, "192.168.1.1").assert_body(200, "alpha");
    who(&srv, "beta.test").assert_body(200, "beta");
}

#[test]
fn unknown_host_goes_to_default_root() {
    let (s, cfg) = vhost_site();
    let srv = s.start_with_config(&cfg);
    who(&srv, "gamma.test").assert_body(200, "default");
    who(&srv, "localhost").assert_body(200, "default");
    who(&srv, &srv.addr().to_string()).assert_body(200, "default");
    // HTTP/1.0 without Host: default root.
    let mut c = srv.connect();
    c.request("GET /who.txt HTTP/1.0\r\n\r\n")
        .assert_body(200, "default");
}

#[test]
fn vhost_match_ignores_port_and_case() {
    let (s, cfg) = vhost_site();
    let srv = s.start_with_config(&cfg);
    who(&srv, "ALPHA.TEST").assert_body(200, "alpha");
    who(&srv, "Alpha.Test:8080").assert_body(200, "alpha");
    who(&srv, "alpha.test:80").assert_body(200, "alpha");
    who(&srv, "192.168.1.1:8080").assert_body(200, "alpha");
    who(&srv, "BETA.test:1").assert_body(200, "beta");
}

#[test]
fn vhosts_do_not_fall_back_to_default_root() {
    let (s, cfg) = vhost_site();
    let srv = s.start_with_config(&cfg);
    let r = srv.request("GET /only-default.txt HTTP/1.1\r\nHost: alpha.test\r\n\r\n");
    r.assert_status(404);
    let r = srv.request("GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n");
    r.assert_body(200, "alpha home");
}

#[test]
fn vhost_per_request_on_one_connection() {
    let (s, cfg) = vhost_site();
    let srv = s.start_with_config(&cfg);
    let mut c = srv.connect();
    for (host, want) in [
        ("beta.test", "beta"),
        ("alpha.test", "alpha"),
        ("nobody", "default"),
        ("beta.test", "beta"),
    ] {
        c.request(&format!("GET /who.txt HTTP/1.1\r\nHost: {host}\r\n\r\n"))
            .assert_body(200, want);
    }
}

#[test]
fn root_from_config_file() {
    let s = Site::new();
    s.file("who.txt", "from-config-root");
    let cfg = format!("[server]\nroot = \"{}\"\n", s.root_str());
    let path = path_str(&s.config("c.toml", &cfg));
    let srv = Server::start(&["--config", &path]);
    srv.get("/who.txt").assert_body(200, "from-config-root");
}

#[test]
fn command_line_root_overrides_config_root() {
    let s = Site::new();
    s.file("who.txt", "cli-root");
    s.dir.write("other/who.txt", "config-root");
    let cfg = format!("[server]\nroot = \"{}\"\n", path_str(&s.dir.join("other")));
    let srv = s.start_with_config(&cfg);
    srv.get("/who.txt").assert_body(200, "cli-root");
}

#[test]
fn listen_from_config_file() {
    let s = Site::new();
    s.file("who.txt", "cfg-listen");
    let cfg = format!(
        "[server]\nlisten = [\"127.0.0.1:0\", \"127.0.0.1:0\"]\nroot = \"{}\"\n",
        s.root_str()
    );
    let path = path_str(&s.config("c.toml", &cfg));
    let srv = Server::start_raw(&["--config", &path], 2);
    assert_eq!(srv.addrs().len(), 2);
    assert_ne!(srv.addrs()[0], srv.addrs()[1]);
    for a in srv.addrs() {
        let mut c = Conn::connect(*a);
        c.request(&req("GET", "/who.txt", &[]))
            .assert_body(200, "cfg-listen");
    }
}

// ---------------------------------------------------------------------------
// MIME
// ---------------------------------------------------------------------------

#[test]
fn mime_table_override_and_extension() {
    let s = Site::new();
    s.file("m.wasm", "\0asm")
        .file("m.txt", "text")
        .file("m.fw", "fw")
        .file("m.html", "<p>");
    let srv = s.start_with_config(
        "[mime]\n\
         wasm = \"application/wasm\"\n\
         txt = \"text/x-override\"   # override a built-in\n\
         fw = \"application/x-firmware\"\n",
    );
    let mut c = srv.connect();
    for (p, want) in [
        ("/m.wasm", "application/wasm"),
        ("/m.txt", "text/x-override"),
        ("/m.fw", "application/x-firmware"),
        ("/m.html", "text/html"),
    ] {
        let r = c.request(&req("GET", p, &[]));
        r.assert_status(200);
        assert_eq!(r.media_type().as_deref(), Some(want), "{p}: {r:?}");
    }
}

// ---------------------------------------------------------------------------
// gzip_static
// ---------------------------------------------------------------------------

const JS: &str = "console.log('plain javascript, not compressed');\n";

fn gz_site() -> (Site, Vec<u8>) {
    let s = Site::new();
    let gz = gzip_stored(JS.as_bytes());
    s.file("app.js", JS)
        .file("app.js.gz", &gz)
        .file("nogz.css", "body{color:red}");
    (s, gz)
}

fn vary_has_accept_encoding(r: &Response) -> bool {
    r.headers_all("vary").iter().any(|v| {
        v.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("accept-encoding"))
    })
}

#[test]
fn gzip_static_serves_gz_when_accepted() {
    let (s, gz) = gz_site();
    let srv = s.start();
    let plain = srv.get("/app.js");
    let r = srv.get_with("/app.js", &[("Accept-Encoding", "gzip, deflate, br")]);
    r.assert_body(200, &gz);
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{r:?}");
    assert!(
        vary_has_accept_encoding(&r),
        "Vary: Accept-Encoding missing\n{r:?}"
    );
    assert_eq!(r.media_type(), plain.media_type(), "Content-Type of app.js");
    let mt = r.media_type().unwrap_or_default();
    assert!(
        mt == "text/javascript" || mt == "application/javascript",
        "{r:?}"
    );
}

#[test]
fn gzip_static_plain_without_gzip() {
    // A client that does not take gzip gets the plain file, and the server
    // does not even look for the sibling: no Content-Encoding, no Vary (a
    // plain response is valid for every client, so caches stay correct;
    // the gzip variant is the one that carries Vary).
    let (s, _) = gz_site();
    let srv = s.start();
    let mut f = Failures::new();
    for ae in [None, Some("identity"), Some("br"), Some("deflate")] {
        let r = match ae {
            Some(v) => srv.get_with("/app.js", &[("Accept-Encoding", v)]),
            None => srv.get("/app.js"),
        };
        r.assert_body(200, JS);
        if r.has_header("content-encoding") {
            f.push(format!(
                "Accept-Encoding {ae:?}: unexpected Content-Encoding\n{r:?}"
            ));
        }
        if vary_has_accept_encoding(&r) {
            f.push(format!(
                "Accept-Encoding {ae:?}: Vary on the plain variant\n{r:?}"
            ));
        }
    }
    let gz = srv.get_with("/app.js", &[("Accept-Encoding", "gzip")]);
    if !vary_has_accept_encoding(&gz) {
        f.push(format!(
            "gzip variant without Vary: Accept-Encoding\n{gz:?}"
        ));
    }
    f.finish();
}

#[test]
fn gzip_q_zero_means_not_accepted() {
    let (s, _) = gz_site();
    let srv = s.start();
    let r = srv.get_with("/app.js", &[("Accept-Encoding", "gzip;q=0")]);
    r.assert_body(200, JS);
    assert!(!r.has_header("content-encoding"), "{r:?}");
}

#[test]
fn gzip_with_q_value_is_accepted() {
    let (s, gz) = gz_site();
    let srv = s.start();
    let r = srv.get_with(
        "/app.js",
        &[("Accept-Encoding", "deflate;q=1.0, gzip;q=0.5")],
    );
    r.assert_body(200, &gz);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
}

#[test]
fn gzip_without_gz_file_is_plain() {
    let (s, _) = gz_site();
    let srv = s.start();
    let r = srv.get_with("/nogz.css", &[("Accept-Encoding", "gzip")]);
    r.assert_body(200, "body{color:red}");
    assert!(!r.has_header("content-encoding"), "{r:?}");
}

#[test]
fn gzip_head_and_etag() {
    let (s, gz) = gz_site();
    let srv = s.start();
    let mut c = srv.connect();
    let h = c.request(&req("HEAD", "/app.js", &[("Accept-Encoding", "gzip")]));
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(gz.len() as u64));
    assert_eq!(h.header("content-encoding"), Some("gzip"));
    let zipped = c.request(&req("GET", "/app.js", &[("Accept-Encoding", "gzip")]));
    let plain = c.request(&req("GET", "/app.js", &[]));
    assert_ne!(
        zipped.must_header("etag"),
        plain.must_header("etag"),
        "the gzip and identity representations need different strong ETags"
    );
}

#[test]
fn gzip_static_disabled_by_config() {
    let (s, _) = gz_site();
    let srv = s.start_with_config("[server]\ngzip_static = false\n");
    let r = srv.get_with("/app.js", &[("Accept-Encoding", "gzip")]);
    r.assert_body(200, JS);
    assert!(!r.has_header("content-encoding"), "{r:?}");
}

#[test]
fn gz_file_requested_directly() {
    let (s, gz) = gz_site();
    let srv = s.start();
    let r = srv.get("/app.js.gz");
    r.assert_body(200, &gz);
}

#[test]
fn config_string_escapes_are_decoded() {
    let s = Site::new();
    s.file("a.txt", "x").file("b.tab", "y");
    let srv = s.start_with_config(
        "[mime]\ntxt = \"text/plain; charset=\\\"utf-8\\\"\"\ntab = \"a\\\\b\"\n",
    );
    let r = srv.get("/a.txt");
    r.assert_body(200, "x");
    assert_eq!(
        r.must_header("content-type"),
        "text/plain; charset=\"utf-8\""
    );
    let r = srv.get("/b.tab");
    assert_eq!(r.must_header("content-type"), "a\\b");
}

#[test]
fn server_runs_with_socket_options() {
    let s = Site::new();
    s.file("a.txt", "AAAA");
    let srv = s.start_with_config(
        "[server]\n\
         tcp_nodelay = false\n\
         tcp_fastopen = 16\n\
         defer_accept = true\n\
         backlog = 16\n\
         buffers_per_worker = 4\n\
         buffer_size = \"8K\"\n\
         workers = 1\n",
    );
    let mut c = srv.connect();
    for _ in 0..3 {
        c.request(&req("GET", "/a.txt", &[]))
            .assert_body(200, "AAAA");
    }
    // buffer_size = 8K: a 6000-byte header fits now.
    let v = "h".repeat(6000);
    srv.get_with("/a.txt", &[("X-Long", &v)])
        .assert_body(200, "AAAA");
}

#[test]
fn gzip_range_is_consistent() {
    // A range over the gzip representation must be a slice of the .gz
    // bytes labelled Content-Encoding: gzip (or a plain slice without it,
    // or the whole body): never plain bytes labelled gzip.
    let (s, gz) = gz_site();
    let srv = s.start();
    let r = srv.get_with(
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")],
    );
    let ce = r.header("content-encoding").map(str::to_ascii_lowercase);
    match (r.status, ce.as_deref()) {
        (206, Some("gzip")) => {
            r.assert_body(206, &gz[..10]);
            assert_eq!(
                r.must_header("content-range"),
                format!("bytes 0-9/{}", gz.len())
            );
        }
        (206, None) => {
            r.assert_body(206, &JS.as_bytes()[..10]);
        }
        (200, Some("gzip")) => {
            r.assert_body(200, &gz);
        }
        (200, None) => {
            r.assert_body(200, JS);
        }
        _ => panic!("inconsistent response: {r:?}"),
    }
}

#[test]
fn gzip_conditional_uses_variant_etag() {
    let (s, _) = gz_site();
    let srv = s.start();
    let mut c = srv.connect();
    let z = c.request(&req("GET", "/app.js", &[("Accept-Encoding", "gzip")]));
    let etag = z.must_header("etag").to_string();
    let r = c.request(&req(
        "GET",
        "/app.js",
        &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)],
    ));
    r.assert_status(304);
    // The identity representation does not match the gzip ETag.
    let r = c.request(&req("GET", "/app.js", &[("If-None-Match", &etag)]));
    r.assert_body(200, JS);
}

#[test]
fn vhost_with_http10_and_absolute_form() {
    let (s, cfg) = vhost_site();
    let srv = s.start_with_config(&cfg);
    let mut c = srv.connect();
    c.request("GET /who.txt HTTP/1.0\r\nHost: beta.test\r\nConnection: keep-alive\r\n\r\n")
        .assert_body(200, "beta");
    c.request("GET HTTP://ALPHA.TEST:8080/who.txt HTTP/1.1\r\nHost: beta.test\r\n\r\n")
        .assert_body(200, "alpha");
}

#[test]
fn gzip_coding_name_is_case_insensitive() {
    let (s, gz) = gz_site();
    let srv = s.start();
    let r = srv.get_with("/app.js", &[("Accept-Encoding", "GZip")]);
    r.assert_body(200, &gz);
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let r = srv.get_with("/app.js", &[("Accept-Encoding", "br;q=1, gzip ; q=0.1")]);
    r.assert_body(200, &gz);
}
