//! Black-box tests of the TLS plugin with real clients: curl, `openssl
//! s_client` and Python's `ssl` (tests/tls/client.py). Certificates are
//! made with the `openssl` command for every run (ECDSA P-256/P-384 in
//! SEC1, Ed25519 in PKCS#8, RSA in PKCS#1, served as full chains).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use blackbox::*;

fn sh(dir: &Path, script: &str) {
    let o = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        o.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A test PKI in a temp dir: a CA, server certificates and client ones.
struct Pki {
    dir: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let dir = TempDir::new();
        sh(
            dir.path(),
            "openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
               -keyout ca.key -out ca.pem -subj '/CN=Test CA' -days 30 2>/dev/null
             openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
               -keyout other-ca.key -out other-ca.pem -subj '/CN=Other CA' -days 30 2>/dev/null
             openssl genpkey -algorithm ed25519 -out localhost.key
             openssl ecparam -genkey -name secp384r1 -noout -out a.lan.key
             openssl genrsa -traditional -out b.lan.key 2048 2>/dev/null
             openssl ecparam -genkey -name prime256v1 -noout -out c.lan.key
             openssl ecparam -genkey -name prime256v1 -noout -out client.key
             openssl ecparam -genkey -name prime256v1 -noout -out stranger.key
             for n in localhost a.lan b.lan c.lan; do
               printf 'subjectAltName=DNS:%s\\nextendedKeyUsage=serverAuth\\n' $n > $n.ext
               openssl req -new -key $n.key -subj /CN=$n -out $n.csr
               openssl x509 -req -in $n.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
                 -days 30 -extfile $n.ext -out $n.leaf 2>/dev/null
               cat $n.leaf ca.pem > $n.pem
             done
             printf 'extendedKeyUsage=clientAuth\\n' > client.ext
             openssl req -new -key client.key -subj '/O=Acme/CN=operator 1' -out client.csr
             openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
               -days 30 -extfile client.ext -out client.pem 2>/dev/null
             openssl req -new -key stranger.key -subj '/CN=stranger' -out stranger.csr
             openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key \
               -CAcreateserial -days 30 -extfile client.ext -out stranger.pem 2>/dev/null
             chmod 600 *.key",
        );
        Pki { dir }
    }

    fn p(&self, name: &str) -> String {
        path_str(&self.dir.join(name))
    }
}

struct Tls {
    site: Site,
    server: Server,
}

impl Tls {
    fn tls(&self) -> SocketAddr {
        self.server.addrs()[1]
    }
}

/// A server with a plain listener, TLS on 127.0.0.1 and [::1], vhosts
/// a.lan, b.lan and c.lan (each serving its own name), and `tls` appended
/// to the `[[tls]]` tables (`{P}` = the PKI dir).
fn start(pki: &Pki, extra: &str) -> Tls {
    let site = Site::new();
    site.file("index.html", "default\n");
    for n in ["a.lan", "b.lan", "c.lan"] {
        site.outside(&format!("{n}/index.html"), format!("{n}\n"));
        site.outside(&format!("{n}/admin/index.html"), format!("{n} admin\n"));
    }
    site.file("big.bin", pattern(3_000_000, 7));
    let base = path_str(site.base());
    let p = path_str(pki.dir.path());
    let text = format!(
        "[server]\nheader_timeout = \"2s\"\n\
         [[vhost]]\nnames = [\"a.lan\"]\nroot = \"{base}/a.lan\"\n\
         [[vhost]]\nnames = [\"b.lan\"]\nroot = \"{base}/b.lan\"\n\
         [[vhost]]\nnames = [\"c.lan\"]\nroot = \"{base}/c.lan\"\n\
         [[tls]]\nlisten = [\"127.0.0.1:0\", \"[::1]:0\"]\n\
         cert = \"{p}/localhost.pem\"\nkey = \"{p}/localhost.key\"\n\
         [[tls]]\nvhost = \"a.lan\"\ncert = \"{p}/a.lan.pem\"\nkey = \"{p}/a.lan.key\"\n\
         [[tls]]\nvhost = \"b.lan\"\ncert = \"{p}/b.lan.pem\"\nkey = \"{p}/b.lan.key\"\n\
         {}",
        extra.replace("{P}", &p)
    );
    let cfg = path_str(&site.config("server.toml", &text));
    let root = site.root_str();
    let server = Server::start_raw(
        &[
            "--root",
            &root,
            "--config",
            &cfg,
            "--listen",
            "127.0.0.1:0",
            "--log-level",
            "info",
        ],
        3,
    );
    Tls { site, server }
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl")
}

