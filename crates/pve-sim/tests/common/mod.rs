//! Test harness: a temp state folder, symlinks to the built binary, and a runner.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const TEMPLATE: &str = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

/// A hypervisor config with the storages the fixtures name.
pub const HV_CONFIG: &str = r#"{"zfs": {"datasets": [
  {"name": "lxc-disks", "pool": "quickOS", "proxmox_storage_type": "zfspool", "proxmox_content_type": "rootdir"},
  {"name": "vm-disks", "pool": "quickOS", "proxmox_storage_type": "zfspool", "proxmox_content_type": "images"},
  {"name": "shared-iso", "pool": "fastData", "proxmox_storage_type": "dir", "proxmox_content_type": "iso,vztmpl"},
  {"name": "dir-disks", "pool": "fastData", "proxmox_storage_type": "dir", "proxmox_content_type": "rootdir,images"}
]}}"#;

pub struct Sim {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub bin: PathBuf,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
    #[track_caller]
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }
    #[track_caller]
    pub fn fails_with(self, msg: &str) -> Out {
        assert_ne!(self.code, 0, "expected failure, stdout: {}", self.stdout);
        assert!(
            self.stderr.contains(msg),
            "stderr {:?} does not contain {msg:?}",
            self.stderr
        );
        self
    }
}

pub fn exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pve-sim"))
}

impl Sim {
    /// A node initialised from [`HV_CONFIG`], with the Ubuntu template downloaded.
    pub fn new() -> Sim {
        let s = Sim::bare();
        let cfg = s.dir.path().join("hv.json");
        std::fs::write(&cfg, HV_CONFIG).unwrap();
        s.admin(&["init", "--config", cfg.to_str().unwrap()]).ok();
        s.run("pveam", &["download", "fastData-shared-iso", TEMPLATE])
            .ok();
        s
    }

    /// Symlinks and an empty root, not initialised.
    pub fn bare() -> Sim {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let bin = dir.path().join("bin");
        let o = Command::new(exe())
            .args(["link", bin.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success());
        Sim { dir, root, bin }
    }

    pub fn cmd(&self, tool: &str, args: &[&str]) -> Command {
        let mut c = Command::new(self.bin.join(tool));
        c.args(args)
            .env("PVE_SIM_ROOT", &self.root)
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, tool: &str, args: &[&str]) -> Out {
        Out::from(self.cmd(tool, args).output().unwrap())
    }

    pub fn run_stdin(&self, tool: &str, args: &[&str], input: &str) -> Out {
        let mut c = self.cmd(tool, args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        Out::from(child.wait_with_output().unwrap())
    }

    pub fn pct(&self, args: &str) -> Out {
        self.run("pct", &args.split_whitespace().collect::<Vec<_>>())
    }
    pub fn qm(&self, args: &str) -> Out {
        self.run("qm", &args.split_whitespace().collect::<Vec<_>>())
    }

    pub fn admin(&self, args: &[&str]) -> Out {
        Out::from(
            Command::new(exe())
                .args(args)
                .env("PVE_SIM_ROOT", &self.root)
                .output()
                .unwrap(),
        )
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_default()
    }

    pub fn faults(&self, json: &str) {
        std::fs::write(self.path("faults.json"), json).unwrap();
    }

    /// Create container `id` from the downloaded template on the zfspool storage.
    pub fn ct(&self, id: u32) {
        self.pct(&format!(
            "create {id} fastData-shared-iso:vztmpl/{TEMPLATE} --rootfs quickOS-lxc-disks:8 \
             --hostname ct{id} --net0 name=eth0,bridge=vmbr0,ip=10.0.0.{}/24,gw=10.0.0.1",
            id % 200
        ))
        .ok();
    }

    pub fn exists(&self, rel: &str) -> bool {
        Path::new(&self.path(rel)).exists()
    }

    /// The invocation log as JSON values.
    pub fn log(&self) -> Vec<serde_json::Value> {
        self.read("invocations.jsonl")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
