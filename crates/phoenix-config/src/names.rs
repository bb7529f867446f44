//! Format checks for values that reach `pct`/`qm` argv, property strings, conf files, file
//! paths or shell scripts. Each returns a message saying what is expected.

type Check = Result<(), String>;

fn no_control(v: &str, what: &str) -> Check {
    if v.chars().any(|c| c.is_control()) {
        return Err(format!(
            "{what} {v:?} contains a control character (newline, tab, ...)"
        ));
    }
    Ok(())
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens (Proxmox `dns-name`).
pub fn hostname(v: &str) -> Check {
    let bad = || {
        Err(format!("'{}' is not a valid host name; expected DNS labels of letters, digits and inner hyphens (e.g. vllm-qwen-7b)", v.escape_debug()))
    };
    if v.is_empty() || v.len() > 253 {
        return bad();
    }
    for label in v.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return bad();
        }
    }
    Ok(())
}

/// A feature (or set-up step) name: it becomes part of a script file name.
pub fn feature(v: &str) -> Check {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        Ok(())
    } else {
        Err(format!(
            "feature name '{}' is not allowed; expected [a-z0-9_-]+",
            v.escape_debug()
        ))
    }
}

/// A plain file name (no folder part), for scripts, images and profiles.
pub fn file_name(v: &str, what: &str) -> Check {
    let ok = !v.is_empty()
        && v.len() <= 255
        && !v.starts_with('.')
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!("{what} '{}' must be a plain file name of [A-Za-z0-9._+-] (no '/', no '..', no leading '.')", v.escape_debug()))
    }
}

/// A relative path below a known folder, without `..`.
pub fn rel_path(v: &str) -> Check {
    let ok = !v.is_empty()
        && !v.starts_with('/')
        && v.split('/')
            .all(|seg| !seg.is_empty() && seg != ".." && seg != ".")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' must be a relative path of [A-Za-z0-9._-] segments without '..'",
            v.escape_debug()
        ))
    }
}

/// An absolute path that is safe inside a property string (`mp=/data`).
pub fn abs_path(v: &str) -> Check {
    no_control(v, "path")?;
    let ok = v.starts_with('/')
        && !v.split('/').any(|seg| seg == "..")
        && !v.contains(',')
        && !v.contains('=')
        && !v.contains(' ');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{v}' must be an absolute path without '..', ',', '=' or spaces"
        ))
    }
}

/// A Proxmox storage ID (`pve-storage-id`).
pub fn storage_id(v: &str) -> Check {
    let b = v.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!("'{}' is not a Proxmox storage ID; expected a letter, then letters, digits, '-', '_' or '.'", v.escape_debug()))
    }
}

/// A ZFS pool or dataset name component.
pub fn zfs_name(v: &str) -> Check {
    let ok = !v.is_empty()
        && v.as_bytes()[0].is_ascii_alphanumeric()
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!("'{}' is not a valid ZFS name", v.escape_debug()))
    }
}

/// A snapshot name (Proxmox `pve-configid`: a letter, then letters, digits, `_` or `-`).
pub fn snapshot(v: &str) -> Check {
    let b = v.as_bytes();
    let ok = b.len() >= 2
        && b.len() <= 40
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!("snapshot name '{}' is not allowed; expected a letter then [A-Za-z0-9_-], 2-40 characters", v.escape_debug()))
    }
}

/// A network interface or bridge name.
pub fn interface(v: &str) -> Check {
    let ok = !v.is_empty()
        && v.len() <= 15
        && v.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not an interface name; expected up to 15 of [A-Za-z0-9._-]",
            v.escape_debug()
        ))
    }
}

/// An IP address.
pub fn ip_address(v: &str) -> Check {
    ip(v).map(|_| ())
}

/// An IP address, parsed.
pub fn ip(v: &str) -> Result<std::net::IpAddr, String> {
    v.parse()
        .map_err(|_| format!("'{}' is not an IP address", v.escape_debug()))
}

