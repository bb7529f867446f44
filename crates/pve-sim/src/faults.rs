//! Fault injection and latency (`$PVE_SIM_ROOT/faults.json`); see docs/simulator.md.

use crate::{fail, R};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// A failing call.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `pct`, `qm`, `pvesm`, `pveam`; absent matches all.
    pub tool: Option<String>,
    /// Canonical subcommand (`create`, `guest exec`); absent matches all.
    pub command: Option<String>,
    pub vmid: Option<u32>,
    /// Substring of the space-joined argv.
    pub argv_contains: Option<String>,
    /// Only the Nth matching call (1-based) fails; absent: every matching call.
    pub nth: Option<u64>,
    #[serde(default = "default_exit")]
    pub exit_code: i32,
    #[serde(default)]
    pub message: String,
}

fn default_exit() -> i32 {
    255
}

/// The result of a guest command (`pct exec`, `qm guest exec`).
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GuestRule {
    pub tool: Option<String>,
    pub vmid: Option<u32>,
    /// Substring of the space-joined guest command.
    #[serde(default)]
    pub contains: String,
    pub nth: Option<u64>,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// How long the guest command runs.
    #[serde(default)]
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// Config/storage lock wait before `got timeout` (Proxmox: 10 s).
    pub lock_timeout_ms: Option<u64>,
    /// Guest agent answers this long after `qm start`.
    #[serde(default)]
    pub agent_boot_delay_ms: u64,
    /// `"<tool> <command>"` (or `"<tool>"`, or `"*"`) -> milliseconds.
    #[serde(default)]
    pub latency_ms: BTreeMap<String, u64>,
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub guest_commands: Vec<GuestRule>,
    /// Faults of the simulated `curl`/`wget` (see `host::download`).
    #[serde(default)]
    pub downloads: Vec<crate::host::download::DownloadFault>,
    /// Faults of the simulated API server (`pve-sim serve`, `pvesh`).
    #[serde(default)]
    pub api_rules: Vec<crate::api::faults::ApiRule>,
    /// Cluster nodes that are down: every API request addressed to one fails (595, as
    /// pveproxy answers when it cannot reach the node), its guests read as `unknown`.
    #[serde(default)]
    pub nodes_down: Vec<String>,
    /// How long the simulated HA manager takes to act on a request (`ha.rs`; default
    /// 1000 ms).
    pub ha_delay_ms: Option<u64>,
}

impl Faults {
    pub fn load(root: &Path) -> R<Faults> {
        let p = root.join("faults.json");
        match std::fs::read_to_string(&p) {
            Ok(t) if t.trim().is_empty() => Ok(Faults::default()),
            Ok(t) => serde_json::from_str(&t)
                .map_err(|e| fail(format!("pve-sim: invalid {}: {e}", p.display()))),
            Err(_) => Ok(Faults::default()),
        }
    }

    pub fn lock_timeout_ms(&self) -> u64 {
        self.lock_timeout_ms.unwrap_or(10_000)
    }

    pub fn latency(&self, tool: &str, command: &str) -> u64 {
        self.latency_ms
            .get(&format!("{tool} {command}"))
            .or_else(|| self.latency_ms.get(tool))
            .or_else(|| self.latency_ms.get("*"))
            .copied()
            .unwrap_or(0)
    }
}

/// Counts a match of the rule named by its key and returns how often it has matched, across
/// processes (the node keeps the counters; see `Node::count_match`).
pub type Counter<'a> = dyn FnMut(&str) -> R<u64> + 'a;

impl Faults {
    /// The injected failure for this call, if any: `(exit_code, message)`.
    pub fn call_fault(
        &self,
        tool: &str,
        command: &str,
        vmid: Option<u32>,
        argv: &[String],
        count: &mut Counter,
    ) -> R<Option<(i32, String)>> {
        let joined = argv.join(" ");
        for (i, r) in self.rules.iter().enumerate() {
            let m = r.tool.as_deref().is_none_or(|t| t == tool)
                && r.command.as_deref().is_none_or(|c| c == command)
                && r.vmid.is_none_or(|v| Some(v) == vmid)
                && r.argv_contains
                    .as_deref()
                    .is_none_or(|s| joined.contains(s));
            if !m {
                continue;
            }
            let n = count(&format!("rule{i}"))?;
            if r.nth.is_none_or(|nth| nth == n) {
                let msg = if r.message.is_empty() {
                    format!("pve-sim: injected failure (rule {i})")
                } else {
                    r.message.clone()
                };
                return Ok(Some((r.exit_code, msg)));
            }
        }
        Ok(None)
    }

    /// The first matching guest-command rule, if any (counted for `nth`).
    pub fn guest_outcome(
        &self,
        tool: &str,
        vmid: u32,
        cmd: &[String],
        count: &mut Counter,
    ) -> R<Option<GuestRule>> {
        let joined = cmd.join(" ");
        for (i, r) in self.guest_commands.iter().enumerate() {
            let m = r.tool.as_deref().is_none_or(|t| t == tool)
                && r.vmid.is_none_or(|v| v == vmid)
                && joined.contains(&r.contains);
            if !m {
                continue;
            }
            let n = count(&format!("guest{i}"))?;
            if r.nth.is_none_or(|nth| nth == n) {
                return Ok(Some(r.clone()));
            }
        }
        Ok(None)
    }
}
