//! Config edits: `create`, `set` (options, `--delete`), `destroy`, `template`, `unlock`, NIC MACs.

use super::disks::{all_volumes, disk_volume, is_disk_key, owned, prepare_disk};
use super::power::start_guest;
use super::{already_exists, check_lock, host_path, kind_of, locked, normalise_bool, vmid};
use crate::state::{io_fail, Kind, Node};
use crate::{fail, R};
use pve::spec::{self, Call};
use pve::{Conf, PropString};
use std::fs;
/// Options that are instructions to the tool, not config keys.
pub(super) const NOT_CONF: &[&str] = &[
    "storage",
    "password",
    "ssh-public-keys",
    "start",
    "unique",
    "restore",
    "force",
    "ignore-unpack-errors",
    "pool",
    "bwlimit",
    "archive",
    "live-restore",
    "import-working-storage",
    "delete",
    "revert",
    "skiplock",
    "digest",
    "description",
    "ha-managed",
];
/// A deterministic MAC in Proxmox's `BC:24:11` prefix.
pub(super) fn mac_for(id: u32, idx: u32, salt: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = [
        &id.to_le_bytes()[..],
        &idx.to_le_bytes()[..],
        &salt.to_le_bytes()[..],
    ]
    .concat();
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!(
        "BC:24:11:{:02X}:{:02X}:{:02X}",
        (h >> 16) as u8,
        (h >> 8) as u8,
        h as u8
    )
}
/// Give NICs a MAC (`hwaddr` / `<model>=`) and LXC NICs `type=veth`, as Proxmox does.
pub(super) fn complete_net(kind: Kind, id: u32, idx: u32, value: &str) -> String {
    match kind {
        Kind::Lxc => {
            let Ok(mut ps) = PropString::parse(value) else {
                return value.to_string();
            };
            if ps.get("hwaddr").is_none() {
                ps.set("hwaddr", &mac_for(id, idx, 0));
            }
            if ps.get("type").is_none() {
                ps.set("type", "veth");
            }
            ps.to_string()
        }
        Kind::Qemu => {
            let Ok(ps) = PropString::parse_with_default(value, Some("model")) else {
                return value.to_string();
            };
            let Some(model) = ps.get("model").map(str::to_string) else {
                return value.to_string();
            };
            let mac = ps
                .get("macaddr")
                .map(str::to_string)
                .unwrap_or_else(|| mac_for(id, idx, 0));
            let rest: Vec<String> = ps
                .iter()
                .filter(|(k, _)| *k != "model" && *k != "macaddr")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut out = format!("{model}={mac}");
            for r in rest {
                out.push(',');
                out.push_str(&r);
            }
            out
        }
    }
}

/// URL-encode (`sshkeys` are stored so in qm.conf).
pub(super) fn uri_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Apply config options of a create/set call to `conf`.
pub(super) fn apply_options(
    node: &Node,
    call: &Call,
    kind: Kind,
    id: u32,
    conf: &mut Conf,
) -> R<()> {
    for (key, value) in &call.options {
        if NOT_CONF.contains(&key.as_str()) {
            continue;
        }
        let mut v = normalise_bool(call, key, value);
        if is_disk_key(kind, key) {
            v = prepare_disk(node, kind, id, &v, call.opt("storage"))?;
        } else if let Some(idx) = key.strip_prefix("net").and_then(|n| n.parse::<u32>().ok()) {
            v = complete_net(kind, id, idx, &v);
        } else if key == "sshkeys" && kind == Kind::Qemu {
            let p = host_path(node, value);
            let text = fs::read_to_string(&p)
                .map_err(|e| fail(format!("unable to read '{value}' - {e}")))?;
            v = uri_escape(&text);
        }
        conf.set(key, &v);
    }
    if let Some(d) = call.opt("description") {
        conf.main_mut().set_description(Some(d));
    }
    Ok(())
}

/// `--delete a,b`.
pub(super) fn apply_delete(node: &Node, call: &Call, kind: Kind, conf: &mut Conf) -> R<()> {
    let Some(list) = call.opt("delete") else {
        return Ok(());
    };
    let keys = &spec::spec().conf[if kind == Kind::Lxc { "pct" } else { "qm" }];
    for key in list.split([',', ';', ' ']).filter(|k| !k.is_empty()) {
        let base = key.trim_end_matches(|c: char| c.is_ascii_digit());
        let known = keys.get(key).is_some_and(|k| k.indexed.is_none())
            || keys
                .get(base)
                .is_some_and(|k| k.indexed.is_some() && base != key);
        if !known {
            return Err(fail(format!(
                "400 Parameter verification failed.\ndelete: invalid configuration ID '{key}'"
            )));
        }
        if key == "description" {
            conf.main_mut().set_description(None);
            continue;
        }
        // A deleted disk becomes unusedN (as Proxmox does), other keys vanish.
        if is_disk_key(kind, key) {
            if let Some(vol) = conf.get(key).and_then(|v| disk_volume(kind, v)) {
                if owned(&vol, call.vmid().unwrap_or(0)) && !vol.contains("cloudinit") {
                    let n = (0..).find(|n| conf.get(&format!("unused{n}")).is_none());
                    if let Some(n) = n {
                        conf.set(&format!("unused{n}"), &vol);
                    }
                }
            }
        }
        conf.delete(key);
        let _ = node;
    }
    Ok(())
}

