//! Malformed and oversized requests: 400, 413, 414, 431, 501. After each of
//! these the server must close the connection (framing is in doubt).

use blackbox::*;

fn site() -> Site {
    let s = Site::new();
    s.file("index.html", "home").file("a.txt", "AAAA");
    s
}

/// Send `raw`, expect a `status` response and then a closed connection.
fn fatal(srv: &Server, raw: &[u8], status: u16) -> Result<Response, String> {
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned();
    let mut c = srv.connect();
    let _ = c.try_send(raw);
    let r = c
        .try_read_response(false)
        .map_err(|e| format!("request {shown:?}: expected {status}, but {}", describe(&e)))?;
    if r.status != status {
        return Err(format!("request {shown:?}: expected {status}, got:\n{r:?}"));
    }
    match c.closed_within(scaled(3.0)) {
        Ok(true) => Ok(r),
        Ok(false) => Err(format!(
            "request {shown:?}: got {status} but the connection was not closed"
        )),
        Err(d) => Err(format!(
            "request {shown:?}: got {status}, then unexpected data {:?}",
            String::from_utf8_lossy(&d)
        )),
    }
}

#[track_caller]
fn expect_fatal(srv: &Server, raw: impl AsRef<[u8]>, status: u16) -> Response {
    fatal(srv, raw.as_ref(), status).unwrap_or_else(|e| panic!("{e}"))
}

/// Check every case (each on its own connection); report all failures.
#[track_caller]
fn expect_all_fatal<R: AsRef<[u8]>>(srv: &Server, cases: &[(R, u16)]) {
    let mut f = Failures::new();
    for (raw, status) in cases {
        f.check(fatal(srv, raw.as_ref(), *status));
    }
    f.finish();
}

/// The server is still healthy for new connections.
#[track_caller]
fn still_serving(srv: &Server) {
    srv.get("/a.txt").assert_body(200, "AAAA");
}

// ---------------------------------------------------------------------------
// 400
// ---------------------------------------------------------------------------

#[test]
fn bad_request_lines_are_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            ("GARBAGE\r\n\r\n", 400),
            ("GET\r\n\r\n", 400),
            ("GET /a.txt\r\nHost: x\r\n\r\n", 400),
            ("GET a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /a b.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            (" GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /a.txt HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        ],
    );
    still_serving(&srv);
}

#[test]
fn header_line_without_colon_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            ("GET /a.txt HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n", 400),
            ("GET /a.txt HTTP/1.1\r\nHost: x\r\n: novalue\r\n\r\n", 400),
        ],
    );
}

#[test]
fn bare_cr_in_header_is_400() {
    let s = site();
    let srv = s.start();
    expect_fatal(
        &srv,
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
        400,
    );
}

#[test]
fn nul_in_header_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            ("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400),
            ("GET /a\0.txt HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ],
    );
}

#[test]
fn obs_fold_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            (
                "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: first\r\n  folded\r\n\r\n",
                400,
            ),
            (
                "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A: first\r\n\tfolded\r\n\r\n",
                400,
            ),
        ],
    );
}

#[test]
fn whitespace_before_colon_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            ("GET /a.txt HTTP/1.1\r\nHost : x\r\n\r\n", 400),
            ("GET /a.txt HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n", 400),
        ],
    );
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            (
                "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                400,
            ),
            (
                "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n",
                400,
            ),
        ],
    );
}

#[test]
fn differing_duplicate_content_length_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            (
                "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                400,
            ),
            (
                "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!",
                400,
            ),
        ],
    );
}

#[test]
fn non_numeric_content_length_is_400() {
    let s = site();
    let srv = s.start();
    let cases: Vec<(String, u16)> = ["abc", "-1", "+5", "1.5", "0x10", "5 5", ""]
        .iter()
        .map(|v| {
            (
                format!("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {v}\r\n\r\n"),
                400,
            )
        })
        .collect();
    expect_all_fatal(&srv, &cases);
    still_serving(&srv);
}

#[test]
fn bad_chunk_size_is_400() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            (
                "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
                400,
            ),
            (
                "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
                400,
            ),
        ],
    );
}

