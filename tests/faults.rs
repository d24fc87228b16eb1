//! Faults a router's server meets in the field, where the outcome is
//! deterministic: clients that reset in the middle of a response, a
//! sendfile or an upload (SIGPIPE must never kill the process), a file
//! truncated or replaced while it is being sent (never a byte past the new
//! end; the connection closed when the promised length cannot be kept), the
//! docroot removed under the server, and descriptor exhaustion (the server
//! recovers once descriptors free up). `tests/hardening/faults.py` covers
//! the rest (full disk, CPU use while out of descriptors) and prints
//! figures.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use blackbox::*;

const BIG: usize = 16 << 20;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Reads up to the end of the response head; returns (head, body bytes
/// already read).
fn read_head(s: &mut TcpStream) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("read head");
        assert!(
            n > 0,
            "closed before the head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i + 4]).into_owned();
            return (head, buf[i + 4..].to_vec());
        }
    }
}

fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().unwrap())
        })
        .expect("Content-Length")
}

/// Closes `s` with unread data in its receive buffer: the kernel answers
/// with a TCP reset instead of a FIN.
fn reset(s: TcpStream) {
    std::thread::sleep(Duration::from_millis(5));
    drop(s);
}

fn alive(srv: &Server) {
    srv.get("/small.txt").assert_body(200, "small");
}

#[test]
fn resets_mid_response_mid_sendfile_and_mid_upload_do_not_kill_the_server() {
    let site = Site::new();
    site.file("big.bin", pattern(BIG));
    site.file("small.txt", "small");
    let srv = site.start();
    for round in 0..10 {
        // Mid-sendfile: the head and a little of the body read, then reset.
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.write_all(req("GET", "/big.bin", &[]).as_bytes()).unwrap();
        let (head, _) = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        reset(s);
        // Mid-response: many pipelined small responses never read.
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        let many = req("GET", "/small.txt", &[]).repeat(200);
        s.write_all(many.as_bytes()).unwrap();
        reset(s);
        // Mid-upload: a body announced, partly sent, with the interim
        // 100 Continue left unread so that the close is a reset.
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        let head = format!(
            "POST /small.txt HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            1 << 20
        );
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(&vec![b'u'; 64 * 1024]);
        reset(s);
        // A range response cut the same way.
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.write_all(req("GET", "/big.bin", &[("Range", "bytes=1000-")]).as_bytes())
            .unwrap();
        let (head, _) = read_head(&mut s);
        assert!(head.starts_with("HTTP/1.1 206"), "round {round}: {head}");
        reset(s);
        alive(&srv);
    }
    // Still the same process, still serving the big file completely.
    let r = srv.get("/big.bin");
    r.assert_status(200);
    assert_eq!(r.body.len(), BIG);
    assert_eq!(r.body, pattern(BIG));
}

#[test]
fn a_file_truncated_while_sent_ends_the_connection_without_bytes_past_the_end() {
    let site = Site::new();
    let original = pattern(BIG);
    site.file("big.bin", &original);
    site.file("small.txt", "small");
    let srv = site.start();
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(scaled(20.0))).unwrap();
    s.write_all(req("GET", "/big.bin", &[]).as_bytes()).unwrap();
    let (head, mut body) = read_head(&mut s);
    assert_eq!(content_length(&head), BIG);
    // Truncate to 1000 bytes while most of the body is still unsent.
    fs::OpenOptions::new()
        .write(true)
        .open(site.root().join("big.bin"))
        .unwrap()
        .set_len(1000)
        .unwrap();
    let mut chunk = vec![0u8; 65536];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the connection was not closed: {e} after {} bytes",
                body.len()
            ),
        }
    }
    // The promise cannot be kept: fewer bytes than announced, then close.
    assert!(
        body.len() < BIG,
        "got the whole length from a truncated file"
    );
    // What arrived up to the new end is the file. (Bytes queued in the
    // socket before the truncation may follow: sendfile shares page-cache
    // pages with the socket, and truncation zeroes the tail of the page
    // holding the new end, so they are the old bytes or zeros. The engine
    // sends nothing it reads after the truncation and closes early, so the
    // client sees fewer bytes than Content-Length promised.)
    let diff = body
        .iter()
        .take(1000)
        .zip(&original)
        .position(|(a, b)| a != b);
    assert_eq!(
        diff,
        None,
        "bytes differ from the file (of {} received)",
        body.len()
    );
    alive(&srv);
    // Once the open-file cache stops trusting its entry (file_cache_ttl,
    // 1 s), the new length is served. (Within it a request gets the old
    // length and is cut short the same way.)
    std::thread::sleep(Duration::from_millis(1200));
    srv.get("/big.bin").assert_body(200, &original[..1000]);
}

