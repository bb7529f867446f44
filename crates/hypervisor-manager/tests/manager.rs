//! hypervisor-manager against the simulator: PHX-HM-01..04, full set-up of the example and the
//! upstream config, idempotent re-runs, dry run, ZFS disk safety, step failures.

mod common;

use common::*;

const STEPS: &[&str] = &[
    "initial_setup",
    "zfs",
    "vfio",
    "nvidia",
    "firewall",
    "nfs",
    "users",
    "samba",
    "shared_resources",
    "apparmor",
    "tunables",
];

#[test]
fn phx_hm_01_invalid_verb() {
    let o = run(cmd("hypervisor-manager").arg("foobar"));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("Error: Invalid verb 'foobar'"), "{err}");
}

#[test]
fn bash_era_form_without_a_verb_names_setup() {
    let o = run(cmd("hypervisor-manager").args(["--config", "/nonexistent.json", "--wipe-disks"]));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("Error: Missing verb; the Bash-era `hypervisor-manager.sh --config FILE [--wipe-disks]` is now `hypervisor-manager setup"),
        "{err}"
    );
}

#[test]
fn phx_hm_02_setup_runs_every_step_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = example_config(dir.path());
    let sim = dir.path().join("sim");
    let o = setup(&sim, &cfg, &[]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let mut last = 0;
    for (i, s) in STEPS.iter().enumerate() {
        let header = format!("==> setup step {}/{}: {s}\n", i + 1, STEPS.len());
        let at = err
            .find(&header)
            .unwrap_or_else(|| panic!("no '{header}' in {err}"));
        assert!(at >= last, "step {s} out of order");
        last = at;
    }
    let calls = calls(&sim);
    let has = |tool: &str, first: &str| {
        calls
            .iter()
            .any(|(t, a, _)| t == tool && a.first().is_some_and(|x| x == first))
    };
    assert!(
        has("zpool", "create")
            && has("zfs", "create")
            && has("exportfs", "-ra")
            && has("smbpasswd", "-a")
    );
    assert!(
        has("apparmor_parser", "-r") && has("timedatectl", "set-timezone") && has("useradd", "-m")
    );
    let marker = sim.join("host/usr/local/phoenix_hypervisor/lib/.phoenix_hypervisor_initialized");
    assert!(std::fs::read_to_string(marker).is_ok_and(|m| m.contains("steps=initial_setup,zfs,")));
    let fw = std::fs::read_to_string(sim.join("etc/pve/firewall/cluster.fw")).unwrap_or_default();
    assert!(
        fw.contains("enable: 1\npolicy_in: DROP\npolicy_out: ACCEPT\n"),
        "{fw}"
    );
    assert!(sim.join("host/etc/apparmor.d/lxc-phoenix-v2").is_file());
}

#[test]
fn second_setup_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = example_config(dir.path());
    let sim = dir.path().join("sim");
    assert!(setup(&sim, &cfg, &[]).status.success());
    std::fs::write(sim.join("invocations.jsonl"), "").expect("truncate log");
    let o = setup(&sim, &cfg, &[]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let changing: Vec<_> = calls(&sim).into_iter().filter(|c| c.2).collect();
    assert!(changing.is_empty(), "second run changed: {changing:?}");
    assert!(!calls(&sim).is_empty(), "the second run must still probe");
    assert!(
        !err.contains("wrote ") && !out.contains("[dry-run]"),
        "{err}"
    );
}

