//! Shared helpers of the hypervisor-manager tests: the real binaries from `target/<profile>/`,
//! copies of the example and upstream configs in temp folders, and the simulator's call log.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// `target/<profile>/`, where cargo put this test's binaries (`.../deps/<test>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let deps = exe.parent().expect("deps folder");
    deps.parent().expect("profile folder").to_path_buf()
}

/// Path of workspace binary `name`, built on demand when `cargo test -p` did not build it.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    if !p.is_file() {
        // Each binary is built by the package of the same name.
        let pkg = name;
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", pkg])
            .current_dir(repo())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {pkg} failed");
    }
    p
}

/// A command for binary `name` with a clean Phoenix environment and the checkout's scripts.
pub fn cmd(name: &str) -> Command {
    let mut c = Command::new(bin(name));
    for v in [
        "PHOENIX_SIM",
        "PVE_SIM_ROOT",
        "PHOENIX_CONFIG",
        "PHOENIX_HOST_ROOT",
        "PHOENIX_PVE_DIR",
        "PHOENIX_DRY_RUN",
        "PHOENIX_HOST_LOCK_HELD",
        "PHOENIX_LOCK_FILE",
        "PHOENIX_WIPE_DISKS",
        "PHOENIX_LXC_CONFIG",
        "PHOENIX_VM_CONFIG",
        "PHOENIX_BASE_DIR",
    ] {
        c.env_remove(v);
    }
    c.env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"));
    c.env("PHOENIX_SIM_BIN", bin("pve-sim"));
    c
}

/// Runs and returns the output (stdout, stderr, status).
pub fn run(c: &mut Command) -> Output {
    c.output().expect("run binary")
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Copies the config files of `src` (`*.json`) into `<dir>/etc/` and returns the hypervisor
/// config's path there.
pub fn copy_configs(src: &Path, dir: &Path) -> PathBuf {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).expect("mkdir etc");
    for e in std::fs::read_dir(src)
        .expect("read config folder")
        .flatten()
    {
        let p = e.path();
        if p.extension().is_some_and(|x| x == "json") {
            std::fs::copy(&p, etc.join(e.file_name())).expect("copy config");
        }
    }
    etc.join("phoenix_hypervisor_config.json")
}

/// The example configs of `etc/` in `<dir>/etc/`.
pub fn example_config(dir: &Path) -> PathBuf {
    copy_configs(&repo().join("etc"), dir)
}

/// The upstream fixture configs in `<dir>/etc/`.
pub fn fixture_config(dir: &Path) -> PathBuf {
    copy_configs(&repo().join("tests/fixtures/upstream-2025-10-01"), dir)
}

/// Rewrites the hypervisor config at `path` with `edit`.
pub fn edit_config(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read config"))
            .expect("parse config");
    edit(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).expect("serialise"))
        .expect("write config");
}

/// Every logged simulator call: (tool, argv, mutating).
pub fn calls(sim: &Path) -> Vec<(String, Vec<String>, bool)> {
    let text = std::fs::read_to_string(sim.join("invocations.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| {
            let argv = v["argv"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            (
                v["tool"].as_str().unwrap_or("").to_string(),
                argv,
                v["mutating"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// `hypervisor-manager setup --sim=<sim> --config <cfg> [extra...]`.
pub fn setup(sim: &Path, cfg: &Path, extra: &[&str]) -> Output {
    let mut c = cmd("hypervisor-manager");
    c.arg("setup")
        .arg(format!("--sim={}", sim.display()))
        .arg("--config")
        .arg(cfg)
        .args(extra);
    run(&mut c)
}
