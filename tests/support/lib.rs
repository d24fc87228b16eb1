//! Support library for the firmware-server black-box tests.
//!
//! Everything here talks to the real `firmware-server` binary over real
//! sockets: no engine code is linked in.
//!
//! Environment:
//! - `FWS_BIN`: path of the binary to test (otherwise it is built once per
//!   test process with `cargo build -p firmware-server`).
//! - `FWS_RUNNER`: command prefix used to run the binary, split on
//!   whitespace (e.g. `qemu-mips-static`). Timeouts are scaled up then.
//! - `FWS_TIMEOUT_SCALE`: explicit integer multiplier for all timeouts.

#![allow(clippy::new_without_default)]

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

/// Multiplier applied to every timeout (generous under emulation).
pub fn timeout_scale() -> u32 {
    static SCALE: OnceLock<u32> = OnceLock::new();
    *SCALE.get_or_init(|| {
        if let Some(s) = std::env::var("FWS_TIMEOUT_SCALE")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            return s.max(1);
        }
        if runner_prefix().is_empty() {
            1
        } else {
            4
        }
    })
}

/// `secs` seconds, multiplied by [`timeout_scale`].
pub fn scaled(secs: f64) -> Duration {
    Duration::from_secs_f64(secs * timeout_scale() as f64)
}

/// Default timeout for reading one response.
pub fn read_timeout() -> Duration {
    scaled(5.0)
}

/// How long to wait for the `listening on` line.
pub fn startup_timeout() -> Duration {
    if runner_prefix().is_empty() {
        Duration::from_secs(10).max(scaled(10.0))
    } else {
        Duration::from_secs(20).max(scaled(5.0))
    }
}

// ---------------------------------------------------------------------------
// Locating / building the binary
// ---------------------------------------------------------------------------

/// Root of the cargo workspace (parent of the `tests` package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests package has a parent directory")
        .to_path_buf()
}

/// The command prefix from `FWS_RUNNER` (empty when unset).
pub fn runner_prefix() -> Vec<String> {
    std::env::var("FWS_RUNNER")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Path of the firmware-server binary under test.
pub fn server_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("FWS_BIN") {
            let p = PathBuf::from(p);
            assert!(p.exists(), "FWS_BIN={} does not exist", p.display());
            return p;
        }
        build_server()
    })
}

fn build_server() -> PathBuf {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from(env!("CARGO")));
    let root = workspace_root();
    let out = Command::new(&cargo)
        .args([
            "build",
            "-p",
            "firmware-server",
            "--bin",
            "firmware-server",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cargo));
    if !out.status.success() {
        panic!(
            "`cargo build -p firmware-server` failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Prefer the path cargo reports; fall back to the conventional location.
    let stdout = String::from_utf8_lossy(&out.stdout);
    for line in stdout.lines() {
        if !line.contains("\"reason\":\"compiler-artifact\"") {
            continue;
        }
        if let Some(i) = line.find("\"executable\":\"") {
            let rest = &line[i + "\"executable\":\"".len()..];
            if let Some(end) = rest.find('"') {
                let exe = PathBuf::from(rest[..end].replace("\\\\", "\\"));
                if exe.file_name().is_some_and(|n| n == "firmware-server") && exe.exists() {
                    return exe;
                }
            }
        }
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) => {
            let t = PathBuf::from(t);
            if t.is_absolute() {
                t
            } else {
                root.join(t)
            }
        }
        None => root.join("target"),
    };
    let exe = target.join("debug").join("firmware-server");
    assert!(exe.exists(), "built binary not found at {}", exe.display());
    exe
}

/// A `Command` that runs the server binary (through `FWS_RUNNER` if set).
pub fn server_command() -> Command {
    let bin = server_bin();
    let prefix = runner_prefix();
    let mut cmd = if let Some((first, rest)) = prefix.split_first() {
        let mut c = Command::new(first);
        c.args(rest);
        c.arg(bin);
        c
    } else {
        Command::new(bin)
    };
    cmd.env_remove("RUST_LOG");
    cmd.stdin(Stdio::null());
    cmd
}

