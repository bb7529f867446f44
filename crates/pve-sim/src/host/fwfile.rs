//! What `pve-firewall` accepts in its files: `cluster.fw` and a guest's `<id>.fw`, section by
//! section, rule by rule (the checks of pve-firewall's `parse_fw_rule` and `verify_rule`
//! that need no other file: directions per file, actions and macros, options, ports and
//! protocols, address lists, interfaces). Proxmox logs a bad line and leaves it out of the
//! ruleset; the simulator fails `pve-firewall compile` on it instead, with Proxmox's words, so
//! a rule that would be silently dropped on a real host is an error here.

/// Which file a rule is in (pve-firewall's `rule_env`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    Cluster,
    /// A rule inside `[group NAME]` of `cluster.fw`.
    Group,
    /// A VM's or container's `<id>.fw`.
    Guest,
}

const CLUSTER_OPTIONS: &[&str] = &[
    "enable",
    "policy_in",
    "policy_out",
    "policy_forward",
    "log_ratelimit",
    "ebtables",
    "nf_conntrack_max",
    "nf_conntrack_tcp_timeout_established",
    "protection_synflood",
];

const LOG_LEVELS: &[&str] = &[
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog",
];

const PORT_PROTOCOLS: &[&str] = &[
    "tcp", "6", "udp", "17", "udplite", "136", "dccp", "33", "sctp", "132",
];

/// Protocol names of a Debian `/etc/protocols` that rules commonly use (numbers are taken).
const PROTOCOLS: &[&str] = &[
    "ip",
    "icmp",
    "igmp",
    "tcp",
    "udp",
    "ipv6",
    "gre",
    "esp",
    "ah",
    "ipv6-icmp",
    "icmpv6",
    "ospf",
    "pim",
    "vrrp",
    "l2tp",
    "sctp",
    "udplite",
    "dccp",
    "ipip",
    "ipencap",
];

/// pve-firewall's macros (`$pve_fw_macros`), matched without regard to case.
const MACROS: &[&str] = &[
    "Amanda",
    "Auth",
    "BGP",
    "BitTorrent",
    "BitTorrent32",
    "Ceph",
    "CVS",
    "Citrix",
    "DAAP",
    "DCC",
    "DHCPfwd",
    "DNS",
    "Distcc",
    "FTP",
    "Finger",
    "GNUnet",
    "GRE",
    "Git",
    "HKP",
    "HTTP",
    "HTTPS",
    "ICPV2",
    "ICQ",
    "IMAP",
    "IMAPS",
    "IPIP",
    "IPsec",
    "IPsecah",
    "IPsecnat",
    "IRC",
    "Jetdirect",
    "L2TP",
    "LDAP",
    "LDAPS",
    "MSNP",
    "MSSQL",
    "Mail",
    "MDNS",
    "Munin",
    "MySQL",
    "NNTP",
    "NNTPS",
    "NTP",
    "OSPF",
    "OpenVPN",
    "PCA",
    "PMG",
    "POP3",
    "POP3S",
    "PPtP",
    "Ping",
    "PostgreSQL",
    "Printer",
    "RDP",
    "RIP",
    "RNDC",
    "Razor",
    "Rdate",
    "Rsync",
    "SANE",
    "SMB",
    "SMBswat",
    "SMTP",
    "SMTPS",
    "SNMP",
    "SPAMD",
    "SSH",
    "SVN",
    "SixXS",
    "SPICEproxy",
    "Squid",
    "Submission",
    "Syslog",
    "TFTP",
    "Telnet",
    "Telnets",
    "Time",
    "Trcrt",
    "VNC",
    "VNCL",
    "Web",
    "Webcache",
    "Webmin",
    "Whois",
];

/// Service names of `/etc/services` that rules commonly use.
const SERVICES: &[&str] = &[
    "ssh",
    "http",
    "https",
    "domain",
    "smtp",
    "ftp",
    "ntp",
    "nfs",
    "telnet",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "ldap",
    "ldaps",
    "mysql",
    "postgresql",
    "rsync",
    "snmp",
    "syslog",
];

