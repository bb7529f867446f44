//! `pct` and `qm`: guest configs, life cycle, snapshots, clones, disks, guest commands.

use crate::faults::guest_outcome;
use crate::state::{atomic_write, io_fail, now_ms, FileLock, Kind, Node, RunState};
use crate::{fail, Fail, R};
use pve::output::{self, PctListEntry, QmListEntry, SnapshotInfo};
use pve::propstring::{format_size, parse_size};
use pve::spec::{self, Call, ValueType};
use pve::{Conf, PropString};
use std::fs;
use std::io::{Read, Write};

fn kind_of(call: &Call) -> Kind {
    if call.tool == "pct" {
        Kind::Lxc
    } else {
        Kind::Qemu
    }
}

fn vmid(call: &Call) -> R<u32> {
    call.vmid().ok_or_else(|| fail("missing vmid"))
}

/// Options that are instructions to the tool, not config keys.
const NOT_CONF: &[&str] = &[
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

fn is_disk_key(kind: Kind, key: &str) -> bool {
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

fn default_key(kind: Kind) -> &'static str {
    match kind {
        Kind::Lxc => "volume",
        Kind::Qemu => "file",
    }
}

/// The volume of a disk value (`local:subvol-1-disk-0,size=8G` -> `local:subvol-1-disk-0`).
fn disk_volume(kind: Kind, value: &str) -> Option<String> {
    PropString::parse_with_default(value, Some(default_key(kind)))
        .ok()?
        .get(default_key(kind))
        .map(str::to_string)
}

/// Whether `volid` is a storage volume owned by guest `id`.
fn owned(volid: &str, id: u32) -> bool {
    !volid.starts_with('/')
        && volid.contains(':')
        && (volid.contains(&format!("-{id}-")) || volid.ends_with(&format!("-{id}-cloudinit")))
}

/// A deterministic MAC in Proxmox's `BC:24:11` prefix.
fn mac_for(id: u32, idx: u32, salt: u64) -> String {
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

fn locked_msg(kind: Kind, id: u32, lock: &str) -> Fail {
    fail(format!("{} {id} is locked ({lock})", kind.label()))
}

fn check_lock(kind: Kind, id: u32, conf: &Conf, call: &Call) -> R<()> {
    if call.flag("skiplock") {
        return Ok(());
    }
    match conf.get("lock") {
        Some(l) => Err(locked_msg(kind, id, l)),
        None => Ok(()),
    }
}

fn not_exist(kind: Kind, id: u32) -> Fail {
    fail(format!(
        "Configuration file 'nodes/pve/{}/{id}.conf' does not exist",
        kind.dir()
    ))
}

/// Read the config of an existing guest of the call's kind.
fn existing(node: &Node, kind: Kind, id: u32) -> R<Conf> {
    if !node.conf_path(kind, id).exists() {
        return Err(not_exist(kind, id));
    }
    node.read_conf(kind, id)
}

/// Take the guest lock, spend the latency, and return the current config.
fn locked(node: &Node, call: &Call, kind: Kind, id: u32) -> R<(FileLock, Conf)> {
    let g = node.lock_guest(kind, id, false)?;
    node.pause(&call.tool, &call.command)?;
    let conf = existing(node, kind, id)?;
    Ok((g, conf))
}

fn normalise_bool(call: &Call, key: &str, value: &str) -> String {
    let cmd = spec::spec().command(&call.tool, &call.command).map(|c| c.1);
    let is_bool = cmd
        .and_then(|c| spec::Spec::option(c, key))
        .is_some_and(|o| o.value == ValueType::Boolean);
    match (is_bool, spec::parse_bool(value)) {
        (true, Some(b)) => if b { "1" } else { "0" }.to_string(),
        _ => value.to_string(),
    }
}

/// Resolve a host path given to the tool: as is if it exists, else under the simulated host.
fn host_path(node: &Node, p: &str) -> std::path::PathBuf {
    let direct = std::path::PathBuf::from(p);
    if direct.exists() {
        direct
    } else {
        node.rebase(p)
    }
}

/// Allocate volumes a disk value asks for (`store:8`, `store:0,import-from=...`, `store:cloudinit`).
fn prepare_disk(
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

/// Give NICs a MAC (`hwaddr` / `<model>=`) and LXC NICs `type=veth`, as Proxmox does.
fn complete_net(kind: Kind, id: u32, idx: u32, value: &str) -> String {
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
fn uri_escape(s: &str) -> String {
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
fn apply_options(node: &Node, call: &Call, kind: Kind, id: u32, conf: &mut Conf) -> R<()> {
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
fn apply_delete(node: &Node, call: &Call, kind: Kind, conf: &mut Conf) -> R<()> {
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

fn ostype_of(template: &str) -> &'static str {
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

fn already_exists(kind: Kind, id: u32) -> Fail {
    match kind {
        Kind::Lxc => fail(format!("CT {id} already exists on node 'pve'")),
        Kind::Qemu => fail(format!(
            "unable to create VM {id} - VM {id} already exists on node 'pve'"
        )),
    }
}

fn create(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let _g = node.lock_guest(kind, id, false)?;
    node.pause(&call.tool, &call.command)?;
    if node.guest_kind(id).is_some() {
        return Err(already_exists(kind, id));
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
    node.write_conf(kind, id, &conf)?;
    node.set_run_state(id, &RunState::default())?;
    if call.flag("start") {
        start_guest(node, kind, id, &conf)?;
    }
    Ok(0)
}

fn set(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    apply_delete(node, call, kind, &mut conf)?;
    apply_options(node, call, kind, id, &mut conf)?;
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

fn start_guest(node: &Node, kind: Kind, id: u32, conf: &Conf) -> R<()> {
    if conf.get("template").and_then(spec::parse_bool) == Some(true) {
        return Err(match kind {
            Kind::Lxc => fail(format!("CT {id} is a template - unable to start")),
            Kind::Qemu => fail("you can't start a vm if it's a template"),
        });
    }
    if node.is_running(id) {
        return Err(fail(format!("{} {id} already running", kind.label())));
    }
    node.set_run_state(
        id,
        &RunState {
            status: "running".to_string(),
            started_ms: Some(now_ms()),
            pid: Some(10_000 + id % 50_000),
        },
    )
}

fn lifecycle(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, conf) = locked(node, call, kind, id)?;
    let running = node.is_running(id);
    let label = kind.label();
    match call.command.as_str() {
        "start" => {
            check_lock(kind, id, &conf, call)?;
            start_guest(node, kind, id, &conf)?;
        }
        "stop" | "shutdown" => {
            if !running {
                if kind == Kind::Qemu && call.command == "stop" {
                    return Ok(0);
                }
                return Err(fail(format!("{label} {id} not running")));
            }
            if call.command == "shutdown" {
                check_lock(kind, id, &conf, call)?;
            }
            node.set_run_state(id, &RunState::default())?;
        }
        "reboot" => {
            if !running {
                return Err(fail(format!("{label} {id} not running")));
            }
            check_lock(kind, id, &conf, call)?;
            node.set_run_state(id, &RunState::default())?;
            start_guest(node, kind, id, &conf)?;
        }
        _ => unreachable_cmd(call)?,
    }
    Ok(0)
}

fn unreachable_cmd(call: &Call) -> R<()> {
    Err(fail(format!(
        "pve-sim: '{} {}' is not simulated",
        call.tool, call.command
    )))
}

fn status(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    existing(node, kind, id)?;
    print!("{}", output::format_status(&node.run_state(id).status));
    Ok(0)
}

fn section_text(sec: &pve::conf::Section) -> String {
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

fn config(node: &Node, call: &Call) -> R<i32> {
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

fn pending(node: &Node, call: &Call) -> R<i32> {
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

fn disk_size_gb(kind: Kind, conf: &Conf) -> f64 {
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

fn list(node: &Node, call: &Call) -> R<i32> {
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

fn listsnapshot(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let conf = existing(node, kind, id)?;
    let mut snaps: Vec<SnapshotInfo> = conf
        .snapshots()
        .into_iter()
        .filter_map(|n| {
            let s = conf.snapshot(n)?;
            Some(SnapshotInfo {
                name: n.to_string(),
                parent: s.get("parent").map(str::to_string),
                snaptime: s.get("snaptime").and_then(|t| t.parse().ok()),
                description: s.description(),
            })
        })
        .collect();
    snaps.push(SnapshotInfo {
        name: "current".to_string(),
        parent: conf.get("parent").map(str::to_string),
        snaptime: None,
        description: Some("You are here!".to_string()),
    });
    print!("{}", output::format_snapshot_tree(&snaps));
    Ok(0)
}

fn valid_snapname(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn snapshot(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let name = call.arg("snapname").unwrap_or("");
    if !valid_snapname(name) || name == "current" {
        return Err(fail(format!(
            "400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '{name}'"
        )));
    }
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    if conf.snapshot(name).is_some() {
        return Err(fail(format!("snapshot name '{name}' already used")));
    }
    conf.add_snapshot(name, now_ms() / 1000, call.opt("description"));
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

fn delsnapshot(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let name = call.arg("snapname").unwrap_or("");
    let (_g, mut conf) = locked(node, call, kind, id)?;
    if !call.flag("force") {
        check_lock(kind, id, &conf, call)?;
    }
    if !conf.remove_snapshot(name) {
        return Err(fail(format!("snapshot '{name}' does not exist")));
    }
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

fn rollback(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let name = call.arg("snapname").unwrap_or("");
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    if !conf.rollback(name) {
        return Err(fail(format!("snapshot '{name}' does not exist")));
    }
    node.write_conf(kind, id, &conf)?;
    node.set_run_state(id, &RunState::default())?;
    if call.flag("start") {
        start_guest(node, kind, id, &conf)?;
    }
    Ok(0)
}

fn all_volumes(kind: Kind, conf: &Conf, id: u32) -> Vec<String> {
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

fn destroy(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    if node.is_running(id) {
        if call.flag("force") && kind == Kind::Lxc {
            node.set_run_state(id, &RunState::default())?;
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
    let _ = fs::remove_file(node.pve_dir().join(format!("firewall/{id}.fw")));
    let _ = fs::remove_dir_all(node.guest_dir(id));
    Ok(0)
}

fn template(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, mut conf) = locked(node, call, kind, id)?;
    check_lock(kind, id, &conf, call)?;
    if node.is_running(id) {
        return Err(fail(format!(
            "you can't convert a running {} to a template",
            if kind == Kind::Lxc { "CT" } else { "VM" }
        )));
    }
    conf.set("template", "1");
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

fn unlock(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let (_g, mut conf) = locked(node, call, kind, id)?;
    conf.delete("lock");
    node.write_conf(kind, id, &conf)?;
    Ok(0)
}

fn set_lock_field(node: &Node, kind: Kind, id: u32, value: Option<&str>) -> R<()> {
    let _g = node.lock_guest(kind, id, false)?;
    let mut conf = existing(node, kind, id)?;
    match value {
        Some(v) => conf.set("lock", v),
        None => {
            conf.delete("lock");
        }
    }
    node.write_conf(kind, id, &conf)
}

fn clone(node: &Node, call: &Call) -> R<i32> {
    let kind = kind_of(call);
    let id = vmid(call)?;
    let newid: u32 = call
        .arg("newid")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("missing newid"))?;
    let src = existing(node, kind, id)?;
    let is_template = src.get("template").and_then(spec::parse_bool) == Some(true);
    let snapname = call.opt("snapname");
    if kind == Kind::Lxc && !is_template && snapname.is_none() && node.is_running(id) {
        return Err(fail(format!(
            "CT {id} is running - clone of a running container needs --snapname"
        )));
    }
    if kind == Kind::Lxc && !is_template && snapname.is_none() {
        return Err(fail(
            "400 Parameter verification failed.\nsnapname: a snapshot name is required to clone a container that is not a template",
        ));
    }
    if let Some(s) = snapname {
        if src.snapshot(s).is_none() {
            return Err(fail(format!("snapshot '{s}' does not exist")));
        }
    }
    let _new_guard = node.lock_guest(kind, newid, false)?;
    if node.guest_kind(newid).is_some() {
        return Err(already_exists(kind, newid));
    }
    // Source lock: a container always gets `lock: disk` for the whole copy, template or not
    // (pve-container's clone sets it unconditionally); a VM gets `lock: clone`, except a
    // stopped template, which qemu-server only share-locks so several clones run in parallel.
    let shared_template = kind == Kind::Qemu && is_template && !node.is_running(id);
    let mut held: Option<FileLock> = None;
    if shared_template {
        held = Some(node.lock_guest(kind, id, true)?);
        check_lock(kind, id, &node.read_conf(kind, id)?, call)?;
    } else {
        let _g = node.lock_guest(kind, id, false)?;
        let cur = existing(node, kind, id)?;
        check_lock(kind, id, &cur, call)?;
        let mut c = cur;
        c.set("lock", if kind == Kind::Lxc { "disk" } else { "clone" });
        node.write_conf(kind, id, &c)?;
    }
    let result = (|| -> R<Conf> {
        node.pause(&call.tool, &call.command)?;
        let cur = node.read_conf(kind, id)?;
        let base = match snapname {
            Some(s) => cur
                .snapshot(s)
                .ok_or_else(|| fail(format!("snapshot '{s}' does not exist")))?,
            None => cur.main(),
        };
        let mut newc = Conf::default();
        if let Some(d) = call
            .opt("description")
            .map(str::to_string)
            .or(base.description())
        {
            newc.main_mut().set_description(Some(&d));
        }
        for (k, v) in base.entries() {
            if matches!(
                k,
                "lock" | "parent" | "snaptime" | "snapstate" | "template" | "vmstate"
            ) || k.starts_with("unused")
            {
                continue;
            }
            let mut v = v.to_string();
            if is_disk_key(kind, k) {
                v = clone_disk(node, kind, id, newid, &v, call.opt("storage"))?;
            } else if let Some(idx) = k.strip_prefix("net").and_then(|n| n.parse::<u32>().ok()) {
                v = new_mac(kind, &v, mac_for(newid, idx, 1));
            }
            newc.set(k, &v);
        }
        match kind {
            Kind::Lxc => {
                if let Some(h) = call.opt("hostname") {
                    newc.set("hostname", h);
                }
            }
            Kind::Qemu => {
                let name = call.opt("name").map(str::to_string).unwrap_or_else(|| {
                    format!("Copy-of-VM-{}", base.get("name").unwrap_or(&id.to_string()))
                });
                newc.set("name", &name);
            }
        }
        Ok(newc)
    })();
    drop(held);
    if !shared_template {
        set_lock_field(node, kind, id, None)?;
    }
    let newc = result?;
    node.write_conf(kind, newid, &newc)?;
    node.set_run_state(newid, &RunState::default())?;
    Ok(0)
}

fn new_mac(kind: Kind, value: &str, mac: String) -> String {
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

fn clone_disk(
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

fn resize(node: &Node, call: &Call) -> R<i32> {
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
    if new < cur {
        return Err(fail("unable to shrink disk size"));
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

fn guest_log(node: &Node, id: u32, entry: serde_json::Value) -> R<()> {
    let dir = node.guest_dir(id);
    fs::create_dir_all(&dir).map_err(|e| io_fail(&dir, e))?;
    let p = dir.join("exec.log");
    let mut line = entry.to_string();
    line.push('\n');
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&p)
        .map_err(|e| io_fail(&p, e))?;
    f.write_all(line.as_bytes()).map_err(|e| io_fail(&p, e))
}

/// Path of a guest file in the simulated guest filesystem.
fn guest_file(node: &Node, id: u32, path: &str) -> R<std::path::PathBuf> {
    if path.split('/').any(|c| c == "..") {
        return Err(fail(format!("invalid path '{path}'")));
    }
    Ok(node
        .guest_dir(id)
        .join("fs")
        .join(path.trim_start_matches('/')))
}

/// GPU indices whose `/dev/nvidiaN` node a container's config passes through (`devN:` entries
/// or raw `lxc.mount.entry` lines).
fn passed_gpus(node: &Node, id: u32) -> Vec<usize> {
    let Ok(conf) = node.read_conf(Kind::Lxc, id) else {
        return Vec::new();
    };
    let text = conf.main_text();
    let mut out = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == '=') {
        if let Some(n) = word
            .strip_prefix("/dev/nvidia")
            .and_then(|r| r.parse::<usize>().ok())
        {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Built-in answers for a few read-only commands on pushed files (`cat`, `test -e/-f/-d`).
fn builtin(node: &Node, id: u32, cmd: &[String]) -> Option<(i32, String)> {
    match cmd {
        [c, p] if c == "cat" => {
            let f = guest_file(node, id, p).ok()?;
            Some(match fs::read_to_string(f) {
                Ok(t) => (0, t),
                Err(_) => (1, String::new()),
            })
        }
        [t, flag, p] if t == "test" && matches!(flag.as_str(), "-e" | "-f" | "-d") => {
            let f = guest_file(node, id, p).ok()?;
            let ok = match flag.as_str() {
                "-f" => f.is_file(),
                "-d" => f.is_dir(),
                _ => f.exists(),
            };
            Some((if ok { 0 } else { 1 }, String::new()))
        }
        _ => None,
    }
}

/// Exit code, stdout, stderr and duration of a guest command: a matching fault rule, else a
/// built-in answer, else success without output.
fn outcome(node: &Node, tool: &str, id: u32, cmd: &[String]) -> R<(i32, String, String, u64)> {
    Ok(match guest_outcome(node, tool, id, cmd)? {
        Some(r) => (r.exit_code, r.stdout, r.stderr, r.duration_ms),
        None if tool == "pct" && cmd.first().is_some_and(|c| c == "nvidia-smi") => {
            let visible = passed_gpus(node, id);
            let out = crate::host::container_nvidia_smi(&node.root, &visible, &cmd[1..]);
            (out.code, out.stdout, out.stderr, 0)
        }
        None => match builtin(node, id, cmd) {
            Some((c, o)) => (c, o, String::new(), 0),
            None => (0, String::new(), String::new(), 0),
        },
    })
}

fn pct_exec(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    existing(node, Kind::Lxc, id)?;
    node.pause(&call.tool, &call.command)?;
    if !node.is_running(id) {
        return Err(fail(format!("CT {id} not running")));
    }
    if call.extra.is_empty() {
        return Err(fail("missing command"));
    }
    let (code, out, err, duration) = outcome(node, "pct", id, &call.extra)?;
    if duration > 0 {
        std::thread::sleep(std::time::Duration::from_millis(duration));
    }
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "pct", "time_ms": now_ms(), "cmd": call.extra, "exit_code": code}),
    )?;
    print!("{out}");
    eprint!("{err}");
    Ok(code)
}

fn push(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    let (_g, _conf) = locked(node, call, Kind::Lxc, id)?;
    if !node.is_running(id) {
        return Err(fail(format!("CT {id} not running")));
    }
    let src = call.arg("file").unwrap_or("");
    let dst = call.arg("destination").unwrap_or("");
    let data = fs::read(src).map_err(|e| fail(format!("can't open file '{src}' - {e}")))?;
    let target = guest_file(node, id, dst)?;
    atomic_write(&target, &data)?;
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "pct", "time_ms": now_ms(), "push": dst, "bytes": data.len(),
            "perms": call.opt("perms"), "user": call.opt("user"), "group": call.opt("group")}),
    )?;
    Ok(0)
}

fn pull(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    existing(node, Kind::Lxc, id)?;
    if !node.is_running(id) {
        return Err(fail(format!("CT {id} not running")));
    }
    let path = call.arg("path").unwrap_or("");
    let dst = call.arg("destination").unwrap_or("");
    let data = fs::read(guest_file(node, id, path)?)
        .map_err(|_| fail(format!("failed to open {path} for reading")))?;
    fs::write(dst, data).map_err(|e| fail(format!("failed to write {dst}: {e}")))?;
    Ok(0)
}

// ---- qm guest agent ----

fn agent_ready(node: &Node, id: u32) -> R<()> {
    let conf = existing(node, Kind::Qemu, id)?;
    let st = node.run_state(id);
    if st.status != "running" {
        return Err(fail(format!("VM {id} is not running")));
    }
    let enabled = conf
        .get("agent")
        .and_then(|a| PropString::parse_with_default(a, Some("enabled")).ok())
        .and_then(|p| p.get("enabled").and_then(spec::parse_bool))
        .unwrap_or(false);
    if !enabled {
        return Err(fail("No QEMU guest agent configured"));
    }
    let up_at = st.started_ms.unwrap_or(0) + node.faults.agent_boot_delay_ms;
    if now_ms() < up_at {
        return Err(fail("QEMU guest agent is not running"));
    }
    Ok(())
}

#[derive(serde::Serialize, serde::Deserialize)]
struct AgentProc {
    finish_ms: u64,
    exitcode: i32,
    out: String,
    err: String,
}

fn exec_status_json(p: &AgentProc, now: u64) -> serde_json::Value {
    if now < p.finish_ms {
        return serde_json::json!({"exited": 0});
    }
    let mut m = serde_json::Map::new();
    m.insert("exitcode".into(), p.exitcode.into());
    m.insert("exited".into(), 1.into());
    if !p.out.is_empty() {
        m.insert("out-data".into(), p.out.clone().into());
    }
    if !p.err.is_empty() {
        m.insert("err-data".into(), p.err.clone().into());
    }
    serde_json::Value::Object(m)
}

fn guest_exec(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    node.pause(&call.tool, &call.command)?;
    agent_ready(node, id)?;
    if call.extra.is_empty() {
        return Err(fail("No command given"));
    }
    let mut stdin = String::new();
    if call.flag("pass-stdin") {
        std::io::stdin()
            .take(1 << 20)
            .read_to_string(&mut stdin)
            .map_err(|e| fail(format!("unable to read stdin: {e}")))?;
    }
    let (code, out, err, duration) = outcome(node, "qm", id, &call.extra)?;
    let now = now_ms();
    let proc_ = AgentProc {
        finish_ms: now + duration,
        exitcode: code,
        out,
        err,
    };
    // pid, persisted per VM.
    let dir = node.guest_dir(id).join("agent");
    let pid = {
        let _g = node.lock_global(&format!("agent-{id}"))?;
        let p = dir.join("next_pid");
        let pid: u64 = fs::read_to_string(&p)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(1000);
        atomic_write(&p, (pid + 1).to_string().as_bytes())?;
        pid
    };
    let text = serde_json::to_string(&proc_).map_err(|e| fail(e.to_string()))?;
    atomic_write(&dir.join(format!("{pid}.json")), text.as_bytes())?;
    guest_log(
        node,
        id,
        serde_json::json!({"tool": "qm", "time_ms": now, "cmd": call.extra, "pid": pid,
            "exit_code": code, "stdin": if call.flag("pass-stdin") { Some(stdin) } else { None }}),
    )?;
    let synchronous = call
        .opt("synchronous")
        .and_then(spec::parse_bool)
        .unwrap_or(true);
    let timeout_ms = call
        .opt("timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(30)
        * 1000;
    let waits = synchronous && (timeout_ms == 0 || duration <= timeout_ms);
    if !synchronous {
        print!("{}", output::format_json(&serde_json::json!({"pid": pid})));
        return Ok(0);
    }
    if !waits {
        std::thread::sleep(std::time::Duration::from_millis(timeout_ms));
        print!("{}", output::format_json(&serde_json::json!({"pid": pid})));
        return Ok(0);
    }
    if duration > 0 {
        std::thread::sleep(std::time::Duration::from_millis(duration));
    }
    print!(
        "{}",
        output::format_json(&exec_status_json(&proc_, proc_.finish_ms))
    );
    Ok(0)
}

fn guest_exec_status(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    agent_ready(node, id)?;
    let pid = call.arg("pid").unwrap_or("");
    let p = node.guest_dir(id).join("agent").join(format!("{pid}.json"));
    let proc_: AgentProc = fs::read_to_string(&p)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| fail("Agent error: Invalid parameter 'pid'"))?;
    print!(
        "{}",
        output::format_json(&exec_status_json(&proc_, now_ms()))
    );
    Ok(0)
}

fn guest_cmd(node: &Node, call: &Call) -> R<i32> {
    let id = vmid(call)?;
    node.pause(&call.tool, &call.command)?;
    agent_ready(node, id)?;
    let conf = existing(node, Kind::Qemu, id)?;
    let name = conf.get("name").unwrap_or("").to_string();
    let v = match call.arg("command").unwrap_or("") {
        "ping" | "fsfreeze-freeze" | "fsfreeze-thaw" | "shutdown" | "suspend-disk"
        | "suspend-hybrid" | "suspend-ram" | "fstrim" => None,
        "get-host-name" => Some(serde_json::json!({"host-name": name})),
        "get-osinfo" => {
            Some(serde_json::json!({"id": "ubuntu", "name": "Ubuntu", "version-id": "24.04"}))
        }
        "fsfreeze-status" => Some(serde_json::json!("thawed")),
        "info" => Some(serde_json::json!({"version": "pve-sim"})),
        "network-get-interfaces" => {
            let mut ifaces = vec![
                serde_json::json!({"name": "lo", "ip-addresses": [{"ip-address": "127.0.0.1", "ip-address-type": "ipv4", "prefix": 8}]}),
            ];
            for (n, v) in conf.indexed("ipconfig") {
                if let Some(ip) = PropString::parse(v)
                    .ok()
                    .and_then(|p| p.get("ip").map(str::to_string))
                {
                    if let Some((addr, prefix)) = ip.split_once('/') {
                        ifaces.push(serde_json::json!({"name": format!("eth{n}"), "ip-addresses": [{"ip-address": addr, "ip-address-type": "ipv4", "prefix": prefix.parse::<u32>().unwrap_or(24)}]}));
                    }
                }
            }
            Some(serde_json::Value::Array(ifaces))
        }
        _ => Some(serde_json::json!({})),
    };
    if let Some(v) = v {
        print!("{}", output::format_json(&v));
    }
    Ok(0)
}

fn disk_import(node: &Node, call: &Call) -> R<i32> {
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

/// `pct ...` / `qm ...`.
pub fn run(node: &Node, call: &Call) -> R<i32> {
    match call.command.as_str() {
        "create" => create(node, call),
        "set" => set(node, call),
        "start" | "stop" | "shutdown" | "reboot" => lifecycle(node, call),
        "status" => status(node, call),
        "config" => config(node, call),
        "pending" => pending(node, call),
        "list" => list(node, call),
        "listsnapshot" => listsnapshot(node, call),
        "snapshot" => snapshot(node, call),
        "delsnapshot" => delsnapshot(node, call),
        "rollback" => rollback(node, call),
        "destroy" => destroy(node, call),
        "template" => template(node, call),
        "unlock" => unlock(node, call),
        "clone" => clone(node, call),
        "resize" | "disk resize" => resize(node, call),
        "exec" if call.tool == "pct" => pct_exec(node, call),
        "push" => push(node, call),
        "pull" => pull(node, call),
        "guest exec" => guest_exec(node, call),
        "guest exec-status" => guest_exec_status(node, call),
        "guest cmd" => guest_cmd(node, call),
        "disk import" => disk_import(node, call),
        _ => {
            unreachable_cmd(call)?;
            Ok(1)
        }
    }
}
