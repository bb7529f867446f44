//! Validation: turning the files' raw shapes into the checked model, and every check that
//! needs more than one value. Every problem is collected; nothing stops at the first one.
//!
//! One module per file kind, each building that file's model types as it checks them (a value
//! is checked by constructing its newtype, so the check and the type cannot drift apart):
//! [`hypervisor`], [`lxc`], [`vm`]; then [`cross`] for what spans guests and files (IDs,
//! references, cycles, duplicate addresses and names, templates).
//!
//! When a value is invalid, a placeholder takes its place so the remaining checks still run;
//! a config with any error is never handed out, so placeholders never reach a manager.

pub(crate) mod cluster;
pub(crate) mod cross;
pub(crate) mod hypervisor;
pub(crate) mod lxc;
pub(crate) mod node_setup;
pub(crate) mod vm;

use std::fmt::Display;
use std::path::Path;

use crate::error::Diagnostic;
use crate::model::common::{HealthCheck, TestSpec, TestSuites};
use crate::model::firewall::{Direction, Firewall, FirewallRule, FwAction, LogLevel};
use crate::model::firewall::{FwAddress, PortList};
use crate::names;
use crate::raw;
use crate::types::{FeatureName, InterfaceName, RelPath, SuiteName};

/// Collects diagnostics for one file.
pub(crate) struct Report<'a> {
    pub file: &'a Path,
    pub out: &'a mut Vec<Diagnostic>,
}

impl Report<'_> {
    pub fn error(&mut self, at: impl Into<String>, msg: impl Into<String>) {
        self.out.push(Diagnostic::error(self.file, at, msg));
    }

    /// `at` is only formatted when there is something to report: building a JSON path for
    /// every checked field was most of validation's time on large configs.
    pub fn check(&mut self, at: impl FnOnce() -> String, result: Result<(), String>) {
        if let Err(msg) = result {
            self.error(at(), msg);
        }
    }

    /// The checked value, or `None` after reporting why it is not one.
    pub fn value<T>(
        &mut self,
        at: impl FnOnce() -> String,
        result: Result<T, String>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(msg) => {
                self.error(at(), msg);
                None
            }
        }
    }

    pub fn range(
        &mut self,
        at: impl FnOnce() -> String,
        what: &str,
        v: Option<u64>,
        min: u64,
        max: u64,
    ) {
        if let Some(v) = v {
            if !(min..=max).contains(&v) {
                self.error(
                    at(),
                    format!("{what} {v} is out of range; expected {min}-{max}"),
                );
            }
        }
    }
}

/// Checked feature names; invalid ones are reported and left out.
pub(crate) fn features(
    r: &mut Report,
    at: &(impl Display + ?Sized),
    list: Vec<String>,
) -> Vec<FeatureName> {
    let mut out = Vec::with_capacity(list.len());
    for (i, f) in list.into_iter().enumerate() {
        if let Some(f) = r.value(|| format!("{at}.features[{i}]"), FeatureName::new(f)) {
            out.push(f);
        }
    }
    out
}

/// A checked health check with its defaults applied.
pub(crate) fn health(
    r: &mut Report,
    at: &(impl Display + ?Sized),
    h: raw::common::HealthCheck,
) -> HealthCheck {
    if h.command.trim().is_empty() {
        r.error(format!("{at}.command"), "health check command is empty");
    }
    r.range(
        || format!("{at}.retries"),
        "retries",
        h.retries.map(u64::from),
        1,
        1000,
    );
    r.range(|| format!("{at}.interval"), "interval", h.interval, 0, 3600);
    let d = HealthCheck::default();
    HealthCheck {
        command: h.command,
        retries: h.retries.unwrap_or(d.retries).max(1),
        interval: h.interval.unwrap_or(d.interval),
        name: h.name,
    }
}

/// A checked firewall.
pub(crate) fn firewall(
    r: &mut Report,
    at: &(impl Display + ?Sized),
    f: raw::common::Firewall,
) -> Firewall {
    let mut policy = |k: &str, p: Option<String>| {
        p.and_then(|p| r.value(|| format!("{at}.{k}"), FwAction::parse(&p)))
    };
    let policy_in = policy("policy_in", f.policy_in);
    let policy_out = policy("policy_out", f.policy_out);
    // A guest's rules name its NICs by their config key (pve-firewall: 'net\d+').
    for (i, rule) in f.rules.iter().enumerate() {
        if let Some(iface) = &rule.iface {
            let nic = iface
                .strip_prefix("net")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !nic {
                r.error(
                    format!("{at}.rules[{i}].iface"),
                    format!(
                        "'{}' is not a guest NIC; a guest's rules name it by its config key (net0, net1, ...)",
                        iface.escape_debug()
                    ),
                );
            }
        }
    }
    Firewall {
        enabled: f.enabled,
        policy_in,
        policy_out,
        rules: rules(r, &format!("{at}.rules"), f.rules),
    }
}

