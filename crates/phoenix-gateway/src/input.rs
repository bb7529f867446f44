//! What the generators know about a deployment.

use std::net::Ipv4Addr;

/// `traefik_service` of a guest: the name it is published as and its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraefikService {
    pub name: String,
    pub port: u16,
}

/// One guest (container or VM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestInfo {
    pub id: u32,
    pub name: String,
    pub is_vm: bool,
    /// Static address (`network_config.ip` without the prefix); `None` for DHCP.
    pub ip: Option<Ipv4Addr>,
    pub traefik_service: Option<TraefikService>,
    /// `portainer_role` is `agent`: reached directly by the Portainer server.
    pub portainer_agent: bool,
    /// `portainer_agent_hostname`.
    pub agent_hostname: Option<String>,
    /// `dns_records` of the guest: explicit names for its address.
    pub dns_records: Vec<DnsRecord>,
}

/// A service of a stack deployed on a VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackService {
    pub stack: String,
    pub service: String,
    pub vmid: u32,
    /// Its Traefik labels (`traefik.http.routers.<r>.rule=Host(`...`)`, ...).
    pub labels: Vec<String>,
}

impl StackService {
    /// Host names of the `Host(...)` rules of its routers.
    pub fn host_rules(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in &self.labels {
            let Some((key, value)) = l.split_once('=') else {
                continue;
            };
            if key.starts_with("traefik.http.routers.") && key.ends_with(".rule") {
                out.extend(hosts_in_rule(value));
            }
        }
        out
    }

    /// `traefik.http.services.<s>.loadbalancer.server.port` and `.scheme`, when labelled.
    pub fn backend(&self) -> (Option<u16>, String) {
        let mut port = None;
        let mut scheme = "http".to_string();
        for l in &self.labels {
            let Some((key, value)) = l.split_once('=') else {
                continue;
            };
            if key.starts_with("traefik.http.services.") {
                if key.ends_with(".loadbalancer.server.port") {
                    port = value.trim().parse().ok();
                } else if key.ends_with(".loadbalancer.server.scheme") {
                    scheme = value.trim().to_string();
                }
            }
        }
        (port, scheme)
    }
}

/// The names in ``Host(`a`, `b`) || Host(`c`)``.
pub fn hosts_in_rule(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = rule;
    while let Some(i) = rest.find("Host(") {
        rest = &rest[i + 5..];
        let end = rest.find(')').unwrap_or(rest.len());
        for part in rest[..end].split(',') {
            let n = part.trim().trim_matches('`').trim_matches('"');
            if !n.is_empty() {
                out.push(n.to_string());
            }
        }
        rest = &rest[end..];
    }
    out
}

/// An explicit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub name: String,
    pub ip: Ipv4Addr,
}

/// The deployment as the generators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// `domain_name`.
    pub domain: String,
    /// The host's address (`network.interfaces.address`), where dnsmasq listens.
    pub host_ip: Ipv4Addr,
    /// `dns_server.upstream_servers`.
    pub upstream_servers: Vec<String>,
    /// `network.fallback_dns`.
    pub fallback_dns: Option<String>,
    pub guests: Vec<GuestInfo>,
    pub stack_services: Vec<StackService>,
    /// The Nginx gateway's address (TLS edge, container 101).
    pub gateway_ip: Option<Ipv4Addr>,
    /// Traefik's address (container 102).
    pub traefik_ip: Option<Ipv4Addr>,
    /// `portainer_api.portainer_hostname`, published through the gateway.
    pub portainer_hostname: Option<String>,
}

impl Input {
    pub fn guest(&self, id: u32) -> Option<&GuestInfo> {
        self.guests.iter().find(|g| g.id == id)
    }
}

/// A guest name as a DNS label: lower case; characters other than letters, digits, `-` and
/// `.` become `-`.
pub fn dns_label(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches(|c| c == '-' || c == '.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_labels() {
        assert_eq!(
            hosts_in_rule("Host(`a.x`) || Host(`b.x`, `c.x`)"),
            ["a.x", "b.x", "c.x"]
        );
        assert_eq!(dns_label("Nginx-Phoenix"), "nginx-phoenix");
        assert_eq!(dns_label("thinkheads_ai_app"), "thinkheads-ai-app");
        let s = StackService {
            stack: "q".into(),
            service: "qdrant".into(),
            vmid: 1002,
            labels: vec![
                "traefik.http.routers.qdrant.rule=Host(`qdrant.internal.x`)".into(),
                "traefik.http.services.qdrant.loadbalancer.server.port=6333".into(),
            ],
        };
        assert_eq!(s.host_rules(), ["qdrant.internal.x"]);
        assert_eq!(s.backend(), (Some(6333), "http".to_string()));
    }
}
