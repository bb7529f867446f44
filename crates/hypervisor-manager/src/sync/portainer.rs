//! `portainer` and `stacks`: the administrator, the agent environments, the stacks
//! ([`phoenix_sync`] plans them by reading Portainer and applies only the differences).

use phoenix_report::{Event, EventKind, GuestTag, Kind};
use phoenix_sync::Step;
use portainer::{Client, Options, Secret};

use super::layer::Layer;
use super::{Stop, Sync};

/// Portainer's default endpoint group (`Unassigned`).
const GROUP_ID: u64 = 1;

fn vm(id: u32) -> Option<GuestTag> {
    Some(GuestTag {
        id: u64::from(id),
        kind: Kind::Vm,
    })
}

impl Sync<'_> {
    /// The client, TLS verified against the internal CA's exported root.
    fn client(&self) -> Result<Client, Stop> {
        let (url, addr) = Layer::portainer_endpoint(&self.ctx.config).map_err(Stop)?;
        let root = self
            .layer
            .root_file()
            .ok_or("Portainer's certificate is checked against the internal CA: a container with feature step_ca and a mount point at /etc/step-ca/ssl is needed")?;
        let root = self.ctx.env.host_path(&root);
        if !root.exists() {
            return Err(Stop(format!(
                "the internal CA's root certificate {} does not exist yet (the CA container exports it)",
                root.display()
            )));
        }
        let mut o = Options::new(url, root);
        o.connect_to = Some(addr);
        o.sim_root = self.ctx.env.sim.clone();
        if let Some(ms) = std::env::var("PHOENIX_PORTAINER_RETRY_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            o.retry_delay = std::time::Duration::from_millis(ms);
        }
        Client::new(o).map_err(Stop::from)
    }

    /// `portainer` (`with_stacks` false) or `stacks`.
    pub(super) fn portainer(&mut self, with_stacks: bool) -> Result<(), Stop> {
        // Portainer itself first: its API answers only once the server runs.
        let started = self.deploy_portainer()?;
        if self.layer.agents.is_empty() {
            self.r.emit(
                Event::new(EventKind::Skipped, None)
                    .step("portainer")
                    .message("no VM has portainer_role agent"),
            );
            return Ok(());
        }
        let api = self
            .ctx
            .config
            .hypervisor
            .portainer_api
            .clone()
            .ok_or("portainer_api is not set")?;
        let user = api
            .admin_user
            .clone()
            .ok_or("portainer_api.admin_user is not set")?;
        let password = Secret::new(
            api.admin_password
                .clone()
                .ok_or("portainer_api.admin_password is not set")?,
        );
        let mut c = self.client()?;
        let only = self
            .ctx
            .inv
            .only_stack
            .as_ref()
            .map(|(s, v)| (s.as_str(), *v));
        let desired = phoenix_sync::desired(
            &self.layer.agents,
            self.layer.agent_port,
            &self.layer.stacks.stacks,
            only,
        )
        .map_err(Stop)?;
        let desired = if with_stacks {
            desired
        } else {
            phoenix_sync::Desired {
                endpoints: desired.endpoints,
                stacks: vec![],
            }
        };
        if self.dry() {
            return self.portainer_plan_only(&mut c, &user, &password, &desired);
        }
        let admin = match c.ensure_admin(&user, &password) {
            // Not started by this run and not answering: Portainer's security time-out (no
            // administrator within 5 minutes of its start) is the likely cause; a restart
            // gives it 5 more minutes, and the administrator is made right away.
            Err(portainer::Error::Transport { why, .. }) if !started => {
                self.restart_portainer(&why)?;
                c.ensure_admin(&user, &password)?
            }
            other => other?,
        };
        match admin {
            portainer::AdminInit::Created => {
                self.changed += 1;
                self.r.emit(
                    Event::new(EventKind::Changed, None)
                        .step("portainer admin")
                        .action(format!("initialise administrator '{user}'")),
                );
            }
            portainer::AdminInit::AlreadyInitialized => self
                .r
                .emit(Event::new(EventKind::Unchanged, None).step("portainer admin")),
        }
        c.authenticate(&user, &password)?;
        let steps = phoenix_sync::plan(&mut c, &desired)?;
        // Applied one at a time so each object is reported as it is done.
        for s in &steps {
            if let Step::Unchanged(what) = s {
                self.r
                    .emit(Event::new(EventKind::Unchanged, self.tag(s)).step(what.clone()));
                continue;
            }
            phoenix_sync::apply(&mut c, std::slice::from_ref(s), GROUP_ID)
                .map_err(|e| Stop(e.to_string()))?;
            self.changed += 1;
            self.r.emit(
                Event::new(EventKind::Changed, self.tag(s))
                    .step(step_name(s))
                    .action(s.to_string()),
            );
        }
        Ok(())
    }

    fn tag(&self, s: &Step) -> Option<GuestTag> {
        match s {
            Step::RegisterEndpoint(e) => vm(e.vmid),
            Step::CreateStack(d) | Step::UpdateStack { stack: d, .. } => vm(d.vmid),
            Step::Unchanged(_) => None,
        }
    }

    /// `--dry-run`: read what can be read; an administrator not initialised yet means
    /// everything is to be created.
    fn portainer_plan_only(
        &mut self,
        c: &mut Client,
        user: &str,
        password: &Secret,
        desired: &phoenix_sync::Desired,
    ) -> Result<(), Stop> {
        let steps = match c.authenticate(user, password) {
            Ok(()) => phoenix_sync::plan(c, desired)?,
            Err(portainer::Error::BadCredentials { .. }) => {
                self.changed += 1;
                self.r.emit(
                    Event::new(EventKind::Planned, None)
                        .step("portainer admin")
                        .action(format!(
                            "initialise administrator '{user}' (if not done yet)"
                        )),
                );
                desired
                    .endpoints
                    .iter()
                    .cloned()
                    .map(Step::RegisterEndpoint)
                    .chain(desired.stacks.iter().cloned().map(Step::CreateStack))
                    .collect()
            }
            Err(e) => return Err(e.into()),
        };
        for s in &steps {
            let kind = if s.changes() {
                self.changed += 1;
                EventKind::Planned
            } else {
                EventKind::Unchanged
            };
            self.r.emit(
                Event::new(kind, self.tag(s))
                    .step(step_name(s))
                    .action(s.to_string()),
            );
        }
        Ok(())
    }
}

fn step_name(s: &Step) -> String {
    match s {
        Step::RegisterEndpoint(e) => format!("portainer environment {}", e.name),
        Step::CreateStack(d) | Step::UpdateStack { stack: d, .. } => {
            format!("stack {}", d.name)
        }
        Step::Unchanged(w) => w.clone(),
    }
}
