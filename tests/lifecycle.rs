//! Connection lifecycle: timeouts, connection limits (503), concurrency,
//! signals and graceful shutdown.

use blackbox::*;
use std::io::{Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

fn site() -> Site {
    let s = Site::new();
    s.file("a.txt", "AAAA").file("index.html", "home");
    s
}

const BIG_LEN: u64 = 50 * 1024 * 1024;
const BIG_TAIL: &[u8] = b"END-OF-FIRMWARE-IMAGE";

/// A 50 MiB sparse file (zeros) ending with BIG_TAIL.
fn add_big_file(s: &Site) {
    let p = s.root().join("big.bin");
    let mut f = std::fs::File::create(&p).unwrap();
    f.set_len(BIG_LEN).unwrap();
    f.seek(SeekFrom::Start(BIG_LEN - BIG_TAIL.len() as u64))
        .unwrap();
    f.write_all(BIG_TAIL).unwrap();
}

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

/// Wait for a 408 (then close) or a plain close; returns the elapsed time.
#[track_caller]
fn expect_408_or_close(c: &mut Conn, within: Duration) -> Duration {
    let start = Instant::now();
    c.set_timeout(within);
    match c.try_read_response(false) {
        Ok(r) => {
            r.assert_status(408);
            c.expect_closed();
        }
        Err(ReadError::Closed) => {}
        Err(e) => panic!("expected 408 or close: {}", describe(&e)),
    }
    start.elapsed()
}

#[test]
fn header_timeout_partial_request() {
    let s = site();
    let srv = s.start_with_config("[server]\nheader_timeout = \"500ms\"\n");
    let mut c = srv.connect();
    let t0 = Instant::now();
    c.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n");
    expect_408_or_close(&mut c, scaled(2.5));
    let el = t0.elapsed();
    assert!(
        el >= Duration::from_millis(350),
        "closed too early ({el:?}) for a 500ms header timeout"
    );
    // Other clients are unaffected.
    srv.get("/a.txt").assert_body(200, "AAAA");
}

#[test]
fn header_timeout_counts_whole_head_slowloris() {
    let s = site();
    let srv = s.start_with_config("[server]\nheader_timeout = \"1s\"\n");
    let mut c = srv.connect();
    let head = format!(
        "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n",
        "s".repeat(100)
    );
    let t0 = Instant::now();
    let limit = scaled(4.0);
    let mut ended = false;
    for b in head.as_bytes() {
        if c.try_send([*b]).is_err() {
            ended = true;
            break;
        }
        match c.closed_within(Duration::from_millis(100)) {
            Ok(true) => {
                ended = true;
                break;
            }
            Ok(false) => {}
            Err(data) => {
                let text = String::from_utf8_lossy(&data);
                assert!(
                    text.starts_with("HTTP/1.1 408"),
                    "slowloris got an unexpected answer: {text:?}"
                );
                ended = true;
                break;
            }
        }
        if t0.elapsed() > limit {
            break;
        }
    }
    assert!(
        ended,
        "a client trickling one byte per 100ms was still connected after {:?} \
         (header_timeout = 1s must cover the whole head)",
        t0.elapsed()
    );
    assert!(t0.elapsed() >= Duration::from_millis(800));
}

#[test]
fn keepalive_timeout_closes_idle_connection() {
    let s = site();
    let srv = s.start_with_config("[server]\nkeepalive_timeout = \"300ms\"\n");
    let mut c = srv.connect();
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    let t0 = Instant::now();
    match c.closed_within(scaled(2.0)) {
        Ok(true) => {}
        Ok(false) => panic!(
            "idle keep-alive connection still open after {:?}",
            t0.elapsed()
        ),
        Err(d) => panic!(
            "idle keep-alive connection must just be closed, got data: {:?}",
            String::from_utf8_lossy(&d)
        ),
    }
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "{:?}",
        t0.elapsed()
    );
}

#[test]
fn keepalive_timer_restarts_per_request() {
    let s = site();
    let srv = s.start_with_config("[server]\nkeepalive_timeout = \"1s\"\n");
    let mut c = srv.connect();
    for _ in 0..5 {
        c.request(&req("GET", "/a.txt", &[]))
            .assert_body(200, "AAAA");
        thread::sleep(Duration::from_millis(400));
    }
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
}

#[test]
fn silent_connection_is_closed_eventually() {
    let s = site();
    let srv = s
        .start_with_config("[server]\nheader_timeout = \"500ms\"\nkeepalive_timeout = \"300ms\"\n");
    let mut c = srv.connect();
    expect_408_or_close(&mut c, scaled(3.0));
}

