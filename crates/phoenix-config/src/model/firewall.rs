//! Firewall settings and rules, in the terms of Proxmox's firewall (`pve-firewall` rules
//! options: `-i`, `-source`, `-dest`, `-p`, `-dport`, `-sport`, `-icmp-type`, `-log`).
//!
//! Every value displays as the token Proxmox writes in a `.fw` file (`IN`, `ACCEPT`,
//! `80,443`, `8000:8010`, `10.0.0.0/24`), so a writer only joins them.

use std::fmt;
use std::net::IpAddr;

use crate::types::{InterfaceName, IpCidr};

/// A guest's (or the host's) firewall.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Firewall {
    pub enabled: bool,
    /// Proxmox default: `DROP`.
    pub policy_in: Option<FwAction>,
    /// Proxmox default: `ACCEPT`.
    pub policy_out: Option<FwAction>,
    pub rules: Vec<FirewallRule>,
}

/// Rule direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    #[default]
    In,
    Out,
}

impl Direction {
    pub fn parse(v: &str) -> Result<Direction, String> {
        match v {
            "in" | "IN" => Ok(Direction::In),
            "out" | "OUT" => Ok(Direction::Out),
            _ => Err(format!(
                "'{}' is not a rule direction; expected in or out",
                v.escape_debug()
            )),
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "IN",
            Direction::Out => "OUT",
        })
    }
}

/// A rule's action or a policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FwAction {
    #[default]
    Accept,
    Drop,
    Reject,
}

impl FwAction {
    pub fn parse(v: &str) -> Result<FwAction, String> {
        match v {
            "ACCEPT" => Ok(FwAction::Accept),
            "DROP" => Ok(FwAction::Drop),
            "REJECT" => Ok(FwAction::Reject),
            _ => Err(format!(
                "'{}' is not a firewall action; expected ACCEPT, DROP or REJECT",
                v.escape_debug()
            )),
        }
    }
}

impl fmt::Display for FwAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FwAction::Accept => "ACCEPT",
            FwAction::Drop => "DROP",
            FwAction::Reject => "REJECT",
        })
    }
}

/// Log level of one rule (`-log`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogLevel {
    Emerg,
    Alert,
    Crit,
    Err,
    Warning,
    Notice,
    Info,
    Debug,
    Nolog,
}

impl LogLevel {
    const ALL: [(&'static str, LogLevel); 9] = [
        ("emerg", LogLevel::Emerg),
        ("alert", LogLevel::Alert),
        ("crit", LogLevel::Crit),
        ("err", LogLevel::Err),
        ("warning", LogLevel::Warning),
        ("notice", LogLevel::Notice),
        ("info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("nolog", LogLevel::Nolog),
    ];

    pub fn parse(v: &str) -> Result<LogLevel, String> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == v)
            .map(|(_, l)| *l)
            .ok_or_else(|| {
                format!(
                    "'{}' is not a log level; expected one of emerg, alert, crit, err, warning, notice, info, debug, nolog",
                    v.escape_debug()
                )
            })
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL
            .iter()
            .find(|(_, l)| l == self)
            .map_or("nolog", |(n, _)| n);
        f.write_str(name)
    }
}

/// One `[RULES]` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallRule {
    pub direction: Direction,
    pub action: FwAction,
    /// `-i`: `net0` for a guest, any name on the host.
    pub iface: Option<InterfaceName>,
    pub source: Option<FwAddress>,
    pub dest: Option<FwAddress>,
    /// `-p`: a protocol name (`tcp`) or number.
    pub proto: Option<String>,
    /// `-dport` (the files' `port`).
    pub dport: Option<PortList>,
    pub sport: Option<PortList>,
    pub icmp_type: Option<String>,
    pub log: Option<LogLevel>,
    /// Written after `#`; one line.
    pub comment: Option<String>,
}

/// Ports: a comma-separated list of numbers, `from:to` ranges and service names
/// (`80,443`, `8000:8010`, `ssh`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortList(pub Vec<PortSpec>);

