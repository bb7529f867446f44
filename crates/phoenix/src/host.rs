//! What exists on the host, read once per run with one `pct list` and one `qm list`.

use std::collections::BTreeMap;

use phoenix_config::{GuestId, GuestKind};
use phoenix_host::Runner;

/// Existence and run state of one guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    pub kind: GuestKind,
    pub status: String,
    pub name: String,
}

/// The host's guests by ID.
#[derive(Debug, Clone, Default)]
pub struct HostState {
    pub guests: BTreeMap<GuestId, Present>,
}

impl HostState {
    /// Reads both lists. A missing tool or a failing list is an error: without it the plan
    /// could skip or repeat work.
    pub fn read(runner: &Runner) -> Result<HostState, String> {
        let mut guests = BTreeMap::new();
        let pct = runner.read("pct", &["list"]).map_err(|e| e.to_string())?;
        for r in
            pve::output::parse_pct_list(&pct).map_err(|e| format!("cannot read `pct list`: {e}"))?
        {
            guests.insert(
                GuestId(u64::from(r.vmid)),
                Present {
                    kind: GuestKind::Lxc,
                    status: r.status,
                    name: r.name,
                },
            );
        }
        let qm = runner.read("qm", &["list"]).map_err(|e| e.to_string())?;
        for r in
            pve::output::parse_qm_list(&qm).map_err(|e| format!("cannot read `qm list`: {e}"))?
        {
            guests.insert(
                GuestId(u64::from(r.vmid)),
                Present {
                    kind: GuestKind::Vm,
                    status: r.status,
                    name: r.name,
                },
            );
        }
        Ok(HostState { guests })
    }

    pub fn exists(&self, id: GuestId) -> bool {
        self.guests.contains_key(&id)
    }

    pub fn running(&self, id: GuestId) -> bool {
        self.guests.get(&id).is_some_and(|p| p.status == "running")
    }
}
