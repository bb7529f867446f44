//! How actions reach a Proxmox node. A plan is the same whatever carries it; a [`Transport`]
//! carries its three kinds of work and the reads planning needs (the bulk observation, one
//! config per guest). [`crate::local::LocalTransport`] runs on the node with `pct`/`qm` (each
//! request through [`pve::api::Request::to_argv`]); [`crate::api::ApiTransport`] sends the
//! requests as they are, through `pvesh` or HTTPS ([`crate::carrier`]).

use std::path::Path;

use phoenix_report::GuestTag;
use pve::api::Request;

use crate::error::TransportError;
use crate::observe::{Observed, Snapshot};
use crate::plan::{NodeCommand, Op, Payload};

/// What a command printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ExecOutput {
    pub fn success(&self) -> bool {
        self.code == 0
    }
}

/// The interface every way of reaching a node implements. Object-safe: managers hold a
/// `Box<dyn Transport>`.
pub trait Transport {
    /// Sends one API request; the API's `data` (`{"status": "running"}` for a status read, the
    /// task ID or `null` for a change).
    fn request(&self, req: &Request) -> Result<serde_json::Value, TransportError>;

    /// A guest's config file text (`pct.conf(5)` / `qm.conf(5)`, snapshots included), `None`
    /// when the guest does not exist.
    fn guest_config(&self, guest: GuestTag) -> Result<Option<String>, TransportError>;

    /// Runs `argv` inside the guest (container: `pct exec`; VM: the guest agent) and waits for
    /// it. A non-zero exit of the command is an `Ok` with that code.
    fn guest_exec(
        &self,
        guest: GuestTag,
        argv: &[String],
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError>;

    /// Writes a file inside the guest.
    fn guest_push(
        &self,
        guest: GuestTag,
        data: &Payload,
        dest: &str,
        perms: Option<&str>,
    ) -> Result<(), TransportError>;

    /// Asks the QEMU guest agent for a sign of life once.
    fn agent_ping(&self, guest: GuestTag) -> Result<(), TransportError>;

    /// Reads a node file (`None` when absent).
    fn node_read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError>;

    /// Replaces a node file atomically (`private`: mode 0600).
    fn node_write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError>;

    /// Removes a node file; whether it existed.
    fn node_remove(&self, path: &Path) -> Result<bool, TransportError>;

    /// Runs a program on the node with the environment contract.
    fn node_run(&self, cmd: &NodeCommand) -> Result<ExecOutput, TransportError>;

    /// Downloads `url` to the node file `dest` (resumable, checked against a `SHA256SUMS`
    /// beside it when there is one); `label` prefixes progress lines (`VM 8000`).
    fn node_download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError>;

    /// How this transport carries `op`, for plans and `-v` (`pct set 953 --memory 1024`).
    fn show(&self, guest: GuestTag, op: &Op) -> String;

    /// The bulk read: every guest with its node, run state, lock and template flag, in as few
    /// requests as the transport allows (`pct list` + `qm list`; `GET /cluster/resources`).
    fn observe(&self) -> Result<Snapshot, TransportError>;

    /// Hands this process a bulk read made elsewhere (the dispatcher's), so node names and
    /// states need no request of their own.
    fn seed(&self, _snapshot: &Snapshot) {}

    /// The node a guest the bulk read does not show (yet) is addressed on: its configured
    /// node in a cluster, or where it was just migrated.
    fn assign(&self, _guest: GuestTag, _node: &str) {}

    /// The node the job's own guest is on: node-local work goes there (a cluster's per-node
    /// SSH).
    fn work_on(&self, _node: &str) {}

    /// What the bulk read says about one guest, when the transport needs it to address the
    /// guest (its node); `None` without a request where it does not.
    fn locate(&self, _guest: GuestTag) -> Result<Option<Observed>, TransportError> {
        Ok(None)
    }

    /// Drops what [`Transport::locate`] remembered (after a change).
    fn forget(&self) {}

    /// The node of a guest the bulk read does not list (one being created).
    fn default_node(&self) -> Result<String, TransportError> {
        Ok(crate::job::DEFAULT_NODE.to_string())
    }

    /// The names of a guest's snapshots.
    fn snapshots(&self, guest: GuestTag) -> Result<Vec<String>, TransportError> {
        Ok(self
            .guest_config(guest)?
            .map(|t| {
                pve::Conf::parse(&t)
                    .snapshots()
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Whether [`Transport::guest_config`]'s text holds every snapshot as a section (the conf
    /// file does; the API's config answer does not).
    fn conf_lists_snapshots(&self) -> bool {
        true
    }
}
