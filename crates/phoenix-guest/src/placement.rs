//! Where a guest runs in a cluster. The config names a node per guest (`Guest::node`); a
//! guest found on another node is drift, and `create`/`converge` move it back with
//! Proxmox's own migration (`POST .../migrate`), online where Proxmox allows it: a running
//! VM migrates live (its local disks with it), a running container is restarted on the
//! target (pve-container has no live migration). A clone is made on its source's node and
//! then migrated the same way.

use pve::api::Method;

use phoenix_report::{Change, Kind};

use crate::plan::{Action, Confirm, Step};
use crate::{Applied, GuestResult, Job};

/// The node difference as a change line (`node: pve2 -> pve1`), when there is one.
pub fn drift(configured: Option<&str>, actual: Option<&str>) -> Option<Change> {
    match (configured, actual) {
        (Some(want), Some(have)) if want != have && have != crate::job::DEFAULT_NODE => {
            Some(Change::new("node", Some(have), Some(want)))
        }
        _ => None,
    }
}

/// The migration that puts the guest on its configured node (empty step when it is there,
/// or when the config names no node).
pub fn step(job: &Job, state: &str) -> Step {
    let mut step = Step::new("placement");
    let want = job.config().guest(job.id()).and_then(|g| g.node.clone());
    let have = job.node();
    let Some(change) = drift(want.as_deref(), Some(&have)) else {
        return step;
    };
    let target = want.unwrap_or_default();
    let running = state == "running";
    let mut req = job
        .req(Method::Post, "/migrate")
        .param("target", target.as_str());
    let how = match (job.guest.kind, running) {
        (Kind::Vm, true) => {
            req = req.param("online", "1").param("with-local-disks", "1");
            "online"
        }
        (Kind::Lxc, true) => {
            req = req.param("restart", "1");
            "restarted on the target"
        }
        _ => "offline",
    };
    let mut a = Action::api(
        "placement",
        format!("on node '{have}', configured on '{target}' (migration {how})"),
        req,
    )
    .changes(vec![change])
    .confirm(Confirm::OnNode(target.clone()));
    a.long = true;
    step.actions.push(a);
    step
}

/// Plans and applies [`step`]; after a migration the job addresses the new node.
pub fn place(job: &Job) -> GuestResult<()> {
    let want = job.config().guest(job.id()).and_then(|g| g.node.clone());
    if want.is_none() {
        return Ok(());
    }
    let state = job.state("placement")?;
    let step = step(job, &state);
    if job.apply(step)? == Applied::Changed {
        if let Some(n) = want {
            job.moved_to(&n);
        }
    }
    Ok(())
}

/// Under the simulator, node-local work done here acts as the guest's node (what SSH to that
/// node does on a real cluster): the simulated tools read `PVE_SIM_NODE`.
pub fn enter_sim_node(node: &str) {
    if std::env::var_os("PVE_SIM_ROOT").is_some() && node != crate::job::DEFAULT_NODE {
        std::env::set_var("PVE_SIM_NODE", node);
    }
}
