//! Node-local work over SSH, for the `api` transport: every operation is one `ssh` call
//! ([`phoenix_host::ssh`]: BatchMode, host key always checked, each argument one quoted word)
//! running either the program itself (`pct exec`, a feature script) or a fixed `sh -c` script
//! whose only inputs are its positional arguments, so no value is ever parsed as shell code.
//!
//! Feature and check scripts live where Phoenix runs, not on the node: the first program run
//! from the scripts folder stages that folder and the three config files into a private
//! temporary folder on the node (one `tar` stream), runs them from there with the environment
//! contract pointing at the staged copies, and removes the folder when the manager ends.

use std::cell::RefCell;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use phoenix_host::ssh::{run, SshTarget};

use crate::error::TransportError;
use crate::node::NodeWork;
use crate::plan::{NodeCommand, Payload};
use crate::transport::ExecOutput;

/// Retries of a `pct push` that met a Proxmox lock time-out.
const LOCK_RETRIES: u32 = 3;
/// Exit code the read/remove scripts use for "no such file".
const ABSENT: i32 = 3;

const READ: &str = r#"if [ -e "$1" ]; then exec cat -- "$1"; else exit 3; fi"#;
const REMOVE: &str = r#"[ -e "$1" ] || exit 3; rm -f -- "$1""#;
const WRITE: &str = r#"d=$(dirname -- "$1") && mkdir -p -- "$d" && t="$1.phoenix-tmp.$$" && (umask 077 && cat > "$t") || exit 1
if [ "$2" != private ]; then if [ -e "$1" ]; then chmod --reference="$1" "$t"; else chmod 644 "$t"; fi; fi
mv -f -- "$t" "$1""#;
const PUSH: &str = r#"id=$1; dest=$2; shift 2; t=$(mktemp) || exit 1
cat > "$t" && pct push "$id" "$t" "$dest" "$@"; rc=$?; rm -f -- "$t"; exit $rc"#;
const UNPACK: &str = r#"mkdir -p -- "$1" && tar -xf - -C "$1""#;
/// Resumable, verified download on the node (as `phoenix_host::download` does locally): the
/// transfer goes to `<dest>.part`, the sum listed in `SHA256SUMS` (when there is one) must
/// match before the file is renamed into place; a complete file is left alone.
const DOWNLOAD: &str = r#"dest=$1; url=$2; sums=$3; name=$4; part="$dest.part"
[ -f "$dest" ] && exit 0
mkdir -p -- "$(dirname -- "$dest")" || exit 1
curl -fL -sS --connect-timeout 30 --retry 3 -C - -o "$part" "$url" || exit $?
if [ -n "$sums" ]; then
  want=$(curl -fL -sS --max-time 120 "$sums" | awk -v n="$name" '$2 == "*" n || $2 == n { print $1 }')
  if [ -n "$want" ]; then
    got=$(sha256sum -- "$part" | cut -d ' ' -f 1)
    if [ "$got" != "$want" ]; then rm -f -- "$part"; echo "sha256 of $name is $got, SHA256SUMS lists $want" >&2; exit 65; fi
    echo "$name verified (sha256 $got)" >&2
  fi
fi
mv -f -- "$part" "$dest""#;

