//! The CLI option spec of `pct`, `qm`, `pvesm` and `pveam`, extracted from the Proxmox reference
//! by [`gen`] into `crates/pve/spec/pve-cli.json` (embedded), and [`validate`], which checks a
//! call the way the real tools' parameter verification does.
//!
//! The simulator rejects what the real node would reject, and tests can check every logged
//! call of a manager against the same data.

pub mod gen;
mod types;

pub use types::*;

use crate::propstring::PropString;
use std::sync::OnceLock;

/// The committed spec (generated; see [`gen`]).
pub const SPEC_JSON: &str = include_str!("../../spec/pve-cli.json");

/// The embedded spec, parsed once.
pub fn spec() -> &'static Spec {
    static SPEC: OnceLock<Spec> = OnceLock::new();
    SPEC.get_or_init(|| serde_json::from_str(SPEC_JSON).unwrap_or_default())
}

/// A call accepted by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub tool: String,
    /// Canonical subcommand (aliases resolved): `create`, `guest exec`, `disk resize`.
    pub command: String,
    /// Positional arguments by name, in order (`vmid`, `ostemplate`, ...).
    pub args: Vec<(String, String)>,
    /// The `<extra-args>` array (`pct exec 100 -- ls -l` gives `["ls", "-l"]`).
    pub extra: Vec<String>,
    /// Options as given (`net0`, value), in order; flag-only booleans get `"1"`.
    pub options: Vec<(String, String)>,
}

impl Call {
    /// Positional argument by name.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Option value by name (`net0`).
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Boolean option; absent is `false`.
    pub fn flag(&self, name: &str) -> bool {
        self.opt(name).and_then(parse_bool).unwrap_or(false)
    }
    /// The guest id argument, if the command has one.
    pub fn vmid(&self) -> Option<u32> {
        self.arg("vmid").and_then(|v| v.parse().ok())
    }
    /// Whether this call changes state (see [`is_mutating`]).
    pub fn is_mutating(&self) -> bool {
        if self.tool == "qm" && self.command == "guest cmd" {
            let c = self.arg("command").unwrap_or("");
            return is_mutating("qm", &format!("guest cmd {c}"));
        }
        is_mutating(&self.tool, &self.command)
    }
}

/// Why a call was rejected. `Display` gives the message the real tool prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("unknown tool '{0}'")]
    UnknownTool(String),
    #[error("unknown command '{0}'")]
    UnknownCommand(String),
    #[error("Unknown option: {0}\n400 unable to parse option")]
    UnknownOption(String),
    #[error("400 not enough arguments\n{0}")]
    NotEnoughArguments(String),
    #[error("400 too many arguments\n{0}")]
    TooManyArguments(String),
    /// `(parameter, message)` pairs.
    #[error("400 Parameter verification failed.\n{}", .0.iter().map(|(k, m)| format!("{k}: {m}")).collect::<Vec<_>>().join("\n"))]
    Verification(Vec<(String, String)>),
}

/// Parse a Proxmox boolean (`0|1|yes|no|true|false|on|off`, any case).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

const READ_ONLY: &[(&str, &[&str])] = &[
    (
        "pct",
        &[
            "list",
            "status",
            "config",
            "listsnapshot",
            "pending",
            "df",
            "cpusets",
            "help",
            "pull",
            "console",
            "enter",
        ],
    ),
    (
        "qm",
        &[
            "list",
            "status",
            "config",
            "listsnapshot",
            "pending",
            "showcmd",
            "help",
            "wait",
            "guest exec-status",
            "cloudinit dump",
            "cloudinit pending",
            "guest cmd ping",
            "guest cmd info",
            "guest cmd fsfreeze-status",
            "guest cmd get-fsinfo",
            "guest cmd get-host-name",
            "guest cmd get-memory-block-info",
            "guest cmd get-memory-blocks",
            "guest cmd get-osinfo",
            "guest cmd get-time",
            "guest cmd get-timezone",
            "guest cmd get-users",
            "guest cmd get-vcpus",
            "guest cmd network-get-interfaces",
        ],
    ),
    (
        "pvesm",
        &[
            "status",
            "list",
            "path",
            "help",
            "apiinfo",
            "extractconfig",
            "scan cifs",
            "scan iscsi",
            "scan lvm",
            "scan lvmthin",
            "scan nfs",
            "scan pbs",
            "scan zfs",
            "cifsscan",
            "iscsiscan",
            "lvmscan",
            "lvmthinscan",
            "nfsscan",
            "zfsscan",
        ],
    ),
    ("pveam", &["list", "available", "help"]),
];

