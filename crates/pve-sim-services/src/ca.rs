//! A simulated internal CA laid out as `step ca init` lays out `$STEPPATH`:
//!
//! ```text
//! config/ca.json            name, DNS names, address, provisioner (JSON, step-ca's shape in brief)
//! certs/root_ca.crt         the root certificate (PEM)
//! certs/intermediate_ca.crt the intermediate certificate (PEM), signed by the root
//! secrets/root_ca_key       their private keys (PEM, mode 0600)
//! secrets/intermediate_ca_key
//! ```
//!
//! Leaf certificates are signed by the intermediate, like step-ca's, and carry the names asked
//! for as SANs (DNS names and IP addresses). Everything is generated with rcgen (ECDSA P-256),
//! so the files are genuine certificates that rustls, openssl and browsers verify.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// Result type of this module: errors are messages for a person.
pub type R<T> = Result<T, String>;

/// `config/ca.json`, the part the stand-ins use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaConfig {
    /// `--name`: the root is "<name> Root CA", the intermediate "<name> Intermediate CA".
    pub name: String,
    /// `--dns` values: names and addresses of the CA server itself.
    pub dns: Vec<String>,
    /// `--address`, e.g. `:9000`.
    pub address: String,
    /// `--provisioner` (a JWK provisioner with a password).
    pub provisioner: String,
    /// Provisioners added later (`step ca provisioner add`), with their type.
    #[serde(default)]
    pub provisioners: Vec<Provisioner>,
    /// SHA-256 (hex) of the JWK provisioner's password: `step ca certificate` must present it.
    #[serde(default)]
    pub provisioner_password_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provisioner {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// A CA on disk.
#[derive(Debug, Clone)]
pub struct Ca {
    pub dir: PathBuf,
    pub config: CaConfig,
}

/// A certificate just issued: the chain (leaf then intermediate) and the leaf's key, PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub chain_pem: String,
    pub key_pem: String,
}

impl Ca {
    /// `step ca init`: makes the root and intermediate; refuses to overwrite an existing CA.
    pub fn init(dir: &Path, config: CaConfig) -> R<Ca> {
        if dir.join("config/ca.json").exists() {
            return Err(format!(
                "{}: a CA is already initialised there",
                dir.join("config/ca.json").display()
            ));
        }
        let root_key = KeyPair::generate().map_err(err)?;
        let inter_key = KeyPair::generate().map_err(err)?;
        let ca = Ca {
            dir: dir.to_path_buf(),
            config,
        };
        let root = ca.root_params(true)?.self_signed(&root_key).map_err(err)?;
        let inter = ca
            .inter_params(true)?
            .signed_by(&inter_key, &root, &root_key)
            .map_err(err)?;
        write(&dir.join("certs/root_ca.crt"), root.pem().as_bytes(), 0o644)?;
        write(
            &dir.join("certs/intermediate_ca.crt"),
            inter.pem().as_bytes(),
            0o644,
        )?;
        write(
            &dir.join("secrets/root_ca_key"),
            root_key.serialize_pem().as_bytes(),
            0o600,
        )?;
        write(
            &dir.join("secrets/intermediate_ca_key"),
            inter_key.serialize_pem().as_bytes(),
            0o600,
        )?;
        ca.save()?;
        Ok(ca)
    }

    /// Opens the CA initialised in `dir`.
    pub fn load(dir: &Path) -> R<Ca> {
        let path = dir.join("config/ca.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e} (is the CA initialised?)", path.display()))?;
        let config = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            config,
        })
    }

    pub fn save(&self) -> R<()> {
        let text = serde_json::to_string_pretty(&self.config).map_err(|e| e.to_string())?;
        write(&self.dir.join("config/ca.json"), text.as_bytes(), 0o644)
    }

    pub fn root_path(&self) -> PathBuf {
        self.dir.join("certs/root_ca.crt")
    }

    pub fn intermediate_path(&self) -> PathBuf {
        self.dir.join("certs/intermediate_ca.crt")
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> R<String> {
        read(&self.root_path())
    }

    /// SHA-256 fingerprint of the root in lower-case hex, as `step certificate fingerprint`.
    pub fn root_fingerprint(&self) -> R<String> {
        fingerprint_pem(&self.root_pem()?)
    }

    /// Issues a leaf certificate for `subject` with `sans` (DNS names or IP addresses; the
    /// subject is added when missing), valid from now for `valid_for`.
    pub fn issue(&self, subject: &str, sans: &[String], valid_for: Duration) -> R<Issued> {
        let root_key =
            KeyPair::from_pem(&read(&self.dir.join("secrets/root_ca_key"))?).map_err(err)?;
        let inter_key = KeyPair::from_pem(&read(&self.dir.join("secrets/intermediate_ca_key"))?)
            .map_err(err)?;
        // rcgen signs with an issuer's name and key; rebuilding the issuers from their
        // parameters gives the same subject and key identifier as the files on disk.
        let root = self
            .root_params(false)?
            .self_signed(&root_key)
            .map_err(err)?;
        let inter = self
            .inter_params(false)?
            .signed_by(&inter_key, &root, &root_key)
            .map_err(err)?;
        let mut names: Vec<String> = Vec::new();
        for n in std::iter::once(subject.to_string()).chain(sans.iter().cloned()) {
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(subject);
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<R<_>>()?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(1);
        params.not_after = now + valid_for;
        params.serial_number = Some(serial()?);
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().map_err(err)?;
        let leaf = params.signed_by(&key, &inter, &inter_key).map_err(err)?;
        let chain_pem = format!("{}{}", leaf.pem(), read(&self.intermediate_path())?);
        Ok(Issued {
            chain_pem,
            key_pem: key.serialize_pem(),
        })
    }

    fn root_params(&self, fresh: bool) -> R<CertificateParams> {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(&format!("{} Root CA", self.config.name));
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        if fresh {
            let now = OffsetDateTime::now_utc();
            p.not_before = now - Duration::minutes(1);
            p.not_after = now + Duration::days(3650);
            p.serial_number = Some(serial()?);
        }
        Ok(p)
    }

    fn inter_params(&self, fresh: bool) -> R<CertificateParams> {
        let mut p = CertificateParams::default();
        p.distinguished_name = dn(&format!("{} Intermediate CA", self.config.name));
        p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.use_authority_key_identifier_extension = true;
        if fresh {
            let now = OffsetDateTime::now_utc();
            p.not_before = now - Duration::minutes(1);
            p.not_after = now + Duration::days(3650);
            p.serial_number = Some(serial()?);
        }
        Ok(p)
    }
}

/// A subject with only a common name, as step-ca makes them.
fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::CommonName, cn);
    d
}

