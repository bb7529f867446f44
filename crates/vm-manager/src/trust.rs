//! The internal CA's root for a VM's `trusted_ca` feature. A VM cannot read the CA container's
//! folder, so the host copies the root the CA exported (`phoenix_root_ca.crt` in the `step_ca`
//! container's `/etc/step-ca/ssl`, a bind mount from the host) into the VM's NFS volume mounted
//! at `/etc/step-ca/certs`, as `root_ca.crt`, where the feature script reads it (the old
//! orchestrator's layout). Runs after the volumes are mounted and before the features.

use std::path::Path;

use phoenix_guest::{Action, GuestResult, NodeOp, Step};
use phoenix_report::Change;

use crate::context::VmJob;

const STEP: &str = "internal root";
/// Where the VM's `trusted_ca` feature reads the root (a volume of the VM's config).
pub const VM_CERT_DIR: &str = "/etc/step-ca/certs";
/// The CA's state folder inside its container (the `step_ca` feature's `STEPPATH`).
const CA_STATE_DIR: &str = "/etc/step-ca/ssl";
const EXPORTED_ROOT: &str = "phoenix_root_ca.crt";
const VM_ROOT: &str = "root_ca.crt";

/// Puts the root into the VM's certificate volume when it is missing or differs. A VM without
/// `trusted_ca`, without such a volume, or a deployment without a CA container: nothing (the
/// feature script itself says what is missing).
pub fn apply(vj: &VmJob) -> GuestResult<()> {
    let (job, vm) = (vj.job, vj.vm());
    if !vm.features.iter().any(|f| f.as_str() == "trusted_ca") {
        return Ok(());
    }
    let Some(volume) = vm
        .nfs_volumes
        .iter()
        .find(|v| v.mount_point.as_str() == VM_CERT_DIR)
    else {
        return Ok(());
    };
    let config = job.config();
    let Some((ca, dir)) = config
        .lxcs()
        .iter()
        .filter(|c| c.features.iter().any(|f| f.as_str() == "step_ca"))
        .find_map(|c| Some((c.id, c.host_path_of(CA_STATE_DIR)?)))
    else {
        return Ok(());
    };
    let src = job.host_path(&dir.join(EXPORTED_ROOT));
    let read = |p: &Path| job.transport.node_read(p).map_err(|e| job.err(STEP, e.0));
    let Some(root) = read(&src)? else {
        return Err(job.err(
            STEP,
            format!(
                "the internal CA's root {} does not exist: CT {ca} (step_ca) must be created first (its application script exports it)",
                dir.join(EXPORTED_ROOT).display()
            ),
        ));
    };
    let dest = job.host_path(&Path::new(volume.path.as_str()).join(VM_ROOT));
    if read(&dest)?.as_deref() == Some(root.as_slice()) {
        job.unchanged(STEP, None);
        return Ok(());
    }
    let step = Step::new(STEP).with(
        Action::node(
            STEP,
            format!("the VM's {VM_CERT_DIR} volume must hold the internal root"),
            NodeOp::Write {
                path: dest,
                data: root,
                private: false,
            },
        )
        .changes(vec![Change::new(
            format!("{VM_CERT_DIR}/{VM_ROOT}"),
            None,
            Some("the internal root"),
        )]),
    );
    job.apply(step)?;
    Ok(())
}