/// Result of running the binary to completion.
#[derive(Debug)]
pub struct RunResult {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl RunResult {
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Non-empty stderr lines.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect()
    }
}

/// Run the binary with `args`, expecting it to exit on its own within a
/// timeout (it is killed and the test fails otherwise).
pub fn run(args: &[&str]) -> RunResult {
    run_with_timeout(args, scaled(10.0))
}

pub fn run_with_timeout(args: &[&str], timeout: Duration) -> RunResult {
    let mut cmd = server_command();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn firmware-server");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || read_all(stdout));
    let err_t = thread::spawn(move || read_all(stderr));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let out = out_t.join().unwrap_or_default();
            let err = err_t.join().unwrap_or_default();
            panic!(
                "firmware-server {:?} did not exit within {:?}\nstdout:\n{}\nstderr:\n{}",
                args,
                timeout,
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&err)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    RunResult {
        status,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}

fn read_all(mut r: impl Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}

// ---------------------------------------------------------------------------
// Temporary directories
// ---------------------------------------------------------------------------

/// A unique directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let path = std::env::temp_dir().join(format!(
            "fws-blackbox-{}-{}-{}",
            std::process::id(),
            n,
            nanos
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    /// Write a file (creating parent directories); returns its path.
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        fs::write(&p, content).expect("write file");
        p
    }

    pub fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        fs::create_dir_all(&p).expect("mkdir");
        p
    }

    /// Create a symlink at `rel` pointing to `target` (used verbatim).
    pub fn symlink(&self, target: impl AsRef<Path>, rel: &str) -> PathBuf {
        let p = self.path.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::os::unix::fs::symlink(target.as_ref(), &p).expect("symlink");
        p
    }

    /// Set the modification time of `rel`.
    pub fn set_mtime(&self, rel: &str, t: SystemTime) {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(self.path.join(rel))
            .expect("open for set_mtime");
        f.set_modified(t).expect("set_modified");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Path as `String` (temp paths are always UTF-8 here).
pub fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// A test site: a temp dir `base` with the docroot at `base/www`.
/// Files outside the docroot (secrets, configs) live directly in `base`.
pub struct Site {
    pub dir: TempDir,
}

/// Content of the secret file placed beside every docroot.
pub const SECRET: &str = "TOP-SECRET-OUTSIDE-DOCROOT-7f3a9c";

impl Site {
    /// New site with an empty docroot and a secret file beside it.
    pub fn new() -> Site {
        let dir = TempDir::new();
        dir.mkdir("www");
        dir.write("secret.txt", SECRET);
        Site { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.join("www")
    }

    pub fn root_str(&self) -> String {
        path_str(&self.root())
    }

    pub fn base(&self) -> &Path {
        self.dir.path()
    }

    /// Write a file inside the docroot.
    pub fn file(&self, rel: &str, content: impl AsRef<[u8]>) -> &Site {
        self.dir.write(&format!("www/{rel}"), content);
        self
    }

    /// Create a directory inside the docroot.
    pub fn mkdir(&self, rel: &str) -> &Site {
        self.dir.mkdir(&format!("www/{rel}"));
        self
    }

    /// Write a file outside the docroot (relative to base).
    pub fn outside(&self, rel: &str, content: impl AsRef<[u8]>) -> PathBuf {
        self.dir.write(rel, content)
    }

    /// Write a config file into base; returns its path.
    pub fn config(&self, name: &str, text: &str) -> PathBuf {
        self.dir.write(name, text)
    }

    /// Start a server on this docroot with extra args.
    pub fn start_args(&self, extra: &[&str]) -> Server {
        let root = self.root_str();
        let mut args: Vec<&str> = vec!["--root", &root];
        args.extend_from_slice(extra);
        Server::start(&args)
    }

    pub fn start(&self) -> Server {
        self.start_args(&[])
    }

    /// Start a server on this docroot with the given config file text.
    pub fn start_with_config(&self, text: &str) -> Server {
        let cfg = path_str(&self.config("server.toml", text));
        self.start_args(&["--config", &cfg])
    }
}

// ---------------------------------------------------------------------------
// Server process
// ---------------------------------------------------------------------------

/// A running firmware-server process; killed and reaped on drop.
pub struct Server {
    child: Child,
    addrs: Vec<SocketAddr>,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    exit: Option<ExitStatus>,
}

impl Server {
    /// Start the server; adds `--listen 127.0.0.1:0` unless `args` has
    /// `--listen`. Panics (with the server's stderr) if it does not report
    /// that it listens.
    pub fn start(args: &[&str]) -> Server {
        match Server::try_start(args) {
            Ok(s) => s,
            Err(e) => panic!("server did not start: {e}"),
        }
    }

    pub fn try_start(args: &[&str]) -> Result<Server, String> {
        let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut listeners = full.iter().filter(|a| *a == "--listen").count();
        if listeners == 0 {
            full.push("--listen".into());
            full.push("127.0.0.1:0".into());
            listeners = 1;
        }
        Server::spawn(full, listeners, &[])
    }

    /// Like [`Server::start`], with extra environment variables.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if !full.iter().any(|a| a == "--listen") {
            full.push("--listen".into());
            full.push("127.0.0.1:0".into());
        }
        let n = full.iter().filter(|a| *a == "--listen").count();
        match Server::spawn(full, n, env) {
            Ok(s) => s,
            Err(e) => panic!("server did not start: {e}"),
        }
    }

    /// Start with exactly `args` (no `--listen` added), waiting for
    /// `listeners` `listening on` lines.
    pub fn start_raw(args: &[&str], listeners: usize) -> Server {
        let full: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match Server::spawn(full, listeners, &[]) {
            Ok(s) => s,
            Err(e) => panic!("server did not start: {e}"),
        }
    }

    fn spawn(full: Vec<String>, listeners: usize, env: &[(&str, &str)]) -> Result<Server, String> {
        let mut cmd = server_command();
        cmd.envs(env.iter().copied());
        cmd.args(&full)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", server_bin().display()))?;
        let stdout_pipe = child.stdout.take().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        {
            let stdout = stdout.clone();
            thread::spawn(move || {
                let mut r = BufReader::new(stdout_pipe);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            let l = line.trim_end().to_string();
                            stdout.lock().unwrap().push(l.clone());
                            let _ = tx.send(l);
                        }
                    }
                }
            });
        }
        let stderr_thread = {
            let stderr = stderr.clone();
            thread::spawn(move || {
                let mut r = stderr_pipe;
                let mut buf = [0u8; 4096];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => stderr.lock().unwrap().extend_from_slice(&buf[..n]),
                    }
                }
            })
        };
        let mut server = Server {
            child,
            addrs: Vec::new(),
            stdout,
            stderr,
            exit: None,
        };
        let deadline = Instant::now() + startup_timeout();
        while server.addrs.len() < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(addr) = parse_listening_line(&line) {
                        server.addrs.push(addr);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no `listening on` line within {:?} (args {:?})\n{}",
                        startup_timeout(),
                        full,
                        server.diagnostics()
                    ));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let st = server.wait_exit(Duration::from_secs(2));
                    if st.is_some() {
                        let _ = stderr_thread.join();
                    }
                    return Err(format!(
                        "server exited ({:?}) before listening (args {:?})\n{}",
                        st,
                        full,
                        server.diagnostics()
                    ));
                }
            }
        }
        Ok(server)
    }

    /// First listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    pub fn connect(&self) -> Conn {
        Conn::connect(self.addr())
    }

    /// Send one raw request on a fresh connection and read the response.
    pub fn request(&self, raw: &str) -> Response {
        let mut c = self.connect();
        c.request(raw)
    }

    /// `GET path` on a fresh connection.
    pub fn get(&self, path: &str) -> Response {
        self.request(&req("GET", path, &[]))
    }

    /// `GET path` with extra headers on a fresh connection.
    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.request(&req("GET", path, headers))
    }

    /// Lines the server printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn diagnostics(&self) -> String {
        let err = self.stderr_text();
        let tail: String = if err.len() > 4000 {
            err[err.len() - 4000..].to_string()
        } else {
            err
        };
        format!(
            "--- server stdout ---\n{}\n--- server stderr (tail) ---\n{}",
            self.stdout_lines().join("\n"),
            tail
        )
    }

    /// Send a signal (e.g. "TERM", "INT") with the `kill` command.
    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{sig} failed");
    }

    /// Wait for the process to exit; `None` on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.exit {
            return Some(st);
        }
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                self.exit = Some(st);
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
    }
}

