//! `scripts/install.sh` into a temp prefix with the already built binaries, then the installed
//! `phoenix` runs from there; a second install keeps an edited config file.

mod common;

use common::*;
use std::process::Command;

fn install(prefix: &std::path::Path) -> std::process::Output {
    for b in [
        "phoenix",
        "lxc-manager",
        "vm-manager",
        "hypervisor-manager",
        "pve-sim",
    ] {
        assert!(bin(b).is_file(), "{b} not built");
    }
    let mut c = Command::new("bash");
    c.arg(repo().join("scripts/install.sh"))
        .arg("--prefix")
        .arg(prefix)
        .arg("--bin-dir")
        .arg(bin_dir());
    c.env("PHOENIX_INSTALL_SKIP_BUILD", "1");
    run(&mut c)
}

fn installed(prefix: &std::path::Path, exe: &str) -> Command {
    let mut c = Command::new(prefix.join(exe));
    for v in [
        "PHOENIX_SIM",
        "PVE_SIM_ROOT",
        "PHOENIX_CONFIG",
        "PHOENIX_SCRIPTS_DIR",
        "PHOENIX_SIM_BIN",
        "PHOENIX_MANAGER_DIR",
        "PHOENIX_HOST_ROOT",
        "PHOENIX_PVE_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

#[test]
fn installed_layout_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("phoenix_hypervisor");
    let o = install(&prefix);
    assert!(o.status.success(), "{}", text(&o).1);
    for p in [
        "bin/phoenix",
        "bin/pve-sim",
        "bin/managers/lxc-manager",
        "bin/managers/vm-manager",
        "bin/managers/hypervisor-manager",
        "bin/managers/hypervisor-manager.sh",
        "bin/phoenix_hypervisor_common_utils.sh",
        "bin/phoenix_orchestrator.sh",
        "bin/hypervisor_setup/hypervisor_feature_zfs.sh",
        "bin/lxc_setup/phoenix_hypervisor_feature_install_docker.sh",
        "bin/tests/hypervisor_test_runner.sh",
        "etc/phoenix_hypervisor_config.json",
        "etc/apparmor/lxc-phoenix-v2",
        "schemas/phoenix_hypervisor_config.schema.json",
    ] {
        assert!(prefix.join(p).exists(), "{p} not installed");
    }

    let help = run(installed(&prefix, "bin/phoenix").arg("--help"));
    assert!(help.status.success(), "{}", text(&help).1);
    assert!(text(&help).0.contains("setup"), "{}", text(&help).0);

    let cfg = prefix.join("etc/phoenix_hypervisor_config.json");
    let v = run(installed(&prefix, "bin/phoenix")
        .arg("validate")
        .arg("--config")
        .arg(&cfg));
    assert!(v.status.success(), "{}{}", text(&v).0, text(&v).1);

    // The legacy name of a manager reaches the same binary.
    let hm = run(installed(&prefix, "bin/managers/hypervisor-manager.sh")
        .arg("foobar")
        .arg("--config")
        .arg(&cfg));
    assert_eq!(hm.status.code(), Some(1));
    assert!(text(&hm).1.contains("Error: Invalid verb 'foobar'"));

    // An upgrade keeps the user's config file.
    std::fs::write(&cfg, "{\"edited\": true}\n").expect("edit config");
    let o = install(&prefix);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap_or_default(),
        "{\"edited\": true}\n"
    );
    assert!(text(&o).1.contains("keeping existing"), "{}", text(&o).1);
}
