//! Parallel apply on the simulator, and the dispatcher's own cost per guest. Prints figures for
//! docs/performance.md; asserts nothing about time.
//!
//! ```text
//! cargo build --release --workspace && cargo bench -p phoenix-tests --bench parallel
//! ```
//!
//! 1. A generated graph of `BENCH_GUESTS` (60) containers — a few built from the OS template,
//!    the rest clone chains and fan-out with cross dependencies — is applied with
//!    `phoenix LetsGo --sim --jobs 1` and `--jobs 8`, the simulator charging latencies per call
//!    (`pct create`/`pct clone` 2 s, `pct start` 1 s, one feature script's `pct exec` 3 s, all
//!    times `BENCH_SCALE`, default 0.1, so a run takes seconds, not minutes). The wall times are
//!    compared with two bounds computed from the graph and the latencies: the critical path
//!    (longest chain of per-guest durations; no schedule can beat it) and the greedy schedule
//!    with the plan's constraints (8 jobs, one clone per container source at a time).
//!    `orchestration.storage_concurrency` is 8 (`BENCH_STORAGE_CAP`; Phoenix's default is 2).
//!    `BENCH_JOBS=8` runs only `--jobs 8` (e.g. with `BENCH_SCALE=1` for the full latencies).
//! 2. Dispatcher overhead: `phoenix start` of `BENCH_STUB_GUESTS` (200) guests with a manager
//!    that does nothing (`/bin/true` via `PHOENIX_MANAGER_DIR`), minus the same for one guest.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use phoenix_tests::{bin, clean_env};
use serde_json::{json, Value};

struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

#[derive(Clone)]
struct Guest {
    id: u64,
    clone_from: Option<u64>,
    deps: Vec<u64>,
}

/// `n` containers: the first three from the OS template; then clones of the previous
/// container (deep chains) or of one of the first eight (fan-out); one in four also depends
/// on an earlier container.
fn graph(n: usize) -> Vec<Guest> {
    let mut rng = Lcg(0x5eed);
    let mut out: Vec<Guest> = Vec::new();
    for i in 0..n {
        let id = 2000 + i as u64;
        let clone_from = match (i, rng.below(3)) {
            (0..=2, _) => None,
            (_, 0) => Some(out[i - 1].id),
            _ => Some(out[rng.below(i.min(8))].id),
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
        let mut c = json!({
            "name": format!("ct{}", g.id), "storage_pool": "quickOS-lxc-disks",
            "storage_size_gb": 8, "memory_mb": 1024, "cores": 1,
            "template_snapshot_name": "ready", "features": ["bench"],
            "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp" },
            "start_at_boot": true, "boot_order": 1
        });
        match g.clone_from {
            Some(s) => c["clone_from_ctid"] = json!(s.to_string()),
            None => {
                c["template"] = json!("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
            }
        }
        if !g.deps.is_empty() {
            c["dependencies"] = json!(g.deps);
        }
        cts.insert(g.id.to_string(), c);
    }
    let hv = json!({
        "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" },
        "zfs": { "pools": [], "datasets": [ { "name": "lxc-disks", "pool": "quickOS",
            "proxmox_storage_type": "zfspool", "proxmox_content_type": "rootdir" } ] },
        "orchestration": { "storage_concurrency": storage_concurrency }
    });
    std::fs::write(
        dir.join("lxc.json"),
        json!({ "lxc_configs": cts }).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("vm.json"), json!({ "vms": [] }).to_string()).unwrap();
    std::fs::write(dir.join("hv.json"), hv.to_string()).unwrap();
    let setup = dir.join("scripts/lxc_setup");
    std::fs::create_dir_all(&setup).unwrap();
    let script = setup.join("phoenix_hypervisor_feature_install_bench.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\nset -e\npct exec \"$1\" -- sh -c 'bench-feature'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir.join("hv.json")
}

/// Longest chain of per-guest durations through the needs.
fn critical_path(guests: &[Guest], lat: &Latency) -> f64 {
    let mut finish: BTreeMap<u64, f64> = BTreeMap::new();
    for g in guests {
        let ready = g
            .clone_from
            .iter()
            .chain(&g.deps)
            .map(|n| finish[n])
            .fold(0.0, f64::max);
        finish.insert(g.id, ready + lat.of(g));
    }
    finish.values().copied().fold(0.0, f64::max)
}

/// The executor's greedy schedule with exact durations: at each event start every ready guest
/// in plan order (ascending ID here) while fewer than `jobs` run and its clone source is free.
fn greedy_bound(guests: &[Guest], lat: &Latency, jobs: usize) -> f64 {
    let mut done: BTreeMap<u64, f64> = BTreeMap::new();
    let mut running: Vec<(f64, u64)> = Vec::new();
    let mut now = 0.0;
    while done.len() < guests.len() {
        let busy_sources: Vec<u64> = running
            .iter()
            .filter_map(|(_, id)| guests.iter().find(|g| g.id == *id)?.clone_from)
            .collect();
        let mut started = false;
        for g in guests {
            if running.len() >= jobs {
                break;
            }
            let taken = done.contains_key(&g.id) || running.iter().any(|r| r.1 == g.id);
            let ready = g
                .clone_from
                .iter()
                .chain(&g.deps)
                .all(|n| done.contains_key(n));
            let free = g.clone_from.is_none_or(|s| !busy_sources.contains(&s));
            if !taken && ready && free {
                running.push((now + lat.of(g), g.id));
                started = true;
                break;
            }
        }
        if started {
            continue;
        }
        running.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (t, id) = running.remove(0);
        now = t;
        done.insert(id, t);
    }
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
    let n = env_num("BENCH_GUESTS", 60.0) as usize;
    let scale = env_num("BENCH_SCALE", 0.1);
    let lat = Latency {
        create: 2.0 * scale,
        clone: 2.0 * scale,
        start: 1.0 * scale,
        feature: 3.0 * scale,
    };
    let guests = graph(n);
    let cp = critical_path(&guests, &lat);
    // Every container is on one storage, so the storage cap bounds the managers at once too.
    let cap = env_num("BENCH_STORAGE_CAP", 8.0) as usize;
    let greedy = greedy_bound(&guests, &lat, cap.min(8));
    let serial: f64 = guests.iter().map(|g| lat.of(g)).sum();
    println!(
        "graph: {n} containers, {} clones, {} with dependencies; latencies create/clone {:.2}s, start {:.2}s, feature {:.2}s",
        guests.iter().filter(|g| g.clone_from.is_some()).count(),
        guests.iter().filter(|g| !g.deps.is_empty()).count(),
        lat.clone,
        lat.start,
        lat.feature
    );
    println!(
        "bounds: sum of work {serial:.2}s, critical path {cp:.2}s, greedy schedule with 8 jobs, clone-source locks and storage cap {cap} {greedy:.2}s"
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
            "LetsGo --jobs {jobs}: wall {wall:.2}s, {} tool calls; wall / critical path {:.2}, wall / greedy bound {:.2}",
            calls.len(),
            wall / cp,
            wall / greedy
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
