//! Reading a VM's `qm.conf`: template flag, boot disk and its size, disk volumes, the NIC's
//! MAC; and where snippets live on the node.

use std::path::{Path, PathBuf};

use phoenix_guest::{GuestResult, Job};
use phoenix_host::HostEnv;
use pve::conf::QEMU_DISK_BUSES;
use pve::storage_cfg::StorageDef;
use pve::{Conf, PropString};

pub use phoenix_guest::lifecycle::is_template;

/// The node's `storage.cfg` (a node file, read through the transport).
pub fn storages(job: &Job, step: &str) -> GuestResult<Vec<StorageDef>> {
    let path = job.pve_dir().join("storage.cfg");
    let text = job
        .transport
        .node_read(&path)
        .map_err(|e| job.err(step, e.0))?
        .ok_or_else(|| job.err(step, format!("{} does not exist", path.display())))?;
    Ok(pve::storage_cfg::parse(&String::from_utf8_lossy(&text)))
}

/// The snippet storage when the config names none: the first (by ID, as `pvesm status` lists
/// them) enabled storage with `snippets` content on `node`.
pub fn snippet_storage(defs: &[StorageDef], node: &str) -> Option<String> {
    let mut ids: Vec<&StorageDef> = defs.iter().filter(|d| d.offers("snippets", node)).collect();
    ids.sort_by(|a, b| a.id.cmp(&b.id));
    ids.first().map(|d| d.id.clone())
}

/// Node path of snippet `file` on `storage` (`<path>/snippets/<file>`, what `pvesm path
/// <storage>:snippets/<file>` prints), as seen from here.
pub fn snippet_path(
    env: &HostEnv,
    defs: &[StorageDef],
    storage: &str,
    file: &str,
) -> Result<PathBuf, String> {
    let def = defs
        .iter()
        .find(|d| d.id == storage)
        .ok_or_else(|| format!("storage '{storage}' does not exist"))?;
    let base = def.path.as_deref().ok_or_else(|| {
        format!(
            "storage '{storage}' ({}) has no path to hold snippets",
            def.kind
        )
    })?;
    let p = format!("{}/snippets/{file}", base.trim_end_matches('/'));
    Ok(tool_path(env, &p))
}

/// The boot disk: the first disk of `boot: order=...`, else the first non-cloud-init disk.
pub fn boot_disk(conf: &Conf) -> Option<(String, String)> {
    let order = conf
        .get("boot")
        .and_then(|b| PropString::parse_with_default(b, Some("order")).ok())
        .and_then(|p| p.get("order").map(str::to_string));
    if let Some(first) = order.as_deref().and_then(|o| o.split(';').next()) {
        if let Some(v) = conf.get(first) {
            return Some((first.to_string(), v.to_string()));
        }
    }
    QEMU_DISK_BUSES.iter().find_map(|bus| {
        conf.indexed(bus)
            .into_iter()
            .find(|(_, v)| !v.contains("cloudinit") && !v.contains("media=cdrom"))
            .map(|(n, v)| (format!("{bus}{n}"), v.to_string()))
    })
}

/// Whether the config has a cloud-init drive on any disk bus.
pub fn has_cloudinit_drive(conf: &Conf) -> bool {
    conf.entries().any(|(k, v)| {
        pve::conf::is_qemu_disk_key(k) && v.split(',').next().unwrap_or("").ends_with("cloudinit")
    })
}

/// Size of a disk value (`...,size=32G`) in bytes.
pub fn disk_bytes(value: &str) -> Option<u64> {
    PropString::parse_with_default(value, Some("file"))
        .ok()?
        .get("size")
        .and_then(pve::propstring::parse_size)
}

/// Volume IDs (`store:name`) of the VM's disks, main section only.
pub fn disk_volumes(conf: &Conf) -> Vec<String> {
    let mut out = Vec::new();
    for bus in QEMU_DISK_BUSES
        .iter()
        .chain(["efidisk", "tpmstate", "unused"].iter())
    {
        for (_, v) in conf.indexed(bus) {
            let vol = v.split(',').next().unwrap_or("");
            if vol.contains(':')
                && !vol.starts_with('/')
                && !vol.ends_with("cloudinit")
                && vol != "none"
            {
                out.push(vol.to_string());
            }
        }
    }
    out
}

/// Every VM config of the node except this job's guest, by ID (the bulk read's VMs, then
/// their configs: files locally, one read each over the API).
pub fn other_confs(job: &Job, step: &str) -> GuestResult<Vec<(u64, Conf)>> {
    let snap = job.transport.observe().map_err(|e| job.err(step, e.0))?;
    let mut out = Vec::new();
    for o in snap.guests {
        if o.guest.kind != phoenix_report::Kind::Vm || o.guest.id == job.guest.id {
            continue;
        }
        if let Some(c) = job.conf_of(o.guest, step)? {
            out.push((o.guest.id, c));
        }
    }
    out.sort_by_key(|(id, _)| *id);
    Ok(out)
}

/// The MAC address of `net0` (`virtio=BC:24:11:...`).
pub fn nic_mac(conf: &Conf) -> Option<String> {
    let net = conf.get("net0")?;
    let first = net.split(',').next()?;
    let (_, mac) = first.split_once('=')?;
    (mac.len() == 17 && mac.matches(':').count() == 5).then(|| mac.to_string())
}

/// Where a path printed by a Proxmox tool is from here: under `PHOENIX_HOST_ROOT` unless it
/// already lies inside the simulated node's own folder (identity on a real host).
pub fn tool_path(env: &HostEnv, printed: &str) -> PathBuf {
    let p = Path::new(printed.trim());
    if env.sim.as_deref().is_some_and(|root| p.starts_with(root)) {
        return p.to_path_buf();
    }
    env.host_path(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_boot_disk_and_size() {
        let c = Conf::parse("boot: order=scsi0\nide2: s:vm-1-cloudinit,media=cdrom\nscsi0: s:vm-1-disk-0,size=32G\n");
        let (k, v) = boot_disk(&c).expect("disk");
        assert_eq!(k, "scsi0");
        assert_eq!(disk_bytes(&v), Some(32 << 30));
        assert_eq!(disk_volumes(&c), vec!["s:vm-1-disk-0".to_string()]);
        assert!(has_cloudinit_drive(&c));
    }
}
