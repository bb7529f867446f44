//! Issue acceptance on the simulator: the upstream deployment (17 containers, 2 VMs), unmodified,
//! goes through `phoenix setup` and `phoenix LetsGo` on a fresh host (the cloud image is not
//! placed by hand: it is downloaded from the simulated Ubuntu server and verified); the node's
//! dump then shows every guest with its configured resources, snapshots and run state; every
//! logged call is valid per the Proxmox reference; and a second `LetsGo` changes nothing and
//! downloads nothing.

use std::collections::BTreeMap;

use phoenix_tests::{cloud_init_problems, exec_log, standins, stderr, upstream_fixture, Sim};
use serde_json::Value;

fn converge(sim: &Sim) -> String {
    let cfg = upstream_fixture().join("phoenix_hypervisor_config.json");
    let cfg = cfg.to_str().unwrap();
    let o = sim.run(&["setup", "--config", cfg]);
    assert!(o.status.success(), "setup failed:\n{}", stderr(&o));
    // No image is placed by hand: template 8000 downloads it (simulated Ubuntu server).
    let o = sim.run(&["LetsGo", "--config", cfg, "--no-boot-delay"]);
    assert!(o.status.success(), "LetsGo failed:\n{}", stderr(&o));
    stderr(&o)
}

/// Cloud image transfers (`curl ... -o <file> <url>`; not the `SHA256SUMS` reads, not the
/// set-up's NVIDIA download).
fn image_transfers(calls: &[Value]) -> usize {
    calls
        .iter()
        .filter(|c| c["tool"] == "curl")
        .map(|c| c["argv"].as_array().unwrap())
        .filter(|a| a.iter().any(|a| a == "-o"))
        .filter(|a| {
            a.last()
                .and_then(Value::as_str)
                .is_some_and(|u| u.ends_with(".img"))
        })
        .count()
}

fn guests(dump: &Value) -> BTreeMap<u64, &Value> {
    dump["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["vmid"].as_u64().unwrap(), g))
        .collect()
}

fn lxc_file() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(upstream_fixture().join("phoenix_lxc_configs.json")).unwrap(),
    )
    .unwrap()
}