#[test]
fn upstream_fixture_config_sets_up_and_converges() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = fixture_config(dir.path());
    let sim = dir.path().join("sim");
    let o = setup(&sim, &cfg, &[]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    // The upstream file keeps its firewall block in shared_volumes.
    let fw = std::fs::read_to_string(sim.join("etc/pve/firewall/cluster.fw")).unwrap_or_default();
    assert!(fw.contains("policy_in: DROP"), "{fw}");
    assert!(sim
        .join("host/mnt/pve/fastData/shared-bulk-data/vllm_models")
        .is_dir());
    let pools: Vec<_> = calls(&sim)
        .into_iter()
        .filter(|(t, a, _)| t == "zpool" && a[0] == "create")
        .collect();
    assert_eq!(pools.len(), 2, "{pools:?}");
    // Each step that changed the fresh host says so with its first change (its helpers list
    // every change); the others are ok.
    let changed = |err: &str| {
        err.lines()
            .filter(|l| l.starts_with("host: setup "))
            .count()
    };
    // 10 scripts, and the host's address (`network.interfaces`, planned step `setup network`).
    assert_eq!(changed(&err), 11, "{err}");
    assert!(err.contains("host: setup network: "), "{err}");
    assert!(err.contains("host: setup zfs: zpool create"), "{err}");
    std::fs::write(sim.join("invocations.jsonl"), "").expect("truncate log");
    let o = setup(&sim, &cfg, &[]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        calls(&sim).iter().all(|c| !c.2),
        "second run of the fixture changed something"
    );
    assert_eq!(changed(&err), 0, "{err}");
}

#[test]
fn dry_run_changes_nothing_and_prints_the_changes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = example_config(dir.path());
    let sim = dir.path().join("sim");
    let o = setup(&sim, &cfg, &["--dry-run"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        out.contains("[dry-run] zpool create -o ashift=12 tank mirror"),
        "{out}"
    );
    assert!(
        calls(&sim).iter().all(|c| !c.2),
        "dry run changed something"
    );
    assert!(!sim
        .join("host/usr/local/phoenix_hypervisor/lib/.phoenix_hypervisor_initialized")
        .exists());
    assert!(!sim.join("etc/pve/firewall/cluster.fw").exists());
}

/// A config that runs only `steps`.
fn only_steps(dir: &std::path::Path, steps: &[&str]) -> std::path::PathBuf {
    let cfg = example_config(dir);
    edit_config(&cfg, |v| v["setup_sequence"] = serde_json::json!(steps));
    cfg
}

#[test]
fn zfs_refuses_a_partitioned_disk_unless_wipe_disks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let cfg = only_steps(dir.path(), &["vfio"]);
    assert!(
        setup(&sim, &cfg, &[]).status.success(),
        "prepare the simulated node"
    );
    let disk = "/dev/disk/by-id/nvme-EXAMPLE_SSD_2TB_SERIAL0002";
    let mark = std::process::Command::new(sim.join("bin/sgdisk"))
        .args(["--new=1:0:0", disk])
        .env("PVE_SIM_ROOT", &sim)
        .status()
        .expect("sgdisk");
    assert!(mark.success());
    edit_config(&cfg, |v| v["setup_sequence"] = serde_json::json!(["zfs"]));

    let o = setup(&sim, &cfg, &[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("refusing to create pool 'tank' on {disk}")),
        "{err}"
    );
    assert!(
        err.contains("it holds 1 partition(s)")
            && err.contains("gpt partition table")
            && err.contains("--wipe-disks"),
        "{err}"
    );
    assert!(
        err.contains("Error: setup step 'zfs' failed (exit 1)"),
        "{err}"
    );
    assert!(
        calls(&sim)
            .iter()
            .all(|(t, a, _)| !(t == "zpool" && a[0] == "create")),
        "pool created on a used disk"
    );

    let o = setup(&sim, &cfg, &["--wipe-disks"]);
    let (_, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let calls = calls(&sim);
    assert!(calls
        .iter()
        .any(|(t, a, _)| t == "wipefs" && a == &["-a", disk]));
    assert!(calls
        .iter()
        .any(|(t, a, _)| t == "sgdisk" && a == &["--zap-all", disk]));
    assert!(calls
        .iter()
        .any(|(t, a, _)| t == "zpool" && a[0] == "create"));
}

#[test]
fn unknown_step_is_reported_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = dir.path().join("sim");
    let cfg = only_steps(dir.path(), &["initial_setup", "no_such_step"]);
    let o = setup(&sim, &cfg, &[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        err.contains("set-up step 'no_such_step' has no script"),
        "{err}"
    );
    assert!(!err.contains("==> setup step"), "{err}");
}

