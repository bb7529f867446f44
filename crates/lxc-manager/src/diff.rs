//! Current conf versus desired: the smallest change that converges.
//!
//! The old tool re-set memory, cores, `onboot`, `startup` and `net0` on every run, which made
//! every run a change. Here each key is compared by meaning (property strings key by key, MAC
//! addresses case-insensitively, feature lists as sets), and all plain differences go into ONE
//! `pct set`, whose attribute diff ([`changes`]) is what the plan shows and `status` calls
//! drift. Raw `lxc.*` lines are `phoenix_guest::raw`'s.

use pve::{Conf, PropString};

use phoenix_report::Change;

use crate::desired::Desired;

/// What one `pct set` must change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetPlan {
    pub set: Vec<(String, String)>,
    pub delete: Vec<String>,
}

impl SetPlan {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.delete.is_empty()
    }

    /// `pct set <id> --k v ... [--delete a,b]`.
    pub fn argv(&self, id: &str) -> Vec<String> {
        let mut a = vec!["set".to_string(), id.to_string()];
        for (k, v) in &self.set {
            a.push(format!("--{k}"));
            a.push(v.clone());
        }
        if !self.delete.is_empty() {
            a.push("--delete".to_string());
            a.push(self.delete.join(","));
        }
        a
    }

    /// The `pct set` parameters as API parameters (`delete` comma-separated).
    pub fn params(&self) -> Vec<(String, String)> {
        let mut p = self.set.clone();
        if !self.delete.is_empty() {
            p.push(("delete".to_string(), self.delete.join(",")));
        }
        p
    }

    /// What the set changes, against `conf`: one entry per key; `net0` per managed sub-key
    /// (`net0.ip: 10.0.0.5/24 -> 10.0.0.6/24`).
    pub fn changes(&self, conf: &Conf) -> Vec<Change> {
        let mut out = Vec::new();
        for (k, v) in &self.set {
            match (k.as_str(), conf.get(k)) {
                ("net0", Some(cur)) => out.extend(net_changes(cur, v)),
                (_, cur) => out.push(Change::new(k.clone(), cur, Some(v))),
            }
        }
        for k in &self.delete {
            out.push(Change::new(k.clone(), conf.get(k), None));
        }
        out
    }

    pub fn merge(&mut self, other: SetPlan) {
        self.set.extend(other.set);
        self.delete.extend(other.delete);
    }
}

/// Plain options that differ from `conf` (merged with the current value where that keeps
/// settings the config does not manage, as for `net0`).
pub fn plain(conf: &Conf, want: &Desired) -> SetPlan {
    let mut plan = SetPlan::default();
    for (k, v) in &want.plain {
        match conf.get(k) {
            Some(cur) if same(k, cur, v) => {}
            Some(cur) if k == "net0" => plan.set.push((k.clone(), merge_prop(cur, v))),
            _ => plan.set.push((k.clone(), v.clone())),
        }
    }
    plan
}

/// Whether two values of conf key `key` mean the same.
pub fn same(key: &str, cur: &str, want: &str) -> bool {
    match key {
        "net0" => net_same(cur, want),
        "features" => set_of(cur) == set_of(want),
        "startup" => prop_map(cur) == prop_map(want),
        "onboot" | "unprivileged" => truthy(Some(cur)) == truthy(Some(want)),
        "nameserver" => cur.split_whitespace().eq(want.split_whitespace()),
        _ => cur == want,
    }
}

fn truthy(v: Option<&str>) -> bool {
    v.is_some_and(|v| pve::spec::parse_bool(v) == Some(true))
}

