//! Issue acceptance (plans, drift, unmanaged guests, one reporter) on the bundled example
//! (`etc/`): after `LetsGo`, a memory edit in 953's conf file shows in `status` (exit 2 with
//! `--detailed-exitcode`), the dry run shows `memory: 999 -> 1024` and runs nothing, the apply
//! fixes it with `changed=1` for 953 only; a guest made with `pct create` is listed as unmanaged
//! and removable; `-q` on a converged `LetsGo` prints nothing; `--output json` prints events.

use std::process::{Command, Output};

use phoenix_tests::{bin, repo, stderr, Sim};
use serde_json::Value;

fn example_config() -> String {
    repo()
        .join("etc/phoenix_hypervisor_config.json")
        .display()
        .to_string()
}

fn run(sim: &Sim, args: &[&str]) -> Output {
    let cfg = example_config();
    let mut a = args.to_vec();
    a.extend(["--config", cfg.as_str()]);
    sim.run(&a)
}

fn ok(sim: &Sim, args: &[&str]) -> (String, String) {
    let o = run(sim, args);
    assert!(o.status.success(), "{args:?} failed:\n{}", stderr(&o));
    (String::from_utf8_lossy(&o.stdout).into_owned(), stderr(&o))
}

/// The example, set up and brought up once.
fn converged() -> Sim {
    let sim = Sim::new();
    ok(&sim, &["setup"]);
    let cache = sim.dir().join("host/var/lib/vz/template/phoenix-images");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join("noble-server-cloudimg-amd64.img"), b"image").unwrap();
    ok(&sim, &["LetsGo", "--no-boot-delay"]);
    sim
}

fn status_json(sim: &Sim) -> Vec<Value> {
    let (out, _) = ok(sim, &["status", "--output", "json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn row(rows: &[Value], id: u64) -> Value {
    rows.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id}: {rows:?}"))
        .clone()
}

fn mutating_since(sim: &Sim, n: usize) -> Vec<String> {
    sim.invocations()
        .split_off(n)
        .into_iter()
        .filter(|c| c["mutating"] == true)
        .map(|c| format!("{} {}", c["tool"].as_str().unwrap(), c["argv"]))
        .collect()
}

#[test]
fn memory_drift_is_shown_planned_and_fixed_with_one_change() {
    let sim = converged();
    let o = run(&sim, &["status", "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "in sync after LetsGo:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    let conf = sim.dir().join("etc/pve/lxc/953.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    assert!(text.contains("\nmemory: 1024\n"), "{text}");
    std::fs::write(&conf, text.replace("\nmemory: 1024\n", "\nmemory: 999\n")).unwrap();

    let o = run(&sim, &["status", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout);
    let line = table.lines().find(|l| l.starts_with("953 ")).unwrap();
    assert!(line.ends_with("drifted: memory"), "{table}");
    let r = row(&status_json(&sim), 953);
    assert_eq!(r["sync"], "drifted");
    assert_eq!(
        r["drift"],
        serde_json::json!([{"key": "memory", "live": "999", "desired": "1024"}])
    );

    let n = sim.invocations().len();
    let (_, err) = ok(&sim, &["--dry-run", "create", "953"]);
    assert!(err.contains("~ memory: 999 -> 1024"), "{err}");
    assert!(
        mutating_since(&sim, n).is_empty(),
        "a dry run changes nothing"
    );
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains("\nmemory: 999\n"));

    let n = sim.invocations().len();
    let (_, err) = ok(&sim, &["create", "953"]);
    let changed: Vec<&str> = err.lines().filter(|l| l.contains("changed=")).collect();
    assert!(
        changed
            .iter()
            .any(|l| l.trim_start().starts_with("953 ") && l.contains(" changed=1 ")),
        "{err}"
    );
    assert!(
        changed
            .iter()
            .filter(|l| !l.trim_start().starts_with("953 ") && !l.trim_start().starts_with("total"))
            .all(|l| l.contains(" changed=0 ")),
        "{err}"
    );
    assert_eq!(
        mutating_since(&sim, n),
        vec![r#"pct ["set","953","--memory","1024"]"#],
    );
    let o = run(&sim, &["status", "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn quiet_converged_lets_go_prints_nothing_and_json_lines_are_events() {
    let sim = converged();
    let n = sim.invocations().len();
    let o = run(&sim, &["-q", "LetsGo", "--no-boot-delay"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "a converged -q run prints nothing");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    let calls = sim.invocations().split_off(n);
    let pq: Vec<&Value> = calls
        .iter()
        .filter(|c| c["tool"] == "pct" || c["tool"] == "qm")
        .collect();
    assert!(pq.len() <= 32, "{} pct/qm calls", pq.len());
    assert!(pq.iter().all(|c| c["mutating"] == false));

    let o = run(&sim, &["LetsGo", "--no-boot-delay", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines
        .iter()
        .any(|e| e["event"] == "unchanged" && e["guest"]["id"] == 953));
    let recap = lines.last().unwrap();
    assert_eq!(recap["event"], "recap");
    assert_eq!(recap["totals"]["changed"], 0);
    assert_eq!(recap["totals"]["failed"], 0);
}

#[test]
fn an_unmanaged_guest_is_listed_and_removable() {
    let sim = converged();
    let pct = Command::new(sim.dir().join("bin/pct"))
        .args([
            "create",
            "990",
            "tank-iso:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            "--hostname",
            "stray",
            "--rootfs",
            "tank-lxc-disks:4",
        ])
        .env("PVE_SIM_ROOT", sim.dir())
        .output()
        .unwrap();
    assert!(pct.status.success(), "{}", stderr(&pct));
    let r = row(&status_json(&sim), 990);
    assert_eq!(r["sync"], "unmanaged");
    assert_eq!(r["managed"], false);
    assert_eq!(r["name"], "stray");
    let (table, _) = ok(&sim, &["status"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("990 ") && l.ends_with("unmanaged")),
        "{table}"
    );
    let o = run(&sim, &["delete", "990"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--unmanaged"), "{}", stderr(&o));
    let o = run(&sim, &["delete", "953", "--unmanaged"]);
    assert_eq!(o.status.code(), Some(1), "a managed guest is refused");
    ok(&sim, &["delete", "990", "--unmanaged"]);
    assert!(!sim.dir().join("etc/pve/lxc/990.conf").exists());
    assert!(status_json(&sim).iter().all(|r| r["id"] != 990));
    // The schema of the status shape describes what `status` prints.
    let schema =
        std::fs::read_to_string(repo().join("schemas/phoenix_status.schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&schema).unwrap();
    assert_eq!(schema["type"], "array");
    let _ = bin("phoenix");
}
