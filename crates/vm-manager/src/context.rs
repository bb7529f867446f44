//! One VM being worked on: the guest core's [`Job`] plus what the VM's steps share (its
//! desired state, host paths, its record, whether the guest agent answered yet).

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::Duration;

use phoenix_config::{Config, Vm};
use phoenix_guest::record::RecordFile;
use phoenix_guest::{Action, Applied, GuestOp, GuestResult, Job, Step};
use phoenix_host::HostEnv;

use crate::desired::Desired;

/// Where cloud images are cached when `core_paths.image_cache_dir` is not set.
pub const DEFAULT_IMAGE_CACHE_DIR: &str = "/var/lib/vz/template/phoenix-images";

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
    /// `host_path` maps a host path of the VM's node (`Job::host_path`).
    pub fn new(env: &HostEnv, cfg: &Config, host_path: impl Fn(&Path) -> PathBuf) -> Paths {
        let cp = &cfg.hypervisor.core_paths;
        let host =
            |v: &Option<String>, dflt: &str| host_path(Path::new(v.as_deref().unwrap_or(dflt)));
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

pub struct VmJob<'j, 'a> {
    pub job: &'j Job<'a>,
    pub d: Desired<'j>,
    pub paths: Paths,
    pub record: RefCell<RecordFile>,
    /// Re-apply recorded agent steps (`PHOENIX_CONVERGE=1`, `reconfigure`).
    pub force: bool,
    agent_ready: Cell<bool>,
}

impl<'j, 'a> VmJob<'j, 'a> {
    pub fn new(job: &'j Job<'a>, vm: &'j Vm, force: bool) -> GuestResult<VmJob<'j, 'a>> {
        let d = Desired::of(vm).map_err(|e| job.err("config", e))?;
        let paths = Paths::new(&job.ctx.env, job.config(), |p| job.host_path(p));
        let record = RefCell::new(RecordFile::load(&paths.records, vm.id.0));
        Ok(VmJob {
            job,
            d,
            paths,
            record,
            force,
            agent_ready: Cell::new(false),
        })
    }

    /// The VM as the config has it.
    pub fn vm(&self) -> &'j Vm {
        self.d.vm
    }

    fn wait_action(&self) -> Action {
        Action::guest(
            "guest agent",
            "the guest agent must answer first",
            wait_agent(self.vm()),
        )
        .long()
    }

    /// Puts the wait for the guest agent in front of `step` when it has actions and the agent
    /// has not answered in this run yet.
    pub fn with_agent(&self, mut step: Step) -> Step {
        if !step.actions.is_empty() && !self.agent_ready.get() {
            step.actions.insert(0, self.wait_action());
        }
        step
    }

    /// Applies a step that uses the agent; afterwards the agent is known to answer.
    pub fn apply_agent(&self, step: Step) -> GuestResult<Applied> {
        let r = self.job.apply(self.with_agent(step))?;
        if r == Applied::Changed {
            self.agent_ready.set(true);
        }
        Ok(r)
    }

    /// Makes sure the agent answers now (before a read through it); `Planned` in a dry run.
    pub fn wait_agent(&self) -> GuestResult<Applied> {
        if self.agent_ready.get() {
            return Ok(Applied::Unchanged);
        }
        self.apply_agent(Step::new("guest agent").with(self.wait_action()))
    }

    /// Records `key` as done with `fp` (and `feature` as installed).
    pub fn mark(&self, step: &str, key: &str, fp: &str, feature: Option<&str>) -> GuestResult<()> {
        let mut r = self.record.borrow_mut();
        r.mark(key, fp, feature).map_err(|e| {
            self.job
                .err(step, format!("cannot write {}: {e}", r.path.display()))
        })
    }

    /// Whether `key` is recorded with `fp` and not forced.
    pub fn recorded(&self, key: &str, fp: &str) -> bool {
        !self.force && self.record.borrow().record.done(key, fp)
    }
}

/// Waiting for the VM's guest agent, as long and as often as its config says.
pub fn wait_agent(vm: &Vm) -> GuestOp {
    GuestOp::WaitAgent {
        timeout: Duration::from_secs(vm.guest_agent_timeout_secs),
        poll: Duration::from_secs(vm.guest_agent_poll_secs),
    }
}
