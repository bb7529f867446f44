//! Portainer itself on the VMs, before its API is used (the first step of `sync portainer` and
//! `sync stacks`): the server on the `portainer_role: primary` VM, the agent on each `agent`
//! VM, through each VM's guest agent (`qm guest exec`, as vm-manager's features).
//!
//! - **Server.** Portainer cannot deploy itself, so the primary VM's stack whose Compose file
//!   runs Portainer's image (`portainer/portainer-ce` or `-ee`) is brought up directly with
//!   `docker compose` in the VM, from `/var/lib/phoenix/stacks/<stack>/`: the Compose file as
//!   deployed (the environment's Traefik labels) with Portainer's HTTPS certificate added
//!   (`--sslcert`/`--sslkey`, the folder `certs/` mounted at `/certs`), the environment's
//!   variables as `.env`. The certificate is the manifest's entry for
//!   `portainer_api.portainer_hostname` (issued by `sync certs`), copied into the VM: the name
//!   Phoenix's client checks, signed by the internal CA it trusts. The Compose file's external
//!   volumes are created when missing. This stack is not also created through Portainer's
//!   API (the Bash orchestrator did not either: it registered no environment for the primary
//!   VM).
//! - **Agent.** The container `portainer_agent` (`docker.portainer_agent_image`, published on
//!   `network.portainer_agent_port`, the Docker socket and volumes folder mounted, restart
//!   `always`), as the Bash orchestrator ran it.
//!
//! Check before act: each VM is read first (files by SHA-256, volumes, containers, the agent's
//! image and port) and only what differs is done; a converged VM gets reads only.

use phoenix_guest::{Payload, Transport};
use phoenix_report::{Event, EventKind, GuestTag, Kind};
use phoenix_stacks::{Compose, Stack, DEFAULT_ENVIRONMENT};
use sha2::{Digest, Sha256};

use super::{Stop, Sync};

/// Where a VM's directly deployed stacks live (one folder per stack: the Compose project).
pub const STACKS_DIR: &str = "/var/lib/phoenix/stacks";
/// The agent's container name (the Bash orchestrator's).
pub const AGENT_CONTAINER: &str = "portainer_agent";
/// The port the agent listens on inside its container.
pub const AGENT_INNER_PORT: u16 = 9001;
/// Where the certificate folder is mounted in Portainer's container.
const CERTS_IN_CONTAINER: &str = "/certs";

/// Portainer's server images (`image:tag` or without tag).
pub fn is_server_image(image: &str) -> bool {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .map_or(repo, |(r, t)| if t.contains('/') { repo } else { r });
    let repo = repo.strip_prefix("docker.io/").unwrap_or(repo);
    matches!(repo, "portainer/portainer-ce" | "portainer/portainer-ee")
}

/// `qdrant/qdrant` → `qdrant/qdrant:latest`, as Docker names an image without tag.
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || image.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// A file Phoenix puts into the VM.
#[derive(Debug, Clone)]
pub struct GuestFile {
    pub path: String,
    pub data: Vec<u8>,
    /// Mode 0600 (a key).
    pub private: bool,
}

/// One thing to do inside a VM.
#[derive(Debug, Clone)]
pub enum Act {
    Push(GuestFile),
    Exec(Vec<String>),
}

impl std::fmt::Display for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Act::Push(g) => write!(f, "write {}", g.path),
            Act::Exec(a) => f.write_str(&a.join(" ")),
        }
    }
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// The primary VM's server deployment, as planned from the config.
#[derive(Debug, Clone)]
pub struct Server {
    pub vmid: u32,
    pub stack: String,
    pub project: String,
    pub compose_file: String,
    pub files: Vec<GuestFile>,
    pub volumes: Vec<String>,
    pub services: Vec<String>,
}

