//! The host as a binary sees it: which config, which Proxmox config folder, where scripts are,
//! whether this is a dry run or a simulated node. Resolved once from flags and environment, then
//! passed to every child through the environment contract of docs/architecture.md.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use phoenix_config::model::hypervisor::TransportKind;
use phoenix_config::paths::DEFAULT_BASE_DIR;

/// Resolved host paths and modes.
#[derive(Debug, Clone)]
pub struct HostEnv {
    /// The hypervisor config file.
    pub config: PathBuf,
    /// Proxmox cluster config folder (`/etc/pve`, or the simulator's).
    pub pve_dir: PathBuf,
    /// Prefix for other host paths (empty for the real `/`).
    pub host_root: PathBuf,
    /// Folder with `lxc_setup/`, `vm_features/`, ...
    pub scripts_dir: PathBuf,
    /// Installation base (`/usr/local/phoenix_hypervisor`).
    pub base_dir: PathBuf,
    pub dry_run: bool,
    /// The simulated node's folder, when running against the simulator.
    pub sim: Option<PathBuf>,
    /// `PATH` for children (the simulator's tools first under `--sim`).
    pub path: Option<OsString>,
    /// How Proxmox is reached (`--transport`, `PHOENIX_TRANSPORT`, `orchestration.transport`).
    pub transport: TransportKind,
    /// `--insecure` / `PHOENIX_API_INSECURE=1`: the `api` transport accepts any certificate.
    pub insecure: bool,
    /// `--sim` with the `api` transport: the simulated API server (ours, or the parent's).
    pub sim_api: Option<std::sync::Arc<crate::sim::SimApi>>,
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

impl HostEnv {
    /// Resolves everything but the simulator (see [`crate::sim::enter`]).
    pub fn resolve(config_flag: Option<&Path>, dry_run: bool) -> HostEnv {
        let config = crate::locate::hypervisor_config(config_flag).path;
        let dry_run = dry_run || std::env::var("PHOENIX_DRY_RUN").is_ok_and(|v| v == "1");
        HostEnv {
            pve_dir: env_path("PHOENIX_PVE_DIR").unwrap_or_else(|| PathBuf::from("/etc/pve")),
            host_root: env_path("PHOENIX_HOST_ROOT").unwrap_or_default(),
            scripts_dir: env_path("PHOENIX_SCRIPTS_DIR")
                .unwrap_or_else(|| default_scripts_dir(&config)),
            base_dir: env_path("PHOENIX_BASE_DIR").unwrap_or_else(crate::locate::default_base_dir),
            sim: env_path("PHOENIX_SIM"),
            path: None,
            transport: TransportKind::default(),
            insecure: std::env::var("PHOENIX_API_INSECURE").is_ok_and(|v| v == "1"),
            sim_api: None,
            config,
            dry_run,
        }
    }

    /// Applies the config's `core_paths` choices where the environment said nothing.
    pub fn with_config(mut self, cfg: &phoenix_config::Config) -> HostEnv {
        let cp = &cfg.hypervisor.core_paths;
        if std::env::var_os("PHOENIX_SCRIPTS_DIR").is_none() {
            if let Some(s) = &cp.scripts_dir {
                self.scripts_dir = phoenix_config::paths::resolve_dir(&cfg.paths.dir, s);
            }
        }
        if self.sim.is_none() && std::env::var_os("PHOENIX_PVE_DIR").is_none() {
            if let Some(p) = &cp.pve_config_dir {
                self.pve_dir = phoenix_config::paths::resolve_dir(&cfg.paths.dir, p);
            }
        }
        self
    }

    /// A host path as seen from here: `/etc/exports` becomes `<host_root>/etc/exports`.
    pub fn host_path(&self, p: &Path) -> PathBuf {
        if self.host_root.as_os_str().is_empty() {
            return p.to_path_buf();
        }
        self.host_root.join(p.strip_prefix("/").unwrap_or(p))
    }

    /// Where managers record what they did inside each guest (`<marker dir>/guests/`), so a
    /// converged guest is not probed again; see docs/lxc.md and docs/vms.md.
    pub fn records_dir(&self, cfg: &phoenix_config::Config) -> PathBuf {
        let dir = cfg.hypervisor.core_paths.hypervisor_marker_dir.as_deref();
        self.host_path(Path::new(
            dir.unwrap_or(phoenix_config::paths::DEFAULT_MARKER_DIR),
        ))
        .join("guests")
    }

