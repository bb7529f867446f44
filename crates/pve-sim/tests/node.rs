//! Admin verbs, faults, latency, locks, the invocation log.
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn init_storages() {
    let s = Sim::new();
    let cfg = s.read("etc/pve/storage.cfg");
    assert!(cfg.starts_with(&format!(
        "dir: local\n\tpath {}\n\tcontent iso,vztmpl,backup,snippets\n",
        std::fs::canonicalize(&s.root)
            .unwrap()
            .join("storage/local")
            .display()
    )));
    assert!(
        cfg.contains("zfspool: quickOS-lxc-disks\n\tpool quickOS/lxc-disks\n\tcontent rootdir\n")
    );
    assert!(cfg
        .contains("dir: fastData-shared-iso\n\tpath /fastData/shared-iso\n\tcontent iso,vztmpl\n"));
    assert!(s.path("storage/fastData-shared-iso").is_symlink());
    assert!(s.exists(&format!(
        "host/fastData/shared-iso/template/cache/{TEMPLATE}"
    )));
    // Without --config: local + local-zfs.
    let b = Sim::bare();
    b.admin(&["init"]).ok();
    let cfg = b.read("etc/pve/storage.cfg");
    assert!(cfg.contains("zfspool: local-zfs\n"));
    // The fixture config, when the shared folder is next to the workspace.
    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/upstream-2025-10-01/phoenix_hypervisor_config.json");
    if fixture.exists() {
        let f = Sim::bare();
        f.admin(&["init", "--config", fixture.to_str().unwrap()])
            .ok();
        let cfg = f.read("etc/pve/storage.cfg");
        for id in [
            "quickOS-lxc-disks",
            "quickOS-vm-disks",
            "fastData-shared-iso",
            "quickOS-shared-prod-data-volumes",
            "fastData-shared-bulk-data",
        ] {
            assert!(cfg.contains(&format!(": {id}\n")), "{id}");
        }
    }
}

#[test]
fn dump_reset_link_log() {
    let a = Sim::new();
    let b = Sim::new();
    for s in [&a, &b] {
        s.ct(900);
        s.pct("snapshot 900 base").ok();
        s.pct("start 900").ok();
    }
    let da: serde_json::Value =
        serde_json::from_str(&a.admin(&["dump", "--no-timestamps"]).ok().stdout).unwrap();
    let db: serde_json::Value =
        serde_json::from_str(&b.admin(&["dump", "--no-timestamps"]).ok().stdout).unwrap();
    assert_eq!(da["guests"], db["guests"]);
    assert_eq!(da["guests"][0]["run"]["status"], "running");
    assert_eq!(da["guests"][0]["config"]["hostname"], "ct900");
    assert_eq!(da["guests"][0]["snapshots"][0]["name"], "base");
    assert!(da["guests"][0]["snapshots"][0]["config"]
        .get("snaptime")
        .is_none());
    let full: serde_json::Value = serde_json::from_str(&a.admin(&["dump"]).ok().stdout).unwrap();
    assert!(full["guests"][0]["snapshots"][0]["config"]["snaptime"].is_string());
    // Log: one line per call.
    let log = a.log();
    let start = log.iter().find(|l| l["argv"][0] == "start").unwrap();
    assert_eq!(start["tool"], "pct");
    assert_eq!(start["exit_code"], 0);
    assert_eq!(start["mutating"], true);
    assert!(start["start"].as_u64().unwrap() > 1_600_000_000_000);
    assert!(start["duration_ms"].is_u64());
    a.pct("list").ok();
    assert_eq!(a.log().last().unwrap()["mutating"], false);
    // Every logged call of the managers' kind passes the spec.
    for l in a.log() {
        let argv: Vec<String> = l["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert!(
            pve::validate(l["tool"].as_str().unwrap(), &argv).is_ok(),
            "{l}"
        );
    }
    assert!(a.admin(&["log"]).ok().stdout.contains("pct start 900"));
    a.admin(&["reset"]).ok();
    assert!(!a.exists("etc/pve/lxc/900.conf"));
    assert!(a.read("etc/pve/storage.cfg").contains("quickOS-lxc-disks"));
    assert_eq!(a.read("invocations.jsonl"), "");
    // link
    let d = a.dir.path().join("links");
    a.admin(&["link", d.to_str().unwrap()]).ok();
    assert!(d.join("qm").is_symlink());
    a.admin(&["bogus"]).fails_with("unknown verb");
}