impl Server {
    /// The deployment of `stack` (its service `service` runs Portainer) with the certificate
    /// `crt`/`key` (PEM).
    pub fn new(
        vmid: u32,
        stack: &Stack,
        service: &str,
        crt: Vec<u8>,
        key: Vec<u8>,
    ) -> Result<Server, String> {
        let dir = format!("{STACKS_DIR}/{}", stack.name);
        let deployed = Compose::parse(&stack.deployed_compose(DEFAULT_ENVIRONMENT))
            .map_err(|e| format!("stack '{}': {e}", stack.name))?;
        let args = words(&[
            "--sslcert",
            &format!("{CERTS_IN_CONTAINER}/portainer.crt"),
            "--sslkey",
            &format!("{CERTS_IN_CONTAINER}/portainer.key"),
        ]);
        let text = deployed.with_args_and_volume(
            service,
            &args,
            &format!("{dir}/certs:{CERTS_IN_CONTAINER}:ro"),
        );
        let compose_file = format!("{dir}/docker-compose.yml");
        let mut files = vec![GuestFile {
            path: compose_file.clone(),
            data: text.into_bytes(),
            private: false,
        }];
        let vars = stack
            .environment(DEFAULT_ENVIRONMENT)
            .map(|e| e.variables.clone())
            .unwrap_or_default();
        if !vars.is_empty() {
            let env: String = vars
                .iter()
                .map(|v| format!("{}={}\n", v.name, v.value))
                .collect();
            files.push(GuestFile {
                path: format!("{dir}/.env"),
                data: env.into_bytes(),
                private: true,
            });
        }
        files.push(GuestFile {
            path: format!("{dir}/certs/portainer.crt"),
            data: crt,
            private: false,
        });
        files.push(GuestFile {
            path: format!("{dir}/certs/portainer.key"),
            data: key,
            private: true,
        });
        Ok(Server {
            vmid,
            stack: stack.name.clone(),
            project: stack.name.to_ascii_lowercase(),
            compose_file,
            files,
            volumes: deployed.external_volumes(),
            services: deployed.services(),
        })
    }

    fn compose(&self, rest: &[&str]) -> Vec<String> {
        let mut a = words(&[
            "docker",
            "compose",
            "-p",
            &self.project,
            "-f",
            &self.compose_file,
        ]);
        a.extend(words(rest));
        a
    }

    /// What to do, given the VM's state: the SHA-256 of each file it has (`None`: missing),
    /// the external volumes it has, the services running.
    pub fn plan(
        &self,
        hashes: &[Option<String>],
        volumes: &[bool],
        running: &[String],
    ) -> Vec<Act> {
        let mut acts = Vec::new();
        let mut changed = false;
        for (f, have) in self.files.iter().zip(hashes) {
            if have.as_deref() != Some(sha256(&f.data).as_str()) {
                acts.push(Act::Push(f.clone()));
                changed = true;
            }
        }
        for (v, have) in self.volumes.iter().zip(volumes) {
            if !have {
                acts.push(Act::Exec(words(&["docker", "volume", "create", v])));
            }
        }
        let all_up = self.services.iter().all(|s| running.contains(s));
        if changed {
            // A new certificate alone does not change the Compose file: recreate to load it.
            acts.push(Act::Exec(self.compose(&["up", "-d", "--force-recreate"])));
        } else if !all_up {
            acts.push(Act::Exec(self.compose(&["up", "-d"])));
        }
        acts
    }
}

/// An agent VM's agent container.
#[derive(Debug, Clone)]
pub struct Agent {
    pub vmid: u32,
    pub image: String,
    pub port: u16,
}

/// The agent container as the VM has it.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSeen {
    pub running: bool,
    pub image: String,
    pub port: Option<u16>,
}

impl Agent {
    pub fn run_argv(&self) -> Vec<String> {
        words(&[
            "docker",
            "run",
            "-d",
            "--name",
            AGENT_CONTAINER,
            "--restart=always",
            "-p",
            &format!("{}:{AGENT_INNER_PORT}", self.port),
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            "/var/lib/docker/volumes:/var/lib/docker/volumes",
            &self.image,
        ])
    }

    pub fn plan(&self, seen: Option<&AgentSeen>) -> Vec<Act> {
        match seen {
            None => vec![Act::Exec(self.run_argv())],
            Some(s) if with_tag(&s.image) != with_tag(&self.image) || s.port != Some(self.port) => {
                vec![
                    Act::Exec(words(&["docker", "rm", "-f", AGENT_CONTAINER])),
                    Act::Exec(self.run_argv()),
                ]
            }
            Some(s) if !s.running => vec![Act::Exec(words(&["docker", "start", AGENT_CONTAINER]))],
            Some(_) => vec![],
        }
    }
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn vm(id: u32) -> GuestTag {
    GuestTag {
        id: u64::from(id),
        kind: Kind::Vm,
    }
}

/// A VM reached through its guest agent.
struct Guest<'t> {
    t: &'t dyn Transport,
    id: u32,
}

