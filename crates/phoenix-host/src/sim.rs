//! `--sim [DIR]`: run against a simulated Proxmox node instead of the real tools. The managers'
//! code does not change: this only decides which `pct` is first on `PATH` and where the Proxmox
//! config folder is.

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

/// Initialises the node in `dir` when needed and points `env` at it.
pub fn enter(mut env: HostEnv, dir: &Path) -> Result<HostEnv, SimError> {
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
    let links = dir.join("bin");
    if !links.join("pct").exists() {
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
