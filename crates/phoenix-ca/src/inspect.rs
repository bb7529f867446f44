//! What a certificate file (and its key file) on disk hold: the names, the validity, whether
//! the chain in the file leads to the internal CA's root, whether the key belongs to it.

use std::net::IpAddr;
use std::path::Path;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// A certificate file's leaf, as far as renewal cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub common_name: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// The chain in the file (leaf, then intermediates) verifies up to one of the roots given.
    pub chains_to_root: Option<bool>,
    /// SubjectPublicKeyInfo's key bits of the leaf, to compare with a key file.
    pub public_key: Vec<u8>,
}

/// Reads `cert_path` (PEM, leaf first) and checks it against `roots_pem` (the internal CA's
/// root certificates) when given.
pub fn read_cert(cert_path: &Path, roots_pem: Option<&[u8]>) -> Result<CertInfo, String> {
    let data = std::fs::read(cert_path).map_err(|e| e.to_string())?;
    let pems = pems(&data)?;
    let certs: Vec<X509Certificate<'_>> = pems
        .iter()
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| {
            p.parse_x509()
                .map_err(|e| format!("invalid certificate: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let leaf = certs.first().ok_or("no certificate in the file")?;
    let common_name = leaf
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_string();
    let mut names = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => names.push(d.to_string()),
                GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => <[u8; 4]>::try_from(*b).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*b).ok().map(IpAddr::from),
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let chains_to_root = match roots_pem {
        None => None,
        Some(r) => Some(chains(&certs, r)?),
    };
    Ok(CertInfo {
        common_name,
        names,
        not_before: leaf.validity().not_before.timestamp(),
        not_after: leaf.validity().not_after.timestamp(),
        chains_to_root,
        public_key: leaf.public_key().subject_public_key.data.to_vec(),
    })
}

fn pems(data: &[u8]) -> Result<Vec<Pem>, String> {
    Pem::iter_from_buffer(data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("invalid PEM: {e}"))
}

/// Each certificate of `chain` is signed by the next, and the last by one of `roots_pem`.
fn chains(chain: &[X509Certificate<'_>], roots_pem: &[u8]) -> Result<bool, String> {
    let roots = pems(roots_pem)?;
    let roots: Vec<X509Certificate<'_>> = roots
        .iter()
        .filter(|p| p.label == "CERTIFICATE")
        .filter_map(|p| p.parse_x509().ok())
        .collect();
    for pair in chain.windows(2) {
        if pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .is_err()
        {
            return Ok(false);
        }
    }
    let Some(top) = chain.last() else {
        return Ok(false);
    };
    Ok(roots.iter().any(|r| {
        top.verify_signature(Some(r.public_key())).is_ok()
            || (top.tbs_certificate.as_ref() == r.tbs_certificate.as_ref())
    }))
}

/// The public key bits of a private key file (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`),
/// or `None` when the key type is not one this check knows.
pub fn key_public_bits(key_path: &Path) -> Result<Option<Vec<u8>>, String> {
    let data = std::fs::read(key_path).map_err(|e| e.to_string())?;
    let pems = pems(&data)?;
    let pem = pems
        .iter()
        .find(|p| p.label.ends_with("PRIVATE KEY"))
        .ok_or("no private key in the file")?;
    match pem.label.as_str() {
        "PRIVATE KEY" => Ok(pkcs8_public(&pem.contents)),
        "EC PRIVATE KEY" => Ok(sec1_public(&pem.contents)),
        _ => Ok(None),
    }
}

fn pkcs8_public(der: &[u8]) -> Option<Vec<u8>> {
    use ring::signature::{self, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    for alg in [
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
    ] {
        if let Ok(k) = signature::EcdsaKeyPair::from_pkcs8(alg, der, &rng) {
            return Some(k.public_key().as_ref().to_vec());
        }
    }
    if let Ok(k) = signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        return Some(k.public_key().as_ref().to_vec());
    }
    if let Ok(k) = signature::RsaKeyPair::from_pkcs8(der) {
        return Some(k.public().as_ref().to_vec());
    }
    None
}

/// SEC1 `ECPrivateKey ::= SEQUENCE { version, privateKey, [0] parameters, [1] publicKey }`.
fn sec1_public(der: &[u8]) -> Option<Vec<u8>> {
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::der::parse_der;
    let (_, obj) = parse_der(der).ok()?;
    let BerObjectContent::Sequence(items) = &obj.content else {
        return None;
    };
    for item in items {
        if item.header.tag().0 == 1 && !item.header.is_universal() {
            // [1] EXPLICIT BIT STRING: the content is the encoded BIT STRING.
            let inner = item.as_slice().ok()?;
            let (_, bits) = parse_der(inner).ok()?;
            if let BerObjectContent::BitString(_, b) = bits.content {
                return Some(b.data.to_vec());
            }
        }
    }
    None
}