impl Guest<'_> {
    fn exec(&self, argv: &[String]) -> Result<phoenix_guest::ExecOutput, Stop> {
        self.t
            .guest_exec(vm(self.id), argv, None)
            .map_err(|e| Stop(format!("VM {}: {}: {}", self.id, argv.join(" "), e.0)))
    }

    fn must(&self, argv: &[String]) -> Result<(), Stop> {
        let o = self.exec(argv)?;
        if o.success() {
            return Ok(());
        }
        let why = if o.stderr.trim().is_empty() {
            o.stdout.trim()
        } else {
            o.stderr.trim()
        };
        Err(Stop(format!(
            "VM {}: '{}' failed (exit {}): {why}",
            self.id,
            argv.join(" "),
            o.code
        )))
    }

    fn apply(&self, acts: &[Act]) -> Result<(), Stop> {
        for a in acts {
            match a {
                Act::Push(f) => {
                    if f.private {
                        // Mode 0600 before the content arrives (writing keeps the mode).
                        self.must(&words(&[
                            "install",
                            "-D",
                            "-m",
                            "600",
                            "/dev/null",
                            &f.path,
                        ]))?;
                    }
                    self.t
                        .guest_push(vm(self.id), &Payload::Bytes(f.data.clone()), &f.path, None)
                        .map_err(|e| Stop(format!("VM {}: write {}: {}", self.id, f.path, e.0)))?;
                }

                Act::Exec(argv) => self.must(argv)?,
            }
        }
        Ok(())
    }

    /// SHA-256 of each file (`None` when missing).
    fn hashes(&self, paths: &[&str]) -> Result<Vec<Option<String>>, Stop> {
        let mut argv = words(&["sha256sum", "--"]);
        argv.extend(paths.iter().map(|p| p.to_string()));
        let o = self.exec(&argv)?;
        Ok(paths
            .iter()
            .map(|p| {
                o.stdout.lines().find_map(|l| {
                    let (h, f) = l.split_once("  ")?;
                    (f == *p).then(|| h.to_string())
                })
            })
            .collect())
    }
}

impl Server {
    /// What to do on the VM, read through its agent: the files' SHA-256, the external
    /// volumes, the services running.
    fn plan_for(&self, g: &Guest) -> Result<Vec<Act>, Stop> {
        let paths: Vec<&str> = self.files.iter().map(|f| f.path.as_str()).collect();
        let hashes = g.hashes(&paths)?;
        let mut volumes = Vec::new();
        for v in &self.volumes {
            volumes.push(
                g.exec(&words(&["docker", "volume", "inspect", v]))?
                    .success(),
            );
        }
        // The Compose file is the first file: without it there is no project to ask about.
        let running = if hashes[0].is_some() {
            let o = g.exec(&self.compose(&["ps", "--services", "--filter", "status=running"]))?;
            o.stdout.lines().map(|l| l.trim().to_string()).collect()
        } else {
            vec![]
        };
        Ok(self.plan(&hashes, &volumes, &running))
    }
}

impl Agent {
    /// The agent container as the VM has it (`None`: there is none).
    fn seen(&self, g: &Guest) -> Result<Option<AgentSeen>, Stop> {
        let o = g.exec(&words(&[
            "docker",
            "inspect",
            "-f",
            "{{.State.Running}} {{.Config.Image}}",
            AGENT_CONTAINER,
        ]))?;
        if !o.success() {
            return Ok(None);
        }
        let mut w = o.stdout.split_whitespace();
        let running = w.next() == Some("true");
        let image = w.next().unwrap_or("").to_string();
        let p = g.exec(&words(&[
            "docker",
            "port",
            AGENT_CONTAINER,
            &AGENT_INNER_PORT.to_string(),
        ]))?;
        let port = p
            .stdout
            .lines()
            .next()
            .and_then(|l| l.rsplit(':').next()?.trim().parse().ok());
        Ok(Some(AgentSeen {
            running,
            image,
            port,
        }))
    }
}

