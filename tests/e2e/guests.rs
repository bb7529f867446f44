//! The simulated guests run what Phoenix sends them for real (issue 14): on a fresh node the
//! example's `LetsGo` goes through every feature's install branch (seen in the guests' exec
//! logs and in their packages and services), clones start from their source's snapshot, and a
//! `converge` afterwards finds everything in place (no stand-in changes anything). Every
//! cloud-init snippet Phoenix wrote passes cloud-init's own checks.

use std::path::Path;

use phoenix_tests::{cloud_init_problems, exec_log, repo, standins, stderr, Sim};
use serde_json::Value;

fn example_config() -> String {
    repo()
        .join("etc/phoenix_hypervisor_config.json")
        .to_string_lossy()
        .into_owned()
}

fn guest(dump: &Value, id: u64) -> &Value {
    dump["guests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["vmid"] == id)
        .unwrap_or_else(|| panic!("guest {id} missing"))
}

fn has_package(g: &Value, name: &str) -> bool {
    g["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().unwrap_or("").starts_with(&format!("{name}=")))
}

fn unit_in(g: &Value, which: &str, unit: &str) -> bool {
    g["services"][which]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u == unit)
}

/// A stand-in call that changed the guest and contains all of `words`.
fn changed_call(node: &Path, id: u64, words: &[&str]) -> bool {
    standins(&exec_log(node, id))
        .iter()
        .any(|(c, changed)| *changed && words.iter().all(|w| c.contains(w)))
}

#[test]
fn example_lets_go_installs_for_real_and_converge_finds_everything_in_place() {
    let sim = Sim::new();
    let cfg = example_config();
    let o = sim.run(&["setup", "--config", &cfg]);
    assert!(o.status.success(), "setup: {}", stderr(&o));
    let o = sim.run(&["LetsGo", "--config", &cfg, "--no-boot-delay"]);
    assert!(o.status.success(), "LetsGo: {}", stderr(&o));
    let node = sim.dir();

    // Install branches, from the guests' exec logs.
    assert!(
        changed_call(&node, 900, &["apt-get install", "jq", "locales"]),
        "base_setup on 900"
    );
    assert!(
        changed_call(&node, 900, &["locale-gen en_US.UTF-8"]),
        "locale on 900"
    );
    assert!(
        changed_call(&node, 901, &["nvidia-installer", "--no-kernel-module"]),
        "nvidia on 901"
    );
    assert!(
        changed_call(&node, 902, &["apt-get install", "docker-ce"]),
        "docker on 902"
    );
    assert!(
        changed_call(&node, 950, &["pip install", "vllm"]),
        "vllm on 950"
    );
    assert!(
        changed_call(&node, 950, &["systemctl enable --now vllm.service"]),
        "vllm started by its app"
    );
    assert!(
        changed_call(&node, 953, &["apt-get install", "nginx"]),
        "nginx by 953's app"
    );
    assert!(
        changed_call(&node, 8000, &["apt-get", "install", "qemu-guest-agent"]),
        "cloud-init on 8000"
    );
    assert!(
        changed_call(&node, 8001, &["apt-get install", "docker-ce"]),
        "docker in VM 8001"
    );

    // A fresh container lacks Docker until its feature installs it: 902's first probe for
    // docker-ce answers "not installed", before the install.
    let log902 = standins(&exec_log(&node, 902));
    let probe = log902
        .iter()
        .position(|(c, _)| c.starts_with("dpkg-query") && c.ends_with("docker-ce"))
        .expect("docker-ce probe");
    let install = log902
        .iter()
        .position(|(c, ch)| *ch && c.contains("install") && c.contains("docker-ce"))
        .expect("docker-ce install");
    assert!(probe < install);
    let probe_entry = exec_log(&node, 902)
        .into_iter()
        .find(|e| e["standin"].to_string().contains("docker-ce") && e["standin"][0] == "dpkg-query")
        .unwrap();
    assert_eq!(probe_entry["exit_code"], 1, "{probe_entry}");

    // Clones start from their source's snapshot: 953 (900@base-ready) and 952 (902@docker-ready)
    // install nothing their source had.
    assert!(
        !changed_call(&node, 953, &["apt-get install", "jq"]),
        "953 inherits base_setup"
    );
    assert!(
        !changed_call(&node, 952, &["docker-ce"]),
        "952 inherits Docker"
    );

    // The guests' state, from the dump.
    let dump = sim.dump();
    let g900 = guest(&dump, 900);
    assert!(has_package(g900, "jq") && has_package(g900, "tzdata"));
    assert!(!has_package(g900, "docker-ce"), "900 never had Docker");
    for id in [902, 952] {
        let g = guest(&dump, id);
        assert!(has_package(g, "docker-ce"), "{id}");
        assert!(unit_in(g, "enabled", "docker.service") && unit_in(g, "active", "docker.service"));
    }
    let g950 = guest(&dump, 950);
    assert!(unit_in(g950, "enabled", "vllm.service") && unit_in(g950, "active", "vllm.service"));
    assert!(unit_in(guest(&dump, 953), "active", "nginx.service"));
    let g8001 = guest(&dump, 8001);
    assert!(has_package(g8001, "docker-ce") && has_package(g8001, "qemu-guest-agent"));

    // The "already done" branches: converge re-applies every feature and application script;
    // nothing in any guest changes.
    let before: Vec<(u64, usize)> = [900, 901, 902, 953, 950, 952, 8000, 8001]
        .iter()
        .map(|id| (*id, exec_log(&node, *id).len()))
        .collect();
    let ids: Vec<String> = before.iter().map(|(i, _)| i.to_string()).collect();
    let mut args = vec!["converge"];
    args.extend(ids.iter().map(String::as_str));
    args.extend(["--config", &cfg, "--no-boot-delay"]);
    let o = sim.run(&args);
    assert!(o.status.success(), "converge: {}", stderr(&o));
    let mut reran = 0;
    for (id, n) in before {
        let log = exec_log(&node, id);
        let new = standins(&log[n..]);
        reran += new.len();
        let changed: Vec<&String> = new.iter().filter(|(_, c)| *c).map(|(c, _)| c).collect();
        assert!(
            changed.is_empty(),
            "converge changed guest {id}: {changed:?}"
        );
    }
    assert!(
        reran > 50,
        "converge re-ran the scripts' probes ({reran} stand-in calls)"
    );

    // Every snippet Phoenix wrote is valid for cloud-init.
    let problems = cloud_init_problems(&node);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// On a node that knows only Proxmox's default storages, set-up registers the datasets'
/// storages with `pvesm add` (as on a real host), and a second set-up adds nothing.
#[test]
fn setup_registers_storages_with_pvesm_add() {
    let sim = Sim::new();
    let cfg = example_config();
    let init = std::process::Command::new(phoenix_tests::bin("pve-sim"))
        .arg("init")
        .env("PVE_SIM_ROOT", sim.dir())
        .status()
        .expect("pve-sim init");
    assert!(init.success());
    let o = sim.run(&["setup", "--config", &cfg]);
    assert!(o.status.success(), "setup: {}", stderr(&o));
    let adds: Vec<Value> = sim
        .invocations()
        .into_iter()
        .filter(|c| c["tool"] == "pvesm" && c["argv"][0] == "add")
        .collect();
    assert!(!adds.is_empty(), "set-up registered no storage");
    assert!(adds.iter().all(|c| c["exit_code"] == 0), "{adds:?}");
    let cfgtext = std::fs::read_to_string(sim.dir().join("etc/pve/storage.cfg")).unwrap();
    for c in &adds {
        let id = c["argv"][2].as_str().unwrap();
        assert!(
            cfgtext.contains(&format!(": {id}\n")),
            "{id} in storage.cfg:\n{cfgtext}"
        );
    }
    let n = sim.invocations().len();
    let o = sim.run(&["setup", "--config", &cfg]);
    assert!(o.status.success(), "second setup: {}", stderr(&o));
    let again = sim.invocations()[n..]
        .iter()
        .filter(|c| c["tool"] == "pvesm" && c["argv"][0] == "add")
        .count();
    assert_eq!(again, 0, "a second set-up registers nothing");
}