#[test]
fn faults_nth_and_message() {
    let s = Sim::new();
    s.ct(900);
    s.faults(r#"{"rules": [{"tool": "pct", "command": "start", "vmid": 900, "nth": 2, "exit_code": 7, "message": "boom"}]}"#);
    s.pct("start 900").ok();
    s.pct("stop 900").ok();
    let o = s.pct("start 900");
    assert_eq!(o.code, 7);
    assert!(o.stderr.contains("boom"));
    s.pct("start 900").ok();
    // argv substring, every call.
    s.faults(r#"{"rules": [{"argv_contains": "--memory 4096", "message": "no memory"}]}"#);
    s.pct("set 900 --memory 4096").fails_with("no memory");
    s.pct("set 900 --memory 2048").ok();
    s.faults("{not json");
    s.pct("list").fails_with("faults.json");
}

#[test]
fn guest_exit_codes() {
    let s = Sim::new();
    s.ct(900);
    s.pct("start 900").ok();
    s.faults(r#"{"guest_commands": [{"tool": "pct", "vmid": 900, "contains": "apt-get", "exit_code": 100, "stdout": "out", "stderr": "E: broken"}]}"#);
    let o = s.run(
        "pct",
        &["exec", "900", "--", "apt-get", "install", "-y", "x"],
    );
    assert_eq!(o.code, 100);
    assert_eq!(o.stdout, "out");
    assert_eq!(o.stderr, "E: broken");
    s.pct("exec 900 -- true").ok();
}

#[test]
fn latency() {
    let s = Sim::new();
    s.ct(900);
    s.faults(r#"{"latency_ms": {"pct status": 600}}"#);
    let t = Instant::now();
    s.pct("status 900").ok();
    assert!(t.elapsed() >= Duration::from_millis(600));
    let t = Instant::now();
    s.pct("config 900").ok();
    assert!(t.elapsed() < Duration::from_millis(600));
    let d = s.log().last().unwrap()["duration_ms"].as_u64().unwrap();
    assert!(d < 600);
}

#[test]
fn clone_holds_disk_lock() {
    let s = Sim::new();
    s.ct(900);
    s.pct("snapshot 900 pre").ok();
    s.faults(r#"{"latency_ms": {"pct clone": 1500}}"#);
    let mut child = s
        .cmd("pct", &["clone", "900", "901", "--snapname", "pre"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.read("etc/pve/lxc/900.conf").contains("lock: disk") {
        assert!(Instant::now() < deadline, "lock never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.pct("config 900").ok().stdout.contains("lock: disk\n"));
    let list = pve::output::parse_pct_list(&s.pct("list").ok().stdout).unwrap();
    assert_eq!(list[0].lock, "disk");
    s.pct("set 900 --cores 3")
        .fails_with("CT 900 is locked (disk)");
    s.pct("start 900").fails_with("CT 900 is locked (disk)");
    s.pct("snapshot 900 other")
        .fails_with("CT 900 is locked (disk)");
    assert!(child.wait().unwrap().success());
    assert!(!s.read("etc/pve/lxc/900.conf").contains("lock:"));
    s.pct("set 900 --cores 3").ok();
    // A lock left behind (e.g. a crashed clone) blocks until `pct unlock`.
    let p = s.path("etc/pve/lxc/900.conf");
    let mut c = pve::Conf::parse(&std::fs::read_to_string(&p).unwrap());
    c.set("lock", "backup");
    std::fs::write(&p, c.to_string()).unwrap();
    s.pct("start 900").fails_with("CT 900 is locked (backup)");
    s.pct("unlock 900").ok();
    s.pct("start 900").ok();
}

#[test]
fn a_container_template_is_locked_while_cloned() {
    // Unlike a VM template, pve-container locks a container template (`lock: disk`) for the
    // whole clone, so a second clone of it fails at once.
    let s = Sim::new();
    s.ct(900);
    s.pct("template 900").ok();
    s.faults(r#"{"latency_ms": {"pct clone": 1500}}"#);
    let mut child = s.cmd("pct", &["clone", "900", "901"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.read("etc/pve/lxc/900.conf").contains("lock: disk") {
        assert!(Instant::now() < deadline, "lock never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.pct("clone 900 902").fails_with("CT 900 is locked (disk)");
    assert!(child.wait().unwrap().success());
    s.pct("clone 900 902").ok();
    assert!(!s.read("etc/pve/lxc/900.conf").contains("lock:"));
}

#[test]
fn concurrent_set_times_out() {
    let s = Sim::new();
    s.ct(900);
    s.faults(r#"{"lock_timeout_ms": 300, "latency_ms": {"pct set": 2000}}"#);
    let mut child = s
        .cmd("pct", &["set", "900", "--cores", "2"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    s.pct("set 900 --memory 1024")
        .fails_with("can't lock file '/var/lock/lxc/pve-config-900.lock' - got timeout");
    assert!(t.elapsed() < Duration::from_millis(1500));
    assert!(child.wait().unwrap().success());
}

#[test]
fn qm_template_clones_share_lock() {
    let s = Sim::new();
    s.qm("create 8000 --name tpl --scsi0 quickOS-vm-disks:1")
        .ok();
    s.qm("template 8000").ok();
    s.faults(r#"{"latency_ms": {"qm clone": 1200}}"#);
    let mut a = s.cmd("qm", &["clone", "8000", "8001"]).spawn().unwrap();
    let mut b = s.cmd("qm", &["clone", "8000", "8002"]).spawn().unwrap();
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    // Clones of a template run in parallel: their spans in the log overlap.
    let spans: Vec<(u64, u64)> = s
        .log()
        .iter()
        .filter(|c| c["tool"] == "qm" && c["argv"][0] == "clone")
        .map(|c| {
            let start = c["start"].as_u64().unwrap();
            (start, start + c["duration_ms"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(spans.len(), 2);
    assert!(
        spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1,
        "clones of a template were serialised: {spans:?}"
    );
    assert!(!s.read("etc/pve/qemu-server/8000.conf").contains("lock:"));
    // A non-template VM is marked `lock: clone` while cloned.
    s.qm("create 8100 --name plain --scsi0 quickOS-vm-disks:1")
        .ok();
    let mut c = s.cmd("qm", &["clone", "8100", "8101"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s
        .read("etc/pve/qemu-server/8100.conf")
        .contains("lock: clone")
    {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    s.qm("start 8100").fails_with("VM 8100 is locked (clone)");
    assert!(c.wait().unwrap().success());
}

#[test]
fn parallel_creates_do_not_corrupt() {
    let s = Sim::new();
    let t = format!("fastData-shared-iso:vztmpl/{TEMPLATE}");
    let children: Vec<_> = (0..8)
        .map(|i| {
            s.cmd(
                "pct",
                &[
                    "create",
                    &format!("{}", 300 + i),
                    &t,
                    "--rootfs",
                    "quickOS-lxc-disks:1",
                ],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let list = pve::output::parse_pct_list(&s.pct("list").ok().stdout).unwrap();
    assert_eq!(list.len(), 8);
    assert_eq!(s.log().len(), 1 + 1 + 8);
}
