//! Runs the real `lxc-manager` against `pve-sim` in a temporary folder, with the fixture config
//! unmodified and a scripts folder of recording fakes (the real scripts are tested by
//! tests/shell; here what matters is which scripts the manager runs, and when).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn fixture_config() -> PathBuf {
    repo().join("tests/fixtures/upstream-2025-10-01/phoenix_hypervisor_config.json")
}

/// `target/debug`, where cargo put the workspace binaries.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf();
    for b in ["lxc-manager", "pve-sim"] {
        assert!(
            dir.join(b).is_file(),
            "{} not found in {}: run `cargo build --workspace` (or `cargo test --workspace`) first",
            b,
            dir.display()
        );
    }
    dir
}

const FEATURES: &[&str] = &["base_setup", "nvidia", "docker", "vllm", "ollama"];

/// A fake script that logs `<what> <args>` to `$PHOENIX_HOST_ROOT/script.log`, and fails when
/// `$PHOENIX_HOST_ROOT/fail-<what>` exists. Application scripts run inside the simulated
/// container, which does not see the host's folders: there they log to the guest's
/// `/var/log/phoenix-fake.log`.
fn fake(path: &Path, what: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = format!(
        "#!/usr/bin/env bash\nset -eu\nroot=\"$PHOENIX_HOST_ROOT\"\nlog=\"$root/script.log\"\n[ -d \"$root\" ] || log=/var/log/phoenix-fake.log\necho \"{what} $*\" >> \"$log\"\nif [ -e \"$root/fail-{what}\" ]; then echo \"{what} failed on purpose\" >&2; exit 3; fi\n"
    );
    std::fs::write(path, body).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub struct Sim {
    pub tmp: tempfile::TempDir,
    pub config: PathBuf,
}

impl Sim {
    pub fn new() -> Sim {
        Self::with_config(fixture_config())
    }

    pub fn with_config(config: PathBuf) -> Sim {
        let tmp = tempfile::tempdir().unwrap();
        let s = tmp.path().join("scripts");
        for f in FEATURES {
            fake(
                &s.join(format!(
                    "lxc_setup/phoenix_hypervisor_feature_install_{f}.sh"
                )),
                f,
            );
        }
        for a in [
            "phoenix_hypervisor_lxc_vllm.sh",
            "phoenix_hypervisor_lxc_953.sh",
            "phoenix_hypervisor_lxc_952.sh",
        ] {
            fake(&s.join("lxc_setup").join(a), a);
        }
        fake(&s.join("phoenix_hypervisor_common_utils.sh"), "utils");
        fake(&s.join("health_checks/check_nvidia.sh"), "nvidia-check");
        let real = repo().join("scripts/tests");
        for t in [
            "test_runner.sh",
            "health_checks/dummy_pass.sh",
            "health_checks/dummy_fail.sh",
        ] {
            let dst = s.join("tests").join(t);
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(real.join(t), &dst).unwrap();
        }
        Sim { tmp, config }
    }

    pub fn dir(&self) -> PathBuf {
        self.tmp.path().join("sim")
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let bin = bin_dir();
        let mut cmd = Command::new(bin.join("lxc-manager"));
        cmd.args(args)
            .arg("--config")
            .arg(&self.config)
            .arg(format!("--sim={}", self.dir().display()));
        for v in [
            "PHOENIX_CONFIG",
            "PHOENIX_LXC_CONFIG",
            "PHOENIX_VM_CONFIG",
            "PHOENIX_PVE_DIR",
            "PHOENIX_HOST_ROOT",
            "PHOENIX_DRY_RUN",
            "PHOENIX_SIM",
            "PVE_SIM_ROOT",
            "PHOENIX_CONVERGE",
            "PHOENIX_BASE_DIR",
        ] {
            cmd.env_remove(v);
        }
        cmd.env("PHOENIX_SCRIPTS_DIR", self.tmp.path().join("scripts"))
            .env("PHOENIX_SIM_BIN", bin.join("pve-sim"));
        cmd.envs(env.iter().copied());
        cmd.output().expect("run lxc-manager")
    }

    /// Runs and asserts success, returning stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(
            o.status.success(),
            "lxc-manager {args:?} failed ({:?}):\n{err}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout)
        );
        err
    }

    pub fn create_chain(&self, ids: &[&str]) {
        for id in ids {
            self.ok(&["create", id]);
        }
    }

    pub fn conf(&self, id: &str) -> String {
        std::fs::read_to_string(self.dir().join(format!("etc/pve/lxc/{id}.conf")))
            .unwrap_or_default()
    }

    /// The simulator's invocation log: `(argv with the tool first, mutating)`.
    pub fn calls(&self) -> Vec<(Vec<String>, bool)> {
        let text =
            std::fs::read_to_string(self.dir().join("invocations.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                let mut argv = vec![v["tool"].as_str().unwrap().to_string()];
                argv.extend(
                    v["argv"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string()),
                );
                (argv, v["mutating"].as_bool().unwrap())
            })
            .collect()
    }

    pub fn script_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("host/script.log")).unwrap_or_default()
    }

    pub fn faults(&self, json: &str) {
        std::fs::write(self.dir().join("faults.json"), json).unwrap();
        let _ = std::fs::remove_file(self.dir().join("fault-counters.json"));
    }

    pub fn touch_host(&self, name: &str) {
        std::fs::write(self.dir().join("host").join(name), "").unwrap();
    }

    pub fn pct(&self, args: &[&str]) -> Output {
        Command::new(self.dir().join("bin/pct"))
            .args(args)
            .env("PVE_SIM_ROOT", self.dir())
            .output()
            .unwrap()
    }

    /// `pve-sim dump --no-timestamps`, normalised: the folder name, the unique name of the
    /// application script's temporary folder (files pushed there stay in the simulator, which
    /// does not run `rm`), and the count of commands run in guests (a re-run after a failure runs
    /// the features again) are replaced.
    pub fn dump(&self) -> String {
        let o = Command::new(bin_dir().join("pve-sim"))
            .args(["dump", "--no-timestamps"])
            .env("PVE_SIM_ROOT", self.dir())
            .output()
            .unwrap();
        assert!(o.status.success());
        let text =
            String::from_utf8_lossy(&o.stdout).replace(&self.dir().display().to_string(), "<SIM>");
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        for g in v["guests"].as_array_mut().unwrap() {
            g["guest_exec_count"] = serde_json::Value::Null;
            let mut files: Vec<String> = g["guest_files"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str())
                        .map(app_dir_free)
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            files.dedup();
            g["guest_files"] = serde_json::json!(files);
        }
        serde_json::to_string_pretty(&v).unwrap()
    }
}

/// `/tmp/phoenix_app.<id>.<pid>.<ns>/x` as `/tmp/phoenix_app.*/x`.
fn app_dir_free(p: &str) -> String {
    match (p.strip_prefix("/tmp/phoenix_app."), p.rfind('/')) {
        (Some(_), Some(slash)) => format!("/tmp/phoenix_app.*{}", &p[slash..]),
        _ => p.to_string(),
    }
}

/// Calls made after the first `from` ones.
pub fn since(all: &[(Vec<String>, bool)], from: usize) -> Vec<(Vec<String>, bool)> {
    all[from..].to_vec()
}

pub fn line<'a>(conf: &'a str, key: &str) -> Option<&'a str> {
    conf.lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
}
