//! CGI/1.1 (RFC 3875) for firmware-server.
//!
//! Files under the configured URL prefixes are executed; files whose
//! extension has an interpreter (`.php=/usr/bin/php-cgi`) are run through
//! it anywhere in the docroot. The script runs in its own process group
//! with a clean environment (the meta-variables from an allow-list, a fixed
//! `PATH`, nothing from the server's own environment), its directory as
//! the working directory, and optionally as another user. Its stdin,
//! stdout and stderr are non-blocking sockets registered in the worker's
//! poller: the request body streams in and the response streams out, both
//! with backpressure, and no worker ever waits for a script.
//!
//! ```toml
//! [cgi]
//! prefix = ["/cgi-bin"]                      # or --cgi /cgi-bin
//! interpreter = [".php=/usr/bin/php-cgi"]    # or --cgi-interpreter .php=/usr/bin/php-cgi
//! path = "/usr/sbin:/usr/bin:/sbin:/bin"     # the scripts' PATH
//! max_processes = 16                         # beyond: 503 + Retry-After
//! first_byte_timeout = 30                    # 504, process group killed
//! idle_timeout = 60                          # 504 (or connection closed)
//! user = "nobody"                            # optional (server started as root)
//! group = "nogroup"
//! nph = true                                 # nph-* scripts write the whole response
//! offload_dirs = ["/srv/files"]              # X-Sendfile / X-ZeroCopy may use these
//! zerocopy_buffer = 65536                    # X-ZeroCopy body buffered for a Content-Length
//! env = ["GIT_PROJECT_ROOT=/srv/git"]        # fixed variables (no LD_*, no PATH)
//!
//! [[cgi]]                                    # more prefixes for one virtual host
//! vhost = "router.lan"
//! prefix = "/admin/cgi"
//! ```
#![forbid(unsafe_code)]

mod config;
mod stream;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fws_api::gateway::{self, Conditions, ScriptInfo};
use fws_api::http::error::HttpError;
use fws_api::http::request::Framing;
use fws_api::http::response::Status;
use fws_api::plugin::{Content, Env, Exchange, Plugin, Reply, Section};

pub use config::Conf;

/// What every worker's streams share.
pub(crate) struct Shared {
    pub conf: Conf,
    /// Live CGI processes (spawned and not yet reaped), all workers.
    pub live: AtomicUsize,
    /// Children whose stream ended before they exited.
    pub reaper: Mutex<Vec<Orphan>>,
    /// Opened once; each bodiless request's stdin is a dup of it.
    pub devnull: std::fs::File,
}

/// A child the server still has to reap.
pub(crate) struct Orphan {
    pub child: Child,
    /// When its process group is killed if it is still running.
    pub kill_at: Instant,
    pub killed: bool,
}

impl Shared {
    /// Reaps every orphan that exited; kills the groups of those past
    /// their time. Never blocks.
    pub fn reap(&self, now: Instant) {
        let Ok(mut list) = self.reaper.try_lock() else {
            return; // another worker is at it
        };
        list.retain_mut(|o| match o.child.try_wait() {
            Ok(None) => {
                if !o.killed && now >= o.kill_at {
                    stream::kill_group(&o.child);
                    o.killed = true;
                }
                true
            }
            Ok(Some(_)) | Err(_) => {
                self.live.fetch_sub(1, Ordering::AcqRel);
                false
            }
        });
    }

    pub fn adopt(&self, child: Child, kill_at: Instant, killed: bool) {
        let orphan = Orphan {
            child,
            kill_at,
            killed,
        };
        match self.reaper.lock() {
            Ok(mut l) => l.push(orphan),
            Err(p) => p.into_inner().push(orphan),
        }
    }
}

/// A docroot: canonical path as bytes.
struct Root {
    path: PathBuf,
}

pub struct Cgi {
    shared: Arc<Shared>,
    roots: Vec<Root>,
}

/// The script a request names.
struct Script {
    file: PathBuf,
    /// URL path of the script, with a leading `/`.
    name: Vec<u8>,
    path_info: Vec<u8>,
    interpreter: Option<PathBuf>,
    nph: bool,
}

fn has_ext(seg: &[u8], ext: &str) -> bool {
    match seg.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => seg[i + 1..].eq_ignore_ascii_case(ext.as_bytes()),
        _ => false,
    }
}

