//! HTTP/1.x protocol behaviour: methods, versions, persistent connections,
//! pipelining, request targets, Host, Expect.

use blackbox::*;
use std::time::Duration;

fn site() -> Site {
    let s = Site::new();
    s.file("index.html", "home")
        .file("a.txt", "AAAA")
        .file("b.txt", "BBBBBB")
        .file("c.txt", "CC")
        .file("dir/index.html", "dir index");
    s
}

// ---------------------------------------------------------------------------
// Methods
// ---------------------------------------------------------------------------

#[test]
fn get_and_head() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    let h = c.request(&req("HEAD", "/b.txt", &[]));
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(6));
    c.request(&req("GET", "/c.txt", &[])).assert_body(200, "CC");
}

fn allow_set(r: &Response) -> Vec<String> {
    let mut v: Vec<String> = r
        .must_header("allow")
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn known_methods_get_405_with_allow() {
    let s = site();
    let srv = s.start();
    for m in ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH"] {
        let mut c = srv.connect();
        let r = c.request(&req(m, "/a.txt", &[]));
        r.assert_status(405);
        assert_eq!(r.must_header("allow"), "GET, HEAD", "{m}: {r:?}");
        assert_eq!(allow_set(&r), ["GET", "HEAD"]);
        // Not a fatal error: the connection stays usable.
        c.request(&req("GET", "/a.txt", &[]))
            .assert_body(200, "AAAA");
    }
}

#[test]
fn method_405_on_directory_and_missing_path() {
    let s = site();
    let srv = s.start();
    let r = srv.request(&req("POST", "/", &[("Content-Length", "0")]));
    r.assert_status(405);
    assert_eq!(allow_set(&r), ["GET", "HEAD"]);
    let r = srv.request(&req("PUT", "/dir/", &[("Content-Length", "0")]));
    r.assert_status(405);
}

#[test]
fn connect_method_is_refused() {
    let s = site();
    let srv = s.start();
    let r = srv.request(&req("CONNECT", "/", &[]));
    assert!(
        r.status == 405 || r.status == 400,
        "CONNECT on a static server: expected 405 (or 400 for the target form), got {r:?}"
    );
}

#[test]
fn post_with_body_then_get_on_same_connection() {
    // The 405 for a POST with a body must not desynchronise the
    // connection: either the body is consumed and the next request is
    // answered, or the connection is closed.
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    // The body looks like a request line: it must never be parsed as one.
    let body = "GET /b.txt HTTP/1.1\r\n";
    c.send(format!(
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}{}",
        body.len(),
        req("GET", "/c.txt", &[])
    ));
    let r = c.read_response();
    r.assert_status(405);
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_body(200, "CC");
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("after 405: {}", describe(&e)),
    }
}

#[test]
fn get_with_body_is_consumed() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    c.read_response().assert_body(200, "AAAA");
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_body(200, "BBBBBB");
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("second response: {}", describe(&e)),
    }
}

#[test]
fn unknown_method_is_501_and_closes() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request(&req("FOO", "/a.txt", &[]));
    r.assert_status(501);
    c.expect_closed();
    let mut c = srv.connect();
    c.request(&req("BREW", "/", &[])).assert_status(501);
    c.expect_closed();
}

// ---------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------

#[test]
fn http_2_0_is_505_and_closes() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/2.0\r\nHost: x\r\n\r\n");
    r.assert_status(505);
    c.expect_closed();
}

#[test]
fn http_3_0_is_505_and_closes() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/3.0\r\nHost: x\r\n\r\n");
    r.assert_status(505);
    c.expect_closed();
}

#[test]
fn malformed_version_is_400() {
    let s = site();
    let srv = s.start();
    for v in ["HTTP/1", "HTTX/1.1", "http/1.1", "HTTP/1.1.1"] {
        let mut c = srv.connect();
        let r = c.request(&format!("GET /a.txt {v}\r\nHost: x\r\n\r\n"));
        assert!(
            r.status == 400 || r.status == 505,
            "version {v:?}: expected 400 (or 505), got {r:?}"
        );
        c.expect_closed();
    }
}

// ---------------------------------------------------------------------------
// Persistent connections
// ---------------------------------------------------------------------------