pub(super) fn ostype_of(template: &str) -> &'static str {
    let name = template.rsplit('/').next().unwrap_or(template);
    for os in [
        "ubuntu",
        "debian",
        "alpine",
        "centos",
        "fedora",
        "archlinux",
        "devuan",
        "opensuse",
        "gentoo",
        "nixos",
    ] {
        if name.starts_with(os) {
            return match os {
                "ubuntu" => "ubuntu",
                "debian" => "debian",
                "alpine" => "alpine",
                "centos" => "centos",
                "fedora" => "fedora",
                "archlinux" => "archlinux",
                "devuan" => "devuan",
                "opensuse" => "opensuse",
                "gentoo" => "gentoo",
                _ => "nixos",
            };
        }
    }
    "unmanaged"
}

pub(super) fn create(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let _g = node.lock_guest(kind, id, false)?;
    node.pause(&call.tool, &call.command)?;
    if let Some((on, _)) = node.owner(id) {
        return Err(already_exists(kind, id, &on));
    }
    let mut conf = Conf::default();
    if kind == Kind::Lxc {
        let tmpl = call.arg("ostemplate").unwrap_or("");
        let exists = if tmpl.starts_with('/') {
            host_path(node, tmpl).is_file()
        } else {
            node.volume_file(tmpl)?.is_file()
        };
        if !exists {
            if tmpl.starts_with('/') {
                return Err(fail(format!(
                    "unable to open file '{tmpl}' - No such file or directory"
                )));
            }
            return Err(fail(format!("volume '{tmpl}' does not exist")));
        }
        conf.set("arch", "amd64");
        conf.set("hostname", &format!("CT{id}"));
        conf.set("memory", "512");
        conf.set("ostype", ostype_of(tmpl));
        conf.set("swap", "512");
        if call.opt("rootfs").is_none() {
            let store = call.opt("storage").unwrap_or("local");
            let v = prepare_disk(node, kind, id, &format!("{store}:4"), None)?;
            conf.set("rootfs", &v);
        }
    }
    let result = apply_options(node, call, kind, id, &mut conf);
    if let Err(e) = result {
        // Free what was allocated before the failure.
        for (k, v) in conf.entries() {
            if is_disk_key(kind, k) {
                if let Some(vol) = disk_volume(kind, v).filter(|v| owned(v, id)) {
                    node.free_volume(&vol);
                }
            }
        }
        return Err(e);
    }
    crate::guestos::tree::create(node, id, crate::guestos::image::Flavour::of(kind))?;
    node.write_conf(kind, id, &conf)?;
    super::power::power_off(node, id)?;
    if call.flag("start") {
        start_guest(node, kind, id, &conf)?;
    }
    Ok(0)
}

pub(super) fn set(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    apply_delete(node, call, kind, &mut conf)?;
    apply_options(node, call, kind, id, &mut conf)?;
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

pub(super) fn destroy(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    let ha = crate::ha::configured(&node.root, kind, id);
    if ha && !call.flag("purge") {
        return Err(fail(format!(
            "unable to remove {} {id} - used in HA resources and purge parameter not set.",
            kind.label()
        )));
    }
    if node.is_running(id) {
        if call.flag("force") && kind == Kind::Lxc {
            super::power::power_off(node, id)?;
        } else {
            return Err(match kind {
                Kind::Lxc => fail(format!("unable to destroy CT {id} - container is running")),
                Kind::Qemu => fail(format!("VM {id} is running - destroy failed")),
            });
        }
    }
    for vol in all_volumes(kind, &conf, id) {
        node.free_volume(&vol);
    }
    let p = node.conf_path(kind, id);
    fs::remove_file(&p).map_err(|e| io_fail(&p, e))?;
    let _ = fs::remove_file(node.run_path(id));
    let _ = crate::guestos::services::stop_all(node, id);
    let _ = fs::remove_file(node.pve_dir().join(format!("firewall/{id}.fw")));
    let _ = fs::remove_dir_all(node.guest_dir(id));
    if ha {
        crate::ha::remove(&node.root, &crate::ha::sid(kind, id))?;
    }
    Ok(0)
}

pub(super) fn template(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    // pve-container's and qemu-server's `template` checks, in their order.
    let (ct, vm) = (kind == Kind::Lxc, kind == Kind::Qemu);
    if !conf.snapshots().is_empty() {
        let what = if ct { "CT" } else { "VM" };
        return Err(fail(format!(
            "unable to create template, because {what} contains snapshots"
        )));
    }
    if conf.get("template").and_then(spec::parse_bool) == Some(true) {
        return Err(fail("you can't convert a template to a template"));
    }
    if node.is_running(id) {
        return Err(fail(if vm {
            "you can't convert a VM to template if VM is running"
        } else {
            "you can't convert a CT to template if the CT is running"
        }));
    }
    conf.set("template", "1");
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

pub(super) fn unlock(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, mut conf) = locked(node, call, kind, id)?;
    conf.delete("lock");
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

pub(super) fn new_mac(kind: Kind, value: &str, mac: String) -> String {
    match kind {
        Kind::Lxc => match PropString::parse(value) {
            Ok(mut ps) => {
                ps.set("hwaddr", &mac);
                ps.to_string()
            }
            Err(_) => value.to_string(),
        },
        Kind::Qemu => {
            let parts: Vec<String> = value
                .split(',')
                .enumerate()
                .map(|(i, p)| match p.split_once('=') {
                    Some((m, _)) if i == 0 && m != "bridge" => format!("{m}={mac}"),
                    _ => p.to_string(),
                })
                .collect();
            parts.join(",")
        }
    }
}
