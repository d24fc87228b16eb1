//! The `auth` plugin: HTTP Basic authentication (RFC 7617) per path prefix
//! and virtual host, against htpasswd files.
//!
//! # Configuration
//!
//! Any number of rules, and at most one settings table (an `[[auth]]`
//! without `prefix`):
//!
//! ```toml
//! [[auth]]
//! prefix = "/admin/"            # path prefix, matched on segment boundaries
//! vhost = "router.lan"          # optional: only this [[vhost]] (any of its names)
//! realm = "Router admin"        # printable ASCII, no '"' or '\', up to 128 chars
//! htpasswd = "/etc/firmware-server/htpasswd"
//!
//! [[auth]]
//! prefix = "/admin/help/"       # an exception inside a protected prefix
//! public = true
//!
//! [[auth]]                      # settings (all optional; these are the defaults)
//! cache_ttl = "5m"              # how long a verified password is remembered (0 = no cache)
//! cache_entries = 256           # verified credentials remembered per worker (0 = no cache)
//! fail_limit = 10               # failed logins per client address (IPv4 /32, IPv6 /64)
//!                               # within fail_window that lock it out (0 = no lockout)
//! fail_window = "1m"            # the lockout lasts until the window of the first failure ends
//! throttle_entries = 256        # client addresses tracked per worker
//! verify_budget = "250ms"       # hashing time a worker may spend per second (1ms to 1s)
//! ```
//!
//! Prefixes are written as URL paths; they are decoded and normalised with
//! the engine's own path rules and compared with [`Exchange::path`], so
//! `/%61dmin/` or `/x/../admin/` cannot dodge `/admin/`. The most specific
//! rule wins: the longest prefix, then a rule scoped to the request's
//! virtual host over one for every host. A request whose path does not
//! decode (`Exchange::path == None`) is left to the engine's own error.
//!
//! # htpasswd files
//!
//! As Apache's `htpasswd` writes them: bcrypt (`$2y$`, `$2a$`, `$2b$`),
//! `{SHA}`, `$apr1$` (and `$1$`), and SHA-crypt `$5$`/`$6$` (from
//! `mkpasswd` or `openssl passwd -5/-6`). Plain-text and DES-crypt entries
//! are refused with a warning at load and never match. A file is read at
//! start (an error there is a configuration error) and re-read without a
//! restart when it changes (checked once a second by a watcher thread, or at
//! once on SIGHUP); a changed file that does not parse leaves the previous
//! users in force and logs `FILE:LINE: why`. See [`watch`].
//!
//! # Responses
//!
//! - No credentials, another scheme, an unknown user or a wrong password:
//!   `401` with `WWW-Authenticate: Basic realm="...", charset="UTF-8"`.
//! - Broken Basic credentials (bad base64, no colon, NUL or control
//!   characters in the user name, a value over 1 KiB, two headers): `400`.
//! - A client address locked out after too many failures: `401` with
//!   `Retry-After`, without hashing anything.
//! - The worker's hashing budget spent: `503` with `Retry-After: 1`.
//! - Success: the request goes on, with `Exchange::user` set (REMOTE_USER
//!   for the logger and CGI).
//!
//! Neither passwords nor the `Authorization` header are ever logged; user
//! names are logged only when they exist in the file (a password typed into
//! the user field is not written to the log).
//!
//! # Slow hashes on a synchronous worker
//!
//! bcrypt and SHA-crypt are slow by design and the request stage runs on
//! the worker thread, so a verification delays every other connection of
//! that worker. Three bounded, per-worker defences ([`guard`]): a cache of
//! recently verified credentials (keyed SHA-256 tags of user, password and
//! stored hash, with a random per-process key: no password is kept), a
//! lockout per client address after repeated failures, and a budget of
//! hashing *time* per second (a token bucket charged with the measured time
//! of each verification, so it bounds the CPU share whatever the cost factor
//! or the CPU). `{SHA}` checks are cheap and skip the budget.
//!
//! The worst stall another client of the same worker sees is one hash
//! (plus, after an idle spell, up to `verify_budget` of back-to-back hashes).
//! Measured with `tests/bench/auth_burst.py` (1 worker, bcrypt cost 10, 8
//! attacker connections, a shared 2-core host): public-file p50/p99
//! 0.27/0.64 ms without attack; 0.45/73 ms under attack from 8 addresses
//! (one bcrypt-10 check is 60-80 ms here); 0.39/2.5 ms when the attack comes
//! from one address (locked out); 616/630 ms with the defences off.
//!
//! # Limits
//!
//! - The cache, the lockout and the budget are per worker (no lock on the
//!   request path): with N workers an address gets about N × `fail_limit`
//!   tries per window.
//! - A locked-out address is refused even with the right password (that is
//!   what stops online guessing), so a shared NAT address can be locked out
//!   by someone else.
//! - An unknown user is answered without hashing: the timing tells whether
//!   a user name exists.
//! - Rules match request paths; a symlink inside the docroot that points
//!   into a protected directory serves it under its own (unprotected) path.
//!
//! Contract: no `unsafe`, no panic on any input; when no rule is configured
//! the hooks return at once without allocating.
#![forbid(unsafe_code)]

