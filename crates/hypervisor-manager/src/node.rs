//! `setup --node NAME`: the set-up of one node of `cluster.nodes`.
//!
//! Checked before anything runs (one line, exit 1): the config has a `cluster` block and NAME
//! is one of its nodes. Then this process works as that node: the scripts read the node's
//! config (`cluster.nodes[].setup` merged over the hypervisor file, written to a private
//! temporary file handed as `PHOENIX_CONFIG`; the file itself when the node has no `setup`)
//! and see `PHOENIX_NODE=NAME`; node-local work goes to the node (over SSH: its `ssh_host`;
//! on the simulator: its host folder and `PVE_SIM_NODE`), so the marker is the node's too;
//! host events carry the node, so the dispatcher's recap has one row per node.

use phoenix_guest::node::NodeWork;
use phoenix_host::manager::Context;
use phoenix_report::Reporter;

/// Exit code of a `--node` that names no node of the config: a usage error (1, as every
/// usage error; docs/architecture.md).
pub const USAGE: i32 = phoenix_host::exit::FAILURE;

/// Keeps the node's config file for the run.
pub struct NodeConfig {
    _dir: Option<tempfile::TempDir>,
}

/// Points `ctx` at node `--node` (nothing without `--node`); `Err` is the exit code, its
/// message printed.
pub fn enter(ctx: &mut Context, r: &Reporter) -> Result<NodeConfig, i32> {
    let Some(name) = ctx.inv.node.clone() else {
        return Ok(NodeConfig { _dir: None });
    };
    let hv = ctx.config.paths.hypervisor.display().to_string();
    let Some(cluster) = ctx.config.hypervisor.cluster.as_ref() else {
        eprintln!("Error: --node {name}: {hv} has no `cluster` block; without one there is one host, set up without --node");
        return Err(USAGE);
    };
    if cluster.node(&name).is_none() {
        eprintln!(
            "Error: --node {name}: node '{name}' is not in cluster.nodes ({}) of {hv}",
            cluster.names()
        );
        return Err(USAGE);
    }
    r.set_node(&name);
    let mut dir = None;
    if let Some(doc) = ctx.config.node_setup_json(&name) {
        let d = tempfile::Builder::new()
            .prefix(&format!("phoenix-setup-{name}."))
            .tempdir()
            .map_err(|e| fail(r, &name, &format!("cannot make a temporary folder: {e}")))?;
        let file = d.path().join("phoenix_hypervisor_config.json");
        let text = serde_json::to_string_pretty(doc).unwrap_or_default();
        phoenix_host::fs::write_private_or_not(&file, format!("{text}\n").as_bytes(), true)
            .map_err(|e| fail(r, &name, &format!("cannot write {}: {e}", file.display())))?;
        ctx.config = ctx.config.for_node(&name, &file);
        ctx.env.config = file;
        dir = Some(d);
    }
    if let Some(sim) = ctx.env.sim.clone() {
        ctx.env.host_root = phoenix_host::sim::node_host_root(&sim, &name);
        std::env::set_var("PVE_SIM_NODE", &name);
    }
    std::env::set_var("PHOENIX_NODE", &name);
    ctx.env.export(Some(&ctx.config));
    Ok(NodeConfig { _dir: dir })
}

fn fail(r: &Reporter, node: &str, msg: &str) -> i32 {
    crate::fail(r, format!("node {node}: {msg}"));
    phoenix_host::exit::FAILURE
}

/// The run's node-local work, on the `--node` node when one is given.
pub fn work<'a>(ctx: &'a Context) -> Result<Box<dyn NodeWork + 'a>, String> {
    let w = phoenix_guest::connect::node_work(&ctx.runner, &ctx.env, &ctx.config)?;
    if let Some(n) = &ctx.inv.node {
        w.select(n);
    }
    Ok(w)
}
