//! Interruption and kills (docs/reliability.md, "Interruption" and "Atomic writes").
//!
//! `phoenix LetsGo` of the upstream fixture runs with slow simulated calls; once the invocation
//! log shows the run is mid-way, the test signals it. SIGINT/SIGTERM: no new guest starts, the
//! signal reaches the running managers, the summary lists completed/interrupted/not started
//! guests, the exit code is 130/143. SIGKILL of one manager (a crash, the OOM killer): the run
//! fails naming the guest, every state file still parses, and a re-run converges. In all cases
//! the re-run ends in the same state as a clean run.

#[path = "reliability_common.rs"]
mod common;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::*;
use phoenix_tests::{stderr, Sim};
use serde_json::{json, Value};

const LIMIT: Duration = Duration::from_secs(300);

fn spawn_lets_go(sim: &Sim, latency: Value) -> (Child, usize) {
    set_faults(sim, &json!({ "latency_ms": latency }));
    let before = sim.invocations().len();
    let child = lets_go_cmd(sim, 2, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, before)
}

/// `kill -<sig> -- <target>` (a negative target is a process group).
fn kill(sig: &str, target: &str) {
    let st = std::process::Command::new("kill")
        .args([format!("-{sig}"), "--".into(), target.into()])
        .status()
        .unwrap();
    assert!(st.success(), "kill -{sig} {target}");
}

fn calls_since(sim: &Sim, before: usize) -> Vec<Value> {
    let all = sim.invocations();
    all.get(before..).map(<[Value]>::to_vec).unwrap_or_default()
}

fn is(call: &Value, tool: &str, sub: &str) -> bool {
    call["tool"] == tool && call["argv"][0] == sub
}

/// Guest IDs a summary line such as `not started: 901 902` lists.
fn listed(err: &str, what: &str) -> Vec<String> {
    err.lines()
        .find_map(|l| l.strip_prefix(&format!("{what}: ")))
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

/// Re-runs `LetsGo` without faults and requires the clean run's final state.
fn rerun_converges(sim: &Sim) {
    set_faults(sim, &json!({}));
    let o = lets_go(sim, 4, &[]);
    assert!(o.status.success(), "re-run failed:\n{}", stderr(&o));
    let d = normalized_dump(sim);
    let differs = state_diff(&clean().dump, &d);
    assert!(
        differs.is_empty(),
        "re-run state differs from a clean run:\n{}",
        differs.join("\n")
    );
    let mut problems = check_dump(&d);
    problems.extend(check_state(&sim.dir()));
    assert!(problems.is_empty(), "{problems:#?}");
}

fn interrupt(sig: &str, code: i32) {
    clean();
    let sim = fresh();
    let (child, before) = spawn_lets_go(
        &sim,
        json!({ "pct clone": 300, "pct start": 300, "qm start": 300 }),
    );
    // Mid-way: the base template is done and its clones are under way.
    wait_for("the first pct clone", LIMIT, || {
        calls_since(&sim, before)
            .iter()
            .any(|c| is(c, "pct", "clone"))
    });
    kill(sig, &child.id().to_string());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    let interrupted = listed(&err, "interrupted");
    let not_started = listed(&err, "not started");
    assert!(!interrupted.is_empty(), "some manager was running:\n{err}");
    assert!(
        !not_started.is_empty(),
        "the run was stopped mid-way:\n{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("Summary: ")
            && l.contains(&format!("{} interrupted", interrupted.len()))
            && l.contains(&format!("{} not started", not_started.len()))),
        "{err}"
    );
    // The summary tells the truth: a guest none of whose managers was started (no `==>` line)
    // made no call at all.
    let calls = calls_since(&sim, before);
    for id in &not_started {
        let spawned = err
            .lines()
            .any(|l| l.starts_with("==> ") && l.split_whitespace().any(|w| w == id));
        let touched = calls.iter().any(|c| {
            c["argv"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == id.as_str())
        });
        assert!(
            spawned || !touched,
            "guest {id}: no manager was started for it, yet it was worked on"
        );
    }
    let spawned = err.lines().filter(|l| l.starts_with("==> ")).count();
    assert!(
        spawned < 2 * 19 - 1,
        "scheduling went on after the signal:\n{err}"
    );
    let mut problems = check_state(&sim.dir());
    problems.extend(check_dump(&sim.dump()));
    assert!(
        problems.is_empty(),
        "state after the interruption: {problems:#?}"
    );
    rerun_converges(&sim);
}

#[test]
fn sigint_stops_scheduling_reaches_managers_exits_130_and_a_rerun_converges() {
    interrupt("INT", 130);
}

#[test]
fn sigterm_stops_scheduling_reaches_managers_exits_143_and_a_rerun_converges() {
    interrupt("TERM", 143);
}

/// The managers `phoenix` started (its direct children) whose command line names `id`.
fn manager_of(phoenix: u32, id: &str) -> Option<i32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split after the last ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid != Some(phoenix) {
            continue;
        }
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.iter().any(|a| a == id) {
            return Some(pid);
        }
    }
    None
}

/// Kills the manager of guest `id` (and its process group: the tool it runs) with SIGKILL
/// right after the invocation log shows `trigger`, a call after which that manager writes files
/// (conf lines, firewall file, snippets, its record).
fn kill_manager_after(id: &str, trigger: impl Fn(&Value) -> bool) {
    let sim = fresh();
    let (child, before) = spawn_lets_go(
        &sim,
        json!({ "pct set": 200, "qm set": 200, "pct snapshot": 200, "qm snapshot": 200, "pct start": 200 }),
    );
    wait_for("the trigger call", LIMIT, || {
        calls_since(&sim, before).iter().any(&trigger)
    });
    let pid =
        manager_of(child.id(), id).unwrap_or_else(|| panic!("manager of {id} is not running"));
    kill("KILL", &format!("-{pid}"));
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert!(
        !out.status.success(),
        "a killed manager must fail the run:\n{err}"
    );
    assert!(listed(&err, "failed").contains(&id.to_string()), "{err}");
    assert!(
        err.contains("signal 9"),
        "the failure says how the manager ended:\n{err}"
    );
    // Every file parses. A temp file may be left beside one: SIGKILL can land between its
    // creation and the rename, and nothing runs after SIGKILL; the re-run's write of that file
    // sweeps it (`rerun_converges` checks the state again).
    let problems: Vec<String> = check_state(&sim.dir())
        .into_iter()
        .filter(|p| !p.ends_with("temp file left behind"))
        .collect();
    assert!(problems.is_empty(), "state after the kill: {problems:#?}");
    rerun_converges(&sim);
}

#[test]
fn container_manager_killed_while_configuring_leaves_parseable_files_and_a_rerun_converges() {
    clean();
    // 950: `pct set` (net0 firewall=1, mount point) is followed by raw lxc lines and the .fw file.
    kill_manager_after("950", |c| is(c, "pct", "set") && c["argv"][1] == "950");
}

#[test]
fn vm_manager_killed_after_writing_snippets_leaves_parseable_files_and_a_rerun_converges() {
    clean();
    // 8001: snippets are written, then `qm set --cicustom`; kill while later steps run.
    kill_manager_after("8001", |c| {
        is(c, "qm", "set") && c["argv"][1] == "8001" && c["argv"].to_string().contains("cicustom")
    });
}
