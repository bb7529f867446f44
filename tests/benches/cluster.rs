//! `LetsGo` of a generated cluster on the simulator: `BENCH_GUESTS` (300) containers over three
//! nodes, with the simulator charging latencies per call, against the bounds the graph and
//! Phoenix's limits give. Prints figures for docs/cluster.md; asserts nothing about time.
//!
//! ```text
//! cargo build --release --workspace && cargo bench -p phoenix-tests --bench cluster
//! ```
//!
//! Each node has three containers made from the OS template; every other container is a
//! full clone, of the previous container of its node one time in two (chains), else of one of
//! its node's first eight (fan-out); one clone in ten is placed on another node than its
//! source (cloned on the source's node, then migrated). One in five also depends on an earlier
//! container. Latencies (times `BENCH_SCALE`, default 0.1): `pct create`/`pct clone` 2 s,
//! `pct migrate` 2 s, `pct start` 1 s, the one feature script's `pct exec` 3 s. Limits:
//! `--jobs 16` (`BENCH_JOBS`), `cluster.nodes[].max_jobs` 6 (`BENCH_NODE_JOBS`: creates,
//! clones and migrations at once per node), one clone per source at a time, storage slots 8
//! per node-local storage.
//!
//! Bounds: the critical path (longest chain of per-guest durations through clone sources and
//! dependencies); the work over the jobs; per node, its long calls over its `max_jobs`; per
//! clone source, its clones one after another. No schedule beats the largest of them. And the
//! critical path under the limits: the graph played through Phoenix's order and limits with no
//! overhead at all (`schedule_under_limits`), the yardstick of issue 16's 1.2x.

mod common;

use common::Lcg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use phoenix_tests::{bin, clean_env};
use serde_json::{json, Value};

const NODES: [&str; 3] = ["pve1", "pve2", "pve3"];

#[derive(Clone)]
struct Guest {
    id: u64,
    node: usize,
    clone_from: Option<u64>,
    /// The clone is made on its source's node, then migrated here.
    migrated: bool,
    deps: Vec<u64>,
}

fn graph(n: usize) -> Vec<Guest> {
    let mut rng = Lcg(0xc1_u64 << 8 | 0x5);
    let mut out: Vec<Guest> = Vec::new();
    let mut of_node: [Vec<usize>; 3] = Default::default();
    for i in 0..n {
        let id = 2000 + i as u64;
        let node = i % 3;
        let mine = &of_node[node];
        let (clone_from, migrated, node) = if mine.len() < 3 {
            (None, false, node)
        } else {
            let src = if rng.below(2) == 0 {
                mine[mine.len() - 1]
            } else {
                mine[rng.below(mine.len().min(8))]
            };
            let moved = rng.below(10) == 0;
            let to = if moved {
                (node + 1 + rng.below(2)) % 3
            } else {
                node
            };
            (Some(out[src].id), moved, to)
        };
        let mut deps = Vec::new();
        if i > 9 && rng.below(5) == 0 {
            let d = out[rng.below(i)].id;
            if Some(d) != clone_from {
                deps.push(d);
            }
        }
        of_node[node].push(i);
        out.push(Guest {
            id,
            node,
            clone_from,
            migrated,
            deps,
        });
    }
    out
}

struct Latency {
    make: f64,
    migrate: f64,
    start: f64,
    feature: f64,
}

impl Latency {
    fn of(&self, g: &Guest) -> f64 {
        self.make + if g.migrated { self.migrate } else { 0.0 } + self.start + self.feature
    }
}

fn write_config(dir: &Path, guests: &[Guest], node_jobs: usize) -> PathBuf {
    let mut cts = serde_json::Map::new();
    for g in guests {
        let mut c = common::container(g.id, g.clone_from, &g.deps);
        c["node"] = json!(NODES[g.node]);
        cts.insert(g.id.to_string(), c);
    }
    let nodes: Vec<Value> = NODES
        .iter()
        .map(|n| json!({"name": n, "max_jobs": node_jobs}))
        .collect();
    let hv = json!({
        "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" },
        "zfs": { "pools": [], "datasets": [ { "name": "lxc-disks", "pool": "quickOS",
            "proxmox_storage_type": "zfspool", "proxmox_content_type": "rootdir" } ] },
        "orchestration": { "storage_concurrency": 8 },
        "cluster": { "nodes": nodes }
    });
    common::write_files(dir, cts, &hv)
}

fn critical_path(guests: &[Guest], lat: &Latency) -> f64 {
    common::critical_path(
        guests,
        |g| g.id,
        |g| g.clone_from.iter().chain(&g.deps).copied().collect(),
        |g| lat.of(g),
    )
}

