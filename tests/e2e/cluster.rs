//! Issue 16 acceptance on a simulated three-node cluster: the 2025-10-01 fixture with `node`
//! keys (templates on pve1, clones spread over pve2 and pve3, the clone VM on pve3, a node
//! without its template's storage: the VM template's disks are on a storage of pve1 only),
//! `setup`
//! then `LetsGo` with pve2 taken down in the middle of one of its tasks (the summary names the
//! node and the guests not handled, exit 1), a clean re-run once it answers (the task finished
//! meanwhile and is not repeated), a no-op re-run of reads only (at most
//! 1 + 19 GETs), every logged request valid per apidata.js; then a guest moved by hand shows
//! as drift and `converge` puts it back (after a dry run that changes nothing); then that
//! guest, made HA-managed, is stopped, started, moved back and deleted through the HA
//! manager.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use phoenix_tests::apischema::{check_log, Schema};
use phoenix_tests::cluster::{ok, Cluster, PLACEMENT};
use phoenix_tests::{sim_cmd, stderr};
use serde_json::{json, Value};

const GUESTS: usize = 19;

/// The fixture over three nodes, the VM template's disks on a storage of pve1 only.
fn cluster() -> Cluster {
    Cluster::new(|hv, _, vm| {
        hv["cluster"]["storages"] = json!({"pve1-vm-templates": {"nodes": ["pve1"]}});
        for v in vm["vms"].as_array_mut().unwrap() {
            if v["vmid"] == 8000 {
                v["storage_pool"] = json!("pve1-vm-templates");
            }
        }
    })
}

/// What this test reads of the cluster.
trait Seen {
    fn requests(&self) -> Vec<Value>;
    fn conf(&self, node: &str, id: &str) -> PathBuf;
}