#[test]
fn lets_go_builds_the_upstream_deployment() {
    let sim = Sim::new();
    let out = converge(&sim);
    assert!(
        out.contains("Summary: 19 processed, 0 skipped, 0 failed"),
        "{out}"
    );
    assert!(
        out.contains("VM 8000: downloading https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img")
            && out.contains("noble-server-cloudimg-amd64.img verified (sha256 "),
        "{out}"
    );
    let image = sim
        .dir()
        .join("host/var/lib/vz/template/phoenix-images/noble-server-cloudimg-amd64.img");
    assert!(std::fs::read(&image).unwrap().starts_with(b"QFI\xfb"));
    let dump = sim.dump();
    let by_id = guests(&dump);
    assert_eq!(by_id.len(), 19);
    for (key, want) in lxc_file()["lxc_configs"].as_object().unwrap() {
        let id: u64 = key.parse().unwrap();
        let g = by_id
            .get(&id)
            .unwrap_or_else(|| panic!("container {id} missing"));
        let c = &g["config"];
        assert_eq!(g["type"], "lxc");
        assert_eq!(c["hostname"], want["name"], "{id} hostname");
        assert_eq!(c["memory"], want["memory_mb"].to_string(), "{id} memory");
        assert_eq!(c["cores"], want["cores"].to_string(), "{id} cores");
        let net0 = c["net0"].as_str().unwrap();
        assert!(
            net0.contains(want["mac_address"].as_str().unwrap()),
            "{id} mac in {net0}"
        );
        assert!(
            net0.contains(&format!(
                "ip={}",
                want["network_config"]["ip"].as_str().unwrap()
            )),
            "{id} ip in {net0}"
        );
        let size = format!("size={}G", want["storage_size_gb"]);
        assert!(
            c["rootfs"].as_str().unwrap().contains(&size),
            "{id} rootfs {}",
            c["rootfs"]
        );
        if want.get("firewall").is_some_and(|f| f["enabled"] == true) {
            assert!(net0.contains("firewall=1"), "{id} firewall on net0");
        }
        let snaps: Vec<&str> = g["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        if let Some(t) = want["template_snapshot_name"].as_str() {
            assert!(snaps.contains(&t), "{id} snapshot {t} in {snaps:?}");
        }
        let volumes = want["zfs_volumes"]
            .as_array()
            .into_iter()
            .chain(want["volumes"].as_array())
            .flatten();
        for v in volumes {
            let mp = format!("mp={}", v["mount_point"].as_str().unwrap());
            let found =
                c.as_object().unwrap().iter().any(|(k, val)| {
                    k.starts_with("mp") && val.as_str().unwrap_or("").contains(&mp)
                });
            assert!(found, "{id} volume at {mp}");
        }
        assert_eq!(g["run"]["status"], "running", "{id} runs");
    }
    // Inside the guests the features' install branches ran, where the guest did not inherit
    // the feature from its clone source (issue 14).
    let node = sim.dir();
    let ran = |id: u64, words: &[&str]| {
        standins(&exec_log(&node, id))
            .iter()
            .any(|(c, changed)| *changed && words.iter().all(|w| c.contains(w)))
    };
    assert!(
        ran(900, &["apt-get install", "jq"]),
        "base_setup installs in 900"
    );
    assert!(ran(901, &["nvidia-installer"]), "nvidia installs in 901");
    assert!(
        ran(902, &["apt-get install", "docker-ce"]),
        "docker installs in 902"
    );
    assert!(ran(920, &["pip install", "vllm"]), "vllm installs in 920");
    assert!(
        ran(955, &["systemctl enable ollama"]),
        "ollama installs in 955"
    );
    assert!(
        ran(910, &["docker run", "portainer"]),
        "Portainer runs in 910"
    );
    assert!(
        !ran(950, &["pip install", "vllm"]),
        "950 inherits vLLM from 920's snapshot"
    );
    let packages = |g: &Value| g["packages"].to_string();
    assert!(
        !packages(by_id[&900]).contains("docker-ce"),
        "900 never had Docker"
    );
    for id in [902, 903, 910, 952, 956, 960] {
        assert!(
            packages(by_id[&id]).contains("docker-ce"),
            "{id} has Docker"
        );
    }
    // The "already done" branches: converge re-runs every feature and application script in
    // the running guests; none of them changes anything.
    let ids: Vec<String> = by_id.keys().map(|i| i.to_string()).collect();
    let before: Vec<usize> = by_id.keys().map(|i| exec_log(&node, *i).len()).collect();
    let cfg = upstream_fixture().join("phoenix_hypervisor_config.json");
    let mut args = vec!["converge"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--config", cfg.to_str().unwrap(), "--no-boot-delay"]);
    let o = sim.run(&args);
    assert!(o.status.success(), "converge: {}", stderr(&o));
    for (id, n) in by_id.keys().zip(before) {
        let changed: Vec<String> = standins(&exec_log(&node, *id)[n..])
            .into_iter()
            .filter(|(_, c)| *c)
            .map(|(c, _)| c)
            .collect();
        assert!(
            changed.is_empty(),
            "converge changed guest {id}: {changed:?}"
        );
    }
    let problems = cloud_init_problems(&node);
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let t = by_id[&8000];
    assert_eq!(t["config"]["template"], "1", "8000 is a template");
    assert_eq!(t["run"]["status"], "stopped", "a template is never started");
    let c = by_id[&8001];
    assert_eq!(c["run"]["status"], "running");
    assert_eq!(c["config"]["cores"], "4");
    assert_eq!(c["config"]["memory"], "8192");
    let snaps: Vec<&str> = c["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(snaps.contains(&"initial"), "{snaps:?}");
    // The Bash CLI's `health-check <vmid>` on the converged node.
    let cfg = upstream_fixture().join("phoenix_hypervisor_config.json");
    let cfg = cfg.to_str().unwrap();
    let o = sim.run(&["health-check", "8001", "--config", cfg]);
    assert!(
        o.status.success() && stderr(&o).contains("VM 8001: foundation checks passed"),
        "{}",
        stderr(&o)
    );
    let o = sim.run(&["health-check", "8000", "--config", cfg]);
    assert_eq!(o.status.code(), Some(1), "a template never runs");
    // GPU containers see exactly their GPUs.
    let c957 = by_id[&957]["config"].as_object().unwrap();
    let devs: Vec<&str> = c957
        .iter()
        .filter(|(k, _)| k.starts_with("dev"))
        .map(|(_, v)| v.as_str().unwrap())
        .collect();
    assert!(
        devs.iter().any(|d| d.contains("/dev/nvidia1"))
            && !devs.iter().any(|d| d.contains("/dev/nvidia0")),
        "{devs:?}"
    );
}

#[test]
fn every_logged_call_is_valid_per_the_reference_and_a_rerun_changes_nothing() {
    let sim = Sim::new();
    converge(&sim);
    let first = sim.invocations();
    let mut bad = Vec::new();
    for call in &first {
        let tool = call["tool"].as_str().unwrap();
        if !["pct", "qm", "pvesm", "pveam"].contains(&tool) {
            continue;
        }
        let argv: Vec<String> = call["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        if let Err(e) = pve::spec::validate(tool, &argv) {
            bad.push(format!("{tool} {}: {e}", argv.join(" ")));
        }
        // A guest command's exit code is the guest's answer (a probe answering "not yet" is
        // not a failure); every other call must succeed.
        if call["argv"][0] != "exec" {
            assert_eq!(
                call["exit_code"], 0,
                "a clean run has no failing call: {call}"
            );
        }
    }
    assert!(bad.is_empty(), "invalid calls:\n{}", bad.join("\n"));
    assert!(!first.iter().any(|c| c["tool"] == "qm"
        && (c["argv"][0] == "push" || (c["argv"][0] == "agent" && c["argv"][2] == "exec"))));

    let before = sim.dump();
    let cfg = upstream_fixture().join("phoenix_hypervisor_config.json");
    let o = sim.run(&[
        "LetsGo",
        "--config",
        cfg.to_str().unwrap(),
        "--no-boot-delay",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let second: Vec<Value> = sim.invocations().split_off(first.len());
    let pq: Vec<&Value> = second
        .iter()
        .filter(|c| c["tool"] == "pct" || c["tool"] == "qm")
        .collect();
    let mutating: Vec<String> = pq
        .iter()
        .filter(|c| c["mutating"] == true)
        .map(|c| c.to_string())
        .collect();
    assert!(
        mutating.is_empty(),
        "a no-op LetsGo must not change anything:\n{}",
        mutating.join("\n")
    );
    assert!(
        pq.len() <= 2 * 19,
        "at most 2 pct/qm calls per guest, got {}",
        pq.len()
    );
    assert_eq!(image_transfers(&first), 1, "one download on a fresh host");
    assert_eq!(
        image_transfers(&second),
        0,
        "the cached image is not fetched again"
    );
    assert_eq!(sim.dump(), before, "the node is unchanged");
}
