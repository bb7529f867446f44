//! Phoenix's configuration: the single source of truth for a Proxmox host.
//!
//! Three JSON files describe a host: `phoenix_hypervisor_config.json` (the host, and through
//! `core_paths` where the other two are), `phoenix_lxc_configs.json` (containers keyed by ID) and
//! `phoenix_vm_configs.json` (`vm_defaults` plus a `vms` array). [`Config::load`] reads all three,
//! checks everything (types, ID ranges, references, cycles, names that reach argv or scripts) and
//! either returns a [`Config`] the rest of Phoenix can trust, or every problem at once, each with
//! its file and JSON path. Nothing here runs a process: it is pure data, so it is cheap to test
//! and to benchmark.
//!
//! Key design decision: the files' serde shapes (`raw`, private) are kept apart from the
//! checked model ([`model`]) the rest of Phoenix uses. Validation *builds* the model: each value
//! is checked by constructing its newtype ([`types`]), defaults are merged once (`vm_defaults`,
//! `proxmox_defaults.lxc`, Phoenix's documented defaults), and what a manager would otherwise
//! re-derive at run time is resolved here (GPU indices, the NFS export a mount belongs to,
//! name servers from either spelling). Managers never re-validate.
//!
//! Map of the crate:
//! - [`Config`]: the loaded whole: [`model::Hypervisor`], each [`model::Lxc`] and
//!   [`model::Vm`], the [`Guest`] index and the dependency [`Graph`];
//! - [`model`]: the checked types; [`types`]: checked values (`Hostname`, `FeatureName`,
//!   `StorageId`, `SnapshotName`, `IpConfig`, ...); [`id`]: `GuestId`;
//! - [`load`]: reading one file with precise errors and unknown-key warnings;
//! - `validate`: building the model, one module per file kind plus cross-file checks;
//! - [`graph`]: dependency ordering, knowing only IDs and edges;
//! - [`names`]: the format rules behind the newtypes; [`schema`]: `schemas/*.json`;
//! - [`not_applied`]: the one table of keys loaded and checked but not acted on yet (each is a
//!   warning; `validate --strict` refuses them).
//!
//! ```no_run
//! use phoenix_config::{Config, GuestId};
//! let config = Config::load("etc/phoenix_hypervisor_config.json".as_ref())?;
//! let order = config.build_dependency_graph(&[GuestId(950)])?;
//! let web = config.lxc(GuestId(950)).expect("defined");
//! println!("{} has GPUs {:?}", web.name, web.gpus);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod derived;
pub mod error;
pub mod graph;
pub mod id;
pub mod load;
pub mod model;
pub mod names;
pub mod not_applied;
pub mod paths;
mod raw;
pub mod schema;
pub mod types;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use derived::{orchestration, TemplateSource, DEFAULT_EXPORT_OPTIONS, DEFAULT_MOUNT_OPTIONS};
pub use error::{ConfigError, Diagnostic, Severity};
pub use graph::{Cycle, Graph};
pub use id::GuestId;
pub use model::{Hypervisor, Lxc, Vm};
pub use types::{FeatureName, Hostname, IpConfig, SnapshotName, StorageId};
pub use validate::node_setup::{merge_patch, SETUP_KEYS};

/// Container or VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GuestKind {
    Lxc,
    Vm,
}

impl GuestKind {
    /// The manager executable that handles this kind.
    pub fn manager(self) -> &'static str {
        match self {
            GuestKind::Lxc => "lxc-manager",
            GuestKind::Vm => "vm-manager",
        }
    }

    /// `lxc` or `vm`, as `resolve_target_type` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            GuestKind::Lxc => "lxc",
            GuestKind::Vm => "vm",
        }
    }
}

impl fmt::Display for GuestKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GuestKind::Lxc => "container",
            GuestKind::Vm => "VM",
        })
    }
}

