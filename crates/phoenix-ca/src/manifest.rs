//! `etc/certificate-manifest.json`: a JSON array of certificates.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use phoenix_config::Diagnostic;
use serde::{Deserialize, Serialize};

use crate::words;

/// The file name, in the `etc/` folder beside the hypervisor config.
pub const FILE: &str = "certificate-manifest.json";

/// One certificate the deployment needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub common_name: String,
    /// Names the certificate must carry; the common name alone when absent or empty.
    #[serde(default)]
    pub sans: Vec<String>,
    pub cert_path: String,
    pub key_path: String,
    /// `user:group` of both files.
    pub owner: String,
    /// Octal mode of both files (`640`).
    pub permissions: String,
    /// One command (argv, no shell) run after the certificate was (re)issued.
    #[serde(default)]
    pub post_renewal_command: Option<String>,
}

impl Entry {
    /// The names the certificate must carry, common name first, without duplicates.
    pub fn names(&self) -> Vec<String> {
        let mut out = vec![self.common_name.clone()];
        for s in &self.sans {
            if !s.is_empty() && !out.contains(s) {
                out.push(s.clone());
            }
        }
        out
    }

    /// `permissions` as a mode.
    pub fn mode(&self) -> Option<u32> {
        u32::from_str_radix(&self.permissions, 8).ok()
    }

    /// `owner` as (user, group).
    pub fn owner_pair(&self) -> Option<(&str, &str)> {
        self.owner.split_once(':')
    }

    /// The post-renewal command's argv.
    pub fn post_renewal_argv(&self) -> Option<Vec<String>> {
        self.post_renewal_command
            .as_deref()
            .and_then(|c| words::split(c).ok())
    }
}

/// The manifest and where it was read from.
#[derive(Debug, Clone, Default)]
pub struct Manifest {
    pub file: PathBuf,
    pub entries: Vec<Entry>,
    pub warnings: Vec<Diagnostic>,
}

impl Manifest {
    /// Reads and checks `path`; every problem at once.
    pub fn load(path: &Path) -> Result<Manifest, Vec<Diagnostic>> {
        let text = phoenix_config::load::read_text(path).map_err(|d| vec![d])?;
        phoenix_config::load::check_duplicate_keys(path, &text).map_err(|d| vec![d])?;
        let mut unknown = Vec::new();
        let mut de = serde_json::Deserializer::from_str(&text);
        let mut track = serde_path_to_error::Track::new();
        let parsed: Result<Vec<Entry>, _> = {
            let tracked = serde_path_to_error::Deserializer::new(&mut de, &mut track);
            serde_ignored::deserialize(tracked, |p| unknown.push(p.to_string()))
        };
        let entries = parsed.map_err(|e| {
            let at = track.path().to_string();
            let loc = if at.is_empty() || at == "." {
                format!("{}:{}", e.line(), e.column())
            } else {
                at.trim_start_matches('.').to_string()
            };
            vec![Diagnostic::error(path, loc, e.to_string())]
        })?;
        let mut diags: Vec<Diagnostic> = unknown
            .iter()
            .map(|k| Diagnostic::warning(path, k.clone(), "unknown key, ignored"))
            .collect();
        for (i, e) in entries.iter().enumerate() {
            check(path, i, e, &mut diags);
        }
        let mut seen = std::collections::BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            for p in [&e.cert_path, &e.key_path] {
                if let Some(j) = seen.insert(p.clone(), i) {
                    if j != i {
                        diags.push(Diagnostic::error(
                            path,
                            format!("[{i}]"),
                            format!("{p} is also written by entry [{j}]"),
                        ));
                    }
                }
            }
        }
        if diags
            .iter()
            .any(|d| d.severity == phoenix_config::Severity::Error)
        {
            return Err(diags);
        }
        Ok(Manifest {
            file: path.to_path_buf(),
            entries,
            warnings: diags,
        })
    }
}

fn check(path: &Path, i: usize, e: &Entry, diags: &mut Vec<Diagnostic>) {
    let mut err = |key: &str, msg: String| {
        diags.push(Diagnostic::error(path, format!("[{i}].{key}"), msg));
    };
    if !valid_dns_name(&e.common_name) {
        err(
            "common_name",
            format!("'{}' is not a DNS name", e.common_name),
        );
    }
    for (j, s) in e.sans.iter().enumerate() {
        if !(valid_dns_name(s) || s.parse::<IpAddr>().is_ok()) {
            err(
                &format!("sans[{j}]"),
                format!("'{s}' is neither a DNS name nor an IP address"),
            );
        }
    }
    for (key, p) in [("cert_path", &e.cert_path), ("key_path", &e.key_path)] {
        if !p.starts_with('/') || p.contains("/../") || p.ends_with('/') {
            err(key, format!("'{p}': expected an absolute file path"));
        }
    }
    if e.cert_path == e.key_path {
        err(
            "key_path",
            "the key must not be written over the certificate".into(),
        );
    }
    match e.owner_pair() {
        Some((u, g)) if valid_account(u) && valid_account(g) => {}
        _ => err("owner", format!("'{}': expected user:group", e.owner)),
    }
    let mode_ok = (3..=4).contains(&e.permissions.len())
        && e.permissions.chars().all(|c| ('0'..='7').contains(&c));
    if !mode_ok {
        err(
            "permissions",
            format!("'{}': expected an octal mode such as 640", e.permissions),
        );
    }
    if let Some(c) = &e.post_renewal_command {
        if let Err(why) = words::split(c) {
            err("post_renewal_command", why);
        }
    }
}

fn valid_account(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
}

/// A host name, optionally a wildcard (`*.example.org`).
pub fn valid_dns_name(s: &str) -> bool {
    let s = s.strip_prefix("*.").unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
