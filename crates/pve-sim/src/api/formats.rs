//! Named formats of the API schema (`format => 'pve-vmid'`): apidata.js gives only their names,
//! so their checks are written here after the verifiers registered in pve-common
//! (`PVE::JSONSchema`), pve-storage and qemu-server, with the same messages. Formats Phoenix
//! never sends are accepted unchecked (listed in docs/simulator.md).

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Mutex, OnceLock};

/// `PVE::JSONSchema::parse_boolean`.
pub fn parse_boolean(s: &str) -> Option<&'static str> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Some("1"),
        "0" | "off" | "no" | "false" => Some("0"),
        _ => None,
    }
}

/// Whether `value` matches the Perl pattern `^(?:pat)$`. A pattern the regex crate cannot
/// compile (look-around) accepts every value.
pub fn matches_pattern(pat: &str, value: &str) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let Ok(mut c) = cache.lock() else {
        return true;
    };
    let re = c
        .entry(pat.to_string())
        .or_insert_with(|| regex::Regex::new(&format!("^(?:{pat})$")).ok());
    re.as_ref().is_none_or(|r| r.is_match(value))
}

/// `PVE::Tools::split_list`: separators are commas, semicolons, white space and NUL.
fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| c == ',' || c == ';' || c == '\0' || c.is_whitespace())
        .filter(|p| !p.is_empty())
}

/// Checks `s` against the named format; `Err` carries the verifier's message.
pub fn check_named(name: &str, s: &str) -> Result<(), String> {
    if let Some(base) = name.strip_suffix("-list") {
        for item in split_list(s) {
            check_one(base, item)?;
        }
        return Ok(());
    }
    if let Some(base) = name.strip_suffix("-opt") {
        return if s.is_empty() {
            Ok(())
        } else {
            check_one(base, s)
        };
    }
    check_one(name, s)
}

fn check_one(name: &str, s: &str) -> Result<(), String> {
    let ok = |b: bool, msg: String| if b { Ok(()) } else { Err(msg) };
    match name {
        "pve-vmid" => ok(vmid(s), "value does not look like a valid VM ID".into()),
        "pve-node" => ok(
            dns_label(s),
            "value does not look like a valid node name".into(),
        ),
        "pve-storage-id" => parse_id(s, "storage"),
        "pve-poolid" => ok(
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c)),
            format!("pool name '{s}' contains invalid characters"),
        ),
        "pve-bridge-id" => ok(
            !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || "-_.".contains(c)),
            format!("invalid bridge ID '{s}'"),
        ),
        "pve-configid" => ok(configid(s), format!("invalid configuration ID '{s}'")),
        "mac-addr" => ok(
            mac(s),
            "value does not look like a valid unicast MAC address".into(),
        ),
        "ipv4" => ok(
            s.parse::<Ipv4Addr>().is_ok(),
            "value does not look like a valid IPv4 address".into(),
        ),
        "ipv6" => ok(
            s.parse::<Ipv6Addr>().is_ok(),
            "value does not look like a valid IPv6 address".into(),
        ),
        "ip" => ok(
            s.parse::<std::net::IpAddr>().is_ok(),
            "value does not look like a valid IP address".into(),
        ),
        "CIDRv4" => ok(
            cidr4(s),
            "value does not look like a valid IPv4 CIDR network".into(),
        ),
        "CIDRv6" => ok(
            cidr6(s),
            "value does not look like a valid IPv6 CIDR network".into(),
        ),
        "CIDR" => ok(
            cidr4(s) || cidr6(s),
            "value does not look like a valid CIDR network".into(),
        ),
        "pve-ipv4-config" => ok(
            s == "dhcp" || s == "manual" || cidr4(s),
            "value does not look like a valid ipv4 network configuration".into(),
        ),
        "pve-ipv6-config" => ok(
            s == "dhcp" || s == "manual" || s == "auto" || cidr6(s),
            "value does not look like a valid ipv6 network configuration".into(),
        ),
        "dns-name" => ok(
            dns_name(s),
            "value does not look like a valid DNS name".into(),
        ),
        "address" => ok(
            dns_name(s) || s.parse::<std::net::IpAddr>().is_ok(),
            format!("value does not look like a valid address: {s}"),
        ),
        "disk-size" => ok(
            disk_size(s),
            format!("value does not look like a valid disk size: {s}"),
        ),
        "urlencoded" => ok(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-%_.!~*'()".contains(c)),
            format!("invalid urlencoded string: {s}"),
        ),
        "pve-volume-id" => ok(volume_id(s), format!("unable to parse volume ID '{s}'")),
        "pve-volume-id-or-absolute-path" => ok(
            s.starts_with('/') || volume_id(s),
            format!("unable to parse volume ID '{s}'"),
        ),
        "pve-volume-id-or-qm-path" => ok(
            s == "none" || s == "cdrom" || s.starts_with('/') || volume_id(s),
            format!("unable to parse volume ID '{s}'"),
        ),
        "pve-startup-order" => ok(startup(s), "unable to parse startup options".into()),
        "pve-tag" => ok(
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_+.".contains(c)),
            "invalid characters in tag".into(),
        ),
        _ => Ok(()),
    }
}

