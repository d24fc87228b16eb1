//! HTTPS for firmware-server: rustls 0.23 with the `ring` provider, driven
//! sans-I/O from the worker's poll loop through the plugin API's
//! [`Transport`] (no thread, no blocking call, no async runtime).
//!
//! ## Configuration
//! Every table is written `[[tls]]` (a lone `[tls]` is accepted too). The
//! table without `vhost` holds the global settings and the default
//! certificate; a table with `vhost = "NAME"` holds the certificate and the
//! options of that `[[vhost]]` (chosen by SNI for the certificate and the
//! client-certificate policy, by the `Host` header for `redirect`).
//!
//! ```toml
//! [[tls]]
//! listen = ["0.0.0.0:443", "[::]:443"]   # string or list; TLS listeners
//! cert = "/etc/firmware-server/cert.pem" # full chain, leaf first
//! key = "/etc/firmware-server/key.pem"   # PKCS#8, SEC1 or PKCS#1 PEM
//! self_signed = true            # missing cert+key: generate ECDSA P-256 (mode 0600)
//! self_signed_names = ["router.lan"]  # default: hostname, vhost names, localhost
//! strict_key_permissions = false # world-readable key: warn (false) or refuse (true)
//! watch = true                  # reload when the files change (checked each second)
//! session_cache = 256           # TLS 1.2/1.3 stateful resumption entries (0 = off)
//! tickets = true                # stateless resumption, ticket key rotated every 6 h
//! redirect = false              # plain HTTP -> 301 https:// (default vhost)
//! hsts = 31536000               # Strict-Transport-Security max-age (0/absent = none)
//! client_auth = "off"           # "off" | "optional" | "required"
//! client_ca = "/etc/firmware-server/clients-ca.pem"
//! client_auth_prefix = ["/admin/"]  # paths that need a verified client cert (403)
//!
//! [[tls]]
//! vhost = "camera.lan"          # a [[vhost]] name
//! cert = "/etc/firmware-server/camera.pem"
//! key = "/etc/firmware-server/camera.key"
//! redirect = true
//! hsts = 63072000
//! client_auth = "required"
//! client_ca = "/etc/firmware-server/ca.pem"
//! ```
//!
//! Command line: `--tls-listen ADDR:PORT` (repeatable; replaces `listen`),
//! `--cert FILE`, `--key FILE` (replace the default certificate).
//!
//! ## Client certificates
//! rustls has no post-handshake authentication, so a certificate is asked
//! for at the handshake only. `required` refuses a handshake without a
//! valid certificate; `optional` (and any `client_auth_prefix`) asks for one
//! and refuses an invalid one, and the request stage answers `403` on a
//! prefix when none was given. The verified subject (RFC 4514) and
//! `SUCCESS`/`NONE` go to later stages through `Exchange.peer`.
//!
//! ## Reload
//! SIGHUP, `ctl`'s plugin command `tls reload-certs` and (with `watch`) a
//! changed file rebuild every certificate; connections in flight keep
//! theirs, new handshakes get the new ones. A file that does not load keeps
//! the old certificate and the reason is logged.
#![forbid(unsafe_code)]

mod dn;
mod transport;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use fws_api::doc::Value;
use fws_api::http::response::Status;
use fws_api::plugin::{
    ClientVerify, ConnInfo, Env, Exchange, Plugin, Reply, Section, Transport, Verdict,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, StoresServerSessions, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

pub use transport::TlsConn;

/// Bound of rustls's outgoing buffers per connection (plaintext waiting for
/// room plus ciphertext not yet sent).
pub const BUFFER_LIMIT: usize = 16 * 1024 + 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    Off,
    Optional,
    Required,
}

/// Settings of one virtual host (index 0: the default one).
#[derive(Debug, Clone)]
struct VhostTls {
    /// The table that configured it (for `config_text`).
    configured: bool,
    name: Option<String>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    redirect: bool,
    hsts: u64,
    hsts_header: &'static [u8],
    client_auth: ClientAuth,
    client_ca: Option<PathBuf>,
    prefixes: Vec<String>,
}

