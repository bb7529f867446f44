//! `phoenix sync`: make Portainer hold what the deployment declares.
//!
//! The declared side ([`Desired`]) is built from the VMs (`portainer_role: agent` environments,
//! `docker_stacks`) and the stacks ([`phoenix_stacks::Stack`]): for every agent VM one agent
//! environment (`tcp://<portainer_agent_hostname or address>:<agent port>`), for every stack
//! assigned to it one standalone Compose stack named `<stack>-<environment>` (the old
//! orchestrator's naming, so stacks it created are found and updated, not duplicated), whose
//! text is the Compose file with the environment's Traefik labels and whose `Env` are the
//! environment's variables.
//!
//! [`plan`] compares that with Portainer (environments by name, stacks by name on their
//! environment, the stack file Portainer holds and its `Env`) and returns one [`Step`] per
//! object with the reason; [`apply`] carries the plan out. A second sync on a converged
//! Portainer plans nothing but [`Step::Unchanged`]; a changed Compose file or variable updates
//! exactly that stack. Key design decision: planning only reads (GET), so `--dry-run` is the
//! plan itself.

use std::collections::BTreeMap;

use phoenix_stacks::{Stack, DEFAULT_ENVIRONMENT};
use portainer::{Client, EnvVar, Error};

/// An agent environment to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredEndpoint {
    pub vmid: u32,
    /// `portainer_environment_name` (else the VM's name).
    pub name: String,
    /// `tcp://host:port`.
    pub url: String,
}

/// A stack to deploy on an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredStack {
    pub vmid: u32,
    /// The stack's name in the configuration.
    pub stack: String,
    /// The environment (Portainer endpoint) name it goes to.
    pub endpoint: String,
    /// The Portainer stack name.
    pub name: String,
    pub compose: String,
    pub env: Vec<EnvVar>,
}

/// What the deployment declares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    pub endpoints: Vec<DesiredEndpoint>,
    pub stacks: Vec<DesiredStack>,
}

/// An agent VM as the sync needs it.
#[derive(Debug, Clone)]
pub struct AgentVm {
    pub vmid: u32,
    pub environment_name: String,
    /// `portainer_agent_hostname`, else the VM's address.
    pub agent_host: String,
    pub docker_stacks: Vec<String>,
}

/// The Portainer stack name of `stack` in environment `env`: lower case, as Portainer requires
/// (`^[a-z0-9][a-z0-9_-]*$`).
pub fn stack_name(stack: &str, env: &str) -> String {
    format!("{stack}-{env}").to_ascii_lowercase()
}

/// What the deployment declares, from its agent VMs and stacks; `only` limits it to one stack
/// on one VM (`sync stack <name> to <vmid>`).
pub fn desired(
    agents: &[AgentVm],
    agent_port: u16,
    stacks: &BTreeMap<String, Stack>,
    only: Option<(&str, u32)>,
) -> Result<Desired, String> {
    let mut d = Desired::default();
    for vm in agents {
        d.endpoints.push(DesiredEndpoint {
            vmid: vm.vmid,
            name: vm.environment_name.clone(),
            url: format!("tcp://{}:{agent_port}", vm.agent_host),
        });
        for name in &vm.docker_stacks {
            if only.is_some_and(|(s, v)| s != name || v != vm.vmid) {
                continue;
            }
            let stack = stacks
                .get(name)
                .ok_or_else(|| format!("VM {}: unknown stack '{name}'", vm.vmid))?;
            let env = stack.environment(DEFAULT_ENVIRONMENT).ok_or_else(|| {
                format!("stack '{name}' has no '{DEFAULT_ENVIRONMENT}' environment")
            })?;
            d.stacks.push(DesiredStack {
                vmid: vm.vmid,
                stack: name.clone(),
                endpoint: vm.environment_name.clone(),
                name: stack_name(name, DEFAULT_ENVIRONMENT),
                compose: stack.deployed_compose(DEFAULT_ENVIRONMENT),
                env: env
                    .variables
                    .iter()
                    .map(|v| EnvVar {
                        name: v.name.clone(),
                        value: v.value.clone(),
                    })
                    .collect(),
            });
        }
    }
    if let Some((s, v)) = only {
        if d.stacks.is_empty() {
            return Err(format!(
                "stack '{s}' is not assigned to VM {v} (docker_stacks of an agent VM)"
            ));
        }
    }
    Ok(d)
}