/// Protocols whose rules may name ports (`$PROTOCOLS_WITH_PORTS` of `pve-firewall`).
const PROTOCOLS_WITH_PORTS: &[&str] = &[
    "tcp", "6", "udp", "17", "udplite", "136", "dccp", "33", "sctp", "132",
];

/// Checked firewall rules; an invalid rule is reported and left out.
pub(crate) fn rules(
    r: &mut Report,
    at: &(impl Display + ?Sized),
    list: Vec<raw::common::FirewallRule>,
) -> Vec<FirewallRule> {
    let mut out = Vec::with_capacity(list.len());
    for (i, rule) in list.into_iter().enumerate() {
        if let Some(rule) = self::rule(r, &format!("{at}[{i}]"), rule) {
            out.push(rule);
        }
    }
    out
}

fn rule(r: &mut Report, p: &str, rule: raw::common::FirewallRule) -> Option<FirewallRule> {
    let before = r.out.len();
    let direction = r.value(|| format!("{p}.type"), Direction::parse(&rule.direction));
    let action = r.value(|| format!("{p}.action"), FwAction::parse(&rule.action));
    let mut addr = |k: &str, v: Option<String>| {
        v.and_then(|v| r.value(|| format!("{p}.{k}"), FwAddress::parse(&v)))
    };
    let source = addr("source", rule.source);
    let dest = addr("dest", rule.dest);
    if let Some(v) = &rule.proto {
        r.check(|| format!("{p}.proto"), names::word(v, "protocol"));
    }
    let mut ports = |k: &str, v: Option<String>| {
        v.and_then(|v| r.value(|| format!("{p}.{k}"), PortList::parse(&v)))
    };
    let dport = ports("port", rule.port);
    let sport = ports("sport", rule.sport);
    let iface = rule
        .iface
        .and_then(|v| r.value(|| format!("{p}.iface"), InterfaceName::new(v)));
    if let Some(v) = &rule.icmp_type {
        r.check(|| format!("{p}.icmp_type"), names::word(v, "ICMP type"));
    }
    let log = rule
        .log
        .and_then(|v| r.value(|| format!("{p}.log"), LogLevel::parse(&v)));
    if let Some(v) = &rule.comment {
        r.check(|| format!("{p}.comment"), names::single_line(v, "comment"));
    }
    for (k, ports) in [("port", &dport), ("sport", &sport)] {
        let Some(ports) = ports else { continue };
        match rule.proto.as_deref() {
            None => r.error(
                format!("{p}.proto"),
                format!("a rule with `{k}` needs `proto` (tcp, udp, udplite, dccp or sctp); Proxmox ignores the rule otherwise"),
            ),
            Some(proto) if !PROTOCOLS_WITH_PORTS.contains(&proto) => r.error(
                format!("{p}.{k}"),
                format!("protocol '{}' does not support ports; expected tcp, udp, udplite, dccp or sctp", proto.escape_debug()),
            ),
            Some(_) => {}
        }
        if ports.numbers() > 15 {
            r.error(
                format!("{p}.{k}"),
                "too many entries in port list (more than 15 numbers, a range counting as 2); Proxmox ignores the rule otherwise",
            );
        }
    }
    if r.out.len() != before {
        return None;
    }
    Some(FirewallRule {
        direction: direction?,
        action: action?,
        iface,
        source,
        dest,
        proto: rule.proto,
        dport,
        sport,
        icmp_type: rule.icmp_type,
        log,
        comment: rule.comment,
    })
}

/// Checked test suites.
pub(crate) fn tests(
    r: &mut Report,
    at: &(impl Display + ?Sized),
    suites: raw::common::TestSuites,
) -> TestSuites {
    let mut out = TestSuites::new();
    for (suite, tests) in suites {
        r.check(
            || format!("{at}.{suite}"),
            SuiteName::new(suite.as_str()).map(|_| ()),
        );
        let mut list = Vec::with_capacity(tests.len());
        for (i, t) in tests.into_iter().enumerate() {
            if t.kind != "script" {
                r.error(
                    format!("{at}.{suite}[{i}].type"),
                    format!("test type '{}' is not supported; expected script", t.kind),
                );
            }
            let path = r.value(|| format!("{at}.{suite}[{i}].path"), RelPath::new(t.path));
            r.check(
                || format!("{at}.{suite}[{i}].name"),
                names::single_line(&t.name, "test name"),
            );
            if let Some(path) = path {
                list.push(TestSpec { name: t.name, path });
            }
        }
        out.insert(suite, list);
    }
    out
}