/// Parse `listening on http://ADDR/` into a socket address.
pub fn parse_listening_line(line: &str) -> Option<SocketAddr> {
    let i = line.find("listening on http://")?;
    let rest = &line[i + "listening on http://".len()..];
    let end = rest.find('/')?;
    rest[..end].parse().ok()
}

// ---------------------------------------------------------------------------
// Raw HTTP client
// ---------------------------------------------------------------------------

/// Build a simple HTTP/1.1 request with `Host: localhost` and extra headers.
pub fn req(method: &str, target: &str, headers: &[(&str, &str)]) -> String {
    let mut s = format!("{method} {target} HTTP/1.1\r\nHost: localhost\r\n");
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s
}

/// A parsed HTTP response.
#[derive(Clone)]
pub struct Response {
    pub version: String,
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The raw head (status line + headers), for messages.
    pub raw_head: String,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = if self.body.len() > 300 {
            format!(
                "{}... ({} bytes)",
                String::from_utf8_lossy(&self.body[..300]),
                self.body.len()
            )
        } else {
            String::from_utf8_lossy(&self.body).into_owned()
        };
        write!(f, "{}\n[body: {:?}]", self.raw_head, body)
    }
}

impl Response {
    /// First value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header.
    pub fn headers_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// Header value, panicking with the response if absent.
    pub fn must_header(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("response has no {name} header:\n{self:?}"))
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    /// Media type of Content-Type without parameters, lower-cased.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type")
            .map(|v| v.split(';').next().unwrap().trim().to_ascii_lowercase())
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Does the Connection header contain `token`?
    pub fn connection_has(&self, token: &str) -> bool {
        self.headers_all("connection")
            .iter()
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Response {
        assert_eq!(
            self.status, status,
            "expected status {status}, got:\n{self:?}"
        );
        self
    }

    /// Status is as expected and the body equals `body` exactly, with a
    /// matching Content-Length.
    #[track_caller]
    pub fn assert_body(&self, status: u16, body: impl AsRef<[u8]>) -> &Response {
        self.assert_status(status);
        let body = body.as_ref();
        assert!(
            self.body == body,
            "body mismatch: expected {} bytes {:?}, got:\n{self:?}",
            body.len(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
        assert_eq!(
            self.content_length(),
            Some(body.len() as u64),
            "Content-Length mismatch:\n{self:?}"
        );
        self
    }
}

/// Why reading a response failed.
#[derive(Debug)]
pub enum ReadError {
    /// The peer closed (EOF or reset) before any byte of a response.
    Closed,
    /// Nothing (complete) arrived within the timeout.
    Timeout(Vec<u8>),
    /// Closed in the middle of a response.
    Truncated(Vec<u8>),
    /// Not parseable as an HTTP response.
    Malformed(String),
}

/// A client connection with its own read buffer (pipelining-safe).
pub struct Conn {
    pub stream: TcpStream,
    buf: VecDeque<u8>,
    eof: bool,
    timeout: Duration,
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, scaled(5.0))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Conn::from_stream(stream)
    }

    pub fn connect_to(addr: impl ToSocketAddrs) -> Conn {
        let a = addr.to_socket_addrs().unwrap().next().unwrap();
        Conn::connect(a)
    }

    pub fn from_stream(stream: TcpStream) -> Conn {
        stream.set_write_timeout(Some(scaled(5.0))).unwrap();
        stream.set_nodelay(true).ok();
        Conn {
            stream,
            buf: VecDeque::new(),
            eof: false,
            timeout: read_timeout(),
        }
    }

    /// Change the per-response read timeout.
    pub fn set_timeout(&mut self, t: Duration) {
        self.timeout = t;
    }

    /// Send raw bytes; panics on error.
    #[track_caller]
    pub fn send(&mut self, data: impl AsRef<[u8]>) {
        self.stream
            .write_all(data.as_ref())
            .unwrap_or_else(|e| panic!("send failed: {e}"));
    }

    /// Send raw bytes; the server may legitimately have closed already.
    pub fn try_send(&mut self, data: impl AsRef<[u8]>) -> io::Result<()> {
        self.stream.write_all(data.as_ref())
    }

    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Pull more bytes into the buffer before `deadline`.
    /// Ok(true): got data; Ok(false): EOF/reset; Err: timeout.
    fn fill(&mut self, deadline: Instant) -> Result<bool, ()> {
        if self.eof {
            return Ok(false);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(());
        }
        self.stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut tmp = [0u8; 65536];
        loop {
            match self.stream.read(&mut tmp) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.buf.extend(&tmp[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_reset(&e) => {
                    self.eof = true;
                    return Ok(false);
                }
                Err(e) if is_timeout(&e) => return Err(()),
                Err(e) => panic!("read error: {e}"),
            }
        }
    }

    fn buffered(&self) -> Vec<u8> {
        self.buf.iter().copied().collect()
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.buf.drain(..n).collect()
    }

    fn find_in_buf(&self, pat: &[u8]) -> Option<usize> {
        let (a, b) = self.buf.as_slices();
        if b.is_empty() {
            return find(a, pat);
        }
        find(&self.buffered(), pat)
    }

    /// Read one response (any status, including 1xx interim ones).
    /// `head_request`: the response has no body (answer to HEAD).
    pub fn try_read_response(&mut self, head_request: bool) -> Result<Response, ReadError> {
        let deadline = Instant::now() + self.timeout;
        // Head.
        let head_end = loop {
            if let Some(i) = self.find_in_buf(b"\r\n\r\n") {
                break i;
            }
            if self.buf.len() > 1 << 20 {
                return Err(ReadError::Malformed("response head over 1 MiB".into()));
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => {
                    return if self.buf.is_empty() {
                        Err(ReadError::Closed)
                    } else {
                        Err(ReadError::Truncated(self.buffered()))
                    };
                }
                Err(()) => return Err(ReadError::Timeout(self.buffered())),
            }
        };
        let head = self.take(head_end + 4);
        let head_text = String::from_utf8_lossy(&head[..head_end]).into_owned();
        let mut lines = head_text.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let status: u16 = match parts.next().and_then(|s| s.parse().ok()) {
            Some(s) if version.starts_with("HTTP/") => s,
            _ => {
                return Err(ReadError::Malformed(format!(
                    "bad status line {status_line:?}"
                )))
            }
        };
        let reason = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        for line in lines {
            match line.split_once(':') {
                Some((k, v)) => headers.push((k.to_string(), v.trim().to_string())),
                None => return Err(ReadError::Malformed(format!("bad header line {line:?}"))),
            }
        }
        let mut resp = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            raw_head: head_text,
        };
        let no_body =
            head_request || (100..200).contains(&status) || status == 204 || status == 304;
        if no_body {
            return Ok(resp);
        }
        let chunked = resp
            .header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
        if chunked {
            resp.body = self.read_chunked(deadline)?;
        } else if let Some(cl) = resp.header("content-length") {
            let n: usize = cl
                .trim()
                .parse()
                .map_err(|_| ReadError::Malformed(format!("bad Content-Length {cl:?}")))?;
            while self.buf.len() < n {
                match self.fill(deadline) {
                    Ok(true) => {}
                    Ok(false) => return Err(ReadError::Truncated(self.buffered())),
                    Err(()) => return Err(ReadError::Timeout(self.buffered())),
                }
            }
            resp.body = self.take(n);
        } else {
            // Body until close.
            loop {
                match self.fill(deadline) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(()) => return Err(ReadError::Timeout(self.buffered())),
                }
            }
            let n = self.buf.len();
            resp.body = self.take(n);
        }
        Ok(resp)
    }

