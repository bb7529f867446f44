//! The VM file: each VM checked and built with `vm_defaults` and Phoenix's defaults applied.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Report;
use crate::id::{GuestId, MAX_ID, MIN_ID};
use crate::model::hypervisor::Hypervisor;
use crate::model::nfs::NfsClient;
use crate::model::vm::{
    NfsVolume, SharedVolume, Vm, VmNetwork, VmPortainer, VmPortainerRole, VmUser,
    DEFAULT_AGENT_POLL_SECS, DEFAULT_AGENT_TIMEOUT_SECS, DEFAULT_BRIDGE, DEFAULT_CORES,
    DEFAULT_MEMORY_MB, DEFAULT_NFS_VOLUME_OPTIONS, DEFAULT_SCSIHW, DEFAULT_UBUNTU_RELEASE,
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
    let network = v
        .network_config
        .as_ref()
        .map(|n| network(r, at, n, v, hv.domain_name.as_ref()));
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
    let ubuntu_release = match s.ubuntu_release.clone() {
        Some(u) => r
            .value(
                || format!("{at}.ubuntu_release"),
                super::hypervisor::release(u),
            )
            .unwrap_or_default(),
        None => hv
            .ubuntu_release
            .clone()
            .unwrap_or_else(|| DEFAULT_UBUNTU_RELEASE.to_string()),
    };
    let nfs_volumes = nfs_volumes(r, at, v, hv);
    let portainer = portainer(r, at, v);
    service_keys(r, at, v);
    let tests = v
        .tests
        .clone()
        .map(|t| super::tests(r, &format!("{at}.tests"), t))
        .unwrap_or_default();
    Vm {
        id: v.vmid,
        name,
        node: v.node.clone(),
        clone_from_vmid: v.clone_from_vmid,
        is_template: v.is_template.unwrap_or(false),
        template_snapshot_name,
        template: s.template,
        template_image,
        image_url: s.image_url,
        cores: s.cores.unwrap_or(DEFAULT_CORES),
        memory_mb: s.memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
        // A template keeps the cloud image's size unless it sets its own: `vm_defaults`
        // sizes the VMs cloned from it, which Proxmox can grow but never shrink (the old tool
        // made every template 32G whatever the defaults said).
        disk_size_gb: if v.is_template == Some(true) {
            v.own_settings().disk_size_gb
        } else {
            s.disk_size_gb
        },
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
        nfs_volumes,
        portainer,
        traefik_service: v.traefik_service.clone(),
        trigger_sync_on_completion: v.trigger_sync_on_completion == Some(true),
        docker_stacks: v.docker_stacks.clone(),
        dns_records: v.dns_records.clone().unwrap_or_default(),
        ubuntu_release,
    }
}

