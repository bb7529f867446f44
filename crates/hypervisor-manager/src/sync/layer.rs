//! The deployment as the service layer sees it, built once from the checked config: the
//! generators' [`Input`], the agent VMs, where the internal CA's root and the gateway's
//! containers are. Everything here is derived from the three JSON files (and the stacks beside
//! them); nothing names a guest ID.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use phoenix_config::model::vm::VmPortainerRole;
use phoenix_config::{Config, Lxc};
use phoenix_gateway::input::{DnsRecord, GuestInfo, Input, StackService, TraefikService};
use phoenix_stacks::{Stacks, DEFAULT_ENVIRONMENT};
use phoenix_sync::AgentVm;

/// Where step-ca keeps its state inside the CA container (`STEPPATH` of the `step_ca` feature).
pub const CA_STATE_DIR: &str = "/etc/step-ca/ssl";
/// The root certificate the CA container exports there.
pub const ROOT_FILE: &str = "phoenix_root_ca.crt";
/// The provisioner password file the CA's application script made there.
pub const PROVISIONER_PASSWORD_FILE: &str = "provisioner_password.txt";
/// step-ca's port (`--address :9000` of the application script).
pub const CA_PORT: u16 = 9000;
/// Portainer's HTTPS port when `network.portainer_server_port` is not set.
pub const DEFAULT_PORTAINER_PORT: u16 = 9443;
/// The agent port when `network.portainer_agent_port` is not set.
pub const DEFAULT_AGENT_PORT: u16 = 9001;
/// Where the Nginx gateway's certificate folder is mounted in its container.
pub const NGINX_SSL_DIR: &str = "/etc/nginx/ssl";

/// Everything the sync parts need.
pub struct Layer {
    pub input: Input,
    pub stacks: Stacks,
    pub agents: Vec<AgentVm>,
    pub agent_port: u16,
    /// The Nginx gateway container: the one whose `traefik_service` is named `nginx`.
    pub nginx: Option<u64>,
    /// The Traefik container: the one with feature `traefik`.
    pub traefik: Option<u64>,
    /// The CA container (feature `step_ca`) and its state folder on the host.
    pub ca_dir: Option<PathBuf>,
    /// `https://<step_ca.dns_name>:9000`.
    pub ca_url: Option<String>,
    /// The installation's `etc/` folder (beside the hypervisor config).
    pub etc: PathBuf,
}

