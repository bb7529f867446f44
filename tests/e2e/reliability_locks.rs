//! Locking (docs/reliability.md, "Locking"): one Phoenix run per host, waiting for it within
//! `orchestration.lock_wait_secs`, taking over a stale lock, managers run directly, one manager
//! per guest, and Proxmox's own `can't lock file ... got timeout` retried with back-off
//! (`orchestration.pve_lock_retries` / `pve_lock_backoff_ms`). The dispatcher test
//! `second_run_waits_for_the_host_lock_then_names_the_holder` (crates/phoenix/tests/dispatch.rs)
//! covers the wait running out.

#[path = "reliability_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;

use common::*;
use phoenix_tests::{bin, clean_env, repo, stderr, Sim};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(300);
const LOCK_MSG: &str = "can't lock file '/var/lock/lxc/pve-config-900.lock' - got timeout";

/// The fixture's three files copied beside each other, with `orchestration` set.
fn config_with(dir: &Path, orchestration: Value) -> PathBuf {
    let src = phoenix_tests::upstream_fixture();
    for f in ["phoenix_lxc_configs.json", "phoenix_vm_configs.json"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let mut hv: Value = serde_json::from_str(
        &std::fs::read_to_string(src.join("phoenix_hypervisor_config.json")).unwrap(),
    )
    .unwrap();
    hv["orchestration"] = orchestration;
    let p = dir.join("phoenix_hypervisor_config.json");
    std::fs::write(&p, hv.to_string()).unwrap();
    p
}

fn phoenix_at(sim: &Sim, cfg: &Path, args: &[&str]) -> Command {
    let mut c = phoenix(sim, args);
    c.arg("--config").arg(cfg);
    c
}

/// `lxc-manager <args>` run directly on the node.
fn manager(sim: &Sim, cfg: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(bin("lxc-manager"));
    c.args(args)
        .arg("--config")
        .arg(cfg)
        .arg(format!("--sim={}", sim.dir().display()));
    clean_env(&mut c);
    c.env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"));
    c
}

fn lock_file(sim: &Sim) -> PathBuf {
    sim.dir().join("run/phoenix.lock")
}

/// Waits until the lock file at `p` names `pid` (the holder has taken it).
fn wait_holder(p: &Path, pid: u32) {
    wait_for("the holder to take the lock", LIMIT, || {
        std::fs::read_to_string(p).is_ok_and(|t| t.lines().next() == Some(&pid.to_string()))
    });
}

/// A `phoenix create 900` that holds the host lock while `pct create` is slow.
fn slow_holder(sim: &Sim, cfg: &Path) -> Child {
    set_faults(sim, &json!({ "latency_ms": { "pct create": 1500 } }));
    let child = phoenix_at(sim, cfg, &["create", "900"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_holder(&lock_file(sim), child.id());
    child
}

fn out(c: &mut Command) -> Output {
    c.output().unwrap()
}

#[test]
fn a_second_run_waits_for_the_holder_and_then_runs() {
    let sim = fresh();
    let cfg = config_with(sim.tmp.path(), json!({ "lock_wait_secs": 600 }));
    let mut holder = slow_holder(&sim, &cfg);
    let o = out(&mut phoenix_at(&sim, &cfg, &["start", "900"]));
    assert!(holder.wait().unwrap().success());
    assert!(
        o.status.success(),
        "the waiting run went ahead once the lock was free:\n{}",
        stderr(&o)
    );
    // It ran after the holder: no call started while the holder's `pct create` was under way.
    let calls = sim.invocations();
    let create = calls
        .iter()
        .find(|c| c["tool"] == "pct" && c["argv"][0] == "create")
        .unwrap();
    let (cs, ce) = (
        create["start"].as_u64().unwrap(),
        create["start"].as_u64().unwrap() + create["duration_ms"].as_u64().unwrap(),
    );
    let during: Vec<&Value> = calls
        .iter()
        .filter(|c| *c != create && (cs..ce).contains(&c["start"].as_u64().unwrap()))
        .collect();
    assert!(
        during.is_empty(),
        "calls during the holder's create: {during:?}"
    );
    assert!(calls
        .iter()
        .any(|c| c["argv"][0] == "status" && c["start"].as_u64().unwrap() >= ce));
}

#[test]
fn a_stale_lock_of_a_dead_process_is_taken_over_with_an_info_message() {
    let sim = fresh();
    let cfg = config_with(sim.tmp.path(), json!({ "lock_wait_secs": 0 }));
    // A PID that is gone: a child we ran and reaped.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    std::fs::create_dir_all(sim.dir().join("run")).unwrap();
    std::fs::write(
        lock_file(&sim),
        format!("{dead}\nphoenix LetsGo --old-run\n"),
    )
    .unwrap();
    let o = out(&mut phoenix_at(&sim, &cfg, &["create", "900", "-v"]));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("took over a stale lock")
            && err.contains(&format!("PID {dead}"))
            && err.contains("--old-run"),
        "{err}"
    );
    // Released at the end: nobody is named as holder any more.
    assert_eq!(std::fs::read_to_string(lock_file(&sim)).unwrap(), "");
}

#[test]
fn a_manager_run_directly_during_a_phoenix_run_fails_naming_the_holder() {
    let sim = fresh();
    let cfg = config_with(sim.tmp.path(), json!({ "lock_wait_secs": 0 }));
    let mut holder = slow_holder(&sim, &cfg);
    let o = out(&mut manager(&sim, &cfg, &["create", "901"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains(&format!("PID {}", holder.id())) && err.contains("create 900"),
        "{err}"
    );
    assert!(holder.wait().unwrap().success());
    let o = out(&mut manager(&sim, &cfg, &["start", "900"]));
    assert!(
        o.status.success(),
        "once free, a manager run directly takes the lock:\n{}",
        stderr(&o)
    );
}

#[test]
fn two_managers_never_work_on_one_guest_at_once() {
    let sim = fresh();
    let cfg = config_with(sim.tmp.path(), json!({ "lock_wait_secs": 0 }));
    set_faults(&sim, &json!({ "latency_ms": { "pct create": 1500 } }));
    // As under the dispatcher (host lock held by it), so only the guest lock decides.
    let mut first = manager(&sim, &cfg, &["create", "900"])
        .env("PHOENIX_HOST_LOCK_HELD", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_holder(&sim.dir().join("run/phoenix-guest-900.lock"), first.id());
    let o = out(manager(&sim, &cfg, &["create", "900"]).env("PHOENIX_HOST_LOCK_HELD", "1"));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("PID {}", first.id())), "{err}");
    assert!(first.wait().unwrap().success());
    // Another guest is not blocked by it.
    let o = out(manager(&sim, &cfg, &["status", "900"]).env("PHOENIX_HOST_LOCK_HELD", "1"));
    assert!(o.status.success(), "{}", stderr(&o));
}

/// Attempts of the faulted `pct create 900` in the log, with their exit codes.
fn create_attempts(sim: &Sim) -> Vec<i64> {
    sim.invocations()
        .iter()
        .filter(|c| c["tool"] == "pct" && c["argv"][0] == "create" && c["argv"][1] == "900")
        .map(|c| c["exit_code"].as_i64().unwrap())
        .collect()
}

#[test]
fn a_proxmox_lock_timeout_is_retried_with_backoff_and_the_run_succeeds() {
    let sim = fresh();
    let cfg = config_with(
        sim.tmp.path(),
        json!({ "pve_lock_retries": 2, "pve_lock_backoff_ms": 50 }),
    );
    let rule = |nth: Option<u64>| {
        let mut r = json!({ "tool": "pct", "command": "create", "vmid": 900, "exit_code": 255, "message": LOCK_MSG });
        if let Some(n) = nth {
            r["nth"] = json!(n);
        }
        r
    };
    // The first two attempts time out, the third (the second retry) goes through. (Each rule
    // counts the calls it sees; the first fires on call 1, the second sees calls 2.. only.)
    set_faults(&sim, &json!({ "rules": [rule(Some(1)), rule(Some(1))] }));
    let o = out(&mut phoenix_at(&sim, &cfg, &["create", "900"]));
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert_eq!(
        create_attempts(&sim),
        vec![255, 255, 0],
        "two retries logged"
    );
    assert!(
        err.contains("retry 1/2") && err.contains("retry 2/2"),
        "{err}"
    );
}

#[test]
fn a_proxmox_lock_timeout_is_given_up_after_the_configured_retries() {
    let sim = fresh();
    let cfg = config_with(
        sim.tmp.path(),
        json!({ "pve_lock_retries": 2, "pve_lock_backoff_ms": 50 }),
    );
    set_faults(
        &sim,
        &json!({ "rules": [{ "tool": "pct", "command": "create", "vmid": 900, "exit_code": 255, "message": LOCK_MSG }] }),
    );
    let o = out(&mut phoenix_at(&sim, &cfg, &["create", "900"]));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        create_attempts(&sim),
        vec![255, 255, 255],
        "1 attempt + 2 retries"
    );
    assert!(
        names_guest_and_step(&err, Some(900)) && err.contains("got timeout"),
        "{err}"
    );
    // A later run without the contention converges.
    set_faults(&sim, &json!({}));
    let o = out(&mut phoenix_at(&sim, &cfg, &["create", "900"]));
    assert!(o.status.success(), "{}", stderr(&o));
}
