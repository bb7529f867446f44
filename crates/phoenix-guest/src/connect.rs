//! Choosing and building the transport of a run (`--transport`, `PHOENIX_TRANSPORT`,
//! `orchestration.transport`), and the `api` transport's settings: `orchestration.api` with an
//! environment override for each key, or the simulated server `--sim` started. Everything is
//! checked before the first request: a missing endpoint, token or trust setting is one clear
//! error naming the key, and the token secret is only ever read from its file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use phoenix_config::model::hypervisor::ApiSettings;
use phoenix_config::Config;
use phoenix_host::{HostEnv, Runner, TransportKind};

use crate::api::ApiTransport;
use crate::carrier::{Https, Pvesh};
use crate::error::TransportError;
use crate::local::LocalTransport;
use crate::node::NodeWork;
use crate::plan::{NodeCommand, Payload};
use crate::transport::{ExecOutput, Transport};

/// The `api` transport's settings, resolved and checked.
#[derive(Debug, Clone)]
pub struct ApiTarget {
    pub url: String,
    pub token_id: String,
    pub secret_file: PathBuf,
    pub trust: pve_client::Trust,
    pub node: Option<String>,
    pub timeout: Duration,
    pub ssh: Option<phoenix_host::ssh::SshTarget>,
}

fn env_str(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A path from the config, relative to the hypervisor config's folder.
fn config_path(cfg: &Config, p: &str) -> PathBuf {
    phoenix_config::paths::resolve_dir(&cfg.paths.dir, p)
}

/// `orchestration.api` with `PHOENIX_API_*`/`PHOENIX_SSH_*` overrides; under `--sim` the
/// simulated server's URL, pinned fingerprint and token.
pub fn api_target(env: &HostEnv, cfg: &Config) -> Result<ApiTarget, String> {
    let set = cfg.hypervisor.orchestration.api.clone().unwrap_or_default();
    let ssh = ssh_target(env, cfg, &set)?;
    let node = env_str("PHOENIX_API_NODE").or(set.node.clone());
    let timeout = Duration::from_secs(set.timeout_secs.unwrap_or(60).max(1));
    if let Some(sim) = &env.sim_api {
        let fp =
            pve_client::Fingerprint::parse(&sim.info.fingerprint).map_err(|e| e.to_string())?;
        return Ok(ApiTarget {
            url: sim.info.url.clone(),
            token_id: sim.info.token_id.clone(),
            secret_file: sim.info.secret_file.clone(),
            trust: pve_client::Trust::Fingerprint(fp),
            node,
            timeout,
            ssh,
        });
    }
    let missing = |key: &str, var: &str| {
        format!(
            "the api transport needs orchestration.api.{key} in {} (or {var})",
            cfg.paths.hypervisor.display()
        )
    };
    let url = env_str("PHOENIX_API_URL")
        .or(set.endpoint.clone())
        .ok_or_else(|| missing("endpoint", "PHOENIX_API_URL"))?;
    let token_id = env_str("PHOENIX_API_TOKEN_ID")
        .or(set.token_id.clone())
        .ok_or_else(|| missing("token_id", "PHOENIX_API_TOKEN_ID"))?;
    let secret_file = env_str("PHOENIX_API_TOKEN_SECRET_FILE")
        .map(PathBuf::from)
        .or_else(|| {
            set.token_secret_file
                .as_deref()
                .map(|p| config_path(cfg, p))
        })
        .ok_or_else(|| missing("token_secret_file", "PHOENIX_API_TOKEN_SECRET_FILE"))?;
    let trust = trust(env, cfg, &set)?;
    Ok(ApiTarget {
        url,
        token_id,
        secret_file,
        trust,
        node,
        timeout,
        ssh,
    })
}

/// Exactly one of a pinned fingerprint, a CA file, or `--insecure`.
fn trust(env: &HostEnv, cfg: &Config, set: &ApiSettings) -> Result<pve_client::Trust, String> {
    use pve_client::Trust;
    let fp = env_str("PHOENIX_API_FINGERPRINT").or(set.fingerprint.clone());
    let ca = env_str("PHOENIX_API_CA_FILE")
        .map(PathBuf::from)
        .or_else(|| set.ca_file.as_deref().map(|p| config_path(cfg, p)));
    let insecure = env.insecure || set.insecure == Some(true);
    match (fp, ca, insecure) {
        (Some(f), None, false) => pve_client::Fingerprint::parse(&f)
            .map(Trust::Fingerprint)
            .map_err(|e| format!("orchestration.api.fingerprint: {e}")),
        (None, Some(c), false) => Ok(Trust::CaFile(c)),
        (None, None, true) => {
            log::warn!("the api transport accepts any TLS certificate (--insecure)");
            Ok(Trust::Insecure)
        }
        (None, None, false) => Err("the api transport needs a way to trust the node's certificate: orchestration.api.fingerprint (PHOENIX_API_FINGERPRINT), orchestration.api.ca_file (PHOENIX_API_CA_FILE), or --insecure".into()),
        _ => Err("orchestration.api: give only one of fingerprint, ca_file and insecure".into()),
    }
}

/// `orchestration.api.ssh` with `PHOENIX_SSH_*` overrides; `None` when neither names a
/// known_hosts file (SSH is not set up).
fn ssh_target(
    _env: &HostEnv,
    cfg: &Config,
    set: &ApiSettings,
) -> Result<Option<phoenix_host::ssh::SshTarget>, String> {
    let s = set.ssh.clone().unwrap_or_default();
    let known = env_str("PHOENIX_SSH_KNOWN_HOSTS")
        .map(PathBuf::from)
        .or_else(|| s.known_hosts.as_deref().map(|p| config_path(cfg, p)));
    let host = env_str("PHOENIX_SSH_HOST").or(s.host.clone()).or_else(|| {
        env_str("PHOENIX_API_URL")
            .or(set.endpoint.clone())
            .and_then(|u| host_of(&u))
    });
    let (Some(known), Some(host)) = (known, host) else {
        if set.ssh.is_some() || env_str("PHOENIX_SSH_HOST").is_some() {
            return Err("orchestration.api.ssh needs host (or an endpoint to take it from) and known_hosts (PHOENIX_SSH_HOST, PHOENIX_SSH_KNOWN_HOSTS)".into());
        }
        return Ok(None);
    };
    let mut t = phoenix_host::ssh::SshTarget::new(&host, known);
    if let Some(p) = env_str("PHOENIX_SSH_PORT")
        .and_then(|p| p.parse().ok())
        .or(s.port)
    {
        t.port = p;
    }
    if let Some(u) = env_str("PHOENIX_SSH_USER").or(s.user.clone()) {
        t.user = u;
    }
    t.identity = env_str("PHOENIX_SSH_IDENTITY")
        .map(PathBuf::from)
        .or_else(|| s.identity.as_deref().map(|p| config_path(cfg, p)));
    Ok(Some(t))
}

/// `https://pve1:8006` → `pve1`.
fn host_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let hostport = rest.split('/').next()?;
    let host = if let Some(h) = hostport.strip_prefix('[') {
        h.split(']').next()?
    } else {
        hostport.split(':').next()?
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// The API client for `t` (the secret read from its file, which must be private).
pub fn client(t: &ApiTarget) -> Result<pve_client::Client, String> {
    let token =
        pve_client::Token::from_file(&t.token_id, &t.secret_file).map_err(|e| e.to_string())?;
    let mut opts = pve_client::Options::new(&t.url, t.trust.clone());
    opts.timeout = t.timeout;
    pve_client::Client::new(opts, token).map_err(|e| e.to_string())
}

/// The transport `env.transport` names, for one process.
pub fn transport<'a>(
    runner: &'a Runner,
    env: &HostEnv,
    cfg: &Config,
) -> Result<Box<dyn Transport + 'a>, String> {
    let local = || LocalTransport::new(runner, env, cfg);
    Ok(match env.transport {
        TransportKind::Local => Box::new(local()),
        TransportKind::Pvesh => Box::new(ApiTransport::new(
            "pvesh",
            Box::new(Pvesh::new(runner)),
            Box::new(local()),
            Some(env_str("PHOENIX_NODE").unwrap_or_else(|| crate::job::DEFAULT_NODE.into())),
        )),
        TransportKind::Api => {
            let t = api_target(env, cfg)?;
            Box::new(ApiTransport::new(
                "api",
                Box::new(Https {
                    client: client(&t)?,
                }),
                api_node_work(&t, runner, env, cfg),
                t.node.clone(),
            ))
        }
    })
}

