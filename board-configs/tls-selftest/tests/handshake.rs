//! TLS 1.3 and 1.2 handshakes and data exchange, in-process over memory buffers, with an
//! ECDSA P-256 CA and server certificate generated at test time (rcgen on ring).
//! Every cipher suite and key-exchange group of the ring provider is exercised, so each of
//! ring's AEAD, hash, ECDH and signature implementations runs on the target.

use fws_tls_selftest::rustls::crypto::ring as provider;
use fws_tls_selftest::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use fws_tls_selftest::rustls::{
    self, CipherSuite, NamedGroup, ProtocolVersion, SupportedCipherSuite,
};
use fws_tls_selftest::{
    client_config, connect, handshake, provider_with, send_and_receive, server_config, Failure,
};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};

const NAME: &str = "router.lan";

struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A self-signed ECDSA P-256 CA and a P-256 server certificate for `router.lan` signed by it.
fn pki() -> Pki {
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "firmware-server test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA cert");
    let issuer = Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("server key");
    let mut params = CertificateParams::new(vec![NAME.to_string()]).expect("server params");
    params.distinguished_name.push(DnType::CommonName, NAME);
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &issuer).expect("server cert");

    Pki {
        ca: ca_cert.der().clone(),
        chain: vec![cert.der().clone()],
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    }
}

/// Handshake with the given suite/groups and versions; exchange data both ways; check what
/// was negotiated. Returns the handshake bytes (client→server, server→client).
fn run(
    pki: &Pki,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suite: Option<SupportedCipherSuite>,
    group: Option<&'static dyn rustls::crypto::SupportedKxGroup>,
    payload: &[u8],
) -> Result<(ProtocolVersion, CipherSuite, NamedGroup, usize, usize), Failure> {
    let suites = suite.map(|s| vec![s]);
    let groups = group.map(|g| vec![g]);
    let prov = provider_with(suites.as_deref(), groups.as_deref());
    let scfg = server_config(
        prov.clone(),
        versions,
        pki.chain.clone(),
        pki.key.clone_key(),
    )?;
    let ccfg = client_config(prov, versions, pki.ca.clone())?;
    let (mut client, mut server) = connect(ccfg, scfg, NAME)?;
    let (c2s, s2c) = handshake(&mut client, &mut server)?;

    // Data both ways, then the reverse direction with a different payload.
    let got = send_and_receive(&mut client, &mut server, payload)?;
    assert_eq!(got, payload, "client -> server data differs");
    let reply: Vec<u8> = payload.iter().rev().map(|b| b ^ 0x5a).collect();
    let got = send_and_receive(&mut server, &mut client, &reply)?;
    assert_eq!(got, reply, "server -> client data differs");

    let version = client.protocol_version().expect("version");
    assert_eq!(Some(version), server.protocol_version());
    let suite = client.negotiated_cipher_suite().expect("suite").suite();
    assert_eq!(
        Some(suite),
        server.negotiated_cipher_suite().map(|s| s.suite())
    );
    let group = client
        .negotiated_key_exchange_group()
        .expect("group")
        .name();
    assert_eq!(
        Some(group),
        server.negotiated_key_exchange_group().map(|g| g.name())
    );
    Ok((version, suite, group, c2s, s2c))
}

fn payload(len: usize) -> Vec<u8> {
    // Deterministic, not compressible into a pattern that would hide byte-order bugs.
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn tls13_handshake_and_data() {
    let pki = pki();
    let (v, suite, _group, c2s, s2c) = run(
        &pki,
        &[&rustls::version::TLS13],
        None,
        None,
        b"GET / HTTP/1.1\r\nHost: router.lan\r\n\r\n",
    )
    .unwrap();
    assert_eq!(v, ProtocolVersion::TLSv1_3);
    assert!(c2s > 0 && s2c > 0);
    eprintln!("TLS 1.3: {suite:?}, handshake {c2s} + {s2c} bytes");
}

#[test]
fn tls12_handshake_and_data() {
    let pki = pki();
    let (v, suite, _group, c2s, s2c) = run(
        &pki,
        &[&rustls::version::TLS12],
        None,
        None,
        b"GET / HTTP/1.1\r\nHost: router.lan\r\n\r\n",
    )
    .unwrap();
    assert_eq!(v, ProtocolVersion::TLSv1_2);
    assert!(format!("{suite:?}").contains("ECDHE_ECDSA"), "{suite:?}");
    eprintln!("TLS 1.2: {suite:?}, handshake {c2s} + {s2c} bytes");
}

#[test]
fn every_suite_and_group() {
    let pki = pki();
    let data = payload(3000);
    let mut n = 0;
    for suite in provider::ALL_CIPHER_SUITES {
        let version = suite.version();
        // TLS 1.2 RSA suites cannot be used with an ECDSA certificate.
        if format!("{:?}", suite.suite()).contains("_RSA_") {
            continue;
        }
        for group in provider::ALL_KX_GROUPS {
            let (v, s, g, _, _) = run(&pki, &[version], Some(*suite), Some(*group), &data)
                .unwrap_or_else(|e| panic!("{:?} with {:?}: {e:?}", suite.suite(), group.name()));
            assert_eq!(v, version.version);
            assert_eq!(s, suite.suite());
            assert_eq!(g, group.name());
            n += 1;
        }
    }
    // 3 TLS 1.3 suites + 3 ECDSA TLS 1.2 suites, times X25519, P-256, P-384.
    assert_eq!(n, 18, "combinations tried");
}

#[test]
fn large_transfer_spans_many_records() {
    let pki = pki();
    let data = payload(200 * 1024); // > 12 records of 16 KB
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        run(&pki, &[version], None, None, &data).unwrap();
    }
}

#[test]
fn wrong_name_is_rejected() {
    let pki = pki();
    let prov = provider_with(None, None);
    let versions = rustls::ALL_VERSIONS;
    let scfg = server_config(
        prov.clone(),
        versions,
        pki.chain.clone(),
        pki.key.clone_key(),
    )
    .unwrap();
    let ccfg = client_config(prov, versions, pki.ca.clone()).unwrap();
    let (mut client, mut server) = connect(ccfg, scfg, "evil.example").unwrap();
    match handshake(&mut client, &mut server) {
        Err(Failure::Tls(rustls::Error::InvalidCertificate(_))) => {}
        other => panic!("expected InvalidCertificate, got {other:?}"),
    }
}

#[test]
fn untrusted_ca_is_rejected() {
    let pki = pki();
    let other = self::pki();
    let prov = provider_with(None, None);
    let versions = rustls::ALL_VERSIONS;
    let scfg = server_config(
        prov.clone(),
        versions,
        pki.chain.clone(),
        pki.key.clone_key(),
    )
    .unwrap();
    let ccfg = client_config(prov, versions, other.ca.clone()).unwrap();
    let (mut client, mut server) = connect(ccfg, scfg, NAME).unwrap();
    match handshake(&mut client, &mut server) {
        Err(Failure::Tls(rustls::Error::InvalidCertificate(_))) => {}
        other => panic!("expected InvalidCertificate, got {other:?}"),
    }
}
