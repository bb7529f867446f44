//! Checks across guests and files: references (clone sources, dependencies), cycles, templates,
//! and what must be unique on one network (static addresses, MAC addresses, host names).

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use crate::error::Diagnostic;
use crate::graph::Graph;
use crate::id::GuestId;
use crate::model::{Lxc, Vm};
use crate::{ConfigPaths, Guest, GuestKind};

/// The guest index, the graph and its order, built from the checked guests.
pub(crate) struct Index {
    /// Every guest, by ascending ID.
    pub guests: Vec<Guest>,
    pub graph: Graph,
    /// Every guest in dependency order (empty when there is a cycle).
    pub order: Vec<GuestId>,
}

/// The checked containers with what `cross` needs besides them.
pub(crate) struct Containers<'a> {
    pub lxcs: &'a mut [Lxc],
    /// The key each container was written as, per entry of `lxcs`.
    pub keys: Vec<String>,
    /// `is_template` as written, per entry of `lxcs`.
    pub explicit_templates: &'a [Option<bool>],
}

/// Indexes the guests and runs every cross-guest check.
pub(crate) fn check(
    paths: &ConfigPaths,
    c: Containers,
    vms: &[Vm],
    vm_index: &[usize],
    out: &mut Vec<Diagnostic>,
) -> Index {
    let lxcs = c.lxcs;
    // IDs are unique across both files by now (the file checks dropped repeats). Sorting
    // small (ID, position) pairs, then building the guests in that order, moves far less than
    // sorting the guests.
    let mut order: Vec<(GuestId, usize)> = lxcs
        .iter()
        .map(|l| l.id)
        .chain(vms.iter().map(|v| v.id))
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    order.sort_unstable();
    let mut keys: Vec<Option<String>> = c.keys.into_iter().map(Some).collect();
    let mut guests = Vec::with_capacity(order.len());
    for (_, i) in order {
        guests.push(if i < lxcs.len() {
            lxc_guest(
                &lxcs[i],
                i,
                keys[i].take().unwrap_or_default(),
                c.explicit_templates,
            )
        } else {
            vm_guest(&vms[i - lxcs.len()], i - lxcs.len(), vm_index)
        });
    }
    check_references(paths, &guests, out);
    let graph = Graph::from_sorted(guests.iter().map(|g| {
        let needs = g.needs().filter(|n| *n != g.id).collect();
        (g.id, needs)
    }));
    let order = check_cycles(paths, &guests, &graph, out);
    check_unique(paths, &guests, lxcs, vms, out);
    mark_templates(&mut guests, lxcs);
    Index {
        guests,
        graph,
        order,
    }
}

fn lxc_guest(l: &Lxc, i: usize, key: String, explicit: &[Option<bool>]) -> Guest {
    Guest {
        id: l.id,
        kind: GuestKind::Lxc,
        key,
        name: l.name.as_str().to_owned(),
        node: l.node.clone(),
        clone_from: l.clone_from_ctid,
        dependencies: l.dependencies.clone(),
        boot_order: l.boot_order,
        boot_delay: l.boot_delay,
        start_at_boot: l.start_at_boot.unwrap_or(false),
        is_template: l.is_template,
        explicit_template: explicit.get(i).copied().flatten(),
        has_template_snapshot: l.template_snapshot_name.is_some(),
        index: i,
    }
}

fn vm_guest(v: &Vm, i: usize, vm_index: &[usize]) -> Guest {
    Guest {
        id: v.id,
        kind: GuestKind::Vm,
        key: format!("vms[{}]", vm_index[i]),
        name: v.name.as_str().to_owned(),
        node: v.node.clone(),
        clone_from: v.clone_from_vmid,
        dependencies: v.dependencies.clone(),
        boot_order: v.boot_order,
        boot_delay: v.boot_delay,
        start_at_boot: v.start_at_boot.unwrap_or(false),
        is_template: v.is_template,
        explicit_template: Some(v.is_template),
        has_template_snapshot: v.template_snapshot_name.is_some(),
        index: i,
    }
}

/// The guest `id` of `guests` (sorted by ID).
pub(crate) fn find(guests: &[Guest], id: GuestId) -> Option<&Guest> {
    guests
        .binary_search_by_key(&id, |g| g.id)
        .ok()
        .map(|i| &guests[i])
}

