//! Regression tests for the old tool's bugs, and fault injection: each step's failure names the
//! container and the step, and a re-run after the fault is cleared converges to exactly the state
//! of a clean run.

mod common;

use common::{since, Sim};

fn mutating(s: &Sim, from: usize) -> Vec<String> {
    since(&s.calls(), from)
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(a, _)| a.join(" "))
        .collect()
}

#[test]
fn drift_is_fixed_with_one_minimal_set_and_no_resize() {
    let s = Sim::new();
    s.create_chain(&["900", "953"]);
    assert!(
        s.pct(&["set", "953", "--memory", "1024"]).status.success(),
        "configured: 4096"
    );
    let n = s.calls().len();
    let err = s.ok(&["create", "953"]);
    let m = mutating(&s, n);
    // The drift is fixed with exactly one change: the features are recorded with this config,
    // so a host-side fix does not re-run them.
    assert_eq!(m, vec!["pct set 953 --memory 4096"], "{m:?}");
    assert!(err.contains("~ memory: 1024 -> 4096"), "{err}");
    assert!(err.contains("953      ok=4 changed=1 failed=0"), "{err}");
}

#[test]
fn volumes_are_matched_by_mount_path_not_index() {
    let s = Sim::new();
    s.create_chain(&["900", "901", "920", "953", "950"]);
    let p = s.dir().join("etc/pve/lxc/950.conf");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("\nmp0: ", "\nmp7: ", 1);
    std::fs::write(&p, &text).unwrap();
    let n = s.calls().len();
    s.ok(&["create", "950"]);
    assert_eq!(
        mutating(&s, n),
        Vec::<String>::new(),
        "no new 50 GB volume, no duplicate mp"
    );
    assert_eq!(std::fs::read_to_string(&p).unwrap(), text);
}

#[test]
fn raw_lines_and_gpus_are_not_duplicated_on_reconfigure() {
    let s = Sim::new();
    s.create_chain(&["900", "901"]);
    let before = s.conf("901");
    let n = s.calls().len();
    s.ok(&["reconfigure", "901"]);
    assert_eq!(s.conf("901"), before);
    assert_eq!(
        mutating(&s, n),
        Vec::<String>::new(),
        "reconfigure changed nothing on the host side"
    );
    assert!(
        s.script_log().matches("nvidia 901").count() >= 2,
        "reconfigure re-ran the features"
    );
}

#[test]
fn converge_reruns_recorded_features_and_changes_nothing_else() {
    let s = Sim::new();
    s.create_chain(&["900", "953"]);
    let before = s.conf("953");
    let runs = s.script_log().matches("base_setup 953").count();
    let n = s.calls().len();
    let o = s.run_env(&["create", "953"], &[("PHOENIX_CONVERGE", "1")]);
    assert!(o.status.success());
    assert_eq!(s.script_log().matches("base_setup 953").count(), runs + 1);
    assert!(
        mutating(&s, n)
            .iter()
            .all(|c| c.starts_with("pct exec 953") || c.starts_with("pct push 953")),
        "only the application script's calls"
    );
    assert_eq!(s.conf("953"), before);
}

#[test]
fn start_is_retried_by_polling_the_status() {
    let s = Sim::new();
    s.create_chain(&["900", "953"]);
    s.ok(&["stop", "953"]);
    s.faults(r#"{"rules":[{"tool":"pct","command":"start","vmid":953,"nth":1,"message":"startup for container '953' failed"}]}"#);
    let n = s.calls().len();
    let err = s.ok(&["create", "953"]);
    assert!(err.contains("start attempt 1/3 failed"), "{err}");
    let calls: Vec<String> = since(&s.calls(), n)
        .into_iter()
        .map(|(a, _)| a[..2].join(" "))
        .collect();
    let starts: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "pct start")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(starts.len(), 2, "{calls:?}");
    assert!(
        calls[starts[0]..starts[1]]
            .iter()
            .any(|c| c == "pct status"),
        "waited on the status between attempts: {calls:?}"
    );
    assert_eq!(
        calls[starts[1] + 1],
        "pct status",
        "confirmed running by status: {calls:?}"
    );
}

struct Case {
    chain: &'static [&'static str],
    target: &'static str,
    step: &'static str,
    faults: Option<&'static str>,
    host_flag: Option<&'static str>,
}

