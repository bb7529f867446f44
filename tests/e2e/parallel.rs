//! Parallel `LetsGo --jobs 8` against the simulator with latencies: from the invocation log,
//! no call on a guest starts before every change to what it needs has ended; two clones of one
//! container source never overlap (Proxmox puts `lock: disk` on the source), yet the rest of one
//! clone's create runs while the next clone copies; allocations per storage stay within
//! `orchestration.storage_concurrency`; independent guests are worked on at the same time; every
//! call succeeds (no lock error was provoked). A clone source locked by someone else is waited
//! for, then cloned. The small version of `cargo bench -p phoenix-tests --bench parallel`;
//! nothing here is about wall time.

use std::collections::BTreeMap;
use std::process::Command;

use phoenix_tests::{bin, clean_env, stderr};
use serde_json::{json, Value};

/// (id, clone source, dependencies): two roots, fan-out from 900, a chain 900 -> 901 -> 904,
/// and cross dependencies.
const GRAPH: &[(u64, Option<u64>, &[u64])] = &[
    (900, None, &[]),
    (910, None, &[]),
    (901, Some(900), &[]),
    (902, Some(900), &[]),
    (903, Some(900), &[910]),
    (904, Some(901), &[]),
    (911, Some(910), &[902]),
    (912, Some(910), &[]),
];

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    write_config_with(dir, json!({ "storage_concurrency": 4 }))
}

fn write_config_with(dir: &std::path::Path, orchestration: Value) -> std::path::PathBuf {
    let mut cts = serde_json::Map::new();
    for (id, from, deps) in GRAPH {
        let mut c = json!({
            "name": format!("ct{id}"), "storage_pool": "quickOS-lxc-disks", "storage_size_gb": 8,
            "memory_mb": 1024, "cores": 1, "template_snapshot_name": "ready",
            "network_config": { "name": "eth0", "bridge": "vmbr0", "ip": "dhcp" },
            "start_at_boot": true, "boot_order": 1
        });
        match from {
            Some(s) => c["clone_from_ctid"] = json!(s.to_string()),
            None => {
                c["template"] = json!("local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst")
            }
        }
        if !deps.is_empty() {
            c["dependencies"] = json!(deps);
        }
        cts.insert(id.to_string(), c);
    }
    let hv = json!({
        "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" },
        "zfs": { "pools": [], "datasets": [ { "name": "lxc-disks", "pool": "quickOS",
            "proxmox_storage_type": "zfspool", "proxmox_content_type": "rootdir" } ] },
        "orchestration": orchestration
    });
    std::fs::write(
        dir.join("lxc.json"),
        json!({ "lxc_configs": cts }).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("vm.json"), json!({ "vms": [] }).to_string()).unwrap();
    std::fs::write(dir.join("hv.json"), hv.to_string()).unwrap();
    dir.join("hv.json")
}

/// A logged call's guest: the new guest for `clone` (its argv is `clone <source> <new>`).
fn target(c: &Value) -> Option<u64> {
    let argv = c["argv"].as_array()?;
    let i = if argv.first()? == "clone" { 2 } else { 1 };
    argv.get(i)?.as_str()?.parse().ok()
}