/// What ordering needs to know about any guest, LXC or VM alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guest {
    pub id: GuestId,
    pub kind: GuestKind,
    /// Its key in the file (`"950"`, or `vms[1]`), for error paths.
    pub key: String,
    pub name: String,
    /// Cluster node the guest belongs on: its `node`, else the cluster's default node; `None`
    /// without a `cluster` block (one host: wherever Proxmox has it).
    pub node: Option<String>,
    pub clone_from: Option<GuestId>,
    pub dependencies: Vec<GuestId>,
    pub boot_order: Option<u64>,
    pub boot_delay: Option<u64>,
    pub start_at_boot: bool,
    /// Never started by `start`/`LetsGo`.
    pub is_template: bool,
    pub(crate) explicit_template: Option<bool>,
    pub(crate) has_template_snapshot: bool,
    /// Position in `Config::lxcs` or `Config::vms`.
    pub(crate) index: usize,
}

impl Guest {
    /// Guests that must exist before this one: its clone source, then its dependencies.
    pub fn needs(&self) -> impl Iterator<Item = GuestId> + '_ {
        self.clone_from
            .into_iter()
            .chain(self.dependencies.iter().copied())
    }
}

/// Where the three files are.
#[derive(Debug, Clone)]
pub struct ConfigPaths {
    pub hypervisor: PathBuf,
    pub lxc: PathBuf,
    /// Absent when `core_paths.vm_config_file` is not set.
    pub vm: Option<PathBuf>,
    /// Folder of the hypervisor config; relative `core_paths` resolve against it.
    pub dir: PathBuf,
}

impl ConfigPaths {
    /// The VM file for messages (the hypervisor file when no VM file is configured).
    pub fn vm_path(&self) -> &Path {
        self.vm.as_deref().unwrap_or(&self.hypervisor)
    }
}

/// The loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub paths: ConfigPaths,
    pub hypervisor: Hypervisor,
    /// Unknown keys and other non-fatal findings.
    pub warnings: Vec<Diagnostic>,
    /// Containers in file order.
    lxcs: Vec<Lxc>,
    /// VMs in file order.
    vms: Vec<Vm>,
    /// The VM file as written (for the guest's `vm_config.json`).
    vm_file: raw::VmFile,
    /// Every guest, by ascending ID.
    guests: Vec<Guest>,
    graph: Graph,
    /// Every guest in dependency order (`graph.toposort()`, computed once by validation).
    order: Vec<GuestId>,
    /// Per node with `cluster.nodes[].setup`: the hypervisor file merged for its set-up.
    node_setups: std::collections::BTreeMap<String, serde_json::Value>,
}

/// The answer of [`Config::resolve_target_type`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    Lxc,
    Vm,
    Unknown,
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetType::Lxc => "lxc",
            TargetType::Vm => "vm",
            TargetType::Unknown => "unknown",
        })
    }
}