#[test]
fn bad_percent_escapes_are_400() {
    let s = site();
    let srv = s.start();
    let cases: Vec<(String, u16)> = ["/%zz", "/a%4", "/a.txt%", "/%g1.txt"]
        .iter()
        .map(|p| (req("GET", p, &[]), 400))
        .collect();
    expect_all_fatal(&srv, &cases);
}

#[test]
fn invalid_utf8_in_path_is_400() {
    let s = site();
    let srv = s.start();
    let cases: Vec<(String, u16)> = ["/%ff.txt", "/%c3.txt", "/%80abc", "/%ed%a0%80.txt"]
        .iter()
        .map(|p| (req("GET", p, &[]), 400))
        .collect();
    expect_all_fatal(&srv, &cases);
}

// ---------------------------------------------------------------------------
// 413 / 414 / 431
// ---------------------------------------------------------------------------

#[test]
fn body_over_max_body_size_is_413() {
    let s = site();
    let srv = s.start_with_config("[server]\nmax_body_size = \"1K\"\n");
    // Only the head is sent: the declared length alone is enough to refuse.
    expect_fatal(
        &srv,
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n",
        413,
    );
    still_serving(&srv);
}

#[test]
fn chunked_body_over_max_body_size_is_413() {
    let s = site();
    let srv = s.start_with_config("[server]\nmax_body_size = 1024\n");
    let mut raw =
        String::from("POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..3 {
        raw += &format!("400\r\n{}\r\n", "x".repeat(1024));
    }
    raw += "0\r\n\r\n";
    expect_fatal(&srv, raw, 413);
}

#[test]
fn body_within_max_body_size_is_not_413() {
    let s = site();
    let srv = s.start_with_config("[server]\nmax_body_size = \"1K\"\n");
    let mut c = srv.connect();
    c.send(format!(
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{}",
        "y".repeat(1000)
    ));
    c.read_response().assert_status(405);
}

#[test]
fn very_long_uri_is_414() {
    let s = site();
    let srv = s.start();
    let path = format!("/{}", "a".repeat(8000));
    expect_fatal(&srv, req("GET", &path, &[]), 414);
    still_serving(&srv);
}

#[test]
fn uri_just_over_buffer_size_is_414() {
    let s = site();
    let srv = s.start_with_config("[server]\nbuffer_size = 4096\n");
    let path = format!("/{}", "b".repeat(4200));
    expect_fatal(&srv, req("GET", &path, &[]), 414);
}

#[test]
fn huge_header_is_431() {
    let s = site();
    let srv = s.start();
    let v = "v".repeat(8000);
    expect_fatal(&srv, req("GET", "/a.txt", &[("X-Huge", &v)]), 431);
    still_serving(&srv);
}

#[test]
fn many_headers_total_over_buffer_is_431() {
    let s = site();
    let srv = s.start();
    let vals: Vec<(String, String)> = (0..40)
        .map(|i| (format!("X-Big-{i}"), "z".repeat(150)))
        .collect();
    let hs: Vec<(&str, &str)> = vals.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    expect_fatal(&srv, req("GET", "/a.txt", &hs), 431);
}

#[test]
fn more_than_64_headers_is_431() {
    let s = site();
    let srv = s.start();
    let vals: Vec<(String, String)> = (0..70).map(|i| (format!("X-H{i}"), "1".into())).collect();
    let hs: Vec<(&str, &str)> = vals.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    expect_fatal(&srv, req("GET", "/a.txt", &hs), 431);
}

#[test]
fn exactly_64_headers_is_fine() {
    let s = site();
    let srv = s.start();
    // Host + 63 others = 64 header fields.
    let vals: Vec<(String, String)> = (0..63).map(|i| (format!("X-H{i}"), "1".into())).collect();
    let hs: Vec<(&str, &str)> = vals.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    srv.request(&req("GET", "/a.txt", &hs))
        .assert_body(200, "AAAA");
}

#[test]
fn large_but_fitting_header_is_fine() {
    let s = site();
    let srv = s.start();
    let v = "c".repeat(3000);
    srv.request(&req("GET", "/a.txt", &[("Cookie", &v)]))
        .assert_body(200, "AAAA");
}

