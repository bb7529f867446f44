//! Proxmox calls of a no-op `LetsGo` per transport, and its wall time. Prints the table of
//! docs/performance.md ("Fewest calls"); asserts nothing about time.
//!
//! ```text
//! cargo build --release --workspace && cargo bench -p phoenix-tests --bench calls
//! ```
//!
//! For each transport (`local`, `pvesh`, `api`; `BENCH_TRANSPORTS=api` picks some) a simulated
//! node gets `phoenix setup` and a first `LetsGo` of the upstream 2025-10-01 fixture (17
//! containers, 2 VMs); then `BENCH_RUNS` (5) no-op `LetsGo` runs are counted from the
//! simulator's logs: tool calls (`invocations.jsonl`: `pct`, `qm`, `pvesm`, `pveam`, and how
//! many change something) and API requests (`api-requests.jsonl`: GETs and writes, through
//! `pvesh` or HTTPS). Wall times are min / median / max over the runs; for `api` they include
//! starting and stopping `pve-sim serve`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use phoenix_tests::{bin, clean_env, repo, upstream_fixture};
use serde_json::Value;

fn lines(p: PathBuf) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn phoenix(dir: &std::path::Path, transport: &str, args: &[&str]) -> Duration {
    let cfg = upstream_fixture().join("phoenix_hypervisor_config.json");
    let mut c = Command::new(bin("phoenix"));
    clean_env(&mut c);
    c.args(args)
        .arg("--config")
        .arg(&cfg)
        .arg(format!("--sim={}", dir.display()))
        .args(["--transport", transport, "-q"])
        .env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"));
    let t0 = Instant::now();
    let o = c.output().expect("run phoenix");
    let took = t0.elapsed();
    assert!(
        o.status.success(),
        "{transport} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    took
}

struct Row {
    transport: String,
    tool_calls: usize,
    mutating: usize,
    gets: usize,
    writes: usize,
    times: Vec<Duration>,
}

fn measure(transport: &str, runs: usize) -> Row {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    phoenix(&dir, "local", &["setup"]);
    phoenix(&dir, transport, &["LetsGo", "--no-boot-delay"]);
    let mut row = Row {
        transport: transport.into(),
        tool_calls: 0,
        mutating: 0,
        gets: 0,
        writes: 0,
        times: Vec::new(),
    };
    for _ in 0..runs {
        let calls0 = lines(dir.join("invocations.jsonl")).len();
        let reqs0 = lines(dir.join("api-requests.jsonl")).len();
        row.times
            .push(phoenix(&dir, transport, &["LetsGo", "--no-boot-delay"]));
        let calls: Vec<Value> = lines(dir.join("invocations.jsonl")).split_off(calls0);
        let reqs: Vec<Value> = lines(dir.join("api-requests.jsonl")).split_off(reqs0);
        // The same every run: keep the last.
        row.tool_calls = calls
            .iter()
            .filter(|c| ["pct", "qm", "pvesm", "pveam"].contains(&c["tool"].as_str().unwrap_or("")))
            .count();
        row.mutating = calls.iter().filter(|c| c["mutating"] == true).count();
        row.gets = reqs.iter().filter(|r| r["method"] == "GET").count();
        row.writes = reqs.len() - row.gets;
    }
    row
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
        .max(1);
    let picked = std::env::var("BENCH_TRANSPORTS").unwrap_or_else(|_| "local,pvesh,api".into());
    println!("no-op LetsGo of the 2025-10-01 fixture (19 guests), {runs} runs per transport");
    println!(
        "{:<8} {:>10} {:>9} {:>6} {:>7}   wall min / median / max",
        "transport", "tool calls", "changing", "GETs", "writes"
    );
    for t in picked.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let mut r = measure(t, runs);
        r.times.sort();
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{:<8} {:>10} {:>9} {:>6} {:>7}   {} / {} / {}",
            r.transport,
            r.tool_calls,
            r.mutating,
            r.gets,
            r.writes,
            ms(r.times[0]),
            ms(r.times[r.times.len() / 2]),
            ms(r.times[r.times.len() - 1])
        );
    }
}
