//! Checks across and within the three files, run before anything touches the host. Every
//! problem is collected; nothing stops at the first one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::error::Diagnostic;
use crate::graph::Graph;
use crate::id::{GuestId, MAX_ID, MIN_ID};
use crate::model::hypervisor::{HypervisorFile, SharedEntry};
use crate::model::lxc::{Lxc, Volume};
use crate::model::{Firewall, HealthCheck, TestSuites, VmFile};
use crate::names;
use crate::{ConfigPaths, Guest, GuestKind};

/// Collects diagnostics for one file.
struct Report<'a> {
    file: &'a Path,
    out: &'a mut Vec<Diagnostic>,
}

impl Report<'_> {
    fn error(&mut self, at: impl Into<String>, msg: impl Into<String>) {
        self.out.push(Diagnostic::error(self.file, at, msg));
    }
    fn warn(&mut self, at: impl Into<String>, msg: impl Into<String>) {
        self.out.push(Diagnostic::warning(self.file, at, msg));
    }
    /// `at` is only formatted when there is something to report: building a JSON path for
    /// every checked field was most of validation's time on large configs.
    fn check(&mut self, at: impl FnOnce() -> String, result: Result<(), String>) {
        if let Err(msg) = result {
            self.error(at(), msg);
        }
    }
    fn range(
        &mut self,
        at: impl FnOnce() -> String,
        what: &str,
        v: Option<u64>,
        min: u64,
        max: u64,
    ) {
        if let Some(v) = v {
            if !(min..=max).contains(&v) {
                self.error(
                    at(),
                    format!("{what} {v} is out of range; expected {min}-{max}"),
                );
            }
        }
    }
}