fn vmid(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=9).contains(&b.len()) && b[0] != b'0' && b.iter().all(u8::is_ascii_digit)
}

fn dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn dns_name(s: &str) -> bool {
    s.split('.').all(dns_label)
}

/// `PVE::JSONSchema::parse_id`.
fn parse_id(s: &str, kind: &str) -> Result<(), String> {
    if s.chars().count() < 2 {
        return Err(format!(
            "{kind} ID '{s}' cannot be shorter than 2 characters"
        ));
    }
    let first = s.starts_with(|c: char| c.is_ascii_alphabetic());
    let last = s.ends_with(|c: char| c.is_ascii_alphanumeric());
    let body = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if first && last && body {
        Ok(())
    } else {
        Err(format!("{kind} ID '{s}' contains illegal characters"))
    }
}

/// `$CONFIGID_RE`: `[a-z][a-z0-9_-]+`.
fn configid(s: &str) -> bool {
    s.len() >= 2
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
}

/// Unicast MAC (`[a-f0-9][02468ace](?::[a-f0-9]{2}){5}`, case-insensitive).
fn mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        && u8::from_str_radix(parts[0], 16).is_ok_and(|b| b & 1 == 0)
}

fn cidr4(s: &str) -> bool {
    s.split_once('/').is_some_and(|(ip, m)| {
        ip.parse::<Ipv4Addr>().is_ok()
            && m.parse::<u8>().is_ok_and(|m| m <= 32)
            && !m.starts_with('+')
    })
}

fn cidr6(s: &str) -> bool {
    s.split_once('/').is_some_and(|(ip, m)| {
        ip.parse::<Ipv6Addr>().is_ok()
            && m.parse::<u8>().is_ok_and(|m| m <= 128)
            && !m.starts_with('+')
    })
}

/// `PVE::JSONSchema::parse_size`: `^(\d+(\.\d+)?)([KMGT](?:iB)?)?$`.
fn disk_size(s: &str) -> bool {
    let num = s
        .strip_suffix("iB")
        .filter(|r| r.ends_with(['K', 'M', 'G', 'T']))
        .map(|r| &r[..r.len() - 1])
        .or_else(|| s.strip_suffix(['K', 'M', 'G', 'T']))
        .unwrap_or(s);
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    match num.split_once('.') {
        Some((a, b)) => digits(a) && digits(b),
        None => digits(num),
    }
}

/// `PVE::Storage::parse_volume_id`: `STORAGE:NAME`, storage id as `parse_id`.
fn volume_id(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(store, name)| parse_id(store, "storage").is_ok() && !name.is_empty())
}

/// `[[order=]\d+] [,up=\d+] [,down=\d+]`.
fn startup(s: &str) -> bool {
    let mut seen_default = false;
    s.split(',').filter(|p| !p.is_empty()).all(|part| {
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        match part.split_once('=') {
            Some(("order" | "up" | "down", v)) => digits(v),
            Some(_) => false,
            None if !seen_default => {
                seen_default = true;
                digits(part)
            }
            None => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_formats() {
        assert!(check_named("pve-vmid", "950").is_ok());
        assert_eq!(
            check_named("pve-vmid", "95").unwrap_err(),
            "value does not look like a valid VM ID"
        );
        assert_eq!(
            check_named("pve-storage-id", "x").unwrap_err(),
            "storage ID 'x' cannot be shorter than 2 characters"
        );
        assert_eq!(
            check_named("pve-storage-id", "a/b").unwrap_err(),
            "storage ID 'a/b' contains illegal characters"
        );
        assert!(check_named("pve-configid-list", "net0,mp1 cores").is_ok());
        assert!(check_named("pve-configid-list", "net0,NET1").is_err());
        assert!(check_named("mac-addr", "BC:24:11:00:AA:01").is_ok());
        assert!(check_named("mac-addr", "01:24:11:00:AA:01").is_err());
        assert!(check_named("pve-ipv4-config", "10.0.0.2/24").is_ok());
        assert!(
            check_named("disk-size", "32G").is_ok() && check_named("disk-size", "1.5TiB").is_ok()
        );
        assert!(check_named("disk-size", "+2G").is_err());
        assert!(check_named("pve-volume-id-or-qm-path", "local-zfs:vm-100-disk-0").is_ok());
        assert!(check_named("pve-startup-order", "order=2,up=30").is_ok());
        assert!(check_named("pve-startup-order", "first").is_err());
        assert!(matches_pattern("[1-9][0-9]{2,8}-\\d{1,9}", "100-1"));
        assert!(!matches_pattern("[1-9][0-9]{2,8}-\\d{1,9}", "x100-1"));
    }
}
