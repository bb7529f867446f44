//! API tokens of the simulated node: `$PVE_SIM_ROOT/api/tokens.json` (mode 0600) maps each
//! token id (`USER@REALM!NAME`) to the SHA-256 of its secret, so the state folder never holds
//! a usable secret. `pve-sim token add ID` makes one and prints the secret once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::cert::write_private;
use crate::{fail, R};

fn file(root: &Path) -> PathBuf {
    root.join("api/tokens.json")
}

fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn load(root: &Path) -> BTreeMap<String, String> {
    std::fs::read_to_string(file(root))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// A random secret shaped like Proxmox's (a UUID).
fn new_secret() -> R<String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| fail("no randomness"))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// `USER@REALM!NAME` (`PVE::AccessControl::split_tokenid`): user part and token name.
pub fn split_tokenid(id: &str) -> Option<(&str, &str)> {
    let (user, name) = id.split_once('!')?;
    let (u, realm) = user.rsplit_once('@')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    };
    (ok(u) && ok(realm) && ok(name) && name.starts_with(|c: char| c.is_ascii_alphabetic()))
        .then_some((user, name))
}

/// Adds (or replaces) a token; returns its secret.
pub fn add(root: &Path, id: &str, secret: Option<&str>) -> R<String> {
    if split_tokenid(id).is_none() {
        return Err(fail(format!(
            "'{id}' is not a valid token ID - not able to split into user and token parts"
        )));
    }
    let secret = match secret {
        Some(s) => s.to_string(),
        None => new_secret()?,
    };
    let mut all = load(root);
    all.insert(id.to_string(), sha256_hex(&secret));
    let text = serde_json::to_string_pretty(&all).map_err(|e| fail(e.to_string()))?;
    write_private(&file(root), text.as_bytes())?;
    Ok(secret)
}

/// Checks an `Authorization` header value; the token id on success, else the message
/// Proxmox's `PVE::AccessControl::verify_token` gives.
pub fn verify(root: &Path, header: Option<&str>) -> Result<String, String> {
    let Some(value) = header.and_then(|h| h.trim().strip_prefix("PVEAPIToken=")) else {
        return Err("No ticket".into());
    };
    let Some((id, secret)) = value.rsplit_once('=') else {
        return Err("no tokenid specified".into());
    };
    let Some((user, name)) = split_tokenid(id) else {
        return Err(format!(
            "'{id}' is not a valid token ID - not able to split into user and token parts"
        ));
    };
    let all = load(root);
    let Some(hash) = all.get(id) else {
        return Err(format!("no such token '{name}' for user '{user}'"));
    };
    if *hash != sha256_hex(secret) {
        return Err("invalid token value!".into());
    }
    Ok(id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_are_stored_hashed() {
        let d = tempfile::tempdir().unwrap();
        let secret = add(d.path(), "root@pam!phoenix", None).unwrap();
        let stored = std::fs::read_to_string(file(d.path())).unwrap();
        assert!(!stored.contains(&secret));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file(d.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let h = format!("PVEAPIToken=root@pam!phoenix={secret}");
        assert_eq!(verify(d.path(), Some(&h)).unwrap(), "root@pam!phoenix");
        assert_eq!(
            verify(d.path(), Some("PVEAPIToken=root@pam!phoenix=x")).unwrap_err(),
            "invalid token value!"
        );
        assert_eq!(
            verify(d.path(), Some("PVEAPIToken=root@pam!other=x")).unwrap_err(),
            "no such token 'other' for user 'root@pam'"
        );
        assert_eq!(verify(d.path(), None).unwrap_err(), "No ticket");
    }
}
