//! The hypervisor file: its checks and its [`Hypervisor`].

use std::collections::BTreeMap;

use super::Report;
use crate::id::GuestId;
use crate::model::hypervisor::{HostFirewall, Hypervisor, ProxmoxDefaults, SharedHostVolume};
use crate::model::nfs::{NfsClient, NfsExport};
use crate::model::FwAction;
use crate::names;
use crate::raw::hypervisor::{HypervisorFile, SharedEntry};
use crate::types::{AbsPath, FeatureName, Hostname};

/// Checks the hypervisor file and builds its model.
pub(crate) fn build(r: &mut Report, mut hv: HypervisorFile) -> Hypervisor {
    check_zfs(r, &hv);
    check_orchestration(r, &hv);
    check_lxc_defaults(r, &hv);
    check_network(r, &hv);
    check_services(r, &hv);
    let (shared_volumes, legacy_firewall) = shared_volumes(r, hv.shared_volumes);
    let firewall = match (hv.firewall, legacy_firewall) {
        (Some(f), _) => Some(host_firewall(r, "firewall", f)),
        (None, Some(f)) => Some(host_firewall(r, "shared_volumes.firewall", f)),
        (None, None) => None,
    };
    let setup_sequence = hv.setup_sequence.map(|seq| {
        seq.into_iter()
            .enumerate()
            .filter_map(|(i, s)| r.value(|| format!("setup_sequence[{i}]"), FeatureName::new(s)))
            .collect()
    });
    let tests = hv
        .tests
        .take()
        .map(|t| super::tests(r, "tests", t))
        .unwrap_or_default();
    let nfs_exports = hv.nfs.map(|n| exports(r, n.exports)).unwrap_or_default();
    let domain_name = hv
        .domain_name
        .and_then(|d| r.value(|| "domain_name".into(), Hostname::new(d)));
    let ubuntu_release = hv
        .vm_defaults
        .and_then(|d| d.ubuntu_release)
        .and_then(|u| r.value(|| "vm_defaults.ubuntu_release".into(), release(u)));
    Hypervisor {
        version: hv.version,
        author: hv.author,
        users: hv.users,
        core_paths: hv.core_paths,
        timezone: hv.timezone,
        network: hv.network,
        docker: hv.docker,
        nfs_exports,
        samba: hv.samba,
        zfs: hv.zfs,
        proxmox_storage_ids: hv.proxmox_storage_ids.into_iter().collect(),
        mount_point_base: hv.mount_point_base,
        proxmox_defaults: hv.proxmox_defaults,
        tests,
        nvidia_driver: hv.nvidia_driver,
        behavior: hv.behavior,
        shared_volumes,
        firewall,
        setup_sequence,
        vfio: hv.vfio,
        sysctl: hv.sysctl.into_iter().collect(),
        orchestration: hv.orchestration,
        cluster: hv.cluster,
        domain_name,
        ubuntu_release,
        portainer_api: hv.portainer_api,
        dns_server: hv.dns_server,
        step_ca: hv.step_ca,
    }
}

/// An Ubuntu release code name (`noble`): it becomes a folder of a download URL.
pub(crate) fn release(v: String) -> Result<String, String> {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.')
    {
        Ok(v)
    } else {
        Err(format!(
            "'{}' is not an Ubuntu release name; expected a code name such as noble",
            v.escape_debug()
        ))
    }
}

/// `network`: the host's own interface (written by set-up) and the fallback name server
/// (service layer).
fn check_network(r: &mut Report, hv: &HypervisorFile) {
    let Some(n) = &hv.network else { return };
    if let Some(i) = &n.interfaces {
        for (j, a) in i.dns_nameservers.words().enumerate() {
            r.check(
                || format!("network.interfaces.dns_nameservers[{j}]"),
                names::ip_address(a),
            );
        }
        r.check(
            || "network.interfaces.name".into(),
            crate::types::InterfaceName::new(i.name.as_str()).map(|_| ()),
        );
        let static_addr = crate::types::IpConfig::new(&i.address)
            .ok()
            .and_then(|c| c.static_addr());
        if static_addr.is_none() {
            r.error(
                "network.interfaces.address",
                format!(
                    "'{}' is not an address with prefix; expected e.g. 10.0.0.13/24",
                    i.address.escape_debug()
                ),
            );
        }
        r.check(
            || "network.interfaces.gateway".into(),
            names::ip_address(&i.gateway),
        );
    }
    if let Some(f) = &n.fallback_dns {
        r.check(|| "network.fallback_dns".into(), names::ip_address(f));
    }
}

/// Service-layer blocks: checked where a value reaches a file or a command (`phoenix sync`
/// applies `portainer_api`, `dns_server`, `step_ca`; `storage_class` is not applied yet).
fn check_services(r: &mut Report, hv: &HypervisorFile) {
    if let Some(z) = &hv.zfs {
        for (i, d) in z.datasets.iter().enumerate() {
            if let Some(c) = &d.storage_class {
                r.check(
                    || format!("zfs.datasets[{i}].storage_class"),
                    names::word(c, "storage class"),
                );
            }
        }
    }
    if let Some(d) = &hv.dns_server {
        for (i, s) in d.upstream_servers.iter().enumerate() {
            r.check(
                || format!("dns_server.upstream_servers[{i}]"),
                names::ip_address(s),
            );
        }
    }
}

