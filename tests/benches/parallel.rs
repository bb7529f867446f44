//! Parallel apply on the simulator, and the dispatcher's own cost per guest. Prints figures for
//! docs/performance.md; asserts nothing about time.
//!
//! ```text
//! cargo build --release --workspace && cargo bench -p phoenix-tests --bench parallel
//! ```
//!
//! 1. Two generated graphs of `BENCH_GUESTS` (60) containers (`BENCH_GRAPH=wide|deep` picks
//!    one) — a few built from the OS template, the rest clone chains and fan-out with cross
//!    dependencies — are applied with `phoenix LetsGo --sim --jobs 1` and `--jobs 8`, the
//!    simulator charging latencies per call (`pct create`/`pct clone` 2 s, `pct start` 1 s, one
//!    feature script's `pct exec` 3 s, all times `BENCH_SCALE`, default 0.1, so a run takes
//!    seconds, not minutes). The wall times are compared with bounds computed from the graph
//!    and the latencies: the critical path (longest chain of per-guest durations), the work
//!    over 8 jobs (no schedule beats the larger of the two), and the schedule Phoenix's own
//!    rules give with exact durations (chain-first start order, 8 jobs, one copy per clone
//!    source, the storage cap). `orchestration.storage_concurrency` is 8 (`BENCH_STORAGE_CAP`;
//!    Phoenix's default is 4). `BENCH_JOBS=8` runs only `--jobs 8` (e.g. with `BENCH_SCALE=1`
//!    for the full latencies).
//! 2. Dispatcher overhead: `phoenix start` of `BENCH_STUB_GUESTS` (200) guests with a manager
//!    that does nothing (`/bin/true` via `PHOENIX_MANAGER_DIR`), minus the same for one guest.

mod common;

use common::Lcg;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use phoenix_tests::{bin, clean_env};
use serde_json::{json, Value};

#[derive(Clone)]
struct Guest {
    id: u64,
    clone_from: Option<u64>,
    deps: Vec<u64>,
}

/// A graph shape: a clone continues the previous container's chain with odds
/// `chain.0`/`chain.1`, else fans out from one of the first `fan_out` containers.
#[derive(Clone, Copy)]
struct Shape {
    name: &'static str,
    chain: (usize, usize),
    fan_out: usize,
}

/// `wide`: mostly fan-out from eight sources; more work than 8 jobs can do in the critical
/// path, so the bound there is the work, not the path. `deep`: longer chains, fan-out from
/// sixteen; the critical path is the bound, as in the issue's target.
const SHAPES: &[Shape] = &[
    Shape {
        name: "wide",
        chain: (1, 3),
        fan_out: 8,
    },
    Shape {
        name: "deep",
        chain: (1, 2),
        fan_out: 16,
    },
];

/// `n` containers: the first three from the OS template; then clones of the previous
/// container (deep chains) or of an early one (fan-out); one in four also depends on an
/// earlier container.
fn graph(n: usize, shape: Shape) -> Vec<Guest> {
    let mut rng = Lcg(0x5eed);
    let mut out: Vec<Guest> = Vec::new();
    for i in 0..n {
        let id = 2000 + i as u64;
        let clone_from = match (i, rng.below(shape.chain.1)) {
            (0..=2, _) => None,
            (_, c) if c < shape.chain.0 => Some(out[i - 1].id),
            _ => Some(out[rng.below(i.min(shape.fan_out))].id),
        };
        let mut deps = Vec::new();
        if i > 3 && rng.below(4) == 0 {
            let d = out[rng.below(i)].id;
            if Some(d) != clone_from {
                deps.push(d);
            }
        }
        out.push(Guest {
            id,
            clone_from,
            deps,
        });
    }
    out
}

struct Latency {
    create: f64,
    clone: f64,
    start: f64,
    feature: f64,
}

impl Latency {
    /// Seconds one guest's `create` step spends in simulated Proxmox work.
    fn of(&self, g: &Guest) -> f64 {
        let make = if g.clone_from.is_some() {
            self.clone
        } else {
            self.create
        };
        make + self.start + self.feature
    }
}