fn curl_ok(args: &[&str]) -> String {
    let o = curl(args);
    assert!(
        o.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// curl to https://NAME:PORT/PATH resolved to `addr`, trusting the test CA.
fn curl_name(pki: &Pki, addr: SocketAddr, name: &str, path: &str, more: &[&str]) -> Output {
    let resolve = format!("{name}:{}:{}", addr.port(), addr.ip());
    let resolve = resolve.replace("[", "").replace("]", "");
    let url = match addr {
        SocketAddr::V4(_) => format!("https://{name}:{}{path}", addr.port()),
        SocketAddr::V6(_) => format!("https://{name}:{}{path}", addr.port()),
    };
    let ca = pki.p("ca.pem");
    let mut args = vec!["--cacert", &ca, "--resolve", &resolve, &url];
    args.extend_from_slice(more);
    curl(&args)
}

fn py(args: &[&str]) -> String {
    let script = workspace_root().join("tests/tls/client.py");
    let o = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        o.status.success(),
        "client.py {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn s_client(addr: SocketAddr, args: &[&str], input: &[u8]) -> String {
    let connect = addr.to_string();
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &connect, "-servername", "localhost"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        let _ = stdin.write_all(&input);
        std::thread::sleep(Duration::from_millis(1500));
    });
    let out = child.wait_with_output().expect("openssl output");
    let _ = feeder.join();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn curl_tls13_and_tls12_on_ipv4_and_ipv6_beside_plain() {
    let pki = Pki::new();
    let t = start(&pki, "");
    // Plain HTTP still served on its own listener.
    t.server.get("/").assert_body(200, "default\n");
    for addr in [t.tls(), t.server.addrs()[2]] {
        assert!(t.server.addrs()[2].is_ipv6());
        for (v, want) in [("--tlsv1.3", "TLSv1.3"), ("--tls-max", "TLSv1.2")] {
            let mut more = vec![v, "-v"];
            if v == "--tls-max" {
                more = vec!["--tlsv1.2", "--tls-max", "1.2", "-v"];
            }
            let o = curl_name(&pki, addr, "localhost", "/", &more);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            assert_eq!(String::from_utf8_lossy(&o.stdout), "default\n");
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(err.contains(want), "{want} not negotiated: {err}");
            assert!(err.contains("ALPN: server accepted http/1.1"), "{err}");
        }
    }
    // A file larger than every buffer streams through the transport.
    let o = curl_name(&pki, t.tls(), "localhost", "/big.bin", &[]);
    assert!(o.status.success());
    assert_eq!(o.stdout, pattern(3_000_000, 7));
}

#[test]
fn sni_picks_each_virtual_hosts_certificate_and_the_default() {
    let pki = Pki::new();
    let t = start(&pki, "");
    for (name, body) in [
        ("a.lan", "a.lan\n"),       // P-384 key in SEC1
        ("b.lan", "b.lan\n"),       // RSA key in PKCS#1
        ("localhost", "default\n"), // Ed25519 key in PKCS#8
    ] {
        // curl checks the certificate's name, so the right one was sent.
        let o = curl_name(&pki, t.tls(), name, "/", &[]);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), body);
    }
    // A vhost without a certificate of its own gets the default one (whose
    // name does not match): curl refuses it, and accepts it with -k.
    let o = curl_name(&pki, t.tls(), "c.lan", "/", &[]);
    assert!(!o.status.success());
    let o = curl_name(&pki, t.tls(), "c.lan", "/", &["-k"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "c.lan\n");
    // Python's ssl agrees.
    let host = t.tls().ip().to_string();
    let port = t.tls().port().to_string();
    let out = py(&["get", &host, &port, "a.lan", &pki.p("ca.pem"), "/"]);
    assert_eq!(out, "200 TLSv1.3 a.lan");
}