fn check_case(c: &Case, clean: &str) {
    let s = Sim::new();
    let (done, last) = c.chain.split_at(c.chain.len() - 1);
    s.create_chain(done);
    assert_eq!(last[0], c.target);
    s.ok(&["status", c.target]); // initialise the node before writing faults
    if let Some(f) = c.faults {
        s.faults(f);
    }
    if let Some(h) = c.host_flag {
        s.touch_host(h);
    }
    let o = s.run(&["create", c.target]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{} should fail: {err}", c.step);
    let want = format!("Error: container {}: {}: ", c.target, c.step);
    assert!(err.contains(&want), "expected `{want}` in:\n{err}");
    s.faults("{}");
    if let Some(h) = c.host_flag {
        std::fs::remove_file(s.dir().join("host").join(h)).unwrap();
    }
    s.ok(&["create", c.target]);
    assert_eq!(
        s.dump(),
        clean,
        "re-run after a {} fault differs from a clean run",
        c.step
    );
}

fn clean_dump(chain: &[&str]) -> String {
    let s = Sim::new();
    s.create_chain(chain);
    s.dump()
}

#[test]
fn each_step_failure_is_named_and_a_rerun_converges() {
    let c953: &[&str] = &["900", "953"];
    let clean = clean_dump(c953);
    let cases = [
        Case {
            chain: c953,
            target: "953",
            step: "clone",
            faults: Some(r#"{"rules":[{"tool":"pct","command":"clone"}]}"#),
            host_flag: None,
        },
        Case {
            chain: c953,
            target: "953",
            step: "configure",
            faults: Some(r#"{"rules":[{"tool":"pct","command":"set","vmid":953}]}"#),
            host_flag: None,
        },
        Case {
            chain: c953,
            target: "953",
            step: "features",
            faults: None,
            host_flag: Some("fail-base_setup"),
        },
        Case {
            chain: c953,
            target: "953",
            step: "application",
            faults: Some(r#"{"rules":[{"tool":"pct","command":"push","vmid":953}]}"#),
            host_flag: None,
        },
        Case {
            chain: c953,
            target: "953",
            step: "start",
            faults: Some(r#"{"rules":[{"tool":"pct","command":"start","vmid":953}]}"#),
            host_flag: None,
        },
    ];
    for c in &cases {
        check_case(c, &clean);
    }
}

#[test]
fn template_steps_failures_are_named_and_a_rerun_converges() {
    let c900: &[&str] = &["900"];
    let clean = clean_dump(c900);
    for c in [
        Case {
            chain: c900,
            target: "900",
            step: "create",
            faults: Some(r#"{"rules":[{"tool":"pct","command":"create"}]}"#),
            host_flag: None,
        },
        Case {
            chain: c900,
            target: "900",
            step: "template",
            faults: Some(r#"{"rules":[{"tool":"pveam","command":"download"}]}"#),
            host_flag: None,
        },
        Case {
            chain: c900,
            target: "900",
            step: "template snapshot",
            faults: Some(
                r#"{"rules":[{"tool":"pct","command":"snapshot","argv_contains":"pre-configured"}]}"#,
            ),
            host_flag: None,
        },
    ] {
        check_case(&c, &clean);
    }
    let c920: &[&str] = &["900", "901", "920"];
    let clean = clean_dump(c920);
    for c in [
        Case {
            chain: c920,
            target: "920",
            step: "disk",
            faults: Some(r#"{"rules":[{"tool":"pct","command":"resize"}]}"#),
            host_flag: None,
        },
        Case {
            chain: c920,
            target: "920",
            step: "health check",
            faults: None,
            host_flag: Some("fail-nvidia-check"),
        },
    ] {
        check_case(&c, &clean);
    }
}

#[test]
fn test_runner_is_shellcheck_clean() {
    let script = common::repo().join("scripts/tests/test_runner.sh");
    let o = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    match std::process::Command::new("shellcheck")
        .arg(&script)
        .output()
    {
        Ok(o) => assert!(
            o.status.success(),
            "shellcheck:\n{}",
            String::from_utf8_lossy(&o.stdout)
        ),
        Err(_) => eprintln!("note: shellcheck is not installed; only `bash -n` was checked"),
    }
}