/// Whether `tool subcommand` changes node state. `subcommand` is canonical (`guest exec`);
/// for `qm guest cmd` pass `guest cmd <command>` (`guest cmd ping` is read-only; a bare
/// `guest cmd` counts as mutating). Unknown commands count as mutating.
pub fn is_mutating(tool: &str, subcommand: &str) -> bool {
    let sub = match spec().command(tool, subcommand) {
        Some((canon, _)) => canon.to_string(),
        None => subcommand.to_string(),
    };
    let sub = if tool == "qm" && subcommand.starts_with("agent ") {
        subcommand.replacen("agent", "guest cmd", 1)
    } else {
        sub
    };
    !READ_ONLY
        .iter()
        .any(|(t, cmds)| *t == tool && cmds.contains(&sub.as_str()))
}

fn usage(tool: &str, cmd: &str, spec: &CommandSpec) -> String {
    let mut s = format!("{tool} {cmd}");
    for a in &spec.args {
        if a.optional {
            s.push_str(&format!(" [<{}>]", a.name));
        } else {
            s.push_str(&format!(" <{}>", a.name));
        }
    }
    if !spec.options.is_empty() {
        s.push_str(" [OPTIONS]");
    }
    s
}

/// Check `argv` (without the tool name: `["create", "100", "local:vztmpl/x.tar.zst", "--cores", "2"]`)
/// against the spec of `tool`.
pub fn validate(tool: &str, argv: &[String]) -> Result<Call, SpecError> {
    validate_with(spec(), tool, argv)
}

/// [`validate`] against a given spec.
pub fn validate_with(spec: &Spec, tool: &str, argv: &[String]) -> Result<Call, SpecError> {
    let cmds = spec
        .tools
        .get(tool)
        .ok_or_else(|| SpecError::UnknownTool(tool.to_string()))?;
    let Some(first) = argv.first() else {
        return Err(SpecError::UnknownCommand(tool.to_string()));
    };
    // Multi-word subcommands first (`guest exec`, `disk import`).
    let (name, consumed) = match argv.get(1) {
        Some(second) if cmds.contains_key(&format!("{first} {second}")) => {
            (format!("{first} {second}"), 2)
        }
        _ => (first.clone(), 1),
    };
    let (canon, cmd) = spec
        .command(tool, &name)
        .ok_or_else(|| SpecError::UnknownCommand(format!("{tool} {name}")))?;
    let mut call = Call {
        tool: tool.to_string(),
        command: canon.to_string(),
        args: Vec::new(),
        extra: Vec::new(),
        options: Vec::new(),
    };
    let mut positionals: Vec<String> = Vec::new();
    let mut errors: Vec<(String, String)> = Vec::new();
    let rest = &argv[consumed..];
    let mut i = 0;
    let mut after_dashdash = false;
    while i < rest.len() {
        let a = &rest[i];
        i += 1;
        if after_dashdash {
            positionals.push(a.clone());
            continue;
        }
        if a == "--" {
            after_dashdash = true;
            continue;
        }
        let optname = a
            .strip_prefix("--")
            .or_else(|| a.strip_prefix('-'))
            .filter(|n| !n.is_empty() && !n.starts_with(|c: char| c.is_ascii_digit()));
        let Some(optname) = optname else {
            positionals.push(a.clone());
            continue;
        };
        let (optname, inline) = match optname.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (optname, None),
        };
        let Some(ospec) = Spec::option(cmd, optname) else {
            return Err(SpecError::UnknownOption(optname.to_string()));
        };
        let value = match inline {
            Some(v) => v,
            // Like Getopt's optional value (`force:s`): the next word is the value unless it
            // looks like an option.
            None if ospec.value == ValueType::Boolean => {
                match rest.get(i).filter(|v| !v.starts_with('-')) {
                    Some(v) => {
                        i += 1;
                        v.clone()
                    }
                    None => "1".to_string(),
                }
            }
            None => match rest.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => {
                    return Err(SpecError::UnknownOption(format!(
                        "{optname} (option requires an argument)"
                    )))
                }
            },
        };
        if call.options.iter().any(|(n, _)| n == optname) {
            errors.push((optname.to_string(), "duplicate parameter".to_string()));
            continue;
        }
        if let Err(e) = check_value(optname, &ospec.value, &value) {
            errors.extend(e);
        }
        call.options.push((optname.to_string(), value));
    }
    for o in cmd.options.iter().filter(|o| o.required) {
        if call.opt(&o.name).is_none() {
            errors.push((
                o.name.clone(),
                "property is missing and it is not optional".to_string(),
            ));
        }
    }
    // Positionals.
    let mut pos = positionals.into_iter();
    for a in &cmd.args {
        if a.value == ValueType::Array {
            call.extra.extend(pos.by_ref());
            continue;
        }
        match pos.next() {
            Some(v) => {
                if let Err(e) = check_value(&a.name, &a.value, &v) {
                    errors.extend(e);
                }
                call.args.push((a.name.clone(), v));
            }
            None if a.optional => {}
            None => return Err(SpecError::NotEnoughArguments(usage(tool, canon, cmd))),
        }
    }
    if pos.next().is_some() {
        return Err(SpecError::TooManyArguments(usage(tool, canon, cmd)));
    }
    if !errors.is_empty() {
        return Err(SpecError::Verification(errors));
    }
    Ok(call)
}