/// One entry of a [`PortList`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PortSpec {
    Port(u16),
    /// Inclusive, `from <= to`.
    Range(u16, u16),
    /// A name from `/etc/services`.
    Service(String),
}

impl PortList {
    pub fn parse(v: &str) -> Result<PortList, String> {
        let bad = || {
            format!(
                "'{}' is not a port list; expected 80, 8000:8010 or 80,443",
                v.escape_debug()
            )
        };
        let service = |n: &str| {
            !n.is_empty()
                && n.as_bytes()[0].is_ascii_alphabetic()
                && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let mut out = Vec::new();
        for part in v.split(',') {
            let part = part.trim();
            let entry = match part.split_once(':') {
                Some((a, b)) => match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(a), Ok(b)) if a <= b => PortSpec::Range(a, b),
                    _ => return Err(bad()),
                },
                None => match part.parse::<u16>() {
                    Ok(p) => PortSpec::Port(p),
                    Err(_) if service(part) => PortSpec::Service(part.to_string()),
                    Err(_) => return Err(bad()),
                },
            };
            out.push(entry);
        }
        Ok(PortList(out))
    }
}

impl PortList {
    /// How `pve-firewall` counts the list against its limit of 15: a port 1, a range 2, a
    /// service name 0.
    pub fn numbers(&self) -> usize {
        self.0
            .iter()
            .map(|p| match p {
                PortSpec::Port(_) => 1,
                PortSpec::Range(..) => 2,
                PortSpec::Service(_) => 0,
            })
            .sum()
    }
}

impl fmt::Display for PortList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match p {
                PortSpec::Port(n) => write!(f, "{n}")?,
                PortSpec::Range(a, b) => write!(f, "{a}:{b}")?,
                PortSpec::Service(s) => f.write_str(s)?,
            }
        }
        Ok(())
    }
}

/// A rule's source or destination: one IP set (`+name`), alias or range, or a comma-separated
/// list of addresses and networks; IPv4 and IPv6 are not mixed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FwAddress(pub Vec<AddrEntry>);

/// One entry of a [`FwAddress`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddrEntry {
    Ip(IpAddr),
    Net(IpCidr),
    /// Inclusive range `from-to`.
    Range(IpAddr, IpAddr),
    /// `+name` (also `+dc/name`, `+guest/name`).
    IpSet(String),
    /// An alias (`name`, `dc/name`, `guest/name`).
    Alias(String),
}

impl AddrEntry {
    fn v6(&self) -> Option<bool> {
        match self {
            AddrEntry::Ip(a) | AddrEntry::Range(a, _) => Some(a.is_ipv6()),
            AddrEntry::Net(c) => Some(c.addr.is_ipv6()),
            _ => None,
        }
    }
}