#[test]
fn http11_keeps_alive_by_default() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r1 = c.request(&req("GET", "/a.txt", &[]));
    r1.assert_body(200, "AAAA");
    assert!(!r1.connection_has("close"), "{r1:?}");
    let r2 = c.request(&req("GET", "/b.txt", &[]));
    r2.assert_body(200, "BBBBBB");
    assert!(!r2.connection_has("close"), "{r2:?}");
    // Still open: nothing arrives, no close.
    assert_eq!(c.closed_within(Duration::from_millis(300)), Ok(false));
    c.request(&req("GET", "/c.txt", &[])).assert_body(200, "CC");
}

#[test]
fn many_requests_on_one_connection() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    for i in 0..50 {
        let p = ["/a.txt", "/b.txt", "/c.txt"][i % 3];
        let r = c.request(&req("GET", p, &[]));
        r.assert_status(200);
    }
}

#[test]
fn connection_close_is_honoured() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request(&req("GET", "/a.txt", &[("Connection", "close")]));
    r.assert_body(200, "AAAA");
    assert!(
        r.connection_has("close"),
        "response must carry Connection: close\n{r:?}"
    );
    c.expect_closed();
}

#[test]
fn connection_close_case_insensitive() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/1.1\r\nhost: x\r\nconnection: CLOSE\r\n\r\n");
    r.assert_body(200, "AAAA");
    assert!(r.connection_has("close"), "{r:?}");
    c.expect_closed();
}

#[test]
fn connection_close_on_error_response() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request(&req("GET", "/missing", &[("Connection", "close")]));
    r.assert_status(404);
    assert!(r.connection_has("close"), "{r:?}");
    c.expect_closed();
}

#[test]
fn http10_closes_by_default() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send("GET /a.txt HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    r.assert_status(200);
    assert_eq!(r.body, b"AAAA");
    c.expect_closed();
}

#[test]
fn http10_with_host_closes_by_default() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send("GET /b.txt HTTP/1.0\r\nHost: x\r\n\r\n");
    c.read_response().assert_status(200);
    c.expect_closed();
}

#[test]
fn http10_keep_alive() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    r.assert_body(200, "AAAA");
    assert!(
        r.connection_has("keep-alive"),
        "HTTP/1.0 keep-alive response must carry Connection: keep-alive\n{r:?}"
    );
    let r = c.request("GET /b.txt HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    r.assert_body(200, "BBBBBB");
    assert!(r.connection_has("keep-alive"), "{r:?}");
    // A 1.0 request without keep-alive ends it.
    c.request("GET /c.txt HTTP/1.0\r\n\r\n")
        .assert_body(200, "CC");
    c.expect_closed();
}

#[test]
fn http10_head_keep_alive() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("HEAD /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    r.assert_status(200);
    assert_eq!(r.content_length(), Some(4));
    c.request("GET /a.txt HTTP/1.0\r\n\r\n")
        .assert_body(200, "AAAA");
    c.expect_closed();
}

#[test]
fn max_keepalive_requests_limits_connection() {
    let s = site();
    let srv = s.start_with_config("[server]\nmax_keepalive_requests = 2\n");
    let mut c = srv.connect();
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    let r = c.request(&req("GET", "/b.txt", &[]));
    r.assert_body(200, "BBBBBB");
    assert!(
        r.connection_has("close"),
        "last allowed request should say Connection: close\n{r:?}"
    );
    c.expect_closed();
}

// ---------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------

#[test]
fn pipelined_requests_answered_in_order() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let mut batch = String::new();
    batch += &req("GET", "/a.txt", &[]);
    batch += &req("HEAD", "/b.txt", &[]);
    batch += &req("GET", "/missing.txt", &[]);
    batch += &req("GET", "/b.txt", &[]);
    batch += &req("GET", "/dir/", &[]);
    batch += &req("GET", "/c.txt", &[("Connection", "close")]);
    c.send(batch);
    c.read_response().assert_body(200, "AAAA");
    let h = c.read_head_response();
    h.assert_status(200);
    assert_eq!(h.content_length(), Some(6));
    c.read_response().assert_status(404);
    c.read_response().assert_body(200, "BBBBBB");
    c.read_response().assert_body(200, "dir index");
    let last = c.read_response();
    last.assert_body(200, "CC");
    assert!(last.connection_has("close"));
    c.expect_closed();
}