#[test]
fn openssl_resumes_and_refuses_tls11_and_renegotiation() {
    let pki = Pki::new();
    let t = start(&pki, "");
    let sess = pki.p("sess.pem");
    for proto in ["-tls1_3", "-tls1_2"] {
        let first = s_client(t.tls(), &[proto, "-sess_out", &sess], b"");
        assert!(first.contains("New,"), "{first}");
        let again = s_client(t.tls(), &[proto, "-sess_in", &sess], b"");
        assert!(again.contains("Reused,"), "{proto} not resumed: {again}");
    }
    let old = s_client(t.tls(), &["-tls1_1"], b"");
    assert!(
        !old.contains("Reused,") && old.contains("Cipher is (NONE)"),
        "{old}"
    );
    // Renegotiation ('R' on s_client's input) is refused with a
    // no_renegotiation alert.
    let out = s_client(t.tls(), &["-tls1_2"], b"R\n");
    assert!(out.contains("RENEGOTIATING"), "{out}");
    assert!(
        out.contains("no renegotiation"),
        "renegotiation accepted: {out}"
    );
    // The server is fine afterwards.
    assert_eq!(
        curl_ok(&[
            "--cacert",
            &pki.p("ca.pem"),
            "--resolve",
            &format!("localhost:{}:127.0.0.1", t.tls().port()),
            &format!("https://localhost:{}/", t.tls().port())
        ]),
        "default\n"
    );
}

/// Reads until the server closes; what it sent first.
fn until_closed(s: &mut TcpStream) -> Vec<u8> {
    s.set_read_timeout(Some(scaled(10.0))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("server did not close: {e}"),
        }
    }
}

#[test]
fn bad_input_gets_an_alert_or_a_close_and_others_are_served() {
    let pki = Pki::new();
    let t = start(&pki, "");
    let host = t.tls().ip().to_string();
    let port = t.tls().port().to_string();
    let ca = pki.p("ca.pem");
    // A handshake that never finishes, held open during everything below.
    let mut stalled = TcpStream::connect(t.tls()).unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x00, 0x80, 0x01])
        .unwrap();
    // Garbage: a fatal alert (content type 21), then a close.
    let mut s = TcpStream::connect(t.tls()).unwrap();
    s.write_all(&[0x42; 300]).unwrap();
    let got = until_closed(&mut s);
    assert_eq!(got.first(), Some(&0x15), "{got:?}");
    // Plain HTTP on the TLS port: an alert and a close, never a response.
    let mut s = TcpStream::connect(t.tls()).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let got = until_closed(&mut s);
    assert_eq!(got.first(), Some(&0x15), "{got:?}");
    // An oversized record (2^16 - 1 bytes announced).
    let mut s = TcpStream::connect(t.tls()).unwrap();
    s.write_all(&[0x16, 0x03, 0x03, 0xff, 0xff]).unwrap();
    let got = until_closed(&mut s);
    assert_eq!(got.first(), Some(&0x15), "{got:?}");
    // A client that vanishes mid-handshake.
    for _ in 0..50 {
        let mut s = TcpStream::connect(t.tls()).unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x01, 0x00, 0x01, 0x00])
            .unwrap();
        drop(s);
    }
    // A ClientHello (and everything after) written one byte at a time.
    assert_eq!(
        py(&["onebyte", &host, &port, "localhost", &ca, "/"]),
        "200 default"
    );
    // Others are served throughout.
    assert_eq!(
        py(&["get", &host, &port, "localhost", &ca, "/"]),
        "200 TLSv1.3 default"
    );
    // The stalled handshake hits the deadline (header_timeout, 2 s) and is
    // closed without a byte.
    let got = until_closed(&mut stalled);
    assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
    t.server.get("/").assert_body(200, "default\n");
}