#[test]
fn a_file_replaced_while_sent_is_sent_whole_as_it_was() {
    let site = Site::new();
    let original = pattern(BIG);
    site.file("big.bin", &original);
    let srv = site.start();
    let mut s = TcpStream::connect(srv.addr()).unwrap();
    s.set_read_timeout(Some(scaled(20.0))).unwrap();
    s.write_all(req("GET", "/big.bin", &[]).as_bytes()).unwrap();
    let (head, mut body) = read_head(&mut s);
    assert_eq!(content_length(&head), BIG);
    // An atomic replace (how firmware tools update files): the open
    // descriptor still reads the old file.
    let tmp = site.base().join("new.bin");
    fs::write(&tmp, b"new content").unwrap();
    fs::rename(&tmp, site.root().join("big.bin")).unwrap();
    while body.len() < BIG {
        let mut chunk = vec![0u8; 65536];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed after {} bytes", body.len());
        body.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(body, original);
    // The open-file cache trusts an entry for at most file_cache_ttl (1 s).
    std::thread::sleep(Duration::from_millis(1200));
    srv.get("/big.bin").assert_body(200, "new content");
}

#[test]
fn a_removed_docroot_gives_404_not_a_crash() {
    let site = Site::new();
    site.file("small.txt", "small");
    let srv = site.start_args(&[
        "--config",
        &path_str(&site.config("c.toml", "[server]\nfile_cache = 0\n")),
    ]);
    alive(&srv);
    fs::remove_dir_all(site.root()).unwrap();
    let r = srv.get("/small.txt");
    assert_eq!(r.status, 404, "{}", r.body_str());
    // The (deleted) root directory itself: no index in it, no listing.
    let r = srv.get("/");
    assert!(r.status == 403 || r.status == 404, "{}", r.status);
    // The process is still there and answers.
    let r = srv.get("/x");
    assert_eq!(r.status, 404);
}

#[test]
fn the_server_recovers_from_descriptor_exhaustion() {
    let site = Site::new();
    site.file("small.txt", "small");
    site.file("other.txt", "other");
    let srv = site.start();
    alive(&srv);
    let limit = 48;
    let st = Command::new("prlimit")
        .arg(format!("--pid={}", srv.pid()))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("prlimit (util-linux)");
    assert!(st.success());
    // More connections than descriptors: some wait in the backlog.
    let mut held = Vec::new();
    for _ in 0..(limit * 2) {
        held.push(TcpStream::connect(srv.addr()).unwrap());
    }
    // Give the scheduler time to hit EMFILE and pause its accepts.
    std::thread::sleep(Duration::from_millis(300));
    // A connection accepted before the limit asks for a file it cannot
    // open now: 503 (a passing shortage), not 500, and the process lives.
    {
        let mut first = Conn::from_stream(held.remove(0));
        first.set_timeout(scaled(5.0));
        let r = first.request(&req("GET", "/other.txt", &[]));
        assert_eq!(r.status, 503, "{r:?}");
    }
    drop(held);
    // Recovery: every new connection is served again.
    let mut ok = 0;
    for _ in 0..50 {
        let mut c = srv.connect();
        c.set_timeout(scaled(10.0));
        let r = c.request(&req("GET", "/small.txt", &[]));
        if r.status == 200 && r.body == b"small" {
            ok += 1;
        }
    }
    assert_eq!(ok, 50, "not every request was served after the exhaustion");
    // The 503 was not cached: the file is served now.
    srv.get("/other.txt").assert_body(200, "other");
}

#[test]
fn with_reclaim_slots_a_flood_of_idle_connections_cannot_lock_clients_out() {
    let site = Site::new();
    site.file("small.txt", "small");
    let srv = site
        .start_with_config("[server]\nworkers = 1\nmax_connections = 2\nreclaim_slots = true\n");
    // Slot 1: a connection that sends nothing; slot 2: a partial head.
    let mut idle = srv.connect();
    let mut partial = srv.connect();
    partial.send("GET /small.txt HTTP/1.1\r\n");
    std::thread::sleep(scaled(0.3));
    // A third client is served: the idle connection's slot is reclaimed.
    let mut third = srv.connect();
    third
        .request(&req("GET", "/small.txt", &[]))
        .assert_body(200, "small");
    idle.expect_closed();
    // The partial request was not the one chosen: it completes.
    partial.send("Host: x\r\n\r\n");
    partial.read_response().assert_body(200, "small");
    // Both slots are now idle keep-alive connections; a flood of new idle
    // connections keeps taking slots from each other, and a real client
    // arriving after it is still served.
    let flood: Vec<Conn> = (0..20).map(|_| srv.connect()).collect();
    std::thread::sleep(scaled(0.3));
    srv.get("/small.txt").assert_body(200, "small");
    drop(flood);
    // --check-config shows the setting.
    let cfg = path_str(&site.config("r.toml", "[server]\nreclaim_slots = true\n"));
    let r = run(&[
        "--root",
        &site.root_str(),
        "--config",
        &cfg,
        "--check-config",
    ]);
    assert!(
        r.stdout.lines().any(|l| l == "reclaim_slots = true"),
        "{}",
        r.stdout
    );
}

#[test]
fn with_reclaim_slots_slow_heads_cannot_hold_every_request_buffer() {
    let site = Site::new();
    site.file("small.txt", "small");
    // One request buffer: a slowloris client sending its head byte by byte
    // holds it.
    let srv = site.start_with_config(
        "[server]\nworkers = 1\nmax_connections = 8\nbuffers_per_worker = 1\nreclaim_slots = true\n",
    );
    let mut slow = srv.connect();
    slow.send("GET /small.txt HTTP/1.1\r\nX-A: 1\r\n");
    std::thread::sleep(scaled(0.3));
    // A normal client gets the buffer at once: the slow head is dropped.
    let mut c = srv.connect();
    c.set_timeout(scaled(2.0));
    c.request(&req("GET", "/small.txt", &[]))
        .assert_body(200, "small");
    slow.expect_closed();
}

#[test]
fn a_body_nobody_reads_is_not_waited_for() {
    let site = Site::new();
    site.file("small.txt", "small");
    let srv = site.start();
    // R-U-Dead-Yet: a large body announced and sent a byte at a time to a
    // static file. The answer comes at once and the connection closes,
    // instead of a slot and a buffer held for as long as the client likes.
    let mut c = srv.connect();
    c.send("POST /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\na");
    c.set_timeout(scaled(2.0));
    c.read_response().assert_status(405);
    c.expect_closed();
    // The same for a chunked body that has not all arrived.
    let mut c = srv.connect();
    c.send("POST /small.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc");
    c.set_timeout(scaled(2.0));
    c.read_response().assert_status(405);
    c.expect_closed();
    // A body that arrived with its head is skipped and the connection kept.
    let mut c = srv.connect();
    c.send("POST /small.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    c.read_response().assert_status(405);
    c.request(&req("GET", "/small.txt", &[]))
        .assert_body(200, "small");
}

#[test]
fn with_reclaim_slots_slow_readers_cannot_hold_every_slot() {
    let site = Site::new();
    site.file("big.bin", pattern(BIG));
    site.file("small.txt", "small");
    let srv = site
        .start_with_config("[server]\nworkers = 1\nmax_connections = 2\nreclaim_slots = true\n");
    // Two clients ask for a big file and never read: their responses stall
    // once the socket buffers are full.
    let mut readers = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        s.write_all(req("GET", "/big.bin", &[]).as_bytes()).unwrap();
        readers.push(s);
    }
    std::thread::sleep(scaled(1.5));
    // A normal client is served: the longest-stalled reader gives way.
    let mut c = srv.connect();
    c.set_timeout(scaled(3.0));
    c.request(&req("GET", "/small.txt", &[]))
        .assert_body(200, "small");
}
