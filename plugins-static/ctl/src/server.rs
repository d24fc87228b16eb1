//! The control socket server: a thread of its own running a small
//! single-threaded `async-executor` on `async-io`'s reactor, never on the
//! request path.
//!
//! Contract: every connection is bounded (one request frame of at most
//! [`MAX_REQUEST`] bytes at a time, `timeout` to deliver it, at most
//! `max_clients` connections at once; more are told "busy" and closed). A
//! malformed or oversized frame gets an error reply and the connection is
//! closed; the server keeps running. The handlers call [`Control`], whose
//! `connections()` may wait up to about half a second for the workers: the
//! other control clients wait meanwhile, the HTTP workers do not.

use std::cell::Cell;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};

use fws_api::plugin::Control;

use crate::config::CtlConfig;
use crate::proto::{
    decode_command, encode_answer, frame_len, Answer, Command, Connection, StatusReply,
    WorkerReply, MAX_REQUEST,
};
use crate::ring;

/// Binds the socket: a stale socket file is removed; a live one (another
/// server answers) or a file that is not a socket is refused. The socket is
/// made mode 0600.
pub fn bind(path: &Path) -> Result<UnixListener, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(md) if md.file_type().is_socket() => match UnixStream::connect(path) {
            Ok(_) => return Err(format!("another server answers on {shown}")),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound
                ) =>
            {
                std::fs::remove_file(path)
                    .map_err(|e| format!("cannot remove the stale socket {shown}: {e}"))?;
                log::info!("ctl: removed the stale socket {shown}");
            }
            Err(e) => return Err(format!("cannot check the existing socket {shown}: {e}")),
        },
        Ok(_) => return Err(format!("{shown} exists and is not a socket")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot check {shown}: {e}")),
    }
    let l = UnixListener::bind(path).map_err(|e| format!("cannot bind {shown}: {e}"))?;
    // Connecting needs write permission on the socket file, which a usual
    // umask (022) already withholds from others; 0600 makes it the owner's only.
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        let _ = std::fs::remove_file(path);
        return Err(format!("cannot make {shown} mode 0600: {e}"));
    }
    Ok(l)
}

/// Serves the socket on the calling thread, forever.
pub fn serve(listener: UnixListener, ctl: Arc<dyn Control>, cfg: CtlConfig) {
    let ex = LocalExecutor::new();
    let listener = match Async::new(listener) {
        Ok(l) => l,
        Err(e) => {
            log::error!("ctl: cannot register the control socket: {e}");
            return;
        }
    };
    future::block_on(ex.run(accept_loop(&ex, listener, ctl, cfg)));
}

async fn accept_loop(
    ex: &LocalExecutor<'_>,
    listener: Async<UnixListener>,
    ctl: Arc<dyn Control>,
    cfg: CtlConfig,
) {
    let active = Rc::new(Cell::new(0usize));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: do not spin.
                log::warn!("ctl: accept: {e}");
                Timer::after(Duration::from_millis(200)).await;
                continue;
            }
        };
        if active.get() >= cfg.max_clients {
            let busy = encode_answer(&Answer::Error(format!(
                "busy: {} control clients are connected (max_clients = {})",
                active.get(),
                cfg.max_clients
            )));
            // Non-blocking; a small frame fits the socket buffer.
            let _ = stream.get_ref().write(&busy);
            continue;
        }
        active.set(active.get() + 1);
        let active = active.clone();
        let ctl = ctl.clone();
        let timeout = cfg.timeout;
        ex.spawn(async move {
            serve_conn(stream, &*ctl, timeout).await;
            active.set(active.get().saturating_sub(1));
        })
        .detach();
    }
}

/// `fut`, or `None` once `t` passed.
async fn timed<T>(t: Duration, fut: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(fut.await) }, async {
        Timer::after(t).await;
        None
    })
    .await
}