#[test]
fn pipelined_requests_split_across_writes() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let all = format!(
        "{}{}{}",
        req("GET", "/a.txt", &[]),
        req("GET", "/b.txt", &[]),
        req("GET", "/c.txt", &[])
    );
    let bytes = all.as_bytes();
    // Odd split points, mid-line.
    c.send(&bytes[..7]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&bytes[7..45]);
    std::thread::sleep(Duration::from_millis(50));
    c.send(&bytes[45..]);
    c.read_response().assert_body(200, "AAAA");
    c.read_response().assert_body(200, "BBBBBB");
    c.read_response().assert_body(200, "CC");
}

#[test]
fn pipelined_large_batch() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let mut batch = String::new();
    for i in 0..40 {
        let p = ["/a.txt", "/b.txt", "/c.txt", "/nope"][i % 4];
        batch += &req("GET", p, &[]);
    }
    c.send(batch);
    for i in 0..40 {
        let r = c.read_response();
        match i % 4 {
            0 => r.assert_body(200, "AAAA"),
            1 => r.assert_body(200, "BBBBBB"),
            2 => r.assert_body(200, "CC"),
            _ => r.assert_status(404),
        };
    }
}

// ---------------------------------------------------------------------------
// Request target & Host
// ---------------------------------------------------------------------------

#[test]
fn absolute_form_target() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET http://example.com/a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n");
    r.assert_body(200, "AAAA");
    let r = c.request(&format!(
        "GET http://{}/b.txt?x=1 HTTP/1.1\r\nHost: {}\r\n\r\n",
        srv.addr(),
        srv.addr()
    ));
    r.assert_body(200, "BBBBBB");
}

#[test]
fn absolute_form_host_selects_vhost() {
    let s = site();
    s.dir.write("vh/a.txt", "VHOST-A");
    let cfg = format!(
        "[[vhost]]\nnames = [\"fw.example\"]\nroot = \"{}\"\n",
        path_str(&s.dir.join("vh"))
    );
    let srv = s.start_with_config(&cfg);
    let mut c = srv.connect();
    // Host from the URI wins over the Host header.
    let r = c.request("GET http://fw.example/a.txt HTTP/1.1\r\nHost: other.example\r\n\r\n");
    r.assert_body(200, "VHOST-A");
    let r = c.request("GET http://other.example/a.txt HTTP/1.1\r\nHost: fw.example\r\n\r\n");
    r.assert_body(200, "AAAA");
}

