//! `--sim [DIR]`: run against a simulated Proxmox node instead of the real tools. The managers'
//! code does not change: this only decides which `pct` (and `pvesh`) is first on `PATH` and
//! where the Proxmox config folder is. With `--transport api` it also starts the simulated
//! API server over the same folder ([`SimApi`]) and stops it at exit.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::env::HostEnv;

/// Where `--sim` puts the node when no folder is given.
pub const DEFAULT_SIM_DIR: &str = ".phoenix-sim";

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot find the simulator executable `pve-sim` (looked beside {exe}, in PHOENIX_SIM_BIN and on PATH); build it with `cargo build --workspace`")]
    NotFound { exe: String },
    #[error("cannot prepare the simulated node in {dir}: {why}")]
    Setup { dir: String, why: String },
}

/// The nodes of the simulated cluster: `--sim-nodes N` names N nodes (the config's
/// `cluster.nodes` first, then `pve<k>`); without it, a config's cluster of several nodes;
/// otherwise none (one node, as before).
pub fn cluster_nodes(
    count: Option<usize>,
    cluster: Option<&phoenix_config::model::Cluster>,
) -> Vec<String> {
    let named: Vec<String> = cluster
        .map(|c| c.nodes.iter().map(|n| n.name.clone()).collect())
        .unwrap_or_default();
    match count {
        Some(n) if n > 1 => (0..n)
            .map(|i| {
                named
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("pve{}", i + 1))
            })
            .collect(),
        Some(_) => Vec::new(),
        None if named.len() > 1 => named,
        None => Vec::new(),
    }
}

/// The simulated host folder of node `node` (`PHOENIX_HOST_ROOT` of work done as that node):
/// `DIR/host` for the first member of the cluster (and for a one-node folder), else
/// `DIR/nodes/<node>/host`, as `pve-sim` maps it (its state beside it, `host-state`).
pub fn node_host_root(dir: &Path, node: &str) -> PathBuf {
    match first_member(dir) {
        Some(first) if first != node => dir.join("nodes").join(node).join("host"),
        _ => dir.join("host"),
    }
}

/// The first node of `DIR/etc/pve/.members` (pmxcfs's `nodelist`, by `id`).
fn first_member(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("etc/pve/.members")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("nodelist")?
        .as_object()?
        .iter()
        .min_by_key(|(_, e)| e.get("id").and_then(|i| i.as_u64()).unwrap_or(0))
        .map(|(n, _)| n.clone())
}

/// Initialises the node in `dir` when needed (a cluster of `nodes` when there are any) and
/// points `env` at it.
pub fn enter(mut env: HostEnv, dir: &Path, nodes: &[String]) -> Result<HostEnv, SimError> {
    let setup = |why: String| SimError::Setup {
        dir: dir.display().to_string(),
        why,
    };
    std::fs::create_dir_all(dir).map_err(|e| setup(e.to_string()))?;
    let dir = dir.canonicalize().map_err(|e| setup(e.to_string()))?;
    let bin = find_sim_binary()?;
    if !dir.join("etc/pve/storage.cfg").exists() {
        let mut cmd = Command::new(&bin);
        cmd.arg("init").env("PVE_SIM_ROOT", &dir);
        if env.config.exists() {
            cmd.arg("--config").arg(&env.config);
        }
        run(cmd).map_err(setup)?;
        log::info!("initialised a simulated Proxmox node in {}", dir.display());
    }
    if !nodes.is_empty() && !dir.join("etc/pve/.members").exists() {
        let mut cmd = Command::new(&bin);
        cmd.arg("init")
            .arg("--nodes")
            .arg(nodes.join(","))
            .env("PVE_SIM_ROOT", &dir);
        if env.config.exists() {
            cmd.arg("--config").arg(&env.config);
        }
        run(cmd).map_err(setup)?;
        log::info!(
            "simulated cluster of {} in {}",
            nodes.join(", "),
            dir.display()
        );
    }
    let links = dir.join("bin");
    // `dnsmasq` is the newest host tool: a folder linked before it is linked again.
    if !links.join("pct").exists()
        || !links.join("pvesh").exists()
        || !links.join("dnsmasq").exists()
    {
        let mut cmd = Command::new(&bin);
        cmd.arg("link").arg(&links).env("PVE_SIM_ROOT", &dir);
        run(cmd).map_err(setup)?;
    }
    let mut path = OsString::from(links.as_os_str());
    if let Some(old) = std::env::var_os("PATH") {
        path.push(":");
        path.push(old);
    }
    env.pve_dir = dir.join("etc/pve");
    env.host_root = dir.join("host");
    env.path = Some(path);
    env.sim = Some(dir);
    Ok(env)
}