impl Cgi {
    fn interpreter_for(&self, vhost: usize, seg: &[u8]) -> Option<&Path> {
        // A vhost's own mapping wins over a global one.
        self.shared
            .conf
            .interpreters
            .iter()
            .filter(|i| i.vhost.as_ref().is_none_or(|v| v.1 == vhost) && has_ext(seg, &i.ext))
            .max_by_key(|i| i.vhost.is_some())
            .map(|i| i.program.as_path())
    }

    /// Finds the script for `path` (normalised, no leading `/`): `None` if
    /// the request is not for CGI, `Some(Err)` for 403/404.
    fn resolve(&self, vhost: usize, path: &[u8]) -> Option<Result<Script, HttpError>> {
        let root = &self.roots.get(vhost).unwrap_or(&self.roots[0]).path;
        let c = &self.shared.conf;
        let prefix = c.prefixes.iter().find(|p| {
            p.vhost.as_ref().is_none_or(|v| v.1 == vhost)
                && path.starts_with(&p.norm)
                && (path.len() == p.norm.len() || path[p.norm.len()] == b'/')
        });
        let segs: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty())
            .collect();
        let (first, in_prefix) = match prefix {
            Some(p) => (p.norm.split(|&b| b == b'/').count(), true),
            None => {
                // Interpreter mapping: the first segment with a mapped
                // extension that is a file.
                let i = segs
                    .iter()
                    .position(|s| self.interpreter_for(vhost, s).is_some())?;
                (i, false)
            }
        };
        // Hidden files and directories (".git", ".htpasswd") never run.
        if segs.iter().any(|s| s.starts_with(b".")) {
            return Some(Err(HttpError::NotFound));
        }
        let mut file = root.clone();
        for s in &segs[..first.min(segs.len())] {
            file.push(OsStr::from_bytes(s));
        }
        for (i, seg) in segs.iter().enumerate().skip(first) {
            file.push(OsStr::from_bytes(seg));
            let md = match std::fs::metadata(&file) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && !in_prefix => return None,
                Err(e) => {
                    return Some(Err(match e.kind() {
                        std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                            HttpError::NotFound
                        }
                        _ => HttpError::Forbidden,
                    }))
                }
            };
            if md.is_dir() {
                continue;
            }
            let interpreter = self.interpreter_for(vhost, seg).map(Path::to_path_buf);
            if !in_prefix && interpreter.is_none() {
                return None;
            }
            // The script must not lie outside the docroot through a symlink.
            match std::fs::canonicalize(&file) {
                Ok(real) if real.starts_with(root) => {}
                _ => return Some(Err(HttpError::Forbidden)),
            }
            if !md.is_file() {
                return Some(Err(HttpError::Forbidden));
            }
            if interpreter.is_none() && md.permissions().mode() & 0o111 == 0 {
                return Some(Err(HttpError::Forbidden));
            }
            let mut name = Vec::with_capacity(path.len() + 1);
            for s in &segs[..=i] {
                name.push(b'/');
                name.extend_from_slice(s);
            }
            let mut path_info = Vec::new();
            for s in &segs[i + 1..] {
                path_info.push(b'/');
                path_info.extend_from_slice(s);
            }
            if path.ends_with(b"/") && i + 1 < segs.len() {
                path_info.push(b'/');
            }
            return Some(Ok(Script {
                nph: c.nph && seg.starts_with(b"nph-"),
                file,
                name,
                path_info,
                interpreter,
            }));
        }
        if in_prefix {
            // The prefix itself or a directory below it.
            Some(Err(HttpError::Forbidden))
        } else {
            None
        }
    }
}

/// The authentication scheme of the request (for `AUTH_TYPE`).
fn auth_scheme<'a>(x: &Exchange<'a, '_>) -> Option<&'a [u8]> {
    let v = x
        .req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("authorization"))?
        .value;
    let end = v.iter().position(|&b| b == b' ').unwrap_or(v.len());
    let s = &v[..end];
    (!s.is_empty() && s.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')).then_some(s)
}