impl VhostTls {
    fn new() -> VhostTls {
        VhostTls {
            configured: false,
            name: None,
            cert: None,
            key: None,
            redirect: false,
            hsts: 0,
            hsts_header: b"",
            client_auth: ClientAuth::Off,
            client_ca: None,
            prefixes: Vec::new(),
        }
    }
}

/// Everything that does not change on reload.
#[derive(Debug, Clone)]
pub struct Settings {
    listen: Vec<SocketAddr>,
    self_signed: bool,
    self_signed_names: Vec<String>,
    strict: bool,
    watch: bool,
    session_cache: usize,
    tickets: bool,
    vhosts: Vec<VhostTls>,
    /// Lower-case server names of each engine vhost (index i + 1).
    vhost_names: Vec<Vec<String>>,
}

/// The certificates in use: one rustls configuration per virtual host that
/// has settings of its own, chosen by SNI.
pub struct Certs {
    /// (lower-case server name, index into `configs`).
    names: Vec<(String, usize)>,
    /// (config, vhost index it serves).
    configs: Vec<(Arc<ServerConfig>, usize)>,
    /// Files and their modification times when loaded.
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
}

impl Certs {
    /// The configuration for a ClientHello's server name, and its vhost.
    fn pick(&self, sni: Option<&str>) -> (Arc<ServerConfig>, usize) {
        if let Some(name) = sni {
            for (n, i) in &self.names {
                if n.eq_ignore_ascii_case(name) {
                    return self.configs[*i].clone();
                }
            }
        }
        self.configs[0].clone()
    }
}

/// State shared by the plugin and every connection.
pub struct Shared {
    settings: Settings,
    provider: Arc<CryptoProvider>,
    sessions: Arc<dyn StoresServerSessions>,
    ticketer: Option<Arc<dyn rustls::server::ProducesTickets>>,
    certs: RwLock<Arc<Certs>>,
    last_check: Mutex<Option<Instant>>,
}

impl Shared {
    fn current(&self) -> Arc<Certs> {
        match self.certs.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn hsts(&self, vhost: usize) -> &'static [u8] {
        self.settings
            .vhosts
            .get(vhost)
            .map_or(b"", |v| v.hsts_header)
    }

    /// Rebuilds every certificate; on failure the old ones stay.
    fn reload(&self) -> Result<usize, String> {
        let certs = build_certs(self)?;
        let n = certs.configs.len();
        match self.certs.write() {
            Ok(mut c) => *c = Arc::new(certs),
            Err(p) => *p.into_inner() = Arc::new(certs),
        }
        Ok(n)
    }

