//! Data types of the CLI option spec (serialised to `crates/pve/spec/pve-cli.json`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The type of one argument, option or property-string key value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ValueType {
    /// `<integer> (min - max)`; `N` upper bounds are `None`.
    Integer {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<i64>,
    },
    /// `<number> (min - max)`.
    Number {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// `<boolean>` or `<1|0>`.
    Boolean,
    /// `<a | b | c>`.
    Enum { values: Vec<String> },
    /// `<array>` (only as the last positional: the extra arguments).
    Array,
    /// Any other string; `format` keeps the reference's type name or pattern
    /// (`volume`, `DiskSize`, `XX:XX:XX:XX:XX:XX`, `\+?\d+(\.\d+)?[KMGT]?`, ...).
    String {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
    },
    /// A property string such as `name=eth0,bridge=vmbr0`.
    PropString(PropFormat),
}

/// The keys a property string accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropFormat {
    pub keys: Vec<PropKey>,
    /// `[,<model>=<macaddr>]`: a NIC model name (the values of the `model` key) may be
    /// used as a key whose value is the MAC address (`virtio=52:54:00:..`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub model_keys: bool,
}

/// One key of a property string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropKey {
    pub name: String,
    /// The value may be given without `name=` (`[volume=]<volume>`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default_key: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    pub value: ValueType,
}

/// A positional argument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArgSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    pub value: ValueType,
}

/// A `--name` option; `indexed` options are `--net[n]` and accept `--net0` .. `--net<max>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed: Option<u32>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    pub value: ValueType,
}

/// One subcommand (`create`, `guest exec`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CommandSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
    #[serde(default)]
    pub args: Vec<ArgSpec>,
    #[serde(default)]
    pub options: Vec<OptSpec>,
}

/// A key of a guest config file (`pct.conf(5)`, `qm.conf(5)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfKeySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indexed: Option<u32>,
    pub value: ValueType,
}

/// The whole spec: tool -> subcommand -> spec, and conf kind (`pct`, `qm`) -> key -> spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Spec {
    pub tools: BTreeMap<String, BTreeMap<String, CommandSpec>>,
    pub conf: BTreeMap<String, BTreeMap<String, ConfKeySpec>>,
}

impl Spec {
    /// Look a subcommand up, following `alias_of`.
    pub fn command(&self, tool: &str, name: &str) -> Option<(&str, &CommandSpec)> {
        let cmds = self.tools.get(tool)?;
        let (key, spec) = cmds.get_key_value(name)?;
        if let Some(target) = &spec.alias_of {
            let (k2, s2) = cmds.get_key_value(target.as_str())?;
            return Some((k2.as_str(), s2));
        }
        Some((key.as_str(), spec))
    }

    /// Find the option `name` (e.g. `net0` matches `net[n]`).
    pub fn option<'a>(cmd: &'a CommandSpec, name: &str) -> Option<&'a OptSpec> {
        if let Some(o) = cmd
            .options
            .iter()
            .find(|o| o.indexed.is_none() && o.name == name)
        {
            return Some(o);
        }
        let digits_at = name.find(|c: char| c.is_ascii_digit())?;
        let (base, idx) = name.split_at(digits_at);
        let idx: u32 = idx.parse().ok()?;
        if name[digits_at..].len() > 1 && name[digits_at..].starts_with('0') {
            return None;
        }
        cmd.options
            .iter()
            .find(|o| o.name == base && o.indexed.is_some_and(|max| idx <= max))
    }
}