#[test]
fn missing_host_on_http11_is_400_and_closes() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/1.1\r\nAccept: */*\r\n\r\n");
    r.assert_status(400);
    c.expect_closed();
}

#[test]
fn duplicate_host_is_400_and_closes() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n");
    r.assert_status(400);
    c.expect_closed();
    // Even when both values are identical.
    let mut c = srv.connect();
    let r = c.request("GET /a.txt HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n");
    r.assert_status(400);
    c.expect_closed();
}

#[test]
fn lowercase_header_names_accepted() {
    let s = site();
    let srv = s.start();
    let r = srv.request("GET /a.txt HTTP/1.1\r\nhost: x\r\nuser-agent: t\r\n\r\n");
    r.assert_body(200, "AAAA");
}

// ---------------------------------------------------------------------------
// Expect
// ---------------------------------------------------------------------------

#[test]
fn expect_100_continue_on_static_post() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send("POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n");
    let first = c.read_response();
    let fin = if first.status == 100 {
        // The server asked for the body: send it; the final answer follows.
        c.send("0123456789");
        c.read_response()
    } else {
        first
    };
    fin.assert_status(405);
    assert_eq!(allow_set(&fin), ["GET", "HEAD"]);
    // Afterwards: closed, or the body is consumed and the connection works.
    if c.try_send("0123456789").is_err() {
        return;
    }
    let _ = c.try_send(req("GET", "/a.txt", &[]));
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_body(200, "AAAA");
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("after 405: {}", describe(&e)),
    }
}

#[test]
fn expect_100_continue_interim_line_format() {
    // If a 100 is sent, it must be exactly "HTTP/1.1 100 Continue".
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send("PUT /new.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    let r = c.read_response();
    if r.status == 100 {
        assert!(
            r.raw_head.starts_with("HTTP/1.1 100 Continue"),
            "interim line: {:?}",
            r.raw_head
        );
        c.send("abc");
        c.read_response().assert_status(405);
    } else {
        r.assert_status(405);
    }
}

#[test]
fn unknown_expect_is_417() {
    let s = site();
    let srv = s.start();
    let r = srv.request(&req("GET", "/a.txt", &[("Expect", "teapot-mode")]));
    r.assert_status(417);
}

#[test]
fn response_version_is_http1x() {
    let s = site();
    let srv = s.start();
    let r = srv.get("/a.txt");
    assert_eq!(r.version, "HTTP/1.1", "{r:?}");
}

#[test]
fn chunked_request_body_is_consumed() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send(format!(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
         5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n{}",
        req("GET", "/b.txt", &[])
    ));
    c.read_response().assert_body(200, "AAAA");
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_body(200, "BBBBBB");
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("after a chunked body: {}", describe(&e)),
    }
}

#[test]
fn expect_100_continue_with_oversized_body_is_413() {
    let s = site();
    let srv = s.start_with_config("[server]\nmax_body_size = \"1K\"\n");
    let mut c = srv.connect();
    c.send(
        "POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n",
    );
    let r = c.read_final_response();
    r.assert_status(413);
    c.expect_closed();
}

#[test]
fn header_timeout_applies_to_second_request() {
    let s = site();
    let srv = s.start_with_config("[server]\nheader_timeout = \"500ms\"\n");
    let mut c = srv.connect();
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    c.send("GET /b.txt HTTP/1.1\r\nHost: x\r\n");
    c.set_timeout(scaled(3.0));
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_status(408);
            c.expect_closed();
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("expected 408 or close: {}", describe(&e)),
    }
}

#[test]
fn many_simultaneous_connections() {
    let s = site();
    let srv = s.start();
    let mut conns: Vec<Conn> = (0..200).map(|_| srv.connect()).collect();
    for c in conns.iter_mut() {
        c.send(req("GET", "/a.txt", &[]));
    }
    for c in conns.iter_mut() {
        c.read_response().assert_body(200, "AAAA");
    }
}

#[test]
fn default_max_keepalive_requests_is_1000() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let one = req("GET", "/c.txt", &[]);
    c.send(one.repeat(1001));
    for i in 1..=1000 {
        let r = c.read_response();
        r.assert_body(200, "CC");
        if i == 1000 {
            assert!(r.connection_has("close"), "1000th response: {r:?}");
        } else {
            assert!(!r.connection_has("close"), "response {i}: {r:?}");
        }
    }
    c.expect_closed();
}

#[test]
fn max_keepalive_requests_zero_is_unlimited() {
    let s = site();
    let srv = s.start_with_config("[server]\nmax_keepalive_requests = 0\n");
    let mut c = srv.connect();
    let one = req("GET", "/c.txt", &[]);
    c.send(one.repeat(1100));
    for _ in 0..1100 {
        c.read_response().assert_body(200, "CC");
    }
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
}

#[test]
fn requests_after_connection_close_are_not_answered() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send(format!(
        "{}{}",
        req("GET", "/a.txt", &[("Connection", "close")]),
        req("GET", "/b.txt", &[])
    ));
    let r = c.read_response();
    r.assert_body(200, "AAAA");
    assert!(r.connection_has("close"));
    c.expect_closed();
}

#[test]
fn method_names_are_case_sensitive() {
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    let r = c.request(&req("get", "/a.txt", &[]));
    r.assert_status(501);
    c.expect_closed();
}

#[test]
fn half_closed_client_still_gets_response() {
    // A client may send its request and shut down its sending side
    // (e.g. `nc -N`); the response must still arrive.
    let s = site();
    let srv = s.start();
    let mut c = srv.connect();
    c.send(req("GET", "/a.txt", &[]));
    c.shutdown_write();
    c.read_response().assert_body(200, "AAAA");
}