/// Check one value against a type; errors are `(parameter path, message)` pairs.
pub fn check_value(path: &str, ty: &ValueType, v: &str) -> Result<(), Vec<(String, String)>> {
    let err = |m: String| Err(vec![(path.to_string(), m)]);
    match ty {
        ValueType::Integer { min, max } => {
            let Ok(n) = v.parse::<i64>() else {
                return err(format!("type check ('integer') failed - got '{v}'"));
            };
            if let Some(m) = min.filter(|m| n < *m) {
                return err(format!("value must have a minimum value of {m}"));
            }
            if let Some(m) = max.filter(|m| n > *m) {
                return err(format!("value may only be {m}"));
            }
            Ok(())
        }
        ValueType::Number { min, max } => {
            let Ok(n) = v.parse::<f64>() else {
                return err(format!("type check ('number') failed - got '{v}'"));
            };
            if !n.is_finite() {
                return err(format!("type check ('number') failed - got '{v}'"));
            }
            if let Some(m) = min.filter(|m| n < *m) {
                return err(format!("value must have a minimum value of {m}"));
            }
            if let Some(m) = max.filter(|m| n > *m) {
                return err(format!("value may only be {m}"));
            }
            Ok(())
        }
        ValueType::Boolean => match parse_bool(v) {
            Some(_) => Ok(()),
            None => err(format!("type check ('boolean') failed - got '{v}'")),
        },
        ValueType::Enum { values } => {
            if values.iter().any(|x| x == v) {
                Ok(())
            } else {
                err(format!(
                    "value '{v}' does not have a value in the enumeration '{}'",
                    values.join(", ")
                ))
            }
        }
        ValueType::Array => Ok(()),
        ValueType::String { format } => match check_format(format.as_deref(), v) {
            Ok(()) => Ok(()),
            Err(m) => err(m),
        },
        ValueType::PropString(pf) => check_propstring(path, pf, v),
    }
}