/// What validation builds besides its findings.
pub(crate) struct Validated {
    pub guests: BTreeMap<GuestId, Guest>,
    pub graph: Graph,
    /// Every guest in dependency order (empty when there is a cycle).
    pub order: Vec<GuestId>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Builds the guest index, the graph and its order, and returns every problem found.
pub(crate) fn validate(
    paths: &ConfigPaths,
    hv: &HypervisorFile,
    lxc: &crate::model::LxcFile,
    vm: &VmFile,
) -> Validated {
    let mut out = Vec::new();
    let mut guests = BTreeMap::new();
    index_lxc(&paths.lxc, lxc, &mut guests, &mut out);
    index_vms(paths.vm_path(), vm, &mut guests, &mut out);
    check_references(paths, &guests, &mut out);
    let graph = build_graph(&guests);
    let order = check_cycles(paths, &guests, &graph, &mut out);
    for (key, c) in &lxc.lxc_configs {
        let mut r = Report {
            file: &paths.lxc,
            out: &mut out,
        };
        check_lxc(&mut r, &format!("lxc_configs.{key}"), c);
    }
    check_vms(paths.vm_path(), vm, hv, &mut out);
    check_hypervisor(&paths.hypervisor, hv, &mut out);
    mark_templates(&mut guests);
    Validated {
        guests,
        graph,
        order,
        diagnostics: out,
    }
}

fn index_lxc(
    file: &Path,
    lxc: &crate::model::LxcFile,
    guests: &mut BTreeMap<GuestId, Guest>,
    out: &mut Vec<Diagnostic>,
) {
    let mut r = Report { file, out };
    for (key, c) in &lxc.lxc_configs {
        let at = || format!("lxc_configs.{key}");
        let Some(id) = GuestId::parse(key) else {
            r.error(at(), format!("container key '{key}' is not a container ID; expected digits ({MIN_ID}-{MAX_ID})"));
            continue;
        };
        if !id.in_range() {
            r.error(
                at(),
                format!("container ID {id} is out of range; expected {MIN_ID}-{MAX_ID}"),
            );
            continue;
        }
        if let Some(prev) = guests.get(&id) {
            r.error(
                at(),
                format!(
                    "container ID {id} is written twice (also as '{}')",
                    prev.key
                ),
            );
            continue;
        }
        guests.insert(
            id,
            Guest {
                id,
                kind: GuestKind::Lxc,
                key: key.clone(),
                name: c.name.clone(),
                clone_from: c.clone_from_ctid,
                dependencies: c.dependencies.clone(),
                boot_order: c.boot_order,
                boot_delay: c.boot_delay,
                start_at_boot: c.start_at_boot.unwrap_or(false),
                is_template: c.is_template.unwrap_or(false),
                explicit_template: c.is_template,
                has_template_snapshot: c.template_snapshot_name.is_some(),
            },
        );
    }
}

fn index_vms(
    file: &Path,
    vm: &VmFile,
    guests: &mut BTreeMap<GuestId, Guest>,
    out: &mut Vec<Diagnostic>,
) {
    let mut r = Report { file, out };
    for (i, v) in vm.vms.iter().enumerate() {
        let at = || format!("vms[{i}].vmid");
        let id = v.vmid;
        if !id.in_range() {
            r.error(
                at(),
                format!("VM ID {id} is out of range; expected {MIN_ID}-{MAX_ID}"),
            );
            continue;
        }
        if let Some(prev) = guests.get(&id) {
            let msg = match prev.kind {
                GuestKind::Lxc => format!("ID {id} is defined both as a container (in the LXC file) and as a VM; guest IDs must be unique on a host"),
                GuestKind::Vm => format!("VM ID {id} is defined twice in `vms`"),
            };
            r.error(at(), msg);
            continue;
        }
        guests.insert(
            id,
            Guest {
                id,
                kind: GuestKind::Vm,
                key: format!("vms[{i}]"),
                name: v.name.clone(),
                clone_from: v.clone_from_vmid,
                dependencies: v.dependencies.clone(),
                boot_order: v.boot_order,
                boot_delay: v.boot_delay,
                start_at_boot: v
                    .start_at_boot
                    .or(vm.vm_defaults.start_at_boot)
                    .unwrap_or(false),
                is_template: v.is_template.unwrap_or(false),
                explicit_template: Some(v.is_template.unwrap_or(false)),
                has_template_snapshot: v.template_snapshot_name.is_some(),
            },
        );
    }
}

fn guest_path(g: &Guest, field: &str) -> String {
    match g.kind {
        GuestKind::Lxc => format!("lxc_configs.{}.{field}", g.key),
        GuestKind::Vm => format!("{}.{field}", g.key),
    }
}

fn check_references(
    paths: &ConfigPaths,
    guests: &BTreeMap<GuestId, Guest>,
    out: &mut Vec<Diagnostic>,
) {
    for g in guests.values() {
        let file = match g.kind {
            GuestKind::Lxc => paths.lxc.as_path(),
            GuestKind::Vm => paths.vm_path(),
        };
        let mut r = Report { file, out };
        let field = match g.kind {
            GuestKind::Lxc => "clone_from_ctid",
            GuestKind::Vm => "clone_from_vmid",
        };
        if let Some(src) = g.clone_from {
            match guests.get(&src) {
                None => r.error(guest_path(g, field), format!("{} {} is cloned from {src}, which is not defined in any config file", g.kind, g.id)),
                Some(s) if s.kind != g.kind => r.error(
                    guest_path(g, field),
                    format!("{} {} is cloned from {src}, which is a {}; a {} can only be cloned from a {}", g.kind, g.id, s.kind, g.kind, g.kind),
                ),
                Some(s) if g.kind == GuestKind::Lxc && !s.has_template_snapshot => r.error(
                    guest_path(g, field),
                    format!("container {} is cloned from {src}, which has no `template_snapshot_name`; clones are made from that snapshot", g.id),
                ),
                Some(_) if src == g.id => r.error(guest_path(g, field), format!("{} {} is cloned from itself", g.kind, g.id)),
                Some(_) => {}
            }
        }
        for (i, d) in g.dependencies.iter().enumerate() {
            let at = || guest_path(g, &format!("dependencies[{i}]"));
            if *d == g.id {
                r.error(at(), format!("{} {} depends on itself", g.kind, g.id));
            } else if !guests.contains_key(d) {
                r.error(
                    at(),
                    format!(
                        "{} {} depends on {d}, which is not defined in any config file",
                        g.kind, g.id
                    ),
                );
            }
        }
    }
}

fn build_graph(guests: &BTreeMap<GuestId, Guest>) -> Graph {
    let mut graph = Graph::new();
    for g in guests.values() {
        graph.add_node(g.id);
        for n in g.needs() {
            if guests.contains_key(&n) && n != g.id {
                graph.add_edge(g.id, n);
            }
        }
    }
    graph
}

fn check_cycles(
    paths: &ConfigPaths,
    guests: &BTreeMap<GuestId, Guest>,
    graph: &Graph,
    out: &mut Vec<Diagnostic>,
) -> Vec<GuestId> {
    // The order is needed anyway; only when it cannot be built are the cycles looked for.
    let cycles = match graph.toposort() {
        Ok(order) => return order,
        Err(cycles) => cycles,
    };
    for cycle in cycles {
        let first = cycle.0[0];
        let (file, at) = match guests.get(&first) {
            Some(g) if g.kind == GuestKind::Vm => (paths.vm_path(), g.key.clone()),
            Some(g) => (paths.lxc.as_path(), format!("lxc_configs.{}", g.key)),
            None => (paths.lxc.as_path(), String::new()),
        };
        out.push(Diagnostic::error(
            file,
            at,
            format!("dependency cycle: {cycle}"),
        ));
    }
    Vec::new()
}

/// An LXC is a template when it says so, or when other containers clone from it and it does not
/// start at boot (the upstream `Template-*` containers).
fn mark_templates(guests: &mut BTreeMap<GuestId, Guest>) {
    let sources: BTreeSet<GuestId> = guests.values().filter_map(|g| g.clone_from).collect();
    for g in guests.values_mut() {
        if g.explicit_template.is_none() {
            g.is_template = sources.contains(&g.id) && !g.start_at_boot;
        }
    }
}

fn check_lxc(r: &mut Report, at: &str, c: &Lxc) {
    r.check(|| format!("{at}.name"), names::hostname(&c.name));
    r.range(
        || format!("{at}.memory_mb"),
        "memory_mb",
        c.memory_mb,
        16,
        64 * 1024 * 1024,
    );
    r.range(
        || format!("{at}.swap_mb"),
        "swap_mb",
        c.swap_mb,
        0,
        64 * 1024 * 1024,
    );
    r.range(|| format!("{at}.cores"), "cores", c.cores, 1, 8192);
    r.range(
        || format!("{at}.storage_size_gb"),
        "storage_size_gb",
        c.storage_size_gb,
        1,
        1024 * 1024,
    );
    if c.clone_from_ctid.is_none() {
        if c.template.is_none() {
            r.error(at.to_string(), "container has neither `template` nor `clone_from_ctid`; one is needed to create it");
        }
        if c.storage_pool.is_none() {
            r.error(
                at.to_string(),
                "container is created from a template but has no `storage_pool`",
            );
        }
    }
    if let Some(t) = &c.template {
        r.check(|| format!("{at}.template"), names::template_ref(t));
    }
    if let Some(s) = &c.storage_pool {
        r.check(|| format!("{at}.storage_pool"), names::storage_id(s));
    }
    if let Some(n) = &c.network_config {
        r.check(
            || format!("{at}.network_config.name"),
            names::interface(&n.name),
        );
        r.check(
            || format!("{at}.network_config.bridge"),
            names::interface(&n.bridge),
        );
        r.check(
            || format!("{at}.network_config.ip"),
            names::ip_config(&n.ip),
        );
        if let Some(gw) = &n.gw {
            r.check(|| format!("{at}.network_config.gw"), names::ip_address(gw));
        }
    }
    if let Some(m) = &c.mac_address {
        r.check(|| format!("{at}.mac_address"), names::mac(m));
    }
    if let Some(ns) = &c.nameserver {
        for a in ns.split_whitespace() {
            r.check(|| format!("{at}.nameserver"), names::ip_address(a));
        }
    }
    if let Some(g) = &c.gpu_assignment {
        r.check(
            || format!("{at}.gpu_assignment"),
            names::gpu_assignment(g).map(|_| ()),
        );
    }
    if let Some(role) = &c.portainer_role {
        if !["none", "server", "agent", "infrastructure"].contains(&role.as_str()) {
            r.error(format!("{at}.portainer_role"), format!("'{role}' is not a Portainer role; expected none, server, agent or infrastructure"));
        }
    }
    check_features(r, at, &c.features);
    for (i, o) in c.pct_options.iter().enumerate() {
        r.check(|| format!("{at}.pct_options[{i}]"), names::pct_feature(o));
    }
    for (i, o) in c.lxc_options.iter().enumerate() {
        r.check(|| format!("{at}.lxc_options[{i}]"), names::lxc_option(o));
    }
    if let Some(s) = &c.template_snapshot_name {
        r.check(
            || format!("{at}.template_snapshot_name"),
            names::snapshot(s),
        );
    }
    if let Some(p) = &c.apparmor_profile {
        r.check(
            || format!("{at}.apparmor_profile"),
            names::file_name(p, "AppArmor profile"),
        );
    }
    if let Some(s) = &c.application_script {
        r.check(
            || format!("{at}.application_script"),
            names::file_name(s, "application script"),
        );
    }
    if let Some(h) = &c.health_check {
        check_health(r, &format!("{at}.health_check"), h);
    }
    if let Some(f) = &c.firewall {
        check_firewall(r, &format!("{at}.firewall"), f);
    }
    check_volumes(r, at, "zfs_volumes", &c.zfs_volumes);
    check_volumes(r, at, "volumes", &c.volumes);
    let mut mounts = BTreeSet::new();
    for v in c.zfs_volumes.iter().chain(&c.volumes) {
        if !mounts.insert(v.mount_point.as_str()) {
            r.error(
                at.to_string(),
                format!(
                    "two volumes mount at {}; mount paths identify volumes and must be unique",
                    v.mount_point
                ),
            );
        }
    }
    for (i, m) in c.mount_points.iter().enumerate() {
        r.check(
            || format!("{at}.mount_points[{i}].host_path"),
            names::abs_path(&m.host_path),
        );
        r.check(
            || format!("{at}.mount_points[{i}].mount_point"),
            names::abs_path(&m.mount_point),
        );
        if !mounts.insert(m.mount_point.as_str()) {
            r.error(
                format!("{at}.mount_points[{i}]"),
                format!("two mounts at {}", m.mount_point),
            );
        }
    }
    if let Some(t) = &c.tests {
        check_tests(r, &format!("{at}.tests"), t);
    }
}

fn check_features(r: &mut Report, at: &str, features: &[String]) {
    for (i, f) in features.iter().enumerate() {
        r.check(|| format!("{at}.features[{i}]"), names::feature(f));
    }
}

fn check_volumes(r: &mut Report, at: &str, key: &str, vols: &[Volume]) {
    for (i, v) in vols.iter().enumerate() {
        let p = format!("{at}.{key}[{i}]");
        r.check(|| format!("{p}.pool"), names::storage_id(&v.pool));
        r.check(
            || format!("{p}.mount_point"),
            names::abs_path(&v.mount_point),
        );
        r.range(
            || format!("{p}.size_gb"),
            "size_gb",
            Some(v.size_gb),
            1,
            1024 * 1024,
        );
    }
}

fn check_health(r: &mut Report, at: &str, h: &HealthCheck) {
    if h.command.trim().is_empty() {
        r.error(format!("{at}.command"), "health check command is empty");
    }
    r.range(
        || format!("{at}.retries"),
        "retries",
        h.retries.map(u64::from),
        1,
        1000,
    );
    r.range(|| format!("{at}.interval"), "interval", h.interval, 0, 3600);
}

fn check_firewall(r: &mut Report, at: &str, f: &Firewall) {
    for (k, p) in [("policy_in", &f.policy_in), ("policy_out", &f.policy_out)] {
        if let Some(p) = p {
            r.check(|| format!("{at}.{k}"), names::fw_action(p));
        }
    }
    for (i, rule) in f.rules.iter().enumerate() {
        let p = format!("{at}.rules[{i}]");
        if !["in", "out"].contains(&rule.direction.as_str()) {
            r.error(
                format!("{p}.type"),
                format!(
                    "'{}' is not a rule direction; expected in or out",
                    rule.direction
                ),
            );
        }
        r.check(|| format!("{p}.action"), names::fw_action(&rule.action));
        for (k, v) in [("source", &rule.source), ("dest", &rule.dest)] {
            if let Some(v) = v {
                r.check(|| format!("{p}.{k}"), names::fw_address(v));
            }
        }
        if let Some(v) = &rule.proto {
            r.check(|| format!("{p}.proto"), names::word(v, "protocol"));
        }
        for (k, v) in [("port", &rule.port), ("sport", &rule.sport)] {
            if let Some(v) = v {
                r.check(|| format!("{p}.{k}"), names::fw_ports(v));
            }
        }
        if let Some(v) = &rule.iface {
            r.check(|| format!("{p}.iface"), names::interface(v));
        }
        if let Some(v) = &rule.comment {
            r.check(|| format!("{p}.comment"), names::single_line(v, "comment"));
        }
    }
}

fn check_tests(r: &mut Report, at: &str, suites: &TestSuites) {
    for (suite, tests) in suites {
        r.check(|| format!("{at}.{suite}"), names::suite(suite));
        for (i, t) in tests.iter().enumerate() {
            if t.kind != "script" {
                r.error(
                    format!("{at}.{suite}[{i}].type"),
                    format!("test type '{}' is not supported; expected script", t.kind),
                );
            }
            r.check(
                || format!("{at}.{suite}[{i}].path"),
                names::rel_path(&t.path),
            );
            r.check(
                || format!("{at}.{suite}[{i}].name"),
                names::single_line(&t.name, "test name"),
            );
        }
    }
}

fn check_vms(file: &Path, vm: &VmFile, hv: &HypervisorFile, out: &mut Vec<Diagnostic>) {
    let mut r = Report { file, out };
    let exports: BTreeSet<&str> = hv
        .nfs
        .iter()
        .flat_map(|n| n.exports.iter().map(|e| e.path.as_str()))
        .collect();
    for (i, v) in vm.vms.iter().enumerate() {
        let at = format!("vms[{i}]");
        let s = v.own_settings().or(&vm.vm_defaults);
        r.check(|| format!("{at}.name"), names::hostname(&v.name));
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
            r.error(at.clone(), format!("VM {} has neither `template_image` (here or in vm_defaults) nor `clone_from_vmid`", v.vmid));
        }
        if let Some(img) = &s.template_image {
            r.check(
                || format!("{at}.template_image"),
                names::file_name(img, "image"),
            );
        }
        if let Some(sp) = &s.storage_pool {
            r.check(|| format!("{at}.storage_pool"), names::storage_id(sp));
        } else {
            r.error(
                format!("{at}.storage_pool"),
                "no storage_pool here or in vm_defaults",
            );
        }
        if let Some(b) = &s.network_bridge {
            r.check(|| format!("{at}.network_bridge"), names::interface(b));
        }
        if let Some(sn) = &v.template_snapshot_name {
            r.check(
                || format!("{at}.template_snapshot_name"),
                names::snapshot(sn),
            );
        }
        check_features(&mut r, &at, &v.features);
        if let Some(n) = &v.network_config {
            r.check(
                || format!("{at}.network_config.ip"),
                names::ip_config(&n.ip),
            );
            if let Some(gw) = &n.gw {
                r.check(|| format!("{at}.network_config.gw"), names::ip_address(gw));
            }
            for (j, ns) in n.nameservers.iter().enumerate() {
                r.check(
                    || format!("{at}.network_config.nameservers[{j}]"),
                    names::ip_address(ns),
                );
            }
            if let Some(sd) = &n.searchdomain {
                r.check(
                    || format!("{at}.network_config.searchdomain"),
                    names::hostname(sd),
                );
            }
        }
        if let Some(u) = &v.user_config {
            r.check(
                || format!("{at}.user_config.username"),
                names::unix_user(&u.username),
            );
            for (j, k) in u.ssh_key_files.iter().enumerate() {
                r.check(
                    || format!("{at}.user_config.ssh_key_files[{j}]"),
                    names::abs_path(k),
                );
            }
        }
        for (j, sv) in v.shared_volumes.iter().enumerate() {
            let p = format!("{at}.shared_volumes[{j}]");
            r.check(
                || format!("{p}.mount_point"),
                names::abs_path(&sv.mount_point),
            );
            if !exports.contains(sv.host_path.as_str()) {
                r.error(
                    format!("{p}.host_path"),
                    format!(
                        "{} is not one of the hypervisor config's nfs.exports paths",
                        sv.host_path
                    ),
                );
            }
        }
        for (j, h) in v.health_checks.iter().enumerate() {
            check_health(&mut r, &format!("{at}.health_checks[{j}]"), h);
        }
        if let Some(f) = &v.firewall {
            check_firewall(&mut r, &format!("{at}.firewall"), f);
        }
        if let Some(t) = &v.tests {
            check_tests(&mut r, &format!("{at}.tests"), t);
        }
    }
}

fn check_hypervisor(file: &Path, hv: &HypervisorFile, out: &mut Vec<Diagnostic>) {
    let mut r = Report { file, out };
    for (name, entry) in &hv.shared_volumes {
        match entry {
            SharedEntry::Firewall(_) => r.warn(
                format!("shared_volumes.{name}"),
                "a firewall block inside `shared_volumes` is read as the host firewall; move it to the top-level `firewall` key",
            ),
            SharedEntry::Volume(v) => {
                r.check(|| format!("shared_volumes.{name}.host_path"), names::abs_path(&v.host_path));
                for (id, mp) in &v.mounts {
                    if GuestId::parse(id).is_none() {
                        r.error(format!("shared_volumes.{name}.mounts.{id}"), format!("'{id}' is not a container ID"));
                    }
                    r.check(|| format!("shared_volumes.{name}.mounts.{id}"), names::abs_path(mp));
                }
            }
        }
    }
    if let Some(seq) = &hv.setup_sequence {
        for (i, s) in seq.iter().enumerate() {
            r.check(|| format!("setup_sequence[{i}]"), names::feature(s));
        }
    }
    if let Some(t) = &hv.tests {
        check_tests(&mut r, "tests", t);
    }
    if let Some(z) = &hv.zfs {
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
