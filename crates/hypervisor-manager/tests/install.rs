//! `scripts/install.sh` into a temp prefix with the already built binaries (never cargo), and a
//! temp folder standing in for `/usr/local/bin`; the installed `phoenix` runs from there and
//! through the link, reads `<prefix>/etc` by default, says where it looked when the config is
//! missing; a second install keeps an edited config file.

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
        .arg(bin_dir())
        .arg("--link-dir")
        .arg(link_dir(prefix));
    c.env_remove("PHOENIX_INSTALL_SKIP_BUILD");
    run(&mut c)
}

/// Stands in for `/usr/local/bin`: beside the prefix, inside the test's temp folder.
fn link_dir(prefix: &std::path::Path) -> std::path::PathBuf {
    prefix.with_file_name("usr-local-bin")
}

fn installed(prefix: &std::path::Path, exe: &str) -> Command {
    clean(prefix.join(exe))
}

/// `exe` without the environment that would point it elsewhere than its installation.
fn clean(exe: std::path::PathBuf) -> Command {
    let mut c = Command::new(exe);
    for v in [
        "PHOENIX_SIM",
        "PVE_SIM_ROOT",
        "PHOENIX_CONFIG",
        "PHOENIX_SCRIPTS_DIR",
        "PHOENIX_SIM_BIN",
        "PHOENIX_MANAGER_DIR",
        "PHOENIX_HOST_ROOT",
        "PHOENIX_PVE_DIR",
        "PHOENIX_BASE_DIR",
    ] {
        c.env_remove(v);
    }
    c
}

#[test]
fn installed_binaries_read_their_prefix_etc_and_name_every_path_when_it_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("px");
    let o = install(&prefix);
    assert!(o.status.success(), "{}", text(&o).1);
    // No --config, no PHOENIX_CONFIG: <prefix>/etc, also through the PATH link and a manager.
    for exe in [
        prefix.join("bin/phoenix"),
        link_dir(&prefix).join("phoenix"),
    ] {
        let v = run(clean(exe.clone()).arg("validate"));
        let (out, err) = text(&v);
        assert!(v.status.success(), "{} validate: {out}{err}", exe.display());
        assert!(out.contains("configuration is valid"), "{out}");
    }
    let hm = run(installed(&prefix, "bin/managers/hypervisor-manager")
        .args(["setup", "--dry-run"])
        .arg(format!("--sim={}", dir.path().join("sim").display())));
    let (_, err) = text(&hm);
    assert!(!err.contains("no hypervisor config found"), "{err}");
    assert!(err.contains("==> setup step 1/"), "{err}");

    let default = std::path::Path::new(phoenix_config::paths::DEFAULT_CONFIG);
    std::fs::remove_file(prefix.join("etc/phoenix_hypervisor_config.json")).expect("rm");
    let v = run(installed(&prefix, "bin/phoenix").arg("validate"));
    let (_, err) = text(&v);
    if default.exists() {
        // This machine has an installed Bash orchestrator: it is the second place looked at.
        assert!(v.status.success(), "{err}");
    } else {
        assert_eq!(v.status.code(), Some(2), "{err}");
        let want = format!(
            "Error: no hypervisor config found; looked for (in order):\n  1. {}\n  2. {}\npass --config PATH or set PHOENIX_CONFIG=PATH",
            prefix.join("etc/phoenix_hypervisor_config.json").display(),
            default.display()
        );
        assert!(err.contains(&want), "{err}");
    }
    let v = run(installed(&prefix, "bin/phoenix").args([
        "validate",
        "--config",
        "/nonexistent/phoenix.json",
    ]));
    let (_, err) = text(&v);
    assert_eq!(v.status.code(), Some(2));
    assert!(
        err.contains("Error: config file /nonexistent/phoenix.json (from --config) not found; pass --config PATH or set PHOENIX_CONFIG=PATH"),
        "{err}"
    );
    let v = run(installed(&prefix, "bin/managers/vm-manager")
        .args(["status", "8000"])
        .env("PHOENIX_CONFIG", "/nonexistent/env.json"));
    let (_, err) = text(&v);
    assert_eq!(v.status.code(), Some(2));
    assert!(
        err.contains("Error: config file /nonexistent/env.json (from PHOENIX_CONFIG) not found"),
        "{err}"
    );
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