async fn serve_conn(mut s: Async<UnixStream>, ctl: &dyn Control, timeout: Duration) {
    loop {
        let mut prefix = [0u8; 4];
        match timed(timeout, s.read_exact(&mut prefix)).await {
            Some(Ok(())) => {}
            // EOF, error, or an idle client: drop it.
            _ => return,
        }
        let n = match frame_len(prefix, MAX_REQUEST) {
            Ok(n) => n,
            Err(m) => {
                let _ = timed(timeout, s.write_all(&encode_answer(&Answer::Error(m)))).await;
                return;
            }
        };
        let mut payload = vec![0u8; n];
        match timed(timeout, s.read_exact(&mut payload)).await {
            Some(Ok(())) => {}
            _ => return,
        }
        let (answer, keep) = match decode_command(&payload) {
            Ok(cmd) => (handle(cmd, ctl), true),
            Err(m) => (Answer::Error(m), false),
        };
        match timed(timeout, s.write_all(&encode_answer(&answer))).await {
            Some(Ok(())) => {}
            _ => return,
        }
        if !keep {
            return;
        }
    }
}

/// Runs one command.
pub fn handle(cmd: Command, ctl: &dyn Control) -> Answer {
    match cmd {
        Command::Status => {
            let s = ctl.stats();
            Answer::Status(StatusReply {
                version: s.version,
                uptime_secs: s.uptime_secs,
                features: ctl.features().iter().map(|f| f.to_string()).collect(),
                refused: s.refused,
                workers: s
                    .workers
                    .iter()
                    .map(|w| WorkerReply {
                        live: w.live,
                        capacity: w.capacity,
                        requests: w.requests,
                        bytes: w.bytes,
                        errors: w.errors,
                    })
                    .collect(),
                logger: ctl.plugin_command("logger", &["stats"]),
            })
        }
        Command::Connections => Answer::Connections(
            ctl.connections()
                .into_iter()
                .map(|c| Connection {
                    worker: u32::try_from(c.worker).unwrap_or(u32::MAX),
                    peer: c.peer.to_string(),
                    local: c.local.to_string(),
                    state: c.state.to_string(),
                    requests: c.requests,
                    secure: c.secure,
                })
                .collect(),
        ),
        Command::Config => Answer::Config(ctl.config_text()),
        Command::Log { after } => {
            let seq = after.to_string();
            let mut reply = ctl.plugin_command("logger", &["ring", &seq]);
            if let Some(Ok(text)) = &reply {
                // The newest sequence number went backwards: the ring was
                // restarted; read it from the start.
                if ring::parse(text, after).is_ok_and(|c| c.next < after) {
                    reply = ctl.plugin_command("logger", &["ring", "0"]);
                }
            }
            match reply {
                Some(Ok(text)) => match ring::parse(&text, after) {
                    Ok(chunk) => Answer::Log(chunk),
                    Err(m) => Answer::Error(format!("cannot read the logger's ring reply: {m}")),
                },
                Some(Err(m)) => Answer::Error(format!("log: {m}")),
                None if ctl.features().contains(&"logger") => Answer::Error(
                    "log: the logger plugin does not offer a RAM ring (`ring` command)".into(),
                ),
                None => Answer::Error(
                    "log: this server was built without the logger plugin, which keeps the RAM ring"
                        .into(),
                ),
            }
        }
        Command::Plugin { name, args } => {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            match ctl.plugin_command(&name, &args) {
                Some(Ok(m)) => Answer::Done(m.trim_end().to_string()),
                Some(Err(m)) => Answer::Error(format!("{name}: {m}")),
                None if ctl.features().contains(&name.as_str()) => Answer::Error(format!(
                    "{name}: command not understood: {}",
                    args.join(" ")
                )),
                None => Answer::Error(format!("this server was built without the {name} plugin")),
            }
        }
        Command::ReopenLogs => {
            let r = ctl.plugin_command("logger", &["reopen"]);
            ctl.reload();
            match r {
                Some(Ok(m)) if m.trim().is_empty() => {
                    Answer::Done("log files reopened; plugins reloaded".into())
                }
                Some(Ok(m)) => Answer::Done(format!("logger: {}; plugins reloaded", m.trim())),
                Some(Err(m)) if m.contains("not configured") => Answer::Done(format!(
                    "the logger plugin has no log files ({m}); plugins reloaded"
                )),
                Some(Err(m)) => Answer::Error(format!("reopen-logs: {m}")),
                None => Answer::Done("no logger plugin in this build; plugins reloaded".into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{decode_answer, encode_command, LogChunk};
    use fws_api::plugin::{ConnSummary, Stats, WorkerStats};
    use std::io::Read;
    use std::sync::Mutex;

    /// A server without workers; `logger` answers its commands from a script.
    struct Fake {
        logger: bool,
        ring_seq: Mutex<u64>,
        reloads: Mutex<u32>,
    }

    impl Control for Fake {
        fn stats(&self) -> Stats {
            Stats {
                version: "9.9".into(),
                uptime_secs: 7,
                refused: 1,
                workers: vec![WorkerStats {
                    live: 1,
                    capacity: 8,
                    requests: 3,
                    bytes: 30,
                    errors: 1,
                }],
            }
        }
        fn config_text(&self) -> String {
            "[server]\n".into()
        }
        fn plugin_command(&self, plugin: &str, args: &[&str]) -> Option<Result<String, String>> {
            if plugin != "logger" || !self.logger {
                return None;
            }
            match args {
                ["stats"] => Some(Ok("written_access 3\ndropped 2\n".into())),
                ["reopen"] => Some(Ok("reopened 1\n".into())),
                ["ring", seq] => {
                    let now = *self.ring_seq.lock().unwrap();
                    let after: u64 = seq.parse().unwrap();
                    let lines: String = (after + 1..=now).map(|i| format!("line {i}\n")).collect();
                    Some(Ok(format!("seq {now}\n{lines}")))
                }
                _ => None,
            }
        }
        fn features(&self) -> Vec<&'static str> {
            if self.logger {
                vec!["logger", "ctl"]
            } else {
                vec!["ctl"]
            }
        }
        fn connections(&self) -> Vec<ConnSummary> {
            vec![ConnSummary {
                worker: 0,
                peer: "127.0.0.1:9".parse().unwrap(),
                local: "127.0.0.1:80".parse().unwrap(),
                state: "idle",
                requests: 2,
                secure: false,
            }]
        }
        fn reload(&self) {
            *self.reloads.lock().unwrap() += 1;
        }
    }

    fn fake(logger: bool) -> Fake {
        Fake {
            logger,
            ring_seq: Mutex::new(3),
            reloads: Mutex::new(0),
        }
    }

    #[test]
    fn commands() {
        let f = fake(true);
        match handle(Command::Status, &f) {
            Answer::Status(s) => {
                assert_eq!(
                    (s.version.as_str(), s.uptime_secs, s.refused),
                    ("9.9", 7, 1)
                );
                assert_eq!(s.workers[0].requests, 3);
                assert_eq!(s.features, ["logger", "ctl"]);
                assert!(matches!(s.logger, Some(Ok(t)) if t.contains("dropped 2")));
            }
            a => panic!("{a:?}"),
        }
        match handle(Command::Connections, &f) {
            Answer::Connections(c) => assert_eq!(c[0].peer, "127.0.0.1:9"),
            a => panic!("{a:?}"),
        }
        assert_eq!(
            handle(Command::Config, &f),
            Answer::Config("[server]\n".into())
        );
        assert_eq!(
            handle(Command::Log { after: 1 }, &f),
            Answer::Log(LogChunk {
                next: 3,
                lines: vec!["line 2".into(), "line 3".into()],
                missed: 0
            })
        );
        // The ring restarted (newest 3 < asked 10): read from the start.
        match handle(Command::Log { after: 10 }, &f) {
            Answer::Log(c) => assert_eq!((c.next, c.lines.len()), (3, 3)),
            a => panic!("{a:?}"),
        }
        match handle(Command::ReopenLogs, &f) {
            Answer::Done(m) => assert!(m.contains("reopened 1"), "{m}"),
            a => panic!("{a:?}"),
        }
        assert_eq!(*f.reloads.lock().unwrap(), 1);

        let f = fake(false);
        match handle(Command::Status, &f) {
            Answer::Status(s) => assert_eq!(s.logger, None),
            a => panic!("{a:?}"),
        }
        match handle(Command::Log { after: 0 }, &f) {
            Answer::Error(m) => assert!(m.contains("without the logger plugin"), "{m}"),
            a => panic!("{a:?}"),
        }
        match handle(Command::ReopenLogs, &f) {
            Answer::Done(m) => assert!(m.contains("no logger plugin"), "{m}"),
            a => panic!("{a:?}"),
        }
        assert_eq!(*f.reloads.lock().unwrap(), 1);
    }

    fn roundtrip(s: &mut UnixStream, frame: &[u8]) -> Option<Answer> {
        let _ = s.write_all(frame);
        let mut p = [0u8; 4];
        s.read_exact(&mut p).ok()?;
        let mut buf = vec![0u8; u32::from_be_bytes(p) as usize];
        s.read_exact(&mut buf).ok()?;
        decode_answer(&buf).ok()
    }

    #[test]
    fn serves_a_socket() {
        let dir = std::env::temp_dir().join(format!("fws-ctl-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("s.sock");
        // A stale regular socket file is replaced.
        drop(UnixListener::bind(&path).unwrap());
        let l = bind(&path).unwrap();
        assert!(bind(&path).unwrap_err().contains("another server answers"));
        let cfg = CtlConfig {
            socket: path.clone(),
            max_clients: 2,
            timeout: Duration::from_millis(300),
        };
        std::thread::spawn(move || serve(l, Arc::new(fake(true)), cfg));

        let mut a = UnixStream::connect(&path).unwrap();
        a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // Several requests on one connection.
        for _ in 0..3 {
            let r = roundtrip(&mut a, &encode_command(&Command::Config));
            assert_eq!(r, Some(Answer::Config("[server]\n".into())));
        }
        // Garbage: an error, then the connection is closed.
        let r = roundtrip(&mut a, &[0, 0, 0, 1, 0xff]);
        assert!(matches!(r, Some(Answer::Error(m)) if m.contains("malformed")));
        let mut rest = Vec::new();
        assert_eq!(a.read_to_end(&mut rest).unwrap_or(0), 0);

        // Too large.
        let mut b = UnixStream::connect(&path).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = roundtrip(&mut b, &[0, 1, 0, 1]);
        assert!(matches!(r, Some(Answer::Error(m)) if m.contains("too large")));
        assert_eq!(b.read_to_end(&mut rest).unwrap_or(0), 0);
        // Let the server's tasks for a and b finish.
        std::thread::sleep(Duration::from_millis(50));

        // Silent clients are dropped after the timeout; a third one while
        // two are connected is told it is busy.
        let mut c = UnixStream::connect(&path).unwrap();
        let mut d = UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        d.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        let mut e = UnixStream::connect(&path).unwrap();
        e.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let r = roundtrip(&mut e, &encode_command(&Command::Status));
        assert!(
            matches!(&r, Some(Answer::Error(m)) if m.contains("busy")),
            "{r:?}"
        );
        let t = std::time::Instant::now();
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
        assert_eq!(d.read(&mut buf).unwrap_or(0), 0);
        assert!(t.elapsed() < Duration::from_secs(2));
        // And the server still answers.
        let mut f = UnixStream::connect(&path).unwrap();
        f.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(matches!(
            roundtrip(&mut f, &encode_command(&Command::Status)),
            Some(Answer::Status(_))
        ));
        let md = std::fs::metadata(&path).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn refuses_a_file_that_is_not_a_socket() {
        let path = std::env::temp_dir().join(format!("fws-ctl-unit-file-{}", std::process::id()));
        std::fs::write(&path, "x").unwrap();
        assert!(bind(&path).unwrap_err().contains("is not a socket"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "x");
        let _ = std::fs::remove_file(&path);
    }
}