fn network(
    r: &mut Report,
    at: &str,
    n: &raw::VmNetwork,
    v: &raw::Vm,
    domain: Option<&Hostname>,
) -> VmNetwork {
    let ip = r
        .value(|| format!("{at}.network_config.ip"), IpConfig::new(&n.ip))
        .unwrap_or_default();
    let gw = match (&n.gw, v.user_config.as_ref().and_then(|u| u.gw.as_ref())) {
        (Some(g), _) => r.value(|| format!("{at}.network_config.gw"), names::ip(g)),
        (None, Some(g)) => r.value(|| format!("{at}.user_config.gw"), names::ip(g)),
        (None, None) => None,
    };
    // `nameservers` (a list), then the old tool's `nameserver`, without repeats.
    let mut nameservers: Vec<std::net::IpAddr> = Vec::new();
    for (key, list) in [
        ("nameservers", &n.nameservers),
        ("nameserver", &n.nameserver),
    ] {
        for (j, entry) in list.iter().flat_map(|l| l.0.iter()).enumerate() {
            for a in entry.split_whitespace() {
                let ip = r.value(|| format!("{at}.network_config.{key}[{j}]"), names::ip(a));
                if let Some(ip) = ip.filter(|ip| !nameservers.contains(ip)) {
                    nameservers.push(ip);
                }
            }
        }
    }
    // The old tool's search domain: the VM's, else the host's `domain_name`.
    let searchdomain = match &n.searchdomain {
        Some(sd) => r.value(
            || format!("{at}.network_config.searchdomain"),
            Hostname::new(sd.as_str()),
        ),
        None => domain.cloned(),
    };
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

/// `volumes` of type `nfs`: each a folder of one of the host's exports, which must allow the
/// VM's address.
fn nfs_volumes(r: &mut Report, at: &str, v: &raw::Vm, hv: &Hypervisor) -> Vec<NfsVolume> {
    if v.volumes.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(v.volumes.len());
    for (j, vol) in v.volumes.iter().enumerate() {
        let p = format!("{at}.volumes[{j}]");
        if vol.kind != "nfs" {
            r.error(
                format!("{p}.type"),
                format!(
                    "volume type '{}' is not supported; expected nfs",
                    vol.kind.escape_debug()
                ),
            );
            continue;
        }
        let path = r.value(|| format!("{p}.path"), AbsPath::new(vol.path.as_str()));
        let mount_point = r.value(
            || format!("{p}.mount_point"),
            AbsPath::new(vol.mount_point.as_str()),
        );
        let server = match vol.server.as_deref().or(hv.nfs_server()) {
            Some(s) => r.value(|| format!("{p}.server"), nfs_server(s)),
            None => {
                r.error(
                    format!("{p}.server"),
                    "no NFS server: set `server`, or `network.nfs_server` in the hypervisor config",
                );
                None
            }
        };
        if let Some(o) = &vol.options {
            r.check(
                || format!("{p}.options"),
                names::word_list(o, "mount option"),
            );
        }
        let Some(path) = path else { continue };
        let Some(export) = hv.export_for(&path) else {
            r.error(
                format!("{p}.path"),
                format!("{path} is not inside any of the hypervisor config's nfs.exports paths"),
            );
            continue;
        };
        check_allowed(r, &p, v, export);
        if let (Some(server), Some(mount_point)) = (server, mount_point) {
            out.push(NfsVolume {
                name: vol.name.clone(),
                server,
                path,
                export: export.clone(),
                mount_point,
                options: vol
                    .options
                    .clone()
                    .unwrap_or_else(|| DEFAULT_NFS_VOLUME_OPTIONS.to_string()),
            });
        }
    }
    out
}

/// An NFS server: an address or a host name.
fn nfs_server(s: &str) -> Result<String, String> {
    if names::ip_address(s).is_ok() || names::hostname(s).is_ok() {
        Ok(s.to_string())
    } else {
        Err(format!(
            "'{}' is not an NFS server; expected an address or a host name",
            s.escape_debug()
        ))
    }
}

/// The export must let the VM mount: its static address must be a client; a VM without one
/// needs an export open to a network, a name or everyone.
fn check_allowed(r: &mut Report, p: &str, v: &raw::Vm, export: &crate::model::NfsExport) {
    let ip = v
        .network_config
        .as_ref()
        .and_then(|n| IpConfig::new(&n.ip).ok())
        .and_then(|c| c.static_addr());
    let clients = || {
        export
            .clients
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match ip {
        Some(ip) if !export.allows(ip) => r.error(
            format!("{p}.path"),
            format!(
                "export {} does not allow VM {} at {ip} (clients: {}); add the address to its clients",
                export.path,
                v.vmid,
                clients()
            ),
        ),
        None if export
            .clients
            .iter()
            .all(|c| matches!(c, NfsClient::Addr(_))) =>
        {
            r.error(
                format!("{p}.path"),
                format!(
                    "VM {} has no static address and export {} allows only {}; give the VM a static address or the export a network",
                    v.vmid,
                    export.path,
                    clients()
                ),
            )
        }
        _ => {}
    }
}

/// `portainer_role`, `portainer_environment_name`, `portainer_agent_hostname` (service layer).
fn portainer(r: &mut Report, at: &str, v: &raw::Vm) -> Option<VmPortainer> {
    let agent_hostname = v.portainer_agent_hostname.as_ref().and_then(|h| {
        r.value(
            || format!("{at}.portainer_agent_hostname"),
            Hostname::new(h.as_str()),
        )
    });
    let role = v.portainer_role.as_ref()?;
    let role = r.value(
        || format!("{at}.portainer_role"),
        VmPortainerRole::parse(role),
    )?;
    Some(VmPortainer {
        role,
        environment_name: v.portainer_environment_name.clone(),
        agent_hostname,
    })
}

/// `traefik_service`, `docker_stacks`, `dns_records` (service layer, applied by `phoenix
/// sync`): checked where a value reaches a file.
fn service_keys(r: &mut Report, at: &str, v: &raw::Vm) {
    if let Some(t) = &v.traefik_service {
        r.check(
            || format!("{at}.traefik_service.name"),
            names::hostname(&t.name),
        );
    }
    if !v.docker_stacks.is_empty() {
        for (j, s) in v.docker_stacks.iter().enumerate() {
            r.check(
                || format!("{at}.docker_stacks[{j}]"),
                names::word(s, "stack name"),
            );
        }
    }
    if let Some(records) = v.dns_records.as_ref().filter(|d| !d.is_empty()) {
        for (j, d) in records.iter().enumerate() {
            r.check(
                || format!("{at}.dns_records[{j}].hostname"),
                names::hostname(&d.hostname),
            );
            r.check(
                || format!("{at}.dns_records[{j}].ip"),
                names::ip_address(&d.ip),
            );
        }
    }
}