    /// Whether a loaded file changed on disk since it was loaded.
    fn changed(&self) -> bool {
        self.current().stamps.iter().any(|(p, t)| mtime(p) != *t)
    }
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// Loads a certificate chain and its key; `strict` refuses a key file
/// others can read.
pub fn load_pair(
    cert: &Path,
    key: &Path,
    strict: bool,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, String> {
    let pem = std::fs::read(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: bad PEM: {e:?}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no CERTIFICATE block", cert.display()));
    }
    check_key_mode(key, strict)?;
    let kpem = std::fs::read(key).map_err(|e| format!("{}: {e}", key.display()))?;
    let k = PrivateKeyDer::from_pem_slice(&kpem).map_err(|e| {
        format!(
            "{}: no usable private key (PKCS#8, SEC1 or PKCS#1 PEM): {e:?}",
            key.display()
        )
    })?;
    CertifiedKey::from_der(chain, k, provider).map_err(|e| {
        format!(
            "{} / {}: certificate and key do not go together or are unsupported: {e}",
            cert.display(),
            key.display()
        )
    })
}

/// Warnings from init come out once logging is set up (in `start`).
static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static PENDING: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn warn(msg: String) {
    if STARTED.load(std::sync::atomic::Ordering::Acquire) {
        log::warn!("{msg}");
    } else if let Ok(mut p) = PENDING.lock() {
        p.push(msg);
    }
}

fn check_key_mode(key: &Path, strict: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let Ok(m) = std::fs::metadata(key) else {
        return Ok(()); // the read reports it
    };
    if m.permissions().mode() & 0o004 != 0 {
        let msg = format!(
            "{}: private key is world-readable (chmod 600 it)",
            key.display()
        );
        if strict {
            return Err(msg + "; refused because strict_key_permissions is on");
        }
        warn(format!("tls: {msg}"));
    }
    Ok(())
}

fn load_roots(ca: &Path) -> Result<RootCertStore, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(&pem) {
        let c = c.map_err(|e| format!("{}: bad PEM: {e:?}", ca.display()))?;
        roots
            .add(c)
            .map_err(|e| format!("{}: unusable CA certificate: {e}", ca.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no CA certificate", ca.display()));
    }
    Ok(roots)
}

/// Generates a self-signed ECDSA P-256 certificate for `names` into
/// `cert`/`key` (mode 0600); returns the SHA-256 fingerprint.
pub fn generate_self_signed(names: &[String], cert: &Path, key: &Path) -> Result<String, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let ck = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| format!("generating a certificate: {e}"))?;
    let write = |p: &Path, data: &str| -> Result<(), String> {
        let tmp = p.with_extension("tmp-new");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        f.write_all(data.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, p).map_err(|e| format!("{}: {e}", p.display()))
    };
    write(key, &ck.signing_key.serialize_pem())?;
    write(cert, &ck.cert.pem())?;
    Ok(fingerprint(ck.cert.der()))
}

/// `AA:BB:...` SHA-256 of a DER certificate.
pub fn fingerprint(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let parts: Vec<String> = d.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    parts.join(":")
}

fn build_certs(sh: &Shared) -> Result<Certs, String> {
    let s = &sh.settings;
    let mut stamps = Vec::new();
    let mut configs = Vec::new();
    let mut names = Vec::new();
    let default_pair = match (&s.vhosts[0].cert, &s.vhosts[0].key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => return Err("no default certificate (set cert and key)".into()),
    };
    for (i, v) in s.vhosts.iter().enumerate() {
        if i > 0 && !v.configured {
            continue;
        }
        let (cp, kp) = match (&v.cert, &v.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => default_pair.clone(),
        };
        let ck = load_pair(&cp, &kp, s.strict, &sh.provider)?;
        stamps.push((cp.clone(), mtime(&cp)));
        stamps.push((kp.clone(), mtime(&kp)));
        let mut needs = v.client_auth;
        if needs == ClientAuth::Off && !v.prefixes.is_empty() {
            needs = ClientAuth::Optional;
        }
        let verifier = match needs {
            ClientAuth::Off => WebPkiClientVerifier::no_client_auth(),
            _ => {
                let Some(ca) = &v.client_ca else {
                    return Err("client_auth needs client_ca".into());
                };
                let roots = load_roots(ca)?;
                stamps.push((ca.clone(), mtime(ca)));
                let b = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    sh.provider.clone(),
                );
                let b = if needs == ClientAuth::Optional {
                    b.allow_unauthenticated()
                } else {
                    b
                };
                b.build().map_err(|e| format!("{}: {e}", ca.display()))?
            }
        };
        let mut cfg = ServerConfig::builder_with_provider(sh.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS versions: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(Fixed(Arc::new(ck))));
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        cfg.ignore_client_order = true;
        cfg.session_storage = sh.sessions.clone();
        match &sh.ticketer {
            Some(t) => {
                cfg.ticketer = t.clone();
                cfg.send_tls13_tickets = 1;
            }
            None => cfg.send_tls13_tickets = if s.session_cache > 0 { 1 } else { 0 },
        }
        let idx = configs.len();
        configs.push((Arc::new(cfg), i));
        if i > 0 {
            for n in s.vhost_names.get(i - 1).into_iter().flatten() {
                names.push((n.clone(), idx));
            }
        }
    }
    Ok(Certs {
        names,
        configs,
        stamps,
    })
}