/// Node-local work on the guest's node over SSH.
pub struct SshNode {
    pub target: SshTarget,
    /// The environment contract as it is here; staged paths replace local ones remotely.
    vars: Vec<(String, OsString)>,
    /// Variables that only make sense on the node itself (the simulated node's `PATH`).
    sim: bool,
    scripts_dir: PathBuf,
    config_files: Vec<(&'static str, PathBuf)>,
    /// The staged folder on the node, once made.
    staged: RefCell<Option<String>>,
    /// Holds the shared connection's socket (removed with it).
    _control: Option<tempfile::TempDir>,
}

fn sh(script: &str, args: &[&str]) -> Vec<String> {
    let mut v = vec![
        "sh".to_string(),
        "-c".into(),
        script.to_string(),
        "sh".into(),
    ];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

impl SshNode {
    pub fn new(
        target: SshTarget,
        env: &phoenix_host::HostEnv,
        cfg: &phoenix_config::Config,
    ) -> SshNode {
        let mut config_files = vec![("PHOENIX_CONFIG", cfg.paths.hypervisor.clone())];
        config_files.push(("PHOENIX_LXC_CONFIG", cfg.paths.lxc.clone()));
        if let Some(vm) = &cfg.paths.vm {
            config_files.push(("PHOENIX_VM_CONFIG", vm.clone()));
        }
        let mut target = target;
        // One connection per manager process, reused by every call (a handshake each would
        // cost more than most of the commands it carries).
        let control = tempfile::Builder::new()
            .prefix("phoenix-ssh-")
            .tempdir()
            .ok();
        target.control_dir = control.as_ref().map(|d| d.path().to_path_buf());
        SshNode {
            target,
            _control: control,
            vars: env.vars(Some(cfg)),
            sim: env.sim.is_some(),
            scripts_dir: env.scripts_dir.clone(),
            config_files,
            staged: RefCell::new(None),
        }
    }

    fn ssh(&self, argv: &[String], stdin: Option<&[u8]>) -> Result<ExecOutput, TransportError> {
        log::debug!("ssh {}: {}", self.target.host, argv.join(" "));
        let out = run(&self.target, argv, stdin).map_err(|e| TransportError(e.to_string()))?;
        Ok(ExecOutput {
            code: out.code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: out.stderr,
        })
    }

    /// `env K=V ... argv`: the contract's variables (for the simulated node also `PATH` and
    /// its root) followed by the program.
    fn with_env(&self, argv: &[String], extra: &[(String, String)]) -> Vec<String> {
        let staged = self.staged.borrow().clone();
        let mut v = vec!["env".to_string()];
        for (k, val) in &self.vars {
            if k == "PATH" && !self.sim {
                continue;
            }
            let mut val = val.to_string_lossy().into_owned();
            if let Some(dir) = &staged {
                val = self.staged_value(k, &val, dir);
            }
            v.push(format!("{k}={val}"));
        }
        for (k, val) in extra {
            v.push(format!("{k}={val}"));
        }
        v.extend(argv.iter().cloned());
        v
    }

    fn staged_value(&self, key: &str, val: &str, dir: &str) -> String {
        match key {
            "PHOENIX_SCRIPTS_DIR" => format!("{dir}/scripts"),
            "PHOENIX_BASE_DIR" => dir.to_string(),
            _ => match self.config_files.iter().find(|(k, _)| *k == key) {
                Some((_, p)) => format!("{dir}/etc/{}", file_name(p)),
                None => val.to_string(),
            },
        }
    }

    /// A local path of the scripts folder or a config file becomes its staged copy on the
    /// node (staging first); anything else is passed as it is.
    fn remote_path(&self, arg: &str) -> Result<String, TransportError> {
        let p = Path::new(arg);
        if let Ok(rel) = p.strip_prefix(&self.scripts_dir) {
            return Ok(format!("{}/scripts/{}", self.stage()?, rel.display()));
        }
        if let Some((_, f)) = self.config_files.iter().find(|(_, f)| f == p) {
            return Ok(format!("{}/etc/{}", self.stage()?, file_name(f)));
        }
        Ok(arg.to_string())
    }

    /// Stages the scripts folder and the config files on the node (once).
    fn stage(&self) -> Result<String, TransportError> {
        if let Some(d) = self.staged.borrow().clone() {
            return Ok(d);
        }
        let out = self.ssh(
            &[
                "mktemp".to_string(),
                "-d".into(),
                "/tmp/phoenix-stage.XXXXXX".into(),
            ],
            None,
        )?;
        let dir = out.stdout.trim().to_string();
        if !out.success() || dir.is_empty() {
            return Err(TransportError(format!(
                "cannot make a folder on {}: {}",
                self.target.host,
                out.stderr.trim()
            )));
        }
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&self.scripts_dir)
            .args(["-cf", "-", "."])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| TransportError(format!("cannot run tar: {e}")))?;
        if !tar.status.success() {
            return Err(TransportError(format!(
                "tar of {} failed: {}",
                self.scripts_dir.display(),
                String::from_utf8_lossy(&tar.stderr).trim()
            )));
        }
        let scripts = format!("{dir}/scripts");
        let out = self.ssh(&sh(UNPACK, &[&scripts]), Some(&tar.stdout))?;
        if !out.success() {
            return Err(TransportError(format!(
                "cannot stage the scripts on {}: {}",
                self.target.host,
                out.stderr.trim()
            )));
        }
        for (_, p) in &self.config_files {
            let data = std::fs::read(p)
                .map_err(|e| TransportError(format!("cannot read {}: {e}", p.display())))?;
            self.write(
                Path::new(&format!("{dir}/etc/{}", file_name(p))),
                &data,
                true,
            )?;
        }
        log::info!(
            "staged the scripts and config on {} in {dir}",
            self.target.host
        );
        self.staged.replace(Some(dir.clone()));
        Ok(dir)
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

impl Drop for SshNode {
    fn drop(&mut self) {
        if let Some(dir) = self.staged.borrow_mut().take() {
            let _ = self.ssh(&["rm".to_string(), "-rf".into(), "--".into(), dir], None);
        }
        phoenix_host::ssh::close(&self.target);
    }
}

fn path_arg(p: &Path) -> Result<String, TransportError> {
    p.to_str()
        .map(str::to_string)
        .ok_or_else(|| TransportError(format!("{} is not UTF-8", p.display())))
}

impl NodeWork for SshNode {
    fn ct_exec(&self, id: u64, argv: &[String]) -> Result<ExecOutput, TransportError> {
        let mut a = vec![
            "pct".to_string(),
            "exec".into(),
            id.to_string(),
            "--".into(),
        ];
        a.extend(argv.iter().cloned());
        self.ssh(&self.with_env(&a, &[]), None)
    }

    fn ct_push(
        &self,
        id: u64,
        data: &Payload,
        dest: &str,
        perms: Option<&str>,
    ) -> Result<(), TransportError> {
        let bytes = data.bytes()?;
        let id = id.to_string();
        let mut args = vec![id.as_str(), dest];
        if let Some(p) = perms {
            args.extend(["--perms", p]);
        }
        let mut delay = Duration::from_secs(1);
        let mut attempt = 0;
        loop {
            let out = self.ssh(&self.with_env(&sh(PUSH, &args), &[]), Some(&bytes))?;
            if out.success() {
                return Ok(());
            }
            if phoenix_host::tool::is_lock_timeout(&out.stderr) && attempt < LOCK_RETRIES {
                attempt += 1;
                std::thread::sleep(delay);
                delay *= 2;
                continue;
            }
            return Err(TransportError(format!(
                "`pct push {id} ... {dest}` on {} failed (exit {}): {}",
                self.target.host,
                out.code,
                out.stderr.trim()
            )));
        }
    }

    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
        let p = path_arg(path)?;
        let out =
            run(&self.target, &sh(READ, &[&p]), None).map_err(|e| TransportError(e.to_string()))?;
        match out.code {
            0 => Ok(Some(out.stdout)),
            ABSENT => Ok(None),
            c => Err(TransportError(format!(
                "cannot read {p} on {} (exit {c}): {}",
                self.target.host,
                out.stderr.trim()
            ))),
        }
    }

    fn write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError> {
        let p = path_arg(path)?;
        let mode = if private { "private" } else { "public" };
        let out = self.ssh(&sh(WRITE, &[&p, mode]), Some(data))?;
        if out.success() {
            Ok(())
        } else {
            Err(TransportError(format!(
                "cannot write {p} on {}: {}",
                self.target.host,
                out.stderr.trim()
            )))
        }
    }

    fn remove(&self, path: &Path) -> Result<bool, TransportError> {
        let p = path_arg(path)?;
        let out = self.ssh(&sh(REMOVE, &[&p]), None)?;
        match out.code {
            0 => Ok(true),
            ABSENT => Ok(false),
            c => Err(TransportError(format!(
                "cannot remove {p} on {} (exit {c}): {}",
                self.target.host,
                out.stderr.trim()
            ))),
        }
    }

    fn run(&self, c: &NodeCommand) -> Result<ExecOutput, TransportError> {
        let mut argv = vec![self.remote_path(&path_arg(&c.program)?)?];
        for a in &c.args {
            argv.push(self.remote_path(a)?);
        }
        let out = self.ssh(&self.with_env(&argv, &c.env), None)?;
        if c.stream {
            // Shown once the program ended: the SSH client's output is captured.
            if !out.stdout.is_empty() {
                eprint!("{}", out.stdout);
            }
            if !out.stderr.is_empty() {
                eprint!("{}", out.stderr);
            }
        }
        Ok(out)
    }

    fn download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError> {
        let d = path_arg(dest)?;
        let name = file_name(dest);
        let sums = phoenix_host::download::sums_beside(url).unwrap_or_default();
        eprintln!("{label}: downloading {url} on {}", self.target.host);
        let out = self.ssh(
            &self.with_env(&sh(DOWNLOAD, &[&d, url, &sums, &name]), &[]),
            None,
        )?;
        if !out.stderr.trim().is_empty() && out.success() {
            eprintln!("{label}: {}", out.stderr.trim());
        }
        if out.success() {
            Ok(())
        } else {
            Err(TransportError(format!(
                "downloading {url} to {d} on {} failed (exit {}): {}",
                self.target.host,
                out.code,
                out.stderr.trim()
            )))
        }
    }

    fn place(&self) -> String {
        format!("ssh {}@{}", self.target.user, self.target.host)
    }
}

/// Node-local work in a cluster: SSH to the node the job's guest is on
/// (`cluster.nodes[].ssh_host`, else the node name, which the nodes of a Proxmox cluster
/// resolve), with the user, port, key and known_hosts of `orchestration.api.ssh`. One
/// connection per node, opened when first used; before a node is selected, the configured
/// SSH host.
pub struct PerNodeSsh {
    base: SshTarget,
    hosts: std::collections::BTreeMap<String, String>,
    env: phoenix_host::HostEnv,
    cfg: phoenix_config::Config,
    current: RefCell<Option<String>>,
    open: RefCell<std::collections::BTreeMap<String, std::rc::Rc<SshNode>>>,
}

impl PerNodeSsh {
    pub fn new(
        base: SshTarget,
        cluster: &phoenix_config::model::Cluster,
        env: &phoenix_host::HostEnv,
        cfg: &phoenix_config::Config,
    ) -> PerNodeSsh {
        let hosts = cluster
            .nodes
            .iter()
            .map(|n| {
                (
                    n.name.clone(),
                    n.ssh_host.clone().unwrap_or_else(|| n.name.clone()),
                )
            })
            .collect();
        PerNodeSsh {
            base,
            hosts,
            env: env.clone(),
            cfg: cfg.clone(),
            current: RefCell::new(None),
            open: RefCell::new(std::collections::BTreeMap::new()),
        }
    }

