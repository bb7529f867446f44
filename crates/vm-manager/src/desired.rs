//! What a VM should look like: its config entry with `vm_defaults` applied and the documented
//! defaults filled in where the config is silent (see docs/vms.md, "VM fields").

use std::path::{Path, PathBuf};

use phoenix_config::model::vm::{SharedVolume, VmNetwork, VmUser};
use phoenix_config::model::HealthCheck;
use phoenix_config::{Config, GuestId};
use phoenix_host::HostEnv;

/// Where cloud images are cached when `core_paths.image_cache_dir` is not set.
pub const DEFAULT_IMAGE_CACHE_DIR: &str = "/var/lib/vz/template/phoenix-images";

/// Everything the state machine needs to know about one VM (the config's `Vm`, with
/// `vm_defaults` and the documented defaults already applied).
#[derive(Debug, Clone)]
pub struct Desired {
    pub id: GuestId,
    pub name: String,
    pub cores: u64,
    pub memory_mb: u64,
    pub disk_size_gb: Option<u64>,
    pub storage: String,
    pub bridge: String,
    pub scsihw: String,
    /// `None`: the first storage with `snippets` content.
    pub snippets_storage: Option<String>,
    pub agent_timeout_secs: u64,
    pub agent_poll_secs: u64,
    pub linked_clone: bool,
    pub start_at_boot: Option<bool>,
    pub boot_order: Option<u64>,
    pub boot_delay: Option<u64>,
    pub clone_from: Option<GuestId>,
    pub is_template: bool,
    pub snapshot: Option<String>,
    pub image: Option<String>,
    /// Where the image is downloaded from when it is not cached: `image_url`, else the URL the
    /// config derives from `ubuntu_release` (the old orchestrator's).
    pub image_source: Option<String>,
    pub features: Vec<String>,
    pub network: Option<VmNetwork>,
    pub user: Option<VmUser>,
    /// Public keys from `ssh_public_key(s)` and `ssh_key_files`, one per entry.
    pub ssh_keys: Vec<String>,
    pub shared_volumes: Vec<SharedVolume>,
    pub health_checks: Vec<HealthCheck>,
    /// The VM's entry merged over `vm_defaults`, secrets removed (the guest's `vm_config.json`).
    pub guest_json: serde_json::Value,
}

impl Desired {
    /// The VM `id` of the config, or an error when it is not a VM there.
    /// `Err`: the message for the `config` step.
    pub fn load(cfg: &Config, id: GuestId) -> Result<Desired, String> {
        let vm = cfg
            .vm(id)
            .ok_or_else(|| format!("not defined in {}", cfg.paths.vm_path().display()))?;
        let user = vm.user.clone();
        let ssh_keys = match &user {
            Some(u) => collect_keys(u)?,
            None => Vec::new(),
        };
        Ok(Desired {
            id,
            name: vm.name.to_string(),
            cores: vm.cores,
            memory_mb: vm.memory_mb,
            disk_size_gb: vm.disk_size_gb,
            storage: vm.storage_pool.to_string(),
            bridge: vm.network_bridge.to_string(),
            scsihw: vm.scsihw.clone(),
            snippets_storage: vm.snippets_storage.as_ref().map(|s| s.to_string()),
            agent_timeout_secs: vm.guest_agent_timeout_secs,
            agent_poll_secs: vm.guest_agent_poll_secs,
            linked_clone: vm.linked_clone,
            start_at_boot: vm.start_at_boot,
            boot_order: vm.boot_order,
            boot_delay: vm.boot_delay,
            clone_from: vm.clone_from_vmid,
            is_template: vm.is_template,
            snapshot: vm.template_snapshot_name.as_ref().map(|s| s.to_string()),
            image: vm.template_image.as_ref().map(|s| s.to_string()),
            image_source: vm.image_source(),
            features: vm.features.iter().map(|f| f.to_string()).collect(),
            network: vm.network.clone(),
            user,
            ssh_keys,
            shared_volumes: vm.shared_volumes.clone(),
            health_checks: vm.health_checks.clone(),
            guest_json: cfg.vm_guest_json(id).unwrap_or_default(),
        })
    }

    /// The gateway (`network_config.gw`, else the legacy `user_config.gw`).
    pub fn gateway(&self) -> Option<String> {
        self.network.as_ref()?.gateway.map(|g| g.to_string())
    }

    /// The static address without prefix, if the VM has one.
    pub fn static_ip(&self) -> Option<std::net::IpAddr> {
        self.network.as_ref()?.ip.static_addr()
    }
}

/// Public keys of the user, in order, without duplicates: the config's keys, then those in
/// `ssh_key_files` (resolved by the config).
fn collect_keys(u: &VmUser) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = u.ssh_public_keys.clone();
    let mut add = |k: &str| {
        let k = k.trim();
        if !k.is_empty() && !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    };
    for p in &u.ssh_key_files {
        let text = std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read ssh_key_files entry {}: {e}", p.display()))?;
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .for_each(&mut add);
    }
    Ok(keys)
}

/// Host paths the VM manager uses.
#[derive(Debug, Clone)]
pub struct Paths {
    pub image_cache: PathBuf,
    /// `core_paths.cloud_init_dir`, when set.
    pub cloud_init_dir: Option<PathBuf>,
    /// `<marker dir>/guests`: one record per VM.
    pub records: PathBuf,
}

impl Paths {
    pub fn new(env: &HostEnv, cfg: &Config) -> Paths {
        let cp = &cfg.hypervisor.core_paths;
        let host =
            |v: &Option<String>, dflt: &str| env.host_path(Path::new(v.as_deref().unwrap_or(dflt)));
        Paths {
            image_cache: host(&cp.image_cache_dir, DEFAULT_IMAGE_CACHE_DIR),
            cloud_init_dir: cp
                .cloud_init_dir
                .as_deref()
                .map(|d| phoenix_config::paths::resolve_dir(&cfg.paths.dir, d)),
            records: env.records_dir(cfg),
        }
    }
}