/// The plugin.
pub struct Tls {
    shared: Option<Arc<Shared>>,
    text: String,
    vhosts: Vec<VhostTls>,
    /// The HTTPS port redirects name: the first listener's, or (when it is
    /// port 0) the one the first TLS connection came in on.
    https_port: std::sync::atomic::AtomicU16,
}

pub struct Worker {
    id: usize,
}

fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Str(s) => Some(vec![s.clone()]),
        Value::List(items) => items
            .iter()
            .map(|i| match i {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn one_path(v: &Value) -> Option<PathBuf> {
    match strings(v) {
        Some(mut l) if l.len() == 1 && !l[0].is_empty() => Some(PathBuf::from(l.remove(0))),
        _ => None,
    }
}

fn device_names(env: &Env) -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let h = h.trim();
        if !h.is_empty() && h != "(none)" {
            names.push(h.to_string());
        }
    }
    for v in &env.vhost_names {
        for n in v {
            if !names.iter().any(|m: &String| m.eq_ignore_ascii_case(n)) {
                names.push(n.clone());
            }
        }
    }
    names.push("localhost".into());
    names
}

/// Parses the sections into settings (`FILE:LINE` errors).
pub fn parse(sections: &[Section<'_>], env: &Env) -> Result<Settings, Vec<String>> {
    let mut errs = Vec::new();
    let mut s = Settings {
        listen: Vec::new(),
        self_signed: false,
        self_signed_names: Vec::new(),
        strict: false,
        watch: true,
        session_cache: 256,
        tickets: true,
        vhosts: vec![VhostTls::new(); env.vhost_names.len() + 1],
        vhost_names: env
            .vhost_names
            .iter()
            .map(|v| v.iter().map(|n| n.to_ascii_lowercase()).collect())
            .collect(),
    };
    let mut cli_listen: Option<Vec<SocketAddr>> = None;
    for sec in sections {
        let cli = sec.file == "<command line>";
        let t = sec.table;
        // Which vhost this table configures.
        let mut vi = 0usize;
        if let Some(e) = t.entries.iter().find(|e| e.key == "vhost") {
            match &e.value {
                Value::Str(name) => {
                    let lname = name.to_ascii_lowercase();
                    match s.vhost_names.iter().position(|ns| ns.contains(&lname)) {
                        Some(i) => vi = i + 1,
                        None => {
                            errs.push(format!(
                                "{}:{}: vhost: no [[vhost]] is named {name:?}",
                                sec.file, e.line
                            ));
                            continue;
                        }
                    }
                }
                _ => {
                    errs.push(format!("{}:{}: vhost: expected a string", sec.file, e.line));
                    continue;
                }
            }
        }
        s.vhosts[vi].configured = true;
        for e in &t.entries {
            let at = format!("{}:{}", sec.file, e.line);
            let bad = |what: &str| format!("{at}: {}: expected {what}", e.key);
            let global_only =
                || format!("{at}: {} is a global key (not allowed with vhost)", e.key);
            let v = &mut s.vhosts[vi];
            match e.key.as_str() {
                "vhost" => v.name = strings(&e.value).and_then(|l| l.into_iter().next()),
                "listen" if vi > 0 => errs.push(global_only()),
                "listen" => match strings(&e.value) {
                    Some(l) => {
                        let mut out = Vec::new();
                        for a in l {
                            match a.parse::<SocketAddr>() {
                                Ok(a) => out.push(a),
                                Err(_) => errs.push(format!(
                                    "{at}: listen: expected ADDR:PORT (IPv6 as [::]:443), got {a:?}"
                                )),
                            }
                        }
                        if cli {
                            cli_listen.get_or_insert_with(Vec::new).extend(out);
                        } else {
                            s.listen = out;
                        }
                    }
                    None => errs.push(bad("a string or a list of strings")),
                },
                "cert" | "key" => match one_path(&e.value) {
                    Some(p) if e.key == "cert" => v.cert = Some(p),
                    Some(p) => v.key = Some(p),
                    None => errs.push(bad("one file name")),
                },
                "client_ca" => match one_path(&e.value) {
                    Some(p) => v.client_ca = Some(p),
                    None => errs.push(bad("one file name")),
                },
                "redirect" => match e.value {
                    Value::Bool(b) => v.redirect = b,
                    _ => errs.push(bad("true or false")),
                },
                "hsts" => match e.value {
                    Value::Int(n) if n >= 0 => v.hsts = n as u64,
                    _ => errs.push(bad("max-age in seconds (0 = off)")),
                },
                "client_auth" => match &e.value {
                    Value::Str(m) if m == "off" => v.client_auth = ClientAuth::Off,
                    Value::Str(m) if m == "optional" => v.client_auth = ClientAuth::Optional,
                    Value::Str(m) if m == "required" => v.client_auth = ClientAuth::Required,
                    _ => errs.push(bad("\"off\", \"optional\" or \"required\"")),
                },
                "client_auth_prefix" => match strings(&e.value) {
                    Some(l) if l.iter().all(|p| p.starts_with('/') && !p.contains("..")) => {
                        v.prefixes = l.iter().map(|p| p.trim_matches('/').to_string()).collect()
                    }
                    _ => errs.push(bad("paths starting with /")),
                },
                k @ ("self_signed" | "strict_key_permissions" | "watch" | "tickets") => {
                    if vi > 0 {
                        errs.push(global_only());
                        continue;
                    }
                    match e.value {
                        Value::Bool(b) => match k {
                            "self_signed" => s.self_signed = b,
                            "strict_key_permissions" => s.strict = b,
                            "watch" => s.watch = b,
                            _ => s.tickets = b,
                        },
                        _ => errs.push(bad("true or false")),
                    }
                }
                "self_signed_names" if vi == 0 => match strings(&e.value) {
                    Some(l) if !l.is_empty() => s.self_signed_names = l,
                    _ => errs.push(bad("a list of names")),
                },
                "session_cache" if vi == 0 => match e.value {
                    Value::Int(n) if (0..=100_000).contains(&n) => s.session_cache = n as usize,
                    _ => errs.push(bad("a number of sessions from 0 to 100000")),
                },
                "self_signed_names" | "session_cache" => errs.push(global_only()),
                k => errs.push(format!("{at}: tls: unknown key {k}")),
            }
        }
    }
    if let Some(l) = cli_listen {
        s.listen = l;
    }
    for (i, v) in s.vhosts.iter_mut().enumerate() {
        if v.cert.is_some() != v.key.is_some() {
            errs.push(format!(
                "tls: {}: cert and key go together (one is missing)",
                v.name.as_deref().unwrap_or("default certificate")
            ));
        }
        if (v.client_auth != ClientAuth::Off || !v.prefixes.is_empty()) && v.client_ca.is_none() {
            errs.push(format!(
                "tls: {}: client_auth/client_auth_prefix need client_ca",
                v.name.as_deref().unwrap_or("default host")
            ));
        }
        if v.hsts > 0 {
            let h = format!("Strict-Transport-Security: max-age={}\r\n", v.hsts);
            v.hsts_header = Box::leak(h.into_bytes().into_boxed_slice());
        }
        let _ = i;
    }
    if !s.listen.is_empty() && s.vhosts[0].cert.is_none() {
        errs.push("tls: listen needs cert and key (--cert/--key or cert = / key =)".into());
    }
    if s.self_signed_names.is_empty() {
        s.self_signed_names = device_names(env);
    }
    if errs.is_empty() {
        Ok(s)
    } else {
        Err(errs)
    }
}

impl Tls {
    /// Builds the shared state from settings (first-boot generation
    /// included).
    pub fn from_settings(s: Settings) -> Result<Arc<Shared>, String> {
        if s.self_signed {
            if let (Some(c), Some(k)) = (&s.vhosts[0].cert, &s.vhosts[0].key) {
                if !c.exists() && !k.exists() {
                    let fp = generate_self_signed(&s.self_signed_names, c, k)?;
                    warn(format!(
                        "tls: generated a self-signed ECDSA P-256 certificate for {} in {} (SHA-256 fingerprint {fp})",
                        s.self_signed_names.join(", "),
                        c.display()
                    ));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let sessions: Arc<dyn StoresServerSessions> = if s.session_cache > 0 {
            rustls::server::ServerSessionMemoryCache::new(s.session_cache)
        } else {
            Arc::new(rustls::server::NoServerSessionStorage {})
        };
        let ticketer = if s.tickets {
            Some(rustls::crypto::ring::Ticketer::new().map_err(|e| format!("ticket keys: {e}"))?)
        } else {
            None
        };
        let mut sh = Shared {
            settings: s,
            provider,
            sessions,
            ticketer,
            certs: RwLock::new(Arc::new(Certs {
                names: Vec::new(),
                configs: Vec::new(),
                stamps: Vec::new(),
            })),
            last_check: Mutex::new(None),
        };
        let certs = build_certs(&sh)?;
        sh.certs = RwLock::new(Arc::new(certs));
        Ok(Arc::new(sh))
    }
}

/// Builds a server transport from in-memory PEM (for fuzzing and tests):
/// the certificate and key never touch the disk.
#[doc(hidden)]
pub fn transport_from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsConn, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("{e:?}"))?;
    let ck = CertifiedKey::from_der(chain, key, &provider).map_err(|e| e.to_string())?;
    let mut cfg = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(Arc::new(ck))));
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    let sh = Shared {
        settings: Settings {
            listen: Vec::new(),
            self_signed: false,
            self_signed_names: Vec::new(),
            strict: false,
            watch: false,
            session_cache: 0,
            tickets: false,
            vhosts: vec![VhostTls::new()],
            vhost_names: Vec::new(),
        },
        provider,
        sessions: Arc::new(rustls::server::NoServerSessionStorage {}),
        ticketer: None,
        certs: RwLock::new(Arc::new(Certs {
            names: Vec::new(),
            configs: vec![(Arc::new(cfg), 0)],
            stamps: Vec::new(),
        })),
        last_check: Mutex::new(None),
    };
    Ok(TlsConn::new(Arc::new(sh)))
}