    /// The SSH target of the selected node.
    pub fn target(&self) -> SshTarget {
        let mut t = self.base.clone();
        if let Some(h) = self
            .current
            .borrow()
            .as_ref()
            .and_then(|n| self.hosts.get(n))
        {
            t.host = h.clone();
        }
        t
    }

    fn node(&self) -> std::rc::Rc<SshNode> {
        let t = self.target();
        self.open
            .borrow_mut()
            .entry(t.host.clone())
            .or_insert_with(|| std::rc::Rc::new(SshNode::new(t, &self.env, &self.cfg)))
            .clone()
    }
}

impl NodeWork for PerNodeSsh {
    fn ct_exec(&self, id: u64, argv: &[String]) -> Result<ExecOutput, TransportError> {
        self.node().ct_exec(id, argv)
    }
    fn ct_push(
        &self,
        id: u64,
        data: &Payload,
        dest: &str,
        perms: Option<&str>,
    ) -> Result<(), TransportError> {
        self.node().ct_push(id, data, dest, perms)
    }
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
        self.node().read(path)
    }
    fn write(&self, path: &Path, data: &[u8], private: bool) -> Result<(), TransportError> {
        self.node().write(path, data, private)
    }
    fn remove(&self, path: &Path) -> Result<bool, TransportError> {
        self.node().remove(path)
    }
    fn run(&self, cmd: &NodeCommand) -> Result<ExecOutput, TransportError> {
        self.node().run(cmd)
    }
    fn download(&self, url: &str, dest: &Path, label: &str) -> Result<(), TransportError> {
        self.node().download(url, dest, label)
    }
    fn place(&self) -> String {
        let t = self.target();
        format!("ssh {}@{}", t.user, t.host)
    }
    fn select(&self, node: &str) {
        self.current.replace(Some(node.to_string()));
    }
}