pub mod b64;
pub mod config;
pub mod digest;
pub mod guard;
pub mod hash;
pub mod header;
pub mod htpasswd;
pub mod watch;

use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fws_api::http::error::HttpError;
use fws_api::http::response::Status;
use fws_api::plugin::{Control, Env, Exchange, Plugin, Reply, Section, Verdict};

use config::{Conf, Kind};
use digest::{Digest, Sha256};
use guard::{addr_key, Budget, Cache, Throttle};
use header::{Problem, Secret};
use htpasswd::Table;
use watch::{File, LoadError, Watch};

/// A rule ready for matching.
struct Rule {
    prefix: Vec<u8>,
    vhost: Option<usize>,
    /// `None`: public.
    protect: Option<Protect>,
}

struct Protect {
    /// Index into `Watch::files`.
    file: usize,
    /// The whole `WWW-Authenticate` value.
    challenge: Vec<u8>,
    /// For log lines.
    prefix_text: String,
}

pub struct Auth {
    conf: Conf,
    rules: Vec<Rule>,
    watch: Arc<Watch>,
    /// Key of the verification-cache tags.
    key: [u8; 32],
    /// Messages from the first load, logged by `start` (the engine installs
    /// its logger after `init`).
    notes: std::sync::Mutex<Vec<(log::Level, String)>>,
}

/// Per-worker state: the tables it holds, and the guards.
pub struct AuthWorker {
    tables: Vec<(u64, Arc<Table>)>,
    cache: Cache,
    throttle: Throttle,
    budget: Budget,
    warned_slow: bool,
}

const BODY_401: &[u8] = b"<!DOCTYPE html>\n<title>401 Unauthorized</title>\n<h1>401 Unauthorized</h1>\n<hr>firmware-server\n";
const BODY_503: &[u8] = b"<!DOCTYPE html>\n<title>503 Service Unavailable</title>\n<h1>503 Service Unavailable</h1>\n<p>Too many logins at once; try again.</p>\n<hr>firmware-server\n";

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .is_ok();
    if !ok {
        // std's hasher keys come from the OS's random source too.
        use std::hash::BuildHasher;
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            let v = std::collections::hash_map::RandomState::new().hash_one(i);
            chunk.copy_from_slice(&v.to_le_bytes());
        }
    }
    key
}

impl Auth {
    fn tag(&self, file: usize, user: &[u8], password: &[u8], stored: &hash::Hash) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update((file as u64).to_le_bytes());
        h.update((user.len() as u64).to_le_bytes());
        h.update(user);
        h.update((password.len() as u64).to_le_bytes());
        h.update(password);
        h.update(stored.fingerprint());
        let d = h.finalize();
        let mut t = [0u8; 16];
        t.copy_from_slice(d.get(..16).unwrap_or(&[0; 16]));
        t
    }

    fn rule(&self, vhost: usize, path: &[u8]) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.vhost.is_none_or(|v| v == vhost) && config::under(&r.prefix, path))
    }
}

