//! Serving files: headers, content types, index files, redirects for
//! directories, 403/404, hidden dotfiles, HEAD.

use blackbox::*;
use std::time::{Duration, SystemTime};

const A_TXT: &str = "hello, world\n";

fn site() -> Site {
    let s = Site::new();
    s.file("index.html", "<h1>home</h1>\n")
        .file("a.txt", A_TXT)
        .file("page.htm", "<p>htm</p>")
        .file("style.css", "body{}")
        .file("app.js", "console.log(1);")
        .file("data.json", "{\"a\":1}")
        .file("logo.png", b"\x89PNG\r\n\x1a\n....")
        .file("photo.jpg", b"\xff\xd8\xff\xe0")
        .file("anim.gif", "GIF89a")
        .file("icon.svg", "<svg/>")
        .file("fw.bin", pattern(300, 1))
        .file("blob.xyz123", "unknown ext")
        .file("README", "no extension")
        .file("empty.txt", "")
        .file("sub/index.html", "sub index")
        .file("sub/inner.txt", "inner")
        .file("onlyhtm/index.htm", "only htm")
        .file("both/index.html", "both: html")
        .file("both/index.htm", "both: htm")
        .mkdir("empty")
        .file("hello world.txt", "spaced")
        .file("caf\u{e9}.txt", "accent")
        .file(".env", "DOTENV")
        .file(".git/config", "GITCONFIG")
        .file("sub/.hidden.txt", "HIDDEN")
        .file(".well-known/security.txt", "Contact: x")
        .file(".well-known/acme-challenge/tok123", "acme-token");
    s
}

fn is_strong_etag(v: &str) -> bool {
    v.len() >= 2 && v.starts_with('"') && v.ends_with('"') && !v[1..v.len() - 1].contains('"')
}

#[test]
fn get_file_has_all_required_headers() {
    let s = site();
    let mtime = utc(2021, 3, 4, 5, 6, 7);
    s.dir.set_mtime("www/a.txt", mtime);
    let srv = s.start();
    let r = srv.get("/a.txt");
    r.assert_body(200, A_TXT);
    assert_eq!(r.media_type().as_deref(), Some("text/plain"), "{r:?}");
    let etag = r.must_header("etag");
    assert!(
        is_strong_etag(etag),
        "ETag must be strong and quoted: {etag:?}"
    );
    assert_eq!(
        r.must_header("last-modified"),
        "Thu, 04 Mar 2021 05:06:07 GMT",
        "Last-Modified must be the file mtime as IMF-fixdate"
    );
    assert_eq!(r.must_header("accept-ranges"), "bytes");
    let date = r.must_header("date");
    let t = parse_http_date(date).unwrap_or_else(|| panic!("Date is not IMF-fixdate: {date:?}"));
    let now = SystemTime::now();
    let skew = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(
        skew < Duration::from_secs(120),
        "Date too far from now: {date}"
    );
    let server = r.must_header("server");
    assert!(
        server.starts_with("firmware-server"),
        "Server header should be firmware-server: {server:?}"
    );
    // The ETag is stable.
    let r2 = srv.get("/a.txt");
    assert_eq!(r2.header("etag"), Some(etag));
}

#[test]
fn head_has_same_headers_and_no_body() {
    let s = site();
    let srv = s.start();
    let g = srv.get("/a.txt");
    let mut c = srv.connect();
    let h = c.request(&req("HEAD", "/a.txt", &[]));
    h.assert_status(200);
    for name in [
        "content-length",
        "content-type",
        "etag",
        "last-modified",
        "accept-ranges",
    ] {
        assert_eq!(h.header(name), g.header(name), "HEAD vs GET header {name}");
    }
    assert!(h.has_header("date") && h.has_header("server"), "{h:?}");
    // No body bytes were sent: the next response on the socket parses.
    let r = c.request(&req("GET", "/sub/inner.txt", &[]));
    r.assert_body(200, "inner");
    assert_eq!(c.pending(), 0);
}

#[test]
fn head_of_missing_file_has_no_body() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let h = c.request(&req("HEAD", "/nope.txt", &[]));
    h.assert_status(404);
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, A_TXT);
}

