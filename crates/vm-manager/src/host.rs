//! Reading a VM's `qm.conf`: template flag, boot disk and its size, disk volumes, the NIC's
//! MAC; and where snippets live on the node.

use std::path::{Path, PathBuf};

use phoenix_host::HostEnv;
use pve::conf::QEMU_DISK_BUSES;
use pve::{Conf, PropString};

/// Whether the config marks a template.
pub fn is_template(conf: &Conf) -> bool {
    conf.get("template").is_some_and(|v| v.trim() == "1")
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

/// Every VM config of the node except `except`, by ID.
pub fn other_confs(pve_dir: &Path, except: u64) -> Vec<(u64, Conf)> {
    let Ok(rd) = std::fs::read_dir(pve_dir.join("qemu-server")) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, Conf)> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id: u64 = name.strip_suffix(".conf")?.parse().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            (id != except).then(|| (id, Conf::parse(&text)))
        })
        .collect();
    out.sort_by_key(|(id, _)| *id);
    out
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
