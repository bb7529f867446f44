//! Pieces shared by containers, VMs and the host: firewall, health checks, test suites.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::compat::Map;

/// A guest firewall, written to `<pve dir>/firewall/<id>.fw`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Firewall {
    pub enabled: bool,
    /// `ACCEPT`, `DROP` or `REJECT` (Proxmox default: `DROP`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_in: Option<String>,
    /// `ACCEPT`, `DROP` or `REJECT` (Proxmox default: `ACCEPT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_out: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<FirewallRule>,
}

/// One `[RULES]` line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct FirewallRule {
    /// `in` or `out`.
    #[serde(rename = "type")]
    pub direction: String,
    /// `ACCEPT`, `DROP` or `REJECT`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Destination port(s): `8000`, `8000:8010`, `80,443` (Proxmox `-dport`).
    #[serde(default, alias = "dport", skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Source port(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// `-icmp-type`, for `icmp` rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<String>,
    /// `-log`: `nolog`, `debug`, `info`, ... `emerg`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A command run inside the guest until it succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct HealthCheck {
    /// Command line run with `sh -c` inside the guest.
    pub command: String,
    /// Attempts before giving up (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds between attempts (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    /// Label shown in output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Test suites by name (`health_checks`, `integration_tests`, ...).
pub(crate) type TestSuites = Map<Vec<TestSpec>>;

/// One test of a suite: a script under `<scripts>/tests/`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) struct TestSpec {
    pub name: String,
    /// Only `script` is supported.
    #[serde(rename = "type", default = "script_type")]
    pub kind: String,
    /// Path relative to the tests folder (`docker/check_docker_service.sh`).
    pub path: String,
}

fn script_type() -> String {
    "script".to_string()
}
