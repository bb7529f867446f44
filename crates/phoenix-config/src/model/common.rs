//! Pieces shared by containers, VMs and the host: health checks and test suites.

use std::collections::BTreeMap;

use crate::types::RelPath;

/// Health check attempts when `retries` is not set.
pub const DEFAULT_HEALTH_RETRIES: u32 = 3;
/// Seconds between health check attempts when `interval` is not set.
pub const DEFAULT_HEALTH_INTERVAL_SECS: u64 = 5;

/// A command run inside the guest until it succeeds. Serializes with the files' field names
/// (what a record's fingerprint is taken of).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthCheck {
    /// Command line run with `sh -c` inside the guest; never empty.
    pub command: String,
    /// Attempts before giving up, at least 1 (default [`DEFAULT_HEALTH_RETRIES`]).
    pub retries: u32,
    /// Seconds between attempts (default [`DEFAULT_HEALTH_INTERVAL_SECS`]).
    pub interval: u64,
    /// Label shown in output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl HealthCheck {
    /// What output calls the check: its name, else its command.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.command)
    }
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            command: String::new(),
            retries: DEFAULT_HEALTH_RETRIES,
            interval: DEFAULT_HEALTH_INTERVAL_SECS,
            name: None,
        }
    }
}

/// Test suites by name (`health_checks`, `integration_tests`, ...); names are checked
/// ([`crate::types::SuiteName`] rules).
pub type TestSuites = BTreeMap<String, Vec<TestSpec>>;

/// One test of a suite: a script under `<scripts>/tests/` (only `script` tests exist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestSpec {
    pub name: String,
    /// Path relative to the tests folder (`docker/check_docker_service.sh`).
    pub path: RelPath,
}
