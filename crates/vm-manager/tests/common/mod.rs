//! A simulated Proxmox node in a temp folder, the real `vm-manager` binary, and helpers to read
//! the simulator's invocation log and state.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The repository root (two levels above this crate).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn fixture_dir() -> PathBuf {
    repo().join("tests/fixtures/upstream-2025-10-01")
}

fn sim_binary() -> PathBuf {
    let vm = PathBuf::from(env!("CARGO_BIN_EXE_vm-manager"));
    let p = vm.with_file_name("pve-sim");
    assert!(
        p.is_file(),
        "{} missing: run `cargo build --workspace` first",
        p.display()
    );
    p
}

/// One test node: config folder, simulator folder, scripts folder.
pub struct Node {
    pub tmp: tempfile::TempDir,
    pub cfg: PathBuf,
    pub sim: PathBuf,
    pub scripts: PathBuf,
    pub extra_env: Vec<(String, String)>,
}

impl Node {
    /// A node whose config is the three files in `src` (copied unmodified).
    pub fn from_dir(src: &Path) -> Node {
        let tmp = tempfile::tempdir().expect("tempdir");
        let etc = tmp.path().join("etc");
        std::fs::create_dir_all(&etc).expect("etc");
        for f in [
            "phoenix_hypervisor_config.json",
            "phoenix_lxc_configs.json",
            "phoenix_vm_configs.json",
        ] {
            std::fs::copy(src.join(f), etc.join(f)).unwrap_or_else(|e| panic!("copy {f}: {e}"));
        }
        let sim = tmp.path().join("sim");
        Node {
            cfg: etc.join("phoenix_hypervisor_config.json"),
            sim,
            scripts: repo().join("scripts"),
            tmp,
            extra_env: Vec::new(),
        }
    }

    pub fn fixture() -> Node {
        Node::from_dir(&fixture_dir())
    }

    /// A node with the fixture's hypervisor and LXC files and `vms` as the VM file.
    pub fn with_vms(vms: &Value) -> Node {
        let n = Node::fixture();
        std::fs::write(
            n.cfg.with_file_name("phoenix_vm_configs.json"),
            serde_json::to_string_pretty(vms).expect("json"),
        )
        .expect("write");
        n
    }

    /// Puts a fake cloud image into the cache (the default cache folder under the host root,
    /// or `dir` when the config names one).
    pub fn seed_image(&self, dir: &str, name: &str, bytes: usize) {
        let d = self.sim.join("host").join(dir.trim_start_matches('/'));
        std::fs::create_dir_all(&d).expect("cache dir");
        std::fs::write(d.join(name), vec![0x51u8; bytes]).expect("image");
    }

    pub fn faults(&self, v: &Value) {
        self.init();
        std::fs::write(self.sim.join("faults.json"), v.to_string()).expect("faults");
    }

    /// Initialises the simulator (normally done by the first `--sim` run).
    pub fn init(&self) {
        if self.sim.join("etc/pve/storage.cfg").exists() {
            return;
        }
        let st = Command::new(sim_binary())
            .args(["init", "--config"])
            .arg(&self.cfg)
            .env("PVE_SIM_ROOT", &self.sim)
            .status()
            .expect("pve-sim init");
        assert!(st.success());
    }

    /// Runs `vm-manager <args> --config <cfg> --sim=<sim>`.
    pub fn vm(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vm-manager"));
        cmd.args(args)
            .arg("--config")
            .arg(&self.cfg)
            .arg(format!("--sim={}", self.sim.display()));
        for (k, _) in std::env::vars() {
            if k.starts_with("PHOENIX_") || k == "PVE_SIM_ROOT" {
                cmd.env_remove(k);
            }
        }
        cmd.env("PHOENIX_SCRIPTS_DIR", &self.scripts);
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run vm-manager");
        eprintln!(
            "$ vm-manager {}\n[exit {:?}]\n{}{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs and asserts exit 0; returns stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.vm(args);
        assert_eq!(out.status.code(), Some(0), "vm-manager {args:?} failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Runs and asserts exit 1; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.vm(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "vm-manager {args:?} should fail"
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// The invocation log.
    pub fn log(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.sim.join("invocations.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| Call {
                tool: v["tool"].as_str().unwrap_or("").to_string(),
                argv: v["argv"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect(),
                exit: v["exit_code"].as_i64().unwrap_or(-1),
                mutating: v["mutating"].as_bool().unwrap_or(true),
            })
            .collect()
    }

    /// Log entries added by `f`.
    pub fn calls_of<F: FnOnce()>(&self, f: F) -> Vec<Call> {
        let before = self.log().len();
        f();
        self.log().split_off(before)
    }

    pub fn conf(&self, id: u32) -> Option<String> {
        std::fs::read_to_string(self.sim.join(format!("etc/pve/qemu-server/{id}.conf"))).ok()
    }

    /// `pve-sim dump --no-timestamps` with the node's folder replaced by `<ROOT>`.
    pub fn dump(&self) -> String {
        let out = Command::new(sim_binary())
            .args(["dump", "--no-timestamps"])
            .env("PVE_SIM_ROOT", &self.sim)
            .output()
            .expect("dump");
        String::from_utf8_lossy(&out.stdout).replace(&self.sim.display().to_string(), "<ROOT>")
    }

    /// Lines of the simulated guest's agent log (`guests/<id>/exec.log`).
    pub fn guest_exec_log(&self, id: u32) -> Vec<Value> {
        let text = std::fs::read_to_string(self.sim.join(format!("guests/{id}/exec.log")))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    pub fn record(&self, id: u32) -> PathBuf {
        self.sim.join(format!(
            "host/usr/local/phoenix_hypervisor/lib/guests/{id}.json"
        ))
    }
}

/// One logged tool call.
#[derive(Debug, Clone)]
pub struct Call {
    pub tool: String,
    pub argv: Vec<String>,
    pub exit: i64,
    pub mutating: bool,
}

impl Call {
    pub fn line(&self) -> String {
        format!("{} {}", self.tool, self.argv.join(" "))
    }
}

/// Whether some call's line starts with `prefix`.
pub fn has(calls: &[Call], prefix: &str) -> bool {
    calls.iter().any(|c| c.line().starts_with(prefix))
}

/// Index of the first call starting with `prefix`.
pub fn pos(calls: &[Call], prefix: &str) -> usize {
    calls
        .iter()
        .position(|c| c.line().starts_with(prefix))
        .unwrap_or_else(|| panic!("no call `{prefix}` in {:#?}", lines(calls)))
}

pub fn lines(calls: &[Call]) -> Vec<String> {
    calls.iter().map(Call::line).collect()
}

/// Every `qm` call is accepted by the option spec from the Proxmox reference, and none is a
/// command Proxmox does not have.
pub fn assert_valid_qm(calls: &[Call]) {
    for c in calls.iter().filter(|c| c.tool == "qm") {
        if let Err(e) = pve::validate("qm", &c.argv) {
            panic!("invalid call `{}`: {e}", c.line());
        }
        assert_ne!(
            c.argv.first().map(String::as_str),
            Some("push"),
            "qm push does not exist"
        );
        assert!(
            !(c.argv.first().map(String::as_str) == Some("agent")
                && c.argv.iter().any(|a| a == "exec")),
            "qm agent exec: {}",
            c.line()
        );
    }
}

/// The default image cache folder (docs/vms.md).
pub const CACHE: &str = "/var/lib/vz/template/phoenix-images";
pub const NOBLE: &str = "noble-server-cloudimg-amd64.img";
