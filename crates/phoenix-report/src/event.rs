//! What happened, as data: one [`Event`] per step outcome or planned action of one guest.
//!
//! Managers and the dispatcher produce the same events; a manager under the dispatcher sends
//! them as JSON lines on a pipe (see [`crate::Reporter::from_env`]), so the dispatcher renders
//! every guest's events and one recap.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Container or VM, as in the config files' terms (`lxc`, `vm`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Lxc,
    Vm,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Lxc => "lxc",
            Kind::Vm => "vm",
        }
    }

    /// `CT` or `VM`: how progress lines name a guest.
    pub fn short(self) -> &'static str {
        match self {
            Kind::Lxc => "CT",
            Kind::Vm => "VM",
        }
    }

    /// `container` or `VM`: how error lines name a guest.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Lxc => "container",
            Kind::Vm => "VM",
        }
    }
}

/// One guest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub struct GuestTag {
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: Kind,
}

impl fmt::Display for GuestTag {
    /// `container 950` / `VM 8001`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.word(), self.id)
    }
}

/// One attribute that differs: `memory: 999 -> 1024`. `None` means absent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Change {
    pub key: String,
    pub live: Option<String>,
    pub desired: Option<String>,
}

impl Change {
    pub fn new(key: impl Into<String>, live: Option<&str>, desired: Option<&str>) -> Change {
        Change {
            key: key.into(),
            live: live.map(str::to_string),
            desired: desired.map(str::to_string),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_string());
        write!(
            f,
            "{}: {} -> {}",
            self.key,
            show(&self.live),
            show(&self.desired)
        )
    }
}

/// What an event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `--dry-run`: an action that apply would run.
    Planned,
    /// A phase that needs an earlier phase's result; planned when reached.
    Then,
    /// An action is running (long ones get a progress line on a terminal).
    Started,
    /// An action ran and changed the host.
    Changed,
    /// A step found the host as desired.
    Unchanged,
    /// A step or a manager failed.
    Failed,
    /// A step or a guest was not processed (`reason`).
    Skipped,
    /// Something the user should know that changes nothing (a feature no longer configured).
    Note,
    /// A manager call begins (dispatcher only).
    Begin,
    /// A verb's closing line for one guest (`already in the desired state`).
    Done,
}

/// One event. Every field but `event` is optional in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Event {
    pub event: EventKind,
    /// The guest; absent for host steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<GuestTag>,
    /// The cluster node a host step ran on (`setup --node pve2`); absent for one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The step (`configure`, `start`, `feature docker`); errors name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// The action as the transport carries it (`pct set 953 --memory 1024`, or an API request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Why the action is needed, or a message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Attribute differences the action removes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// How long the action or call took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
}

impl Event {
    pub fn new(event: EventKind, guest: Option<GuestTag>) -> Event {
        Event {
            event,
            guest,
            node: None,
            step: None,
            action: None,
            message: None,
            changes: Vec::new(),
            elapsed_ms: None,
        }
    }

    /// The node of a host event.
    pub fn node(mut self, node: impl Into<String>) -> Event {
        self.node = Some(node.into());
        self
    }

    pub fn step(mut self, step: impl Into<String>) -> Event {
        self.step = Some(step.into());
        self
    }

    pub fn action(mut self, action: impl Into<String>) -> Event {
        self.action = Some(action.into());
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Event {
        self.message = Some(message.into());
        self
    }

    pub fn changes(mut self, changes: Vec<Change>) -> Event {
        self.changes = changes;
        self
    }

    pub fn elapsed(mut self, d: std::time::Duration) -> Event {
        self.elapsed_ms = Some(d.as_millis() as u64);
        self
    }
}
