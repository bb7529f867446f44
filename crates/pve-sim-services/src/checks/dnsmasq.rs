//! `dnsmasq --test [--conf-file=F]`: every line of the file and of the `conf-dir` files it
//! pulls in is an option dnsmasq knows, with a value of the right shape.

use std::net::IpAddr;
use std::path::Path;

use super::{glob, under};

/// Options without a value.
const FLAGS: &[&str] = &[
    "domain-needed",
    "bogus-priv",
    "strict-order",
    "stop-dns-rebind",
    "no-resolv",
    "no-hosts",
    "no-poll",
    "expand-hosts",
    "bind-interfaces",
    "bind-dynamic",
    "log-queries",
    "rebind-localhost-ok",
    "localise-queries",
    "no-negcache",
];

/// Options taking a value.
const VALUED: &[&str] = &[
    "port",
    "local",
    "server",
    "address",
    "listen-address",
    "conf-dir",
    "conf-file",
    "domain",
    "interface",
    "except-interface",
    "cache-size",
    "addn-hosts",
    "host-record",
    "cname",
    "txt-record",
    "ptr-record",
    "resolv-file",
    "log-facility",
    "user",
    "group",
    "pid-file",
];

/// Checks `conf` (absolute on the checked machine) under `root`. `Ok` holds dnsmasq's line.
pub fn test(root: &Path, conf: &str) -> Result<String, String> {
    let mut seen = 0;
    file(root, conf, &mut seen).map(|()| "dnsmasq: syntax check OK.\n".to_string())
}

fn file(root: &Path, path: &str, depth: &mut usize) -> Result<(), String> {
    *depth += 1;
    if *depth > 64 {
        return Err(format!(
            "dnsmasq: too many nested configuration files at {path}"
        ));
    }
    let text = std::fs::read_to_string(under(root, path))
        .map_err(|_| format!("dnsmasq: cannot read {path}: No such file or directory"))?;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = || format!("at line {} of {path}", i + 1);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        if FLAGS.contains(&key) {
            if value.is_some() {
                return Err(format!("dnsmasq: extraneous parameter {}", at()));
            }
            continue;
        }
        if !VALUED.contains(&key) {
            return Err(format!("dnsmasq: bad option {}", at()));
        }
        let Some(v) = value.filter(|v| !v.is_empty()) else {
            return Err(format!("dnsmasq: missing parameter {}", at()));
        };
        value_ok(key, v).map_err(|what| format!("dnsmasq: {what} {}", at()))?;
        match key {
            "conf-dir" => {
                let mut parts = v.split(',');
                let dir = parts.next().unwrap_or("");
                let suffixes: Vec<&str> = parts.filter_map(|s| s.strip_prefix('*')).collect();
                for f in glob(root, &format!("{dir}/*")) {
                    if suffixes.is_empty() || suffixes.iter().any(|s| f.ends_with(s)) {
                        file(root, &f, depth)?;
                    }
                }
            }
            "conf-file" => file(root, v, depth)?,
            _ => {}
        }
    }
    Ok(())
}

fn ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

fn domain(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '*')
        })
}

fn value_ok(key: &str, v: &str) -> Result<(), &'static str> {
    let good = match key {
        "port" | "cache-size" => v.parse::<u32>().is_ok_and(|n| n <= 65535),
        "listen-address" => v.split(',').all(ip),
        "local" => {
            v.starts_with('/') && v.ends_with('/') && v.trim_matches('/').split('/').all(domain)
        }
        // server=1.1.1.1 | server=1.1.1.1#53 | server=/dom/1.1.1.1
        "server" => {
            let target = if let Some(rest) = v.strip_prefix('/') {
                let parts: Vec<&str> = rest.rsplitn(2, '/').collect();
                if parts.len() != 2 || !parts[1].split('/').all(domain) {
                    return Err("bad domain");
                }
                parts[0]
            } else {
                v
            };
            target.is_empty() || ip(target.split('#').next().unwrap_or(""))
        }
        // address=/name[/name...]/ip
        "address" => {
            let Some(rest) = v.strip_prefix('/') else {
                return Err("bad address");
            };
            let Some((names, addr)) = rest.rsplit_once('/') else {
                return Err("bad address");
            };
            if !names.split('/').all(domain) {
                return Err("bad domain");
            }
            addr.is_empty() || ip(addr)
        }
        "host-record" => {
            let parts: Vec<&str> = v.split(',').collect();
            parts.len() >= 2 && parts.iter().any(|p| ip(p)) && domain(parts[0])
        }
        "domain" => domain(v.split(',').next().unwrap_or("")),
        _ => true,
    };
    if good {
        Ok(())
    } else if key == "address" || key == "server" || key == "listen-address" || key == "host-record"
    {
        Err("bad address")
    } else {
        Err("bad option")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, t) in files {
            let p = d.path().join(p.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        d
    }

    #[test]
    fn good_and_bad() {
        let main = "port=53\ndomain-needed\nno-resolv\nlocal=/internal.example/\nlisten-address=10.0.0.13\nserver=8.8.8.8\nconf-dir=/etc/dnsmasq.d,*.conf\n";
        let d = tree(&[
            ("/etc/dnsmasq.conf", main),
            (
                "/etc/dnsmasq.d/00-phoenix.conf",
                "address=/ca.internal.example/10.0.0.10\n",
            ),
            ("/etc/dnsmasq.d/ignored.bak", "garbage\n"),
        ]);
        assert_eq!(
            test(d.path(), "/etc/dnsmasq.conf").unwrap(),
            "dnsmasq: syntax check OK.\n"
        );
        for (line, want) in [
            (
                "address=/x.example/10.0.0.300",
                "bad address at line 1 of /etc/dnsmasq.d/00-phoenix.conf",
            ),
            ("adress=/x/1.2.3.4", "bad option at line 1"),
            ("address=", "missing parameter"),
            ("no-resolv=1", "extraneous parameter"),
            ("server=/bad domain/1.1.1.1", "bad domain"),
        ] {
            std::fs::write(d.path().join("etc/dnsmasq.d/00-phoenix.conf"), line).unwrap();
            let e = test(d.path(), "/etc/dnsmasq.conf").unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
