//! `bin_path`: the server starts a FastCGI application itself and keeps it
//! running (as lighttpd's `bin-path`), which is how small devices run PHP.
//!
//! The server binds the backend's socket and hands it to the program as
//! its standard input (`FCGI_LISTENSOCK_FILENO`, the FastCGI convention:
//! `php-cgi` accepts on it). A supervisor thread, started in process
//! context by `Plugin::start` (never on a worker), restarts the program
//! when it exits, with a backoff from 1 s doubling to 30 s (reset after a
//! run of a minute or more). Spawning goes through `std::process::Command`
//! (no `pre_exec`): the environment is cleared but for `PATH` and the
//! configured `bin_env`.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Addr;

/// One supervised program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinPath {
    pub text: String,
    pub addr: Addr,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// `ADDR=PROGRAM [ARGS...]`.
pub fn parse(s: &str) -> Result<BinPath, String> {
    let Some((addr, cmd)) = s.split_once('=') else {
        return Err(format!("expected ADDR=PROGRAM [ARGS...], got {s:?}"));
    };
    let addr = crate::config::parse_addr(addr.trim())?;
    let mut words = cmd.split_whitespace();
    let Some(program) = words.next().map(PathBuf::from) else {
        return Err(format!("no program in {s:?}"));
    };
    if !program.is_absolute() {
        return Err(format!(
            "the program must be an absolute path, got {program:?}"
        ));
    }
    match std::fs::metadata(&program) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(format!("{}: not a regular file", program.display())),
        Err(e) => return Err(format!("{}: {e}", program.display())),
    }
    Ok(BinPath {
        text: s.to_string(),
        addr,
        program,
        args: words.map(str::to_string).collect(),
    })
}

/// Binds the listening socket the program inherits.
fn bind(addr: &Addr) -> std::io::Result<OwnedFd> {
    match addr {
        Addr::Unix(p) => {
            // A stale socket file from an earlier run would stop bind.
            if std::fs::symlink_metadata(p).is_ok_and(|m| {
                use std::os::unix::fs::FileTypeExt;
                m.file_type().is_socket()
            }) {
                let _ = std::fs::remove_file(p);
            }
            Ok(OwnedFd::from(UnixListener::bind(p)?))
        }
        Addr::Tcp(a) => Ok(OwnedFd::from(TcpListener::bind(a)?)),
    }
}

/// The supervisors of every `bin_path`.
#[derive(Default)]
pub struct Supervisor {
    stop: Arc<AtomicBool>,
    children: Arc<Mutex<Vec<Option<Child>>>>,
}

impl Supervisor {
    pub fn start(&self, bins: &[BinPath], env: &[(String, String)]) {
        if let Ok(mut c) = self.children.lock() {
            c.resize_with(bins.len(), || None);
        }
        for (i, b) in bins.iter().enumerate() {
            let b = b.clone();
            let env = env.to_vec();
            let stop = self.stop.clone();
            let children = self.children.clone();
            let spawned = std::thread::Builder::new()
                .name("fastcgi-bin".into())
                .spawn(move || supervise(i, &b, &env, &stop, &children));
            if let Err(e) = spawned {
                log::error!(
                    "fastcgi bin_path {}: no supervisor thread: {e}",
                    bins[i].text
                );
            }
        }
    }

    /// Stops supervising and kills the programs.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut list) = self.children.lock() {
            // SIGTERM first: php-cgi then ends its own children too.
            for c in list.iter_mut().flatten() {
                if let Some(pid) = rustix::process::Pid::from_raw(c.id() as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
                }
            }
            let until = Instant::now() + Duration::from_secs(2);
            for c in list.iter_mut().flatten() {
                while Instant::now() < until && matches!(c.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                if matches!(c.try_wait(), Ok(None)) {
                    let _ = c.kill();
                }
                let _ = c.wait();
            }
            list.iter_mut().for_each(|c| *c = None);
        }
    }
}

fn supervise(
    i: usize,
    b: &BinPath,
    env: &[(String, String)],
    stop: &AtomicBool,
    children: &Mutex<Vec<Option<Child>>>,
) {
    let mut backoff = Duration::from_secs(1);
    while !stop.load(Ordering::SeqCst) {
        let started = Instant::now();
        let spawned = bind(&b.addr).and_then(|sock| {
            let mut cmd = Command::new(&b.program);
            cmd.args(&b.args)
                .env_clear()
                .env("PATH", "/usr/local/bin:/usr/bin:/bin")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::from(sock))
                .stdout(Stdio::null())
                .stderr(Stdio::inherit());
            cmd.spawn()
        });
        match spawned {
            Ok(child) => {
                log::info!("fastcgi bin_path {}: started (pid {})", b.text, child.id());
                if let Ok(mut list) = children.lock() {
                    list[i] = Some(child);
                }
                // Wait for the exit, checking for a stop now and then.
                let status = loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let done = match children.lock() {
                        Ok(mut list) => match list[i].as_mut().map(Child::try_wait) {
                            Some(Ok(Some(st))) => Some(st.to_string()),
                            Some(Err(e)) => Some(e.to_string()),
                            None => return,
                            Some(Ok(None)) => None,
                        },
                        Err(_) => return,
                    };
                    if let Some(st) = done {
                        break st;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                };
                log::warn!("fastcgi bin_path {}: exited ({status})", b.text);
            }
            Err(e) => log::error!("fastcgi bin_path {}: cannot start: {e}", b.text),
        }
        if started.elapsed() >= Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        log::info!("fastcgi bin_path {}: restarting in {backoff:?}", b.text);
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(100));
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parse_table() {
        let b = super::parse("unix:/tmp/p.sock=/bin/sh -c true").unwrap();
        assert_eq!(b.args, vec!["-c", "true"]);
        for bad in [
            "/bin/sh",
            "unix:/x=",
            "unix:/x=sh",
            "unix:/x=/nonexistent/prog",
            "x=/bin/sh",
        ] {
            assert!(super::parse(bad).is_err(), "{bad}");
        }
    }
}