/// One stretch of a guest's work in the schedule model: how long, the node whose slot it
/// holds (`max_jobs`), the clone source it holds (one clone per source at a time).
struct Stretch {
    secs: f64,
    node: Option<usize>,
    source: Option<u64>,
}

fn stretches(g: &Guest, index: &BTreeMap<u64, &Guest>, lat: &Latency) -> Vec<Stretch> {
    let at = g.clone_from.map_or(g.node, |s| index[&s].node);
    let mut out = vec![Stretch {
        secs: lat.make,
        node: Some(at),
        source: g.clone_from,
    }];
    if g.migrated {
        out.push(Stretch {
            secs: lat.migrate,
            node: Some(at),
            source: None,
        });
    }
    for secs in [lat.start, lat.feature] {
        out.push(Stretch {
            secs,
            node: None,
            source: None,
        });
    }
    out
}

/// The critical path under the limits: Phoenix's schedule with no overhead at all. A guest
/// takes one of `jobs` once its clone source and dependencies are done, ready guests longest
/// remaining chain first (as `phoenix::run::priority_order`); inside it, its stretches in
/// order, each waiting for its node's slot (`node_jobs`) and its source. Time-stepped at 5 ms.
/// Not a bound (a cleverer order could beat it), but what these limits allow this scheduler.
fn schedule_under_limits(guests: &[Guest], lat: &Latency, jobs: usize, node_jobs: usize) -> f64 {
    let index: BTreeMap<u64, &Guest> = guests.iter().map(|g| (g.id, g)).collect();
    let pos: BTreeMap<u64, usize> = guests.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
    let needs =
        |g: &Guest| -> Vec<usize> { g.clone_from.iter().chain(&g.deps).map(|n| pos[n]).collect() };
    // Longest chain from each guest on (needs point to earlier guests).
    let mut level: Vec<f64> = guests.iter().map(|g| lat.of(g)).collect();
    for i in (0..guests.len()).rev() {
        for n in needs(&guests[i]) {
            level[n] = level[n].max(lat.of(&guests[n]) + level[i]);
        }
    }
    let mut order: Vec<usize> = (0..guests.len()).collect();
    order.sort_by(|a, b| level[*b].total_cmp(&level[*a]).then(a.cmp(b)));
    let work: Vec<Vec<Stretch>> = guests.iter().map(|g| stretches(g, &index, lat)).collect();
    // Per guest: None = waiting; Some((stretch, left, holding)); done when stretch == len.
    let mut state: Vec<Option<(usize, f64, bool)>> = vec![None; guests.len()];
    let mut done = vec![false; guests.len()];
    let (mut busy_jobs, mut node_busy) = (0usize, [0usize; 3]);
    let mut source_busy = std::collections::BTreeSet::new();
    let (dt, mut t) = (0.005, 0.0);
    while done.iter().any(|d| !d) {
        for &i in &order {
            if state[i].is_none() && busy_jobs < jobs && needs(&guests[i]).iter().all(|&n| done[n])
            {
                state[i] = Some((0, work[i][0].secs, false));
                busy_jobs += 1;
            }
            if let Some((k, _, holding)) = state[i].as_mut().filter(|s| !done[i] && !s.2) {
                let st = &work[i][*k];
                let node_free = st.node.is_none_or(|n| node_busy[n] < node_jobs);
                let source_free = st.source.is_none_or(|s| !source_busy.contains(&s));
                if node_free && source_free {
                    if let Some(n) = st.node {
                        node_busy[n] += 1;
                    }
                    if let Some(s) = st.source {
                        source_busy.insert(s);
                    }
                    *holding = true;
                }
            }
        }
        t += dt;
        for i in 0..guests.len() {
            let Some((k, left, holding)) = state[i].as_mut().filter(|s| s.2 && !done[i]) else {
                continue;
            };
            *left -= dt;
            if *left > 1e-9 {
                continue;
            }
            let st = &work[i][*k];
            if let Some(n) = st.node {
                node_busy[n] -= 1;
            }
            if let Some(s) = st.source {
                source_busy.remove(&s);
            }
            *k += 1;
            *holding = false;
            match work[i].get(*k) {
                Some(next) => *left = next.secs,
                None => {
                    done[i] = true;
                    busy_jobs -= 1;
                }
            }
        }
    }
    t
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn requests(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("node/api-requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("cluster: run with `cargo bench -p phoenix-tests --bench cluster`");
        return;
    }
    let n = env_num("BENCH_GUESTS", 300.0) as usize;
    let scale = env_num("BENCH_SCALE", 0.1);
    let jobs = env_num("BENCH_JOBS", 16.0) as usize;
    let node_jobs = env_num("BENCH_NODE_JOBS", 6.0) as usize;
    let lat = Latency {
        make: 2.0 * scale,
        migrate: 2.0 * scale,
        start: scale,
        feature: 3.0 * scale,
    };
    let guests = graph(n);
    let index: BTreeMap<u64, &Guest> = guests.iter().map(|g| (g.id, g)).collect();
    let cp = critical_path(&guests, &lat);
    let work: f64 = guests.iter().map(|g| lat.of(g)).sum();
    // Long calls per node: a create on its node, a clone on its source's node, a migration
    // from there too (the request goes to the node the guest is on).
    let mut per_node = [0.0f64; 3];
    let mut per_source: BTreeMap<u64, f64> = BTreeMap::new();
    for g in &guests {
        let at = g.clone_from.map_or(g.node, |s| index[&s].node);
        per_node[at] += lat.make + if g.migrated { lat.migrate } else { 0.0 };
        if let Some(s) = g.clone_from {
            *per_source.entry(s).or_default() += lat.make;
        }
    }
    let node_bound = per_node
        .iter()
        .map(|w| w / node_jobs as f64)
        .fold(0.0, f64::max);
    let source_bound = per_source.values().copied().fold(0.0, f64::max);
    let lower = cp.max(work / jobs as f64).max(node_bound).max(source_bound);
    let ideal = schedule_under_limits(&guests, &lat, jobs, node_jobs);
    println!(
        "cluster: {n} containers on {} nodes, {} clones ({} migrated after the clone), {} with dependencies; latencies make {:.2}s, migrate {:.2}s, start {:.2}s, feature {:.2}s",
        NODES.len(),
        guests.iter().filter(|g| g.clone_from.is_some()).count(),
        guests.iter().filter(|g| g.migrated).count(),
        guests.iter().filter(|g| !g.deps.is_empty()).count(),
        lat.make,
        lat.migrate,
        lat.start,
        lat.feature
    );
    println!(
        "bounds: critical path {cp:.2}s, work / {jobs} jobs {:.2}s, busiest node / max_jobs {node_jobs} {node_bound:.2}s, busiest clone source {source_bound:.2}s: lower bound {lower:.2}s",
        work / jobs as f64
    );
    println!(
        "critical path under the limits (this scheduler, no overhead): {ideal:.2}s ({:.2}x the lower bound)",
        ideal / lower
    );
    let tmp = tempfile::tempdir().unwrap();
    let hv = write_config(tmp.path(), &guests, node_jobs);
    let node = tmp.path().join("node");
    let nodes = NODES.join(",");
    let ok = Command::new(bin("pve-sim"))
        .args(["init", "--nodes", &nodes, "--config"])
        .arg(&hv)
        .env("PVE_SIM_ROOT", &node)
        .status()
        .unwrap();
    assert!(ok.success(), "pve-sim init");
    let ms = |s: f64| (s * 1000.0).round() as u64;
    let faults = json!({
        "latency_ms": { "pct create": ms(lat.make), "pct clone": ms(lat.make),
                        "pct migrate": ms(lat.migrate), "pct start": ms(lat.start) },
        "guest_commands": [ { "tool": "pct", "contains": "bench-feature",
                              "duration_ms": ms(lat.feature) } ]
    });
    std::fs::write(node.join("faults.json"), faults.to_string()).unwrap();
    let lets_go = || {
        let mut c = Command::new(bin("phoenix"));
        c.args([
            "LetsGo",
            "--no-boot-delay",
            "--jobs",
            &jobs.to_string(),
            "--config",
        ])
        .arg(&hv)
        .arg(format!("--sim={}", node.display()));
        clean_env(&mut c);
        c.env("PHOENIX_SCRIPTS_DIR", tmp.path().join("scripts"))
            .env("PHOENIX_LOCK_FILE", tmp.path().join("phoenix.lock"));
        let t = Instant::now();
        let o = c.output().unwrap();
        let wall = t.elapsed().as_secs_f64();
        assert!(
            o.status.success(),
            "LetsGo failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        wall
    };
    let wall = lets_go();
    let first = requests(tmp.path());
    println!(
        "LetsGo --jobs {jobs}: wall {wall:.2}s, {} API requests ({} migrations); wall / critical path {:.2}, wall / lower bound {:.2}, wall / critical path under the limits {:.2}",
        first.len(),
        first
            .iter()
            .filter(|r| r["path"].as_str().is_some_and(|p| p.ends_with("/migrate")))
            .count(),
        wall / cp,
        wall / lower,
        wall / ideal
    );
    let noop_wall = lets_go();
    let noop = requests(tmp.path()).len() - first.len();
    println!(
        "no-op LetsGo: wall {noop_wall:.2}s, {noop} API requests (1 bulk read + {n} configs = {}), all reads: {}",
        n + 1,
        requests(tmp.path())[first.len()..]
            .iter()
            .all(|r| r["method"] == "GET")
    );
}