fn deny(reply: &mut Reply<'_>, challenge: &[u8], retry_after: Option<u64>) {
    let h = reply.start(Status::Unauthorized);
    h.header(b"WWW-Authenticate", challenge);
    if let Some(s) = retry_after {
        h.header_num(b"Retry-After", s);
    }
    reply.finish_body(b"text/html; charset=utf-8", BODY_401);
}

fn busy(reply: &mut Reply<'_>) {
    reply
        .start(Status::ServiceUnavailable)
        .header(b"Retry-After", b"1");
    reply.finish_body(b"text/html; charset=utf-8", BODY_503);
}

/// A user name for a log line (control characters cannot occur: such
/// names are refused in files and in requests).
fn shown(user: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(user)
}

impl Plugin for Auth {
    const NAME: &'static str = "auth";
    type Worker = AuthWorker;

    fn init(sections: &[Section<'_>], _env: &Env) -> Result<Self, Vec<String>> {
        let conf = config::parse(sections, _env)?;
        let mut errs = Vec::new();
        let mut files: Vec<(File, watch::Stamp)> = Vec::new();
        let mut rules = Vec::new();
        let mut notes = Vec::new();
        for r in &conf.rules {
            let protect = match &r.kind {
                Kind::Public => None,
                Kind::Protect { realm, htpasswd } => {
                    let file = match files.iter().position(|(f, _)| f.path == *htpasswd) {
                        Some(i) => i,
                        None => match watch::load(htpasswd) {
                            Ok(l) => {
                                for w in l.warnings {
                                    notes.push((log::Level::Warn, w));
                                }
                                notes.push((
                                    log::Level::Info,
                                    format!("auth: loaded {htpasswd} ({} users)", l.table.len()),
                                ));
                                files.push((File::new(htpasswd.clone(), l.table), l.stamp));
                                files.len() - 1
                            }
                            Err(e) => {
                                let why = match e {
                                    LoadError::Io(m) => m,
                                    LoadError::Changing => {
                                        format!("{htpasswd}: changed while being read")
                                    }
                                    LoadError::Parse(lines) => {
                                        errs.extend(lines);
                                        format!("{htpasswd} has errors (above)")
                                    }
                                };
                                errs.push(format!("{}:{}: auth: htpasswd: {why}", r.file, r.line));
                                continue;
                            }
                        },
                    };
                    Some(Protect {
                        file,
                        challenge: format!("Basic realm=\"{realm}\", charset=\"UTF-8\"")
                            .into_bytes(),
                        prefix_text: r.prefix_text.clone(),
                    })
                }
            };
            rules.push(Rule {
                prefix: r.prefix.clone(),
                vhost: r.vhost.as_ref().map(|v| v.1),
                protect,
            });
        }
        if !errs.is_empty() {
            return Err(errs);
        }
        let key = if rules.is_empty() {
            [0; 32]
        } else {
            random_key()
        };
        Ok(Auth {
            conf,
            rules,
            watch: Arc::new(Watch::new(files)),
            key,
            notes: std::sync::Mutex::new(notes),
        })
    }

    fn config_text(&self) -> String {
        self.conf.text()
    }

    fn worker(&self, _id: usize) -> AuthWorker {
        let s = &self.conf.settings;
        let on = !self.rules.is_empty();
        AuthWorker {
            tables: self
                .watch
                .files
                .iter()
                .map(|f| (f.generation.load(Ordering::Acquire), f.current()))
                .collect(),
            cache: Cache::new(if on { s.cache_entries } else { 0 }, s.cache_ttl),
            throttle: Throttle::new(
                s.throttle_entries,
                if on { s.fail_limit } else { 0 },
                s.fail_window,
            ),
            budget: Budget::new(s.verify_budget),
            warned_slow: false,
        }
    }

    fn start(&self, _ctl: Arc<dyn Control>) {
        let notes = std::mem::take(&mut *self.notes.lock().unwrap_or_else(|e| e.into_inner()));
        for (level, msg) in notes {
            log::log!(level, "{msg}");
        }
        self.watch.start();
    }

    fn reload(&self) {
        if !self.watch.files.is_empty() {
            self.watch.reload();
        }
    }

    fn request(
        &self,
        w: &mut AuthWorker,
        x: &mut Exchange<'_, '_>,
        reply: &mut Reply<'_>,
    ) -> Verdict {
        if self.rules.is_empty() {
            return Verdict::Continue;
        }
        let Some(path) = x.path else {
            return Verdict::Continue;
        };
        let Some(Rule {
            protect: Some(p), ..
        }) = self.rule(x.vhost, path)
        else {
            return Verdict::Continue;
        };
        let mut secret = Secret::new();
        let headers = x.req.headers.iter().map(|h| (h.name, h.value));
        let creds = match header::credentials(headers, &mut secret) {
            Ok(c) => c,
            Err(Problem::Malformed) => {
                log::debug!(
                    "auth: malformed Authorization header from {}",
                    x.conn.peer.ip()
                );
                reply.error(HttpError::BadRequest);
                return Verdict::Respond;
            }
            Err(Problem::Missing | Problem::OtherScheme) => {
                deny(reply, &p.challenge, None);
                return Verdict::Respond;
            }
        };
        let now = Instant::now();
        let ip = x.conn.peer.ip();
        let client = addr_key(ip);
        if let Some(secs) = w.throttle.locked(&client, now) {
            log::debug!("auth: {ip} is locked out ({secs}s left)");
            deny(reply, &p.challenge, Some(secs));
            return Verdict::Respond;
        }

        // The newest table of this file (an atomic load; the lock only
        // after a reload).
        if let (Some(f), Some(slot)) = (self.watch.files.get(p.file), w.tables.get_mut(p.file)) {
            let g = f.generation.load(Ordering::Acquire);
            if g != slot.0 {
                *slot = (g, f.current());
            }
        }
        let Some((_, table)) = w.tables.get(p.file) else {
            deny(reply, &p.challenge, None);
            return Verdict::Respond;
        };

        let ok = match table.get(creds.user) {
            None => {
                log::info!(
                    "auth: unknown user (name not logged) from {ip} for {}",
                    p.prefix_text
                );
                false
            }
            Some(stored) => {
                let tag = self.tag(p.file, creds.user, creds.password, stored);
                if w.cache.hit(&tag, now) {
                    true
                } else {
                    if stored.expensive() && !w.budget.allow(now) {
                        log::debug!("auth: hashing budget spent, 503 for {ip}");
                        busy(reply);
                        return Verdict::Respond;
                    }
                    let t0 = Instant::now();
                    let good = stored.verify(creds.password);
                    let spent = t0.elapsed();
                    w.budget.charge(spent);
                    if spent > self.conf.settings.verify_budget && !w.warned_slow {
                        w.warned_slow = true;
                        log::warn!(
                            "auth: one {} check took {} ms, more than verify_budget allows per second; \
                             use a lower cost for this CPU",
                            stored.scheme(),
                            spent.as_millis()
                        );
                    }
                    if good {
                        w.cache.insert(&tag, now + spent);
                    } else {
                        log::info!(
                            "auth: wrong password for user {} from {ip} for {}",
                            shown(creds.user),
                            p.prefix_text
                        );
                    }
                    good
                }
            }
        };
        if ok {
            w.throttle.clear(&client);
            x.user.set(creds.user);
            log::debug!("auth: user {} for {}", shown(creds.user), p.prefix_text);
            return Verdict::Continue;
        }
        if w.throttle.fail(&client, now) {
            log::warn!(
                "auth: {ip} locked out for {} after {} failed logins",
                config::show_duration(self.conf.settings.fail_window).trim_matches('"'),
                self.conf.settings.fail_limit
            );
        }
        deny(reply, &p.challenge, None);
        Verdict::Respond
    }
}

/// How long the watcher may take to notice a changed file (for callers and
/// tests): one check a second, plus a retry when it was mid-write.
pub const RELOAD_LATENCY: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;
    use fws_api::doc;
    use fws_api::http::request;
    use fws_api::plugin::{ConnInfo, User};

