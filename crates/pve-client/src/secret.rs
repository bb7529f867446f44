//! The API token: its id (`USER@REALM!TOKENID`) and its secret, read from a file only its owner
//! can read. The secret never appears in `Debug`, `Display`, logs or error messages.

use std::fmt;
use std::path::Path;

use crate::error::Error;

/// A token secret. Shown as `***` wherever it is formatted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret given by a caller (tests, or a secret manager).
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself, for the `Authorization` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Reads the secret from `path`, which must be a regular file with no permission bits for
    /// group or others (mode 0600 or 0400): a token secret readable by other users is as good
    /// as published. Surrounding whitespace is dropped; an empty file is an error.
    pub fn from_file(path: &Path) -> Result<Secret, Error> {
        use std::os::unix::fs::PermissionsExt;
        let unreadable = |e: std::io::Error| Error::SecretFile {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(unreadable)?;
        if !meta.is_file() {
            return Err(Error::SecretFile {
                path: path.to_path_buf(),
                why: "not a regular file".into(),
            });
        }
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::SecretFileMode {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(unreadable)?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(Error::SecretFile {
                path: path.to_path_buf(),
                why: "the file is empty".into(),
            });
        }
        Ok(Secret(secret.to_string()))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// An API token id, `USER@REALM!TOKENID` (as `pveum user token add` prints it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenId(String);

impl TokenId {
    /// Checks the shape Proxmox requires (`PVE::AccessControl::split_tokenid`): a user name, `@`,
    /// a realm, `!`, and a token name of letters, digits, `-`, `_`, `.`.
    pub fn parse(s: &str) -> Result<TokenId, Error> {
        let bad = || Error::TokenId(s.to_string());
        let (user, token) = s.split_once('!').ok_or_else(bad)?;
        let (name, realm) = user.rsplit_once('@').ok_or_else(bad)?;
        let id_chars = |t: &str, first_alpha: bool| {
            !t.is_empty()
                && (!first_alpha || t.starts_with(|c: char| c.is_ascii_alphabetic()))
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && !name.chars().any(|c| c.is_whitespace() || ":/".contains(c));
        if !name_ok || !id_chars(realm, true) || !id_chars(token, true) {
            return Err(bad());
        }
        Ok(TokenId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Token id and secret: what the `Authorization` header carries.
#[derive(Debug, Clone)]
pub struct Token {
    pub id: TokenId,
    pub secret: Secret,
}

impl Token {
    /// `id` checked, secret read from `secret_file` (see [`Secret::from_file`]).
    pub fn from_file(id: &str, secret_file: &Path) -> Result<Token, Error> {
        Ok(Token {
            id: TokenId::parse(id)?,
            secret: Secret::from_file(secret_file)?,
        })
    }

    /// `PVEAPIToken=USER@REALM!TOKENID=SECRET`.
    pub(crate) fn header(&self) -> String {
        format!("PVEAPIToken={}={}", self.id, self.secret.expose())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn file(dir: &Path, mode: u32, text: &str) -> PathBuf {
        let p = dir.join("secret");
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn secret_file_must_be_private() {
        let d = tempfile::tempdir().unwrap();
        let p = file(d.path(), 0o644, "s3cr3t\n");
        let e = Secret::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        assert!(!e.contains("s3cr3t"));
        let p = file(d.path(), 0o600, " s3cr3t\n");
        assert_eq!(Secret::from_file(&p).unwrap().expose(), "s3cr3t");
        let p = file(d.path(), 0o400, "\n");
        assert!(Secret::from_file(&p)
            .unwrap_err()
            .to_string()
            .contains("empty"));
    }

    #[test]
    fn secret_is_never_formatted() {
        let t = Token {
            id: TokenId::parse("root@pam!phoenix").unwrap(),
            secret: Secret::new("hunter2"),
        };
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(t.header(), "PVEAPIToken=root@pam!phoenix=hunter2");
    }

    #[test]
    fn token_ids() {
        for ok in ["root@pam!phoenix", "phoenix@pve!ci-1", "a.b@pve!x_y"] {
            assert!(TokenId::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "root@pam",
            "root!x",
            "@pam!x",
            "root@pam!",
            "root@pam!1x",
            "ro ot@pam!x",
        ] {
            assert!(TokenId::parse(bad).is_err(), "{bad}");
        }
    }
}
