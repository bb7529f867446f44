//! The host-side record of what was done inside a guest (`<marker dir>/guests/<id>.json`).
//!
//! Work inside a guest (feature scripts, application script, shared volumes, health checks)
//! cannot be probed cheaply, so a completed step is recorded with a fingerprint of its inputs
//! and skipped while the fingerprint matches. One format for containers and VMs:
//!
//! ```json
//! {"version": 2, "id": 953, "features": ["base_setup"], "steps": {"in_guest": "9f…"}, "completed_at": 1760000000}
//! ```
//!
//! Both older formats are read: the container manager's `{features, application_script,
//! fingerprint, completed_at}` (its fingerprint becomes step `in_guest`) and the VM manager's
//! `{vmid, steps}` (features from its `feature:<name>` keys).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use phoenix_config::FeatureName;
use serde::{Deserialize, Serialize};

/// Record format version written now.
pub const VERSION: u32 = 2;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    pub id: u64,
    /// Features installed, in order (what "no longer configured" is computed from).
    #[serde(default)]
    pub features: Vec<String>,
    /// Step key (`in_guest`, `feature:docker`, `health_checks`) → fingerprint of its inputs.
    #[serde(default)]
    pub steps: BTreeMap<String, String>,
    /// Seconds since the epoch of the last completed step.
    #[serde(default)]
    pub completed_at: u64,
}

/// The shapes a record file may have.
#[derive(Deserialize)]
#[serde(untagged)]
enum AnyRecord {
    Current(Record),
    Lxc {
        features: Vec<String>,
        fingerprint: String,
        #[serde(default)]
        completed_at: u64,
    },
    Vm {
        vmid: u64,
        #[serde(default)]
        steps: BTreeMap<String, String>,
    },
}

/// The step key of the container manager's all-in-one in-guest fingerprint.
pub const IN_GUEST: &str = "in_guest";

impl Record {
    pub fn empty(id: u64) -> Record {
        Record {
            version: VERSION,
            id,
            ..Default::default()
        }
    }

    /// Parses any of the three formats.
    pub fn parse(text: &str, id: u64) -> Option<Record> {
        Some(match serde_json::from_str::<AnyRecord>(text).ok()? {
            AnyRecord::Current(r) => r,
            AnyRecord::Lxc {
                features,
                fingerprint,
                completed_at,
            } => Record {
                version: VERSION,
                id,
                features,
                steps: BTreeMap::from([(IN_GUEST.to_string(), fingerprint)]),
                completed_at,
            },
            AnyRecord::Vm { vmid, steps } => Record {
                version: VERSION,
                id: vmid,
                features: steps
                    .keys()
                    .filter_map(|k| k.strip_prefix("feature:"))
                    .map(str::to_string)
                    .collect(),
                steps,
                completed_at: 0,
            },
        })
    }

    /// Whether `key` was completed with fingerprint `fp`.
    pub fn done(&self, key: &str, fp: &str) -> bool {
        self.steps.get(key).is_some_and(|f| f == fp)
    }

    /// Recorded features that `configured` no longer lists.
    pub fn dropped_features(&self, configured: &[FeatureName]) -> Vec<String> {
        self.features
            .iter()
            .filter(|f| !configured.iter().any(|c| c == *f))
            .cloned()
            .collect()
    }

    /// The note `status` and `create` show for [`Record::dropped_features`].
    pub fn dropped_note(&self, configured: &[FeatureName]) -> Option<String> {
        let d = self.dropped_features(configured);
        (!d.is_empty()).then(|| {
            format!(
                "installed, no longer configured: {}; Phoenix does not uninstall",
                d.join(", ")
            )
        })
    }
}

/// A record bound to its file.
pub struct RecordFile {
    pub path: PathBuf,
    pub record: Record,
}

impl RecordFile {
    pub fn path_of(dir: &Path, id: u64) -> PathBuf {
        dir.join(format!("{id}.json"))
    }

    /// The record of `id` (empty when absent or unreadable).
    pub fn load(dir: &Path, id: u64) -> RecordFile {
        let path = Self::path_of(dir, id);
        let record = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| Record::parse(&t, id))
            .unwrap_or_else(|| Record::empty(id));
        RecordFile { path, record }
    }

    /// Records `key` as completed with `fp`; `feature` is added to the installed features.
    pub fn mark(&mut self, key: &str, fp: &str, feature: Option<&str>) -> std::io::Result<()> {
        self.record.steps.insert(key.to_string(), fp.to_string());
        if let Some(f) = feature {
            if !self.record.features.iter().any(|x| x == f) {
                self.record.features.push(f.to_string());
            }
        }
        self.save()
    }

    /// Replaces the installed feature list (a container installs its list as a whole).
    pub fn set_features(&mut self, features: &[FeatureName]) {
        self.record.features = features.iter().map(|f| f.to_string()).collect();
    }

    /// Forgets every step (the guest was created anew).
    pub fn clear(&mut self) -> std::io::Result<()> {
        if self.record.steps.is_empty() && self.record.features.is_empty() {
            return Ok(());
        }
        self.record = Record::empty(self.record.id);
        self.save()
    }

    fn save(&mut self) -> std::io::Result<()> {
        self.record.version = VERSION;
        self.record.completed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let text =
            serde_json::to_string_pretty(&self.record).map_err(std::io::Error::other)? + "\n";
        phoenix_host::fs::write_atomic(&self.path, text.as_bytes())
    }

    /// Removes the record file; whether it existed.
    pub fn remove(dir: &Path, id: u64) -> std::io::Result<bool> {
        match std::fs::remove_file(Self::path_of(dir, id)) {
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
    fn reads_both_old_formats_and_round_trips() {
        let lxc = r#"{"features":["base_setup","docker"],"application_script":null,"fingerprint":"abc","completed_at":5}"#;
        let r = Record::parse(lxc, 953).unwrap();
        assert!(r.done(IN_GUEST, "abc"));
        assert_eq!(r.features, vec!["base_setup", "docker"]);
        let vm = r#"{"vmid":8001,"steps":{"feature:docker":"x","health_checks":"y"}}"#;
        let r = Record::parse(vm, 8001).unwrap();
        assert!(r.done("feature:docker", "x"));
        assert_eq!(r.features, vec!["docker"]);
        let dir = tempfile::tempdir().unwrap();
        let mut f = RecordFile::load(dir.path(), 8001);
        f.mark("feature:docker", "x", Some("docker")).unwrap();
        let again = RecordFile::load(dir.path(), 8001);
        assert!(again.record.done("feature:docker", "x"));
        assert_eq!(again.record.version, VERSION);
        assert!(RecordFile::remove(dir.path(), 8001).unwrap());
    }

    #[test]
    fn dropped_features_are_named() {
        let f = |s: &str| s.parse::<FeatureName>().unwrap();
        let r = Record {
            features: vec!["base_setup".into(), "docker".into()],
            ..Record::empty(953)
        };
        assert_eq!(
            r.dropped_note(&[f("base_setup")]).as_deref(),
            Some("installed, no longer configured: docker; Phoenix does not uninstall")
        );
        assert_eq!(r.dropped_note(&[f("base_setup"), f("docker")]), None);
    }
}
