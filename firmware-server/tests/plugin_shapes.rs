//! The plugin API's shapes, proven through the real engine with the
//! test-only `testkit` plugin (`cargo test -p firmware-server --features
//! testkit --test plugin_shapes`):
//! - a stream that spawns a process, registers its pipes in the worker's
//!   poller and streams a request body through it both ways with
//!   backpressure (the shape of CGI);
//! - a transport that transforms every byte and cannot `sendfile` (the shape
//!   of TLS).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use firmware_server::config::Config;
use firmware_server::plugins::{self, Registry};
use firmware_server::server::{Server, StopHandle};

struct Running {
    addrs: Vec<SocketAddr>,
    stop: StopHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    dir: std::path::PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(name: &str) -> Running {
    let dir = std::env::temp_dir().join(format!("fws-shapes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("a.txt"), b"AAAA").unwrap();
    let mut cfg = Config::default();
    let text = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nroot = \"{}\"\nworkers = 1\nmax_body_size = \"8M\"\nlog_level = \"off\"\n\
         [testkit]\necho = \"/_echo\"\nxor_listen = [\"127.0.0.1:0\"]\n",
        dir.display()
    );
    cfg.apply_text(&text, "test.conf").unwrap();
    let registry = Arc::new(Registry::init(&cfg, &plugins::env(&cfg, 1)).unwrap());
    let server = Server::start(&cfg, registry, None).unwrap();
    let addrs = server.addrs();
    let flag = Arc::new(AtomicBool::new(false));
    let stop = server.stop_handle(flag.clone());
    let thread = std::thread::spawn(move || server.run(None, flag).unwrap());
    Running {
        addrs,
        stop,
        thread: Some(thread),
        dir,
    }
}

/// Reads a response head and a chunked or Content-Length body.
fn read_response(r: &mut impl Read) -> (String, Vec<u8>) {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            r.read(&mut b).unwrap(),
            1,
            "connection closed in the head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                r.read_exact(&mut b).unwrap();
                line.push(b[0]);
            }
            let size =
                usize::from_str_radix(std::str::from_utf8(&line[..line.len() - 2]).unwrap(), 16)
                    .unwrap();
            let mut chunk = vec![0u8; size + 2];
            r.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(i) = lower.find("content-length: ") {
        let n: usize = lower[i + 16..]
            .split("\r\n")
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        body.resize(n, 0);
        r.read_exact(&mut body).unwrap();
    }
    (head, body)
}

#[test]
fn stream_pipes_a_large_body_through_a_child_both_ways() {
    let srv = start("echo");
    let body: Vec<u8> = (0..4_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut s = TcpStream::connect(srv.addrs[0]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let sent = body.clone();
    // Write the body from another thread while reading the echo: 4 MB is
    // far more than the socket, pipe and engine buffers hold, so this only
    // finishes if both directions flow at once with backpressure.
    let writer = std::thread::spawn(move || {
        w.write_all(
            format!(
                "POST /_echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n",
                sent.len()
            )
            .as_bytes(),
        )
        .unwrap();
        w.write_all(&sent).unwrap();
    });
    let (head, echoed) = read_response(&mut s);
    writer.join().unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(echoed.len(), body.len());
    assert!(echoed == body, "echoed bytes differ");

    // The same connection goes on: a chunked upload, then a static file.
    s.write_all(b"POST /_echo/y HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        .unwrap();
    let (head, echoed) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(echoed, b"hello world");
    s.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (head, got) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(got, b"AAAA");

    // A GET to the stream's prefix is refused by the plugin itself.
    s.write_all(b"GET /_echo/z HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
}

#[test]
fn client_leaving_mid_stream_kills_and_reaps_the_child() {
    let srv = start("abort");
    for _ in 0..5 {
        let mut s = TcpStream::connect(srv.addrs[0]).unwrap();
        // Promise a large body, send a little, vanish.
        s.write_all(b"POST /_echo/x HTTP/1.1\r\nHost: t\r\nContent-Length: 1000000\r\n\r\nabc")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(s);
    }
    // Every `cat` the server started must be gone (not even a zombie).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let kids = children_of(std::process::id());
        if kids.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "children left: {kids:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn children_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.get(1).and_then(|x| x.parse::<u32>().ok()) == Some(pid) {
            out.push((
                p,
                format!("{} {}", f[0], stat.split(' ').nth(1).unwrap_or("")),
            ));
        }
    }
    out
}

fn xor(data: &[u8]) -> Vec<u8> {
    data.iter().map(|b| b ^ 0x5a).collect()
}

/// A reader that un-XORs what it reads.
struct XorReader(TcpStream);

impl Read for XorReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(buf)?;
        buf[..n].iter_mut().for_each(|b| *b ^= 0x5a);
        Ok(n)
    }
}

#[test]
fn transport_transforms_every_byte_and_files_go_through_it() {
    let srv = start("xor");
    let expected = std::fs::read(srv.dir.join("big.bin")).unwrap();
    let mut s = TcpStream::connect(srv.addrs[1]).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&xor(
        b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    ))
    .unwrap();
    let mut r = XorReader(s.try_clone().unwrap());
    let (head, body) = read_response(&mut r);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body == expected, "file body through the transport differs");
    let (head, body) = read_response(&mut r);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(body, b"AAAA");

    // Plain bytes on the XOR listener are garbage to it: 400, never a crash.
    let mut p = TcpStream::connect(srv.addrs[1]).unwrap();
    p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    p.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let (head, _) = read_response(&mut XorReader(p));
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    // And the plain listener is unaffected.
    let mut q = TcpStream::connect(srv.addrs[0]).unwrap();
    q.write_all(b"GET /a.txt HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let (head, _) = read_response(&mut q);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}
