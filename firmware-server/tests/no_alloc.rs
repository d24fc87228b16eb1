//! Proves the static-file path allocates nothing in the steady state: a
//! counting global allocator counts allocations made on the server's own
//! threads (marked through the thread hook) while a client drives a mix of
//! requests: keep-alive and new connections, pipelining, hits, HEAD, 404s,
//! ranges, 304s, precompressed variants, a directory index, a redirect.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use firmware_server::config::Config;
use firmware_server::plugins::{self, Registry};
use firmware_server::server::Server;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SERVER_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if SERVER_THREAD.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn mark_server_thread() {
    SERVER_THREAD.with(|c| c.set(true));
}

/// Reads one response (head + Content-Length body); returns (status, etag).
fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> (u16, String) {
    let mut tmp = [0u8; 65536];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head[9..12].parse().unwrap();
            let mut len = 0usize;
            let mut etag = String::new();
            for line in head.lines().skip(1) {
                let (k, v) = line.split_once(':').unwrap();
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
                if k.eq_ignore_ascii_case("etag") {
                    etag = v.trim().to_string();
                }
            }
            if head_only || status == 304 {
                len = 0;
            }
            while buf.len() < end + 4 + len {
                let n = s.read(&mut tmp).unwrap();
                assert!(n > 0, "server closed early");
                buf.extend_from_slice(&tmp[..n]);
            }
            buf.drain(..end + 4 + len);
            return (status, etag);
        }
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "server closed early");
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn round(addr: SocketAddr, etag: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = Vec::new();
    // One keep-alive connection, requests pipelined in one write.
    let pipelined = format!(
        "GET /small.txt HTTP/1.1\r\nHost: a\r\n\r\n\
         HEAD /small.txt HTTP/1.1\r\nHost: a\r\n\r\n\
         GET /missing HTTP/1.1\r\nHost: a\r\n\r\n\
         GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes=100-199\r\n\r\n\
         GET /small.txt HTTP/1.1\r\nHost: a\r\nIf-None-Match: {etag}\r\n\r\n\
         GET /app.js HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n\
         GET /dir/ HTTP/1.1\r\nHost: a\r\n\r\n\
         GET /dir HTTP/1.1\r\nHost: a\r\n\r\n"
    );
    s.write_all(pipelined.as_bytes()).unwrap();
    let (st, tag) = read_response(&mut s, &mut buf, false);
    assert_eq!(st, 200);
    let revalidated = if etag == "\"none\"" { 200 } else { 304 };
    let expect = [
        (true, 200),
        (false, 404),
        (false, 206),
        (false, revalidated),
        (false, 200),
        (false, 200),
        (false, 301),
    ];
    for (head, want) in expect {
        assert_eq!(read_response(&mut s, &mut buf, head).0, want);
    }
    // Then one at a time, and a big body.
    for _ in 0..3 {
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_response(&mut s, &mut buf, false).0, 200);
    }
    drop(s);
    // A new connection per request.
    for _ in 0..3 {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /small.txt HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut b = Vec::new();
        assert_eq!(read_response(&mut c, &mut b, false).0, 200);
    }
    tag
}

#[test]
fn static_path_does_not_allocate_after_warm_up() {
    let dir = std::env::temp_dir().join(format!("fws-noalloc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("dir")).unwrap();
    std::fs::write(dir.join("small.txt"), vec![b'x'; 1024]).unwrap();
    std::fs::write(dir.join("big.bin"), vec![7u8; 200 * 1024]).unwrap();
    std::fs::write(dir.join("app.js"), b"console.log(1)").unwrap();
    std::fs::write(dir.join("app.js.gz"), b"not really gzip").unwrap();
    std::fs::write(dir.join("dir/index.html"), b"<p>index</p>").unwrap();

    let cfg = Config {
        listen: vec!["127.0.0.1:0".parse().unwrap()],
        root: dir.clone(),
        workers: 2,
        max_connections: 64,
        ..Config::default()
    };
    let registry = std::sync::Arc::new(Registry::init(&cfg, &plugins::env(&cfg, 2)).unwrap());
    let server = Server::start(&cfg, registry, Some(mark_server_thread)).unwrap();
    let addr = server.addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let handle = server.stop_handle(stop.clone());
    let t = std::thread::spawn(move || {
        mark_server_thread();
        server.run(None, stop).unwrap();
    });

    let etag = round(addr, "\"none\"");
    round(addr, &etag);
    std::thread::sleep(Duration::from_millis(50));
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    for _ in 0..200 {
        round(addr, &etag);
    }
    let after = ALLOCATIONS.load(Ordering::SeqCst);
    handle.stop();
    t.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        after - before,
        0,
        "{} allocations on server threads while serving 2,800 requests",
        after - before
    );
}
