//! The whole connection state machine, driven through the real engine.
//! The engine (`firmware-server` lib, default plugins) is started once,
//! in-process, on loopback with a small docroot. Each input is
//! `[split seed bytes] 0xFF 0xFE [stream]`: the stream is written to a new
//! connection in pieces whose sizes come from the seed (TCP_NODELAY, so the
//! pieces mostly arrive as separate reads), then the write side is shut.
//! Asserted: the server answers and closes within a bound (no hang), and
//! what it sent is a sequence of well-formed responses (status line,
//! headers, a body framed by Content-Length or chunked, or bodiless), with
//! no more responses than requests could have started. A panic in a worker
//! aborts the process (libFuzzer's panic hook), so it is caught too.
#![no_main]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use firmware_server::config::Config;
use firmware_server::plugins::{self, Registry};
use firmware_server::server::Server;
use libfuzzer_sys::fuzz_target;

/// How long one input may take before it counts as a hang. The server's
/// own header timeout is 2 s; a body it waits for ends at the shutdown.
const BOUND: Duration = Duration::from_secs(10);

fn server() -> SocketAddr {
    static ADDR: OnceLock<SocketAddr> = OnceLock::new();
    *ADDR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("fws-fuzz-conn-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("index.html"), b"<h1>router</h1>\n").unwrap();
        std::fs::write(dir.join("a.txt"), b"0123456789abcdefghij").unwrap();
        let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.join("big.bin"), big).unwrap();
        std::fs::write(dir.join("sub/x.css"), b"body{}").unwrap();
        let text = format!(
            "[server]\nlisten = [\"127.0.0.1:0\"]\nroot = \"{}\"\nworkers = 1\nmax_connections = 64\n\
             buffer_size = 4096\nheader_timeout = \"2s\"\nkeepalive_timeout = \"2s\"\nsend_timeout = \"5s\"\n\
             max_body_size = \"64k\"\nlog_level = \"off\"\n",
            dir.display()
        );
        let mut cfg = Config::default();
        cfg.apply_text(&text, "fuzz.conf").unwrap();
        let registry = Arc::new(Registry::init(&cfg, &plugins::env(&cfg, 1)).unwrap());
        let server = Server::start(&cfg, registry, None).unwrap();
        let addr = server.addrs()[0];
        let flag = Arc::new(AtomicBool::new(false));
        std::thread::spawn(move || server.run(None, flag));
        addr
    })
}

/// Checks that `out` is a sequence of complete, well-formed responses, and
/// returns how many. A response cut short is allowed only as the last one
/// when the server closed because the request could not be finished.
fn responses(out: &[u8]) -> usize {
    let mut rest = out;
    let mut n = 0;
    while !rest.is_empty() {
        let mut hs = [httparse::EMPTY_HEADER; 64];
        let mut r = httparse::Response::new(&mut hs);
        let head = match r.parse(rest) {
            Ok(httparse::Status::Complete(h)) => h,
            Ok(httparse::Status::Partial) => panic!(
                "response head cut short: {:?}",
                String::from_utf8_lossy(rest)
            ),
            Err(e) => panic!(
                "malformed response ({e}): {:?}",
                String::from_utf8_lossy(rest)
            ),
        };
        let code = r.code.unwrap();
        assert!((100..600).contains(&code), "status {code}");
        assert_eq!(r.version, Some(1), "we answer HTTP/1.1");
        let get = |name: &str| {
            r.headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| h.value)
                .collect::<Vec<_>>()
        };
        let cl = get("content-length");
        let te = get("transfer-encoding");
        assert!(
            cl.len() <= 1 && te.len() <= 1 && !(cl.len() == 1 && te.len() == 1),
            "ambiguous framing"
        );
        n += 1;
        if code == 100 {
            rest = &rest[head..];
            n -= 1;
            continue;
        }
        let body = &rest[head..];
        let used = if code == 204 || code == 304 {
            0
        } else if let Some(v) = cl.first() {
            let len: usize = std::str::from_utf8(v)
                .unwrap()
                .parse()
                .expect("Content-Length is a number");
            // A HEAD response carries a length but no body: then the next
            // response (or the end) follows at once (no file served here
            // starts with a status line).
            if body.is_empty() || body.starts_with(b"HTTP/1.1 ") {
                0
            } else {
                assert!(body.len() >= len, "body cut short: {} of {len}", body.len());
                len
            }
        } else if te
            .first()
            .is_some_and(|v| v.eq_ignore_ascii_case(b"chunked"))
        {
            let mut d = fws_api::http::chunked::ChunkedDecoder::default();
            let s = d.decode(body).expect("well-formed chunked body");
            let mut used = s.consumed;
            while !d.is_done() {
                let s = d.decode(&body[used..]).expect("well-formed chunked body");
                assert!(s.consumed > 0, "chunked body cut short");
                used += s.consumed;
            }
            used
        } else {
            // Neither: only valid when the server closes after the body.
            body.len()
        };
        rest = &body[used..];
    }
    n
}

fuzz_target!(|data: &[u8]| {
    let addr = server();
    let (seed, stream) = match data.windows(2).position(|w| w == [0xFF, 0xFE]) {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[][..], data),
    };
    let mut c = TcpStream::connect(addr).expect("connect");
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(BOUND)).unwrap();
    c.set_write_timeout(Some(BOUND)).unwrap();
    let mut pos = 0;
    let mut i = 0;
    while pos < stream.len() {
        let step = seed
            .get(i % seed.len().max(1))
            .map_or(stream.len(), |&b| usize::from(b) + 1);
        i += 1;
        let end = (pos + step).min(stream.len());
        if c.write_all(&stream[pos..end]).is_err() {
            break; // the server closed (an error answer): fine
        }
        pos = end;
    }
    let _ = c.shutdown(Shutdown::Write);
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            // libFuzzer's timers interrupt system calls: not a server fault.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => panic!(
                "no end of response within {BOUND:?}: {e} (after {:?})",
                started.elapsed()
            ),
        }
    }
    let n = responses(&out);
    // Each response answers a request (or refuses one and closes): never
    // more responses than request lines could have started.
    let starts = 1 + stream.iter().filter(|&&b| b == b'\n').count();
    assert!(n <= starts, "{n} responses for at most {starts} requests");
});
