//! What exists on the host (or cluster), read once per run through the run's transport: one
//! `pct list` + one `qm list` locally, one `GET /cluster/resources?type=vm` over `pvesh` or
//! the API ([`phoenix_guest::Transport::observe`]).

use std::collections::BTreeMap;

use phoenix_config::{GuestId, GuestKind};
use phoenix_guest::observe::Snapshot;
use phoenix_guest::Transport;
use phoenix_report::Kind;

/// Existence and run state of one guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Present {
    pub kind: GuestKind,
    pub status: String,
    pub name: String,
    /// The node it is on (`None`: the local node).
    pub node: Option<String>,
}

/// The host's guests by ID, and the bulk read they come from (handed to the managers).
#[derive(Debug, Clone, Default)]
pub struct HostState {
    pub guests: BTreeMap<GuestId, Present>,
    pub snapshot: Snapshot,
}

impl HostState {
    /// The bulk read. A failing read is an error: without it the plan could skip or repeat
    /// work.
    pub fn read(t: &dyn Transport) -> Result<HostState, String> {
        let snapshot = t.observe().map_err(|e| e.0)?;
        Ok(HostState::from_snapshot(snapshot))
    }

    pub fn from_snapshot(snapshot: Snapshot) -> HostState {
        let guests = snapshot
            .guests
            .iter()
            .map(|o| {
                (
                    GuestId(o.guest.id),
                    Present {
                        kind: match o.guest.kind {
                            Kind::Lxc => GuestKind::Lxc,
                            Kind::Vm => GuestKind::Vm,
                        },
                        status: o.state.clone().unwrap_or_default(),
                        name: o.name.clone(),
                        node: o.node.clone(),
                    },
                )
            })
            .collect();
        HostState { guests, snapshot }
    }

    pub fn exists(&self, id: GuestId) -> bool {
        self.guests.contains_key(&id)
    }

    pub fn running(&self, id: GuestId) -> bool {
        self.guests.get(&id).is_some_and(|p| p.status == "running")
    }
}
