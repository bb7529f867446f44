//! Disk values and volumes: allocation on create/set, resize, `qm disk import`, the volumes a guest owns.

use super::{check_lock, host_path, kind_of, locked, vmid};
use crate::state::{io_fail, Kind, Node};
use crate::{fail, R};
use pve::propstring::{format_size, parse_size};
use pve::spec::Call;
use pve::{Conf, PropString};
use std::fs;

pub(super) fn is_disk_key(kind: Kind, key: &str) -> bool {
    let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
    match kind {
        Kind::Lxc => key == "rootfs" || (base == "mp" && base != key),
        Kind::Qemu => {
            matches!(
                base,
                "ide" | "sata" | "scsi" | "virtio" | "efidisk" | "tpmstate"
            ) && base != key
        }
    }
}

pub(super) fn default_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Lxc => "volume",
        Kind::Qemu => "file",
    }
}

/// The volume of a disk value (`local:subvol-1-disk-0,size=8G` -> `local:subvol-1-disk-0`).
pub(super) fn disk_volume(kind: Kind, value: &str) -> Option<String> {
    PropString::parse_with_default(value, Some(default_key(kind)))
        .ok()?
        .get(default_key(kind))
        .map(str::to_string)
}

/// Whether `volid` is a storage volume owned by guest `id`.
pub(super) fn owned(volid: &str, id: u32) -> bool {
    !volid.starts_with('/')
        && volid.contains(':')
        && (volid.contains(&format!("-{id}-")) || volid.ends_with(&format!("-{id}-cloudinit")))
}

/// Allocate volumes a disk value asks for (`store:8`, `store:0,import-from=...`, `store:cloudinit`).
pub(super) fn prepare_disk(
    node: &Node,
    kind: Kind,
    id: u32,
    value: &str,
    default_store: Option<&str>,
) -> R<String> {
    let dk = default_key(kind);
    let mut ps = PropString::parse_with_default(value, Some(dk))
        .map_err(|e| fail(format!("invalid format - {e}")))?;
    let Some(mut vol) = ps.get(dk).map(str::to_string) else {
        return Ok(value.to_string());
    };
    // A bare size (`--rootfs 8`) is allocated on `--storage` (default `local`), as Proxmox does.
    if kind == Kind::Lxc && !vol.contains(':') && vol.parse::<f64>().is_ok() {
        vol = format!("{}:{vol}", default_store.unwrap_or("local"));
    }
    if vol.starts_with('/') {
        if kind == Kind::Lxc && !node.rebase(&vol).exists() && !std::path::Path::new(&vol).exists()
        {
            // Bind mounts are host folders; the simulator creates them on demand.
            let _ = fs::create_dir_all(node.rebase(&vol));
        }
        return Ok(value.to_string());
    }
    let Some((store, rest)) = vol.split_once(':') else {
        return Ok(value.to_string());
    };
    if kind == Kind::Qemu && rest == "cloudinit" {
        let volid = node.alloc_named(store, id, &format!("vm-{id}-cloudinit"), 4 << 20)?;
        ps.set_default(dk, &volid);
        return Ok(ps.to_string());
    }
    let Ok(gib) = rest.parse::<f64>() else {
        // An existing volume: it must exist.
        if node.storage(store).is_ok() && !node.volume_file(&vol)?.exists() {
            return Err(fail(format!("volume '{vol}' does not exist")));
        }
        node.storage(store)?;
        return Ok(value.to_string());
    };
    let mut bytes = (gib * (1u64 << 30) as f64) as u64;
    if let Some(src) = ps.remove("import-from") {
        let file = if !src.starts_with('/') && src.contains(':') {
            node.volume_file(&src)?
        } else {
            host_path(node, &src)
        };
        let meta = fs::metadata(&file)
            .map_err(|_| fail(format!("import source '{src}' does not exist")))?;
        bytes = bytes.max(meta.len());
    }
    let volid = node.alloc_disk(store, id, kind == Kind::Lxc, bytes)?;
    ps.set_default(dk, &volid);
    ps.set("size", &format_size(bytes));
    Ok(ps.to_string())
}

pub(super) fn all_volumes(kind: Kind, conf: &Conf, id: u32) -> Vec<String> {
    let mut vols = Vec::new();
    let mut secs: Vec<&pve::conf::Section> = vec![conf.main()];
    secs.extend(
        conf.snapshots()
            .into_iter()
            .filter_map(|n| conf.snapshot(n)),
    );
    for s in secs {
        for (k, v) in s.entries() {
            let vol = if k.starts_with("unused") {
                Some(v.to_string())
            } else if is_disk_key(kind, k) {
                disk_volume(kind, v)
            } else {
                None
            };
            if let Some(vol) = vol.filter(|v| owned(v, id)) {
                if !vols.contains(&vol) {
                    vols.push(vol);
                }
            }
        }
    }
    vols
}

