//! What the config wants, in Proxmox's own terms: the checked [`Lxc`] (with
//! `proxmox_defaults.lxc` already merged by the config) mapped to `pct.conf` keys and values.
//!
//! Translating once, here, lets creation (`pct create` options), comparison (`diff.rs`) and the
//! documentation table in docs/lxc.md share one mapping. Only keys the config (or
//! `proxmox_defaults.lxc`) specifies are managed; everything else is left as Proxmox has it.

use phoenix_config::Lxc;

/// The desired configuration of one container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Desired {
    /// Plain options as `(conf key, value)`, in `pct` option order.
    pub plain: Vec<(String, String)>,
    /// `unprivileged`: only settable at creation.
    pub unprivileged: Option<bool>,
    /// Raw `lxc.*` lines `(key, value)`, written into the conf file.
    pub raw: Vec<(String, String)>,
    /// Root file system: storage and size in GiB.
    pub rootfs: Option<(String, u64)>,
}

/// Builds the desired configuration of `lxc` (the config has merged `proxmox_defaults.lxc`).
pub fn build(lxc: &Lxc) -> Desired {
    let mut d = Desired::default();
    let mut put = |k: &str, v: String| d.plain.push((k.to_string(), v));
    put("hostname", lxc.name.to_string());
    if let Some(m) = lxc.memory_mb {
        put("memory", m.to_string());
    }
    if let Some(s) = lxc.swap_mb {
        put("swap", s.to_string());
    }
    if let Some(c) = lxc.cores {
        put("cores", c.to_string());
    }
    if let Some(f) = features(lxc) {
        put("features", f);
    }
    if let Some(b) = lxc.start_at_boot {
        put("onboot", bool01(b));
    }
    if let Some(s) = startup(lxc) {
        put("startup", s);
    }
    if let Some(n) = net0(lxc) {
        put("net0", n);
    }
    if !lxc.nameservers.is_empty() {
        let ns: Vec<String> = lxc.nameservers.iter().map(|a| a.to_string()).collect();
        put("nameserver", ns.join(" "));
    }
    d.unprivileged = lxc.unprivileged;
    d.raw = raw_lines(lxc);
    d.rootfs = match (&lxc.storage_pool, lxc.storage_size_gb) {
        (Some(p), Some(s)) => Some((p.to_string(), s)),
        _ => None,
    };
    d
}

pub fn bool01(b: bool) -> String {
    if b { "1" } else { "0" }.to_string()
}

/// `features:` from `pct_options` (the config fills in `proxmox_defaults.lxc.features`);
/// `None` leaves it alone.
fn features(lxc: &Lxc) -> Option<String> {
    (!lxc.pct_options.is_empty()).then(|| lxc.pct_options.join(","))
}

