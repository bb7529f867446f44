//! Checks of the `cluster` block and of where each guest goes in it: node names, a guest's
//! node, its storage and GPUs on that node, and clones whose source is on another node.
//! Without a `cluster` block a guest naming a `node` is the only error (one host has one node).

use std::collections::BTreeSet;

use crate::error::Diagnostic;
use crate::id::GuestId;
use crate::model::{Cluster, Lxc, Vm};
use crate::{names, ConfigPaths, Guest, GuestKind};

use super::cross::{file, guest_path};
use super::Report;

/// Checks the block and resolves every guest's node (`Guest::node`).
pub(crate) fn check(
    paths: &ConfigPaths,
    cluster: Option<&Cluster>,
    guests: &mut [Guest],
    lxcs: &[Lxc],
    vms: &[Vm],
    out: &mut Vec<Diagnostic>,
) {
    let Some(c) = cluster else {
        for g in guests.iter().filter(|g| g.node.is_some()) {
            Report {
                file: file(paths, g),
                out,
            }
            .error(
                guest_path(g, "node"),
                format!(
                    "`node` needs a `cluster` block listing the nodes in {}",
                    paths.hypervisor.display()
                ),
            );
        }
        return;
    };
    block(
        &mut Report {
            file: &paths.hypervisor,
            out,
        },
        c,
    );
    let Some(default) = c.default_node() else {
        return;
    };
    for g in guests.iter_mut() {
        let mut r = Report {
            file: file(paths, g),
            out,
        };
        match g.node.as_deref() {
            Some(n) if c.node(n).is_none() => r.error(
                guest_path(g, "node"),
                format!("node '{n}' is not in cluster.nodes ({})", c.names()),
            ),
            Some(_) => {}
            None => g.node = Some(default.to_string()),
        }
    }
    let guests: &[Guest] = guests;
    for g in guests {
        let Some(node) = g.node.as_deref().filter(|n| c.node(n).is_some()) else {
            continue;
        };
        let mut r = Report {
            file: file(paths, g),
            out,
        };
        if let Some((field, storage)) = own_storage(g, lxcs, vms) {
            if c.storage_on(&storage, node) == Some(false) {
                r.error(
                    guest_path(g, field),
                    format!("storage '{storage}' is not on node '{node}' (cluster.storages.{storage}.nodes)"),
                );
            }
        }
        if g.kind == GuestKind::Lxc {
            let gpus = lxcs.get(g.index).map(|l| l.gpus.as_slice()).unwrap_or(&[]);
            let have = c.node(node).and_then(|n| n.gpus.as_ref());
            for gpu in gpus {
                if have.is_some_and(|h| !h.contains(gpu)) {
                    r.error(
                        guest_path(g, "gpu_assignment"),
                        format!("GPU {gpu} is not a GPU of node '{node}' (cluster.nodes[].gpus)"),
                    );
                }
            }
        }
        clone_across(&mut r, c, g, guests, lxcs, vms, node);
    }
}

fn block(r: &mut Report, c: &Cluster) {
    if c.nodes.is_empty() {
        r.error("cluster.nodes", "a cluster needs at least one node");
    }
    let mut seen = BTreeSet::new();
    for (i, n) in c.nodes.iter().enumerate() {
        r.check(
            || format!("cluster.nodes[{i}].name"),
            names::hostname(&n.name).and_then(|()| {
                if n.name.contains('.') {
                    Err(format!(
                        "node name '{}' must be one DNS label (no dots)",
                        n.name
                    ))
                } else {
                    Ok(())
                }
            }),
        );
        if !seen.insert(n.name.as_str()) {
            r.error(
                format!("cluster.nodes[{i}].name"),
                format!("node '{}' is listed twice", n.name),
            );
        }
        if n.max_jobs == Some(0) {
            r.error(format!("cluster.nodes[{i}].max_jobs"), "must be at least 1");
        }
        if n.endpoint.is_some() {
            let w = crate::not_applied::NODE_ENDPOINT
                .warning(r.file, &format!("cluster.nodes[{i}].endpoint"));
            r.out.push(w);
        }
    }
    if let Some(d) = &c.default_node {
        if c.node(d).is_none() {
            r.error(
                "cluster.default_node",
                format!("node '{d}' is not in cluster.nodes ({})", c.names()),
            );
        }
    }
    for (id, s) in &c.storages {
        r.check(|| format!("cluster.storages.{id}"), names::storage_id(id));
        for (i, n) in s.nodes.iter().flatten().enumerate() {
            if c.node(n).is_none() {
                r.error(
                    format!("cluster.storages.{id}.nodes[{i}]"),
                    format!("node '{n}' is not in cluster.nodes ({})", c.names()),
                );
            }
        }
    }
}

/// The storage a guest's own disks go to, with the field that names it.
fn own_storage(g: &Guest, lxcs: &[Lxc], vms: &[Vm]) -> Option<(&'static str, String)> {
    match g.kind {
        GuestKind::Lxc => lxcs
            .get(g.index)?
            .storage_pool
            .as_ref()
            .map(|s| ("storage_pool", s.as_str().to_string())),
        GuestKind::Vm => vms
            .get(g.index)
            .map(|v| ("storage_pool", v.storage_pool.as_str().to_string()))
            .filter(|(_, s)| !s.is_empty()),
    }
}

/// The storage a clone's disks are on: its own, else its source's (up the chain).
fn effective_storage(id: GuestId, guests: &[Guest], lxcs: &[Lxc], vms: &[Vm]) -> Option<String> {
    let mut cur = super::cross::find(guests, id)?;
    for _ in 0..guests.len() {
        if let Some((_, s)) = own_storage(cur, lxcs, vms) {
            return Some(s);
        }
        cur = super::cross::find(guests, cur.clone_from?)?;
    }
    None
}

/// A clone whose source is on another node is made on the source's node (where Proxmox
/// clones), then migrated: its disks' storage must be on both nodes.
fn clone_across(
    r: &mut Report,
    c: &Cluster,
    g: &Guest,
    guests: &[Guest],
    lxcs: &[Lxc],
    vms: &[Vm],
    node: &str,
) {
    let Some(src) = g.clone_from.and_then(|s| super::cross::find(guests, s)) else {
        return;
    };
    let Some(src_node) = src.node.as_deref().filter(|n| *n != node) else {
        return;
    };
    let Some(storage) = effective_storage(g.id, guests, lxcs, vms) else {
        return;
    };
    let shared = c.storages.get(&storage).is_some_and(|s| s.shared);
    let on_both = c.storage_on(&storage, src_node) != Some(false)
        && c.storage_on(&storage, node) != Some(false);
    if !shared && !on_both {
        let field = match g.kind {
            GuestKind::Lxc => "clone_from_ctid",
            GuestKind::Vm => "clone_from_vmid",
        };
        r.error(
            guest_path(g, field),
            format!(
                "{} {} on node '{node}' is cloned from {} on node '{src_node}': it is cloned there, then migrated, so storage '{storage}' must be on both nodes or shared (cluster.storages.{storage})",
                g.kind, g.id, src.id
            ),
        );
    }
}