impl Plugin for Cgi {
    const NAME: &'static str = "cgi";
    type Worker = ();

    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>> {
        let conf = config::parse(sections, env)?;
        let mut roots = Vec::new();
        let mut errs = Vec::new();
        // The engine itself refuses a docroot that does not open; here a
        // root that does not canonicalise stays as given.
        for r in &env.roots {
            let path = std::fs::canonicalize(r).unwrap_or_else(|_| r.clone());
            roots.push(Root { path });
        }
        if roots.is_empty() {
            errs.push("cgi: no docroot".into());
        }
        let devnull = std::fs::File::open("/dev/null");
        if let Err(e) = &devnull {
            errs.push(format!("cgi: /dev/null: {e}"));
        }
        let (Ok(devnull), true) = (devnull, errs.is_empty()) else {
            return Err(errs);
        };
        Ok(Cgi {
            shared: Arc::new(Shared {
                conf,
                live: AtomicUsize::new(0),
                reaper: Mutex::new(Vec::new()),
                devnull,
            }),
            roots,
        })
    }

    fn config_text(&self) -> String {
        config::text(&self.shared.conf)
    }

    fn worker(&self, _id: usize) -> Self::Worker {}

    fn tick(&self, _w: &mut (), now: Instant) {
        self.shared.reap(now);
    }

    fn content(&self, _w: &mut (), x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Content {
        let c = &self.shared.conf;
        if c.prefixes.is_empty() && c.interpreters.is_empty() {
            return Content::Decline;
        }
        let Some(path) = x.path else {
            return Content::Decline;
        };
        let script = match self.resolve(x.vhost, path) {
            None => return Content::Decline,
            Some(Err(e)) => {
                reply.error(e);
                return Content::Respond;
            }
            Some(Ok(s)) => s,
        };
        self.shared.reap(Instant::now());
        if self.shared.live.load(Ordering::Acquire) >= c.max_processes {
            log::warn!(
                "cgi: {} CGI processes running (max_processes): 503 for {}",
                c.max_processes,
                script.file.display()
            );
            reply.close_after();
            reply
                .start(Status::ServiceUnavailable)
                .header(b"Retry-After", b"1");
            reply.finish_body(b"text/plain", b"too many CGI processes; retry later\n");
            return Content::Respond;
        }
        let root = &self.roots.get(x.vhost).unwrap_or(&self.roots[0]).path;
        let mut cmd = match &script.interpreter {
            Some(p) => {
                let mut cmd = Command::new(p);
                cmd.arg(&script.file);
                cmd
            }
            None => Command::new(&script.file),
        };
        cmd.env_clear();
        // The configured fixed variables first: the request's own
        // meta-variables are not overridden by them.
        for (n, v) in &c.env {
            cmd.env(n, v);
        }
        let info = ScriptInfo {
            script_name: &script.name,
            script_filename: script.file.as_os_str().as_bytes(),
            path_info: &script.path_info,
            document_root: root.as_os_str().as_bytes(),
            auth_type: auth_scheme(x),
        };
        gateway::meta_variables(x, &info, &mut |n, v| {
            // The environment cannot carry NUL bytes; such a value is dropped.
            if !v.contains(&0) {
                cmd.env(OsStr::from_bytes(n), OsStr::from_bytes(v));
            }
        });
        cmd.env("PATH", &c.path);
        if let Some(dir) = script.file.parent() {
            cmd.current_dir(dir);
        }
        cmd.process_group(0);
        if let Some((_, uid, gid)) = c.user {
            cmd.uid(uid);
            cmd.gid(c.group.as_ref().map_or(gid, |g| g.1));
        }
        let s = stream::CgiStream::new(
            self.shared.clone(),
            cmd,
            script.file.display().to_string(),
            root.clone(),
            Conditions::of(x.req),
            reply.keep_alive(),
            script.nph,
            x.req.framing != Framing::None,
        );
        Content::Stream(Box::new(s))
    }

    fn stop(&self) {
        if let Ok(mut l) = self.shared.reaper.lock() {
            for o in l.iter_mut() {
                stream::kill_group(&o.child);
                let _ = o.child.wait();
            }
            l.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions() {
        assert!(has_ext(b"index.php", "php"));
        assert!(has_ext(b"INDEX.PHP", "php"));
        assert!(!has_ext(b".php", "php"));
        assert!(!has_ext(b"php", "php"));
        assert!(!has_ext(b"a.php5", "php"));
    }
}