fn name_ok(n: &str) -> bool {
    let b = n.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

fn ports(v: &str) -> Result<(), String> {
    let items: Vec<&str> = v.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err("extraneous commas in list".into());
    }
    let mut count = 0;
    for item in items {
        let num = |p: &str| -> Result<u32, String> {
            match p.parse::<u32>() {
                Ok(n) if n <= 65535 && p.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
                _ => Err(format!("invalid port '{p}'")),
            }
        };
        if let Some((a, b)) = item.split_once(':') {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!(
                    "backwards range '{a}:{b}' not allowed, did you mean '{b}:{a}'?"
                ));
            }
            count += 2;
        } else if item.bytes().all(|b| b.is_ascii_digit()) {
            num(item)?;
            count += 1;
        } else if !SERVICES.contains(&item) {
            return Err(format!("invalid port '{item}'"));
        }
    }
    if count > 15 {
        return Err("too many entries in port list (> 15 numbers)".into());
    }
    Ok(())
}

/// The IP version of one address, network or range (`None`: not one).
fn ip_version(e: &str) -> Option<u8> {
    let v = |a: &str| {
        a.parse::<std::net::IpAddr>()
            .ok()
            .map(|a| if a.is_ipv6() { 6 } else { 4 })
    };
    if let Some((a, p)) = e.split_once('/') {
        let ver = v(a)?;
        let max = if ver == 6 { 128 } else { 32 };
        return p.parse::<u8>().ok().filter(|p| *p <= max).map(|_| ver);
    }
    if let Some((a, b)) = e.split_once('-') {
        let (x, y) = (v(a)?, v(b)?);
        return (x == y).then_some(x);
    }
    v(e)
}

fn addresses(v: &str) -> Result<(), String> {
    if let Some(set) = v.strip_prefix('+') {
        let set = set
            .strip_prefix("guest/")
            .or_else(|| set.strip_prefix("dc/"))
            .or_else(|| set.strip_prefix("sdn/"))
            .unwrap_or(set);
        return if name_ok(set) {
            Ok(())
        } else {
            Err(format!("invalid ipset name '{v}'"))
        };
    }
    let alias = v
        .strip_prefix("guest/")
        .or_else(|| v.strip_prefix("dc/"))
        .unwrap_or(v);
    if name_ok(alias) {
        return Ok(());
    }
    let items: Vec<&str> = v.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err("extraneous commas in list".into());
    }
    let mut version = None;
    for i in &items {
        let Some(ver) = ip_version(i) else {
            return Err(format!("invalid IP address: {i}"));
        };
        if version.is_some_and(|x| x != ver) {
            return Err(format!(
                "detected mixed ipv4/ipv6 addresses in address list '{v}'"
            ));
        }
        version = Some(ver);
    }
    if items.len() > 1 && items.iter().any(|i| i.contains('-')) {
        return Err("you can't use a range in a list".into());
    }
    Ok(())
}

