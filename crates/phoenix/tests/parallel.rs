//! Parallel apply with stub managers that record when they start and end: random DAGs with
//! `--jobs 8` never start a guest before what it needs has finished; one failing guest stops new
//! starts, lets running ones finish, and its dependents never start. No assertion is on wall
//! time. (Clones of one source and allocations per storage are serialised by the managers
//! around the one Proxmox call: `tests/e2e/parallel.rs` and `crates/vm-manager/tests/
//! clone_locks.rs` check them in the simulator's log.)

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{json, Value};

/// Records `<manager> <verb> <id>|<start ns>|<end ns>`; `STUB_FAIL="<id>:<verb> ..."` exits 7.
const STUB_MANAGER: &str = r#"#!/bin/bash
start=$(date +%s%N)
sleep "${STUB_SLEEP:-0}"
code=0
for rule in ${STUB_FAIL:-}; do
  if [ "$rule" = "$2:$1" ]; then code=7; fi
done
echo "$(basename "$0") $1 $2|$start|$(date +%s%N)" >> "$STUB_LOG"
exit "$code"
"#;

/// Answers the dispatcher's one existence read: nothing exists.
const STUB_LIST: &str = r#"#!/bin/bash
[ "$1" = "list" ] || exit 2
echo "VMID       Status     Lock         Name"
"#;

/// Deterministic pseudo-random numbers (no dependency needed).
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

struct Guest {
    id: u64,
    vm: bool,
    clone_from: Option<u64>,
    deps: Vec<u64>,
}

impl Guest {
    fn needs(&self) -> impl Iterator<Item = u64> + '_ {
        self.clone_from.into_iter().chain(self.deps.iter().copied())
    }
}

struct Env {
    dir: tempfile::TempDir,
    guests: Vec<Guest>,
}