#[test]
fn send_timeout_closes_stalled_download() {
    let s = site();
    add_big_file(&s);
    let srv = s.start_with_config("[server]\nsend_timeout = \"1s\"\n");
    let mut c = srv.connect();
    c.send(req("GET", "/big.bin", &[]));
    // Do not read: the server's writes stall.
    thread::sleep(scaled(3.0));
    let r = c.read_head_only();
    r.assert_status(200);
    let got = c.stream_body(BIG_LEN, scaled(5.0), |_| {});
    assert!(
        got < BIG_LEN,
        "the stalled download should have been cut by send_timeout"
    );
    assert!(c.closed_within(Duration::from_millis(500)).unwrap_or(true));
}

// ---------------------------------------------------------------------------
// Connection limits
// ---------------------------------------------------------------------------

#[test]
fn connection_limit_gives_503_with_retry_after() {
    let s = site();
    let srv = s.start_with_config("[server]\nworkers = 1\nmax_connections = 2\n");
    // Slot 1: a connection that sends nothing.
    let mut c1 = srv.connect();
    // Slot 2: a partial request.
    let mut c2 = srv.connect();
    c2.send("GET /a.txt HTTP/1.1\r\n");
    thread::sleep(scaled(0.3));
    // Third: refused with 503 + Retry-After, then closed.
    let mut c3 = srv.connect();
    let r = match c3.try_read_response(false) {
        Ok(r) => r,
        Err(e) => panic!("third connection: expected a 503, but {}", describe(&e)),
    };
    r.assert_status(503);
    assert_eq!(r.must_header("retry-after"), "1", "{r:?}");
    c3.expect_closed();
    // The held connections still work.
    c2.send("Host: x\r\n\r\n");
    c2.read_response().assert_body(200, "AAAA");
    c1.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    // Free the slots: a new client is served again.
    drop(c1);
    drop(c2);
    let ok = wait_for(scaled(3.0), || {
        let mut c = srv.connect();
        let _ = c.try_send(req("GET", "/a.txt", &[]));
        match c.try_read_response(false) {
            Ok(r) if r.status == 200 => Some(r),
            _ => None,
        }
    });
    let r = ok.expect("after closing the held connections a new one must be served");
    r.assert_body(200, "AAAA");
}

#[test]
fn command_line_limits_apply() {
    let s = site();
    let srv = s.start_args(&["--workers", "1", "--max-connections", "1"]);
    let mut c1 = srv.connect();
    c1.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    let mut c2 = srv.connect();
    match c2.try_read_response(false) {
        Ok(r) => {
            r.assert_status(503);
        }
        Err(e) => panic!(
            "second connection with --max-connections 1: {}",
            describe(&e)
        ),
    }
    c2.expect_closed();
}

// ---------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------