/// One rule line (pve-firewall's `parse_fw_rule` + `verify_rule`): `Err` names the problem.
pub fn check_rule(line: &str, env: Env) -> Result<(), String> {
    let line = line.split_once('#').map_or(line, |(r, _)| r).trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let mut words = line.split_whitespace();
    let (Some(dir), Some(action)) = (words.next(), words.next()) else {
        return Err(format!("unable to parse rule: {line}"));
    };
    let dir = dir.to_ascii_lowercase();
    let allowed: &[&str] = match env {
        Env::Cluster => &["in", "out", "forward", "group"],
        Env::Group => &["in", "out", "forward"],
        Env::Guest => &["in", "out", "group"],
    };
    if !allowed.contains(&dir.as_str()) {
        return Err(format!("type: invalid rule type '{dir}' for this file"));
    }
    if dir == "group" {
        if !name_ok(action) {
            return Err("action: invalid characters in security group name".into());
        }
    } else {
        let act = match action.split_once('(') {
            Some((m, rest)) => {
                if !MACROS.iter().any(|x| x.eq_ignore_ascii_case(m)) {
                    return Err(format!("macro: unknown macro '{m}'"));
                }
                rest.strip_suffix(')').unwrap_or("")
            }
            None => action,
        };
        if !matches!(act, "ACCEPT" | "DROP" | "REJECT") {
            return Err(format!("action: unknown action '{action}'"));
        }
        if dir == "forward" && act == "REJECT" {
            return Err("action: cannot define REJECT rules on forward chain".into());
        }
    }
    let rest: Vec<&str> = words.collect();
    let mut opts: std::collections::BTreeMap<&str, &str> = Default::default();
    let mut i = 0;
    while i < rest.len() {
        let flag = rest[i];
        let key = match flag {
            "-i" => "iface",
            "-p" | "-proto" | "--proto" => "proto",
            "-dport" | "--dport" => "dport",
            "-sport" | "--sport" => "sport",
            "-source" | "--source" => "source",
            "-dest" | "--dest" => "dest",
            "-log" | "--log" => "log",
            "-icmp-type" | "--icmp-type" => "icmp-type",
            _ => {
                return Err(format!(
                    "unable to parse rule parameters: {}",
                    rest[i..].join(" ")
                ))
            }
        };
        if dir == "group" && key != "iface" {
            return Err(format!(
                "unable to parse rule parameters: {}",
                rest[i..].join(" ")
            ));
        }
        let Some(v) = rest.get(i + 1) else {
            return Err(format!("unable to parse rule parameters: {flag}"));
        };
        if key == "log" && !LOG_LEVELS.contains(v) {
            return Err(format!("unable to parse rule parameters: {flag} {v}"));
        }
        opts.insert(key, v);
        i += 2;
    }
    if let Some(iface) = opts.get("iface") {
        if env == Env::Group {
            return Err("type: parameter -i not allowed for this rule type".into());
        }
        let ok = match env {
            Env::Guest => iface
                .strip_prefix("net")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            _ => iface.len() <= 20 && !iface.is_empty(),
        };
        if !ok {
            return Err(format!(
                "iface: value does not match the regex pattern 'net\\d+' ({iface})"
            ));
        }
    }
    let proto = opts.get("proto").copied();
    if let Some(p) = proto {
        if !PROTOCOLS.contains(&p) && p.parse::<u8>().is_err() {
            return Err(format!("proto: unknown protocol '{p}'"));
        }
    }
    for k in ["dport", "sport"] {
        let Some(v) = opts.get(k) else { continue };
        ports(v).map_err(|e| format!("{k}: {e}"))?;
        match proto {
            None => {
                return Err(format!(
                    "proto: missing property - '{k}' requires this property"
                ))
            }
            Some(p) if !PORT_PROTOCOLS.contains(&p) => {
                return Err(format!("{k}: protocol '{p}' does not support ports"))
            }
            Some(_) => {}
        }
    }
    if opts.contains_key("icmp-type") && !matches!(proto, Some("icmp" | "icmpv6" | "ipv6-icmp")) {
        return Err("proto: missing property - 'icmp-type' requires this property".into());
    }
    for k in ["source", "dest"] {
        if let Some(v) = opts.get(k) {
            addresses(v).map_err(|e| format!("{k}: {e}"))?;
        }
    }
    Ok(())
}

