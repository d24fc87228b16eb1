//! The plugin through its hooks, with a real writer thread.

use super::*;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use fws_api::plugin::ConnInfo;

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "fws-logger-unit-{}-{tag}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn logger(text: &str, workers: usize) -> Logger {
    let d = fws_api::doc::parse(text).unwrap();
    let secs: Vec<Section<'_>> = d
        .tables
        .iter()
        .filter(|t| t.name == "logger")
        .map(|t| Section {
            file: "t.toml",
            table: t,
        })
        .collect();
    let cfg = config::parse(&secs).unwrap().unwrap();
    Logger::build(cfg, "t.toml", workers).unwrap()
}

fn conn() -> ConnInfo {
    ConnInfo {
        peer: "10.0.0.1:4000".parse().unwrap(),
        local: "127.0.0.1:80".parse::<SocketAddr>().unwrap(),
        listener: 0,
        secure: false,
        worker: 0,
    }
}

fn log_req(l: &Logger, w: &mut Option<WorkerLog>, target: &str) {
    let c = conn();
    let rec = LogRecord {
        conn: &c,
        method: b"GET",
        target: target.as_bytes(),
        minor: 1,
        status: 200,
        bytes: 5,
        host: b"h",
        referer: b"",
        user_agent: b"ua",
        user: None,
        time: 971_186_136,
    };
    l.logged(w, &rec);
}