/// `startup: order=N,up=N` from `boot_order` / `boot_delay`.
fn startup(lxc: &Lxc) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(o) = lxc.boot_order {
        parts.push(format!("order={o}"));
    }
    if let Some(u) = lxc.boot_delay {
        parts.push(format!("up={u}"));
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// `net0` from `network_config`, `mac_address` and whether the firewall is enabled.
pub fn net0(lxc: &Lxc) -> Option<String> {
    let n = lxc.network_config.as_ref()?;
    let mut s = format!("name={},bridge={}", n.name, n.bridge);
    if let Some(mac) = &lxc.mac_address {
        s.push_str(&format!(",hwaddr={mac}"));
    }
    s.push_str(&format!(",ip={}", n.ip));
    if let Some(gw) = &n.gw {
        s.push_str(&format!(",gw={gw}"));
    }
    if let Some(tag) = n.tag {
        s.push_str(&format!(",tag={tag}"));
    }
    if let Some(fw) = &lxc.firewall {
        s.push_str(&format!(",firewall={}", bool01(fw.enabled)));
    }
    Some(s)
}

/// LXC's nesting support under a custom AppArmor profile (`apparmor_manages_nesting`).
pub const NESTING: [(&str, &str); 2] = [
    ("lxc.apparmor.allow_nesting", "1"),
    ("lxc.include", "/usr/share/lxc/config/nesting.conf"),
];

/// Raw lines: `lxc_options`, plus `lxc.apparmor.profile` from `apparmor_profile` unless an
/// `lxc_options` entry already sets it (with LXC's nesting support when a custom profile has
/// `apparmor_manages_nesting`), plus the whole ID map from `id_maps`
/// (`Lxc::full_id_map`) unless `lxc_options` gives `lxc.idmap` lines itself.
pub fn raw_lines(lxc: &Lxc) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = lxc
        .lxc_options
        .iter()
        .map(|o| (o.key.clone(), o.value.clone()))
        .collect();
    if !out.iter().any(|(k, _)| k == "lxc.idmap") {
        out.extend(
            lxc.full_id_map()
                .iter()
                .map(|m| ("lxc.idmap".to_string(), m.to_string())),
        );
    }
    if let Some(p) = &lxc.apparmor_profile {
        if !out.iter().any(|(k, _)| k == "lxc.apparmor.profile") {
            out.push(("lxc.apparmor.profile".to_string(), p.to_string()));
        }
        // A custom profile that manages nesting itself: the old tool added LXC's nesting
        // support (unconfined containers need nothing).
        if lxc.apparmor_manages_nesting == Some(true) && p.as_str() != "unconfined" {
            for (k, v) in NESTING {
                if !out.iter().any(|(ok, _)| ok == k) {
                    out.push((k.to_string(), v.to_string()));
                }
            }
        }
    }
    let mut seen: Vec<(String, String)> = Vec::new();
    for kv in out {
        if !seen.contains(&kv) {
            seen.push(kv);
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use phoenix_config::model::lxc::{LxcNetwork, LxcOption};
    use phoenix_config::model::Firewall;
    use phoenix_config::types::FileName;

    fn opt(key: &str, value: &str) -> LxcOption {
        LxcOption {
            key: key.into(),
            value: value.into(),
        }
    }

    fn sample() -> Lxc {
        Lxc {
            name: "web".parse().expect("name"),
            memory_mb: Some(2048),
            cores: Some(2),
            start_at_boot: Some(true),
            boot_order: Some(3),
            boot_delay: Some(5),
            mac_address: Some("52:54:00:aa:bb:cc".parse().expect("mac")),
            network_config: Some(LxcNetwork {
                name: "eth0".parse().expect("if"),
                bridge: "vmbr0".parse().expect("bridge"),
                ip: "10.0.0.5/24".parse().expect("ip"),
                gw: Some("10.0.0.1".parse().expect("gw")),
                tag: None,
            }),
            firewall: Some(Firewall {
                enabled: true,
                ..Default::default()
            }),
            pct_options: vec!["nesting=1".into(), "keyctl=1".into()],
            lxc_options: vec![opt(
                "lxc.mount.entry",
                "/dev/fuse dev/fuse none bind,create=file",
            )],
            apparmor_profile: Some("unconfined".parse().expect("profile")),
            ..Default::default()
        }
    }

    #[test]
    fn net0_and_startup_are_proxmox_strings() {
        let l = sample();
        assert_eq!(net0(&l).as_deref(), Some("name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.5/24,gw=10.0.0.1,firewall=1"));
        assert_eq!(startup(&l).as_deref(), Some("order=3,up=5"));
        assert_eq!(features(&l).as_deref(), Some("nesting=1,keyctl=1"));
    }

    #[test]
    fn raw_lines_add_apparmor_once() {
        let mut l = sample();
        let r = raw_lines(&l);
        assert_eq!(
            r[0],
            (
                "lxc.mount.entry".into(),
                "/dev/fuse dev/fuse none bind,create=file".into()
            )
        );
        assert_eq!(r[1], ("lxc.apparmor.profile".into(), "unconfined".into()));
        l.lxc_options
            .push(opt("lxc.apparmor.profile", "unconfined"));
        assert_eq!(raw_lines(&l).len(), 2);
    }

    #[test]
    fn a_custom_profile_managing_nesting_gets_lxc_nesting_support() {
        let mut l = sample();
        l.apparmor_manages_nesting = Some(true);
        assert_eq!(raw_lines(&l).len(), 2, "unconfined needs nothing");
        l.apparmor_profile = Some(FileName::new("lxc-phoenix-v2", "profile").expect("name"));
        let r = raw_lines(&l);
        assert_eq!(
            &r[2..],
            &[
                ("lxc.apparmor.allow_nesting".into(), "1".into()),
                (
                    "lxc.include".into(),
                    "/usr/share/lxc/config/nesting.conf".into()
                )
            ]
        );
        l.apparmor_manages_nesting = None;
        assert_eq!(raw_lines(&l).len(), 2);
    }
}
