//! The server's self-signed certificate: made at first start (rcgen), kept in
//! `$PVE_SIM_ROOT/api/` (`pve-ssl.pem`, and `pve-ssl.key` with mode 0600) so clients can pin
//! its fingerprint once.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::state::{atomic_write, io_fail};
use crate::{fail, R};

/// The TLS configuration and the certificate's SHA-256 fingerprint (`AA:BB:...`).
pub fn load_or_create(dir: &Path) -> R<(Arc<rustls::ServerConfig>, String)> {
    let cert_path = dir.join("pve-ssl.pem");
    let key_path = dir.join("pve-ssl.key");
    if !cert_path.exists() || !key_path.exists() {
        let ck = rcgen::generate_simple_self_signed(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
            "pve".to_string(),
        ])
        .map_err(|e| fail(format!("cannot make a certificate: {e}")))?;
        write_private(&key_path, ck.key_pair.serialize_pem().as_bytes())?;
        atomic_write(&cert_path, ck.cert.pem().as_bytes())?;
    }
    let cert = CertificateDer::from_pem_file(&cert_path)
        .map_err(|e| fail(format!("{}: {e}", cert_path.display())))?;
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| fail(format!("{}: {e}", key_path.display())))?;
    let fingerprint = fingerprint(cert.as_ref());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .map_err(|e| fail(format!("certificate: {e}")))?;
    Ok((Arc::new(config), fingerprint))
}

/// SHA-256 of a DER certificate as Proxmox shows it.
pub fn fingerprint(der: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    d.as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Writes a file readable by its owner only.
pub fn write_private(path: &Path, data: &[u8]) -> R<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| io_fail(d, e))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io_fail(&tmp, e))?;
    f.write_all(data).map_err(|e| io_fail(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_fail(path, e))
}
