//! `ifreload -a` (ifupdown2): reads `/etc/network/interfaces` and the files it sources from
//! `interfaces.d/`, and refuses what ifupdown2 refuses in the stanzas Phoenix writes: an
//! `iface` line without a known method, an `address` that is not an address with prefix, a
//! `gateway` or name server that is not an address. Other options (bridge ports, MTU...) pass.

use super::state::Host;
use super::Out;

fn ip(v: &str) -> bool {
    v.parse::<std::net::IpAddr>().is_ok()
}

fn cidr(v: &str) -> bool {
    v.split_once('/').is_some_and(|(a, p)| {
        let max = if a.contains(':') { 128 } else { 32 };
        ip(a) && p.parse::<u8>().is_ok_and(|p| p <= max)
    })
}

/// The first problem of one interfaces file, as `error: <file>: line N: ...`.
pub fn check(name: &str, text: &str) -> Result<(), String> {
    let mut in_iface = false;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        let err = |m: String| Err(format!("error: {name}: line {}: {m}", i + 1));
        match w[0] {
            "iface" => {
                if w.len() < 4
                    || !matches!(w[2], "inet" | "inet6")
                    || !matches!(w[3], "static" | "manual" | "dhcp" | "loopback" | "auto")
                {
                    return err(format!("invalid iface line '{line}'"));
                }
                in_iface = true;
            }
            "auto" | "allow-hotplug" | "source" | "source-directory" => in_iface = false,
            "address" if in_iface => {
                if w.len() != 2 || !cidr(w[1]) {
                    return err(format!("invalid address '{}'", w[1..].join(" ")));
                }
            }
            "gateway" if in_iface => {
                if w.len() != 2 || !ip(w[1]) {
                    return err(format!("invalid gateway '{}'", w[1..].join(" ")));
                }
            }
            "dns-nameservers" if in_iface => {
                if w.len() < 2 || !w[1..].iter().all(|a| ip(a)) {
                    return err(format!("invalid dns-nameservers '{}'", w[1..].join(" ")));
                }
            }
            _ if in_iface => {}
            other => return err(format!("unknown keyword '{other}' outside an iface stanza")),
        }
    }
    Ok(())
}

/// `ifreload -a`.
pub fn ifreload(h: &mut Host, a: &[String]) -> Out {
    if !a.iter().any(|x| x == "-a" || x == "--all") {
        return Out::err(1, "pve-sim: ifreload -a (all interfaces) only");
    }
    let main = h.host_path("/etc/network/interfaces");
    let mut files = vec![main];
    if let Ok(rd) = std::fs::read_dir(h.host_path("/etc/network/interfaces.d")) {
        let mut more: Vec<_> = rd.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        if let Err(e) = check(&f.display().to_string(), &text) {
            return Out::err(1, e);
        }
    }
    Out::changed("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_as_ifupdown2_reads_them() {
        let ok = "auto vmbr0\niface vmbr0 inet static\n    address 10.0.0.13/24\n    gateway 10.0.0.1\n    bridge-ports eno1\n    dns-nameservers 10.0.0.153 8.8.8.8\n\nsource /etc/network/interfaces.d/*\n";
        assert_eq!(check("i", ok), Ok(()));
        assert!(check("i", "iface vmbr0 inet static\n address 10.0.0.13\n").is_err());
        assert!(check("i", "iface vmbr0 inet bogus\n").is_err());
        assert!(check("i", "iface vmbr0 inet static\n gateway x\n").is_err());
        assert!(check("i", "address 10.0.0.1/24\n").is_err());
    }
}
