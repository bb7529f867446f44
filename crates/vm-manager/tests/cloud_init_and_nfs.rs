//! Generated cloud-init (fixture and example VMs) checked by cloud-init itself, and shared
//! volumes over NFS with the example config.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn example() -> Node {
    let n = Node::from_dir(&repo().join("etc"));
    n.seed_image(CACHE, NOBLE, 2 << 20);
    n
}

fn snippets(n: &Node, id: u32) -> (PathBuf, PathBuf) {
    let found: Vec<PathBuf> = walk(&n.sim.join("storage"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&format!("phoenix-{id}-")))
        })
        .collect();
    let pick = |suffix: &str| {
        found
            .iter()
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .cloned()
            .unwrap_or_else(|| panic!("no {suffix} for {id} in {found:?}"))
    };
    (pick("-user.yml"), pick("-network.yml"))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn cloud_init() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("cloud-init"))
        .find(|p| p.is_file())
}

/// `cloud-init schema` for user-data; for network-config `--schema-type network-config` when
/// this cloud-init has it, else cloud-init's own converter must turn it into netplan holding
/// the address (cloud-init before 23.x has no network-config schema).
fn check_with_cloud_init(user: &Path, net: &Path, expect_addr: &str) {
    let Some(ci) = cloud_init() else {
        eprintln!("SKIP: cloud-init is not on PATH; install it (apt-get install -y cloud-init) to validate {}", user.display());
        return;
    };
    let out = Command::new(&ci)
        .args(["schema", "--config-file"])
        .arg(user)
        .output()
        .expect("cloud-init schema");
    assert!(
        out.status.success(),
        "{} invalid: {}{}",
        user.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let help = Command::new(&ci)
        .args(["schema", "--help"])
        .output()
        .expect("help");
    if String::from_utf8_lossy(&help.stdout).contains("--schema-type") {
        let out = Command::new(&ci)
            .args(["schema", "--schema-type", "network-config", "--config-file"])
            .arg(net)
            .output()
            .expect("schema");
        assert!(
            out.status.success(),
            "{} invalid: {}",
            net.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(&ci)
        .args([
            "devel",
            "net-convert",
            "--kind",
            "yaml",
            "--output-kind",
            "netplan",
            "--distro",
            "ubuntu",
            "--network-data",
        ])
        .arg(net)
        .arg("--directory")
        .arg(dir.path())
        .output()
        .expect("net-convert");
    assert!(
        out.status.success(),
        "{} rejected: {}",
        net.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered: String = walk(dir.path())
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    assert!(
        rendered.contains(expect_addr),
        "netplan from {} lacks {expect_addr}:\n{rendered}",
        net.display()
    );
}

#[test]
fn fixture_cloud_init_passes_cloud_init() {
    let n = Node::fixture();
    n.seed_image(CACHE, NOBLE, 1 << 20);
    n.ok(&["create", "8000"]);
    n.ok(&["create", "8001"]);
    for (id, addr) in [(8000, "10.0.0.45/24"), (8001, "10.0.0.101/24")] {
        let (user, net) = snippets(&n, id);
        let text = std::fs::read_to_string(&user).expect("user-data");
        assert!(
            text.starts_with("#cloud-config\n")
                && text.contains("\"phoenix_user\"")
                && text.contains("qemu-guest-agent")
        );
        check_with_cloud_init(&user, &net, addr);
    }
}

#[test]
fn example_vms_cloud_init_and_shared_volume() {
    let n = example();
    n.init();
    let exports = n.sim.join("host/etc/exports");
    std::fs::create_dir_all(exports.parent().expect("etc")).expect("etc");
    std::fs::write(
        &exports,
        "/tank/other 192.168.50.0/24(ro)\n/tank/shared-data 10.9.0.0/16(rw,sync)\n",
    )
    .expect("exports");
    let bin = n.tmp.path().join("fakebin");
    std::fs::create_dir_all(&bin).expect("bin");
    let marker = n.tmp.path().join("exportfs.calls");
    let fake = format!("#!/bin/sh\necho \"$*\" >> '{}'\n", marker.display());
    std::fs::write(bin.join("exportfs"), fake).expect("fake");
    Command::new("chmod")
        .arg("+x")
        .arg(bin.join("exportfs"))
        .status()
        .expect("chmod");
    let mut n = n;
    n.extra_env.push((
        "PATH".into(),
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    ));
    n.ok(&["create", "8000"]);
    n.ok(&["create", "8001"]);
    let text = std::fs::read_to_string(&exports).expect("exports");
    assert_eq!(text.matches("192.168.50.101").count(), 1, "{text}");
    assert!(text.contains("/tank/shared-data 10.9.0.0/16(rw,sync) 192.168.50.101(rw,sync,no_subtree_check,root_squash)"), "{text}");
    let ran_exportfs = std::fs::read_to_string(&marker)
        .unwrap_or_default()
        .lines()
        .count()
        + n.log().iter().filter(|c| c.tool == "exportfs").count();
    assert_eq!(ran_exportfs, 1, "exportfs -ra once, after the change");
    let mounts: Vec<serde_json::Value> = n
        .guest_exec_log(8001)
        .into_iter()
        .filter(|e| {
            e["cmd"]
                .to_string()
                .contains("192.168.50.2:/tank/shared-data")
        })
        .collect();
    assert_eq!(mounts.len(), 1);
    assert!(mounts[0]["cmd"].to_string().contains("/mnt/shared"));
    for (id, addr) in [(8000, "dhcp"), (8001, "192.168.50.101/24")] {
        let (user, net) = snippets(&n, id);
        check_with_cloud_init(&user, &net, addr);
    }
    let again = n.calls_of(|| {
        n.ok(&["create", "8001"]);
    });
    assert!(again.iter().all(|c| !c.mutating), "{:#?}", lines(&again));
    assert_eq!(std::fs::read_to_string(&exports).expect("exports"), text);
    assert_eq!(
        n.guest_exec_log(8001)
            .iter()
            .filter(|e| e["cmd"].to_string().contains("/tank/shared-data"))
            .count(),
        1
    );
}