impl Seen for Cluster {
    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.sim.dir().join("api-requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
    fn conf(&self, node: &str, id: &str) -> PathBuf {
        self.sim
            .dir()
            .join(format!("etc/pve/nodes/{node}/lxc/{id}.conf"))
    }
}

/// The simulated API's task logs (`api/tasks/<UPID>`).
fn task_files(c: &Cluster) -> Vec<String> {
    std::fs::read_dir(c.sim.dir().join("api/tasks"))
        .map(|d| {
            d.filter_map(|e| Some(e.ok()?.file_name().to_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// A task of `node` still running (its log not ended by `TASK ...`), if any.
fn running_task(c: &Cluster, node: &str) -> Option<String> {
    let dir = c.sim.dir().join("api/tasks");
    task_files(c).into_iter().find(|t| {
        t.starts_with(&format!("UPID:{node}:"))
            && std::fs::read_to_string(dir.join(t))
                .is_ok_and(|l| !l.lines().any(|x| x.starts_with("TASK ")))
    })
}

#[test]
fn the_fixture_spread_over_three_nodes_converges_survives_a_node_and_repairs_a_move() {
    let c = cluster();
    // pct/qm (and pvesh's node-local work) reach one node only.
    let local = c.run(&["status", "--transport", "local"]);
    assert_eq!(local.status.code(), Some(1));
    assert!(
        stderr(&local)
            .contains("has 3 nodes: the local transport works on the node it runs on only"),
        "{}",
        stderr(&local)
    );
    ok("setup", &c.run(&["setup"]));
    c.cache_vm_image();

    // pve2 stops answering in the middle of one of its tasks (clones take 1.5 s there).
    std::fs::write(
        c.sim.dir().join("faults.json"),
        r#"{"latency_ms": {"pct clone": 1500}}"#,
    )
    .unwrap();
    let child = c
        .cmd(&["LetsGo", "--no-boot-delay", "--jobs", "6"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let task = loop {
        if let Some(t) = running_task(&c, "pve2") {
            break t;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no task ever ran on pve2"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    std::fs::write(
        c.sim.dir().join("faults.json"),
        r#"{"nodes_down": ["pve2"], "latency_ms": {"pct clone": 1500}}"#,
    )
    .unwrap();
    let down = child.wait_with_output().unwrap();
    let err = stderr(&down);
    assert_eq!(down.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("node pve2 unreachable: not handled:"))
        .unwrap_or_else(|| panic!("no summary naming pve2:\n{err}"));
    assert!(
        PLACEMENT
            .iter()
            .filter(|(_, n)| *n == "pve3")
            .all(|(id, _)| !line.contains(id)),
        "{line}"
    );

    // Back up: a clean re-run converges, then a no-op re-run only reads.
    std::fs::write(c.sim.dir().join("faults.json"), "{}").unwrap();
    ok(
        "re-run",
        &c.run(&["LetsGo", "--no-boot-delay", "--jobs", "6"]),
    );
    // The task pve2 was running when it went away finished there; the re-run read that
    // from the cluster and did not do it again.
    let (ty, id) = (
        task.split(':').nth(5).unwrap(),
        task.split(':').nth(6).unwrap(),
    );
    let log = std::fs::read_to_string(c.sim.dir().join("api/tasks").join(&task)).unwrap();
    assert!(log.trim_end().ends_with("TASK OK"), "{task}: {log}");
    let again: Vec<String> = task_files(&c)
        .into_iter()
        .filter(|t| t.split(':').nth(5) == Some(ty) && t.split(':').nth(6) == Some(id))
        .collect();
    assert_eq!(again, vec![task.clone()], "{ty} {id} was repeated");
    let before = c.requests().len();
    ok(
        "no-op",
        &c.run(&["LetsGo", "--no-boot-delay", "--jobs", "6"]),
    );
    let noop: Vec<Value> = c.requests().split_off(before);
    assert!(
        noop.len() <= 1 + GUESTS,
        "{} requests: {noop:#?}",
        noop.len()
    );
    assert!(noop.iter().all(|r| r["method"] == "GET"), "{noop:#?}");

    // Every guest is on its node, and every request sent was valid.
    let dump = c.sim.dump();
    for g in dump["guests"].as_array().unwrap() {
        let id = g["vmid"].to_string();
        let want = PLACEMENT
            .iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| *n)
            .unwrap_or(if id == "8001" { "pve3" } else { "pve1" });
        assert_eq!(g["node"], want, "guest {id}");
    }
    let log = std::fs::read_to_string(c.sim.dir().join("api-requests.jsonl")).unwrap();
    let problems = check_log(&Schema::fixture(), &log);
    assert!(problems.is_empty(), "invalid requests: {problems:#?}");
    assert!(
        log.contains("/migrate"),
        "clones on other nodes are migrated"
    );
    // The VM cloned on pve1 from its template's pve1-only storage lives on pve3.
    let storage_cfg = std::fs::read_to_string(c.sim.dir().join("etc/pve/storage.cfg")).unwrap();
    assert!(storage_cfg.contains("dir: pve1-vm-templates") && storage_cfg.contains("nodes pve1"));
    let vm = dump["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == 8001)
        .unwrap();
    assert!(vm["config"]["scsi0"]
        .as_str()
        .unwrap()
        .starts_with("quickOS-vm-disks:"));

    // A guest moved by hand: drift, a dry run that changes nothing, then converge.
    sim_cmd(&c.sim.dir(), &["move", "953", "pve1"]);
    let st = c.run(&["status", "953", "--detailed-exitcode"]);
    assert_eq!(st.status.code(), Some(2), "{}", stderr(&st));
    assert!(String::from_utf8_lossy(&st.stdout).contains("node: pve1 -> pve3"));
    let before = c.requests().len();
    let dry = c.run(&["converge", "953", "--dry-run"]);
    ok("dry run", &dry);
    assert!(
        stderr(&dry).contains("node: pve1 -> pve3"),
        "{}",
        stderr(&dry)
    );
    assert!(c.requests()[before..].iter().all(|r| r["method"] == "GET"));
    assert!(c.conf("pve1", "953").is_file());
    ok("converge", &c.run(&["converge", "953"]));
    assert!(c.conf("pve3", "953").is_file() && !c.conf("pve1", "953").exists());
    c.assert_in_sync();

    ha_managed_guest(&c);
}

/// 953 made HA-managed: a stop, a start and a migration only hand over to the HA manager
/// (`hastop`, `hastart`, `hamigrate`), which acts later; Phoenix reads the state back before
/// it reports the step done. A destroy uses `purge`, which removes the HA resource.
fn ha_managed_guest(c: &Cluster) {
    let pvesh = |args: &[&str]| {
        let mut all = vec!["pvesh"];
        all.extend_from_slice(args);
        sim_cmd(&c.sim.dir(), &all)
    };
    pvesh(&["create", "/cluster/ha/resources", "--sid", "ct:953"]);
    std::fs::write(c.sim.dir().join("faults.json"), r#"{"ha_delay_ms": 1500}"#).unwrap();
    let state = || -> Value {
        serde_json::from_str(&pvesh(&[
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json",
        ]))
        .unwrap()
    };
    let ct953 = || {
        state()
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["vmid"] == 953)
            .cloned()
            .unwrap()
    };
    assert_eq!(ct953()["hastate"], "started");
    let tasks = || task_files(c);

    ok("stop", &c.run(&["stop", "953"]));
    assert_eq!(ct953()["status"], "stopped");
    assert!(tasks().iter().any(|t| t.contains(":hastop:953:")));
    ok("start", &c.run(&["start", "953"]));
    assert_eq!(ct953()["status"], "running");
    assert!(tasks().iter().any(|t| t.contains(":hastart:953:")));

    sim_cmd(&c.sim.dir(), &["move", "953", "pve1"]);
    ok("converge", &c.run(&["converge", "953"]));
    let g = ct953();
    assert_eq!(
        (g["node"].as_str(), g["status"].as_str()),
        (Some("pve3"), Some("running")),
        "{g}"
    );
    assert!(tasks().iter().any(|t| t.contains(":hamigrate:953:")));
    let lrm = std::fs::read_to_string(c.sim.dir().join("invocations.jsonl")).unwrap();
    let by_manager = lrm
        .lines()
        .filter(|l| l.contains("\"via\":\"ha-lrm\"") && l.contains("\"953\""))
        .count();
    assert_eq!(
        by_manager, 3,
        "stop, start, migrate by the HA manager:\n{lrm}"
    );

    // An HA manager that does not act in time: the task ended OK, the step still fails,
    // naming the setting and the state the cluster shows.
    let hv: Value = serde_json::from_str(&std::fs::read_to_string(&c.cfg).unwrap()).unwrap();
    let mut slow = hv.clone();
    slow["orchestration"]["settle_timeout_secs"] = json!(1);
    std::fs::write(&c.cfg, slow.to_string()).unwrap();
    std::fs::write(
        c.sim.dir().join("faults.json"),
        r#"{"ha_delay_ms": 600000}"#,
    )
    .unwrap();
    let o = c.run(&["stop", "953"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("the task ended, but the guest is not stopped after 1s (orchestration.settle_timeout_secs): status running; HA state request_stop"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&c.cfg, hv.to_string()).unwrap();
    std::fs::write(c.sim.dir().join("faults.json"), r#"{"ha_delay_ms": 200}"#).unwrap();

    ok("delete", &c.run(&["delete", "953", "--force"]));
    assert!(!c.conf("pve3", "953").exists());
    let res = std::fs::read_to_string(c.sim.dir().join("etc/pve/ha/resources.cfg")).unwrap();
    assert!(!res.contains("953"), "{res}");
}