fn wait(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn stat(l: &Logger, key: &str) -> u64 {
    let s = l.command(&["stats"]).unwrap().unwrap();
    s.lines()
        .find_map(|x| x.strip_prefix(key).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("{key} not in {s}"))
        .parse()
        .unwrap()
}

#[test]
fn unconfigured_does_nothing() {
    let l = Logger { shared: None };
    let mut w = l.worker(0);
    assert!(w.is_none());
    assert!(!l.wants_log());
    log_req(&l, &mut w, "/x");
    assert_eq!(l.config_text(), "");
    assert!(l.command(&["ring"]).unwrap().is_err());
    assert!(l.command(&["reopen"]).unwrap().is_err());
    let s = l.command(&["stats"]).unwrap().unwrap();
    assert!(
        s.starts_with("written_access 0\n") && s.contains("\ndropped 0\n"),
        "{s}"
    );
    assert!(l.command(&["bogus"]).is_none());
    assert!(l.command(&[]).is_none());
}

#[test]
fn file_target_mode_and_lines() {
    let t = Tmp::new("file");
    let path = t.path("access.log");
    let l = logger(
        &format!("[logger]\naccess = \"file:{}\"\n", path.display()),
        2,
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(l.wants_log());
    let mut w0 = l.worker(0);
    let mut w1 = l.worker(1);
    // Lines logged before the writer runs are kept.
    log_req(&l, &mut w0, "/a");
    l.spawn_writer();
    log_req(&l, &mut w1, "/b");
    assert!(wait(|| std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .count()
        == 2));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(
        "10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"ua\"\n"
    ));
    assert_eq!(stat(&l, "written_access"), 2);

    // logrotate: rename, reopen, new lines in the new file.
    let old = t.path("access.log.1");
    std::fs::rename(&path, &old).unwrap();
    assert_eq!(l.command(&["reopen"]).unwrap(), Ok("reopened 1\n".into()));
    log_req(&l, &mut w0, "/c");
    assert!(wait(
        || std::fs::read_to_string(&path).is_ok_and(|s| s.contains("GET /c "))
    ));
    assert!(!std::fs::read_to_string(&old).unwrap().contains("/c"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // SIGHUP path: reload requests a reopen without waiting.
    std::fs::rename(&path, t.path("access.log.2")).unwrap();
    l.reload();
    assert!(wait(|| path.exists()));
    assert!(l.command(&["reopen", "x"]).unwrap().is_err());

    // A failed reopen keeps the old file and says why.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let r = l.command(&["reopen"]).unwrap();
    assert!(
        r.as_ref().is_err_and(|e| e.contains("cannot reopen")),
        "{r:?}"
    );
}

#[test]
fn open_errors_are_config_errors() {
    let t = Tmp::new("err");
    let d = fws_api::doc::parse(&format!(
        "[logger]\naccess = \"file:{}\"\nerror = \"file:{}\"\n",
        t.path("missing/dir/a.log").display(),
        t.0.display()
    ))
    .unwrap();
    let secs: Vec<Section<'_>> = d.tables[1..]
        .iter()
        .map(|t| Section {
            file: "t.toml",
            table: t,
        })
        .collect();
    let cfg = config::parse(&secs).unwrap().unwrap();
    let errs = Logger::build(cfg, "t.toml", 1).err().unwrap();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[0].starts_with("t.toml:2: cannot open log file "),
        "{errs:?}"
    );
    assert!(
        errs[1].starts_with("t.toml:3: cannot open log file "),
        "{errs:?}"
    );
}

#[test]
fn world_readable_file_warns() {
    let t = Tmp::new("warn");
    let path = t.path("a.log");
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let l = logger(&format!("[logger]\naccess = \"{}\"\n", path.display()), 1);
    let sh = l.shared.as_ref().unwrap();
    let w = relock(&sh.warnings).clone();
    assert_eq!(w.len(), 1);
    assert!(w[0].contains("readable by everyone (mode 644)"), "{w:?}");
}

#[test]
fn ring_and_error_log() {
    let l = logger(
        "[logger]\naccess = \"ring\"\nerror = \"ring\"\nring_size = 4096\nerror_level = \"warn\"\n",
        1,
    );
    let sh = l.shared.clone().unwrap();
    let el = ErrorLog {
        shared: sh.clone(),
        level: sh.cfg.error_level,
    };
    l.spawn_writer();
    let mut w = l.worker(0);
    log_req(&l, &mut w, "/one");
    let rec = |lvl, msg: &str| {
        log::Log::log(
            &el,
            &log::Record::builder()
                .level(lvl)
                .target("fws::test")
                .args(format_args!("{msg}"))
                .build(),
        )
    };
    rec(log::Level::Warn, "disk\nnearly full");
    rec(log::Level::Info, "not at this level");
    assert!(wait(|| stat(&l, "ring_lines") == 2));
    let r = l.command(&["ring"]).unwrap().unwrap();
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines[0], "seq 2");
    assert!(
        lines[1..]
            .iter()
            .any(|x| x.contains("\"GET /one HTTP/1.1\"")),
        "{r}"
    );
    assert!(
        lines[1..]
            .iter()
            .any(|x| x.ends_with(" WARN fws::test: disk\\x0Anearly full")),
        "{r}"
    );
    assert_eq!(lines.len(), 3);
    // Polling: only what is new.
    assert_eq!(l.command(&["ring", "2"]).unwrap().unwrap(), "seq 2\n");
    log_req(&l, &mut w, "/two");
    assert!(wait(|| l
        .command(&["ring", "2"])
        .unwrap()
        .unwrap()
        .contains("/two")));
    let r = l.command(&["ring", "2"]).unwrap().unwrap();
    assert!(r.starts_with("seq 3\n") && r.lines().count() == 2, "{r}");
    for bad in [&["ring", "x"][..], &["ring", "-1"], &["ring", "1", "2"]] {
        let e = l.command(bad).unwrap().unwrap_err();
        assert!(e.starts_with("usage: ring"), "{e}");
    }
    assert_eq!(stat(&l, "written_error"), 1);
    assert_eq!(stat(&l, "written_access"), 2);
    // Wraps without growing: thousands of lines in 4 KiB.
    for i in 0..2000 {
        log_req(&l, &mut w, &format!("/n{i}"));
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(wait(|| l
        .command(&["ring"])
        .unwrap()
        .unwrap()
        .contains("/n1999 ")));
    let r = l.command(&["ring"]).unwrap().unwrap();
    assert!(r.len() < 4096 + 32);
    // No ring: the command says so.
    let l2 = logger("[logger]\naccess = \"off\"\n", 1);
    assert!(l2
        .command(&["ring"])
        .unwrap()
        .unwrap_err()
        .contains("no log target is the ring"));
}

#[test]
fn full_queue_drops_and_counts() {
    let l = logger("[logger]\naccess = \"ring\"\nqueue_size = \"4K\"\n", 1);
    let mut w = l.worker(0);
    // No writer yet: the queue fills, the rest is dropped.
    for i in 0..200 {
        log_req(&l, &mut w, &format!("/q{i}"));
    }
    let full = stat(&l, "dropped_queue_full");
    assert!(full > 100 && full < 200, "{full}");
    assert_eq!(stat(&l, "dropped"), full);
    l.spawn_writer();
    assert!(wait(|| stat(&l, "written_access") == 200 - full));
}

#[test]
fn disk_full_counts_drops() {
    let l = logger("[logger]\naccess = \"file:/dev/full\"\n", 1);
    l.spawn_writer();
    let mut w = l.worker(0);
    for i in 0..5 {
        log_req(&l, &mut w, &format!("/f{i}"));
    }
    assert!(wait(|| stat(&l, "dropped_disk_full") == 5));
    assert_eq!(stat(&l, "written_access"), 0);
    assert_eq!(stat(&l, "dropped"), 5);
}

#[test]
fn syslog_datagrams() {
    let t = Tmp::new("syslog");
    let sock_path = t.path("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let l = logger(
        &format!(
            "[logger]\naccess = \"syslog:local0:{}\"\n",
            sock_path.display()
        ),
        1,
    );
    l.spawn_writer();
    let mut w = l.worker(0);
    log_req(&l, &mut w, "/s");
    let mut buf = [0u8; 8192];
    let n = sock.recv(&mut buf).unwrap();
    let msg = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(msg.starts_with("<134>"), "{msg}");
    assert!(
        msg.ends_with(&format!(
            " firmware-server[{}]: 10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] \"GET /s HTTP/1.1\" 200 5 \"-\" \"ua\"",
            std::process::id()
        )),
        "{msg}"
    );
    // The daemon goes away: lines are dropped and counted; it comes back:
    // lines flow again.
    drop(sock);
    std::fs::remove_file(&sock_path).unwrap();
    log_req(&l, &mut w, "/lost");
    assert!(wait(|| stat(&l, "dropped_syslog") == 1));
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    log_req(&l, &mut w, "/back");
    let n = sock.recv(&mut buf).unwrap();
    assert!(std::str::from_utf8(&buf[..n])
        .unwrap()
        .contains("GET /back "));
}

#[test]
fn syslog_missing_socket_is_tolerated() {
    let l = logger(
        "[logger]\naccess = \"syslog:/nonexistent/fws-test.sock\"\n",
        1,
    );
    l.spawn_writer();
    let mut w = l.worker(0);
    log_req(&l, &mut w, "/x");
    assert!(wait(|| stat(&l, "dropped_syslog") == 1));
}

#[test]
fn error_log_levels_and_syslog_severity() {
    let t = Tmp::new("errsys");
    let sock_path = t.path("e.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let l = logger(
        &format!(
            "[logger]\nerror = \"syslog:{}\"\nerror_level = \"debug\"\n",
            sock_path.display()
        ),
        1,
    );
    // The access log is off: workers have no state, no records.
    assert!(l.worker(0).is_none());
    assert!(!l.wants_log());
    let sh = l.shared.clone().unwrap();
    let el = ErrorLog {
        shared: sh.clone(),
        level: sh.cfg.error_level,
    };
    l.spawn_writer();
    for (lvl, pri) in [
        (log::Level::Error, "<27>"),
        (log::Level::Warn, "<28>"),
        (log::Level::Info, "<30>"),
        (log::Level::Debug, "<31>"),
    ] {
        log::Log::log(
            &el,
            &log::Record::builder()
                .level(lvl)
                .target("t")
                .args(format_args!("m"))
                .build(),
        );
        let mut buf = [0u8; 4096];
        let n = sock.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(msg.starts_with(pri), "{msg}");
        assert!(msg.ends_with(&format!("]: {} t: m", lvl.as_str())), "{msg}");
    }
    // Trace is below the level.
    assert!(!log::Log::enabled(
        &el,
        &log::Metadata::builder().level(log::Level::Trace).build()
    ));
}

#[test]
fn config_text_round_trip() {
    let l = logger(
        "[logger]\naccess = \"ring\"\nformat = \"common\"\nring_size = \"2K\"\n",
        1,
    );
    let text = l.config_text();
    assert!(
        text.contains("[logger]\naccess = \"ring\"\nformat = \"common\"\nerror = \"stderr\"\n"),
        "{text}"
    );
    assert!(text.contains("ring_size = 2048\n"), "{text}");
}

/// Measures the cost of `logged` (format + queue push) with the writer
/// draining into the ring. `cargo test -p fws-logger --release -- --ignored --nocapture bench`
#[test]
#[ignore]
fn bench_logged() {
    let n = 1_000_000u32;
    let l = logger("[logger]\naccess = \"ring\"\nqueue_size = \"64K\"\n", 2);
    // Formatting alone.
    let c = conn();
    let rec = LogRecord {
        conn: &c,
        method: b"GET",
        target: b"/index.html?some=query&x=1",
        minor: 1,
        status: 200,
        bytes: 5,
        host: b"h",
        referer: b"http://example.com/page",
        user_agent: b"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        user: None,
        time: 971_186_136,
    };
    let mut buf = [0u8; MAX_LINE];
    let t0 = Instant::now();
    let mut total = 0;
    for _ in 0..n {
        total += format::access_line(
            &mut buf,
            format::Format::Combined,
            std::hint::black_box(&rec),
            &[b'x'; 26],
        );
    }
    println!("format only: {:?}/line ({total})", t0.elapsed() / n);
    // Format + push into a queue nobody drains (cleared every 64 lines).
    let q = Queue::new(65536);
    let mut spare = Vec::with_capacity(65536);
    let t0 = Instant::now();
    for i in 0..n {
        let k = format::access_line(&mut buf, format::Format::Combined, &rec, &[b'x'; 26]);
        q.push(&buf[..k]);
        if i % 64 == 0 {
            spare.clear();
            q.take(&mut spare);
        }
    }
    println!("format + push, uncontended: {:?}/line", t0.elapsed() / n);
    l.spawn_writer();
    let t0 = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|id| {
            let mut w = l.worker(id);
            let l = Logger {
                shared: l.shared.clone(),
            };
            std::thread::spawn(move || {
                for _ in 0..n {
                    log_req(&l, &mut w, "/index.html?some=query&x=1");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let el = t0.elapsed();
    println!(
        "{} lines in {el:?}: {:?}/line/thread; dropped: full {} busy {}",
        2 * n,
        el / n,
        stat(&l, "dropped_queue_full"),
        stat(&l, "dropped_busy")
    );
}

#[test]
fn drop_flushes_the_queues() {
    let t = Tmp::new("drop");
    let path = t.path("a.log");
    let l = logger(&format!("[logger]\naccess = \"{}\"\n", path.display()), 1);
    l.spawn_writer();
    let mut w = l.worker(0);
    for i in 0..100 {
        log_req(&l, &mut w, &format!("/d{i}"));
    }
    drop(w);
    drop(l);
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 100);
}
