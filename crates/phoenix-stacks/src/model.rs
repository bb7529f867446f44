//! The serde shapes of `etc/phoenix_stacks_config.json` and `stacks/<name>/phoenix.json`, as the
//! Bash orchestrator's deployments write them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `etc/phoenix_stacks_config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Phoenix Docker stacks (central file)")]
pub struct StacksFile {
    /// Editor hint, ignored.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// Stacks by name (`[A-Za-z0-9_-]+`). A folder `stacks/<name>/` of the same name replaces
    /// the entry as a whole.
    pub docker_stacks: BTreeMap<String, CentralStack>,
}

/// One stack of the central file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CentralStack {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The Compose file, relative to the installation base (the folder holding `etc/`).
    pub compose_file_path: String,
    /// Settings per environment (`production` is the one deployed).
    pub environments: BTreeMap<String, Environment>,
}

/// `stacks/<name>/phoenix.json`: the stack folder's manifest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Phoenix Docker stack manifest (stacks/<name>/phoenix.json)")]
pub struct Manifest {
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Settings per environment (`production` is the one deployed).
    pub environments: BTreeMap<String, Environment>,
}

/// What one environment of a stack sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Environment {
    /// Variables passed to the stack (Portainer `Env`); the Compose file uses them as `${NAME}`.
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// Files created as Portainer configs for the stack.
    #[serde(default)]
    pub files: Vec<StackFile>,
    /// Per-service settings, by Compose service name.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceSettings>,
    /// Rules added to the firewall of every VM the stack is deployed on (`<vmid>.fw`).
    #[serde(default)]
    pub firewall_rules: Vec<FirewallRule>,
}

/// `{"name": "API_PORT", "value": "8000"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Variable {
    pub name: String,
    pub value: String,
}

/// A file of the stack, made available to its containers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StackFile {
    /// Path of the file, relative to the stack folder (central entries: to the installation
    /// base).
    pub source: String,
    /// Absolute path inside the containers.
    pub destination_in_container: String,
}

/// Settings of one Compose service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceSettings {
    /// Labels added to the service in the deployed Compose file (`traefik.<...>=<value>`).
    #[serde(default)]
    pub traefik_labels: Vec<String>,
}

/// One firewall rule of a stack, in the JSON shape guests' `firewall.rules` use (Proxmox's
/// `[RULES]` fields). Kept here rather than borrowed from phoenix-config, whose firewall types
/// are the checked model: the stacks' files are read on their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FirewallRule {
    /// `in` or `out`.
    #[serde(rename = "type")]
    pub direction: String,
    /// `ACCEPT`, `DROP` or `REJECT`.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    /// Destination port(s): `8000`, `80,443`, `8000:8010`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    /// Source port(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sport: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}
