//! The guest firewall file `<pve_dir>/firewall/<id>.fw`, in Proxmox's format
//! (`phoenix_guest::firewall` renders it, the same for VMs).
//!
//! The file is generated whole from the config and rewritten only when its content differs, so
//! a converged run does not touch it (and the firewall daemon does not reload).

pub use phoenix_guest::firewall::{path, render, rule};

/// The node's firewall file of this job's container, read only when the config has a
/// firewall to compare it with (a node file: over the `api` transport it is read over SSH).
pub fn read(
    job: &phoenix_guest::Job,
    lxc: &phoenix_config::Lxc,
) -> phoenix_guest::GuestResult<Option<String>> {
    if lxc.firewall.is_none() {
        return Ok(None);
    }
    let p = path(job.pve_dir(), job.guest.id);
    Ok(job
        .transport
        .node_read(&p)
        .map_err(|e| job.err("firewall", e.0))?
        .map(|b| String::from_utf8_lossy(&b).into_owned()))
}
