//! The subject of an X.509 certificate in RFC 4514 form (`CN=x,O=y`), read
//! with a minimal bounded DER walker (no allocation beyond the result).

/// One DER element: (tag, contents, rest).
fn tlv(d: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, d) = d.split_first()?;
    let (&l0, mut d) = d.split_first()?;
    let len = if l0 < 0x80 {
        l0 as usize
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || d.len() < n {
            return None;
        }
        let mut len = 0usize;
        for &b in &d[..n] {
            len = (len << 8) | b as usize;
        }
        d = &d[n..];
        len
    };
    if d.len() < len {
        return None;
    }
    Some((tag, &d[..len], &d[len..]))
}

fn attr_name(oid: &[u8]) -> Option<&'static str> {
    Some(match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "STREET",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01] => "UID",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        _ => return None,
    })
}

fn oid_dotted(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut v: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        v = (v << 7) | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            if parts.is_empty() && i < oid.len() {
                let first = (v / 40).min(2);
                parts.push(first.to_string());
                parts.push((v - first * 40).to_string());
            } else {
                parts.push(v.to_string());
            }
            v = 0;
        }
    }
    parts.join(".")
}

fn escape(out: &mut String, s: &str) {
    for (i, ch) in s.chars().enumerate() {
        let special = matches!(ch, ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=')
            || (i == 0 && (ch == '#' || ch == ' '))
            || (i + 1 == s.chars().count() && ch == ' ');
        if special {
            out.push('\\');
            out.push(ch);
        } else if ch.is_control() {
            out.push_str(&format!("\\{:02X}", ch as u32 & 0xff));
        } else {
            out.push(ch);
        }
    }
}

/// The subject DN of a DER certificate, most specific RDN first (RFC 4514).
pub fn subject(cert: &[u8]) -> Option<String> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(certificate)?;
    let mut rest = tbs;
    let (tag, _, r) = tlv(rest)?;
    if tag == 0xa0 {
        rest = r; // version
    }
    let (_, _, r) = tlv(rest)?; // serial
    let (_, _, r) = tlv(r)?; // signature algorithm
    let (_, _, r) = tlv(r)?; // issuer
    let (_, _, r) = tlv(r)?; // validity
    let (tag, mut name, _) = tlv(r)?; // subject
    if tag != 0x30 {
        return None;
    }
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (_, set, r) = tlv(name)?;
        name = r;
        let mut parts = Vec::new();
        let mut s = set;
        while !s.is_empty() {
            let (_, atv, r) = tlv(s)?;
            s = r;
            let (_, oid, r) = tlv(atv)?;
            let (vtag, val, _) = tlv(r)?;
            let mut one = String::new();
            match attr_name(oid) {
                Some(n) => one.push_str(n),
                None => one.push_str(&oid_dotted(oid)),
            }
            one.push('=');
            match vtag {
                // UTF8String, PrintableString, IA5String, T61String
                0x0c | 0x13 | 0x16 | 0x14 => escape(&mut one, &String::from_utf8_lossy(val)),
                // BMPString
                0x1e => {
                    let u: Vec<u16> = val
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        .collect();
                    escape(&mut one, &String::from_utf16_lossy(&u));
                }
                _ => {
                    one.push('#');
                    for b in val {
                        one.push_str(&format!("{b:02x}"));
                    }
                }
            }
            parts.push(one);
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_generated_subject() {
        let mut p = rcgen::CertificateParams::new(vec!["a.lan".to_string()]).unwrap();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme, Inc");
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "operator 1");
        let k = rcgen::KeyPair::generate().unwrap();
        let c = p.self_signed(&k).unwrap();
        assert_eq!(
            subject(c.der()).as_deref(),
            Some("CN=operator 1,O=Acme\\, Inc")
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(subject(b""), None);
        assert_eq!(subject(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(subject(&[0x30, 0x03, 0x30, 0x01]), None);
    }
}
