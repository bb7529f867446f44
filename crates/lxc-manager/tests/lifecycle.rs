//! PHX-LXC-01..07 and the full `create` of a clone chain from the fixture config, against the
//! simulator.

mod common;

use common::{line, since, Sim};

const CHAIN: &[&str] = &["900", "901", "920", "953", "950"];

#[test]
fn phx_lxc_01_missing_verb_target_and_bad_values() {
    let s = Sim::new();
    let o = s.run(&["create"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: Missing target ID"));
    let o = s.run(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: Missing verb"));
    let o = s.run(&["explode", "950"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Invalid verb 'explode'"));
    let o = s.run(&["create", "12"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Invalid target ID '12'"));
    let o = s.run(&["create", "4242"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Error: container 4242: config: not defined")
    );
}

#[test]
fn phx_lxc_02_03_chain_is_configured_then_converged_with_zero_changes() {
    let s = Sim::new();
    s.create_chain(CHAIN);
    let c = s.conf("950");
    assert_eq!(line(&c, "memory"), Some("72000"));
    assert_eq!(line(&c, "cores"), Some("6"));
    assert_eq!(line(&c, "hostname"), Some("vllm-qwen2.5-7b-awq"));
    assert_eq!(line(&c, "onboot"), Some("1"));
    assert_eq!(line(&c, "startup"), Some("order=3,up=5"));
    assert_eq!(line(&c, "unprivileged"), Some("1"));
    let net = line(&c, "net0").unwrap();
    for part in [
        "name=eth0",
        "bridge=vmbr0",
        "hwaddr=52:54:00:67:89:B0",
        "ip=10.0.0.150/24",
        "gw=10.0.0.1",
        "firewall=1",
    ] {
        assert!(net.split(',').any(|p| p == part), "net0 {net} lacks {part}");
    }
    assert!(line(&c, "rootfs").unwrap().ends_with("size=128G"));
    assert!(line(&c, "mp0").unwrap().contains("mp=/vllm_models"));
    assert!(line(&c, "mp0").unwrap().contains("size=50G"));
    assert_eq!(c.matches("lxc.apparmor.profile: unconfined").count(), 1);
    let devs: Vec<&str> = c
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter(|l| l.starts_with("dev"))
        .collect();
    assert_eq!(
        devs.len(),
        4,
        "GPU 0 plus nvidiactl, nvidia-uvm, nvidia-uvm-tools: {devs:?}"
    );
    assert!(
        devs.iter().any(|d| d.ends_with(" /dev/nvidia0"))
            && !devs.iter().any(|d| d.ends_with(" /dev/nvidia1"))
    );
    let fw = std::fs::read_to_string(s.dir().join("etc/pve/firewall/950.fw")).unwrap();
    assert_eq!(
        fw,
        "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -source 10.0.0.153 -p tcp -dport 8000\n"
    );
    // 920: grown from 901's 32G, both GPUs; templates carry their snapshots.
    let c920 = s.conf("920");
    assert!(line(&c920, "rootfs").unwrap().ends_with("size=128G"));
    assert!(c920.contains(" /dev/nvidia1\n"));
    assert!(
        s.conf("900").contains("\n[pre-configured]\n")
            && s.conf("900").contains("\n[final-form]\n")
    );
    assert!(c920.contains("\n[pre-configured]\n"));
    let c902_features = line(&s.conf("953"), "features").unwrap().to_string();
    assert_eq!(c902_features, "nesting=1");
    // The NVIDIA check ran for 920 although it has two features.
    assert!(s.script_log().contains("nvidia-check 920"));

    // Second run: zero mutating calls, one `pct status` each, conf files byte-identical.
    let before: Vec<String> = CHAIN.iter().map(|i| s.conf(i)).collect();
    let log_before = s.script_log();
    let n = s.calls().len();
    for id in CHAIN {
        let err = s.ok(&["create", id]);
        assert!(err.contains("already in the desired state"), "{err}");
    }
    let after = since(&s.calls(), n);
    assert_eq!(
        after.iter().filter(|(_, m)| *m).count(),
        0,
        "mutating calls on a converged host: {after:?}"
    );
    assert_eq!(
        after.len(),
        CHAIN.len(),
        "one read per container: {after:?}"
    );
    let now: Vec<String> = CHAIN.iter().map(|i| s.conf(i)).collect();
    assert_eq!(before, now);
    assert_eq!(
        log_before,
        s.script_log(),
        "no feature, app or health script on a converged container"
    );
}

#[test]
fn phx_lxc_04_05_06_start_stop_delete() {
    let s = Sim::new();
    s.create_chain(&["900", "953"]);
    let n = s.calls().len();
    s.ok(&["stop", "953"]);
    assert!(s.ok(&["stop", "953"]).contains("already stopped"));
    s.ok(&["start", "953"]);
    assert!(s.ok(&["start", "953"]).contains("already running"));
    let argv: Vec<String> = since(&s.calls(), n)
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(a, _)| a.join(" "))
        .collect();
    assert_eq!(argv, vec!["pct stop 953", "pct start 953"]);
    let o = s.run(&["status", "953", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(v["name"], "Nginx-VscodeRag");
    assert_eq!(v["sync"], "in_sync");
    assert_eq!(v["drift"], serde_json::json!([]));
    let o = s.run(&["status", "953"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "status: running\nname: Nginx-VscodeRag\ndrift: in sync\n"
    );
    // 900 is a template (cloned from, not started at boot): `start` refuses once it is stopped.
    s.ok(&["stop", "900"]);
    let o = s.run(&["start", "900"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Error: container 900: start: is a template")
    );
    // delete refuses a clone source, then stops and destroys.
    let o = s.run(&["delete", "900"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("cloned from it"));
    let n = s.calls().len();
    s.ok(&["delete", "953"]);
    let argv: Vec<String> = since(&s.calls(), n)
        .into_iter()
        .filter(|(_, m)| *m)
        .map(|(a, _)| a.join(" "))
        .collect();
    assert_eq!(argv, vec!["pct stop 953", "pct destroy 953 --purge 1"]);
    assert!(!s.dir().join("etc/pve/lxc/953.conf").exists());
    assert!(!s
        .dir()
        .join("host/usr/local/phoenix_hypervisor/lib/guests/953.json")
        .exists());
    assert!(s.ok(&["delete", "953"]).contains("does not exist"));
}

#[test]
fn phx_lxc_07_test_calls_test_runner() {
    let s = Sim::new();
    let o = s.run(&["test", "950", "--suite", "health_checks"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "dummy_fail fails on purpose");
    assert!(
        out.contains("PASS health_checks/Dummy Pass\n")
            && out.contains("FAIL health_checks/Dummy Fail\n"),
        "{out}"
    );
    assert!(out.contains("1 passed, 1 failed"));
    // The integration suite's scripts are not in this scripts folder: named before anything runs.
    let o = s.run(&["test", "950"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("Error: container 950: preflight: script")
            && err.contains("vllm/test_vllm_context_window.py does not exist"),
        "{err}"
    );
    assert!(
        String::from_utf8_lossy(&s.run(&["test", "950", "--suite", "smoke"]).stderr)
            .contains("has no test suite 'smoke'")
    );
}

#[test]
fn clone_without_source_snapshot_names_the_fix() {
    let s = Sim::new();
    let o = s.run(&["create", "920"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: container 920: clone: container 920 needs container 901; run `phoenix create 901` first"));
    s.ok(&["create", "900"]);
    assert!(s
        .pct(&["delsnapshot", "900", "pre-configured"])
        .status
        .success());
    let o = s.run(&["create", "901"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("Error: container 901: clone: container 901 needs 900's snapshot 'pre-configured'; run `phoenix create 900` first"));
}

#[test]
fn dry_run_prints_and_changes_nothing() {
    let s = Sim::new();
    let o = s.run(&["create", "900", "--dry-run"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("CT 900: will create: container 900 does not exist\n    $ pct create 900 fastData-shared-iso:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst"),
        "{err}"
    );
    assert!(
        err.contains("CT 900: then: configure, disk, start, features"),
        "{err}"
    );
    assert!(err.contains("planned=2"), "{err}");
    assert!(s.calls().iter().all(|(_, m)| !m));
    assert!(!s.dir().join("etc/pve/lxc/900.conf").exists());
    let o = s.run(&["create", "950", "--dry-run"]);
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(
        "$ pct clone 920 950 --full 1 --hostname vllm-qwen2.5-7b-awq --snapname pre-configured --storage quickOS-lxc-disks"
    ));
    // No script ran for the plan.
    assert_eq!(s.script_log(), "");
}
