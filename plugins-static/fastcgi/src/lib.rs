//! FastCGI for firmware-server: the responder role over Unix and TCP
//! sockets, driven by the worker's event loop through the plugin API's
//! [`Stream`](fws_api::plugin::Stream), with a per-worker pool of kept-alive
//! backend connections (`FCGI_KEEP_CONN`) bounded per backend.
//!
//! Routes map a file extension (`.php=unix:/run/php-fpm.sock`) or a URL
//! prefix (`/app=127.0.0.1:9000`) to a backend, for every virtual host or
//! one. The request's RFC 3875 meta-variables (the shared gateway module
//! builds them, as for CGI) go as `PARAMS`, its body as `STDIN` with
//! backpressure; `STDOUT` is parsed as a CGI response (the shared parser)
//! and streamed with backpressure, `STDERR` lines go to the error log.
//! X-Sendfile / X-Accel-Redirect hand the file to the static path.
//!
//! Faults: a backend that refuses or is down is a 503; one that closes
//! mid-response or sends malformed records a 502 (the connection to the
//! client closed if the head was already sent); no head or no progress
//! within `timeout` a 504.
#![forbid(unsafe_code)]

pub mod codec;
mod config;
mod spawn;
mod stream;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fws_api::gateway::{self, Conditions, ScriptInfo};
use fws_api::http::error::HttpError;
use fws_api::http::request::Framing;
use fws_api::plugin::{Content, Env, Exchange, Plugin, Reply, Section};

pub use config::{Addr, Conf, Match};
use stream::{FcgiStream, Next, Pool};

pub(crate) struct Shared {
    pub conf: Conf,
}

pub struct FastCgi {
    shared: Arc<Shared>,
    roots: Vec<PathBuf>,
    supervisor: spawn::Supervisor,
}

/// The per-worker state: the pool of backend connections.
pub struct Worker {
    pool: Arc<Mutex<Pool>>,
}

fn has_ext(seg: &[u8], ext: &str) -> bool {
    match seg.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => seg[i + 1..].eq_ignore_ascii_case(ext.as_bytes()),
        _ => false,
    }
}

/// What a request resolves to.
struct Target {
    backend: usize,
    /// `SCRIPT_NAME`.
    name: Vec<u8>,
    path_info: Vec<u8>,
    /// `SCRIPT_FILENAME`.
    file: PathBuf,
}

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

impl FastCgi {
    /// The route for `path` (normalised, no leading `/`): prefixes first
    /// (longest), then extensions (the first segment that has one is the
    /// script, the rest `PATH_INFO`); a vhost's own routes before global.
    fn resolve(&self, vhost: usize, path: &[u8]) -> Option<Result<Target, HttpError>> {
        let root = self.roots.get(vhost).unwrap_or(&self.roots[0]);
        let routes = &self.shared.conf.routes;
        let here = |r: &&config::Route| r.vhost.as_ref().is_none_or(|v| v.1 == vhost);
        let segs: Vec<&[u8]> = path
            .split(|&b| b == b'/')
            .filter(|s| !s.is_empty())
            .collect();
        let join = |segs: &[&[u8]]| {
            let mut v = Vec::new();
            for s in segs {
                v.push(b'/');
                v.extend_from_slice(s);
            }
            v
        };
        let prefix = routes
            .iter()
            .filter(here)
            .filter_map(|r| match &r.what {
                Match::Prefix(p)
                    if path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/') =>
                {
                    Some((r, p.len(), r.vhost.is_some()))
                }
                _ => None,
            })
            .max_by_key(|(_, len, own)| (*own, *len));
        if let Some((r, len, _)) = prefix {
            let n = path[..len].split(|&b| b == b'/').count();
            let mut file = root.clone();
            file.push(OsStr::from_bytes(&path[..len]));
            let mut path_info = join(&segs[n.min(segs.len())..]);
            if path.ends_with(b"/") && !path_info.is_empty() {
                path_info.push(b'/');
            }
            return Some(Ok(Target {
                backend: r.backend,
                name: join(&segs[..n.min(segs.len())]),
                path_info,
                file,
            }));
        }
        for (i, seg) in segs.iter().enumerate() {
            let Some(r) = routes
                .iter()
                .filter(here)
                .filter(|r| matches!(&r.what, Match::Ext(e) if has_ext(seg, e)))
                .max_by_key(|r| r.vhost.is_some())
            else {
                continue;
            };
            if segs[..=i].iter().any(|s| s.starts_with(b".")) {
                return Some(Err(HttpError::NotFound));
            }
            let mut file = root.clone();
            for s in &segs[..=i] {
                file.push(OsStr::from_bytes(s));
            }
            // As lighttpd's check-local: the script must be a file in the
            // docroot (php-fpm would otherwise get paths of our choosing).
            match std::fs::metadata(&file) {
                Ok(m) if m.is_file() => {}
                Ok(m) if m.is_dir() => continue,
                Ok(_) => return Some(Err(HttpError::Forbidden)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Some(Err(HttpError::NotFound))
                }
                Err(_) => return Some(Err(HttpError::Forbidden)),
            }
            match std::fs::canonicalize(&file) {
                Ok(real) if real.starts_with(root) => {}
                _ => return Some(Err(HttpError::Forbidden)),
            }
            let mut path_info = join(&segs[i + 1..]);
            if path.ends_with(b"/") && i + 1 < segs.len() {
                path_info.push(b'/');
            }
            return Some(Ok(Target {
                backend: r.backend,
                name: join(&segs[..=i]),
                path_info,
                file,
            }));
        }
        None
    }
}

