//! One VM being worked on: the guest core's [`Job`] plus what the VM's steps share (its
//! desired state, host paths, its record, whether the guest agent answered yet).

use std::cell::{Cell, RefCell};
use std::time::Duration;

use phoenix_guest::record::RecordFile;
use phoenix_guest::{Action, Applied, GuestOp, GuestResult, Job, Step};

use crate::desired::{Desired, Paths};

pub struct VmJob<'j, 'a> {
    pub job: &'j Job<'a>,
    pub d: Desired,
    pub paths: Paths,
    pub record: RefCell<RecordFile>,
    /// Re-apply recorded agent steps (`PHOENIX_CONVERGE=1`, `reconfigure`).
    pub force: bool,
    agent_ready: Cell<bool>,
}

impl<'j, 'a> VmJob<'j, 'a> {
    pub fn new(job: &'j Job<'a>, force: bool) -> GuestResult<VmJob<'j, 'a>> {
        let d = Desired::load(job.config(), job.id()).map_err(|e| job.err("config", e))?;
        let paths = Paths::new(&job.ctx.env, job.config());
        let record = RefCell::new(RecordFile::load(&paths.records, d.id.0));
        Ok(VmJob {
            job,
            d,
            paths,
            record,
            force,
            agent_ready: Cell::new(false),
        })
    }

    fn wait_action(&self) -> Action {
        Action::guest(
            "guest agent",
            "the guest agent must answer first",
            GuestOp::WaitAgent {
                timeout: Duration::from_secs(self.d.agent_timeout_secs),
                poll: Duration::from_secs(self.d.agent_poll_secs),
            },
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
