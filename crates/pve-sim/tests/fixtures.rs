//! The upstream fixture (17 containers, 2 VMs) built on the simulator the way the Bash
//! orchestrator does it. Runs when `<workspace>/../shared/fixtures` exists (as in CI).
mod common;
use common::*;
use serde_json::Value;
use std::path::PathBuf;

fn fixture_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/upstream-2025-10-01");
    d.is_dir().then_some(d)
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn upstream_fixture_builds() {
    let Some(dir) = fixture_dir() else {
        eprintln!("fixtures not found; skipping");
        return;
    };
    let s = Sim::bare();
    let hv = dir.join("phoenix_hypervisor_config.json");
    s.admin(&["init", "--config", hv.to_str().unwrap()]).ok();
    s.run("pveam", &["download", "fastData-shared-iso", TEMPLATE])
        .ok();
    let lxc: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("phoenix_lxc_configs.json")).unwrap(),
    )
    .unwrap();
    let cts = lxc["lxc_configs"].as_object().unwrap();
    // Creation order: parents before clones.
    let mut done: Vec<String> = Vec::new();
    while done.len() < cts.len() {
        let before = done.len();
        for (id, c) in cts {
            if done.contains(id) {
                continue;
            }
            let parent = match &c["clone_from_ctid"] {
                Value::Number(n) => Some(n.to_string()),
                Value::String(s) => Some(s.clone()),
                _ => None,
            };
            if parent.as_ref().is_some_and(|p| !done.contains(p)) {
                continue;
            }
            let net = &c["network_config"];
            let mut net0 = format!(
                "name={},bridge={},ip={},hwaddr={}",
                net["name"].as_str().unwrap(),
                net["bridge"].as_str().unwrap(),
                net["ip"].as_str().unwrap(),
                c["mac_address"].as_str().unwrap()
            );
            if let Some(gw) = net["gw"].as_str() {
                net0.push_str(&format!(",gw={gw}"));
            }
            let mut common: Vec<String> = vec![
                "--hostname".into(),
                c["name"].as_str().unwrap().into(),
                "--memory".into(),
                c["memory_mb"].to_string(),
                "--cores".into(),
                c["cores"].to_string(),
                "--net0".into(),
                net0,
            ];
            if let Some(f) = c["pct_options"].as_array().filter(|a| !a.is_empty()) {
                let f: Vec<&str> = f.iter().filter_map(Value::as_str).collect();
                common.push("--features".into());
                common.push(f.join(","));
            }
            match &parent {
                None => {
                    let mut a: Vec<String> = vec![
                        "create".into(),
                        id.clone(),
                        c["template"].as_str().unwrap().into(),
                        "--rootfs".into(),
                        format!(
                            "{}:{}",
                            c["storage_pool"].as_str().unwrap(),
                            c["storage_size_gb"]
                        ),
                        "--unprivileged".into(),
                        if c["unprivileged"].as_bool() == Some(true) {
                            "1"
                        } else {
                            "0"
                        }
                        .into(),
                    ];
                    a.extend(common);
                    s.run("pct", &args(&a)).ok();
                }
                Some(p) => {
                    let snap = cts[p]["template_snapshot_name"].as_str().unwrap();
                    let a: Vec<String> = vec![
                        "clone".into(),
                        p.clone(),
                        id.clone(),
                        "--snapname".into(),
                        snap.into(),
                    ];
                    s.run("pct", &args(&a)).ok();
                    let mut a: Vec<String> = vec!["set".into(), id.clone()];
                    a.extend(common);
                    s.run("pct", &args(&a)).ok();
                }
            }
            let vols = c["volumes"]
                .as_array()
                .into_iter()
                .chain(c["zfs_volumes"].as_array())
                .flatten();
            for (i, v) in vols.enumerate() {
                let mp = format!(
                    "{}:{},mp={}",
                    v["pool"].as_str().unwrap(),
                    v["size_gb"],
                    v["mount_point"].as_str().unwrap()
                );
                s.run("pct", &["set", id, &format!("--mp{i}"), &mp]).ok();
            }
            // Raw lxc options are appended to the file, as the orchestrator does.
            let path = s.path(&format!("etc/pve/lxc/{id}.conf"));
            let mut conf = pve::Conf::parse(&std::fs::read_to_string(&path).unwrap());
            for o in c["lxc_options"].as_array().into_iter().flatten() {
                let (k, v) = o.as_str().unwrap().split_once('=').unwrap();
                if !conf.lxc_entries().contains(&(k, v)) {
                    conf.main_mut().add_lxc(k, v);
                }
            }
            std::fs::write(&path, conf.to_string()).unwrap();
            s.run("pct", &["start", id]).ok();
            s.run("pct", &["exec", id, "--", "true"]).ok();
            if let Some(snap) = c["template_snapshot_name"].as_str() {
                s.run("pct", &["stop", id]).ok();
                s.run("pct", &["snapshot", id, snap]).ok();
            }
            done.push(id.clone());
        }
        assert!(done.len() > before, "clone_from_ctid cycle");
    }
    let list = pve::output::parse_pct_list(&s.pct("list").ok().stdout).unwrap();
    assert_eq!(list.len(), cts.len());
    let c950 = pve::Conf::parse(&s.read("etc/pve/lxc/950.conf"));
    assert_eq!(
        c950.get("mp0"),
        // Disk numbers are per storage, as Proxmox finds free names.
        Some("fastData-shared-bulk-data:subvol-950-disk-0,mp=/vllm_models,size=50G")
    );
    assert!(c950
        .lxc_entries()
        .contains(&("lxc.apparmor.profile", "unconfined")));

    // VMs: the cloud template and a full clone. Ubuntu's cloud image has no guest agent
    // until cloud-init installs it, as the user-data Phoenix writes does.
    let snippets = s.path("storage/local/snippets");
    std::fs::create_dir_all(&snippets).unwrap();
    std::fs::write(
        snippets.join("agent.yml"),
        "#cloud-config\npackages: [qemu-guest-agent]\n",
    )
    .unwrap();
    let img = s.dir.path().join("noble-server-cloudimg-amd64.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    s.run(
        "qm",
        &[
            "create",
            "8000",
            "--name",
            "ubuntu-2404-cloud-template",
            "--memory",
            "8192",
            "--cores",
            "4",
            "--net0",
            "virtio,bridge=vmbr0",
            "--scsihw",
            "virtio-scsi-pci",
            "--scsi0",
            &format!("quickOS-vm-disks:0,import-from={}", img.display()),
            "--ide2",
            "quickOS-vm-disks:cloudinit",
            "--boot",
            "order=scsi0",
            "--serial0",
            "socket",
            "--vga",
            "serial0",
            "--agent",
            "enabled=1",
            "--ciuser",
            "phoenix_user",
            "--ipconfig0",
            "ip=10.0.0.45/24,gw=10.0.0.1",
            "--nameserver",
            "75.75.75.75 75.75.76.76",
            "--cicustom",
            "user=local:snippets/agent.yml",
        ],
    )
    .ok();
    s.qm("template 8000").ok();
    s.qm("clone 8000 8001 --name docker-vm-01 --full 1").ok();
    s.qm("set 8001 --cores 4 --memory 8192 --ipconfig0 ip=10.0.0.101/24,gw=10.0.0.1")
        .ok();
    s.qm("resize 8001 scsi0 100G").ok();
    s.qm("start 8001").ok();
    s.qm("guest cmd 8001 ping").ok();
    s.run(
        "qm",
        &[
            "guest",
            "exec",
            "8001",
            "--",
            "cloud-init",
            "status",
            "--wait",
        ],
    )
    .ok();
    s.qm("stop 8001").ok();
    s.qm("snapshot 8001 initial").ok();
    // Every call made above passes the spec, and none failed.
    for l in s.log() {
        assert_eq!(l["exit_code"], 0, "{l}");
    }
}