#[test]
fn certificates_reload_on_sighup_and_file_change_without_failed_requests() {
    let pki = Pki::new();
    let t = start(&pki, "");
    let host = t.tls().ip().to_string();
    let port = t.tls().port().to_string();
    let before = py(&["fingerprint", &host, &port, "localhost"]);
    // A client loop over new handshakes while the certificate changes.
    let (h, p, ca) = (host.clone(), port.clone(), pki.p("ca.pem"));
    let looper = std::thread::spawn(move || py(&["loop", &h, &p, "localhost", &ca, "/", "6"]));
    std::thread::sleep(Duration::from_millis(1500));
    // New key and certificate for localhost, same CA; swap by rename.
    sh(
        pki.dir.path(),
        "openssl ecparam -genkey -name prime256v1 -noout -out new.key
         chmod 600 new.key
         openssl req -new -key new.key -subj /CN=localhost -out new.csr
         openssl x509 -req -in new.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
           -days 30 -extfile localhost.ext -out new.leaf 2>/dev/null
         cat new.leaf ca.pem > new.pem
         mv new.key localhost.key && mv new.pem localhost.pem",
    );
    t.server.signal("HUP");
    let out = looper.join().unwrap();
    assert!(out.contains("failed=0"), "{out}");
    assert!(!out.contains("ok=0 "), "{out}");
    let after = py(&["fingerprint", &host, &port, "localhost"]);
    assert_ne!(before, after, "certificate not reloaded");
    // A bad new file keeps the old certificate, and says why.
    std::fs::write(pki.dir.join("localhost.pem"), "not a certificate\n").unwrap();
    t.server.signal("HUP");
    assert!(
        wait_for(scaled(5.0), || t
            .server
            .stderr_text()
            .contains("keeping the old")
            .then_some(()))
        .is_some(),
        "{}",
        t.server.stderr_text()
    );
    assert_eq!(py(&["fingerprint", &host, &port, "localhost"]), after);
    // A file change alone (no signal) is picked up too: a.lan's pair
    // copied over localhost's.
    std::fs::copy(pki.dir.join("a.lan.pem"), pki.dir.join("localhost.pem")).unwrap();
    std::fs::copy(pki.dir.join("a.lan.key"), pki.dir.join("localhost.key")).unwrap();
    let want = py(&["fingerprint", &host, &port, "a.lan"]);
    assert!(
        wait_for(scaled(5.0), || (py(&[
            "fingerprint",
            &host,
            &port,
            "localhost"
        ]) == want)
            .then_some(()))
        .is_some(),
        "file change not picked up"
    );
}