#[cfg(test)]
mod per_node_tests {
    use super::*;

    fn config() -> phoenix_config::Config {
        let hv = r#"{"core_paths": {"lxc_config_file": "lxc.json"},
            "cluster": {"nodes": [{"name": "pve1"}, {"name": "pve2", "ssh_host": "10.0.0.12"}]}}"#;
        phoenix_config::Config::load_with(Path::new("/cfg/hv.json"), |p| {
            Ok(match p.file_name().and_then(|n| n.to_str()) {
                Some("hv.json") => hv.to_string(),
                _ => r#"{"lxc_configs": {}}"#.to_string(),
            })
        })
        .expect("valid config")
    }

    #[test]
    fn work_goes_to_the_selected_nodes_ssh_host() {
        let cfg = config();
        let env = phoenix_host::HostEnv::resolve(Some(Path::new("/cfg/hv.json")), true);
        let base = SshTarget::new("pve-api.example.net", PathBuf::from("/known_hosts"));
        let c = cfg.hypervisor.cluster.clone().expect("cluster");
        let w = PerNodeSsh::new(base, &c, &env, &cfg);
        assert_eq!(w.place(), "ssh root@pve-api.example.net");
        w.select("pve2");
        assert_eq!(w.place(), "ssh root@10.0.0.12");
        w.select("pve1");
        assert_eq!(w.place(), "ssh root@pve1");
    }
}
