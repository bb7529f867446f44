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
//! Map of the crate:
//! - [`model`]: the serde shapes of the files (also the source of `schemas/*.json`);
//! - [`load`]: reading one file with precise errors and unknown-key warnings;
//! - [`validate`](crate::Config::load): cross-file checks, run by `Config::load`;
//! - [`graph`]: dependency ordering, knowing only IDs and edges.
//!
//! ```no_run
//! use phoenix_config::{Config, GuestId};
//! let config = Config::load("etc/phoenix_hypervisor_config.json".as_ref())?;
//! let order = config.build_dependency_graph(&[GuestId(950)])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod graph;
pub mod id;
pub mod load;
pub mod model;
pub mod names;
pub mod paths;
pub mod schema;
mod validate;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use error::{ConfigError, Diagnostic, Severity};
pub use graph::{Cycle, Graph};
pub use id::GuestId;
pub use model::{HypervisorFile, Lxc, LxcFile, ResolvedVm, Vm, VmFile};

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
    pub clone_from: Option<GuestId>,
    pub dependencies: Vec<GuestId>,
    pub boot_order: Option<u64>,
    pub boot_delay: Option<u64>,
    pub start_at_boot: bool,
    /// Never started by `start`/`LetsGo`.
    pub is_template: bool,
    pub(crate) explicit_template: Option<bool>,
    pub(crate) has_template_snapshot: bool,
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
    pub hypervisor: HypervisorFile,
    pub lxc: LxcFile,
    pub vm: VmFile,
    /// Unknown keys and other non-fatal findings.
    pub warnings: Vec<Diagnostic>,
    guests: BTreeMap<GuestId, Guest>,
    graph: Graph,
    /// Every guest in dependency order (`graph.toposort()`, computed once by validation).
    order: Vec<GuestId>,
    /// Position of each VM in `vm.vms`.
    vm_index: BTreeMap<GuestId, usize>,
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
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let hv = load::load_file::<HypervisorFile>(path)
            .map_err(|d| ConfigError::Unreadable(vec![d]))?;
        let hypervisor = hv.value;
        let paths = ConfigPaths {
            hypervisor: path.to_path_buf(),
            lxc: paths::resolve_core_path(&dir, &hypervisor.core_paths.lxc_config_file),
            vm: hypervisor
                .core_paths
                .vm_config_file
                .as_deref()
                .map(|v| paths::resolve_core_path(&dir, v)),
            dir,
        };
        let mut diags = hv.warnings;
        let mut unreadable = Vec::new();
        let lxc = match load::load_file::<LxcFile>(&paths.lxc) {
            Ok(p) => {
                diags.extend(p.warnings);
                p.value
            }
            Err(d) => {
                unreadable.push(d);
                LxcFile::default()
            }
        };
        let vm = match &paths.vm {
            Some(vp) => match load::load_file::<VmFile>(vp) {
                Ok(p) => {
                    diags.extend(p.warnings);
                    p.value
                }
                Err(d) => {
                    unreadable.push(d);
                    VmFile::default()
                }
            },
            None => VmFile::default(),
        };
        if !unreadable.is_empty() {
            unreadable.extend(diags);
            return Err(ConfigError::Unreadable(unreadable));
        }
        Self::from_parts(paths, hypervisor, lxc, vm, diags)
    }

    /// Validates already-parsed files (used by `load`, benchmarks and tests).
    pub fn from_parts(
        paths: ConfigPaths,
        hypervisor: HypervisorFile,
        lxc: LxcFile,
        vm: VmFile,
        mut diags: Vec<Diagnostic>,
    ) -> Result<Config, ConfigError> {
        let validate::Validated {
            guests,
            graph,
            order,
            diagnostics,
        } = validate::validate(&paths, &hypervisor, &lxc, &vm);
        diags.extend(diagnostics);
        if diags.iter().any(|d| d.severity == Severity::Error) {
            return Err(ConfigError::Invalid(diags));
        }
        let vm_index = vm
            .vms
            .iter()
            .enumerate()
            .map(|(i, v)| (v.vmid, i))
            .collect();
        Ok(Config {
            paths,
            hypervisor,
            lxc,
            vm,
            warnings: diags,
            guests,
            graph,
            order,
            vm_index,
        })
    }

    /// Every guest, by ascending ID.
    pub fn guests(&self) -> impl Iterator<Item = &Guest> {
        self.guests.values()
    }

    pub fn guest(&self, id: GuestId) -> Option<&Guest> {
        self.guests.get(&id)
    }

    /// The container `id`, as written.
    pub fn lxc(&self, id: GuestId) -> Option<&Lxc> {
        let g = self.guests.get(&id).filter(|g| g.kind == GuestKind::Lxc)?;
        self.lxc.lxc_configs.get(&g.key)
    }

    /// The VM `id` with `vm_defaults` applied.
    pub fn vm(&self, id: GuestId) -> Option<ResolvedVm> {
        let v = self.vm_entry(id)?;
        Some(ResolvedVm {
            settings: v.own_settings().or(&self.vm.vm_defaults),
            vm: v.clone(),
        })
    }

    /// The VM `id` as written (no defaults applied, nothing cloned).
    pub fn vm_entry(&self, id: GuestId) -> Option<&Vm> {
        self.vm_index.get(&id).map(|&i| &self.vm.vms[i])
    }

    /// `lxc`, `vm` or `unknown` (seed 002, PHX-CU-01..03).
    pub fn resolve_target_type(&self, id: GuestId) -> TargetType {
        match self.guests.get(&id).map(|g| g.kind) {
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
                let order = self.guests.get(id).and_then(|g| g.boot_order);
                (order.unwrap_or(u64::MAX), *id)
            })
            .collect();
        keyed.sort_unstable();
        keyed.dedup();
        Ok(keyed.into_iter().map(|(_, id)| id).collect())
    }

    fn check_known(&self, targets: &[GuestId]) -> Result<(), OrderError> {
        match targets.iter().find(|t| !self.guests.contains_key(t)) {
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
