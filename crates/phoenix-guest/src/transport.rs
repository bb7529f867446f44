//! How actions reach a Proxmox node. A plan is the same whatever carries it; a [`Transport`]
//! carries its three kinds of work. [`crate::local::LocalTransport`] runs on the node with
//! `pct`/`qm` (each request through [`pve::api::Request::to_argv`]); a `pvesh` or HTTPS
//! transport implements the same trait.

use std::path::Path;

use phoenix_report::GuestTag;
use pve::api::Request;

use crate::error::TransportError;
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
}
