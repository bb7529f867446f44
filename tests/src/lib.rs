//! Shared helpers for the end-to-end tests: finding the workspace's binaries, and a simulated
//! node in a temp folder with its invocation log and state dump.
//!
//! The binaries come from the same `target/` folder as the test executable; `cargo test
//! --workspace` builds them all first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

pub mod apischema;
pub mod cluster;
pub mod sshd;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A workspace binary (`phoenix`, `lxc-manager`, `pve-sim`, ...).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target profile folder");
    let p = dir.join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --workspace` (cargo test --workspace does)",
        p.display()
    );
    p
}

/// The upstream deployment's config files, copied into the repo as test data.
pub fn upstream_fixture() -> PathBuf {
    repo().join("tests/fixtures/upstream-2025-10-01")
}

/// The same deployment one month later (2025-11-04): its `etc/` folder as installed.
pub fn upstream_1104_fixture() -> PathBuf {
    repo().join("tests/fixtures/upstream-2025-11-04/etc")
}

/// A simulated node in a temp folder.
pub struct Sim {
    pub tmp: tempfile::TempDir,
}

impl Default for Sim {
    fn default() -> Self {
        Self::new()
    }
}

impl Sim {
    pub fn new() -> Sim {
        Sim {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The node's state folder.
    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("node")
    }

    /// `phoenix <args> --sim=<dir>` with a private lock file; the environment is cleaned of
    /// Phoenix variables so the host's settings never leak in.
    pub fn phoenix(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("phoenix"));
        c.args(args).arg(format!("--sim={}", self.dir().display()));
        clean_env(&mut c);
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.phoenix(args).output().expect("run phoenix")
    }

    /// Every logged tool call.
    pub fn invocations(&self) -> Vec<Value> {
        let text =
            std::fs::read_to_string(self.dir().join("invocations.jsonl")).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// `pve-sim dump --no-timestamps` as JSON.
    pub fn dump(&self) -> Value {
        let out = Command::new(bin("pve-sim"))
            .args(["dump", "--no-timestamps"])
            .env("PVE_SIM_ROOT", self.dir())
            .output()
            .expect("pve-sim dump");
        assert!(
            out.status.success(),
            "pve-sim dump failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("dump is JSON")
    }
}

impl Drop for Sim {
    /// Stops the server processes the node started for its guests (the Portainer stand-in a
    /// guest's Docker runs), recorded in `services/guests/<id>.json`.
    fn drop(&mut self) {
        let Ok(dir) = std::fs::read_dir(self.dir().join("services/guests")) else {
            return;
        };
        for e in dir.flatten() {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let Ok(Value::Array(served)) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            for pid in served.iter().filter_map(|s| s["pid"].as_u64()) {
                // Only if that pid is still the stand-in (not a reused number).
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if !String::from_utf8_lossy(&cmd).contains("portainer") {
                    continue;
                }
                // SAFETY: signalling a stand-in this test's node started (its recorded pid).
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
        }
    }
}

/// Removes variables that would point a test at the real host or at another test's node.
/// `pve-sim <args>` on the state folder `root` (an admin command, or a stand-in such as
/// `pvesh`); its stdout, trimmed. Panics with its stderr when it fails.
pub fn sim_cmd(root: &Path, args: &[&str]) -> String {
    let out = Command::new(bin("pve-sim"))
        .args(args)
        .env("PVE_SIM_ROOT", root)
        .output()
        .expect("run pve-sim");
    assert!(
        out.status.success(),
        "pve-sim {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn clean_env(c: &mut Command) {
    for v in [
        "PHOENIX_CONFIG",
        "PHOENIX_SIM",
        "PVE_SIM_ROOT",
        "PHOENIX_PVE_DIR",
        "PHOENIX_HOST_ROOT",
        "PHOENIX_SCRIPTS_DIR",
        "PHOENIX_DRY_RUN",
        "PHOENIX_MANAGER_DIR",
        "PHOENIX_LOCK_FILE",
        "PHOENIX_HOST_LOCK_HELD",
        "RUST_LOG",
    ] {
        c.env_remove(v);
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A guest's `exec.log` (`guests/<id>/exec.log`): the `pct exec`/`qm guest exec`/`pct push`
/// calls and, before each, the stand-in commands the guest ran (`"standin": [argv]`, with
/// `"changed"` true when it changed the guest).
pub fn exec_log(node: &Path, id: u64) -> Vec<Value> {
    std::fs::read_to_string(node.join(format!("guests/{id}/exec.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The stand-in command lines (joined argv) of log entries, with their `changed` flag.
pub fn standins(log: &[Value]) -> Vec<(String, bool)> {
    log.iter()
        .filter_map(|e| {
            let argv: Vec<&str> = e["standin"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            Some((argv.join(" "), e["changed"] == true))
        })
        .collect()
}

/// Files in any `snippets` folder under `dir` (the node's storages), sorted.
pub fn snippet_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            let is_link = e.file_type().map(|t| t.is_symlink()).unwrap_or(true);
            if p.is_dir() && !is_link {
                walk(&p, out);
            } else if p.parent().and_then(|x| x.file_name()) == Some("snippets".as_ref()) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Checks every user-data and network-config snippet under the node's folder `dir` (see
/// [`snippet_files`]) with the installed cloud-init:
/// `cloud-init schema --config-file` for user-data, and `cloud-init devel net-convert` for
/// network-config (cloud-init 22.x has no network schema; its parser rejects a bad config
/// with a warning naming the invalid command). Returns the problems found.
pub fn cloud_init_problems(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let files = snippet_files(dir);
    assert!(
        !files.is_empty(),
        "no cloud-init snippets under {}",
        dir.display()
    );
    for f in files {
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let out = if name.contains("network") {
            let outdir = tempfile::tempdir().expect("tempdir");
            Command::new("cloud-init")
                .args([
                    "devel",
                    "net-convert",
                    "-k",
                    "yaml",
                    "-D",
                    "ubuntu",
                    "-O",
                    "netplan",
                ])
                .arg("-p")
                .arg(&f)
                .arg("-d")
                .arg(outdir.path())
                .output()
        } else {
            Command::new("cloud-init")
                .args(["schema", "--config-file"])
                .arg(&f)
                .output()
        };
        let out = out.expect("cloud-init is needed by this test (.ci/run installs it)");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let bad = !out.status.success()
            || text.contains("Traceback")
            || text.contains("Skipping invalid")
            || text.contains("Invalid cloud-config")
            || text.contains("WARNING");
        if bad {
            problems.push(format!("{name}: {}", text.trim()));
        }
    }
    problems
}

/// Whether a logged tool call only reads inside a guest: the sync's probes (`pct exec` of
/// `true`, `test`, `cat`; `qm guest exec` of `sha256sum` or `docker ... inspect|port|ps`). The
/// simulator logs every `pct exec`/`qm guest exec` as mutating, since it cannot know.
pub fn is_guest_read(c: &Value) -> bool {
    let argv: Vec<&str> = c["argv"]
        .as_array()
        .map(|a| a.iter().map(|x| x.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    if c["tool"] == "pct" && argv.first() == Some(&"exec") {
        return argv
            .get(3)
            .is_some_and(|w| ["true", "test", "cat"].contains(w));
    }
    if c["tool"] == "qm" && argv.starts_with(&["guest", "exec"]) {
        let Some(i) = argv.iter().position(|a| *a == "--") else {
            return false;
        };
        let cmd = &argv[i + 1..];
        return cmd.first() == Some(&"sha256sum")
            || (cmd.first() == Some(&"docker")
                && cmd.iter().any(|w| ["inspect", "port", "ps"].contains(w)));
    }
    false
}