/// `dhcp`, `manual`, or an address with a prefix length (`10.0.0.150/24`).
pub fn ip_config(v: &str) -> Check {
    if v == "dhcp" || v == "manual" || v == "auto" {
        return Ok(());
    }
    let bad = || {
        Err(format!(
            "'{}' is not an address with prefix (10.0.0.150/24), 'dhcp' or 'manual'",
            v.escape_debug()
        ))
    };
    let Some((addr, prefix)) = v.split_once('/') else {
        return bad();
    };
    match (addr.parse::<std::net::IpAddr>(), prefix.parse::<u8>()) {
        (Ok(std::net::IpAddr::V4(_)), Ok(p)) if p <= 32 => Ok(()),
        (Ok(std::net::IpAddr::V6(_)), Ok(p)) if p <= 128 => Ok(()),
        _ => bad(),
    }
}

/// A MAC address `XX:XX:XX:XX:XX:XX`, unicast.
pub fn mac(v: &str) -> Check {
    let parts: Vec<&str> = v.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    if !ok {
        return Err(format!(
            "'{}' is not a MAC address; expected XX:XX:XX:XX:XX:XX",
            v.escape_debug()
        ));
    }
    match u8::from_str_radix(parts[0], 16) {
        Ok(first) if first & 1 == 0 => Ok(()),
        _ => Err(format!(
            "MAC address {v} is a multicast address; the first octet must be even"
        )),
    }
}

/// `none`, or GPU indices separated by commas (`"0, 1"`). Returns the indices.
pub fn gpu_assignment(v: &str) -> Result<Vec<u32>, String> {
    let t = v.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in t.split(',') {
        let p = part.trim();
        match p.parse::<u32>() {
            Ok(n) if n < 64 && p.bytes().all(|b| b.is_ascii_digit()) => {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            _ => {
                return Err(format!(
                    "gpu_assignment '{}' must be 'none' or GPU indices such as \"0, 1\"",
                    v.escape_debug()
                ))
            }
        }
    }
    Ok(out)
}

/// One entry of `pct_options`: a container feature `key=value` as `pct --features` takes it.
pub fn pct_feature(v: &str) -> Check {
    let Some((k, val)) = v.split_once('=') else {
        return Err(format!(
            "'{}' must be key=value, e.g. nesting=1",
            v.escape_debug()
        ));
    };
    match k {
        "nesting" | "keyctl" | "fuse" | "force_rw_sys" | "mknod" => {
            if ["0", "1"].contains(&val) {
                Ok(())
            } else {
                Err(format!("container feature {k} takes 0 or 1, not '{}'", val.escape_debug()))
            }
        }
        "mount" => {
            if !val.is_empty() && val.bytes().all(|b| b.is_ascii_alphanumeric() || b == b';') {
                Ok(())
            } else {
                Err(format!("container feature mount takes file system names separated by ';', not '{}'", val.escape_debug()))
            }
        }
        _ => Err(format!("'{}' is not a container feature; expected nesting, keyctl, fuse, mknod, mount or force_rw_sys", k.escape_debug())),
    }
}

/// One raw LXC option `lxc.key=value` (or `lxc.key: value`), one line.
pub fn lxc_option(v: &str) -> Check {
    no_control(v, "lxc option")?;
    // Split where the conf parser splits a line: at the first `=` or `:`.
    let pos = v
        .find(['=', ':'])
        .ok_or_else(|| format!("'{v}' must be lxc.key=value"))?;
    let k = &v[..pos];
    let k = k.trim();
    if k.starts_with("lxc.")
        && k.len() > 4
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._".contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "'{v}' must start with an lxc.* key, e.g. lxc.mount.auto=sys:rw"
        ))
    }
}

/// The `template` of a container: a volume ID, an absolute path, or a file name.
pub fn template_ref(v: &str) -> Check {
    no_control(v, "template")?;
    if v.starts_with('/') {
        return abs_path(v);
    }
    if let Some((store, rest)) = v.split_once(':') {
        storage_id(store)?;
        let name = rest.strip_prefix("vztmpl/").unwrap_or(rest);
        return file_name(name, "template");
    }
    file_name(v, "template")
}

