//! The Bash CLI's verbs and options that Phoenix did not have (src/legacy.rs): `health-check`,
//! `status <id>`, `sync`, `--reset-portainer`. Stub managers record their calls; stub `pct`/`qm`
//! answer the bulk reads.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use serde_json::json;

const STUB_MANAGER: &str = "#!/bin/sh\necho \"$(basename \"$0\") $1 $2\" >> \"$STUB_LOG\"\n";
const STUB_PCT: &str = "#!/bin/sh\n[ \"$1\" = list ] || exit 2\necho 'VMID       Status     Lock         Name'\necho '900        running                 base'\n";
const STUB_QM: &str = "#!/bin/sh\n[ \"$1\" = list ] || exit 2\necho '      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID'\n";

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
        let lxc = json!({"lxc_configs": {
            "900": {"name": "base", "template": "local:vztmpl/u.tar.zst", "storage_pool": "local-zfs", "template_snapshot_name": "snap"},
            "950": {"name": "app", "clone_from_ctid": "900", "storage_pool": "local-zfs"}
        }});
        let vms = json!({"vm_defaults": {"template_image": "noble.img", "storage_pool": "local-zfs"},
            "vms": [{"vmid": 1000, "name": "vm-a"}, {"vmid": 1001, "name": "vm-b"}]});
        let hv =
            json!({"core_paths": {"lxc_config_file": "lxc.json", "vm_config_file": "vm.json"}});
        for (f, v) in [("hv.json", hv), ("lxc.json", lxc), ("vm.json", vms)] {
            std::fs::write(dir.path().join(f), v.to_string()).unwrap();
        }
        Env { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        let p = |s: &str| self.dir.path().join(s);
        let path = format!(
            "{}:{}",
            p("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new(env!("CARGO_BIN_EXE_phoenix"))
            .args(args)
            .env("PATH", path)
            .env("PHOENIX_MANAGER_DIR", p("bin"))
            .env("PHOENIX_CONFIG", p("hv.json"))
            .env("PHOENIX_LOCK_FILE", p("phoenix.lock"))
            .env("STUB_LOG", p("calls.log"))
            .env_remove("PHOENIX_SIM")
            .output()
            .unwrap()
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn health_check_runs_the_vm_managers_check_for_each_vm() {
    let e = Env::new();
    let o = e.run(&["health-check", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(e.calls(), vec!["vm-manager health-check 1000"]);
    let o = e.run(&["health-check", "1001", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(e.calls().len(), 3);
}

#[test]
fn health_check_needs_a_vm() {
    let e = Env::new();
    let o = e.run(&["health-check"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Error: Verb 'health-check' requires at least one target ID"),
        "{}",
        stderr(&o)
    );
    let o = e.run(&["health-check", "950"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("950 is a container") && stderr(&o).contains("phoenix test 950"),
        "{}",
        stderr(&o)
    );
    assert!(e.calls().is_empty());
}

#[test]
fn sync_all_and_sync_stack_to_vm_reach_hypervisor_manager() {
    let e = Env::new();
    // The stub records `$1 $2`: the verb and the first argument.
    for args in [
        vec!["sync", "all"],
        vec!["sync", "stack", "web", "to", "1001"],
    ] {
        let o = e.run(&args);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    assert_eq!(
        e.calls(),
        [
            "hypervisor-manager sync all",
            "hypervisor-manager sync stacks"
        ]
    );
    // `sync` alone, an unknown part, a malformed old form are refused before anything runs.
    for (args, want) in [
        (vec!["sync"], "needs what to synchronise"),
        (vec!["sync", "everything"], "unknown sync part 'everything'"),
        (
            vec!["sync", "stack", "web", "to", "x"],
            "'x' is not a VM ID",
        ),
        (vec!["sync", "stack", "web"], "is not a sync Phoenix knows"),
    ] {
        let o = e.run(&args);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(want), "{}", stderr(&o));
        assert!(!stderr(&o).contains("Invalid verb"));
    }
    assert_eq!(e.calls().len(), 2);
}

#[test]
fn reset_portainer_is_refused_with_the_reason() {
    let e = Env::new();
    let o = e.run(&["LetsGo", "--reset-portainer"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("'--reset-portainer' is not available yet") && err.contains("service layer"),
        "{err}"
    );
    assert!(!err.contains("unexpected argument"), "{err}");
    assert!(e.calls().is_empty(), "nothing ran");
}

#[test]
fn status_with_ids_shows_those_guests() {
    let e = Env::new();
    let o = e.run(&["status", "900", "1001", "--output", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<u64> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![900, 1001]);
    assert_eq!(rows[0]["state"], "running");
    let o = e.run(&["status", "4242"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("Error: Target ID '4242' not found"));
}

#[test]
fn help_lists_health_check() {
    let o = Env::new().run(&["--help"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("health-check"), "{out}");
}