fn span(c: &Value) -> (u64, u64) {
    let s = c["start"].as_u64().unwrap();
    (s, s + c["duration_ms"].as_u64().unwrap())
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// A simulated node for `hv` with `faults`, initialised.
fn init_node(hv: &std::path::Path, node: &std::path::Path, faults: Value) {
    assert!(Command::new(bin("pve-sim"))
        .args(["init", "--config"])
        .arg(hv)
        .env("PVE_SIM_ROOT", node)
        .status()
        .unwrap()
        .success());
    std::fs::write(node.join("faults.json"), faults.to_string()).unwrap();
}

fn lets_go(tmp: &tempfile::TempDir, hv: &std::path::Path, jobs: &str) -> std::process::Output {
    let mut c = Command::new(bin("phoenix"));
    c.args(["LetsGo", "--no-boot-delay", "--jobs", jobs, "--config"])
        .arg(hv)
        .arg(format!("--sim={}", tmp.path().join("node").display()));
    clean_env(&mut c);
    c.env("PHOENIX_LOCK_FILE", tmp.path().join("phoenix.lock"));
    c.output().unwrap()
}

fn invocations(tmp: &tempfile::TempDir) -> Vec<Value> {
    std::fs::read_to_string(tmp.path().join("node/invocations.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn parallel_lets_go_keeps_order_and_proxmox_locks() {
    let tmp = tempfile::tempdir().unwrap();
    let hv = write_config(tmp.path());
    let faults = json!({ "latency_ms": { "pct clone": 400, "pct create": 400, "pct start": 100 } });
    init_node(&hv, &tmp.path().join("node"), faults);
    let o = lets_go(&tmp, &hv, "8");
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    // Every line says which guest it is about: events name their guest (`CT 904: ...`),
    // whatever else a manager prints is prefixed with its guest ID (`[904] ...`).
    assert!(err.contains("CT 904: "), "{err}");
    let attributed = |l: &str| {
        [
            "==> ", "[", "CT ", "VM ", "Recap:", "  ", "Summary:", "info:", "warning:",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    };
    assert!(
        err.lines().all(attributed),
        "every line names its guest:\n{err}"
    );

    let log = invocations(&tmp);
    for c in &log {
        assert_eq!(c["exit_code"], 0, "no call failed (no lock error): {c}");
    }
    let pct: Vec<&Value> = log.iter().filter(|c| c["tool"] == "pct").collect();
    let mut changes: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    let mut calls: BTreeMap<u64, Vec<(u64, u64)>> = BTreeMap::new();
    for c in &pct {
        if let Some(id) = target(c) {
            calls.entry(id).or_default().push(span(c));
            if c["mutating"] == true {
                changes.entry(id).or_default().push(span(c));
            }
        }
    }
    // 1. Nothing touches a guest before every change to what it needs has ended.
    for (id, from, deps) in GRAPH {
        let first = calls[id].iter().map(|s| s.0).min().unwrap();
        for n in from.iter().chain(deps.iter()) {
            let done = changes[n].iter().map(|s| s.1).max().unwrap();
            assert!(
                first >= done,
                "a call on {id} started before {n} was finished"
            );
        }
    }
    // 2. Clones of one container source never overlap.
    let mut clones: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for c in pct.iter().filter(|c| c["argv"][0] == "clone") {
        clones
            .entry(c["argv"][1].as_str().unwrap())
            .or_default()
            .push(span(c));
    }
    assert_eq!(clones["900"].len(), 3);
    for spans in clones.values() {
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                assert!(!overlap(*a, *b), "two clones of one source overlapped");
            }
        }
    }
    // ... but only the copies are serialised: while one clone of 900 copies, another clone of
    // 900 is already being configured or started.
    let of_900 = [901, 902, 903];
    let copying_while_busy = pct.iter().any(|c| {
        let Some(id) = target(c) else { return false };
        of_900.contains(&id)
            && c["argv"][0] != "clone"
            && c["mutating"] == true
            && pct.iter().any(|k| {
                k["argv"][0] == "clone"
                    && k["argv"][1] == "900"
                    && target(k) != Some(id)
                    && overlap(span(c), span(k))
            })
    });
    assert!(
        copying_while_busy,
        "the whole create of one clone of 900 waited for the other clones"
    );
    // 3. Independent guests were worked on at once: the two roots' `pct create` overlap.
    let create = |id: &str| {
        pct.iter()
            .find(|c| c["argv"][0] == "create" && c["argv"][1] == id)
            .map(|c| span(c))
            .unwrap()
    };
    let (a, b) = (create("900"), create("910"));
    assert!(
        a.0 < b.1 && b.0 < a.1,
        "900 and 910 were created one after the other"
    );
}

/// A node with the test graph's config (and `orchestration`), initialised, without latencies.
fn node_with(orchestration: Value) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let hv = write_config_with(tmp.path(), orchestration);
    assert!(Command::new(bin("pve-sim"))
        .args(["init", "--config"])
        .arg(&hv)
        .env("PVE_SIM_ROOT", tmp.path().join("node"))
        .status()
        .unwrap()
        .success());
    (tmp, hv)
}

fn phoenix(tmp: &tempfile::TempDir, hv: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin("phoenix"));
    c.args(args)
        .arg("--config")
        .arg(hv)
        .arg(format!("--sim={}", tmp.path().join("node").display()));
    clean_env(&mut c);
    c.env("PHOENIX_LOCK_FILE", tmp.path().join("phoenix.lock"));
    c
}

fn set_lock(tmp: &tempfile::TempDir, id: u64, lock: Option<&str>) {
    let p = tmp.path().join(format!("node/etc/pve/lxc/{id}.conf"));
    let text = std::fs::read_to_string(&p).unwrap();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with("lock:"))
        .map(String::from)
        .collect();
    if let Some(l) = lock {
        lines.insert(0, format!("lock: {l}"));
    }
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Runs `phoenix <args>` while 900's config shows `lock: backup`, removes the line 1.5 s in, and
/// checks the run waited for it and succeeded. Returns when the lock went (ms since the epoch).
fn run_while_900_is_backed_up(tmp: &tempfile::TempDir, hv: &std::path::Path, args: &[&str]) -> u64 {
    set_lock(tmp, 900, Some("backup"));
    let child = phoenix(tmp, hv, args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let released = now_ms();
    set_lock(tmp, 900, None);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("container 900 is locked (backup); waiting up to 60s"),
        "{err}"
    );
    released
}

