//! The VM file: each VM checked and built with `vm_defaults` and Phoenix's defaults applied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Report;
use crate::id::{GuestId, MAX_ID, MIN_ID};
use crate::model::hypervisor::Hypervisor;
use crate::model::vm::{
    SharedVolume, Vm, VmNetwork, VmUser, DEFAULT_AGENT_POLL_SECS, DEFAULT_AGENT_TIMEOUT_SECS,
    DEFAULT_BRIDGE, DEFAULT_CORES, DEFAULT_MEMORY_MB, DEFAULT_SCSIHW,
};
use crate::names;
use crate::raw::vm::{self as raw, VmFile};
use crate::types::{
    AbsPath, FileName, Hostname, InterfaceName, IpConfig, SnapshotName, StorageId, UnixUser,
};

/// The checked VMs with a valid, unique ID, in file order, and the position of each in `vms`.
pub(crate) struct Built {
    pub vms: Vec<Vm>,
    pub index: Vec<usize>,
}

/// Checks every VM of `file`; `lxc_ids` are the containers' IDs (a VM may not reuse one).
pub(crate) fn build(
    r: &mut Report,
    file: &VmFile,
    hv: &Hypervisor,
    lxc_ids: &BTreeMap<GuestId, usize>,
) -> Built {
    let mut out = Built {
        vms: Vec::with_capacity(file.vms.len()),
        index: Vec::with_capacity(file.vms.len()),
    };
    let mut seen: BTreeMap<GuestId, usize> = BTreeMap::new();
    for (i, v) in file.vms.iter().enumerate() {
        let id_ok = check_id(r, i, v.vmid, lxc_ids, &seen);
        let vm = build_one(r, &format!("vms[{i}]"), v, &file.vm_defaults, hv);
        if id_ok {
            seen.insert(v.vmid, i);
            out.vms.push(vm);
            out.index.push(i);
        }
    }
    out
}

fn check_id(
    r: &mut Report,
    i: usize,
    id: GuestId,
    lxc_ids: &BTreeMap<GuestId, usize>,
    seen: &BTreeMap<GuestId, usize>,
) -> bool {
    let at = || format!("vms[{i}].vmid");
    if !id.in_range() {
        r.error(
            at(),
            format!("VM ID {id} is out of range; expected {MIN_ID}-{MAX_ID}"),
        );
        return false;
    }
    if lxc_ids.contains_key(&id) {
        r.error(at(), format!("ID {id} is defined both as a container (in the LXC file) and as a VM; guest IDs must be unique on a host"));
        return false;
    }
    if seen.contains_key(&id) {
        r.error(at(), format!("VM ID {id} is defined twice in `vms`"));
        return false;
    }
    true
}

fn build_one(
    r: &mut Report,
    at: &str,
    v: &raw::Vm,
    defaults: &raw::VmSettings,
    hv: &Hypervisor,
) -> Vm {
    let s = v.own_settings().or(defaults);
    let name = r
        .value(|| format!("{at}.name"), Hostname::new(v.name.as_str()))
        .unwrap_or_default();
    r.range(|| format!("{at}.cores"), "cores", s.cores, 1, 8192);
    r.range(
        || format!("{at}.memory_mb"),
        "memory_mb",
        s.memory_mb,
        16,
        64 * 1024 * 1024,
    );
    r.range(
        || format!("{at}.disk_size_gb"),
        "disk_size_gb",
        s.disk_size_gb,
        1,
        1024 * 1024,
    );
    if v.clone_from_vmid.is_none() && s.template_image.is_none() {
        r.error(
            at.to_string(),
            format!(
                "VM {} has neither `template_image` (here or in vm_defaults) nor `clone_from_vmid`",
                v.vmid
            ),
        );
    }
    let template_image = s.template_image.clone().and_then(|img| {
        r.value(
            || format!("{at}.template_image"),
            FileName::new(img, "image"),
        )
    });
    let storage_pool = match s.storage_pool.clone() {
        Some(sp) => r.value(|| format!("{at}.storage_pool"), StorageId::new(sp)),
        None => {
            r.error(
                format!("{at}.storage_pool"),
                "no storage_pool here or in vm_defaults",
            );
            None
        }
    };
    let network_bridge = match s.network_bridge.clone() {
        Some(b) => r.value(|| format!("{at}.network_bridge"), InterfaceName::new(b)),
        None => InterfaceName::new(DEFAULT_BRIDGE).ok(),
    };
    let snippets_storage = s
        .snippets_storage
        .clone()
        .and_then(|sp| r.value(|| format!("{at}.snippets_storage"), StorageId::new(sp)));
    let template_snapshot_name = v.template_snapshot_name.clone().map(|sn| {
        r.value(
            || format!("{at}.template_snapshot_name"),
            SnapshotName::new(sn),
        )
        .unwrap_or_default()
    });
    let features = super::features(r, at, v.features.clone());
    let network = v.network_config.as_ref().map(|n| network(r, at, n, v));
    let user = v.user_config.as_ref().map(|u| user(r, at, u));
    let shared_volumes = shared_volumes(r, at, v, hv);
    let health_checks = v
        .health_checks
        .iter()
        .enumerate()
        .map(|(j, h)| super::health(r, &format!("{at}.health_checks[{j}]"), h.clone()))
        .collect();
    let firewall = v
        .firewall
        .clone()
        .map(|f| super::firewall(r, &format!("{at}.firewall"), f));
    let tests = v
        .tests
        .clone()
        .map(|t| super::tests(r, &format!("{at}.tests"), t))
        .unwrap_or_default();
    Vm {
        id: v.vmid,
        name,
        clone_from_vmid: v.clone_from_vmid,
        is_template: v.is_template.unwrap_or(false),
        template_snapshot_name,
        template: s.template,
        template_image,
        image_url: s.image_url,
        cores: s.cores.unwrap_or(DEFAULT_CORES),
        memory_mb: s.memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
        disk_size_gb: s.disk_size_gb,
        storage_pool: storage_pool.unwrap_or_default(),
        network_bridge: network_bridge.unwrap_or_default(),
        scsihw: s.scsihw.unwrap_or_else(|| DEFAULT_SCSIHW.to_string()),
        snippets_storage,
        guest_agent_timeout_secs: s
            .guest_agent_timeout_secs
            .unwrap_or(DEFAULT_AGENT_TIMEOUT_SECS),
        guest_agent_poll_secs: s
            .guest_agent_poll_secs
            .unwrap_or(DEFAULT_AGENT_POLL_SECS)
            .max(1),
        linked_clone: s.linked_clone.unwrap_or(false),
        start_at_boot: s.start_at_boot,
        boot_order: v.boot_order,
        boot_delay: v.boot_delay,
        dependencies: v.dependencies.clone(),
        features,
        network,
        user,
        shared_volumes,
        health_checks,
        firewall,
        tests,
    }
}