/// Where the `api` transport does node-local work: over SSH when set up; here when the node
/// is this machine (`--sim`); else nowhere (each such action fails naming the setting).
fn api_node_work<'a>(
    t: &ApiTarget,
    runner: &'a Runner,
    env: &HostEnv,
    cfg: &Config,
) -> Box<dyn NodeWork + 'a> {
    match (&t.ssh, &env.sim) {
        (Some(ssh), _) => match cfg
            .hypervisor
            .cluster
            .as_ref()
            .filter(|c| c.nodes.len() > 1)
        {
            Some(c) => Box::new(crate::ssh::PerNodeSsh::new(ssh.clone(), c, env, cfg)),
            None => Box::new(crate::ssh::SshNode::new(ssh.clone(), env, cfg)),
        },
        (None, Some(_)) => Box::new(LocalTransport::new(runner, env, cfg)),
        (None, None) => Box::new(NoNode),
    }
}

/// Node-local work of the run's transport alone (host set-up and test scripts): here for
/// `local` and `pvesh`, per [`api_node_work`] for `api`.
pub fn node_work<'a>(
    runner: &'a Runner,
    env: &HostEnv,
    cfg: &Config,
) -> Result<Box<dyn NodeWork + 'a>, String> {
    Ok(match env.transport {
        TransportKind::Local | TransportKind::Pvesh => {
            Box::new(LocalTransport::new(runner, env, cfg))
        }
        TransportKind::Api => api_node_work(&api_target(env, cfg)?, runner, env, cfg),
    })
}