/// Writes the three config files and the feature script; returns the hypervisor config path.
fn write_config(dir: &Path, guests: &[Guest], storage_concurrency: usize) -> PathBuf {
    let mut cts = serde_json::Map::new();
    for g in guests {
        cts.insert(
            g.id.to_string(),
            common::container(g.id, g.clone_from, &g.deps),
        );
    }
    let hv = json!({
        "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" },
        "zfs": { "pools": [], "datasets": [ { "name": "lxc-disks", "pool": "quickOS",
            "proxmox_storage_type": "zfspool", "proxmox_content_type": "rootdir" } ] },
        "orchestration": { "storage_concurrency": storage_concurrency }
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

/// Guests by the longest chain of guests from them to the end of the graph (the executor's
/// "bottom level" in steps), then by ID.
fn chain_first(guests: &[Guest], index: &BTreeMap<u64, usize>) -> Vec<usize> {
    let mut level = vec![1usize; guests.len()];
    for i in (0..guests.len()).rev() {
        for n in guests[i].clone_from.iter().chain(&guests[i].deps) {
            let p = index[n];
            level[p] = level[p].max(level[i] + 1);
        }
    }
    let mut order: Vec<usize> = (0..guests.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(level[i]), i));
    order
}

/// What a guest does in a phase of the modelled schedule.
#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Waiting,
    /// In `pct create`/`pct clone` (holding its slots) until the time given.
    Making(f64),
    /// Start and features, until the time given.
    Rest(f64),
}

/// The schedule Phoenix's rules give with exact durations: the executor starts ready guests,
/// longest chain of guests still to come first (then ascending ID), while fewer than `jobs` run; a started guest holds its
/// job while it waits for its slots (its clone source: one at a time; its storage: `cap`), then
/// makes its disk, frees the slots and runs the rest (start, features). Waiting managers take
/// free slots in the order they started waiting.
fn modelled_schedule(guests: &[Guest], lat: &Latency, jobs: usize, cap: usize) -> f64 {
    let index: BTreeMap<u64, usize> = guests.iter().enumerate().map(|(i, g)| (g.id, i)).collect();
    let order = chain_first(guests, &index);
    let mut phase: Vec<Option<Phase>> = vec![None; guests.len()];
    let mut done: Vec<bool> = vec![false; guests.len()];
    let mut queue: Vec<usize> = Vec::new();
    let mut now = 0.0;
    loop {
        let mut running = phase.iter().filter(|p| p.is_some()).count();
        for &i in &order {
            let g = &guests[i];
            if running >= jobs {
                break;
            }
            let ready = g.clone_from.iter().chain(&g.deps).all(|n| done[index[n]]);
            if ready && !done[i] && phase[i].is_none() {
                phase[i] = Some(Phase::Waiting);
                queue.push(i);
                running += 1;
            }
        }
        // Slots go to waiting managers in the order they asked.
        let mut k = 0;
        while k < queue.len() {
            let i = queue[k];
            let making = |f: &dyn Fn(&Guest) -> bool| {
                phase
                    .iter()
                    .zip(guests)
                    .filter(|(p, g)| matches!(p, Some(Phase::Making(_))) && f(g))
                    .count()
            };
            let g = &guests[i];
            let source_free = g
                .clone_from
                .is_none_or(|s| making(&|o: &Guest| o.clone_from == Some(s)) == 0);
            if source_free && making(&|_| true) < cap {
                let make = if g.clone_from.is_some() {
                    lat.clone
                } else {
                    lat.create
                };
                phase[i] = Some(Phase::Making(now + make));
                queue.remove(k);
            } else {
                k += 1;
            }
        }
        let next = phase
            .iter()
            .filter_map(|p| match p {
                Some(Phase::Making(t)) | Some(Phase::Rest(t)) => Some(*t),
                _ => None,
            })
            .fold(f64::INFINITY, f64::min);
        if !next.is_finite() {
            break;
        }
        now = next;
        for i in 0..guests.len() {
            match phase[i] {
                Some(Phase::Making(t)) if t <= now => {
                    phase[i] = Some(Phase::Rest(t + lat.start + lat.feature));
                }
                Some(Phase::Rest(t)) if t <= now => {
                    phase[i] = None;
                    done[i] = true;
                }
                _ => {}
            }
        }
    }
    assert!(done.iter().all(|d| *d), "the model left guests undone");
    now
}