#[test]
fn world_readable_key_warns_or_is_refused_when_strict() {
    let pki = Pki::new();
    let key = pki.dir.join("localhost.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let t = start(&pki, "");
    // The warning is logged from the plugin's start hook, which may run
    // just after the listening lines (later still under emulation).
    assert!(
        wait_for(scaled(5.0), || t
            .server
            .stderr_text()
            .contains("world-readable")
            .then_some(()))
        .is_some(),
        "{}",
        t.server.stderr_text()
    );
    drop(t);
    let site = Site::new();
    let cfg = site.config(
        "s.toml",
        &format!(
            "[[tls]]\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\nstrict_key_permissions = true\n",
            pki.p("localhost.pem"),
            path_str(&key)
        ),
    );
    let r = run(&["--check-config", "--config", &path_str(&cfg)]);
    assert_ne!(r.code(), Some(0));
    assert!(r.stderr.contains("world-readable"), "{}", r.stderr);
}

#[test]
fn first_boot_generates_a_self_signed_certificate() {
    let site = Site::new();
    site.file("index.html", "home\n");
    let cert = site.base().join("gen/cert.pem");
    let key = site.base().join("gen/key.pem");
    std::fs::create_dir_all(site.base().join("gen")).unwrap();
    let text = format!(
        "[[tls]]\nlisten = \"127.0.0.1:0\"\ncert = \"{}\"\nkey = \"{}\"\nself_signed = true\n\
         self_signed_names = [\"router.lan\", \"localhost\"]\n",
        path_str(&cert),
        path_str(&key)
    );
    let cfg = path_str(&site.config("s.toml", &text));
    let root = site.root_str();
    let t = Server::start_raw(
        &["--root", &root, "--config", &cfg, "--listen", "127.0.0.1:0"],
        2,
    );
    for p in [&cert, &key] {
        let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
    // The certificate is ECDSA P-256 for the names, and its fingerprint was
    // logged.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-fingerprint", "-sha256", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("prime256v1") || text.contains("P-256"),
        "{text}"
    );
    assert!(text.contains("DNS:router.lan"), "{text}");
    let fp = text
        .lines()
        .find_map(|l| l.split("Fingerprint=").nth(1))
        .unwrap()
        .trim()
        .to_string();
    assert!(
        wait_for(scaled(5.0), || t.stderr_text().contains(&fp).then_some(())).is_some(),
        "{}",
        t.stderr_text()
    );
    // Clients that trust it get the page.
    let port = t.addrs()[1].port();
    let out = curl_ok(&[
        "--cacert",
        &path_str(&cert),
        "--resolve",
        &format!("router.lan:{port}:127.0.0.1"),
        &format!("https://router.lan:{port}/"),
    ]);
    assert_eq!(out, "home\n");
    // A second start keeps the files.
    let before = std::fs::read(&cert).unwrap();
    drop(t);
    let _t = Server::start_raw(
        &["--root", &root, "--config", &cfg, "--listen", "127.0.0.1:0"],
        2,
    );
    assert_eq!(std::fs::read(&cert).unwrap(), before);
}

#[test]
fn client_certificates_required_optional_absent_and_wrong_ca() {
    let pki = Pki::new();
    let t = start(
        &pki,
        "client_auth = \"required\"\nclient_ca = \"{P}/ca.pem\"\n\
         [[tls]]\nvhost = \"c.lan\"\ncert = \"{P}/c.lan.pem\"\nkey = \"{P}/c.lan.key\"\n\
         client_ca = \"{P}/ca.pem\"\nclient_auth_prefix = [\"/admin\"]\n",
    );
    let (cert, key, scert, skey) = (
        pki.p("client.pem"),
        pki.p("client.key"),
        pki.p("stranger.pem"),
        pki.p("stranger.key"),
    );
    let with = ["--cert", &cert, "--key", &key];
    let wrong = ["--cert", &scert, "--key", &skey];
    // b.lan (the last [[tls]] vhost table before the extra keys) requires a
    // certificate from the CA.
    let ok = curl_name(&pki, t.tls(), "b.lan", "/", &with);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout), "b.lan\n");
    assert!(!curl_name(&pki, t.tls(), "b.lan", "/", &[]).status.success());
    assert!(!curl_name(&pki, t.tls(), "b.lan", "/", &wrong)
        .status
        .success());
    // a.lan asks for nothing.
    let o = curl_name(&pki, t.tls(), "a.lan", "/", &[]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "a.lan\n");
    // c.lan: optional at the handshake, required under /admin (403).
    let o = curl_name(&pki, t.tls(), "c.lan", "/", &["-w", " %{http_code}"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "c.lan\n 200");
    let o = curl_name(
        &pki,
        t.tls(),
        "c.lan",
        "/admin/",
        &["-w", " %{http_code}", "-o", "/dev/null"],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), " 403");
    let mut args = with.to_vec();
    args.extend(["-w", " %{http_code}"]);
    let o = curl_name(&pki, t.tls(), "c.lan", "/admin/", &args);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "c.lan admin\n 200");
    assert!(!curl_name(&pki, t.tls(), "c.lan", "/admin/", &wrong)
        .status
        .success());
    let _ = &t.site;
}