#[test]
fn content_types_by_extension() {
    let s = site();
    let srv = s.start();
    let cases: &[(&str, &[&str])] = &[
        ("/index.html", &["text/html"]),
        ("/page.htm", &["text/html"]),
        ("/a.txt", &["text/plain"]),
        ("/style.css", &["text/css"]),
        ("/app.js", &["text/javascript", "application/javascript"]),
        ("/data.json", &["application/json"]),
        ("/logo.png", &["image/png"]),
        ("/photo.jpg", &["image/jpeg"]),
        ("/anim.gif", &["image/gif"]),
        ("/icon.svg", &["image/svg+xml"]),
        ("/fw.bin", &["application/octet-stream"]),
        ("/blob.xyz123", &["application/octet-stream"]),
        ("/README", &["application/octet-stream"]),
    ];
    let mut c = srv.connect();
    let mut f = Failures::new();
    for (path, want) in cases {
        let r = c.request(&req("GET", path, &[]));
        r.assert_status(200);
        let mt = r.media_type().unwrap_or_default();
        if !want.contains(&mt.as_str()) {
            f.push(format!(
                "{path}: Content-Type {mt:?}, expected one of {want:?}"
            ));
        }
    }
    f.finish();
}

#[test]
fn binary_and_large_files_are_exact() {
    let s = site();
    let big = pattern(3 * 1024 * 1024 + 17, 42);
    s.file("big.img", &big);
    let all: Vec<u8> = (0..=255u8).collect();
    s.file("bytes.bin", &all);
    let srv = s.start();
    let mut c = srv.connect();
    c.request(&req("GET", "/bytes.bin", &[]))
        .assert_body(200, &all);
    c.request(&req("GET", "/big.img", &[]))
        .assert_body(200, &big);
    c.request(&req("GET", "/fw.bin", &[]))
        .assert_body(200, pattern(300, 1));
}

#[test]
fn empty_file() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.request(&req("GET", "/empty.txt", &[]))
        .assert_body(200, "");
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, A_TXT);
}

#[test]
fn query_string_is_ignored_for_files() {
    let s = site();
    let srv = s.start();
    srv.get("/a.txt?v=123&x=y").assert_body(200, A_TXT);
}

#[test]
fn percent_encoded_names() {
    let s = site();
    let srv = s.start();
    srv.get("/hello%20world.txt").assert_body(200, "spaced");
    srv.get("/caf%C3%A9.txt").assert_body(200, "accent");
    srv.get("/caf%c3%a9.txt").assert_body(200, "accent");
    srv.get("/%61.txt").assert_body(200, A_TXT);
}

#[test]
fn root_index() {
    let s = site();
    let srv = s.start();
    let r = srv.get("/");
    r.assert_body(200, "<h1>home</h1>\n");
    assert_eq!(r.media_type().as_deref(), Some("text/html"));
}

#[test]
fn subdirectory_index_files() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.request(&req("GET", "/sub/", &[]))
        .assert_body(200, "sub index");
    let r = c.request(&req("GET", "/onlyhtm/", &[]));
    r.assert_body(200, "only htm");
    assert_eq!(r.media_type().as_deref(), Some("text/html"));
    // index.html comes first in the default index list.
    c.request(&req("GET", "/both/", &[]))
        .assert_body(200, "both: html");
    c.request(&req("GET", "/sub/?q=1", &[]))
        .assert_body(200, "sub index");
}

#[test]
fn head_of_index() {
    let s = site();
    let srv = s.start();
    let r = srv.request(&req("HEAD", "/sub/", &[]));
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(9));
}

fn location_path(r: &Response) -> String {
    let loc = r.must_header("location").to_string();
    // Accept an absolute URL as well as a path; compare the path part.
    if let Some(rest) = loc.strip_prefix("http://") {
        match rest.find('/') {
            Some(i) => rest[i..].to_string(),
            None => "/".into(),
        }
    } else {
        loc
    }
}

#[test]
fn directory_without_slash_redirects_301() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request(&req("GET", "/sub", &[]));
    r.assert_status(301);
    assert_eq!(location_path(&r), "/sub/");
    let r = c.request(&req("GET", "/empty", &[]));
    r.assert_status(301);
    assert_eq!(location_path(&r), "/empty/");
    let r = c.request(&req("HEAD", "/sub", &[]));
    r.assert_status(301);
    assert_eq!(location_path(&r), "/sub/");
    // Connection still usable after the redirects.
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, A_TXT);
}

#[test]
fn directory_redirect_keeps_query() {
    let s = site();
    let srv = s.start();
    let r = srv.get("/sub?x=1&y=two");
    r.assert_status(301);
    assert_eq!(location_path(&r), "/sub/?x=1&y=two");
}

#[test]
fn nested_directory_redirect() {
    let s = site();
    s.file("d1/d2/index.html", "deep");
    let srv = s.start();
    let r = srv.get("/d1/d2");
    r.assert_status(301);
    assert_eq!(location_path(&r), "/d1/d2/");
    srv.get("/d1/d2/").assert_body(200, "deep");
}

