//! What can go wrong talking to Portainer. No variant carries a request body or a secret.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: {why}")]
    Transport { url: String, why: String },
    #[error("{method} {path}: HTTP {status}{}", message_suffix(.message))]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: HTTP 401, not authorised (the JWT was refused twice; check portainer_api.admin_user and admin_password)")]
    Unauthorized { method: &'static str, path: String },
    #[error("the administrator '{user}' was refused (HTTP {status}): the admin password in portainer_api.admin_password does not match the one Portainer was initialised with")]
    BadCredentials { user: String, status: u16 },
    #[error("{method} {path}: unexpected answer: {why}")]
    Decode {
        method: &'static str,
        path: String,
        why: String,
    },
    #[error("CA file {}: {why}", .path.display())]
    CaFile { path: PathBuf, why: String },
    #[error("{0}")]
    Usage(String),
}

fn message_suffix(m: &str) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {m}")
    }
}

impl Error {
    /// HTTP status of a [`Error::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }
}