impl Env {
    fn new(guests: Vec<Guest>) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        for (name, body) in [
            ("lxc-manager", STUB_MANAGER),
            ("vm-manager", STUB_MANAGER),
            ("pct", STUB_LIST),
            ("qm", STUB_LIST),
        ] {
            let p = bin.join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut cts = serde_json::Map::new();
        let mut vms = Vec::new();
        for g in &guests {
            if g.vm {
                let mut v = json!({ "vmid": g.id, "name": format!("vm{}", g.id) });
                if let Some(s) = g.clone_from {
                    v["clone_from_vmid"] = json!(s);
                }
                if !g.deps.is_empty() {
                    v["dependencies"] = json!(g.deps);
                }
                vms.push(v);
            } else {
                let mut c = json!({ "name": format!("ct{}", g.id), "storage_pool": "local-zfs",
                    "template_snapshot_name": "ready", "start_at_boot": true, "boot_order": 1 });
                match g.clone_from {
                    Some(s) => c["clone_from_ctid"] = json!(s.to_string()),
                    None => c["template"] = json!("local:vztmpl/ubuntu.tar.zst"),
                }
                if !g.deps.is_empty() {
                    c["dependencies"] = json!(g.deps);
                }
                cts.insert(g.id.to_string(), c);
            }
        }
        let write = |name: &str, v: Value| {
            std::fs::write(dir.path().join(name), v.to_string()).unwrap();
        };
        write(
            "hv.json",
            json!({ "core_paths": { "lxc_config_file": "lxc.json", "vm_config_file": "vm.json" } }),
        );
        write("lxc.json", json!({ "lxc_configs": cts }));
        write(
            "vm.json",
            json!({ "vm_defaults": { "template_image": "noble.img", "storage_pool": "local-zfs" }, "vms": vms }),
        );
        Env { dir, guests }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn run(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_phoenix"));
        c.args(args)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    self.path("bin").display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .env("PHOENIX_MANAGER_DIR", self.path("bin"))
            .env("PHOENIX_CONFIG", self.path("hv.json"))
            .env("PHOENIX_LOCK_FILE", self.path("phoenix.lock"))
            .env("STUB_LOG", self.path("calls.log"))
            .env_remove("PHOENIX_SIM")
            .env_remove("RUST_LOG");
        for (k, v) in envs {
            c.env(k, v);
        }
        c.output().unwrap()
    }

    /// `"<verb> <id>"` to (start, end) in ns.
    fn timed(&self) -> BTreeMap<String, (u128, u128)> {
        let text = std::fs::read_to_string(self.path("calls.log")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let p: Vec<&str> = l.split('|').collect();
                let label = p[0].split_once(' ').unwrap().1.to_string();
                (label, (p[1].parse().unwrap(), p[2].parse().unwrap()))
            })
            .collect()
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` guests with random clone chains, fan-out, dependencies and about one VM in five.
fn random_dag(seed: u64, n: usize) -> Vec<Guest> {
    let mut rng = Lcg(seed);
    let mut out: Vec<Guest> = Vec::new();
    for i in 0..n {
        let id = 200 + i as u64;
        let vm = rng.below(5) == 0;
        let same_kind: Vec<u64> = out.iter().filter(|g| g.vm == vm).map(|g| g.id).collect();
        let clone_from = if !same_kind.is_empty() && rng.below(3) != 0 {
            Some(same_kind[rng.below(same_kind.len())])
        } else {
            None
        };
        let mut deps = BTreeSet::new();
        if !out.is_empty() {
            for _ in 0..rng.below(3) {
                let d = out[rng.below(out.len())].id;
                if Some(d) != clone_from {
                    deps.insert(d);
                }
            }
        }
        out.push(Guest {
            id,
            vm,
            clone_from,
            deps: deps.into_iter().collect(),
        });
    }
    out
}

fn assert_needs_finished_first(e: &Env, t: &BTreeMap<String, (u128, u128)>) {
    for g in &e.guests {
        let (start, _) = t[&format!("create {}", g.id)];
        for n in g.needs() {
            let (_, end) = t[&format!("create {n}")];
            assert!(
                start >= end,
                "create {} started before create {n} ended",
                g.id
            );
        }
    }
}

#[test]
fn random_graphs_with_8_jobs_never_start_a_guest_before_its_needs_finish() {
    for seed in [1u64, 7, 42, 1234, 99_999] {
        let e = Env::new(random_dag(seed, 24));
        let ids: Vec<String> = e.guests.iter().map(|g| g.id.to_string()).collect();
        let mut args = vec!["create", "--jobs", "8"];
        args.extend(ids.iter().map(String::as_str));
        let o = e.run(&args, &[("STUB_SLEEP", "0.05")]);
        assert_eq!(o.status.code(), Some(0), "seed {seed}: {}", stderr(&o));
        let t = e.timed();
        assert_eq!(
            t.len(),
            e.guests.len(),
            "seed {seed}: every guest created once"
        );
        assert_needs_finished_first(&e, &t);
        // Output of concurrent managers is prefixed with the guest ID.
        let err = stderr(&o);
        assert!(
            err.contains("==> lxc-manager create 200") || err.contains("==> vm-manager create 200"),
            "{err}"
        );
    }
}

#[test]
fn lets_go_with_8_jobs_orders_creates_then_starts() {
    let e = Env::new(random_dag(5, 20));
    let o = e.run(
        &["LetsGo", "--jobs", "8", "--no-boot-delay"],
        &[("STUB_SLEEP", "0.05")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let t = e.timed();
    assert_needs_finished_first(&e, &t);
    let last_create = t
        .iter()
        .filter(|(k, _)| k.starts_with("create "))
        .map(|(_, v)| v.1)
        .max()
        .unwrap();
    for (k, (start, _)) in t.iter().filter(|(k, _)| k.starts_with("start ")) {
        assert!(
            *start >= last_create,
            "{k} started before every create ended"
        );
    }
}

#[test]
fn one_failing_guest_with_8_jobs_stops_new_starts_and_its_dependents() {
    // 500 -> 501 (fails) -> 502 -> 503; 510 (slow, independent) and 511 after it.
    let guests = vec![
        Guest {
            id: 500,
            vm: false,
            clone_from: None,
            deps: vec![],
        },
        Guest {
            id: 501,
            vm: false,
            clone_from: Some(500),
            deps: vec![],
        },
        Guest {
            id: 502,
            vm: false,
            clone_from: Some(501),
            deps: vec![],
        },
        Guest {
            id: 503,
            vm: false,
            clone_from: None,
            deps: vec![502],
        },
        Guest {
            id: 510,
            vm: true,
            clone_from: None,
            deps: vec![],
        },
        Guest {
            id: 511,
            vm: true,
            clone_from: None,
            deps: vec![510],
        },
    ];
    let e = Env::new(guests);
    // 510 sleeps longer than 500 + 501 together, so it is still running when 501 fails.
    let slow = e.path("bin/vm-manager");
    let body = STUB_MANAGER.replace(
        "sleep \"${STUB_SLEEP:-0}\"",
        "if [ \"$2\" = 510 ]; then sleep 1.5; else sleep \"${STUB_SLEEP:-0}\"; fi",
    );
    std::fs::write(&slow, body).unwrap();
    let o = e.run(
        &["create", "--jobs", "8", "503", "511"],
        &[("STUB_SLEEP", "0.1"), ("STUB_FAIL", "501:create")],
    );
    assert_eq!(
        o.status.code(),
        Some(7),
        "exit code is the manager's: {}",
        stderr(&o)
    );
    let t = e.timed();
    let ran: BTreeSet<&str> = t.keys().map(String::as_str).collect();
    assert!(ran.contains("create 501"), "{ran:?}");
    assert!(
        ran.contains("create 510"),
        "the running independent guest finished: {ran:?}"
    );
    for never in ["create 502", "create 503", "create 511"] {
        assert!(
            !ran.contains(never),
            "{never} started after the failure: {ran:?}"
        );
    }
    let (_, fail_end) = t["create 501"];
    let (_, slow_end) = t["create 510"];
    assert!(
        slow_end > fail_end,
        "510 was running when 501 failed and was let finish"
    );
    let err = stderr(&o);
    assert!(
        err.contains(
            "Error: container 501 create failed with exit code 7; not starting further guests"
        ),
        "{err}"
    );
    assert!(err.contains("failed: 501"), "{err}");
    assert!(err.contains("not started: 502 503 511"), "{err}");
    assert!(
        err.contains("Summary: 2 processed, 0 skipped, 1 failed, 3 not started"),
        "{err}"
    );
    assert!(
        err.contains("[510] ") || err.contains("==> vm-manager create 510"),
        "{err}"
    );
}