/// A scripts folder whose steps and runner are tiny stand-in scripts.
fn fake_scripts(dir: &std::path::Path, steps: &[(&str, i32)]) -> std::path::PathBuf {
    let s = dir.join("scripts");
    std::fs::create_dir_all(s.join("hypervisor_setup")).expect("mkdir");
    std::fs::create_dir_all(s.join("tests")).expect("mkdir");
    for (name, code) in steps {
        let body = format!("#!/usr/bin/env bash\necho \"{name} ran wipe=${{PHOENIX_WIPE_DISKS:-0}}\" >> \"$(dirname \"$0\")/../ran.log\"\nexit {code}\n");
        std::fs::write(
            s.join(format!("hypervisor_setup/hypervisor_feature_{name}.sh")),
            body,
        )
        .expect("write step");
    }
    let runner = "#!/usr/bin/env bash\nprintf '%s\\n' \"$#:$*\" > \"$(dirname \"$0\")/../runner_args\"\necho 'PASS fake: one'\necho '1 passed, 0 failed'\n";
    std::fs::write(s.join("tests/hypervisor_test_runner.sh"), runner).expect("write runner");
    s
}

#[test]
fn setup_stops_at_the_first_failing_step() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = fake_scripts(dir.path(), &[("a", 0), ("b", 3), ("c", 0)]);
    let cfg = only_steps(dir.path(), &["a", "b", "c"]);
    let o = run(cmd("hypervisor-manager")
        .args(["setup", "--wipe-disks", "--config"])
        .arg(&cfg)
        .env("PHOENIX_SCRIPTS_DIR", &scripts)
        .env("PHOENIX_HOST_ROOT", dir.path().join("root"))
        .env("PHOENIX_LOCK_FILE", dir.path().join("lock")));
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("Error: setup step 'b' failed (exit 3)"),
        "{err}"
    );
    let ran = std::fs::read_to_string(dir.path().join("scripts/ran.log")).unwrap_or_default();
    assert_eq!(ran, "a ran wipe=1\nb ran wipe=1\n");
    assert!(!dir
        .path()
        .join("root/usr/local/phoenix_hypervisor/lib/.phoenix_hypervisor_initialized")
        .exists());
}

fn test_verb(extra: &[&str]) -> (std::process::Output, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let scripts = fake_scripts(dir.path(), &[]);
    let cfg = example_config(dir.path());
    let o = run(cmd("hypervisor-manager")
        .arg("test")
        .args(extra)
        .arg("--config")
        .arg(&cfg)
        .env("PHOENIX_SCRIPTS_DIR", &scripts));
    let args = std::fs::read_to_string(dir.path().join("scripts/runner_args")).unwrap_or_default();
    (o, args)
}

#[test]
fn phx_hm_03_test_calls_the_runner_with_the_default_suite() {
    let (o, args) = test_verb(&[]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        args, "0:\n",
        "the runner gets no --suite and runs every suite"
    );
    assert!(text(&o).0.contains("1 passed, 0 failed"));
}

#[test]
fn phx_hm_04_test_passes_the_suite_on() {
    let (o, args) = test_verb(&["--suite", "smoke"]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(args, "2:--suite smoke\n");
}

#[test]
fn host_tests_pass_on_a_set_up_simulated_host() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = example_config(dir.path());
    let sim = dir.path().join("sim");
    let before = run(cmd("hypervisor-manager")
        .arg("test")
        .arg(format!("--sim={}", sim.display()))
        .arg("--config")
        .arg(&cfg));
    assert_eq!(
        before.status.code(),
        Some(1),
        "tests must fail on a host that is not set up"
    );
    assert!(
        text(&before)
            .0
            .contains("FAIL smoke: Phoenix Hypervisor Tests"),
        "{}",
        text(&before).0
    );
    assert!(setup(&sim, &cfg, &[]).status.success());
    let o = run(cmd("hypervisor-manager")
        .args(["test", "--suite", "smoke"])
        .arg(format!("--sim={}", sim.display()))
        .arg("--config")
        .arg(&cfg));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("PASS smoke: Phoenix Hypervisor Tests\n1 passed, 0 failed\n"),
        "{out}"
    );
    let bad = run(cmd("hypervisor-manager")
        .args(["test", "--suite", "nope"])
        .arg(format!("--sim={}", sim.display()))
        .arg("--config")
        .arg(&cfg));
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad).1.contains("no test suite 'nope'"),
        "{}",
        text(&bad).1
    );
}