#[test]
fn directory_without_index_is_403() {
    let s = site();
    let srv = s.start();
    let r = srv.get("/empty/");
    r.assert_status(403);
    // No directory listing: the 403 body does not list anything.
    let s2 = site();
    s2.file("nolist/secret-name.txt", "x");
    let srv2 = s2.start();
    let r = srv2.get("/nolist/");
    r.assert_status(403);
    assert!(!r.body_str().contains("secret-name"), "{r:?}");
}

#[test]
fn non_regular_file_is_403() {
    let s = site();
    let fifo = s.root().join("pipe.bin");
    let st = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(st.success());
    let srv = s.start();
    let mut c = srv.connect();
    c.request(&req("GET", "/pipe.bin", &[])).assert_status(403);
    // The server did not block on the FIFO.
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, A_TXT);
    srv.get("/a.txt").assert_body(200, A_TXT);
}

#[test]
fn missing_files_are_404() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    for p in ["/missing.txt", "/nodir/file.txt", "/sub/missing", "/nodir/"] {
        let r = c.request(&req("GET", p, &[]));
        r.assert_status(404);
        assert_eq!(
            r.content_length(),
            Some(r.body.len() as u64),
            "404 must be properly framed"
        );
    }
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, A_TXT);
}

#[test]
fn dotfiles_are_hidden() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    for p in [
        "/.env",
        "/.git/config",
        "/.git/",
        "/.git",
        "/sub/.hidden.txt",
        "/%2eenv",
        "/%2Egit/config",
    ] {
        let r = c.request(&req("GET", p, &[]));
        r.assert_status(404);
        for secret in ["DOTENV", "GITCONFIG", "HIDDEN"] {
            assert!(!r.body_str().contains(secret), "{p} leaked {secret}");
        }
    }
}

#[test]
fn well_known_is_served() {
    let s = site();
    let srv = s.start();
    srv.get("/.well-known/security.txt")
        .assert_body(200, "Contact: x");
    srv.get("/.well-known/acme-challenge/tok123")
        .assert_body(200, "acme-token");
}

#[test]
fn hide_dotfiles_false_serves_them() {
    let s = site();
    let srv = s.start_with_config("[server]\nhide_dotfiles = false\n");
    srv.get("/.env").assert_body(200, "DOTENV");
    srv.get("/sub/.hidden.txt").assert_body(200, "HIDDEN");
}

#[test]
fn custom_index_list() {
    let s = site();
    s.file("docs/default.txt", "default doc")
        .file("docs/index.html", "not in list")
        .file("only_html/index.html", "x");
    let srv = s.start_with_config("[server]\nindex = [\"default.txt\"]\n");
    srv.get("/docs/").assert_body(200, "default doc");
    srv.get("/only_html/").assert_status(403);
}

#[test]
fn keepalive_survives_non_fatal_statuses() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.request(&req("GET", "/missing", &[])).assert_status(404);
    c.request(&req("GET", "/empty/", &[])).assert_status(403);
    c.request(&req("GET", "/sub", &[])).assert_status(301);
    c.request(&req("GET", "/.env", &[])).assert_status(404);
    c.request(&req("DELETE", "/a.txt", &[])).assert_status(405);
    let etag = c
        .request(&req("GET", "/a.txt", &[]))
        .must_header("etag")
        .to_string();
    c.request(&req("GET", "/a.txt", &[("If-None-Match", &etag)]))
        .assert_status(304);
    c.request(&req("GET", "/a.txt", &[("Range", "bytes=0-4")]))
        .assert_body(206, "hello");
    c.request(&req("GET", "/a.txt", &[("Range", "bytes=500-600")]))
        .assert_status(416);
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, A_TXT);
}

#[test]
fn redirect_is_never_protocol_relative() {
    // "//sub" names the directory "sub"; the Location must stay on this
    // server ("//sub/" would send browsers to a host called "sub").
    let s = site();
    let srv = s.start();
    let mut f = Failures::new();
    for t in ["//sub", "///sub", "/./sub"] {
        let r = srv.get(t);
        if r.status == 301 {
            let loc = r.must_header("location");
            if loc.starts_with("//") || loc.starts_with("/\\") {
                f.push(format!("GET {t}: open redirect, Location {loc:?}"));
            }
        } else if !(r.status == 400 || r.status == 404) {
            f.push(format!("GET {t}: unexpected {r:?}"));
        }
    }
    f.finish();
}
