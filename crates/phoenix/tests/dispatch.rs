//! The dispatcher with stub managers that record their calls (PHOENIX-DIS-01..10, routing,
//! ordering, failure handling). Stub `pct`/`qm` answer the one bulk existence read.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::json;

const STUB_MANAGER: &str = r#"#!/bin/bash
start=$(date +%s%N)
if [ -n "${STUB_SLEEP:-}" ]; then sleep "$STUB_SLEEP"; fi
code=0
for rule in ${STUB_FAIL:-}; do
  if [ "$rule" = "$2:$1" ]; then code=7; fi
done
extra=""
if [ "${PHOENIX_CONVERGE:-}" = "1" ]; then extra=" [converge]"; fi
echo "$(basename "$0") $*${extra}|$start|$(date +%s%N)" >> "$STUB_LOG"
exit "$code"
"#;

const STUB_PCT: &str = r#"#!/bin/bash
[ "$1" = "list" ] || exit 2
printf '%-10s %-10s %-12s %-20s\n' VMID Status Lock Name
for id in ${STUB_LXC_EXISTING:-}; do printf '%-10s %-10s %-12s %-20s\n' "$id" running "" "ct$id"; done
"#;

const STUB_QM: &str = r#"#!/bin/bash
[ "$1" = "list" ] || exit 2
printf '%10s %-20s %-10s %-10s %12s %-10s\n' VMID NAME STATUS 'MEM(MB)' 'BOOTDISK(GB)' PID
for id in ${STUB_VM_EXISTING:-}; do printf '%10s %-20s %-10s %-10s %12s %-10s\n' "$id" "vm$id" stopped 2048 32.00 0; done
"#;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for (name, body) in [
            ("lxc-manager", STUB_MANAGER),
            ("vm-manager", STUB_MANAGER),
            ("hypervisor-manager", STUB_MANAGER),
            ("pct", STUB_PCT),
            ("qm", STUB_QM),
        ] {
            let p = bin.join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        // 900 template; 953 gateway (boot 1); 950 needs 953 and clones 900 (boot 3);
        // 951 clones 900 (boot 3); VM 1000 (boot 2); VM 1001 clones 1000.
        let ct = |name: &str, from: Option<u64>, boot: Option<u64>, deps: Vec<u64>| {
            let mut v = json!({ "name": name, "storage_pool": "local-zfs", "template_snapshot_name": "snap" });
            match from {
                Some(f) => v["clone_from_ctid"] = json!(f.to_string()),
                None => v["template"] = json!("local:vztmpl/ubuntu.tar.zst"),
            }
            if let Some(b) = boot {
                v["boot_order"] = json!(b);
                v["start_at_boot"] = json!(true);
            }
            if !deps.is_empty() {
                v["dependencies"] = json!(deps);
            }
            v
        };
        let lxc = json!({ "lxc_configs": {
            "900": ct("base", None, None, vec![]),
            "953": ct("gw", Some(900), Some(1), vec![]),
            "950": ct("vllm", Some(900), Some(3), vec![953]),
            "951": ct("embed", Some(900), Some(3), vec![]),
        }});
        let vms = json!({ "vm_defaults": { "template_image": "noble.img", "storage_pool": "local-zfs" }, "vms": [
            { "vmid": 1000, "name": "vm-tmpl", "boot_order": 2, "start_at_boot": true },
            { "vmid": 1001, "name": "vm-clone", "clone_from_vmid": 1000, "boot_order": 2, "start_at_boot": true }
        ]});
        let hv =
            json!({ "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" } });
        std::fs::write(dir.path().join("hv.json"), hv.to_string()).unwrap();
        std::fs::write(dir.path().join("lxc.json"), lxc.to_string()).unwrap();
        std::fs::write(dir.path().join("vm.json"), vms.to_string()).unwrap();
        Env { dir }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_phoenix"));
        c.args(args);
        let path = format!(
            "{}:{}",
            self.path("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        c.env("PATH", path)
            .env("PHOENIX_MANAGER_DIR", self.path("bin"))
            .env("PHOENIX_CONFIG", self.path("hv.json"))
            .env("PHOENIX_LOCK_FILE", self.path("phoenix.lock"))
            // `status` reads conf files for drift: never the real /etc/pve.
            .env("PHOENIX_PVE_DIR", self.path("pve"))
            .env("STUB_LOG", self.path("calls.log"))
            .env_remove("PHOENIX_SIM")
            .env_remove("RUST_LOG");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Recorded manager calls, in completion order, without timings.
    fn calls(&self) -> Vec<String> {
        self.timed().into_iter().map(|(c, _, _)| c).collect()
    }

    fn timed(&self) -> Vec<(String, u128, u128)> {
        let text = std::fs::read_to_string(self.path("calls.log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let p: Vec<&str> = l.split('|').collect();
                (
                    p[0].to_string(),
                    p[1].parse().unwrap(),
                    p[2].parse().unwrap(),
                )
            })
            .collect()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn cfgarg(e: &Env) -> String {
    e.path("hv.json").display().to_string()
}

fn strip_config(calls: Vec<String>, e: &Env) -> Vec<String> {
    let tail = format!(" --config {}", cfgarg(e));
    calls.into_iter().map(|c| c.replace(&tail, "")).collect()
}

#[test]
fn dis_01_help() {
    let e = Env::new();
    let o = e.run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Usage: phoenix <VERB>"), "{out}");
    for v in [
        "setup",
        "create",
        "converge",
        "delete",
        "start",
        "stop",
        "restart",
        "status",
        "reconfigure",
        "test",
        "validate",
        "LetsGo",
    ] {
        assert!(out.contains(v), "help lists {v}");
    }
}

#[test]
fn dis_02_invalid_verb() {
    let o = Env::new().run(&["foobar"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Error: Invalid verb 'foobar'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dis_03_missing_targets() {
    let o = Env::new().run(&["start"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Error: Verb 'start' requires at least one target ID"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dis_04_setup_routes_to_hypervisor_manager() {
    let e = Env::new();
    let o = e.run(&["setup"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec!["hypervisor-manager setup"]
    );
    e.run(&["setup", "--wipe-disks"]);
    assert_eq!(
        strip_config(e.calls(), &e)[1],
        "hypervisor-manager setup --wipe-disks"
    );
}

#[test]
fn dis_05_06_route_by_type() {
    let e = Env::new();
    assert_eq!(e.run(&["start", "950"]).status.code(), Some(0));
    assert_eq!(e.run(&["start", "1000"]).status.code(), Some(0));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec!["lxc-manager start 950", "vm-manager start 1000"]
    );
}

#[test]
fn dis_07_unknown_target() {
    let e = Env::new();
    let o = e.run(&["start", "9999"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Error: Target ID '9999' not found"),
        "{}",
        stderr(&o)
    );
    assert!(e.calls().is_empty());
}

#[test]
fn dis_08_create_orders_dependencies_first() {
    let e = Env::new();
    let o = e
        .cmd(&["create", "950", "900", "--jobs", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec![
            "lxc-manager create 900",
            "lxc-manager create 953",
            "lxc-manager create 950"
        ]
    );
}

#[test]
fn dis_09_start_orders_by_boot_order() {
    let e = Env::new();
    let o = e.run(&["start", "950", "953", "--jobs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec!["lxc-manager start 953", "lxc-manager start 950"]
    );
}

#[test]
fn dis_10_lets_go_creates_all_then_starts_non_templates() {
    let e = Env::new();
    let o = e.run(&["LetsGo", "--jobs", "1", "--no-boot-delay"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec![
            "lxc-manager create 900",
            "lxc-manager create 951",
            "lxc-manager create 953",
            "lxc-manager create 950",
            "vm-manager create 1000",
            "vm-manager create 1001",
            // templates (900: cloned from, not started at boot) are never started
            "lxc-manager start 953",
            "vm-manager start 1000",
            "vm-manager start 1001",
            "lxc-manager start 950",
            "lxc-manager start 951",
        ]
    );
    assert!(
        stderr(&o).contains("Summary: 6 processed, 0 skipped, 0 failed"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn lets_go_runs_the_sync_once_the_triggering_guests_are_up() {
    let e = Env::new();
    let path = e.path("vm.json");
    let mut vms: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    vms["vms"][1]["trigger_sync_on_completion"] = json!(true);
    std::fs::write(&path, vms.to_string()).unwrap();
    let o = e.run(&["LetsGo", "--jobs", "1", "--no-boot-delay"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let calls = strip_config(e.calls(), &e);
    let at = |c: &str| {
        calls
            .iter()
            .position(|x| x == c)
            .unwrap_or_else(|| panic!("{c}: {calls:?}"))
    };
    assert!(
        at("hypervisor-manager sync all") > at("vm-manager start 1001"),
        "{calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| c.contains("sync")).count(),
        1,
        "one sync: {calls:?}"
    );
    // Without a trigger, LetsGo runs no sync (dis_10).
}

#[test]
fn global_options_before_or_after_the_verb() {
    let e = Env::new();
    let cfg = cfgarg(&e);
    for args in [
        vec!["--config", cfg.as_str(), "start", "950"],
        vec!["start", "950", "--config", cfg.as_str()],
    ] {
        let o = e.cmd(&args).env_remove("PHOENIX_CONFIG").output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(e.calls().len(), 2);
}

#[test]
fn create_skips_existing_dependencies_but_not_named_targets() {
    let e = Env::new();
    let o = e
        .cmd(&["create", "950", "--jobs", "1"])
        .env("STUB_LXC_EXISTING", "900 953 950")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(strip_config(e.calls(), &e), vec!["lxc-manager create 950"]);
    let err = stderr(&o);
    assert!(
        err.contains("dependency 900 already exists; skipping creation"),
        "{err}"
    );
    assert!(
        err.contains("Summary: 1 processed, 2 skipped, 0 failed"),
        "{err}"
    );
}

#[test]
fn converge_processes_the_whole_chain() {
    let e = Env::new();
    let o = e
        .cmd(&["converge", "950", "--jobs", "1"])
        .env("STUB_LXC_EXISTING", "900 953 950")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec![
            "lxc-manager create 900 [converge]",
            "lxc-manager create 953 [converge]",
            "lxc-manager create 950 [converge]"
        ]
    );
}

#[test]
fn mixed_and_vm_only_lists() {
    let e = Env::new();
    assert_eq!(
        e.run(&["create", "1001", "--jobs", "1"]).status.code(),
        Some(0)
    );
    assert_eq!(
        strip_config(e.calls(), &e),
        vec!["vm-manager create 1000", "vm-manager create 1001"]
    );
    let e = Env::new();
    assert_eq!(
        e.run(&["stop", "1001", "953", "950", "--jobs", "1"])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        strip_config(e.calls(), &e),
        vec![
            "lxc-manager stop 950",
            "vm-manager stop 1001",
            "lxc-manager stop 953"
        ]
    );
}

#[test]
fn failing_manager_stops_the_run_with_its_exit_code() {
    let e = Env::new();
    let o = e
        .cmd(&["create", "950", "--jobs", "1"])
        .env("STUB_FAIL", "953:create")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(7));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec!["lxc-manager create 900", "lxc-manager create 953"]
    );
    let err = stderr(&o);
    assert!(
        err.contains("Error: container 953 create failed with exit code 7"),
        "{err}"
    );
    assert!(err.contains("not started: 950"), "{err}");
    assert!(
        err.contains("Summary: 1 processed, 0 skipped, 1 failed, 1 not started"),
        "{err}"
    );
}

#[test]
fn delete_goes_dependents_first_and_guards_what_others_need() {
    let e = Env::new();
    let o = e
        .cmd(&["delete", "900"])
        .env("STUB_LXC_EXISTING", "900 951")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("refusing to delete 900: container 951 is cloned from it and still exists"),
        "{}",
        stderr(&o)
    );
    assert!(e.calls().is_empty());
    let o = e
        .cmd(&["delete", "900", "951", "--jobs", "1"])
        .env("STUB_LXC_EXISTING", "900 951")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        strip_config(e.calls(), &e),
        vec!["lxc-manager delete 951", "lxc-manager delete 900"]
    );
    let o = e
        .cmd(&["delete", "900", "--force"])
        .env("STUB_LXC_EXISTING", "900 951")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        strip_config(e.calls(), &e)[2],
        "lxc-manager delete 900 --force"
    );
}

#[test]
fn dry_run_prints_the_plan_and_passes_dry_run_on() {
    let e = Env::new();
    let o = e.run(&["create", "950", "--dry-run", "--jobs", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("1. lxc-manager create 900 --dry-run"), "{err}");
    assert!(err.contains("3. lxc-manager create 950 --dry-run"), "{err}");
    assert!(e.calls().iter().all(|c| c.contains("--dry-run")));
}

#[test]
fn status_json_lists_every_guest() {
    let e = Env::new();
    let o = e
        .cmd(&["status", "--output", "json"])
        .env("STUB_LXC_EXISTING", "900")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["id"], 900);
    assert_eq!(rows[0]["exists"], true);
    assert_eq!(rows[0]["state"], "running");
    assert_eq!(rows[5]["type"], "vm");
    assert_eq!(rows[5]["exists"], false);
    assert!(e.calls().is_empty(), "status needs no manager");
}

#[test]
fn parallel_run_never_starts_a_guest_before_its_needs_finish() {
    let e = Env::new();
    let o = e
        .cmd(&["LetsGo", "--jobs", "4", "--no-boot-delay"])
        .env("STUB_SLEEP", "0.2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = e.timed();
    let find = |label: &str| {
        t.iter()
            .find(|(c, _, _)| c.starts_with(label))
            .unwrap_or_else(|| panic!("{label} ran"))
    };
    for (child, parents) in [
        ("lxc-manager create 953", vec!["lxc-manager create 900"]),
        (
            "lxc-manager create 950",
            vec!["lxc-manager create 900", "lxc-manager create 953"],
        ),
        ("vm-manager create 1001", vec!["vm-manager create 1000"]),
        (
            "lxc-manager start 953",
            vec!["lxc-manager create 950", "vm-manager create 1001"],
        ),
        ("vm-manager start 1000", vec!["lxc-manager start 953"]),
        (
            "lxc-manager start 950",
            vec!["vm-manager start 1000", "vm-manager start 1001"],
        ),
    ] {
        let (_, start, _) = find(child);
        for p in parents {
            let (_, _, end) = find(p);
            assert!(start >= end, "{child} started before {p} finished");
        }
    }
    let err = stderr(&o);
    assert!(err.contains("==> lxc-manager create 900"), "{err}");
}

#[test]
fn second_run_waits_for_the_host_lock_then_names_the_holder() {
    let e = Env::new();
    let mut first = e
        .cmd(&["create", "900"])
        .env("STUB_SLEEP", "2")
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let o = e.run(&["create", "900"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains(&format!("PID {}", first.id())), "{err}");
    assert!(
        err.contains("phoenix create 900") || err.contains("create 900"),
        "{err}"
    );
    assert!(first.wait().unwrap().success());
}

#[allow(dead_code)]
fn exists(p: &Path) -> bool {
    p.exists()
}

#[test]
fn validate_warns_on_unknown_keys_and_strict_makes_them_errors() {
    let e = Env::new();
    let mut lxc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(e.path("lxc.json")).unwrap()).unwrap();
    lxc["lxc_configs"]["950"]["memmory_mb"] = json!(4096);
    std::fs::write(e.path("lxc.json"), lxc.to_string()).unwrap();
    let o = e.run(&["validate"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("lxc_configs.950.memmory_mb: unknown key `memmory_mb` is ignored; did you mean `memory_mb`?"), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("configuration is valid: 4 containers, 2 VMs, 1 warning(s)"));
    let o = e.run(&["validate", "--strict"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("1 warning(s) treated as errors (--strict)"),
        "{}",
        stderr(&o)
    );
    let o = e.run(&["validate", "--output", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["containers"], 4);
    assert!(e.calls().is_empty(), "validate runs no manager");
}

#[test]
fn graph_marks_templates_and_edge_kinds() {
    let e = Env::new();
    let o = e.run(&["graph", "950"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("graph TD"), "{out}");
    assert!(out.contains("g900 -->|clone| g950"), "{out}");
    assert!(out.contains("g953 -.->|depends| g950"), "{out}");
    assert!(out.contains("g900[[\"900 base (lxc) template\"]]"), "{out}");
    assert!(
        !out.contains("g1000"),
        "restricted to the closure of 950: {out}"
    );
    let o = e.run(&["graph", "--format", "dot"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("\"953\" -> \"950\" [style=dashed, label=\"depends\"];"),
        "{out}"
    );
    assert!(out.contains("shape=box3d"), "{out}");
}
