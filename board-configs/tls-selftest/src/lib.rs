//! TLS crypto self-test for the firmware targets.
//!
//! Before the TLS plugin exists, this package keeps proving that `rustls` 0.23 with the
//! `ring` provider works on every target we ship (MIPS big- and little-endian, ARMv7,
//! AArch64, x86_64 musl): `tests/handshake.rs` runs a server and a client in one process,
//! moving the TLS records between them through memory buffers, for TLS 1.3 and TLS 1.2,
//! every cipher suite and every key-exchange group of the provider, and checks that
//! application data crosses both ways intact. Run it under QEMU (see CROSS-README):
//!
//! ```text
//! cargo-zigbuild test --target mips-unknown-linux-musl -Zbuild-std -p fws-tls-selftest
//! ```
//!
//! The two binaries measure what TLS adds to a static executable: `tls-echo` is a
//! server-only TLS echo over stdin/stdout, `plain-echo` the same loop without TLS.
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::crypto::{ring as provider, CryptoProvider, SupportedKxGroup};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, ConnectionCommon, RootCertStore, ServerConfig,
    ServerConnection, SupportedCipherSuite, SupportedProtocolVersion,
};

pub use rustls;

/// A crypto provider restricted to the given suites and groups (all of ring's when `None`).
pub fn provider_with(
    suites: Option<&[SupportedCipherSuite]>,
    groups: Option<&[&'static dyn SupportedKxGroup]>,
) -> Arc<CryptoProvider> {
    let mut p = provider::default_provider();
    if let Some(s) = suites {
        p.cipher_suites = s.to_vec();
    }
    if let Some(g) = groups {
        p.kx_groups = g.to_vec();
    }
    Arc::new(p)
}

/// A server configuration with one certificate chain, no client authentication.
pub fn server_config(
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(cfg))
}

/// A client configuration trusting exactly `root`.
pub fn client_config(
    provider: Arc<CryptoProvider>,
    versions: &[&'static SupportedProtocolVersion],
    root: CertificateDer<'static>,
) -> Result<Arc<ClientConfig>, rustls::Error> {
    let mut roots = RootCertStore::empty();
    roots.add(root)?;
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Any failure of a transfer: a TLS error or (never expected with memory buffers) an I/O one.
#[derive(Debug)]
pub enum Failure {
    Tls(rustls::Error),
    Io(io::Error),
    /// The two sides stopped making progress before the goal was reached.
    Stalled(&'static str),
}

impl From<rustls::Error> for Failure {
    fn from(e: rustls::Error) -> Self {
        Failure::Tls(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Io(e)
    }
}

/// Moves every pending TLS record from `from` to `to` through a memory buffer and lets `to`
/// process them. Returns the number of bytes moved.
pub fn transfer<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
) -> Result<usize, Failure> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire)?;
    }
    let mut rd: &[u8] = &wire;
    while !rd.is_empty() {
        to.read_tls(&mut rd)?;
        to.process_new_packets()?;
    }
    Ok(wire.len())
}

/// Runs the handshake to completion; returns the bytes sent each way (client→server, server→client).
pub fn handshake(
    client: &mut ClientConnection,
    server: &mut ServerConnection,
) -> Result<(usize, usize), Failure> {
    let (mut c2s, mut s2c) = (0, 0);
    for _ in 0..16 {
        if !client.is_handshaking()
            && !server.is_handshaking()
            && !client.wants_write()
            && !server.wants_write()
        {
            return Ok((c2s, s2c));
        }
        c2s += transfer(client, server)?;
        s2c += transfer(server, client)?;
    }
    Err(Failure::Stalled("handshake did not finish in 16 flights"))
}

/// Sends `data` from one side to the other and reads it back out of the receiver.
/// Large data goes in 16 KB pieces, each drained from the receiver before the next: both
/// sides buffer only a limited amount of plaintext (64 KB by default).
pub fn send_and_receive<A, B>(
    from: &mut ConnectionCommon<A>,
    to: &mut ConnectionCommon<B>,
    data: &[u8],
) -> Result<Vec<u8>, Failure> {
    let mut sent = 0;
    let mut got = Vec::with_capacity(data.len());
    let mut buf = [0u8; 4096];
    for _ in 0..(data.len() / 1024 + 16) {
        if sent < data.len() {
            let end = data.len().min(sent + 16 * 1024);
            sent += from.writer().write(&data[sent..end])?;
        }
        transfer(from, to)?;
        loop {
            match to.reader().read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        if got.len() >= data.len() {
            return Ok(got);
        }
    }
    Err(Failure::Stalled("application data did not arrive"))
}

/// A client and a server connection for `name`.
pub fn connect(
    client_cfg: Arc<ClientConfig>,
    server_cfg: Arc<ServerConfig>,
    name: &str,
) -> Result<(ClientConnection, ServerConnection), Failure> {
    let name =
        ServerName::try_from(name.to_string()).map_err(|_| Failure::Stalled("bad server name"))?;
    let client = ClientConnection::new(client_cfg, name)?;
    let server = ServerConnection::new(server_cfg)?;
    Ok((client, server))
}