fn check_option(line: &str, env: Env) -> Result<(), String> {
    let Some((k, v)) = line.split_once(':') else {
        return Err(format!("can't parse option '{line}'"));
    };
    let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
    let ok = match (env, k.as_str()) {
        (_, "enable") => v == "0" || v == "1",
        (_, "policy_in" | "policy_out") => matches!(v, "ACCEPT" | "DROP" | "REJECT"),
        (Env::Cluster, "policy_forward") => matches!(v, "ACCEPT" | "DROP"),
        (Env::Cluster, k) if CLUSTER_OPTIONS.contains(&k) => true,
        (Env::Cluster, _) => return Err(format!("unknown option '{k}'")),
        (_, "dhcp" | "ndp" | "radv" | "macfilter" | "ipfilter" | "ips") => v == "0" || v == "1",
        (_, "log_level_in" | "log_level_out") => v.is_empty() || LOG_LEVELS.contains(&v),
        (_, "ips_queues" | "layer2_protocols") => !v.is_empty(),
        _ => return Err(format!("can't parse option '{line}'")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid value '{v}' for option '{k}'"))
    }
}

/// Every problem-free line of a firewall file, or the first problem as pve-firewall words it
/// (`<name> (line N): ...`). `cluster`: `cluster.fw` (options, rules, groups, IP sets,
/// aliases); else a guest's file.
pub fn check_file(name: &str, text: &str, cluster: bool) -> Result<(), String> {
    /// Where a line is.
    enum Section {
        None,
        Options,
        Rules(Env),
        /// IP sets and aliases: not checked.
        Other,
    }
    let env = if cluster { Env::Cluster } else { Env::Guest };
    let mut section = Section::None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let at = || format!("{name} (line {})", i + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(h) = line.strip_prefix('[') {
            let h = h
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            section = match h.split_whitespace().next().unwrap_or("") {
                "options" => Section::Options,
                "rules" => Section::Rules(env),
                "group" if cluster => Section::Rules(Env::Group),
                "ipset" | "aliases" => Section::Other,
                _ => return Err(format!("{}: unknown section '[{h}]'", at())),
            };
            continue;
        }
        match section {
            Section::Options => check_option(line, env).map_err(|e| format!("{}: {e}", at()))?,
            Section::Rules(e) => check_rule(line, e)
                .map_err(|err| format!("{}: errors in rule parameters: {line}\n  {err}", at()))?,
            Section::Other => {}
            Section::None => return Err(format!("{}: skip line - no section", at())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_proxmox_accepts() {
        for ok in [
            "IN ACCEPT -p tcp -dport 80",
            "IN SSH(ACCEPT) -i net0 # a comment",
            "|IN ACCEPT -source 10.0.0.1-10.0.0.10 -p tcp -dport 22",
            "IN ACCEPT -source 10.0.0.0/24 -dest 10.0.0.13 -p udp -dport 53 # phoenix: DNS",
            "OUT ACCEPT -dest 10.0.0.153 -p tcp -dport 443,8000:8010",
            "IN ACCEPT -source +management -p tcp -dport 8006",
            "IN DROP",
            "GROUP webserver",
            "IN REJECT -p icmp -log nolog",
        ] {
            assert_eq!(check_rule(ok, Env::Guest), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rules_proxmox_leaves_out() {
        for bad in [
            "IN ACCEPT -dport 80",
            "IN ALLOW -p tcp",
            "IN ACCEPT -p icmp -dport 80",
            "IN ACCEPT -source 10.0.0.1-10.0.0.9,10.0.0.20 -p tcp",
            "IN ACCEPT -source 10.0.0.1,fd00::1",
            "IN ACCEPT -p tcp -dport 90:80",
            "IN ACCEPT -i vmbr0",
            "IN ACCEPT iface net0",
            "FORWARD ACCEPT",
            "IN Bogus(ACCEPT)",
        ] {
            assert!(check_rule(bad, Env::Guest).is_err(), "{bad}");
        }
        assert!(check_rule("IN ACCEPT -i vmbr0", Env::Cluster).is_ok());
        assert!(check_rule("GROUP x1", Env::Group).is_err());
    }

    #[test]
    fn files_section_by_section() {
        let cluster = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n[RULES]\nIN ACCEPT -p tcp -dport 80 # phoenix\n\n[IPSET management]\n10.0.0.5\n\n[group web]\nIN ACCEPT -p tcp -dport 443\n";
        assert_eq!(check_file("cluster.fw", cluster, true), Ok(()));
        assert!(check_file("cluster.fw", "[OPTIONS]\nenable: yes\n", true).is_err());
        assert!(check_file("cluster.fw", "[OPTIONS]\nbogus: 1\n", true).is_err());
        let e = check_file("cluster.fw", "[RULES]\nIN ACCEPT -dport 53\n", true).unwrap_err();
        assert!(
            e.contains("cluster.fw (line 2): errors in rule parameters"),
            "{e}"
        );
        assert_eq!(
            check_file("1001.fw", "[OPTIONS]\nenable: 1\n\n[RULES]\nOUT ACCEPT -dest 10.0.0.153 -p tcp -dport 443 # gw\n", false),
            Ok(())
        );
        assert!(check_file("1001.fw", "[OPTIONS]\npolicy_forward: DROP\n", false).is_err());
    }
}
