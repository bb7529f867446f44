//! Raw `lxc.*` lines of a container's config file, which `pct set` does not accept. Added
//! through the `pve` conf API so every other line stays byte-identical; never duplicated.
//! The ID map is the exception: its lines only mean something together (LXC maps nothing by
//! default once one is given), so the config's `lxc.idmap` lines replace the file's as a set.

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
    "lxc.include",
    "lxc.hook.pre-start",
    "lxc.hook.mount",
    "lxc.hook.start",
    "lxc.hook.post-stop",
];

/// Raw keys whose lines the config gives as a whole, in order: the file's are replaced.
pub const EXACT: &[&str] = &["lxc.idmap"];

/// The values of exact key `k` in `raw`, and whether the file's differ (`Some`: the file's).
fn exact_differs(conf: &Conf, raw: &[(String, String)], k: &str) -> Option<Vec<String>> {
    let want: Vec<&str> = raw
        .iter()
        .filter(|(rk, _)| rk == k)
        .map(|(_, v)| v.as_str())
        .collect();
    if want.is_empty() {
        return None;
    }
    let have = present(conf, k);
    (have != want).then_some(have)
}

/// Replaces the exact keys' lines of `conf` where they differ from `raw`; the keys replaced.
fn apply_exact(conf: &mut Conf, raw: &[(String, String)]) -> Vec<&'static str> {
    let mut done = Vec::new();
    for k in EXACT {
        if exact_differs(conf, raw, k).is_none() {
            continue;
        }
        conf.main_mut().delete(k);
        for (_, v) in raw.iter().filter(|(rk, _)| rk == k) {
            conf.main_mut().add_lxc(k, v);
        }
        done.push(*k);
    }
    done
}

/// What adding `raw` to `conf` changes: multi-valued keys when that exact value is missing,
/// single-valued keys when missing or different, exact keys ([`EXACT`]) when their lines
/// differ.
pub fn missing(conf: &Conf, raw: &[(String, String)]) -> Vec<Change> {
    let mut c = conf.clone();
    let mut out = Vec::new();
    for k in EXACT {
        if let Some(have) = exact_differs(conf, raw, k) {
            let want: Vec<&str> = raw
                .iter()
                .filter(|(rk, _)| rk == k)
                .map(|(_, v)| v.as_str())
                .collect();
            let have = (!have.is_empty()).then(|| have.join("; "));
            out.push(Change::new(*k, have.as_deref(), Some(&want.join("; "))));
        }
    }
    for (k, v) in raw.iter().filter(|(k, _)| !EXACT.contains(&k.as_str())) {
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
    let exact = apply_exact(conf, raw);
    let mut out: Vec<String> = raw
        .iter()
        .filter(|(k, _)| exact.contains(&k.as_str()))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    out.extend(
        raw.iter()
            .filter(|(k, _)| !EXACT.contains(&k.as_str()))
            .filter(|(k, v)| apply_one(conf, k, v))
            .map(|(k, v)| format!("{k}: {v}")),
    );
    out
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

    #[test]
    fn id_maps_replace_the_files_as_a_set() {
        let mut c =
            Conf::parse("arch: amd64\nlxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 65536\n");
        let idmap = |v: &str| ("lxc.idmap".to_string(), v.to_string());
        let raw = vec![
            idmap("u 0 100000 65536"),
            idmap("g 0 100000 33"),
            idmap("g 33 33 1"),
            idmap("g 34 100034 65502"),
        ];
        let m = missing(&c, &raw);
        assert_eq!(m.len(), 1);
        assert_eq!(apply(&mut c, &raw).len(), 4);
        assert_eq!(
            c.to_string(),
            "arch: amd64\nlxc.idmap: u 0 100000 65536\nlxc.idmap: g 0 100000 33\nlxc.idmap: g 33 33 1\nlxc.idmap: g 34 100034 65502\n"
        );
        assert!(missing(&c, &raw).is_empty());
        assert!(apply(&mut c, &raw).is_empty());
        // No idmap in the config: the file's lines are left alone.
        assert!(missing(&c, &[]).is_empty());
    }
}