    fn read_line(&mut self, deadline: Instant) -> Result<String, ReadError> {
        loop {
            if let Some(i) = self.find_in_buf(b"\r\n") {
                let l = self.take(i + 2);
                return Ok(String::from_utf8_lossy(&l[..i]).into_owned());
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Err(ReadError::Truncated(self.buffered())),
                Err(()) => return Err(ReadError::Timeout(self.buffered())),
            }
        }
    }

    fn read_chunked(&mut self, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        let mut body = Vec::new();
        loop {
            let line = self.read_line(deadline)?;
            let size_s = line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_s, 16)
                .map_err(|_| ReadError::Malformed(format!("bad chunk size {line:?}")))?;
            if size == 0 {
                // Trailers until empty line.
                loop {
                    if self.read_line(deadline)?.is_empty() {
                        return Ok(body);
                    }
                }
            }
            while self.buf.len() < size + 2 {
                match self.fill(deadline) {
                    Ok(true) => {}
                    Ok(false) => return Err(ReadError::Truncated(self.buffered())),
                    Err(()) => return Err(ReadError::Timeout(self.buffered())),
                }
            }
            body.extend(self.take(size));
            self.take(2);
        }
    }

    /// Read one response (GET-like), panicking on failure.
    #[track_caller]
    pub fn read_response(&mut self) -> Response {
        match self.try_read_response(false) {
            Ok(r) => r,
            Err(e) => panic!("reading response failed: {}", describe(&e)),
        }
    }

    /// Read one response to a HEAD request (no body), panicking on failure.
    #[track_caller]
    pub fn read_head_response(&mut self) -> Response {
        match self.try_read_response(true) {
            Ok(r) => r,
            Err(e) => panic!("reading HEAD response failed: {}", describe(&e)),
        }
    }

    /// Read the next non-1xx response.
    #[track_caller]
    pub fn read_final_response(&mut self) -> Response {
        loop {
            let r = self.read_response();
            if r.status >= 200 {
                return r;
            }
        }
    }

    /// Send `raw` and read its response (HEAD detected from the method).
    #[track_caller]
    pub fn request(&mut self, raw: &str) -> Response {
        self.send(raw.as_bytes());
        if raw.starts_with("HEAD ") {
            self.read_head_response()
        } else {
            self.read_response()
        }
    }

    /// Send raw bytes tolerating a server that closes early, then read one
    /// response.
    #[track_caller]
    pub fn request_bytes(&mut self, raw: &[u8]) -> Response {
        let _ = self.try_send(raw);
        self.read_response()
    }

    /// Assert the server closes the connection (EOF or reset) within the
    /// default timeout, without sending anything more.
    #[track_caller]
    pub fn expect_closed(&mut self) {
        self.expect_closed_within(scaled(3.0));
    }

    #[track_caller]
    pub fn expect_closed_within(&mut self, t: Duration) {
        let deadline = Instant::now() + t;
        loop {
            if !self.buf.is_empty() {
                panic!(
                    "expected the server to close the connection, but it sent more: {:?}",
                    String::from_utf8_lossy(&self.buffered())
                );
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return,
                Err(()) => panic!("server did not close the connection within {t:?}"),
            }
        }
    }

    /// Is the connection closed (EOF/reset) within `t`, with nothing sent?
    /// Returns Err(data) if data arrived instead.
    pub fn closed_within(&mut self, t: Duration) -> Result<bool, Vec<u8>> {
        let deadline = Instant::now() + t;
        loop {
            if !self.buf.is_empty() {
                return Err(self.buffered());
            }
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => return Ok(true),
                Err(()) => return Ok(false),
            }
        }
    }

    /// Read everything until EOF (or timeout); returns the bytes.
    pub fn read_to_end(&mut self, t: Duration) -> (Vec<u8>, bool) {
        let deadline = Instant::now() + t;
        loop {
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => {
                    let n = self.buf.len();
                    return (self.take(n), true);
                }
                Err(()) => {
                    let n = self.buf.len();
                    return (self.take(n), false);
                }
            }
        }
    }

    /// Read exactly `n` raw bytes (from buffer and socket).
    #[track_caller]
    pub fn read_exact_raw(&mut self, n: usize, t: Duration) -> Vec<u8> {
        let deadline = Instant::now() + t;
        while self.buf.len() < n {
            match self.fill(deadline) {
                Ok(true) => {}
                Ok(false) => panic!("connection closed after {} of {n} bytes", self.buf.len()),
                Err(()) => panic!("timeout after {} of {n} bytes", self.buf.len()),
            }
        }
        self.take(n)
    }

    /// Read a response head only (for streaming large bodies); the body is
    /// left unread on the connection.
    #[track_caller]
    pub fn read_head_only(&mut self) -> Response {
        let deadline = Instant::now() + self.timeout;
        let end = loop {
            if let Some(i) = self.find_in_buf(b"\r\n\r\n") {
                break i;
            }
            match self.fill(deadline) {
                Ok(true) => {}
                _ => panic!(
                    "no response head: {:?}",
                    String::from_utf8_lossy(&self.buffered())
                ),
            }
        };
        let head = self.take(end + 4);
        // Re-parse through a tiny in-memory Conn-free path.
        let text = String::from_utf8_lossy(&head[..end]).into_owned();
        let mut lines = text.split("\r\n");
        let sl = lines.next().unwrap_or("");
        let mut p = sl.splitn(3, ' ');
        let version = p.next().unwrap_or("").to_string();
        let status = p.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let reason = p.next().unwrap_or("").to_string();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            raw_head: text,
        }
    }

    /// Stream `n` body bytes to `f` (buffered bytes first, then straight
    /// from the socket). Returns how many bytes arrived before EOF/timeout.
    pub fn stream_body(&mut self, n: u64, t: Duration, mut f: impl FnMut(&[u8])) -> u64 {
        let mut got: u64 = 0;
        let take = (self.buf.len() as u64).min(n) as usize;
        if take > 0 {
            let head: Vec<u8> = self.buf.drain(..take).collect();
            f(&head);
            got += take as u64;
        }
        let deadline = Instant::now() + t;
        let mut tmp = vec![0u8; 256 * 1024];
        while got < n && !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let want = ((n - got) as usize).min(tmp.len());
            match self.stream.read(&mut tmp[..want]) {
                Ok(0) => self.eof = true,
                Ok(k) => {
                    f(&tmp[..k]);
                    got += k as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_reset(&e) => self.eof = true,
                Err(_) => break,
            }
        }
        got
    }

    /// Bytes already buffered but not consumed.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Human-readable description of a read failure.