    /// The environment variables of the contract, for a child process.
    pub fn vars(&self, cfg: Option<&phoenix_config::Config>) -> Vec<(String, OsString)> {
        let mut v: Vec<(String, OsString)> = vec![
            ("PHOENIX_CONFIG".into(), self.config.clone().into()),
            ("PHOENIX_PVE_DIR".into(), self.pve_dir.clone().into()),
            ("PHOENIX_HOST_ROOT".into(), self.host_root.clone().into()),
            (
                "PHOENIX_SCRIPTS_DIR".into(),
                self.scripts_dir.clone().into(),
            ),
            ("PHOENIX_BASE_DIR".into(), self.base_dir.clone().into()),
            (
                "PHOENIX_DRY_RUN".into(),
                if self.dry_run { "1" } else { "0" }.into(),
            ),
        ];
        if let Some(c) = cfg {
            v.push(("PHOENIX_LXC_CONFIG".into(), c.paths.lxc.clone().into()));
            if let Some(vm) = &c.paths.vm {
                v.push(("PHOENIX_VM_CONFIG".into(), vm.clone().into()));
            }
        }
        if let Some(s) = &self.sim {
            v.push(("PHOENIX_SIM".into(), s.clone().into()));
            v.push(("PVE_SIM_ROOT".into(), s.clone().into()));
        }
        if let Some(p) = &self.path {
            v.push(("PATH".into(), p.clone()));
        }
        v.push(("PHOENIX_TRANSPORT".into(), self.transport.as_str().into()));
        if self.insecure {
            v.push(("PHOENIX_API_INSECURE".into(), "1".into()));
        }
        if let Some(api) = &self.sim_api {
            v.push((crate::sim::SIM_API_ENV.into(), api.env_value().into()));
        }
        v
    }

    /// Picks the transport: `flag`, else `PHOENIX_TRANSPORT`, else the config's, else `local`.
    pub fn choose_transport(
        &mut self,
        flag: Option<&str>,
        cfg: &phoenix_config::Config,
    ) -> Result<(), String> {
        let from_env = std::env::var("PHOENIX_TRANSPORT")
            .ok()
            .filter(|v| !v.is_empty());
        let chosen = match (flag, from_env.as_deref()) {
            (Some(f), _) => Some(f.to_string()),
            (None, Some(e)) => Some(e.to_string()),
            (None, None) => None,
        };
        let nodes = cfg.hypervisor.cluster.as_ref().map_or(0, |c| c.nodes.len());
        self.transport = match chosen {
            Some(s) => TransportKind::parse(&s).ok_or_else(|| {
                format!("PHOENIX_TRANSPORT is '{s}'; expected local, pvesh or api")
            })?,
            // A cluster is driven through its API unless the config says otherwise.
            None if nodes > 1 && cfg.hypervisor.orchestration.transport.is_none() => {
                TransportKind::Api
            }
            None => cfg.hypervisor.orchestration.transport.unwrap_or_default(),
        };
        // `pct`/`qm` reach only the node they run on; `pvesh` reaches every node's API, but its
        // node-local work (feature scripts, raw config lines) would run on this node only.
        if nodes > 1 && self.transport != TransportKind::Api {
            return Err(format!(
                "the cluster in {} has {nodes} nodes: the {} transport works on the node it runs on only; use --transport api (with orchestration.api.ssh for node-local work on each node)",
                cfg.paths.hypervisor.display(),
                self.transport,
            ));
        }
        Ok(())
    }

    /// Sets the contract's variables on `cmd`.
    pub fn apply(&self, cmd: &mut Command, cfg: Option<&phoenix_config::Config>) {
        for (k, v) in self.vars(cfg) {
            cmd.env(k, v);
        }
    }

    /// Sets the variables in this process, so tools it runs see them too.
    pub fn export(&self, cfg: Option<&phoenix_config::Config>) {
        for (k, v) in self.vars(cfg) {
            // Single-threaded at start-up, before any worker thread exists.
            std::env::set_var(k, v);
        }
    }
}

/// Where the scripts are when nobody said: `<base>/bin` when installed (the config sits in
/// `<base>/etc`), `<repo>/scripts` in a checkout (the config sits in `<repo>/etc`), else the
/// folder of the running executable's installation.
fn default_scripts_dir(config: &Path) -> PathBuf {
    let cfg_dir = config.parent().unwrap_or(Path::new("."));
    let mut candidates = vec![cfg_dir.join("../bin")];
    // A config anywhere inside a checkout (`etc/`, `tests/fixtures/...`): the checkout's scripts.
    let abs = std::path::absolute(cfg_dir).unwrap_or_else(|_| cfg_dir.to_path_buf());
    candidates.extend(abs.ancestors().take(5).map(|a| a.join("scripts")));
    for c in candidates.iter().chain(exe_candidates().iter()) {
        if c.join("lxc_setup").is_dir() {
            return c.clone();
        }
    }
    PathBuf::from(DEFAULT_BASE_DIR).join("bin")
}

/// `<exe dir>` and its parents, then the checkout's `scripts/` from a `target/` build.
fn exe_candidates() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut dir = exe.parent().map(Path::to_path_buf);
    for _ in 0..4 {
        let Some(d) = dir else { break };
        out.push(d.clone());
        out.push(d.join("scripts"));
        dir = d.parent().map(Path::to_path_buf);
    }
    out
}