/// One planned change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    RegisterEndpoint(DesiredEndpoint),
    CreateStack(DesiredStack),
    UpdateStack {
        id: u64,
        stack: DesiredStack,
        /// What differs: `compose: +N -M lines`, `env: API_PORT`.
        changes: Vec<String>,
    },
    Unchanged(String),
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::RegisterEndpoint(e) => {
                write!(
                    f,
                    "register environment '{}' ({}) for VM {}",
                    e.name, e.url, e.vmid
                )
            }
            Step::CreateStack(s) => write!(
                f,
                "create stack '{}' on '{}' (VM {}): not in Portainer",
                s.name, s.endpoint, s.vmid
            ),
            Step::UpdateStack { stack, changes, .. } => write!(
                f,
                "update stack '{}' on '{}' (VM {}): {}",
                stack.name,
                stack.endpoint,
                stack.vmid,
                changes.join("; ")
            ),
            Step::Unchanged(what) => write!(f, "{what}: unchanged"),
        }
    }
}

impl Step {
    pub fn changes(&self) -> bool {
        !matches!(self, Step::Unchanged(_))
    }
}

/// Compares `desired` with Portainer (reads only).
pub fn plan(client: &mut Client, desired: &Desired) -> Result<Vec<Step>, Error> {
    let endpoints = client.endpoints()?;
    let stacks = client.stacks()?;
    let mut steps = Vec::new();
    let mut ids: BTreeMap<&str, u64> = BTreeMap::new();
    for e in &desired.endpoints {
        match endpoints.iter().find(|x| x.name == e.name) {
            Some(x) => {
                ids.insert(&e.name, x.id);
                steps.push(Step::Unchanged(format!("environment '{}'", e.name)));
            }
            None => steps.push(Step::RegisterEndpoint(e.clone())),
        }
    }
    for s in &desired.stacks {
        let existing = ids.get(s.endpoint.as_str()).and_then(|id| {
            stacks
                .iter()
                .find(|x| x.endpoint_id == *id && x.name.eq_ignore_ascii_case(&s.name))
        });
        let Some(existing) = existing else {
            steps.push(Step::CreateStack(s.clone()));
            continue;
        };
        let file = client.stack_file(existing.id)?;
        let mut changes = Vec::new();
        if file != s.compose {
            let old: Vec<&str> = file.lines().collect();
            let new: Vec<&str> = s.compose.lines().collect();
            let added = new.iter().filter(|l| !old.contains(l)).count();
            let removed = old.iter().filter(|l| !new.contains(l)).count();
            changes.push(format!("compose file +{added} -{removed} lines"));
        }
        let mut have = existing.env.clone();
        let mut want = s.env.clone();
        have.sort();
        want.sort();
        if have != want {
            let mut names: Vec<&str> = want
                .iter()
                .filter(|v| !have.contains(v))
                .chain(have.iter().filter(|v| !want.contains(v)))
                .map(|v| v.name.as_str())
                .collect();
            names.sort();
            names.dedup();
            changes.push(format!("variables {}", names.join(", ")));
        }
        if changes.is_empty() {
            steps.push(Step::Unchanged(format!(
                "stack '{}' on '{}'",
                s.name, s.endpoint
            )));
        } else {
            steps.push(Step::UpdateStack {
                id: existing.id,
                stack: s.clone(),
                changes,
            });
        }
    }
    Ok(steps)
}

/// A step that failed, with the object it concerned.
#[derive(Debug)]
pub struct Failed {
    pub step: String,
    pub error: Error,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.step, self.error)
    }
}

/// Carries out `steps` in order; stops at the first failure (later stacks are not touched).
pub fn apply(client: &mut Client, steps: &[Step], group_id: u64) -> Result<usize, Failed> {
    let mut done = 0;
    let mut ids: BTreeMap<String, u64> = BTreeMap::new();
    let fail = |s: &Step, error: Error| Failed {
        step: s.to_string(),
        error,
    };
    for step in steps {
        match step {
            Step::Unchanged(_) => continue,
            Step::RegisterEndpoint(e) => {
                let ep = client
                    .create_agent_endpoint(&e.name, &e.url, group_id)
                    .map_err(|err| fail(step, err))?;
                ids.insert(e.name.clone(), ep.id);
            }
            Step::CreateStack(s) => {
                let id = match ids.get(&s.endpoint) {
                    Some(id) => *id,
                    None => endpoint_id(client, &s.endpoint).map_err(|err| fail(step, err))?,
                };
                client
                    .create_stack(id, &s.name, &s.compose, &s.env)
                    .map_err(|err| fail(step, err))?;
            }
            Step::UpdateStack { id, stack, .. } => {
                let ep = endpoint_id(client, &stack.endpoint).map_err(|err| fail(step, err))?;
                client
                    .update_stack(*id, ep, &stack.compose, &stack.env)
                    .map_err(|err| fail(step, err))?;
            }
        }
        log::info!("{step}");
        done += 1;
    }
    Ok(done)
}

fn endpoint_id(client: &mut Client, name: &str) -> Result<u64, Error> {
    client
        .endpoints()?
        .into_iter()
        .find(|e| e.name == name)
        .map(|e| e.id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "environment '{name}' is not registered in Portainer"
            ))
        })
}