impl Config {
    /// Loads the hypervisor config at `path`, the LXC and VM files it names, and validates all.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_with(path, load::read_text)
    }

    /// [`Config::load`] with `read` standing in for reading a file (in-memory configs for
    /// fuzzing and tests); paths are resolved exactly as `load` resolves them.
    pub fn load_with(
        path: &Path,
        read: impl Fn(&Path) -> Result<String, Diagnostic>,
    ) -> Result<Config, ConfigError> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let hv_text = read(path).map_err(|d| ConfigError::Unreadable(vec![d]))?;
        let hv = load::parse_str::<raw::HypervisorFile>(path, &hv_text)
            .map_err(|d| ConfigError::Unreadable(vec![d]))?;
        let paths = ConfigPaths {
            hypervisor: path.to_path_buf(),
            lxc: paths::resolve_core_path(&dir, &hv.value.core_paths.lxc_config_file),
            vm: hv
                .value
                .core_paths
                .vm_config_file
                .as_deref()
                .map(|v| paths::resolve_core_path(&dir, v)),
            dir,
        };
        // Parse warnings of all files first, then the findings of validation.
        let mut parsed = hv.warnings;
        let mut hv_checks = Vec::new();
        let hypervisor = validate::hypervisor::build(
            &mut validate::Report {
                file: &paths.hypervisor,
                out: &mut hv_checks,
            },
            hv.value,
        );
        let mut unreadable = Vec::new();
        let lxc_defaults = hypervisor
            .proxmox_defaults
            .as_ref()
            .and_then(|d| d.lxc.as_ref());
        let lxc_text = read(&paths.lxc);
        let new_builder = || {
            validate::lxc::LxcBuilder::new(
                &paths.lxc,
                lxc_defaults,
                validate::hypervisor::default_pct_features(hypervisor.proxmox_defaults.as_ref()),
                lxc_text.as_ref().map_or(0, |t| t.len()),
            )
        };
        // Each parse starts from a fresh builder (a file with unknown keys is parsed twice).
        let lxc = std::cell::RefCell::new(new_builder());
        let mut used = false;
        let lxc_read = lxc_text.as_ref().map_err(Clone::clone).and_then(|text| {
            load::parse_seed::<raw::LxcFile, _>(&paths.lxc, text, || {
                if std::mem::replace(&mut used, true) {
                    *lxc.borrow_mut() = new_builder();
                }
                raw::lxc::LxcFileSeed(lxc.borrow_mut())
            })
        });
        match lxc_read {
            Ok(((), w)) => parsed.extend(w),
            Err(d) => unreadable.push(d),
        }
        let vm_file = match &paths.vm {
            Some(vp) => match read(vp).and_then(|t| load::parse_str::<raw::VmFile>(vp, &t)) {
                Ok(p) => {
                    parsed.extend(p.warnings);
                    p.value
                }
                Err(d) => {
                    unreadable.push(d);
                    raw::VmFile::default()
                }
            },
            None => raw::VmFile::default(),
        };
        if !unreadable.is_empty() {
            unreadable.extend(parsed);
            return Err(ConfigError::Unreadable(unreadable));
        }
        let validate::lxc::LxcBuilder {
            diagnostics,
            mut lxcs,
            explicit_templates,
            keys,
            entry_keys,
            ..
        } = lxc.into_inner();
        let mut diags = parsed;
        diags.extend(diagnostics);
        let vms = validate::vm::build(
            &mut validate::Report {
                file: paths.vm_path(),
                out: &mut diags,
            },
            &vm_file,
            &hypervisor,
            &keys,
        );
        let mut index = validate::cross::check(
            &paths,
            validate::cross::Containers {
                lxcs: &mut lxcs,
                keys: entry_keys,
                explicit_templates: &explicit_templates,
            },
            &vms.vms,
            &vms.index,
            &mut diags,
        );
        validate::cluster::check(
            &paths,
            hypervisor.cluster.as_ref(),
            &mut index.guests,
            &lxcs,
            &vms.vms,
            &mut diags,
        );
        let node_setups = validate::node_setup::check(
            &paths.hypervisor,
            &hv_text,
            hypervisor.cluster.as_ref(),
            &hv_checks,
            &mut diags,
        );
        diags.extend(hv_checks);
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(ConfigError::Invalid(diags));
        }
        Ok(Config {
            paths,
            hypervisor,
            warnings: diags,
            lxcs,
            vms: vms.vms,
            vm_file,
            guests: index.guests,
            graph: index.graph,
            order: index.order,
            node_setups,
        })
    }

    /// The hypervisor file as node `node` is set up with it: the file with the node's
    /// `cluster.nodes[].setup` merged over it (RFC 7396); `None` when the node has no `setup`
    /// (the file itself applies).
    pub fn node_setup_json(&self, node: &str) -> Option<&serde_json::Value> {
        self.node_setups.get(node)
    }

    /// This config as node `node`'s set-up sees it: the hypervisor model of
    /// [`Config::node_setup_json`], read from `file` (where that JSON was written for the
    /// set-up scripts). Relative `core_paths` still resolve against the original folder. A node
    /// without `setup` gets the config unchanged.
    pub fn for_node(&self, node: &str, file: &Path) -> Config {
        let mut c = self.clone();
        if let Some(h) = self
            .node_setups
            .get(node)
            .and_then(|doc| validate::node_setup::build(file, doc))
        {
            c.hypervisor = h;
            c.paths.hypervisor = file.to_path_buf();
        }
        c
    }

    /// Every guest, by ascending ID.
    pub fn guests(&self) -> impl Iterator<Item = &Guest> {
        self.guests.iter()
    }

    pub fn guest(&self, id: GuestId) -> Option<&Guest> {
        validate::cross::find(&self.guests, id)
    }

    /// The container `id`.
    pub fn lxc(&self, id: GuestId) -> Option<&Lxc> {
        let g = self.guest(id).filter(|g| g.kind == GuestKind::Lxc)?;
        self.lxcs.get(g.index)
    }

    /// The VM `id`, with `vm_defaults` and Phoenix's defaults applied.
    pub fn vm(&self, id: GuestId) -> Option<&Vm> {
        let g = self.guest(id).filter(|g| g.kind == GuestKind::Vm)?;
        self.vms.get(g.index)
    }

    /// Every container, in file order.
    pub fn lxcs(&self) -> &[Lxc] {
        &self.lxcs
    }

    /// Every VM, in file order.
    pub fn vms(&self) -> &[Vm] {
        &self.vms
    }

    /// What a VM's feature scripts read as `vm_config.json`: its entry as written, merged over
    /// `vm_defaults`, without `user_config.password_hash`.
    pub fn vm_guest_json(&self, id: GuestId) -> Option<serde_json::Value> {
        let own = self.vm_file.vms.iter().find(|v| v.vmid == id)?;
        let mut out = serde_json::to_value(&self.vm_file.vm_defaults).unwrap_or_default();
        if let (Some(o), Ok(serde_json::Value::Object(vm))) =
            (out.as_object_mut(), serde_json::to_value(own))
        {
            for (k, v) in vm {
                o.insert(k, v);
            }
            if let Some(u) = o.get_mut("user_config").and_then(|u| u.as_object_mut()) {
                u.remove("password_hash");
            }
        }
        Some(out)
    }

    /// `lxc`, `vm` or `unknown` (seed 002, PHX-CU-01..03).
    pub fn resolve_target_type(&self, id: GuestId) -> TargetType {
        match self.guest(id).map(|g| g.kind) {
            Some(GuestKind::Lxc) => TargetType::Lxc,
            Some(GuestKind::Vm) => TargetType::Vm,
            None => TargetType::Unknown,
        }
    }

    /// The whole dependency graph (clone and dependency edges, LXC and VM mixed).
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// `targets` and everything they need, dependencies first, ties by ascending ID
    /// (PHX-CU-04). Unknown IDs are an error.
    pub fn build_dependency_graph(&self, targets: &[GuestId]) -> Result<Vec<GuestId>, OrderError> {
        self.check_known(targets)?;
        let closure = self.graph.closure(targets);
        if closure.len() == self.guests.len() {
            return Ok(self.order.clone());
        }
        self.graph
            .restrict(&closure)
            .toposort()
            .map_err(OrderError::Cycles)
    }

    /// Every guest, dependencies first, ties by ascending ID (computed once by validation).
    pub fn dependency_order(&self) -> &[GuestId] {
        &self.order
    }

    /// `targets` sorted by `boot_order`, then ID; guests without one last (PHX-CU-05).
    pub fn get_boot_order(&self, targets: &[GuestId]) -> Result<Vec<GuestId>, OrderError> {
        self.check_known(targets)?;
        // Keys looked up once per guest, not once per comparison; the ID breaks ties, so
        // duplicates end up adjacent and are dropped.
        let mut keyed: Vec<(u64, GuestId)> = targets
            .iter()
            .map(|id| {
                let order = self.guest(*id).and_then(|g| g.boot_order);
                (order.unwrap_or(u64::MAX), *id)
            })
            .collect();
        keyed.sort_unstable();
        keyed.dedup();
        Ok(keyed.into_iter().map(|(_, id)| id).collect())
    }

    fn check_known(&self, targets: &[GuestId]) -> Result<(), OrderError> {
        match targets.iter().find(|t| self.guest(**t).is_none()) {
            Some(t) => Err(OrderError::Unknown(*t)),
            None => Ok(()),
        }
    }
}

/// Why targets could not be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderError {
    #[error("Target ID '{0}' not found")]
    Unknown(GuestId),
    #[error("dependency cycle: {}", .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
    Cycles(Vec<Cycle>),
}
