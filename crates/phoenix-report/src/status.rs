//! The one shape of a guest's status, printed by `phoenix status` (an array of these) and by
//! `lxc-manager status` / `vm-manager status` (one of these). Its JSON Schema is
//! `schemas/phoenix_status.schema.json`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{Change, Kind};

/// How the live guest compares with its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sync {
    /// Exists and matches the config in every managed attribute.
    InSync,
    /// Exists and differs (see `drift`).
    Drifted,
    /// Configured, not on the host.
    Absent,
    /// On the host, in no config file.
    Unmanaged,
    /// The comparison itself failed or the config cannot be applied (see `problems`).
    Error,
}

/// One guest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GuestStatus {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
    /// The configured name (the live one for unmanaged guests).
    pub name: String,
    /// A template (cloned from, never started by Phoenix).
    pub template: bool,
    /// Whether the host has it.
    pub exists: bool,
    /// Run state as Proxmox reports it (`running`, `stopped`); `null` when absent.
    pub state: Option<String>,
    /// Whether a config file defines it.
    pub managed: bool,
    pub sync: Sync,
    /// Attributes whose live value differs from the config.
    pub drift: Vec<Change>,
    /// Things that are not drift but worth knowing (a feature removed from the config).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Why `sync` is `error`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

impl GuestStatus {
    /// The table's drift column: `in sync`, `drifted: memory, net0`, `absent`, `unmanaged`.
    pub fn drift_column(&self) -> String {
        match self.sync {
            Sync::InSync => "in sync".into(),
            Sync::Drifted => {
                let mut keys: Vec<&str> = Vec::new();
                for c in &self.drift {
                    // `net0.ip` is shown as `net0`: the column names settings.
                    let k = c.key.split('.').next().unwrap_or(&c.key);
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                format!("drifted: {}", keys.join(", "))
            }
            Sync::Absent => "absent".into(),
            Sync::Unmanaged => "unmanaged".into(),
            Sync::Error => format!("error: {}", self.problems.join("; ")),
        }
    }
}

/// The status table: `ID TYPE NAME EXISTS STATE DRIFT`.
pub fn table(rows: &[GuestStatus]) -> String {
    let mut s = format!(
        "{:<10} {:<5} {:<34} {:<7} {:<9} DRIFT\n",
        "ID", "TYPE", "NAME", "EXISTS", "STATE"
    );
    for r in rows {
        let name = if r.template {
            format!("{} (template)", r.name)
        } else {
            r.name.clone()
        };
        s.push_str(&format!(
            "{:<10} {:<5} {:<34} {:<7} {:<9} {}\n",
            r.id,
            r.kind.as_str(),
            name,
            if r.exists { "yes" } else { "no" },
            r.state.as_deref().unwrap_or("-"),
            r.drift_column()
        ));
    }
    s
}

/// The JSON Schema of `phoenix status --output json` (an array of [`GuestStatus`]).
pub fn schema() -> schemars::Schema {
    let mut s = schemars::schema_for!(Vec<GuestStatus>);
    s.insert(
        "title".into(),
        "phoenix status --output json (lxc-manager/vm-manager status print one element)".into(),
    );
    s
}
