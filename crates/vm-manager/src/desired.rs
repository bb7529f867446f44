//! What a VM should look like: its config entry with `vm_defaults` applied and the documented
//! defaults filled in where the config is silent (see docs/vms.md, "VM fields").

use std::path::{Path, PathBuf};

use phoenix_config::model::vm::{SharedVolume, VmNetwork, VmUser};
use phoenix_config::model::HealthCheck;
use phoenix_config::{Config, GuestId};
use phoenix_host::HostEnv;

/// Default CPU cores.
pub const DEFAULT_CORES: u64 = 2;
/// Default memory in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 2048;
/// Default storage of VM disks.
pub const DEFAULT_STORAGE: &str = "local-lvm";
/// Default bridge of `net0`.
pub const DEFAULT_BRIDGE: &str = "vmbr0";
/// Default SCSI controller.
pub const DEFAULT_SCSIHW: &str = "virtio-scsi-pci";
/// Default wait for the QEMU guest agent, seconds.
pub const DEFAULT_AGENT_TIMEOUT_SECS: u64 = 300;
/// Default interval between guest agent pings, seconds.
pub const DEFAULT_AGENT_POLL_SECS: u64 = 2;
/// Where cloud images are cached when `core_paths.image_cache_dir` is not set.
pub const DEFAULT_IMAGE_CACHE_DIR: &str = "/var/lib/vz/template/phoenix-images";

/// Everything the state machine needs to know about one VM.
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
    pub image_url: Option<String>,
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
        let r = cfg
            .vm(id)
            .ok_or_else(|| format!("not defined in {}", cfg.paths.vm_path().display()))?;
        let (vm, s) = (&r.vm, &r.settings);
        let user = vm.user_config.clone();
        let ssh_keys = match &user {
            Some(u) => collect_keys(u, &cfg.paths.dir)?,
            None => Vec::new(),
        };
        Ok(Desired {
            id,
            name: vm.name.clone(),
            cores: s.cores.unwrap_or(DEFAULT_CORES),
            memory_mb: s.memory_mb.unwrap_or(DEFAULT_MEMORY_MB),
            disk_size_gb: s.disk_size_gb,
            storage: s
                .storage_pool
                .clone()
                .unwrap_or_else(|| DEFAULT_STORAGE.into()),
            bridge: s
                .network_bridge
                .clone()
                .unwrap_or_else(|| DEFAULT_BRIDGE.into()),
            scsihw: s.scsihw.clone().unwrap_or_else(|| DEFAULT_SCSIHW.into()),
            snippets_storage: s.snippets_storage.clone(),
            agent_timeout_secs: s
                .guest_agent_timeout_secs
                .unwrap_or(DEFAULT_AGENT_TIMEOUT_SECS),
            agent_poll_secs: s
                .guest_agent_poll_secs
                .unwrap_or(DEFAULT_AGENT_POLL_SECS)
                .max(1),
            linked_clone: s.linked_clone.unwrap_or(false),
            start_at_boot: s.start_at_boot,
            boot_order: vm.boot_order,
            boot_delay: vm.boot_delay,
            clone_from: vm.clone_from_vmid,
            is_template: vm.is_template.unwrap_or(false),
            snapshot: vm.template_snapshot_name.clone().filter(|n| !n.is_empty()),
            image: s.template_image.clone(),
            image_url: s.image_url.clone(),
            features: vm.features.clone(),
            network: vm.network_config.clone(),
            user,
            ssh_keys,
            shared_volumes: vm.shared_volumes.clone(),
            health_checks: vm.health_checks.clone(),
            guest_json: guest_json(cfg, id),
        })
    }

    /// The gateway: `network_config.gw`, else the legacy `user_config.gw`.
    pub fn gateway(&self) -> Option<&str> {
        let net = self.network.as_ref().and_then(|n| n.gw.as_deref());
        net.or_else(|| self.user.as_ref().and_then(|u| u.gw.as_deref()))
    }

    /// The static address without prefix, if the VM has one.
    pub fn static_ip(&self) -> Option<&str> {
        let ip = self.network.as_ref()?.ip.as_str();
        if ip == "dhcp" {
            return None;
        }
        Some(ip.split('/').next().unwrap_or(ip))
    }
}

/// Public keys of the user, in order, without duplicates; key files resolve against the
/// config folder.
fn collect_keys(u: &VmUser, cfg_dir: &Path) -> Result<Vec<String>, String> {
    let mut keys: Vec<String> = Vec::new();
    let mut add = |k: &str| {
        let k = k.trim();
        if !k.is_empty() && !keys.iter().any(|x| x == k) {
            keys.push(k.to_string());
        }
    };
    if let Some(k) = &u.ssh_public_key {
        add(k);
    }
    u.ssh_public_keys.iter().for_each(|k| add(k));
    for f in &u.ssh_key_files {
        let p = phoenix_config::paths::resolve_dir(cfg_dir, f);
        let text = std::fs::read_to_string(&p)
            .map_err(|e| format!("cannot read ssh_key_files entry {}: {e}", p.display()))?;
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .for_each(&mut add);
    }
    Ok(keys)
}

/// The VM entry merged over `vm_defaults`, with `password_hash` removed.
fn guest_json(cfg: &Config, id: GuestId) -> serde_json::Value {
    let mut out = serde_json::to_value(&cfg.vm.vm_defaults).unwrap_or_default();
    let own = cfg
        .vm
        .vms
        .iter()
        .find(|v| v.vmid == id)
        .and_then(|v| serde_json::to_value(v).ok());
    if let (Some(o), Some(serde_json::Value::Object(vm))) = (out.as_object_mut(), own) {
        for (k, v) in vm {
            o.insert(k, v);
        }
        if let Some(u) = o.get_mut("user_config").and_then(|u| u.as_object_mut()) {
            u.remove("password_hash");
        }
    }
    out
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