/// `shared_volumes`: the volumes, and the firewall block the old tool kept in there.
fn shared_volumes(
    r: &mut Report,
    entries: crate::raw::compat::Map<SharedEntry>,
) -> (
    BTreeMap<String, SharedHostVolume>,
    Option<crate::raw::hypervisor::HostFirewall>,
) {
    let mut volumes = BTreeMap::new();
    let mut firewall = None;
    for (name, entry) in entries {
        match entry {
            SharedEntry::Firewall(f) => firewall = Some(f),
            SharedEntry::Volume(v) => {
                let host_path = r
                    .value(
                        || format!("shared_volumes.{name}.host_path"),
                        AbsPath::new(v.host_path),
                    )
                    .unwrap_or_default();
                let mut mounts = BTreeMap::new();
                for (id, mp) in v.mounts {
                    let at = || format!("shared_volumes.{name}.mounts.{id}");
                    let gid = GuestId::parse(&id);
                    if gid.is_none() {
                        r.error(at(), format!("'{id}' is not a container ID"));
                    }
                    let mp = r.value(at, AbsPath::new(mp));
                    if let (Some(gid), Some(mp)) = (gid, mp) {
                        mounts.insert(gid, mp);
                    }
                }
                volumes.insert(name, SharedHostVolume { host_path, mounts });
            }
        }
    }
    (volumes, firewall)
}

fn host_firewall(
    r: &mut Report,
    at: &str,
    f: crate::raw::hypervisor::HostFirewall,
) -> HostFirewall {
    let mut policy = |k: &str, p: Option<String>| {
        p.and_then(|p| r.value(|| format!("{at}.{k}"), FwAction::parse(&p)))
    };
    let policy_in = policy("default_input_policy", f.default_input_policy);
    let policy_out = policy("default_output_policy", f.default_output_policy);
    let rules_at = format!("{at}.global_firewall_rules");
    HostFirewall {
        enabled: f.enabled,
        policy_in,
        policy_out,
        rules: super::rules(r, &rules_at, f.global_firewall_rules),
    }
}

fn exports(r: &mut Report, list: Vec<crate::raw::hypervisor::NfsExport>) -> Vec<NfsExport> {
    let mut out: Vec<NfsExport> = Vec::with_capacity(list.len());
    for (i, e) in list.into_iter().enumerate() {
        let at = format!("nfs.exports[{i}]");
        let Some(path) = r.value(|| format!("{at}.path"), AbsPath::new(e.path)) else {
            continue;
        };
        // One form for every comparison: no trailing slashes.
        let path = AbsPath::new(path.trimmed()).unwrap_or(path);
        if let Some(prev) = out.iter().position(|x| x.path == path) {
            r.error(
                format!("{at}.path"),
                format!("{path} is exported twice (also nfs.exports[{prev}])"),
            );
        }
        for (j, c) in e.clients.iter().enumerate() {
            r.check(
                || format!("{at}.clients[{j}]"),
                export_word(c, "NFS client"),
            );
        }
        for (j, o) in e.options.iter().enumerate() {
            r.check(
                || format!("{at}.options[{j}]"),
                export_word(o, "NFS option"),
            );
        }
        out.push(NfsExport {
            path,
            clients: e.clients.iter().map(|c| NfsClient::parse(c)).collect(),
            options: e.options,
        });
    }
    out
}

/// A value that becomes one word of an `/etc/exports` line.
fn export_word(v: &str, what: &str) -> Result<(), String> {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '#')
    {
        Err(format!(
            "{what} '{}' must be one word without spaces or '#'",
            v.escape_debug()
        ))
    } else {
        Ok(())
    }
}

fn check_zfs(r: &mut Report, hv: &HypervisorFile) {
    let Some(z) = &hv.zfs else { return };
    for (i, p) in z.pools.iter().enumerate() {
        r.check(|| format!("zfs.pools[{i}].name"), names::zfs_name(&p.name));
        for (j, d) in p.disks.iter().enumerate() {
            r.check(|| format!("zfs.pools[{i}].disks[{j}]"), names::abs_path(d));
        }
    }
    for (i, d) in z.datasets.iter().enumerate() {
        r.check(
            || format!("zfs.datasets[{i}].name"),
            names::zfs_name(&d.name),
        );
    }
}

fn check_orchestration(r: &mut Report, hv: &HypervisorFile) {
    let o = &hv.orchestration;
    r.range(
        || "orchestration.jobs".into(),
        "jobs",
        o.jobs.map(|j| j as u64),
        1,
        256,
    );
    r.range(
        || "orchestration.storage_concurrency".into(),
        "storage_concurrency",
        o.storage_concurrency.map(|j| j as u64),
        1,
        256,
    );
}

/// `proxmox_defaults.lxc` is merged into containers, so its values meet the containers' rules.
fn check_lxc_defaults(r: &mut Report, hv: &HypervisorFile) {
    let Some(d) = hv.proxmox_defaults.as_ref().and_then(|d| d.lxc.as_ref()) else {
        return;
    };
    let at = "proxmox_defaults.lxc";
    r.range(|| format!("{at}.cores"), "cores", d.cores, 1, 8192);
    r.range(
        || format!("{at}.memory_mb"),
        "memory_mb",
        d.memory_mb,
        16,
        64 * 1024 * 1024,
    );
    for f in default_pct_features(hv.proxmox_defaults.as_ref()) {
        r.check(|| format!("{at}.features"), names::pct_feature(&f));
    }
}

/// `proxmox_defaults.lxc.features` split into `pct --features` entries.
pub(crate) fn default_pct_features(d: Option<&ProxmoxDefaults>) -> Vec<String> {
    d.and_then(|d| d.lxc.as_ref())
        .and_then(|l| l.features.as_deref())
        .map(|f| {
            f.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}