#[test]
fn redirect_to_https_and_hsts() {
    let pki = Pki::new();
    let t = start(&pki, "redirect = true\nhsts = 31536000\n");
    // b.lan's table got redirect/hsts; plain requests for it are redirected
    // (to the port of the TLS listener, learnt from the first connection
    // when it was configured as port 0).
    assert!(curl_name(&pki, t.tls(), "a.lan", "/", &[]).status.success());
    let r = t
        .server
        .request("GET /x/y?q=1 HTTP/1.1\r\nHost: b.lan:8080\r\n\r\n");
    r.assert_status(301);
    let tls_port = t.tls().port();
    assert_eq!(
        r.must_header("Location"),
        format!("https://b.lan:{tls_port}/x/y?q=1")
    );
    // Other vhosts are not.
    t.server
        .request("GET / HTTP/1.1\r\nHost: a.lan\r\n\r\n")
        .assert_body(200, "a.lan\n");
    // Over HTTPS, b.lan's responses carry HSTS; a.lan's do not.
    let o = curl_name(&pki, t.tls(), "b.lan", "/", &["-i"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("Strict-Transport-Security: max-age=31536000"),
        "{text}"
    );
    let o = curl_name(&pki, t.tls(), "a.lan", "/", &["-i"]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("Strict-Transport"));
}

#[test]
fn config_errors_name_file_and_line() {
    let site = Site::new();
    let cfg = site.config(
        "bad.toml",
        "[[tls]]\nlisten = \"nowhere\"\ncert = \"/x.pem\"\nkey = \"/x.key\"\nclient_auth = \"maybe\"\nbogus = 1\n",
    );
    let r = run(&["--check-config", "--config", &path_str(&cfg)]);
    assert_ne!(r.code(), Some(0));
    for want in [
        "bad.toml:2: listen",
        "bad.toml:5: client_auth",
        "bad.toml:6: tls: unknown key bogus",
    ] {
        assert!(r.stderr.contains(want), "{want}: {}", r.stderr);
    }
    // --tls-listen without a certificate is refused.
    let r = run(&["--check-config", "--tls-listen", "127.0.0.1:0"]);
    assert_ne!(r.code(), Some(0));
    assert!(r.stderr.contains("cert"), "{}", r.stderr);
}

#[test]
fn ctl_tls_reload_certs_swaps_the_certificate_or_keeps_the_old_one() {
    let pki = Pki::new();
    let sock = pki.p("ctl.sock");
    let site = Site::new();
    site.file("index.html", "home\n");
    let text = format!(
        "[ctl]\nsocket = \"{sock}\"\n[[tls]]\nlisten = \"127.0.0.1:0\"\nwatch = false\n\
         cert = \"{}\"\nkey = \"{}\"\n",
        pki.p("localhost.pem"),
        pki.p("localhost.key")
    );
    let cfg = path_str(&site.config("s.toml", &text));
    let check = run(&["--check-config", "--config", &cfg]);
    if check.code() != Some(0) {
        // A build without the ctl plugin says so; nothing else to test.
        assert!(
            check.stderr.contains("needs the ctl plugin"),
            "{}",
            check.stderr
        );
        return;
    }
    let root = site.root_str();
    let t = Server::start_raw(
        &["--root", &root, "--config", &cfg, "--listen", "127.0.0.1:0"],
        2,
    );
    let (host, port) = (
        t.addrs()[1].ip().to_string(),
        t.addrs()[1].port().to_string(),
    );
    wait_for(scaled(5.0), || Path::new(&sock).exists().then_some(())).expect("ctl socket");
    let before = py(&["fingerprint", &host, &port, "localhost"]);
    // The files change, but watch is off: nothing happens until asked.
    std::fs::copy(pki.dir.join("a.lan.pem"), pki.dir.join("localhost.pem")).unwrap();
    std::fs::copy(pki.dir.join("a.lan.key"), pki.dir.join("localhost.key")).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(py(&["fingerprint", &host, &port, "localhost"]), before);
    let r = run(&["ctl", "--socket", &sock, "tls", "reload-certs"]);
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(r.stdout.contains("reloaded 1 certificate"), "{}", r.stdout);
    let after = py(&["fingerprint", &host, &port, "localhost"]);
    assert_ne!(after, before);
    assert_eq!(after, py(&["fingerprint", &host, &port, "a.lan"]));
    // A key that does not go with the certificate: refused, old one kept.
    std::fs::copy(pki.dir.join("b.lan.key"), pki.dir.join("localhost.key")).unwrap();
    let r = run(&["ctl", "--socket", &sock, "tls", "reload-certs"]);
    assert_ne!(r.code(), Some(0));
    assert!(
        r.stderr.contains("kept the old certificates"),
        "{}",
        r.stderr
    );
    assert_eq!(py(&["fingerprint", &host, &port, "localhost"]), after);
}
