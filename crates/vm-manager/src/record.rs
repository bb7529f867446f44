//! The host-side record of what was done inside a VM (`<marker dir>/guests/<id>.json`):
//! steps that run through the guest agent (features, shared volumes, health checks) cannot be
//! probed cheaply, so a completed step is recorded with a fingerprint of its inputs and skipped
//! while the fingerprint matches. `PHOENIX_CONVERGE=1` and `reconfigure` re-apply them;
//! `delete` removes the record; a VM created or cloned in this run starts with an empty one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use phoenix_config::GuestId;
use serde::{Deserialize, Serialize};

/// Completed agent steps: step key (`feature:docker`, `shared_volumes`, `health_checks`) →
/// fingerprint of its inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub vmid: u64,
    #[serde(default)]
    pub steps: BTreeMap<String, String>,
}

/// A record bound to its file.
pub struct RecordFile {
    pub path: PathBuf,
    pub record: Record,
    dry_run: bool,
}

impl RecordFile {
    /// Loads the record of `id` (empty when absent or unreadable).
    pub fn load(dir: &Path, id: GuestId, dry_run: bool) -> RecordFile {
        let path = dir.join(format!("{id}.json"));
        let record = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Record {
                vmid: id.0,
                steps: BTreeMap::new(),
            });
        RecordFile {
            path,
            record,
            dry_run,
        }
    }

    /// Whether `key` was completed with this fingerprint.
    pub fn done(&self, key: &str, fp: &str) -> bool {
        self.record.steps.get(key).is_some_and(|f| f == fp)
    }

    /// Records `key` as completed and saves the file (atomically; not under `--dry-run`).
    pub fn mark(&mut self, key: &str, fp: &str) -> std::io::Result<()> {
        self.record.steps.insert(key.to_string(), fp.to_string());
        self.save()
    }

    /// Forgets every step (the VM was created anew).
    pub fn clear(&mut self) -> std::io::Result<()> {
        if self.record.steps.is_empty() {
            return Ok(());
        }
        self.record.steps.clear();
        self.save()
    }

    fn save(&self) -> std::io::Result<()> {
        if self.dry_run {
            return Ok(());
        }
        let text =
            serde_json::to_string_pretty(&self.record).map_err(std::io::Error::other)? + "\n";
        crate::host::write_if_changed(&self.path, text.as_bytes(), false, false).map(|_| ())
    }

    /// Removes the record file.
    pub fn remove(dir: &Path, id: GuestId) -> std::io::Result<bool> {
        match std::fs::remove_file(dir.join(format!("{id}.json"))) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut r = RecordFile::load(dir.path(), GuestId(8001), false);
        assert!(!r.done("feature:docker", "x"));
        r.mark("feature:docker", "x").expect("save");
        let r2 = RecordFile::load(dir.path(), GuestId(8001), false);
        assert!(r2.done("feature:docker", "x"));
        assert!(!r2.done("feature:docker", "y"));
        assert!(RecordFile::remove(dir.path(), GuestId(8001)).expect("rm"));
    }
}