    struct Fixture {
        _dir: std::path::PathBuf,
        auth: Auth,
    }

    fn fixture(extra: &str) -> Fixture {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "fws-auth-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pw");
        // alice: secret ({SHA}); bob: hunter2 (apr1).
        std::fs::write(
            &pw,
            "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\nbob:$apr1$0lW345zw$slSkfXITjt/OMn9jimw740\n",
        )
        .unwrap();
        let text = format!(
            "[[auth]]\nprefix = \"/admin/\"\nrealm = \"Admin\"\nhtpasswd = \"{}\"\n\
             [[auth]]\nprefix = \"/admin/pub\"\npublic = true\n{extra}",
            pw.display()
        );
        let d = doc::parse(&text).unwrap();
        let secs: Vec<Section<'_>> = d
            .tables
            .iter()
            .filter(|t| t.name == "auth")
            .map(|t| Section {
                file: "c",
                table: t,
            })
            .collect();
        let env = Env {
            roots: vec!["/w".into()],
            vhost_names: vec![],
            workers: 1,
        };
        let auth = Auth::init(&secs, &env).unwrap();
        Fixture { _dir: dir, auth }
    }

    /// Runs the request stage on a raw request head; returns the verdict,
    /// the response bytes and the user.
    fn run(a: &Auth, w: &mut AuthWorker, raw: &str) -> (Verdict, String, Option<Vec<u8>>) {
        let mut hs = [httparse_empty(); request::MAX_HEADERS];
        let req = request::parse(raw.as_bytes(), &mut hs).unwrap().unwrap();
        let mut norm = [0u8; 256];
        let path = fws_api::http::path::normalize(req.path, &mut norm)
            .ok()
            .map(|n| n.len);
        let conn = ConnInfo {
            peer: "192.0.2.7:5555".parse().unwrap(),
            local: "127.0.0.1:80".parse().unwrap(),
            listener: 0,
            secure: false,
            worker: 0,
        };
        let mut user = User::default();
        let date = [b'x'; 29];
        let mut x = Exchange {
            req: &req,
            conn: &conn,
            vhost: 0,
            path: path.map(|n| &norm[..n]),
            user: &mut user,
            date: &date,
            peer: Default::default(),
        };
        let mut buf = [0u8; 2048];
        let mut reply = Reply::new(&mut buf, &date, true, 1, false);
        let v = a.request(w, &mut x, &mut reply);
        let n = reply.done().map_or(0, |d| d.0);
        let u = user.get().map(<[u8]>::to_vec);
        (v, String::from_utf8_lossy(&buf[..n]).into_owned(), u)
    }

    fn httparse_empty() -> httparse::Header<'static> {
        httparse::EMPTY_HEADER
    }

    fn get(path: &str, auth: Option<&str>) -> String {
        let mut s = format!("GET {path} HTTP/1.1\r\nHost: h\r\n");
        if let Some(a) = auth {
            s.push_str(&format!("Authorization: {a}\r\n"));
        }
        s + "\r\n"
    }

    #[test]
    fn stage_table() {
        let f = fixture("");
        let a = &f.auth;
        let mut w = a.worker(0);
        // alice:secret, bob:hunter2, alice:wrong
        let alice = "Basic YWxpY2U6c2VjcmV0";
        let bob = "Basic Ym9iOmh1bnRlcjI=";
        let wrong = "Basic YWxpY2U6d3Jvbmc=";
        type Case<'a> = (&'a str, Option<&'a str>, Verdict, &'a str, Option<&'a str>);
        let cases: &[Case<'_>] = &[
            ("/index.html", None, Verdict::Continue, "", None),
            ("/administrator", None, Verdict::Continue, "", None),
            ("/admin/x", None, Verdict::Respond, "401 Unauthorized", None),
            (
                "/admin",
                None,
                Verdict::Respond,
                "WWW-Authenticate: Basic realm=\"Admin\", charset=\"UTF-8\"",
                None,
            ),
            ("/%61dmin/x", None, Verdict::Respond, "401", None),
            ("/x/../admin/", None, Verdict::Respond, "401", None),
            ("/admin/pub/x", None, Verdict::Continue, "", None),
            (
                "/admin/x",
                Some(alice),
                Verdict::Continue,
                "",
                Some("alice"),
            ),
            ("/admin/x", Some(bob), Verdict::Continue, "", Some("bob")),
            ("/admin/x", Some(wrong), Verdict::Respond, "401", None),
            (
                "/admin/x",
                Some("Basic Y2Fyb2w6eA=="),
                Verdict::Respond,
                "401",
                None,
            ),
            (
                "/admin/x",
                Some("Bearer abc"),
                Verdict::Respond,
                "401",
                None,
            ),
            (
                "/admin/x",
                Some("Basic !!!"),
                Verdict::Respond,
                "400 Bad Request",
                None,
            ),
            ("/admin/x", Some("Basic"), Verdict::Respond, "400", None),
            (
                "/admin/x",
                Some("Basic YWxpY2U="),
                Verdict::Respond,
                "400",
                None,
            ),
            // Undecodable: the engine answers 400 itself.
            ("/admin/%zz", None, Verdict::Continue, "", None),
        ];
        for &(path, hdr, verdict, want, user) in cases {
            let (v, out, u) = run(a, &mut w, &get(path, hdr));
            assert_eq!(v, verdict, "{path} {hdr:?}: {out}");
            assert!(out.contains(want), "{path} {hdr:?}: {out:?} lacks {want:?}");
            assert_eq!(u.as_deref(), user.map(str::as_bytes), "{path} {hdr:?}");
        }
    }

    #[test]
    fn lockout_and_budget() {
        let f = fixture("[[auth]]\nfail_limit = 3\n");
        let a = &f.auth;
        let mut w = a.worker(0);
        let wrong = "Basic Ym9iOndyb25n"; // bob:wrong
        let good = "Basic Ym9iOmh1bnRlcjI=";
        // First a right password (cached), then failures.
        let (v, _, _) = run(a, &mut w, &get("/admin/", Some(good)));
        assert_eq!(v, Verdict::Continue);
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let (_, out, _) = run(a, &mut w, &get("/admin/", Some(wrong)));
            statuses.push(out.get(9..12).unwrap_or("").to_string());
        }
        assert_eq!(statuses, ["401"; 6]);
        // After 3 failures even the right password gets 401 + Retry-After,
        // without hashing.
        let (_, out, _) = run(a, &mut w, &get("/admin/", Some(good)));
        assert!(out.starts_with("HTTP/1.1 401"), "{statuses:?} {out}");
        assert!(out.contains("Retry-After: "), "{out}");
        // Another worker's state is its own.
        let mut w2 = a.worker(1);
        let (v, _, _) = run(a, &mut w2, &get("/admin/", Some(good)));
        assert_eq!(v, Verdict::Continue);
    }

    #[test]
    fn budget_gives_503() {
        let f = fixture("[[auth]]\nverify_budget = \"1ms\"\nfail_limit = 0\ncache_ttl = 0\n");
        let a = &f.auth;
        let mut w = a.worker(0);
        let good = "Basic Ym9iOmh1bnRlcjI=";
        let mut saw503 = false;
        for _ in 0..50 {
            let (_, out, _) = run(a, &mut w, &get("/admin/", Some(good)));
            if out.starts_with("HTTP/1.1 503") {
                assert!(out.contains("Retry-After: 1\r\n"), "{out}");
                saw503 = true;
                break;
            }
        }
        assert!(saw503, "50 apr1 checks in a row never exceeded 1 ms/s");
        // {SHA} is cheap and not held back by the budget.
        let (v, _, _) = run(a, &mut w, &get("/admin/", Some("Basic YWxpY2U6c2VjcmV0")));
        assert_eq!(v, Verdict::Continue);
    }

    #[test]
    fn unconfigured_is_inert() {
        let env = Env {
            roots: vec!["/w".into()],
            vhost_names: vec![],
            workers: 1,
        };
        let a = Auth::init(&[], &env).unwrap();
        let mut w = a.worker(0);
        let (v, out, _) = run(&a, &mut w, &get("/admin/", None));
        assert_eq!((v, out.as_str()), (Verdict::Continue, ""));
        assert_eq!(a.config_text(), "");
    }
}