fn check_propstring(path: &str, pf: &PropFormat, v: &str) -> Result<(), Vec<(String, String)>> {
    let default_key = pf
        .keys
        .iter()
        .find(|k| k.default_key)
        .map(|k| k.name.as_str());
    let ps = match PropString::parse_with_default(v, default_key) {
        Ok(p) => p,
        Err(e) => return Err(vec![(path.to_string(), format!("invalid format - {e}"))]),
    };
    let models: Vec<String> = if pf.model_keys {
        pf.keys
            .iter()
            .find(|k| k.name == "model")
            .and_then(|k| match &k.value {
                ValueType::Enum { values } => Some(values.clone()),
                _ => None,
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut errors = Vec::new();
    let mut seen_model = false;
    for (key, value) in ps.iter() {
        let sub = format!("{path}.{key}");
        if let Some(k) = pf.keys.iter().find(|k| k.name == key) {
            if let Err(e) = check_value(&sub, &k.value, value) {
                errors.extend(e);
            }
        } else if models.iter().any(|m| m == key) {
            seen_model = true;
            if let Err(m) = check_format(Some("XX:XX:XX:XX:XX:XX"), value) {
                errors.push((sub, m));
            }
        } else {
            errors.push((
                sub,
                "property is not defined in schema and the schema does not allow additional properties"
                    .to_string(),
            ));
        }
    }
    for k in pf.keys.iter().filter(|k| k.required) {
        if ps.get(&k.name).is_none() && !(k.name == "model" && seen_model) {
            errors.push((
                format!("{path}.{}", k.name),
                "property is missing and it is not optional".to_string(),
            ));
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        let mut out = vec![(
            path.to_string(),
            "invalid format - format error".to_string(),
        )];
        out.extend(errors);
        Err(out)
    }
}

fn is_size(v: &str, allow_plus: bool, units: &[char]) -> bool {
    let v = if allow_plus {
        v.strip_prefix('+').unwrap_or(v)
    } else {
        v
    };
    let num = v.strip_suffix(|c: char| units.contains(&c)).unwrap_or(v);
    let (int, frac) = match num.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (num, None),
    };
    !int.is_empty()
        && int.chars().all(|c| c.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.chars().all(|c| c.is_ascii_digit()))
}

fn is_cidr4(v: &str) -> bool {
    match v.split_once('/') {
        Some((ip, mask)) => {
            ip.parse::<std::net::Ipv4Addr>().is_ok() && mask.parse::<u8>().is_ok_and(|m| m <= 32)
        }
        None => false,
    }
}
fn is_cidr6(v: &str) -> bool {
    match v.split_once('/') {
        Some((ip, mask)) => {
            ip.parse::<std::net::Ipv6Addr>().is_ok() && mask.parse::<u8>().is_ok_and(|m| m <= 128)
        }
        None => false,
    }
}

/// Validate the string formats whose meaning is known; other formats accept any value.
fn check_format(format: Option<&str>, v: &str) -> Result<(), String> {
    let Some(f) = format else { return Ok(()) };
    let ok = match f {
        "DiskSize" => is_size(v, false, &['K', 'M', 'G', 'T']),
        "\\+?\\d+(\\.\\d+)?[KMGT]?" => is_size(v, true, &['K', 'M', 'G', 'T']),
        "\\d+[MG]?" => is_size(v, false, &['M', 'G']) && !v.contains('.'),
        "XX:XX:XX:XX:XX:XX" => {
            let parts: Vec<&str> = v.split(':').collect();
            parts.len() == 6
                && parts
                    .iter()
                    .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
        }
        "(IPv4/CIDR|dhcp|manual)" => matches!(v, "dhcp" | "manual") || is_cidr4(v),
        "(IPv6/CIDR|auto|dhcp|manual)" => matches!(v, "auto" | "dhcp" | "manual") || is_cidr6(v),
        "IPv4Format/CIDR" => v == "dhcp" || is_cidr4(v),
        "IPv6Format/CIDR" => matches!(v, "dhcp" | "auto") || is_cidr6(v),
        "GatewayIPv4" => v.parse::<std::net::Ipv4Addr>().is_ok(),
        "GatewayIPv6" => v.parse::<std::net::Ipv6Addr>().is_ok(),
        "(ide|sata|scsi|virtio)\\d+" => crate::conf::is_qemu_disk_key(v),
        "storage ID" => {
            let b = v.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphabetic()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        }
        "volume" | "Path" | "source volume" => !v.is_empty(),
        f if f.starts_with("(?^:[^\\x00-\\x08") => {
            !v.is_empty()
                && !v
                    .chars()
                    .any(|c| (c as u32) < 0x20 && c != '\t' || c == '\x7f')
        }
        f if f.starts_with("(?^i:[a-z0-9_\\-]{1,") => {
            let max: usize = f
                .trim_start_matches("(?^i:[a-z0-9_\\-]{1,")
                .trim_end_matches("})")
                .parse()
                .unwrap_or(usize::MAX);
            !v.is_empty()
                && v.len() <= max
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "value does not match the regex pattern / format '{f}' - got '{v}'"
        ))
    }
}

#[cfg(test)]
mod tests;