struct Node {
    tmp: tempfile::TempDir,
    hv: PathBuf,
}

impl Node {
    fn new(guests: &[Guest], lat: &Latency) -> Node {
        let tmp = tempfile::tempdir().unwrap();
        let hv = write_config(
            tmp.path(),
            guests,
            env_num("BENCH_STORAGE_CAP", 8.0) as usize,
        );
        let node = tmp.path().join("node");
        let ok = Command::new(bin("pve-sim"))
            .args(["init", "--config"])
            .arg(&hv)
            .env("PVE_SIM_ROOT", &node)
            .status()
            .unwrap();
        assert!(ok.success(), "pve-sim init");
        let ms = |s: f64| (s * 1000.0).round() as u64;
        let faults = json!({
            "latency_ms": { "pct create": ms(lat.create), "pct clone": ms(lat.clone),
                            "pct start": ms(lat.start) },
            "guest_commands": [ { "tool": "pct", "contains": "bench-feature",
                                  "duration_ms": ms(lat.feature) } ]
        });
        std::fs::write(node.join("faults.json"), faults.to_string()).unwrap();
        Node { tmp, hv }
    }

    fn lets_go(&self, jobs: usize) -> Duration {
        let mut c = Command::new(bin("phoenix"));
        c.args([
            "LetsGo",
            "--no-boot-delay",
            "--jobs",
            &jobs.to_string(),
            "--config",
        ])
        .arg(&self.hv)
        .arg(format!("--sim={}", self.tmp.path().join("node").display()));
        clean_env(&mut c);
        c.env("PHOENIX_SCRIPTS_DIR", self.tmp.path().join("scripts"))
            .env("PHOENIX_LOCK_FILE", self.tmp.path().join("phoenix.lock"));
        let t = Instant::now();
        let o = c.output().unwrap();
        let wall = t.elapsed();
        assert!(
            o.status.success(),
            "LetsGo --jobs {jobs} failed:\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        wall
    }

    fn calls(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.tmp.path().join("node/invocations.jsonl")).unwrap();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn parallel_apply() {
    let wanted = std::env::var("BENCH_GRAPH").unwrap_or_default();
    for &shape in SHAPES {
        if wanted.is_empty() || wanted == shape.name {
            parallel_apply_of(shape);
        }
    }
}

fn parallel_apply_of(shape: Shape) {
    let n = env_num("BENCH_GUESTS", 60.0) as usize;
    let scale = env_num("BENCH_SCALE", 0.1);
    let lat = Latency {
        create: 2.0 * scale,
        clone: 2.0 * scale,
        start: 1.0 * scale,
        feature: 3.0 * scale,
    };
    let guests = graph(n, shape);
    let cp = critical_path(&guests, &lat);
    // Every container is on one storage, so the storage cap bounds the copies at once.
    let cap = env_num("BENCH_STORAGE_CAP", 8.0) as usize;
    let serial: f64 = guests.iter().map(|g| lat.of(g)).sum();
    // No schedule with N jobs beats the longer of the critical path and the work over N.
    let lower = |jobs: usize| cp.max(serial / jobs as f64);
    let model = |jobs: usize| modelled_schedule(&guests, &lat, jobs, cap);
    println!(
        "graph '{}': {n} containers, {} clones, {} with dependencies; latencies create/clone {:.2}s, start {:.2}s, feature {:.2}s",
        shape.name,
        guests.iter().filter(|g| g.clone_from.is_some()).count(),
        guests.iter().filter(|g| !g.deps.is_empty()).count(),
        lat.clone,
        lat.start,
        lat.feature
    );
    println!(
        "bounds: sum of work {serial:.2}s, critical path {cp:.2}s, work / 8 jobs {:.2}s; Phoenix's rules with exact durations (8 jobs, clone-source slots, storage cap {cap}) {:.2}s",
        serial / 8.0,
        model(8)
    );
    let mut rows = Vec::new();
    let jobs_list: Vec<usize> = std::env::var("BENCH_JOBS")
        .ok()
        .map(|v| v.split(',').filter_map(|j| j.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8]);
    for &jobs in &jobs_list {
        let node = Node::new(&guests, &lat);
        let wall = node.lets_go(jobs).as_secs_f64();
        let calls = node.calls();
        rows.push((jobs, wall));
        println!(
            "LetsGo --jobs {jobs}: wall {wall:.2}s, {} tool calls ({} failed and retried); wall / critical path {:.2}, wall / lower bound for {jobs} jobs {:.2}, wall / model for {jobs} jobs {:.2}",
            calls.len(),
            calls.iter().filter(|c| c["exit_code"] != 0).count(),
            wall / cp,
            wall / lower(jobs),
            wall / model(jobs)
        );
    }
    let wall_of = |j: usize| rows.iter().find(|r| r.0 == j).map(|r| r.1);
    if let (Some(one), Some(eight)) = (wall_of(1), wall_of(8)) {
        println!("speed-up --jobs 8 over --jobs 1: {:.2}x", one / eight);
    }
}

fn dispatcher_overhead() {
    let n = env_num("BENCH_STUB_GUESTS", 200.0) as usize;
    let guests: Vec<Guest> = (0..n)
        .map(|i| Guest {
            id: 3000 + i as u64,
            clone_from: None,
            deps: vec![],
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let hv = write_config(tmp.path(), &guests, 8);
    let stubs = tmp.path().join("managers");
    std::fs::create_dir_all(&stubs).unwrap();
    let truth = which_true();
    for m in ["lxc-manager", "vm-manager"] {
        std::os::unix::fs::symlink(&truth, stubs.join(m)).unwrap();
    }
    let run = |ids: &[String]| -> f64 {
        let mut c = Command::new(bin("phoenix"));
        c.args(["start", "--no-boot-delay", "--jobs", "1", "--config"])
            .arg(&hv)
            .arg(format!("--sim={}", tmp.path().join("node").display()))
            .args(ids);
        clean_env(&mut c);
        c.env("PHOENIX_MANAGER_DIR", &stubs)
            .env("PHOENIX_LOCK_FILE", tmp.path().join("phoenix.lock"));
        let t = Instant::now();
        let o = c.output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        t.elapsed().as_secs_f64()
    };
    let all: Vec<String> = guests.iter().map(|g| g.id.to_string()).collect();
    run(&all[..1]); // initialises the simulated node
    let mut one = Vec::new();
    let mut many = Vec::new();
    for _ in 0..5 {
        one.push(run(&all[..1]));
        many.push(run(&all));
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (o, m) = (med(&mut one), med(&mut many));
    let per: Vec<f64> = many
        .iter()
        .map(|t| (t - o) / (n as f64 - 1.0) * 1e3)
        .collect();
    println!(
        "dispatcher: `phoenix start` of 1 guest {:.1} ms, of {n} guests {:.1} ms (median of 5); overhead per guest {:.2} ms (min {:.2}, max {:.2}) with a do-nothing manager, --jobs 1",
        o * 1e3,
        m * 1e3,
        (m - o) / (n as f64 - 1.0) * 1e3,
        per.iter().copied().fold(f64::MAX, f64::min),
        per.iter().copied().fold(0.0, f64::max)
    );
}

fn which_true() -> PathBuf {
    ["/bin/true", "/usr/bin/true"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .expect("a `true` executable")
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it too: keep that quick.
    if std::env::args().any(|a| a == "--bench") {
        parallel_apply();
        dispatcher_overhead();
    } else {
        println!("parallel: run with `cargo bench -p phoenix-tests --bench parallel`");
    }
}
