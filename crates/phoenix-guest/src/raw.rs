//! Raw `lxc.*` lines of a container's config file, which `pct set` does not accept. Added
//! through the `pve` conf API so every other line stays byte-identical; never duplicated.

use phoenix_report::Change;
use pve::Conf;

/// Raw `lxc.*` keys that may appear several times in a conf (each value is its own line).
pub const MULTI_VALUED: &[&str] = &[
    "lxc.cgroup2.devices.allow",
    "lxc.cgroup2.devices.deny",
    "lxc.cgroup.devices.allow",
    "lxc.cgroup.devices.deny",
    "lxc.mount.entry",
    "lxc.environment",
    "lxc.idmap",
    "lxc.hook.pre-start",
    "lxc.hook.mount",
    "lxc.hook.start",
    "lxc.hook.post-stop",
];

/// What adding `raw` to `conf` changes: multi-valued keys when that exact value is missing,
/// single-valued keys when missing or different.
pub fn missing(conf: &Conf, raw: &[(String, String)]) -> Vec<Change> {
    let mut c = conf.clone();
    let mut out = Vec::new();
    for (k, v) in raw {
        let first = present(&c, k).into_iter().next();
        if apply_one(&mut c, k, v) {
            let live = if MULTI_VALUED.contains(&k.as_str()) {
                None
            } else {
                first
            };
            out.push(Change::new(k.clone(), live.as_deref(), Some(v)));
        }
    }
    out
}

fn present(conf: &Conf, k: &str) -> Vec<String> {
    conf.lxc_entries()
        .iter()
        .filter(|(ck, _)| *ck == k)
        .map(|(_, cv)| cv.to_string())
        .collect()
}

fn apply_one(conf: &mut Conf, k: &str, v: &str) -> bool {
    let present = present(conf, k);
    if MULTI_VALUED.contains(&k) {
        if present.iter().any(|p| p == v) {
            return false;
        }
        conf.main_mut().add_lxc(k, v);
        return true;
    }
    if present.first().map(String::as_str) == Some(v) {
        return false;
    }
    if present.is_empty() {
        conf.main_mut().add_lxc(k, v);
    } else {
        conf.set(k, v);
    }
    true
}

/// Adds `raw` to `conf`; the lines added (`key: value`).
pub fn apply(conf: &mut Conf, raw: &[(String, String)]) -> Vec<String> {
    raw.iter()
        .filter(|(k, v)| apply_one(conf, k, v))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "arch: amd64\nhostname: web\nlxc.apparmor.profile: unconfined\n";

    #[test]
    fn raw_lines_are_added_once_and_others_untouched() {
        let mut c = Conf::parse(CONF);
        let raw = vec![
            ("lxc.apparmor.profile".to_string(), "unconfined".to_string()),
            ("lxc.cgroup2.devices.allow".to_string(), "a".to_string()),
            ("lxc.mount.auto".to_string(), "sys:rw".to_string()),
        ];
        assert_eq!(missing(&c, &raw).len(), 2);
        assert_eq!(apply(&mut c, &raw).len(), 2);
        let text = c.to_string();
        assert!(text.starts_with(&CONF[..CONF.len() - 1]));
        assert!(apply(&mut c, &raw).is_empty());
        assert!(missing(&c, &raw).is_empty());
        assert_eq!(c.to_string(), text);
        assert_eq!(text.matches("lxc.cgroup2.devices.allow: a").count(), 1);
    }
}