pub(crate) fn file<'a>(paths: &'a ConfigPaths, g: &Guest) -> &'a Path {
    match g.kind {
        GuestKind::Lxc => paths.lxc.as_path(),
        GuestKind::Vm => paths.vm_path(),
    }
}

pub(crate) fn guest_path(g: &Guest, field: &str) -> String {
    match g.kind {
        GuestKind::Lxc => format!("lxc_configs.{}.{field}", g.key),
        GuestKind::Vm => format!("{}.{field}", g.key),
    }
}

fn check_references(paths: &ConfigPaths, guests: &[Guest], out: &mut Vec<Diagnostic>) {
    for g in guests {
        let mut r = super::Report {
            file: file(paths, g),
            out,
        };
        let field = match g.kind {
            GuestKind::Lxc => "clone_from_ctid",
            GuestKind::Vm => "clone_from_vmid",
        };
        if let Some(src) = g.clone_from {
            match find(guests, src) {
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
            } else if find(guests, *d).is_none() {
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

fn check_cycles(
    paths: &ConfigPaths,
    guests: &[Guest],
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
        let (file, at) = match find(guests, first) {
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

/// Static addresses, MAC addresses and host names are each one guest's, across both files. The
/// guest with the smaller ID keeps the value; each other one is reported, naming both.
fn check_unique(
    paths: &ConfigPaths,
    guests: &[Guest],
    lxcs: &[Lxc],
    vms: &[Vm],
    out: &mut Vec<Diagnostic>,
) {
    // Guests are visited by ascending ID, so the first to claim a value keeps it.
    let mut ips: HashMap<IpAddr, usize> = HashMap::new();
    let mut macs: HashMap<&str, usize> = HashMap::new();
    let mut names: HashMap<Cow<str>, usize> = HashMap::with_capacity(guests.len());
    let mut report = |field: &str, what: String, g: &Guest, other: &Guest, why: &str| {
        out.push(Diagnostic::error(
            file(paths, g),
            guest_path(g, field),
            format!(
                "{} {} and {} {} have the same {what} (also at {}: {}); {why}",
                g.kind,
                g.id,
                other.kind,
                other.id,
                file(paths, other).display(),
                guest_path(other, field),
            ),
        ));
    };
    for (i, g) in guests.iter().enumerate() {
        let (ip, mac, name) = match g.kind {
            GuestKind::Lxc => {
                let c = &lxcs[g.index];
                (c.static_ip(), c.mac_address.as_deref(), c.name.as_str())
            }
            GuestKind::Vm => {
                let v = &vms[g.index];
                (v.static_ip(), None, v.name.as_str())
            }
        };
        if let Some(ip) = ip {
            if let Some(&k) = ips.get(&ip) {
                report(
                    "network_config.ip",
                    format!("static address {ip}"),
                    g,
                    &guests[k],
                    "static addresses must be unique",
                );
            } else {
                ips.insert(ip, i);
            }
        }
        if let Some(mac) = mac {
            if let Some(&k) = macs.get(mac) {
                report(
                    "mac_address",
                    format!("MAC address {mac}"),
                    g,
                    &guests[k],
                    "each guest needs its own MAC address",
                );
            } else {
                macs.insert(mac, i);
            }
        }
        if !name.is_empty() {
            // Compared without case: only a name with upper case is folded.
            let folded = if name.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(name.to_ascii_lowercase())
            } else {
                Cow::Borrowed(name)
            };
            if let Some(&k) = names.get(&folded) {
                report(
                    "name",
                    format!("host name '{name}'"),
                    g,
                    &guests[k],
                    "host names must be unique (compared without case)",
                );
            } else {
                names.insert(folded, i);
            }
        }
    }
}

/// A container is a template when it says so, or when others clone from it and it does not
/// start at boot (the upstream `Template-*` containers).
fn mark_templates(guests: &mut [Guest], lxcs: &mut [Lxc]) {
    let mut sources: Vec<GuestId> = guests.iter().filter_map(|g| g.clone_from).collect();
    sources.sort_unstable();
    for g in guests.iter_mut() {
        if g.explicit_template.is_none() {
            g.is_template = sources.binary_search(&g.id).is_ok() && !g.start_at_boot;
            if g.kind == GuestKind::Lxc {
                lxcs[g.index].is_template = g.is_template;
            }
        }
    }
}