fn on_prefix(path: &[u8], prefix: &str) -> bool {
    let p = prefix.as_bytes();
    p.is_empty() || (path.starts_with(p) && (path.len() == p.len() || path[p.len()] == b'/'))
}

impl Plugin for Tls {
    const NAME: &'static str = "tls";
    type Worker = Worker;

    fn init(sections: &[Section<'_>], env: &Env) -> Result<Self, Vec<String>> {
        let s = parse(sections, env)?;
        let vhosts = s.vhosts.clone();
        let https_port = s.listen.first().map_or(443, |a| a.port());
        let text = config_text(&s);
        if s.listen.is_empty() {
            // Redirects and settings without listeners: nothing to load.
            return Ok(Tls {
                shared: None,
                text,
                vhosts,
                https_port: https_port.into(),
            });
        }
        let shared = Tls::from_settings(s).map_err(|e| vec![format!("tls: {e}")])?;
        Ok(Tls {
            shared: Some(shared),
            text,
            vhosts,
            https_port: https_port.into(),
        })
    }

    fn config_text(&self) -> String {
        self.text.clone()
    }

    fn listeners(&self) -> Vec<SocketAddr> {
        self.shared
            .as_ref()
            .map_or_else(Vec::new, |s| s.settings.listen.clone())
    }

    fn start(&self, _ctl: Arc<dyn fws_api::plugin::Control>) {
        STARTED.store(true, std::sync::atomic::Ordering::Release);
        if let Ok(mut p) = PENDING.lock() {
            for m in p.drain(..) {
                log::warn!("{m}");
            }
        }
    }

    fn worker(&self, id: usize) -> Worker {
        Worker { id }
    }

    fn transport(&self, _w: &mut Worker, conn: &ConnInfo) -> Option<Box<dyn Transport>> {
        let sh = self.shared.as_ref()?;
        let _ = self.https_port.compare_exchange(
            0,
            conn.local.port(),
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
        );
        Some(Box::new(TlsConn::new(sh.clone())))
    }

    fn request(&self, _w: &mut Worker, x: &mut Exchange<'_, '_>, reply: &mut Reply<'_>) -> Verdict {
        let Some(v) = self.vhosts.get(x.vhost) else {
            return Verdict::Continue;
        };
        if !x.conn.secure {
            if !v.redirect {
                return Verdict::Continue;
            }
            let host = x
                .req
                .host
                .map(strip_port)
                .or_else(|| v.name.as_deref().map(str::as_bytes));
            let mut loc = Vec::with_capacity(64 + x.req.target.len());
            loc.extend_from_slice(b"https://");
            match host {
                Some(h) => loc.extend_from_slice(h),
                None => loc.extend_from_slice(x.conn.local.ip().to_string().as_bytes()),
            }
            let port = self.https_port.load(std::sync::atomic::Ordering::Relaxed);
            if port != 443 && port != 0 {
                loc.extend_from_slice(format!(":{port}").as_bytes());
            }
            if x.req.target.starts_with(b"/") {
                loc.extend_from_slice(x.req.target);
            } else {
                loc.push(b'/');
            }
            reply
                .start(Status::MovedPermanently)
                .header(b"Location", &loc);
            reply.finish_empty();
            return Verdict::Respond;
        }
        if v.prefixes.is_empty() || x.peer.verify == ClientVerify::Success {
            return Verdict::Continue;
        }
        let Some(path) = x.path else {
            return Verdict::Continue;
        };
        if v.prefixes.iter().any(|p| on_prefix(path, p)) {
            reply.error(fws_api::http::error::HttpError::Forbidden);
            return Verdict::Respond;
        }
        Verdict::Continue
    }

    fn tick(&self, w: &mut Worker, now: Instant) {
        if w.id != 0 {
            return;
        }
        let Some(sh) = &self.shared else { return };
        if !sh.settings.watch {
            return;
        }
        if let Ok(mut last) = sh.last_check.lock() {
            if last.is_some_and(|l| now.duration_since(l).as_millis() < 900) {
                return;
            }
            *last = Some(now);
        }
        if sh.changed() {
            match sh.reload() {
                Ok(n) => log::info!("tls: certificate files changed: reloaded {n} certificate(s)"),
                Err(e) => {
                    log::error!(
                        "tls: certificate files changed but do not load, keeping the old ones: {e}"
                    );
                    // Do not retry every second on the same bad file: take
                    // the new times so the next change triggers again.
                    let mut c = Certs {
                        names: Vec::new(),
                        configs: Vec::new(),
                        stamps: Vec::new(),
                    };
                    let cur = sh.current();
                    c.names = cur.names.clone();
                    c.configs = cur.configs.clone();
                    c.stamps = cur
                        .stamps
                        .iter()
                        .map(|(p, _)| (p.clone(), mtime(p)))
                        .collect();
                    if let Ok(mut w) = sh.certs.write() {
                        *w = Arc::new(c);
                    }
                }
            }
        }
    }

    fn reload(&self) {
        if let Some(sh) = &self.shared {
            match sh.reload() {
                Ok(n) => log::info!("tls: reloaded {n} certificate(s)"),
                Err(e) => log::error!("tls: reload failed, keeping the old certificates: {e}"),
            }
        }
    }

    fn command(&self, args: &[&str]) -> Option<Result<String, String>> {
        match args {
            ["reload-certs"] => Some(match &self.shared {
                None => Err("tls: no TLS listener configured".into()),
                Some(sh) => sh
                    .reload()
                    .map(|n| format!("reloaded {n} certificate(s)\n"))
                    .map_err(|e| format!("kept the old certificates: {e}")),
            }),
            ["fingerprint"] => Some(match &self.shared {
                None => Err("tls: no TLS listener configured".into()),
                Some(sh) => {
                    let cur = sh.current();
                    let mut out = String::new();
                    for (p, _) in cur.stamps.iter().step_by(2) {
                        if let Ok(pem) = std::fs::read(p) {
                            if let Some(Ok(c)) = CertificateDer::pem_slice_iter(&pem).next() {
                                out.push_str(&format!("{} {}\n", p.display(), fingerprint(&c)));
                            }
                        }
                    }
                    Ok(out)
                }
            }),
            _ => None,
        }
    }
}

fn strip_port(h: &[u8]) -> &[u8] {
    if h.starts_with(b"[") {
        return match h.iter().position(|&b| b == b']') {
            Some(i) => &h[..=i],
            None => h,
        };
    }
    match h.iter().rposition(|&b| b == b':') {
        Some(i) => &h[..i],
        None => h,
    }
}

fn config_text(s: &Settings) -> String {
    let mut out = String::new();
    if s.listen.is_empty() && !s.vhosts.iter().any(|v| v.configured) {
        return out;
    }
    let q = |p: &Option<PathBuf>| {
        Value::Str(
            p.as_ref()
                .map_or(String::new(), |p| p.display().to_string()),
        )
    };
    for v in s.vhosts.iter().filter(|v| v.configured || v.name.is_none()) {
        out.push_str("\n[[tls]]\n");
        match &v.name {
            Some(n) => out.push_str(&format!("vhost = {}\n", Value::Str(n.clone()))),
            None => {
                let l: Vec<Value> = s.listen.iter().map(|a| Value::Str(a.to_string())).collect();
                out.push_str(&format!("listen = {}\n", Value::List(l)));
                out.push_str(&format!("self_signed = {}\n", s.self_signed));
                let n: Vec<Value> = s
                    .self_signed_names
                    .iter()
                    .cloned()
                    .map(Value::Str)
                    .collect();
                out.push_str(&format!("self_signed_names = {}\n", Value::List(n)));
                out.push_str(&format!("strict_key_permissions = {}\n", s.strict));
                out.push_str(&format!("watch = {}\n", s.watch));
                out.push_str(&format!("session_cache = {}\n", s.session_cache));
                out.push_str(&format!("tickets = {}\n", s.tickets));
            }
        }
        if v.cert.is_some() {
            out.push_str(&format!("cert = {}\nkey = {}\n", q(&v.cert), q(&v.key)));
        }
        out.push_str(&format!("redirect = {}\nhsts = {}\n", v.redirect, v.hsts));
        let m = match v.client_auth {
            ClientAuth::Off => "off",
            ClientAuth::Optional => "optional",
            ClientAuth::Required => "required",
        };
        out.push_str(&format!("client_auth = \"{m}\"\n"));
        if v.client_ca.is_some() {
            out.push_str(&format!("client_ca = {}\n", q(&v.client_ca)));
        }
        if !v.prefixes.is_empty() {
            let p: Vec<Value> = v
                .prefixes
                .iter()
                .map(|p| Value::Str(format!("/{p}")))
                .collect();
            out.push_str(&format!("client_auth_prefix = {}\n", Value::List(p)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_stripped() {
        assert_eq!(strip_port(b"a.lan:8080"), b"a.lan");
        assert_eq!(strip_port(b"[::1]:80"), b"[::1]");
        assert_eq!(strip_port(b"a.lan"), b"a.lan");
    }

    #[test]
    fn prefixes_match_on_segments() {
        assert!(on_prefix(b"admin", "admin"));
        assert!(on_prefix(b"admin/x", "admin"));
        assert!(!on_prefix(b"administrator", "admin"));
    }
}
