//! Read-only views: `status`, `config`, `pending`, `list`.

use super::disks::default_key;
use super::{existing, kind_of, vmid};
use crate::state::{Kind, Node};
use crate::{fail, R};
use pve::output::{self, PctListEntry, QmListEntry};
use pve::propstring::parse_size;
use pve::spec::Call;
use pve::{Conf, PropString};

pub(super) fn status(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    existing(node, kind, id)?;
    print!("{}", output::format_status(&node.run_state(id).status));
    Ok(0)
}

pub(super) fn section_text(sec: &pve::conf::Section) -> String {
    let mut out = String::new();
    if let Some(d) = sec.description() {
        for l in d.split('\n') {
            out.push_str(&format!("#{l}\n"));
        }
    }
    for (k, v) in sec.entries() {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}

pub(super) fn config(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let conf = existing(node, kind, id)?;
    match call.opt("snapshot") {
        Some(name) => {
            let sec = conf
                .snapshot(name)
                .ok_or_else(|| fail(format!("snapshot '{name}' does not exist")))?;
            print!("{}", section_text(sec));
        }
        None => print!("{}", conf.main_text()),
    }
    Ok(0)
}

pub(super) fn pending(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let conf = existing(node, kind, id)?;
    for (k, v) in conf.entries() {
        println!("cur {k}: {v}");
    }
    if let Some(p) = conf.pending() {
        for (k, v) in p.entries() {
            println!("new {k}: {v}");
        }
    }
    Ok(0)
}

pub(super) fn disk_size_gb(kind: Kind, conf: &Conf) -> f64 {
    let keys: Vec<String> = match kind {
        Kind::Lxc => vec!["rootfs".to_string()],
        Kind::Qemu => {
            let boot = conf
                .get("boot")
                .and_then(|b| PropString::parse_with_default(b, Some("legacy")).ok())
                .and_then(|p| p.get("order").map(str::to_string));
            let mut v: Vec<String> = boot
                .map(|o| o.split(';').map(str::to_string).collect())
                .unwrap_or_default();
            v.extend(["scsi0", "virtio0", "sata0", "ide0"].map(str::to_string));
            v
        }
    };
    for k in keys {
        if let Some(val) = conf.get(&k) {
            if let Ok(ps) = PropString::parse_with_default(val, Some(default_key(kind))) {
                if ps.get("media") == Some("cdrom") {
                    continue;
                }
                if let Some(s) = ps.get("size").and_then(parse_size) {
                    return s as f64 / (1u64 << 30) as f64;
                }
            }
        }
    }
    0.0
}

pub(super) fn list(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    match kind {
        Kind::Lxc => {
            let rows: Vec<PctListEntry> = node
                .guest_ids(kind)
                .into_iter()
                .filter_map(|id| {
                    let conf = node.read_conf(kind, id).ok()?;
                    Some(PctListEntry {
                        vmid: id,
                        status: node.run_state(id).status,
                        lock: conf.get("lock").unwrap_or("").to_string(),
                        name: conf.get("hostname").unwrap_or("").to_string(),
                    })
                })
                .collect();
            print!("{}", output::format_pct_list(&rows));
        }
        Kind::Qemu => {
            let rows: Vec<QmListEntry> = node
                .guest_ids(kind)
                .into_iter()
                .filter_map(|id| {
                    let conf = node.read_conf(kind, id).ok()?;
                    let st = node.run_state(id);
                    Some(QmListEntry {
                        vmid: id,
                        name: conf.get("name").unwrap_or("").to_string(),
                        mem_mb: conf
                            .get("memory")
                            .and_then(|m| m.parse().ok())
                            .unwrap_or(512),
                        bootdisk_gb: disk_size_gb(kind, &conf),
                        pid: if st.status == "running" {
                            st.pid.unwrap_or(0) as u64
                        } else {
                            0
                        },
                        status: st.status,
                    })
                })
                .collect();
            print!("{}", output::format_qm_list(&rows));
        }
    }
    Ok(0)
}
