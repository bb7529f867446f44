//! Everything that can go wrong talking to the API, each with a message that says what to do.

use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("API token secret file {}: {why}", path.display())]
    SecretFile { path: PathBuf, why: String },
    #[error("API token secret file {} has mode {mode:04o}; it must be readable by its owner only (chmod 600 {})", path.display(), path.display())]
    SecretFileMode { path: PathBuf, mode: u32 },
    #[error(
        "'{0}' is not an API token id; expected USER@REALM!TOKENID (e.g. phoenix@pve!orchestrator)"
    )]
    TokenId(String),
    #[error(
        "'{0}' is not a SHA-256 certificate fingerprint; expected 32 hex pairs like AA:BB:..."
    )]
    Fingerprint(String),
    #[error("CA file {}: {why}", path.display())]
    CaFile { path: PathBuf, why: String },
    #[error("TLS set-up: {0}")]
    TlsSetup(String),
    #[error(
        "'{0}' is not an API base URL; expected https://HOST[:PORT] (Proxmox listens on 8006)"
    )]
    BaseUrl(String),
    #[error("{url}: the server's TLS certificate was refused: {why}")]
    Certificate { url: String, why: String },
    #[error("{method} {path}: {why}")]
    Transport {
        method: &'static str,
        path: String,
        why: String,
    },
    #[error("{method} {path}: authentication failed (HTTP 401): the token id or secret is wrong, or the token is expired or disabled")]
    Unauthorized { method: &'static str, path: String },
    #[error("{method} {path}: permission denied (HTTP 403): {message}")]
    Forbidden {
        method: &'static str,
        path: String,
        message: String,
    },
    #[error(
        "{method} {path}: parameter verification failed: {}",
        errors_line(errors)
    )]
    BadParams {
        method: &'static str,
        path: String,
        errors: BTreeMap<String, String>,
    },
    #[error("{method} {path}: HTTP {status}: {message}")]
    Api {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("task {upid} failed: {status}{}", tail(log_tail))]
    TaskFailed {
        upid: String,
        status: String,
        log_tail: Vec<String>,
    },
    #[error("task {upid} still running after {secs}s")]
    TaskTimeout { upid: String, secs: u64 },
    #[error("{kind} {vmid} is still locked ({lock}) after waiting {waited}s; run `{tool} unlock {vmid}` on the node if no Proxmox task holds it")]
    StillLocked {
        kind: &'static str,
        vmid: u32,
        lock: String,
        waited: u64,
        tool: &'static str,
    },
    #[error("{method} {path}: unexpected answer: {why}")]
    Protocol {
        method: &'static str,
        path: String,
        why: String,
    },
}

fn errors_line(errors: &BTreeMap<String, String>) -> String {
    errors
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.trim_end()))
        .collect::<Vec<_>>()
        .join("; ")
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("\n  task log (last lines):\n    {}", lines.join("\n    "))
    }
}

impl Error {
    /// The message Proxmox gave, for the lock and existence checks.
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::Api { message, .. } => Some(message),
            Error::TaskFailed { status, .. } => Some(status),
            _ => None,
        }
    }

    /// Whether the request may not have reached the server, or its answer was lost.
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport { .. })
            || matches!(self, Error::Api { status, .. } if *status >= 502)
    }
}