#[test]
fn a_guest_whose_config_shows_a_lock_is_waited_for_not_retried() {
    let (tmp, hv) = node_with(json!({ "guest_lock_wait_secs": 60 }));
    let o = phoenix(&tmp, &hv, &["create", "900"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = phoenix(&tmp, &hv, &["stop", "900"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let released = run_while_900_is_backed_up(&tmp, &hv, &["start", "900", "--no-boot-delay"]);
    let log = invocations(&tmp);
    let starts: Vec<&Value> = log
        .iter()
        .filter(|c| c["tool"] == "pct" && c["argv"][0] == "start" && c["argv"][1] == "900")
        .collect();
    let last = starts.last().unwrap();
    assert_eq!(last["exit_code"], 0, "the start was not tried while locked");
    assert!(last["start"].as_u64().unwrap() + 50 >= released);
    assert!(
        log.iter().all(|c| c["exit_code"] == 0),
        "no call ran into the lock"
    );
}

#[test]
fn a_lock_that_stays_fails_after_guest_lock_wait_secs_naming_it() {
    let (tmp, hv) = node_with(json!({ "guest_lock_wait_secs": 1 }));
    let o = phoenix(&tmp, &hv, &["create", "900"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let o = phoenix(&tmp, &hv, &["stop", "900"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    set_lock(&tmp, 900, Some("backup"));
    let o = phoenix(&tmp, &hv, &["start", "900", "--no-boot-delay"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(
            "Error: container 900: lock: container 900 is still locked (backup) after waiting 1s"
        ),
        "{err}"
    );
    assert!(err.contains("pct unlock 900"), "{err}");
}

#[test]
fn allocations_per_storage_stay_within_storage_concurrency() {
    // All eight containers live on one storage; with a cap of 1 their `pct create`/`pct clone`
    // calls never overlap, while the rest of the work still runs in parallel.
    let tmp = tempfile::tempdir().unwrap();
    let hv = write_config_with(tmp.path(), json!({ "storage_concurrency": 1 }));
    let faults = json!({ "latency_ms": { "pct clone": 300, "pct create": 300, "pct start": 300 } });
    init_node(&hv, &tmp.path().join("node"), faults);
    let o = lets_go(&tmp, &hv, "8");
    assert!(o.status.success(), "{}", stderr(&o));
    let log = invocations(&tmp);
    assert!(log.iter().all(|c| c["exit_code"] == 0));
    let pct: Vec<&Value> = log.iter().filter(|c| c["tool"] == "pct").collect();
    let allocating: Vec<(u64, u64)> = pct
        .iter()
        .filter(|c| c["argv"][0] == "create" || c["argv"][0] == "clone")
        .map(|c| span(c))
        .collect();
    assert_eq!(allocating.len(), GRAPH.len());
    for (i, a) in allocating.iter().enumerate() {
        for b in &allocating[i + 1..] {
            assert!(!overlap(*a, *b), "two allocations on one storage at once");
        }
    }
    let starts: Vec<(u64, u64)> = pct
        .iter()
        .filter(|c| c["argv"][0] == "start")
        .map(|c| span(c))
        .collect();
    assert!(
        starts
            .iter()
            .any(|s| allocating.iter().any(|a| overlap(*s, *a))),
        "nothing else ran while a guest was being allocated"
    );
}

#[test]
fn a_clone_source_locked_by_someone_else_is_waited_for_then_cloned() {
    let (tmp, hv) = node_with(json!({ "guest_lock_wait_secs": 60 }));
    let o = phoenix(&tmp, &hv, &["create", "900"]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // A backup of 900 is running when 901 is cloned from it.
    let released = run_while_900_is_backed_up(&tmp, &hv, &["create", "901"]);
    let clones: Vec<Value> = invocations(&tmp)
        .into_iter()
        .filter(|c| c["tool"] == "pct" && c["argv"][0] == "clone")
        .collect();
    // One refused attempt, then one clone after the lock went: waited, not retried blindly.
    assert_eq!(clones.len(), 2, "{clones:?}");
    assert_ne!(clones[0]["exit_code"], 0);
    assert_eq!(clones[1]["exit_code"], 0);
    assert!(clones[1]["start"].as_u64().unwrap() + 50 >= released);
}