/// Verbs whose plans hold node-local work (files on the node, scripts, `pct exec`).
const NODE_VERBS: &[&str] = &[
    "create",
    "converge",
    "LetsGo",
    "reconfigure",
    "delete",
    "test",
    "setup",
    "health-check",
    "sync",
];

/// Refuses, before anything runs, a verb that needs node-local work when the `api` transport
/// has no way to do it (no SSH, not a simulated node on this machine): its plan would stop
/// half-way at the first file or script.
pub fn check_verb(env: &HostEnv, cfg: &Config, verb: &str) -> Result<(), String> {
    if env.transport != TransportKind::Api || env.sim.is_some() || !NODE_VERBS.contains(&verb) {
        return Ok(());
    }
    if api_target(env, cfg)?.ssh.is_none() {
        return Err(format!(
            "'{verb}' needs node-local work (feature scripts, snippets, firewall and config files), which the api transport does over SSH: set orchestration.api.ssh (host, known_hosts) or PHOENIX_SSH_KNOWN_HOSTS; without SSH it runs start, stop, restart and status"
        ));
    }
    Ok(())
}

/// The `api` transport without SSH: node-local work is refused, naming what to set.
pub struct NoNode;

impl NoNode {
    fn refuse<T>(&self, what: &str) -> Result<T, TransportError> {
        Err(TransportError(format!(
            "{what} is node-local work, which the api transport does over SSH: set orchestration.api.ssh (host, known_hosts) or PHOENIX_SSH_KNOWN_HOSTS"
        )))
    }
}

impl NodeWork for NoNode {
    fn ct_exec(&self, id: u64, _argv: &[String]) -> Result<ExecOutput, TransportError> {
        self.refuse(&format!("`pct exec {id}`"))
    }
    fn ct_push(
        &self,
        id: u64,
        _data: &Payload,
        _dest: &str,
        _perms: Option<&str>,
    ) -> Result<(), TransportError> {
        self.refuse(&format!("`pct push {id}`"))
    }
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, TransportError> {
        self.refuse(&format!("reading {}", path.display()))
    }
    fn write(&self, path: &Path, _data: &[u8], _private: bool) -> Result<(), TransportError> {
        self.refuse(&format!("writing {}", path.display()))
    }
    fn remove(&self, path: &Path) -> Result<bool, TransportError> {
        self.refuse(&format!("removing {}", path.display()))
    }
    fn run(&self, cmd: &NodeCommand) -> Result<ExecOutput, TransportError> {
        self.refuse(&format!("running {}", cmd.what))
    }
    fn download(&self, url: &str, _dest: &Path, _label: &str) -> Result<(), TransportError> {
        self.refuse(&format!("downloading {url}"))
    }
    fn place(&self) -> String {
        "the node (SSH not set up)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_host_defaults_to_the_endpoint_host() {
        assert_eq!(host_of("https://pve1:8006").as_deref(), Some("pve1"));
        assert_eq!(
            host_of("https://[fd00::1]:8006/").as_deref(),
            Some("fd00::1")
        );
        assert_eq!(host_of("https://10.0.0.2").as_deref(), Some("10.0.0.2"));
        assert_eq!(host_of("http://x"), None);
    }
}