/// A Unix user name.
pub fn unix_user(v: &str) -> Check {
    let b = v.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a valid user name; expected [a-z_][a-z0-9_-]*",
            v.escape_debug()
        ))
    }
}

/// A test suite name.
pub fn suite(v: &str) -> Check {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "suite name '{}' is not allowed; expected [A-Za-z0-9._-]+",
            v.escape_debug()
        ))
    }
}

pub fn fw_action(v: &str) -> Check {
    if ["ACCEPT", "DROP", "REJECT"].contains(&v) {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a firewall action; expected ACCEPT, DROP or REJECT",
            v.escape_debug()
        ))
    }
}

/// A firewall source/destination: address, CIDR, range, or an IP set/alias name.
pub fn fw_address(v: &str) -> Check {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"./:-,+_".contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a firewall address; expected an IP, CIDR, range or alias",
            v.escape_debug()
        ))
    }
}

/// Ports: `80`, `8000:8010`, `80,443`.
pub fn fw_ports(v: &str) -> Check {
    let ok = !v.is_empty()
        && v.split(',').all(|p| {
            p.split(':').all(|n| {
                n.parse::<u16>().is_ok()
                    || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            })
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{}' is not a port list; expected 80, 8000:8010 or 80,443",
            v.escape_debug()
        ))
    }
}

/// An `http(s)://` URL without white space or quotes.
pub fn url(v: &str) -> Check {
    let ok = (v.starts_with("https://") || v.starts_with("http://"))
        && v.len() > 8
        && !v
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'');
    if ok {
        Ok(())
    } else {
        Err(format!("'{}' is not an http(s) URL", v.escape_debug()))
    }
}

/// Comma-separated words of [A-Za-z0-9_=.:-] (mount options such as `defaults,_netdev,vers=4`).
pub fn word_list(v: &str, what: &str) -> Check {
    let ok = !v.is_empty()
        && v.split(',').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_=.:-".contains(&b))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}s '{}' must be comma-separated words of [A-Za-z0-9_=.:-]",
            v.escape_debug()
        ))
    }
}

/// A single word of [A-Za-z0-9_-].
pub fn word(v: &str, what: &str) -> Check {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-".contains(&b))
    {
        Ok(())
    } else {
        Err(format!(
            "{what} '{}' must be a single word of [A-Za-z0-9_-]",
            v.escape_debug()
        ))
    }
}

pub fn single_line(v: &str, what: &str) -> Check {
    no_control(v, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_names_are_hostnames() {
        for n in [
            "Template-Base",
            "vllm-qwen2.5-7b-awq",
            "ubuntu-2404-cloud-template",
            "Nginx-VscodeRag",
        ] {
            assert!(hostname(n).is_ok(), "{n}");
        }
        for n in ["bad name", "-x", "x-", "a;rm -rf /", "a\nb", "", "x..y"] {
            assert!(hostname(n).is_err(), "{n:?}");
        }
    }

    #[test]
    fn features_and_paths() {
        assert!(feature("base_setup").is_ok());
        assert!(feature("../etc").is_err());
        assert!(feature("Docker").is_err());
        assert!(rel_path("docker/check.sh").is_ok());
        assert!(rel_path("../x.sh").is_err());
        assert!(rel_path("/abs.sh").is_err());
        assert!(file_name("phoenix_hypervisor_lxc_952.sh", "s").is_ok());
        assert!(file_name("../x.sh", "s").is_err());
    }

    #[test]
    fn gpu_and_mac() {
        assert_eq!(gpu_assignment("0, 1").unwrap(), vec![0, 1]);
        assert_eq!(gpu_assignment("none").unwrap(), Vec::<u32>::new());
        assert!(gpu_assignment("0;1").is_err());
        assert!(mac("52:54:00:AA:BB:CC").is_ok());
        assert!(mac("53:54:00:AA:BB:CC").is_err());
    }
}