fn san(name: &str) -> R<SanType> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    let ia5 = name
        .to_string()
        .try_into()
        .map_err(|_| format!("invalid DNS name '{name}'"))?;
    Ok(SanType::DnsName(ia5))
}

fn serial() -> R<SerialNumber> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "no randomness".to_string())?;
    b[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&b))
}

fn err(e: rcgen::Error) -> String {
    format!("certificate generation failed: {e}")
}

/// SHA-256 of the first certificate of a PEM text, lower-case hex.
pub fn fingerprint_pem(pem: &str) -> R<String> {
    let der = first_der(pem)?;
    let d = ring::digest::digest(&ring::digest::SHA256, &der);
    Ok(d.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// The DER bytes of the first certificate in a PEM text.
pub fn first_der(pem: &str) -> R<Vec<u8>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| "no PEM certificate".to_string())?
        .map(|c| c.as_ref().to_vec())
        .map_err(|e| format!("invalid PEM certificate: {e}"))
}

fn read(path: &Path) -> R<String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `data` to `path` atomically (temp file, then rename) with `mode`.
pub fn write(path: &Path, data: &[u8], mode: u32) -> R<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    f.write_all(data)
        .map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> CaConfig {
        CaConfig {
            name: "Test Internal CA".into(),
            dns: vec!["ca.internal.test".into(), "10.0.0.10".into()],
            address: ":9000".into(),
            provisioner: "admin@test".into(),
            provisioners: vec![],
            provisioner_password_sha256: String::new(),
        }
    }

    #[test]
    fn issues_certificates_that_chain_to_the_root() {
        let d = tempfile::tempdir().unwrap();
        let ca = Ca::init(d.path(), config()).unwrap();
        assert!(Ca::init(d.path(), config())
            .unwrap_err()
            .contains("already initialised"));
        let issued = ca
            .issue(
                "portainer.internal.test",
                &["10.0.0.111".into()],
                Duration::hours(24),
            )
            .unwrap();
        // Verify with webpki (through rustls) against the root only.
        use rustls_pki_types::pem::PemObject;
        let root =
            rustls_pki_types::CertificateDer::from_pem_slice(ca.root_pem().unwrap().as_bytes())
                .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(root).unwrap();
        let chain: Vec<_> =
            rustls_pki_types::CertificateDer::pem_slice_iter(issued.chain_pem.as_bytes())
                .map(|c| c.unwrap())
                .collect();
        assert_eq!(chain.len(), 2);
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            provider,
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        let now = rustls_pki_types::UnixTime::now();
        for name in ["portainer.internal.test", "10.0.0.111"] {
            let sn = rustls_pki_types::ServerName::try_from(name.to_string()).unwrap();
            verifier
                .verify_server_cert(&chain[0], &chain[1..], &sn, &[], now)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let other =
            rustls_pki_types::ServerName::try_from("other.internal.test".to_string()).unwrap();
        assert!(verifier
            .verify_server_cert(&chain[0], &chain[1..], &other, &[], now)
            .is_err());
        // The fingerprint is stable and 64 hex digits.
        let fp = ca.root_fingerprint().unwrap();
        assert_eq!(fp.len(), 64);
        assert_eq!(Ca::load(d.path()).unwrap().root_fingerprint().unwrap(), fp);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("secrets/root_ca_key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
