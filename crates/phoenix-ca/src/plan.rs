//! The renewal plan: for each manifest entry, nothing to do, a fix of owner or mode, or a new
//! certificate, with the reason. Computed from the files and a clock only.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::inspect::{key_public_bits, read_cert};
use crate::manifest::Entry;

/// Renew when less than this is left (the old renewal manager's threshold, 12 hours).
pub const RENEW_BEFORE_SECS: i64 = 12 * 3600;
/// Validity asked for a new certificate (`step ca certificate --not-after`).
pub const VALIDITY: &str = "24h";

/// Why a certificate is (re)issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    Missing(PathBuf),
    Unreadable(String),
    Expiring {
        seconds_left: i64,
    },
    NotYetValid,
    CommonName {
        found: String,
    },
    Names {
        missing: Vec<String>,
        extra: Vec<String>,
    },
    NotFromCa,
    KeyMismatch,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing(p) => write!(f, "{} does not exist", p.display()),
            Reason::Unreadable(why) => write!(f, "the certificate cannot be read: {why}"),
            Reason::Expiring { seconds_left } if *seconds_left <= 0 => f.write_str("expired"),
            Reason::Expiring { seconds_left } => {
                write!(
                    f,
                    "expires in {}h{:02}m",
                    seconds_left / 3600,
                    (seconds_left % 3600) / 60
                )
            }
            Reason::NotYetValid => f.write_str("not valid yet"),
            Reason::CommonName { found } => write!(f, "common name is '{found}'"),
            Reason::Names { missing, extra } => {
                let mut parts = Vec::new();
                if !missing.is_empty() {
                    parts.push(format!("lacks {}", missing.join(", ")));
                }
                if !extra.is_empty() {
                    parts.push(format!("also names {}", extra.join(", ")));
                }
                write!(f, "names differ from the manifest ({})", parts.join("; "))
            }
            Reason::NotFromCa => f.write_str("not issued by the internal CA"),
            Reason::KeyMismatch => f.write_str("the key file does not belong to the certificate"),
        }
    }
}

/// What to do for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Unchanged,
    /// Issue a new certificate and key, then set owner and mode, then run the post command.
    Issue(Reason),
    /// Only owner or mode differ: fix them (no new certificate, no post command).
    Permissions {
        mode: Option<(u32, u32)>,
        owner: Option<((u32, u32), (u32, u32))>,
    },
}

/// The planned action of one entry, with the entry's index and common name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub index: usize,
    pub common_name: String,
    pub action: Action,
}

/// `user`, `group` to numeric ids, when this machine knows them.
pub type IdLookup<'a> = &'a dyn Fn(&str, &str) -> Option<(u32, u32)>;

/// How paths and accounts of the manifest map to this machine.
pub struct Context<'a> {
    /// Prefix of every host path (`PHOENIX_HOST_ROOT`; empty for `/`).
    pub host_root: &'a Path,
    /// The internal CA's root certificate(s), PEM; `None` skips the issuer check.
    pub roots_pem: Option<&'a [u8]>,
    /// Unix seconds.
    pub now: i64,
    /// `user:group` to numeric ids; `None` when unknown here (the owner is then not compared).
    pub ids: IdLookup<'a>,
}

impl Context<'_> {
    /// `path` of the manifest under the host root.
    pub fn host_path(&self, path: &str) -> PathBuf {
        if self.host_root.as_os_str().is_empty() {
            PathBuf::from(path)
        } else {
            self.host_root.join(path.trim_start_matches('/'))
        }
    }
}

/// The plan of every entry.
pub fn plan(entries: &[Entry], cx: &Context<'_>) -> Vec<Planned> {
    entries
        .iter()
        .enumerate()
        .map(|(index, e)| Planned {
            index,
            common_name: e.common_name.clone(),
            action: plan_one(e, cx),
        })
        .collect()
}

/// The action for one entry.
pub fn plan_one(e: &Entry, cx: &Context<'_>) -> Action {
    if let Some(reason) = reissue_reason(e, cx) {
        return Action::Issue(reason);
    }
    permissions(e, cx)
}

fn reissue_reason(e: &Entry, cx: &Context<'_>) -> Option<Reason> {
    let cert = cx.host_path(&e.cert_path);
    let key = cx.host_path(&e.key_path);
    for p in [&cert, &key] {
        if !p.is_file() {
            return Some(Reason::Missing(p.clone()));
        }
    }
    let info = match read_cert(&cert, cx.roots_pem) {
        Ok(i) => i,
        Err(why) => return Some(Reason::Unreadable(why)),
    };
    let left = info.not_after - cx.now;
    if left < RENEW_BEFORE_SECS {
        return Some(Reason::Expiring { seconds_left: left });
    }
    if info.not_before > cx.now {
        return Some(Reason::NotYetValid);
    }
    if info.common_name != e.common_name {
        return Some(Reason::CommonName {
            found: info.common_name,
        });
    }
    let want = e.names();
    let missing: Vec<String> = want
        .iter()
        .filter(|n| !info.names.contains(n))
        .cloned()
        .collect();
    let extra: Vec<String> = info
        .names
        .iter()
        .filter(|n| !want.contains(n))
        .cloned()
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        return Some(Reason::Names { missing, extra });
    }
    if info.chains_to_root == Some(false) {
        return Some(Reason::NotFromCa);
    }
    match key_public_bits(&key) {
        Ok(Some(bits)) if bits != info.public_key => Some(Reason::KeyMismatch),
        Ok(_) => None,
        Err(why) => Some(Reason::Unreadable(format!("{}: {why}", key.display()))),
    }
}

fn permissions(e: &Entry, cx: &Context<'_>) -> Action {
    let want_mode = e.mode();
    let want_ids = e.owner_pair().and_then(|(u, g)| (cx.ids)(u, g));
    let mut mode = None;
    let mut owner = None;
    for p in [cx.host_path(&e.cert_path), cx.host_path(&e.key_path)] {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        let have = meta.mode() & 0o7777;
        if let Some(w) = want_mode {
            if have != w && mode.is_none() {
                mode = Some((have, w));
            }
        }
        if let Some(w) = want_ids {
            let have = (meta.uid(), meta.gid());
            if have != w && owner.is_none() {
                owner = Some((have, w));
            }
        }
    }
    if mode.is_none() && owner.is_none() {
        Action::Unchanged
    } else {
        Action::Permissions { mode, owner }
    }
}

/// Numeric ids of `user` and `group` from `<host_root>/etc/passwd` and `etc/group` (numbers
/// are taken as they are).
pub fn host_ids(host_root: &Path, user: &str, group: &str) -> Option<(u32, u32)> {
    let lookup = |file: &str, name: &str| -> Option<u32> {
        if let Ok(n) = name.parse() {
            return Some(n);
        }
        let text = std::fs::read_to_string(host_root.join(file)).ok()?;
        text.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == name).then_some(())?;
            f.nth(1)?.parse().ok()
        })
    };
    Some((lookup("etc/passwd", user)?, lookup("etc/group", group)?))
}