pub(super) fn clone_disk(
    node: &Node,
    kind: Kind,
    id: u32,
    newid: u32,
    value: &str,
    storage: Option<&str>,
) -> R<String> {
    let dk = default_key(kind);
    let mut ps = PropString::parse_with_default(value, Some(dk))
        .map_err(|e| fail(format!("invalid format - {e}")))?;
    let Some(vol) = ps.get(dk).map(str::to_string) else {
        return Ok(value.to_string());
    };
    if !owned(&vol, id) {
        return Ok(value.to_string());
    }
    let (store, _) = vol.split_once(':').unwrap_or((&vol, ""));
    let target = storage.unwrap_or(store);
    let newvol = if vol.ends_with("-cloudinit") {
        node.alloc_named(target, newid, &format!("vm-{newid}-cloudinit"), 4 << 20)?
    } else {
        let size = node.volume_size(&vol).unwrap_or(0);
        node.alloc_disk(target, newid, kind == Kind::Lxc, size)?
    };
    ps.set_default(dk, &newvol);
    Ok(ps.to_string())
}

pub(super) fn resize(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let disk = call.arg("disk").unwrap_or("");
    let size = call.arg("size").unwrap_or("");
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    let value = conf
        .get(disk)
        .ok_or_else(|| {
            fail(format!(
                "unable to parse volume ID '' - disk '{disk}' does not exist"
            ))
        })?
        .to_string();
    let dk = default_key(kind);
    let mut ps = PropString::parse_with_default(&value, Some(dk))
        .map_err(|e| fail(format!("invalid format - {e}")))?;
    let vol = ps.get(dk).unwrap_or("").to_string();
    let cur = ps
        .get("size")
        .and_then(parse_size)
        .or_else(|| node.volume_size(&vol))
        .unwrap_or(0);
    let (plus, num) = match size.strip_prefix('+') {
        Some(n) => (true, n),
        None => (false, size),
    };
    let amount = parse_size(num).ok_or_else(|| fail(format!("invalid size '{size}'")))?;
    let new = if plus { cur + amount } else { amount };
    // pve-container's and qemu-server's resize rules and messages.
    match kind {
        Kind::Lxc if new < cur => return Err(fail("unable to shrink disk size")),
        Kind::Lxc if new == cur => return Err(fail("disk is already at specified size")),
        Kind::Qemu if new < cur => return Err(fail("shrinking disks is not supported")),
        Kind::Qemu if new == cur => return Ok(0),
        _ => {}
    }
    if let Ok(f) = node.volume_file(&vol) {
        if f.exists() {
            let _s = node.lock_storage(vol.split(':').next().unwrap_or(""))?;
            fs::OpenOptions::new()
                .write(true)
                .open(&f)
                .and_then(|h| h.set_len(new))
                .map_err(|e| io_fail(&f, e))?;
        }
    }
    ps.set("size", &format_size(new));
    conf.set(disk, &ps.to_string());
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

pub(super) fn disk_import(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    let src = call.arg("source").unwrap_or("");
    let store = call.arg("storage").unwrap_or("");
    let (_g, mut conf) = locked(node, call, Kind::Qemu, id)?;
    check_lock(Kind::Qemu, id, &conf, call)?;
    let file = if !src.starts_with('/') && src.contains(':') {
        node.volume_file(src)?
    } else {
        host_path(node, src)
    };
    let meta = fs::metadata(&file).map_err(|_| fail(format!("source '{src}' does not exist")))?;
    let volid = node.alloc_disk(store, id, false, meta.len())?;
    let key = match call.opt("target-disk") {
        Some(t) => t.to_string(),
        None => {
            let n = (0..)
                .find(|n| conf.get(&format!("unused{n}")).is_none())
                .unwrap_or(0);
            format!("unused{n}")
        }
    };
    let value = if key.starts_with("unused") {
        volid.clone()
    } else {
        format!("{volid},size={}", format_size(meta.len()))
    };
    conf.set(&key, &value);
    node.write_conf(Kind::Qemu, id, &conf)?;
    println!("{key}: successfully imported disk '{volid}'");
    Ok(0)
}