fn set_of(s: &str) -> std::collections::BTreeSet<String> {
    s.split([',', ';'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

fn prop_map(s: &str) -> Option<std::collections::BTreeMap<String, String>> {
    let p = PropString::parse(s).ok()?;
    Some(
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// `net0` keys Phoenix manages; anything else (`type`, `mtu`, `rate`) is Proxmox's or the user's.
const NET_KEYS: &[&str] = &["name", "bridge", "hwaddr", "ip", "gw", "tag", "firewall"];

fn net_same(cur: &str, want: &str) -> bool {
    let (Ok(c), Ok(w)) = (PropString::parse(cur), PropString::parse(want)) else {
        return cur == want;
    };
    NET_KEYS.iter().all(|k| match (*k, c.get(k), w.get(k)) {
        ("hwaddr", _, None) => true,
        ("hwaddr", Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        ("firewall", a, Some(b)) => truthy(a) == truthy(Some(b)),
        ("firewall", _, None) => true,
        (_, a, b) => a == b,
    })
}

/// The managed `net0` sub-keys that differ between `cur` and `new`.
fn net_changes(cur: &str, new: &str) -> Vec<Change> {
    let (Ok(c), Ok(w)) = (PropString::parse(cur), PropString::parse(new)) else {
        return vec![Change::new("net0", Some(cur), Some(new))];
    };
    NET_KEYS
        .iter()
        .filter(|k| match (**k, c.get(k), w.get(k)) {
            ("hwaddr" | "firewall", _, None) => false,
            ("hwaddr", Some(a), Some(b)) => !a.eq_ignore_ascii_case(b),
            ("firewall", a, b) => truthy(a) != truthy(b),
            (_, a, b) => a != b,
        })
        .map(|k| Change::new(format!("net0.{k}"), c.get(k), w.get(k)))
        .collect()
}

/// `cur` with the managed keys of `want` applied (managed keys absent from `want` removed).
fn merge_prop(cur: &str, want: &str) -> String {
    let (Ok(mut c), Ok(w)) = (PropString::parse(cur), PropString::parse(want)) else {
        return want.to_string();
    };
    for k in ["gw", "tag"] {
        if w.get(k).is_none() {
            c.remove(k);
        }
    }
    for (k, v) in w.iter() {
        c.set(k, v);
    }
    c.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "arch: amd64\nfeatures: keyctl=1,nesting=1\nhostname: web\nmemory: 2048\nnet0: name=eth0,bridge=vmbr0,hwaddr=52:54:00:aa:bb:cc,ip=10.0.0.5/24,gw=10.0.0.1,type=veth\nonboot: 1\nstartup: up=5,order=3\nlxc.apparmor.profile: unconfined\n";

    fn want(pairs: &[(&str, &str)]) -> Desired {
        Desired {
            plain: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn converged_values_need_no_set() {
        let c = Conf::parse(CONF);
        let w = want(&[
            ("hostname", "web"),
            ("memory", "2048"),
            ("features", "nesting=1,keyctl=1"),
            ("onboot", "1"),
            ("startup", "order=3,up=5"),
            (
                "net0",
                "name=eth0,bridge=vmbr0,hwaddr=52:54:00:AA:BB:CC,ip=10.0.0.5/24,gw=10.0.0.1",
            ),
        ]);
        assert!(plain(&c, &w).is_empty());
    }

    #[test]
    fn differences_go_into_one_set_and_net0_keeps_other_keys() {
        let c = Conf::parse(CONF);
        let w = want(&[
            ("memory", "4096"),
            ("cores", "4"),
            ("net0", "name=eth0,bridge=vmbr0,ip=10.0.0.6/24,firewall=1"),
        ]);
        let p = plain(&c, &w);
        assert_eq!(p.argv("950"), vec!["set", "950", "--memory", "4096", "--cores", "4", "--net0", "name=eth0,bridge=vmbr0,hwaddr=52:54:00:aa:bb:cc,ip=10.0.0.6/24,type=veth,firewall=1"]);
        let shown: Vec<String> = p.changes(&c).iter().map(|c| c.to_string()).collect();
        assert_eq!(
            shown,
            vec![
                "memory: 2048 -> 4096",
                "cores: (none) -> 4",
                "net0.ip: 10.0.0.5/24 -> 10.0.0.6/24",
                "net0.gw: 10.0.0.1 -> (none)",
                "net0.firewall: (none) -> 1",
            ]
        );
    }
}
