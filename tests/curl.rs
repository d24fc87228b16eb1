//! Interoperability with the real curl client (required; CI installs it).

use blackbox::*;

const TEXT: &str = "firmware release notes\nline two\n";

fn site() -> Site {
    let s = Site::new();
    s.file("notes.txt", TEXT)
        .file("fw.bin", pattern(100_000, 3))
        .file("app.js", "let x = 'curl compressed test';\n".repeat(20))
        .file(
            "app.js.gz",
            gzip_stored("let x = 'curl compressed test';\n".repeat(20).as_bytes()),
        )
        .file("dir/index.html", "dir");
    s
}

#[track_caller]
fn ok(o: &std::process::Output) {
    assert!(
        o.status.success(),
        "curl failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn curl_get_verbose() {
    let s = site();
    let srv = s.start();
    let o = curl(&["-v", &srv.url("/notes.txt")]);
    ok(&o);
    assert_eq!(o.stdout, TEXT.as_bytes());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("< HTTP/1.1 200"), "{err}");
    assert!(
        err.to_ascii_lowercase()
            .contains(&format!("< content-length: {}", TEXT.len())),
        "{err}"
    );
    assert!(err.to_ascii_lowercase().contains("< etag: \""), "{err}");
}

#[test]
fn curl_range() {
    let s = site();
    let srv = s.start();
    let o = curl(&["-r", "0-7", &srv.url("/notes.txt")]);
    ok(&o);
    assert_eq!(o.stdout, b"firmware");
    let o = curl(&["-r", "-1000", &srv.url("/fw.bin")]);
    ok(&o);
    assert_eq!(o.stdout, &pattern(100_000, 3)[99_000..]);
}

#[test]
fn curl_head() {
    let s = site();
    let srv = s.start();
    let o = curl(&["-I", &srv.url("/notes.txt")]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
    assert!(out.starts_with("http/1.1 200"), "{out}");
    assert!(
        out.contains(&format!("content-length: {}", TEXT.len())),
        "{out}"
    );
    assert!(out.contains("accept-ranges: bytes"), "{out}");
    assert!(out.contains("last-modified: "), "{out}");
}

#[test]
fn curl_compressed() {
    let s = site();
    let srv = s.start();
    let o = curl(&["--compressed", "-D", "-", &srv.url("/app.js")]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    let (head, body) = out.split_once("\r\n\r\n").expect("headers then body");
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    assert_eq!(body, "let x = 'curl compressed test';\n".repeat(20));
}

#[test]
fn curl_reuses_connection_and_follows_redirect() {
    let s = site();
    let srv = s.start();
    let o = curl(&["-v", "-L", &srv.url("/notes.txt"), &srv.url("/dir")]);
    ok(&o);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out, format!("{TEXT}dir"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Re-using existing connection") || err.contains("Reusing existing"),
        "curl did not reuse the keep-alive connection:\n{err}"
    );
    assert!(err.contains("< HTTP/1.1 301"), "{err}");
}

#[test]
fn curl_http10_and_conditional() {
    let s = site();
    s.dir.set_mtime("www/notes.txt", utc(2020, 5, 5, 5, 5, 5));
    let srv = s.start();
    let o = curl(&["--http1.0", &srv.url("/notes.txt")]);
    ok(&o);
    assert_eq!(o.stdout, TEXT.as_bytes());
    let o = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        &format!("If-Modified-Since: {}", http_date(utc(2021, 1, 1, 0, 0, 0))),
        &srv.url("/notes.txt"),
    ]);
    ok(&o);
    assert_eq!(o.stdout, b"304");
}

#[test]
fn curl_fail_on_404() {
    let s = site();
    let srv = s.start();
    let o = curl(&["-o", "/dev/null", "-w", "%{http_code}", &srv.url("/nope")]);
    ok(&o);
    assert_eq!(o.stdout, b"404");
}