pub fn describe(e: &ReadError) -> String {
    match e {
        ReadError::Closed => "connection closed before any response byte".into(),
        ReadError::Timeout(d) => format!(
            "timed out; received so far: {:?}",
            String::from_utf8_lossy(d)
        ),
        ReadError::Truncated(d) => format!(
            "connection closed mid-response; received: {:?}",
            String::from_utf8_lossy(d)
        ),
        ReadError::Malformed(m) => format!("malformed response: {m}"),
    }
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    find(hay, needle).is_some()
}

// ---------------------------------------------------------------------------
// Data helpers
// ---------------------------------------------------------------------------

/// Deterministic pseudo-random bytes of length `n`.
pub fn pattern(n: usize, seed: u32) -> Vec<u8> {
    let mut x: u32 = seed.wrapping_mul(2654435761).wrapping_add(12345) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

/// CRC-32 (IEEE), for building gzip files.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xedb8_8320 & mask);
        }
    }
    !crc
}

/// A valid gzip file holding `data` in stored (uncompressed) deflate blocks.
pub fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65535).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(c) = chunks.next() {
        let last = chunks.peek().is_none();
        out.push(if last { 1 } else { 0 });
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

// ---------------------------------------------------------------------------
// HTTP dates (IMF-fixdate)
// ---------------------------------------------------------------------------

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A UTC time from its parts.
pub fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> SystemTime {
    let secs = days_from_civil(y, mo, d) * 86400 + (h * 3600 + mi * 60 + s) as i64;
    UNIX_EPOCH + Duration::from_secs(secs as u64)
}

/// Format as IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parse an IMF-fixdate; `None` if it is not exactly that format.
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 29 || &s[3..5] != ", " || &s[25..] != " GMT" {
        return None;
    }
    let day: u32 = s[5..7].parse().ok()?;
    let mon = MONTHS.iter().position(|m| *m == &s[8..11])? as u32 + 1;
    if b[7] != b' ' || b[11] != b' ' || b[16] != b' ' || b[19] != b':' || b[22] != b':' {
        return None;
    }
    let year: i64 = s[12..16].parse().ok()?;
    let h: u32 = s[17..19].parse().ok()?;
    let mi: u32 = s[20..22].parse().ok()?;
    let sec: u32 = s[23..25].parse().ok()?;
    if !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let t = utc(year, mon, day, h, mi, sec);
    // The weekday must be consistent.
    if http_date(t) != s {
        return None;
    }
    Some(t)
}