fn network(r: &mut Report, at: &str, n: &raw::VmNetwork, v: &raw::Vm) -> VmNetwork {
    let ip = r
        .value(|| format!("{at}.network_config.ip"), IpConfig::new(&n.ip))
        .unwrap_or_default();
    let gw = match (&n.gw, v.user_config.as_ref().and_then(|u| u.gw.as_ref())) {
        (Some(g), _) => r.value(|| format!("{at}.network_config.gw"), names::ip(g)),
        (None, Some(g)) => r.value(|| format!("{at}.user_config.gw"), names::ip(g)),
        (None, None) => None,
    };
    let nameservers = n
        .nameservers
        .iter()
        .enumerate()
        .filter_map(|(j, ns)| {
            r.value(
                || format!("{at}.network_config.nameservers[{j}]"),
                names::ip(ns),
            )
        })
        .collect();
    let searchdomain = n.searchdomain.as_ref().and_then(|sd| {
        r.value(
            || format!("{at}.network_config.searchdomain"),
            Hostname::new(sd.as_str()),
        )
    });
    VmNetwork {
        ip,
        gateway: gw,
        nameservers,
        searchdomain,
    }
}

fn user(r: &mut Report, at: &str, u: &raw::VmUser) -> VmUser {
    let username = r
        .value(
            || format!("{at}.user_config.username"),
            UnixUser::new(u.username.as_str()),
        )
        .unwrap_or_default();
    let mut keys: Vec<String> = Vec::new();
    for k in u.ssh_public_key.iter().chain(&u.ssh_public_keys) {
        let k = k.trim();
        if !k.is_empty() && !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    }
    let ssh_key_files = u
        .ssh_key_files
        .iter()
        .enumerate()
        .filter_map(|(j, f)| {
            r.value(
                || format!("{at}.user_config.ssh_key_files[{j}]"),
                AbsPath::new(f.as_str()),
            )
        })
        .map(|p| PathBuf::from(p.as_str()))
        .collect();
    VmUser {
        username,
        password_hash: u.password_hash.clone(),
        ssh_public_keys: keys,
        ssh_key_files,
    }
}

/// `shared_volumes`: each `host_path` must be one of the hypervisor config's exports.
fn shared_volumes(r: &mut Report, at: &str, v: &raw::Vm, hv: &Hypervisor) -> Vec<SharedVolume> {
    let mut out = Vec::with_capacity(v.shared_volumes.len());
    for (j, sv) in v.shared_volumes.iter().enumerate() {
        let p = format!("{at}.shared_volumes[{j}]");
        let mount_point = r.value(
            || format!("{p}.mount_point"),
            AbsPath::new(sv.mount_point.as_str()),
        );
        let host_path = AbsPath::new(sv.host_path.as_str()).ok();
        let export = host_path.as_ref().and_then(|hp| {
            hv.nfs_exports
                .iter()
                .find(|e| e.path.trimmed() == hp.trimmed())
        });
        let Some(export) = export else {
            r.error(
                format!("{p}.host_path"),
                format!(
                    "{} is not one of the hypervisor config's nfs.exports paths",
                    sv.host_path
                ),
            );
            continue;
        };
        if let (Some(host_path), Some(mount_point)) = (host_path, mount_point) {
            out.push(SharedVolume {
                host_path,
                export: export.clone(),
                mount_point,
                options: sv.options.clone(),
            });
        }
    }
    out
}
