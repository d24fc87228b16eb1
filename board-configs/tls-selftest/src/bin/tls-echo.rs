//! Size probe: a server-only TLS 1.3/1.2 echo over stdin/stdout (rustls + ring, PEM loading).
//! Compare its stripped size with `plain-echo` to see what TLS adds to a static binary.
//!
//! usage: tls-echo CERT.pem KEY.pem   (e.g. `socat TCP-LISTEN:8443,reuseaddr EXEC:"tls-echo c.pem k.pem"`)
#![forbid(unsafe_code)]

use std::io::{self, Read, Write};
use std::process::ExitCode;

use fws_tls_selftest::rustls::pki_types::pem::PemObject;
use fws_tls_selftest::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use fws_tls_selftest::rustls::{self, ServerConnection};
use fws_tls_selftest::{provider_with, server_config};

fn serve(cert: &str, key: &str) -> Result<(), String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let cfg = server_config(
        provider_with(None, None),
        rustls::DEFAULT_VERSIONS,
        chain,
        key,
    )
    .map_err(|e| e.to_string())?;
    let mut conn = ServerConnection::new(cfg).map_err(|e| e.to_string())?;
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    let mut buf = [0u8; 4096];
    loop {
        while conn.wants_write() {
            conn.write_tls(&mut output).map_err(|e| e.to_string())?;
        }
        output.flush().map_err(|e| e.to_string())?;
        if conn.read_tls(&mut input).map_err(|e| e.to_string())? == 0 {
            return Ok(());
        }
        conn.process_new_packets().map_err(|e| e.to_string())?;
        loop {
            match conn.reader().read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => conn
                    .writer()
                    .write_all(&buf[..n])
                    .map_err(|e| e.to_string())?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: tls-echo CERT.pem KEY.pem");
        return ExitCode::from(2);
    }
    match serve(&args[1], &args[2]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tls-echo: {e}");
            ExitCode::FAILURE
        }
    }
}