#[test]
fn concurrent_clients() {
    let s = site();
    let data = pattern(200_000, 5);
    s.file("d.bin", &data);
    let srv = s.start_with_config("[server]\nworkers = 2\n");
    let addr = srv.addr();
    let handles: Vec<_> = (0..16)
        .map(|_| {
            let data = data.clone();
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for _ in 0..5 {
                    c.request(&req("GET", "/d.bin", &[]))
                        .assert_body(200, &data);
                    c.request(&req("GET", "/a.txt", &[]))
                        .assert_body(200, "AAAA");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("client thread");
    }
}

#[test]
fn slow_client_does_not_block_single_worker() {
    let s = site();
    add_big_file(&s);
    let srv = s.start_with_config("[server]\nworkers = 1\n");
    // One client with a partial head, one stalled download.
    let mut slow = srv.connect();
    slow.send("GET /a.txt HTTP/1.1\r\nHo");
    let mut stalled = srv.connect();
    stalled.send(req("GET", "/big.bin", &[]));
    thread::sleep(Duration::from_millis(200));
    let t0 = Instant::now();
    let mut c = srv.connect();
    c.set_timeout(scaled(2.0));
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    assert!(t0.elapsed() < scaled(2.0));
}

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

#[test]
fn sigterm_idle_server_exits_zero() {
    let s = site();
    let mut srv = s.start();
    srv.get("/a.txt").assert_body(200, "AAAA");
    srv.signal("TERM");
    let st = srv
        .wait_exit(scaled(7.0))
        .expect("server did not exit after SIGTERM");
    assert_eq!(st.code(), Some(0), "exit status after SIGTERM: {st:?}");
}

#[test]
fn sigint_idle_server_exits_zero() {
    let s = site();
    let mut srv = s.start();
    srv.signal("INT");
    let st = srv
        .wait_exit(scaled(7.0))
        .expect("server did not exit after SIGINT");
    assert_eq!(st.code(), Some(0), "exit status after SIGINT: {st:?}");
}

#[test]
fn sigterm_closes_idle_keepalive_connection() {
    let s = site();
    let mut srv = s.start_with_config("[server]\nshutdown_grace = \"2s\"\n");
    let mut c = srv.connect();
    c.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    srv.signal("TERM");
    let st = srv
        .wait_exit(scaled(6.0))
        .expect("server did not exit after SIGTERM with an idle connection");
    assert_eq!(st.code(), Some(0));
    assert_ne!(c.closed_within(scaled(1.0)), Ok(false));
}

/// Is a new connection to `srv` refused within the timeout?
fn refused_soon(addr: std::net::SocketAddr, t: Duration) -> bool {
    wait_for(t, || {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Some(()),
            _ => None,
        }
    })
    .is_some()
}

#[test]
fn graceful_shutdown_finishes_inflight_download() {
    let s = site();
    add_big_file(&s);
    let mut srv = s.start_with_config("[server]\nshutdown_grace = \"30s\"\n");
    let addr = srv.addr();
    let mut c = srv.connect();
    c.send(req("GET", "/big.bin", &[]));
    let head = c.read_head_only();
    head.assert_status(200);
    assert_eq!(head.content_length(), Some(BIG_LEN));
    // Read slowly for a bit: the download is in flight.
    let mut total: u64 = 0;
    let mut tail: Vec<u8> = Vec::new();
    let mut nonzero_early = false;
    let mut sink = |chunk: &[u8], total: &mut u64, tail: &mut Vec<u8>| {
        *total += chunk.len() as u64;
        tail.extend_from_slice(chunk);
        if tail.len() > 64 {
            let cut = tail.len() - 64;
            if tail[..cut].iter().any(|&b| b != 0) {
                nonzero_early = true;
            }
            tail.drain(..cut);
        }
    };
    for _ in 0..4 {
        let n = c.stream_body(64 * 1024, scaled(5.0), |ch| sink(ch, &mut total, &mut tail));
        assert!(n > 0);
        thread::sleep(Duration::from_millis(100));
    }
    assert!(total < BIG_LEN);
    srv.signal("TERM");
    // New connections are refused soon after.
    assert!(
        refused_soon(addr, scaled(3.0)),
        "new connections were still accepted after SIGTERM"
    );
    // The in-flight download completes with every byte.
    let left = BIG_LEN - total;
    let n = c.stream_body(left, scaled(30.0), |ch| sink(ch, &mut total, &mut tail));
    assert_eq!(
        n, left,
        "download cut short after SIGTERM: {total} of {BIG_LEN}"
    );
    assert!(!nonzero_early, "unexpected content in the sparse region");
    assert!(tail.ends_with(BIG_TAIL), "last bytes wrong: {tail:?}");
    // Then the process exits 0.
    let st = srv
        .wait_exit(scaled(10.0))
        .expect("server did not exit after finishing the in-flight download");
    assert_eq!(st.code(), Some(0), "exit status: {st:?}");
}

#[test]
fn shutdown_grace_expiry_still_exits_zero() {
    let s = site();
    add_big_file(&s);
    let mut srv = s.start_with_config("[server]\nshutdown_grace = \"1s\"\n");
    let mut c = srv.connect();
    c.send(req("GET", "/big.bin", &[]));
    c.read_head_only().assert_status(200);
    // Never read the rest: the response cannot finish within the grace.
    let t0 = Instant::now();
    srv.signal("TERM");
    let st = srv
        .wait_exit(scaled(6.0))
        .expect("server did not exit after shutdown_grace expired");
    assert_eq!(st.code(), Some(0), "exit status: {st:?}");
    assert!(
        t0.elapsed() >= Duration::from_millis(700),
        "exited before the grace period ({:?}) with a download in flight",
        t0.elapsed()
    );
}

#[test]
fn idle_keepalive_connections_count_towards_limit() {
    let s = site();
    let srv = s.start_with_config("[server]\nworkers = 1\nmax_connections = 2\n");
    let mut c1 = srv.connect();
    c1.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    let mut c2 = srv.connect();
    c2.request(&req("GET", "/a.txt", &[]))
        .assert_body(200, "AAAA");
    let mut c3 = srv.connect();
    match c3.try_read_response(false) {
        Ok(r) => {
            r.assert_status(503);
            assert_eq!(r.must_header("retry-after"), "1");
        }
        Err(e) => panic!("third connection: expected 503, but {}", describe(&e)),
    }
    c3.expect_closed();
    // Closing one idle connection frees a slot.
    c1.request(&req("GET", "/a.txt", &[("Connection", "close")]))
        .assert_body(200, "AAAA");
    c1.expect_closed();
    drop(c1);
    let ok = wait_for(scaled(3.0), || {
        let mut c = srv.connect();
        let _ = c.try_send(req("GET", "/a.txt", &[]));
        match c.try_read_response(false) {
            Ok(r) if r.status == 200 => Some(()),
            _ => None,
        }
    });
    assert!(ok.is_some(), "a freed slot was not reused");
}

#[test]
fn parallel_large_downloads_on_one_worker() {
    let s = site();
    add_big_file(&s);
    let srv = s.start_with_config("[server]\nworkers = 1\n");
    let addr = srv.addr();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            thread::spawn(move || {
                let mut c = Conn::connect(addr);
                c.send(req("GET", "/big.bin", &[]));
                let h = c.read_head_only();
                h.assert_status(200);
                let mut last = Vec::new();
                let n = c.stream_body(BIG_LEN, scaled(30.0), |ch| {
                    last.extend_from_slice(ch);
                    if last.len() > 4096 {
                        last.drain(..last.len() - 64);
                    }
                });
                assert_eq!(n, BIG_LEN);
                assert!(last.ends_with(BIG_TAIL));
            })
        })
        .collect();
    for h in handles {
        h.join().expect("download thread");
    }
}