impl Sync<'_> {
    /// Deploys Portainer's server and agents on their VMs (reads only when they run as
    /// declared; planned only under `--dry-run`); `true` when the server was (re)started now.
    pub(super) fn deploy_portainer(&mut self) -> Result<bool, Stop> {
        let server = self.server_plan()?;
        let agents = self.agent_plans()?;
        let mut started = false;
        if server.is_none() && agents.is_empty() {
            return Ok(started);
        }
        let t =
            phoenix_guest::connect::transport(&self.ctx.runner, &self.ctx.env, &self.ctx.config)
                .map_err(Stop)?;
        let t = t.as_ref();
        if let Some(s) = &server {
            let g = self.guest(t, s.vmid)?;
            let acts = s.plan_for(&g)?;
            started = acts
                .iter()
                .any(|a| matches!(a, Act::Exec(v) if v.iter().any(|w| w == "up")));
            self.deployed(&g, &format!("portainer server (stack {})", s.stack), &acts)?;
        }
        for a in &agents {
            let g = self.guest(t, a.vmid)?;
            let acts = a.plan(a.seen(&g)?.as_ref());
            self.deployed(&g, "portainer agent", &acts)?;
        }
        Ok(started)
    }

    /// Restarts the server's containers (`docker compose restart`): Portainer stops serving
    /// when no administrator was made within 5 minutes of its start, until it is restarted.
    pub(super) fn restart_portainer(&mut self, why: &str) -> Result<(), Stop> {
        let Some(s) = self.server_plan()? else {
            return Err(Stop(why.to_string()));
        };
        let t =
            phoenix_guest::connect::transport(&self.ctx.runner, &self.ctx.env, &self.ctx.config)
                .map_err(Stop)?;
        let g = self.guest(t.as_ref(), s.vmid)?;
        let argv = s.compose(&["restart"]);
        g.must(&argv)?;
        self.changed += 1;
        self.r.emit(
            Event::new(EventKind::Changed, Some(vm(s.vmid)))
                .step(format!("portainer server (stack {})", s.stack))
                .action(argv.join(" "))
                .message(format!("Portainer did not answer ({why}); after 5 minutes without an administrator it stops serving until restarted")),
        );
        Ok(())
    }

    fn guest<'t>(&self, t: &'t dyn Transport, id: u32) -> Result<Guest<'t>, Stop> {
        t.agent_ping(vm(id)).map_err(|e| {
            Stop(format!(
                "VM {id} does not answer through its guest agent (is it created and running?): {}",
                e.0.trim()
            ))
        })?;
        Ok(Guest { t, id })
    }

    /// Reports (and under `--dry-run` only plans) one VM's actions.
    fn deployed(&mut self, g: &Guest, step: &str, acts: &[Act]) -> Result<(), Stop> {
        let tag = Some(vm(g.id));
        if acts.is_empty() {
            self.r
                .emit(Event::new(EventKind::Unchanged, tag).step(step));
            return Ok(());
        }
        let list = acts
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join("; ");
        self.changed += 1;
        if self.dry() {
            self.r
                .emit(Event::new(EventKind::Planned, tag).step(step).action(list));
            return Ok(());
        }
        g.apply(acts)?;
        self.r
            .emit(Event::new(EventKind::Changed, tag).step(step).action(list));
        Ok(())
    }

    /// The server deployment, when a VM has `portainer_role: primary`.
    fn server_plan(&self) -> Result<Option<Server>, Stop> {
        use phoenix_config::model::vm::VmPortainerRole;
        let cfg = &self.ctx.config;
        let primaries: Vec<_> = cfg
            .vms()
            .iter()
            .filter(|v| {
                v.portainer
                    .as_ref()
                    .is_some_and(|p| p.role == VmPortainerRole::Primary)
            })
            .collect();
        let vm = match primaries.as_slice() {
            [] => return Ok(None),
            [one] => *one,
            more => {
                let ids: Vec<String> = more.iter().map(|v| v.id.to_string()).collect();
                return Err(Stop(format!(
                    "VMs {} all have portainer_role primary; one Portainer server is deployed",
                    ids.join(", ")
                )));
            }
        };
        let found = vm.docker_stacks.iter().find_map(|name| {
            let stack = self.layer.stacks.get(name)?;
            let svc = stack
                .compose
                .services()
                .into_iter()
                .find(|s| stack.compose.image(s).is_some_and(|i| is_server_image(&i)))?;
            Some((stack, svc))
        });
        let (stack, service) = found.ok_or_else(|| {
            Stop(format!(
                "VM {} has portainer_role primary, but none of its docker_stacks runs Portainer's server (an image portainer/portainer-ce or portainer/portainer-ee)",
                vm.id
            ))
        })?;
        let (crt, key) = self.portainer_certificate()?;
        Server::new(vm.id.0 as u32, stack, &service, crt, key)
            .map(Some)
            .map_err(Stop)
    }

    /// The certificate and key of the manifest's entry for `portainer_api.portainer_hostname`.
    fn portainer_certificate(&self) -> Result<(Vec<u8>, Vec<u8>), Stop> {
        let name = self
            .ctx
            .config
            .hypervisor
            .portainer_api
            .as_ref()
            .and_then(|p| p.portainer_hostname.clone())
            .ok_or("portainer_api.portainer_hostname is not set (the name Portainer's certificate carries)")?;
        let manifest = self.manifest()?.ok_or_else(|| {
            Stop(format!(
                "no certificate manifest: Portainer's certificate for {name} comes from its entry"
            ))
        })?;
        let e = manifest
            .entries
            .iter()
            .find(|e| e.common_name == name)
            .ok_or_else(|| {
                Stop(format!(
                    "{}: no entry with common_name {name}: without it Portainer serves a self-signed certificate, which Phoenix does not trust",
                    manifest.file.display()
                ))
            })?;
        let read = |p: &str| -> Result<Vec<u8>, Stop> {
            self.node
                .read(&self.on_host(std::path::Path::new(p)))
                .map_err(|e| Stop(format!("{p}: {}", e.0)))?
                .ok_or_else(|| {
                    Stop(format!(
                        "Portainer's certificate {p} does not exist yet (phoenix sync certs issues it)"
                    ))
                })
        };
        Ok((read(&e.cert_path)?, read(&e.key_path)?))
    }

    fn agent_plans(&self) -> Result<Vec<Agent>, Stop> {
        if self.layer.agents.is_empty() {
            return Ok(vec![]);
        }
        let image = self
            .ctx
            .config
            .hypervisor
            .docker
            .as_ref()
            .and_then(|d| d.portainer_agent_image.clone())
            .ok_or("docker.portainer_agent_image is not set (the image of the Portainer agents)")?;
        Ok(self
            .layer
            .agents
            .iter()
            .map(|a| Agent {
                vmid: a.vmid,
                image: image.clone(),
                port: self.layer.agent_port,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_images() {
        assert!(is_server_image("portainer/portainer-ce:latest"));
        assert!(is_server_image("portainer/portainer-ee:2.21.0"));
        assert!(is_server_image("docker.io/portainer/portainer-ce"));
        assert!(!is_server_image("portainer/agent:latest"));
        assert!(!is_server_image("portainer/portainer-ce-fork:1"));
    }

    fn server() -> Server {
        let file = |p: &str, d: &str| GuestFile {
            path: p.into(),
            data: d.as_bytes().to_vec(),
            private: false,
        };
        Server {
            vmid: 1001,
            stack: "portainer_service".into(),
            project: "portainer_service".into(),
            compose_file: "/s/docker-compose.yml".into(),
            files: vec![
                file("/s/docker-compose.yml", "services: {}"),
                file("/s/certs/portainer.crt", "c"),
            ],
            volumes: vec!["portainer_data_nfs".into()],
            services: vec!["portainer".into()],
        }
    }

    #[test]
    fn the_server_is_brought_up_once_and_again_only_where_it_differs() {
        let s = server();
        let same: Vec<Option<String>> = s.files.iter().map(|f| Some(sha256(&f.data))).collect();
        let up = vec!["portainer".to_string()];
        assert!(s.plan(&same, &[true], &up).is_empty(), "converged: nothing");
        let fresh: Vec<String> = s
            .plan(&[None, None], &[false], &[])
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(
            fresh,
            [
                "write /s/docker-compose.yml",
                "write /s/certs/portainer.crt",
                "docker volume create portainer_data_nfs",
                "docker compose -p portainer_service -f /s/docker-compose.yml up -d --force-recreate",
            ]
        );
        // A renewed certificate: written, and the project recreated to load it.
        let renewed = s.plan(&[same[0].clone(), Some("old".into())], &[true], &up);
        assert_eq!(renewed.len(), 2);
        assert!(renewed[1].to_string().ends_with("up -d --force-recreate"));
        // Stopped: started.
        let stopped = s.plan(&same, &[true], &[]);
        assert_eq!(stopped.len(), 1);
        assert!(stopped[0].to_string().ends_with("up -d"));
    }

    #[test]
    fn the_agent_is_run_once_and_replaced_when_it_differs() {
        let a = Agent {
            vmid: 1002,
            image: "portainer/agent:latest".into(),
            port: 9001,
        };
        assert_eq!(a.plan(None).len(), 1);
        let ok = AgentSeen {
            running: true,
            image: "portainer/agent".into(),
            port: Some(9001),
        };
        assert!(a.plan(Some(&ok)).is_empty());
        let stopped = AgentSeen {
            running: false,
            ..ok.clone()
        };
        assert_eq!(
            a.plan(Some(&stopped))[0].to_string(),
            "docker start portainer_agent"
        );
        let moved = AgentSeen {
            port: Some(9002),
            ..ok
        };
        let p = a.plan(Some(&moved));
        assert_eq!(p[0].to_string(), "docker rm -f portainer_agent");
        assert!(p[1].to_string().contains("-p 9001:9001"));
    }
}