// ---------------------------------------------------------------------------
// 501
// ---------------------------------------------------------------------------

#[test]
fn transfer_encoding_gzip_is_501() {
    let s = site();
    let srv = s.start();
    expect_all_fatal(
        &srv,
        &[
            ("POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (
                "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                501,
            ),
        ],
    );
    still_serving(&srv);
}

#[test]
fn error_responses_are_well_framed() {
    // Every fatal error response carries a correct Content-Length (or is
    // delimited by the close) and says Connection: close.
    let s = site();
    let srv = s.start();
    for (raw, st) in [
        ("GARBAGE\r\n\r\n".to_string(), 400),
        (req("FOO", "/", &[]), 501),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_string(), 505),
        (req("GET", &format!("/{}", "q".repeat(6000)), &[]), 414),
    ] {
        let r = expect_fatal(&srv, raw, st);
        if let Some(cl) = r.content_length() {
            assert_eq!(cl, r.body.len() as u64);
        }
        assert!(
            r.connection_has("close"),
            "fatal {st} should announce Connection: close\n{r:?}"
        );
    }
}

#[test]
fn chunked_framing_errors_are_400() {
    let s = site();
    let srv = s.start();
    let pre = "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases: Vec<(String, u16)> = [
        // Data not followed by CRLF.
        "5\r\nhelloXX0\r\n\r\n",
        // Bare LF line ending.
        "5\nhello\r\n0\r\n\r\n",
        // Size overflow (more than 64 bits).
        "fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
        // Junk after the size.
        "5 x\r\nhello\r\n0\r\n\r\n",
        // Empty size line.
        "\r\nhello\r\n0\r\n\r\n",
    ]
    .iter()
    .map(|b| (format!("{pre}{b}"), 400))
    .collect();
    expect_all_fatal(&srv, &cases);
    still_serving(&srv);
}

#[test]
fn valid_chunked_body_keeps_connection_in_sync() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send(format!(
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         000A\r\n0123456789\r\nb;name=\"quoted val\"\r\nhello world\r\n0\r\n\r\n{}",
        req("GET", "/a.txt", &[])
    ));
    c.read_response().assert_status(405);
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_body(200, "AAAA");
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("after a chunked POST: {}", describe(&e)),
    }
}

#[test]
fn huge_content_length_is_refused_cleanly() {
    // Larger than max_body_size (413) or not representable (400): either
    // way refused and closed, and the server survives.
    let s = site();
    let srv = s.start();
    for cl in [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let mut c = srv.connect();
        let _ = c.try_send(format!(
            "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {cl}\r\n\r\n"
        ));
        let r = c.read_response();
        assert!(
            r.status == 400 || r.status == 413,
            "Content-Length {cl}: {r:?}"
        );
        c.expect_closed();
    }
    expect_fatal(
        &srv,
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000000\r\n\r\n",
        413,
    );
    still_serving(&srv);
}

/// A GET for /a.txt whose head is exactly `total` bytes long.
fn head_of_size(total: usize) -> String {
    let base = "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n".len();
    assert!(total > base);
    format!(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(total - base)
    )
}

#[test]
fn head_of_exactly_buffer_size_is_accepted() {
    let s = site();
    let srv = s.start();
    let raw = head_of_size(4096);
    assert_eq!(raw.len(), 4096);
    srv.request(&raw).assert_body(200, "AAAA");
    expect_fatal(&srv, head_of_size(4110), 431);
}

#[test]
fn pipelined_heads_larger_than_buffer_in_total() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let one = head_of_size(3000);
    c.send(one.repeat(6));
    for _ in 0..6 {
        c.read_response().assert_body(200, "AAAA");
    }
}

#[test]
fn large_post_body_then_pipelined_get() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let body = "b".repeat(100_000);
    let _ = c.try_send(format!(
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}{}",
        body.len(),
        req("GET", "/a.txt", &[])
    ));
    c.read_response().assert_status(405);
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_body(200, "AAAA");
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("after a large POST: {}", describe(&e)),
    }
}