// ---------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------

/// Run the real `curl` with `args` (a `--max-time` is added). Panics with a
/// clear message when curl is not installed: CI installs it.
pub fn curl(args: &[&str]) -> Output {
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--max-time"])
        .arg(format!("{}", scaled(10.0).as_secs().max(1)))
        .args(args)
        .stdin(Stdio::null());
    match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
            "the `curl` command is required by the black-box suite but was not found in PATH; \
             install curl (CI does)"
        ),
        Err(e) => panic!("running curl failed: {e}"),
    }
}

// ---------------------------------------------------------------------------
// Misc
// ---------------------------------------------------------------------------

/// Collects several independent check failures so one test reports all of
/// them at once.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    pub fn new() -> Failures {
        Failures(Vec::new())
    }

    pub fn push(&mut self, msg: impl Into<String>) {
        self.0.push(msg.into());
    }

    pub fn check<T>(&mut self, r: Result<T, String>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    #[track_caller]
    pub fn finish(self) {
        if !self.0.is_empty() {
            panic!(
                "{} check(s) failed:\n\n{}",
                self.0.len(),
                self.0.join("\n\n")
            );
        }
    }
}

/// Poll `f` until it returns `Some` or the timeout passes.
pub fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(25));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_date_roundtrip() {
        let t = utc(1994, 11, 6, 8, 49, 37);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), None);
        assert_eq!(
            http_date(utc(2021, 3, 4, 5, 6, 7)),
            "Thu, 04 Mar 2021 05:06:07 GMT"
        );
    }

    #[test]
    fn crc32_known() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn listening_line() {
        assert_eq!(
            parse_listening_line("listening on http://127.0.0.1:8080/"),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(
            parse_listening_line("listening on http://[::1]:80/"),
            Some("[::1]:80".parse().unwrap())
        );
    }
}