#[test]
fn client_abort_mid_download_is_harmless() {
    let s = site();
    add_big_file(&s);
    let srv = s.start_with_config("[server]\nworkers = 1\n");
    for _ in 0..5 {
        let mut c = srv.connect();
        c.send(req("GET", "/big.bin", &[]));
        c.read_head_only().assert_status(200);
        c.stream_body(100_000, scaled(5.0), |_| {});
        drop(c);
    }
    srv.get("/a.txt").assert_body(200, "AAAA");
}

#[test]
fn max_connections_is_a_total_across_workers() {
    // max_connections counts slots across all workers: with 2 workers and
    // 3 slots, the 4th simultaneous connection gets the 503.
    let s = site();
    let srv = s.start_with_config("[server]\nworkers = 2\nmax_connections = 3\n");
    let mut held = Vec::new();
    for i in 0..3 {
        let mut c = srv.connect();
        let r = c.request(&req("GET", "/a.txt", &[]));
        assert_eq!(r.status, 200, "connection {} of 3: {r:?}", i + 1);
        held.push(c);
    }
    let mut c4 = srv.connect();
    c4.set_timeout(scaled(2.0));
    let _ = c4.try_send(req("GET", "/a.txt", &[]));
    match c4.try_read_response(false) {
        Ok(r) => assert_eq!(
            r.status, 503,
            "4th connection with max_connections = 3 must be refused:\n{r:?}"
        ),
        Err(e) => panic!("4th connection: {}", describe(&e)),
    }
}

#[test]
fn request_waiting_for_a_buffer_gets_an_answer() {
    // With a single request buffer, a slow client holds it; a second client
    // whose complete request waits meanwhile must get an HTTP answer (served
    // once the buffer frees, or 408/503), never a silent drop or reset.
    let s = site();
    let srv = s.start_with_config(
        "[server]\nworkers = 1\nbuffers_per_worker = 1\nheader_timeout = \"1s\"\n",
    );
    let mut slow = srv.connect();
    slow.send("GET /a.txt HTTP/1.1\r\nHo");
    // Arrive well before the slow client's head times out (no tie).
    thread::sleep(Duration::from_millis(400));
    let mut c = srv.connect();
    c.send(req("GET", "/a.txt", &[]));
    c.set_timeout(scaled(4.0));
    match c.try_read_response(false) {
        Ok(r) => assert!(
            [200, 408, 503].contains(&r.status),
            "unexpected answer: {r:?}"
        ),
        Err(e) => panic!(
            "a complete request queued behind a slow client got no response: {}",
            describe(&e)
        ),
    }
}
