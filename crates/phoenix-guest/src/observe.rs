//! Live state handed over by the dispatcher. The dispatcher reads every guest's run state once
//! (`pct list` + `qm list`; over the API one `/cluster/resources`) and writes it to a file
//! named by [`OBSERVED_ENV`]; a manager then needs no status request of its own while nothing
//! has changed its guest. A missing or unreadable file, or a guest it does not list, means:
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

impl Observed {
    /// This guest's entry of the file named by [`OBSERVED_ENV`], if any.
    pub fn from_env(g: GuestTag) -> Option<Observed> {
        let p = std::env::var_os(OBSERVED_ENV)?;
        Snapshot::read(std::path::Path::new(&p))?.find(g).cloned()
    }
}