fn v4(ip: Option<IpAddr>) -> Option<Ipv4Addr> {
    match ip? {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn lxc_ip(c: &Lxc) -> Option<Ipv4Addr> {
    v4(c.network_config.as_ref()?.ip.static_addr())
}

fn traefik(t: &Option<phoenix_config::model::TraefikService>) -> Option<TraefikService> {
    t.as_ref().map(|t| TraefikService {
        name: t.name.clone(),
        port: t.port,
    })
}

/// The host path a container path is mounted from (its bind mounts).
pub fn host_path_of(c: &Lxc, inside: &str) -> Option<PathBuf> {
    c.host_path_of(inside)
}

/// The container path a host path is seen at inside container `c`.
pub fn inside_path_of(c: &Lxc, host: &str) -> Option<String> {
    c.mount_points.iter().find_map(|m| {
        let hp = m.host_path.as_str().trim_end_matches('/');
        let rest = host.strip_prefix(hp)?;
        if !rest.is_empty() && !rest.starts_with('/') {
            return None;
        }
        Some(format!(
            "{}{rest}",
            m.mount_point.as_str().trim_end_matches('/')
        ))
    })
}

impl Layer {
    /// Reads the stacks beside the config and derives the rest; `Err` lists every problem.
    pub fn load(cfg: &Config) -> Result<Layer, String> {
        let hv = &cfg.hypervisor;
        let stacks = Stacks::load_beside(&cfg.paths.hypervisor).map_err(|d| {
            d.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })?;
        let mut guests = Vec::new();
        for c in cfg.lxcs() {
            guests.push(GuestInfo {
                id: c.id.0 as u32,
                name: c.name.as_str().to_string(),
                is_vm: false,
                ip: lxc_ip(c),
                traefik_service: traefik(&c.traefik_service),
                portainer_agent: false,
                agent_hostname: None,
                dns_records: vec![],
            });
        }
        let mut agents = Vec::new();
        let mut stack_services = Vec::new();
        for vm in cfg.vms() {
            let agent = vm
                .portainer
                .as_ref()
                .is_some_and(|p| p.role == VmPortainerRole::Agent);
            let agent_hostname = vm
                .portainer
                .as_ref()
                .and_then(|p| p.agent_hostname.as_ref())
                .map(|h| h.as_str().to_string());
            let ip = v4(vm.static_ip());
            let mut records = Vec::new();
            for r in &vm.dns_records {
                let addr = r.ip.parse().map_err(|_| {
                    format!(
                        "VM {}: dns_records: '{}' is not an IPv4 address",
                        vm.id, r.ip
                    )
                })?;
                records.push(DnsRecord {
                    name: r.hostname.clone(),
                    ip: addr,
                });
            }
            guests.push(GuestInfo {
                id: vm.id.0 as u32,
                name: vm.name.as_str().to_string(),
                is_vm: true,
                ip,
                traefik_service: traefik(&vm.traefik_service),
                portainer_agent: agent,
                agent_hostname: agent_hostname.clone(),
                dns_records: records,
            });
            for name in &vm.docker_stacks {
                let Some(stack) = stacks.get(name) else {
                    return Err(format!(
                        "VM {}: docker_stacks: unknown stack '{name}'",
                        vm.id
                    ));
                };
                let env = stack.environment(DEFAULT_ENVIRONMENT);
                for service in stack.compose.services() {
                    stack_services.push(StackService {
                        stack: stack.name.clone(),
                        service: service.clone(),
                        vmid: vm.id.0 as u32,
                        labels: env
                            .and_then(|e| e.services.get(&service))
                            .map(|s| s.traefik_labels.clone())
                            .unwrap_or_default(),
                    });
                }
            }
            if agent {
                let host = agent_hostname
                    .or_else(|| ip.map(|i| i.to_string()))
                    .ok_or_else(|| {
                        format!(
                            "VM {}: a Portainer agent needs portainer_agent_hostname or a static address",
                            vm.id
                        )
                    })?;
                agents.push(AgentVm {
                    vmid: vm.id.0 as u32,
                    environment_name: vm
                        .portainer
                        .as_ref()
                        .and_then(|p| p.environment_name.clone())
                        .unwrap_or_else(|| vm.name.as_str().to_string()),
                    agent_host: host,
                    docker_stacks: vm.docker_stacks.clone(),
                });
            }
        }
        let nginx = cfg.lxcs().iter().find(|c| {
            c.traefik_service
                .as_ref()
                .is_some_and(|t| t.name == "nginx")
        });
        let traefik_ct = cfg
            .lxcs()
            .iter()
            .find(|c| c.features.iter().any(|f| f.as_str() == "traefik"));
        let ca_ct = cfg
            .lxcs()
            .iter()
            .find(|c| c.features.iter().any(|f| f.as_str() == "step_ca"));
        let net = hv.network.as_ref();
        let host_ip = net
            .and_then(|n| n.interfaces.as_ref())
            .and_then(|i| i.address.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or(Ipv4Addr::LOCALHOST);
        let input = Input {
            domain: hv
                .domain_name
                .as_ref()
                .map(|d| d.as_str().to_string())
                .unwrap_or_default(),
            host_ip,
            upstream_servers: hv
                .dns_server
                .as_ref()
                .map(|d| d.upstream_servers.clone())
                .unwrap_or_default(),
            fallback_dns: net.and_then(|n| n.fallback_dns.clone()),
            guests,
            stack_services,
            gateway_ip: nginx.and_then(lxc_ip),
            traefik_ip: traefik_ct.and_then(lxc_ip),
            portainer_hostname: hv
                .portainer_api
                .as_ref()
                .and_then(|p| p.portainer_hostname.clone()),
        };
        Ok(Layer {
            input,
            stacks,
            agents,
            agent_port: net
                .and_then(|n| n.portainer_agent_port)
                .unwrap_or(DEFAULT_AGENT_PORT),
            nginx: nginx.map(|c| c.id.0),
            traefik: traefik_ct.map(|c| c.id.0),
            ca_dir: ca_ct.and_then(|c| host_path_of(c, CA_STATE_DIR)),
            ca_url: hv
                .step_ca
                .as_ref()
                .and_then(|s| s.dns_name.as_ref())
                .map(|d| format!("https://{d}:{CA_PORT}")),
            etc: cfg
                .paths
                .hypervisor
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        })
    }

    /// The CA's exported root on the host (not under the host root).
    pub fn root_file(&self) -> Option<PathBuf> {
        self.ca_dir.as_ref().map(|d| d.join(ROOT_FILE))
    }

    /// The Portainer server: URL with the certificate's name, and the address to connect to.
    pub fn portainer_endpoint(cfg: &Config) -> Result<(String, SocketAddr), String> {
        let hv = &cfg.hypervisor;
        let net = hv.network.as_ref();
        let port = net
            .and_then(|n| n.portainer_server_port)
            .unwrap_or(DEFAULT_PORTAINER_PORT);
        let ip = net
            .and_then(|n| n.portainer_server_ip.clone())
            .or_else(|| {
                cfg.vms()
                    .iter()
                    .find(|v| {
                        v.portainer
                            .as_ref()
                            .is_some_and(|p| p.role == VmPortainerRole::Primary)
                    })
                    .and_then(|v| v.static_ip())
                    .map(|i| i.to_string())
            })
            .ok_or("no Portainer server: set network.portainer_server_ip or give a VM portainer_role primary with a static address")?;
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("network.portainer_server_ip '{ip}' is not an address"))?;
        let name = hv
            .portainer_api
            .as_ref()
            .and_then(|p| p.portainer_hostname.clone())
            .unwrap_or_else(|| ip.clone());
        Ok((
            format!("https://{name}:{port}"),
            SocketAddr::new(addr, port),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Config {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/upstream-2025-11-04/etc/phoenix_hypervisor_config.json");
        Config::load(&p).expect("the fixture loads")
    }

    #[test]
    fn the_fixture_as_the_layer_sees_it() {
        let cfg = fixture();
        let l = Layer::load(&cfg).expect("layer");
        assert_eq!(l.nginx, Some(101));
        assert_eq!(l.traefik, Some(102));
        assert_eq!(
            l.root_file(),
            Some(PathBuf::from(
                "/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt"
            ))
        );
        assert_eq!(
            l.ca_url.as_deref(),
            Some("https://ca.internal.thinkheads.ai:9000")
        );
        assert_eq!(l.agent_port, 9001);
        assert_eq!(l.agents.len(), 1);
        let a = &l.agents[0];
        assert_eq!((a.vmid, a.environment_name.as_str()), (1002, "drphoenix"));
        assert_eq!(a.agent_host, "portainer-agent.internal.thinkheads.ai");
        assert_eq!(l.input.gateway_ip, Some(Ipv4Addr::new(10, 0, 0, 153)));
        assert_eq!(l.input.traefik_ip, Some(Ipv4Addr::new(10, 0, 0, 12)));
        assert_eq!(l.input.host_ip, Ipv4Addr::new(10, 0, 0, 13));
        // Every service of every assigned stack, with the VM it runs on.
        let services: Vec<(String, u32)> = l
            .input
            .stack_services
            .iter()
            .map(|s| (s.service.clone(), s.vmid))
            .collect();
        assert!(
            services.contains(&("qdrant".to_string(), 1002)),
            "{services:?}"
        );
        let (url, addr) = Layer::portainer_endpoint(&cfg).unwrap();
        assert_eq!(url, "https://portainer.internal.thinkheads.ai:9443");
        assert_eq!(addr.to_string(), "10.0.0.111:9443");
    }

    #[test]
    fn paths_through_bind_mounts_both_ways() {
        let cfg = fixture();
        let c = cfg.lxc(phoenix_config::GuestId(101)).unwrap();
        assert_eq!(
            inside_path_of(c, "/mnt/pve/quickOS/lxc-persistent-data/101/ssl/n.crt").as_deref(),
            Some("/etc/nginx/ssl/n.crt")
        );
        assert_eq!(
            inside_path_of(c, "/mnt/pve/quickOS/lxc-persistent-data/101/sslx"),
            None
        );
        assert_eq!(
            host_path_of(c, "/etc/nginx/ssl"),
            Some(PathBuf::from(
                "/mnt/pve/quickOS/lxc-persistent-data/101/ssl"
            ))
        );
        assert_eq!(host_path_of(c, "/etc/nginx"), None);
    }
}
