//! Live state handed over by the dispatcher. The dispatcher reads every guest once
//! ([`crate::Transport::observe`]: `pct list` + `qm list`; over `pvesh` or the API one
//! `GET /cluster/resources?type=vm`) and writes it to a file named by [`OBSERVED_ENV`]; a
//! manager then needs no status request of its own while nothing has changed its guest, and
//! knows each guest's node. A missing or unreadable file, or a guest it does not list, means:
//! ask the node.

use phoenix_report::GuestTag;
use serde::{Deserialize, Serialize};

/// The environment variable naming the observation file.
pub const OBSERVED_ENV: &str = "PHOENIX_OBSERVED";

/// One guest as the bulk read saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    #[serde(flatten)]
    pub guest: GuestTag,
    /// `running`, `stopped`.
    pub state: Option<String>,
    #[serde(default)]
    pub name: String,
    /// The node it is on (`None`: the local node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Proxmox's `lock` (`disk`, `clone`, `backup`), when the read shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock: Option<String>,
    /// Whether it is a Proxmox template (`None`: the read does not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<bool>,
}

/// The file: every guest the node has.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub guests: Vec<Observed>,
}

impl Snapshot {
    pub fn find(&self, g: GuestTag) -> Option<&Observed> {
        self.guests.iter().find(|o| o.guest == g)
    }

    pub fn read(path: &std::path::Path) -> Option<Snapshot> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }
}

impl Snapshot {
    /// The file named by [`OBSERVED_ENV`], if any.
    pub fn from_env() -> Option<Snapshot> {
        let p = std::env::var_os(OBSERVED_ENV)?;
        Snapshot::read(std::path::Path::new(&p))
    }

    /// Writes the file (a temp file living as long as the handle).
    pub fn write_temp(&self) -> std::io::Result<tempfile::NamedTempFile> {
        let mut f = tempfile::Builder::new()
            .prefix("phoenix-observed-")
            .tempfile()?;
        std::io::Write::write_all(&mut f, serde_json::to_string(self)?.as_bytes())?;
        Ok(f)
    }
}

impl Observed {
    /// This guest's entry of the file named by [`OBSERVED_ENV`], if any.
    pub fn from_env(g: GuestTag) -> Option<Observed> {
        Snapshot::from_env()?.find(g).cloned()
    }
}