fn run(mut cmd: Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// `PHOENIX_SIM_BIN`, else `pve-sim` beside the running executable (or one folder up, for
/// `bin/managers/`), else on `PATH`.
pub fn find_sim_binary() -> Result<PathBuf, SimError> {
    if let Some(p) = std::env::var_os("PHOENIX_SIM_BIN").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().ok();
    if let Some(dir) = exe.as_deref().and_then(Path::parent) {
        for cand in [
            dir.join("pve-sim"),
            dir.join("../pve-sim"),
            dir.join("sim/pve-sim"),
        ] {
            if cand.is_file() {
                return Ok(cand);
            }
        }
    }
    which::which("pve-sim").map_err(|_| SimError::NotFound {
        exe: exe.map(|e| e.display().to_string()).unwrap_or_default(),
    })
}

/// The token `phoenix --sim DIR --transport api` makes on the simulated node.
pub const SIM_TOKEN_ID: &str = "root@pam!phoenix";
/// The environment variable that hands a running simulated API server to child processes.
pub const SIM_API_ENV: &str = "PHOENIX_SIM_API";

/// How to reach a simulated API server: its URL, pinned fingerprint and token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SimApiInfo {
    pub url: String,
    pub fingerprint: String,
    pub token_id: String,
    /// The token secret, in a 0600 file of the state folder.
    pub secret_file: PathBuf,
}

/// A simulated API server over the node's folder: started by the process that needs it first
/// (stopped, SIGTERM, when this is dropped), or inherited from the parent through
/// [`SIM_API_ENV`] (then left running).
#[derive(Debug)]
pub struct SimApi {
    pub info: SimApiInfo,
    child: Option<std::sync::Mutex<std::process::Child>>,
}

impl SimApi {
    /// The parent's server, or a new one for `dir`.
    pub fn for_node(dir: &Path) -> Result<SimApi, SimError> {
        if let Some(info) = std::env::var(SIM_API_ENV)
            .ok()
            .and_then(|t| serde_json::from_str::<SimApiInfo>(&t).ok())
        {
            return Ok(SimApi { info, child: None });
        }
        Self::start(dir)
    }

    /// Makes the token (once per folder) and starts `pve-sim serve` on a free loopback port.
    pub fn start(dir: &Path) -> Result<SimApi, SimError> {
        use std::io::BufRead;
        use std::os::unix::process::CommandExt;
        let setup = |why: String| SimError::Setup {
            dir: dir.display().to_string(),
            why,
        };
        let bin = find_sim_binary()?;
        let secret_file = dir.join("api/phoenix-token");
        if !secret_file.exists() {
            let mut cmd = Command::new(&bin);
            cmd.args(["token", "add", SIM_TOKEN_ID])
                .env("PVE_SIM_ROOT", dir);
            let out = cmd.output().map_err(|e| setup(e.to_string()))?;
            if !out.status.success() {
                return Err(setup(
                    String::from_utf8_lossy(&out.stderr).trim().to_string(),
                ));
            }
            let secret = String::from_utf8_lossy(&out.stdout).trim().to_string();
            crate::fs::write_private(&secret_file, secret.as_bytes())
                .map_err(|e| setup(format!("{}: {e}", secret_file.display())))?;
        }
        let mut cmd = Command::new(&bin);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("PVE_SIM_ROOT", dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null());
        // SAFETY: prctl is async-signal-safe; the server must not outlive the process that
        // started it (killed, it would keep the port and the folder busy).
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| setup(format!("pve-sim serve: {e}")))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| setup("no stdout".into()))?;
        let (mut url, mut fingerprint) = (None, None);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(u) = line.split_whitespace().find(|w| w.starts_with("https://")) {
                url = Some(u.trim_end_matches("/api2/json").to_string());
            }
            if let Some(f) = line
                .split_whitespace()
                .last()
                .filter(|_| line.contains("fingerprint"))
            {
                fingerprint = Some(f.to_string());
            }
            if url.is_some() && fingerprint.is_some() {
                break;
            }
        }
        let (Some(url), Some(fingerprint)) = (url, fingerprint) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(setup(
                "pve-sim serve did not print its URL and fingerprint".into(),
            ));
        };
        log::info!("simulated Proxmox API on {url} (fingerprint {fingerprint})");
        Ok(SimApi {
            info: SimApiInfo {
                url,
                fingerprint,
                token_id: SIM_TOKEN_ID.into(),
                secret_file,
            },
            child: Some(std::sync::Mutex::new(child)),
        })
    }

    /// What children get in [`SIM_API_ENV`].
    pub fn env_value(&self) -> String {
        serde_json::to_string(&self.info).unwrap_or_default()
    }
}

impl Drop for SimApi {
    fn drop(&mut self) {
        let Some(child) = self.child.take() else {
            return;
        };
        let Ok(mut child) = child.into_inner() else {
            return;
        };
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if std::time::Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }
}
