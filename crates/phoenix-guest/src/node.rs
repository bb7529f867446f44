//! Node-local work: what no API request does (a container's `pct exec`/`pct push`, files under
//! `/etc/pve` and on the host, programs such as feature scripts, downloads). The `local` and
//! `pvesh` transports run on the node and do it here; the `api` transport does it on the
//! guest's node over SSH ([`crate::ssh::SshNode`]), or here when the node is this machine (the
//! simulated node of `--sim`).

use std::path::Path;

use crate::error::TransportError;
use crate::plan::{NodeCommand, Payload};
use crate::transport::ExecOutput;

/// Where node-local work runs.
pub trait NodeWork {
    /// `pct exec <id> -- argv` on the node; a non-zero exit of the command is an `Ok`.
    fn ct_exec(&self, id: u64, argv: &[String]) -> Result<ExecOutput, TransportError>;

    /// `pct push <id> <file> <dest>` on the node.
    fn ct_push(
        &self,
        id: u64,
        data: &Payload,
        dest: &str,
        perms: Option<&str>,
    ) -> Result<(), TransportError>;

    /// A node file (`None` when absent).
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError>;

    /// Replaces a node file atomically (`private`: mode 0600).
    fn write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError>;

    /// Removes a node file; whether it existed.
    fn remove(&self, path: &Path) -> Result<bool, TransportError>;

    /// Runs a program on the node with the environment contract.
    fn run(&self, cmd: &NodeCommand) -> Result<ExecOutput, TransportError>;

    /// Downloads `url` to the node file `dest` (resumable, checked against `SHA256SUMS`).
    fn download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError>;

    /// Where the work runs, for messages (`this node`, `ssh root@pve1`).
    fn place(&self) -> String;

    /// In a cluster: the node the following work is for (the job's guest's node).
    fn select(&self, _node: &str) {}
}
