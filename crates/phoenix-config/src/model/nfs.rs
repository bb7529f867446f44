//! NFS exports of the host and the rule that matches a guest's mount to one.
//!
//! One rule for paths: an export path is kept without trailing slashes
//! ([`AbsPath::trimmed`]), and every comparison (validation, the VM manager, `/etc/exports`)
//! uses that form, so `/tank/shared/` and `/tank/shared` are the same export.

use std::fmt;
use std::net::IpAddr;

use crate::types::{AbsPath, IpCidr};

/// One entry of the hypervisor config's `nfs.exports`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NfsExport {
    /// The exported folder, without trailing slashes.
    pub path: AbsPath,
    /// Who may mount it (`/etc/exports` host specs).
    pub clients: Vec<NfsClient>,
    /// Export options (`rw`, `sync`, ...).
    pub options: Vec<String>,
}

impl NfsExport {
    /// Whether some client entry covers `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.clients.iter().any(|c| c.covers(ip))
    }

    /// Whether `path` is this export or a folder inside it.
    pub fn contains(&self, path: &AbsPath) -> bool {
        path.is_within(&self.path)
    }
}

/// An `/etc/exports` host spec (what comes before the `(options)`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NfsClient {
    /// `*`: everyone.
    Any,
    Addr(IpAddr),
    Net(IpCidr),
    /// A host name, wildcard (`*.lan`) or `@netgroup`: cannot be checked against an address.
    Name(String),
}

impl NfsClient {
    /// Parses a host spec; `(options)` after it are ignored. Never fails: what is not an
    /// address, a network or `*` is a name.
    pub fn parse(spec: &str) -> NfsClient {
        let host = spec.split('(').next().unwrap_or("").trim();
        if host == "*" {
            return NfsClient::Any;
        }
        if let Ok(a) = host.parse::<IpAddr>() {
            return NfsClient::Addr(a);
        }
        if let Some((a, p)) = host.split_once('/') {
            if let (Ok(addr), Ok(prefix)) = (a.parse::<IpAddr>(), p.parse::<u8>()) {
                let max = if addr.is_ipv4() { 32 } else { 128 };
                if prefix <= max {
                    return NfsClient::Net(IpCidr { addr, prefix });
                }
            }
        }
        NfsClient::Name(host.to_string())
    }

    /// Whether this spec lets `ip` mount: `*`, the address itself, or a network holding it.
    pub fn covers(&self, ip: IpAddr) -> bool {
        match self {
            NfsClient::Any => true,
            NfsClient::Addr(a) => *a == ip,
            NfsClient::Net(c) => in_network(ip, c),
            NfsClient::Name(_) => false,
        }
    }
}

impl fmt::Display for NfsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NfsClient::Any => f.write_str("*"),
            NfsClient::Addr(a) => write!(f, "{a}"),
            NfsClient::Net(c) => write!(f, "{c}"),
            NfsClient::Name(n) => f.write_str(n),
        }
    }
}

/// Whether `ip` lies in the network `net` (same family, same leading `prefix` bits).
pub fn in_network(ip: IpAddr, net: &IpCidr) -> bool {
    fn masked(bits: u128, width: u32, prefix: u8) -> u128 {
        let keep = u32::from(prefix).min(width);
        if keep == 0 {
            0
        } else {
            bits >> (width - keep)
        }
    }
    match (ip, net.addr) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            masked(u32::from(a).into(), 32, net.prefix)
                == masked(u32::from(n).into(), 32, net.prefix)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            masked(u128::from(a), 128, net.prefix) == masked(u128::from(n), 128, net.prefix)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_cover_addresses() {
        let ip: IpAddr = "10.0.0.101".parse().unwrap();
        assert!(NfsClient::parse("10.0.0.0/24(rw)").covers(ip));
        assert!(NfsClient::parse("*").covers(ip));
        assert!(NfsClient::parse("10.0.0.101(rw,sync)").covers(ip));
        assert!(!NfsClient::parse("10.0.1.0/24").covers(ip));
        assert!(NfsClient::parse("0.0.0.0/0").covers(ip));
        assert!(!NfsClient::parse("host.lan").covers(ip));
        assert_eq!(
            NfsClient::parse("10.0.0.0/24(rw)").to_string(),
            "10.0.0.0/24"
        );
    }

    #[test]
    fn sub_folders_are_in_their_export() {
        let e = NfsExport {
            path: AbsPath::new("/quickOS/vm-persistent-data").unwrap(),
            ..Default::default()
        };
        assert!(e.contains(&AbsPath::new("/quickOS/vm-persistent-data/1001/.step-ca").unwrap()));
        assert!(!e.contains(&AbsPath::new("/quickOS/vm-persistent-data2").unwrap()));
    }
}