impl FastCgi {
    fn label(&self, name: &[u8], backend: usize) -> String {
        format!(
            "{} ({})",
            String::from_utf8_lossy(name),
            self.shared.conf.backends[backend]
        )
    }

    /// The PARAMS of a request for `t` (`None` past `max_params`), less
    /// the variables named in `skip`.
    fn params(
        &self,
        x: &Exchange<'_, '_>,
        t: &Target,
        root: &std::path::Path,
        skip: &[&[u8]],
    ) -> Option<codec::Params> {
        let c = &self.shared.conf;
        let info = ScriptInfo {
            script_name: &t.name,
            script_filename: t.file.as_os_str().as_bytes(),
            path_info: &t.path_info,
            document_root: root.as_os_str().as_bytes(),
            auth_type: auth_scheme(x),
        };
        let mut params = codec::Params::new(c.max_params);
        let mut too_long = false;
        gateway::meta_variables(x, &info, &mut |n, v| {
            if !skip.contains(&n) && params.add(n, v).is_err() {
                too_long = true;
            }
        });
        if too_long {
            log::warn!(
                "fastcgi: request parameters pass max_params ({} bytes)",
                c.max_params
            );
            return None;
        }
        Some(params)
    }
}

impl Plugin for FastCgi {
    const NAME: &'static str = "fastcgi";
    type Worker = Worker;

    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>> {
        let conf = config::parse(sections, env)?;
        let mut roots = Vec::new();
        let mut errs = Vec::new();
        // A docroot that does not resolve is the engine's error to report
        // (one line); the path is then kept as given.
        for r in &env.roots {
            roots.push(std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()));
        }
        if roots.is_empty() && errs.is_empty() {
            errs.push("fastcgi: no docroot".into());
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        Ok(FastCgi {
            shared: Arc::new(Shared { conf }),
            roots,
            supervisor: spawn::Supervisor::default(),
        })
    }

    fn config_text(&self) -> String {
        config::text(&self.shared.conf)
    }

    fn start(&self, _ctl: Arc<dyn fws_api::plugin::Control>) {
        let c = &self.shared.conf;
        if !c.bin_paths.is_empty() {
            self.supervisor.start(&c.bin_paths, &c.bin_env);
        }
    }

    fn stop(&self) {
        self.supervisor.stop();
    }

    fn worker(&self, _id: usize) -> Worker {
        Worker {
            pool: Arc::new(Mutex::new(Pool::new(self.shared.conf.backends.len()))),
        }
    }

    fn content(&self, w: &mut Worker, x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Content {
        let c = &self.shared.conf;
        if c.routes.is_empty() && c.authorizers.is_empty() {
            return Content::Decline;
        }
        let Some(path) = x.path else {
            return Content::Decline;
        };
        let guard = c
            .authorizers
            .iter()
            .filter(|a| a.vhost.as_ref().is_none_or(|v| v.1 == x.vhost))
            .filter(|a| {
                path.starts_with(&a.prefix)
                    && (path.len() == a.prefix.len() || path[a.prefix.len()] == b'/')
            })
            .max_by_key(|a| (a.vhost.is_some(), a.prefix.len()));
        let target = match self.resolve(x.vhost, path) {
            None if guard.is_none() => return Content::Decline,
            None => None,
            Some(Err(e)) => {
                reply.error(e);
                return Content::Respond;
            }
            Some(Ok(t)) => Some(t),
        };
        let root = self.roots.get(x.vhost).unwrap_or(&self.roots[0]);
        let has_body = match x.req.framing {
            Framing::Length(n) => n > 0,
            Framing::Chunked => true,
            _ => false,
        };
        let responder = match &target {
            Some(t) => match self.params(x, t, root, &[]) {
                Some(p) => Some((t.backend, p)),
                None => {
                    reply.error(HttpError::HeadTooLarge);
                    return Content::Respond;
                }
            },
            None => None,
        };
        let (backend, params, next, label) = match guard {
            Some(a) => {
                // The authorizer gets the request's variables, without the
                // ones about a body or a script (FastCGI 1.0, 6.3).
                let t = Target {
                    backend: a.backend,
                    name: Vec::new(),
                    path_info: Vec::new(),
                    file: root.clone(),
                };
                let Some(p) = self.params(
                    x,
                    &t,
                    root,
                    &[
                        b"CONTENT_LENGTH",
                        b"PATH_INFO",
                        b"PATH_TRANSLATED",
                        b"SCRIPT_NAME",
                    ],
                ) else {
                    reply.error(HttpError::HeadTooLarge);
                    return Content::Respond;
                };
                let next = match (responder, &target) {
                    (Some((b, p)), Some(t)) => Next::Responder {
                        backend: b,
                        params: p,
                        label: self.label(&t.name, b),
                    },
                    _ => Next::Static {
                        path: path.to_vec(),
                        root: root.clone(),
                    },
                };
                let label = format!("authorizer {} ({})", a.text, c.backends[a.backend]);
                (a.backend, p, Some(next), label)
            }
            None => {
                let (Some((b, p)), Some(t)) = (responder, &target) else {
                    return Content::Decline;
                };
                (b, p, None, self.label(&t.name, b))
            }
        };
        Content::Stream(Box::new(FcgiStream::new(
            self.shared.clone(),
            w.pool.clone(),
            backend,
            label,
            root.clone(),
            Conditions::of(x.req),
            x.req.keep_alive,
            has_body,
            params,
            next,
        )))
    }
}