impl FwAddress {
    pub fn parse(v: &str) -> Result<FwAddress, String> {
        let bad = || {
            format!(
                "'{}' is not a firewall address; expected an IP, CIDR, range or alias",
                v.escape_debug()
            )
        };
        let name = |n: &str| {
            let n = n
                .strip_prefix("dc/")
                .or_else(|| n.strip_prefix("guest/"))
                .unwrap_or(n);
            !n.is_empty()
                && n.as_bytes()[0].is_ascii_alphabetic()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        let mut out = Vec::new();
        for part in v.split(',') {
            let part = part.trim();
            let entry = if let Some(set) = part.strip_prefix('+') {
                if !name(set) {
                    return Err(bad());
                }
                AddrEntry::IpSet(set.to_string())
            } else if let Ok(a) = part.parse::<IpAddr>() {
                AddrEntry::Ip(a)
            } else if let Some((a, p)) = part
                .split_once('/')
                .filter(|(a, _)| a.parse::<IpAddr>().is_ok())
            {
                let addr: IpAddr = a.parse().map_err(|_| bad())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                match p.parse::<u8>() {
                    Ok(prefix) if prefix <= max => AddrEntry::Net(IpCidr { addr, prefix }),
                    _ => return Err(bad()),
                }
            } else if let Some((a, b)) = part
                .split_once('-')
                .and_then(|(a, b)| Some((a.parse::<IpAddr>().ok()?, b.parse::<IpAddr>().ok()?)))
            {
                if a.is_ipv4() != b.is_ipv4() {
                    return Err(bad());
                }
                AddrEntry::Range(a, b)
            } else if name(part) {
                AddrEntry::Alias(part.to_string())
            } else {
                return Err(bad());
            };
            out.push(entry);
        }
        // `pve-firewall` (parse_address_list): an IP set or an alias stands alone, and so
        // does a range ("you can't use a range in a list").
        let alone = |e: &AddrEntry| {
            matches!(
                e,
                AddrEntry::IpSet(_) | AddrEntry::Alias(_) | AddrEntry::Range(..)
            )
        };
        if out.len() > 1 && out.iter().any(alone) {
            return Err(format!(
                "'{}': an IP set, an alias or a range must stand alone; Proxmox takes lists of addresses and networks only",
                v.escape_debug()
            ));
        }
        let families: Vec<bool> = out.iter().filter_map(AddrEntry::v6).collect();
        if families.windows(2).any(|w| w[0] != w[1]) {
            return Err(format!(
                "'{}' mixes IPv4 and IPv6 addresses; Proxmox needs one family per list",
                v.escape_debug()
            ));
        }
        Ok(FwAddress(out))
    }

    /// Whether the list names `ip` itself (an address, a network or a range holding it).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|e| match e {
            AddrEntry::Ip(a) => *a == ip,
            AddrEntry::Net(c) => crate::model::nfs::in_network(ip, c),
            AddrEntry::Range(a, b) => match (a, b, ip) {
                (IpAddr::V4(a), IpAddr::V4(b), IpAddr::V4(x)) => (*a..=*b).contains(&x),
                (IpAddr::V6(a), IpAddr::V6(b), IpAddr::V6(x)) => (*a..=*b).contains(&x),
                _ => false,
            },
            _ => false,
        })
    }
}

impl fmt::Display for FwAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match e {
                AddrEntry::Ip(a) => write!(f, "{a}")?,
                AddrEntry::Net(c) => write!(f, "{c}")?,
                AddrEntry::Range(a, b) => write!(f, "{a}-{b}")?,
                AddrEntry::IpSet(s) => write!(f, "+{s}")?,
                AddrEntry::Alias(s) => f.write_str(s)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_lists_and_ranges() {
        assert_eq!(PortList::parse("80,443").unwrap().to_string(), "80,443");
        assert_eq!(
            PortList::parse("8000:8010").unwrap().0,
            vec![PortSpec::Range(8000, 8010)]
        );
        assert_eq!(PortList::parse("ssh").unwrap().to_string(), "ssh");
        for bad in ["", "80;rm", "9:1", "70000", "80,"] {
            assert!(PortList::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn addresses_as_proxmox_takes_them() {
        for ok in [
            "10.0.0.13",
            "10.0.0.0/24",
            "10.0.0.1-10.0.0.10",
            "10.0.0.1,10.0.0.2",
            "+mynetgroup",
            "myserveralias",
            "dc/alias",
            "fd00::1",
        ] {
            assert_eq!(FwAddress::parse(ok).unwrap().to_string(), ok);
        }
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1,fd00::1",
            "10.0.0.1-10.0.0.10,10.0.0.20",
            "+set,10.0.0.1",
            "a b",
            "",
            "+",
            "1.2.3.4-fd00::1",
        ] {
            assert!(FwAddress::parse(bad).is_err(), "{bad}");
        }
        let a = FwAddress::parse("10.0.0.0/24,192.168.1.5").unwrap();
        assert!(a.contains("10.0.0.9".parse().unwrap()));
        assert!(!a.contains("10.0.1.9".parse().unwrap()));
    }

    #[test]
    fn tokens_are_proxmox_spelling() {
        assert_eq!(Direction::parse("in").unwrap().to_string(), "IN");
        assert_eq!(FwAction::parse("DROP").unwrap().to_string(), "DROP");
        assert!(FwAction::parse("ALLOW").is_err());
        assert_eq!(LogLevel::parse("debug").unwrap().to_string(), "debug");
    }
}
