//! Portainer's JSON shapes, as much of them as Phoenix reads (unknown fields are ignored, so
//! newer Portainer versions with more fields still parse).

use serde::{Deserialize, Serialize};

/// `GET /api/system/status` (public).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemStatus {
    #[serde(rename = "Version", default)]
    pub version: String,
    #[serde(rename = "InstanceID", default)]
    pub instance_id: String,
}

/// An environment (`portainer.Endpoint`). `Type` 2 is an agent on Docker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    #[serde(rename = "Id")]
    pub id: u64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type", default)]
    pub kind: u32,
    #[serde(rename = "URL", default)]
    pub url: String,
    #[serde(rename = "GroupId", default)]
    pub group_id: u64,
    /// 1 up, 2 down.
    #[serde(rename = "Status", default)]
    pub status: u32,
}

/// Agent on Docker, as `portainer.AgentOnDockerEnvironment`.
pub const AGENT_ON_DOCKER: u32 = 2;
/// `EndpointCreationType` of an agent environment (`endpoint_create.go`).
pub const CREATE_AGENT: u32 = 2;

/// `portainer.Pair`: one variable of a stack's `Env`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

/// A stack (`portainer.Stack`). `Type` 2 is a standalone Compose stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stack {
    #[serde(rename = "Id")]
    pub id: u64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type", default)]
    pub kind: u32,
    #[serde(rename = "EndpointId", default)]
    pub endpoint_id: u64,
    #[serde(rename = "Env", default, deserialize_with = "null_as_empty")]
    pub env: Vec<EnvVar>,
    /// 1 active, 2 inactive.
    #[serde(rename = "Status", default)]
    pub status: u32,
}

/// `portainer.DockerComposeStack`.
pub const COMPOSE_STACK: u32 = 2;

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<EnvVar>, D::Error> {
    Ok(Option::<Vec<EnvVar>>::deserialize(d)?.unwrap_or_default())
}

/// `GET /api/stacks/{id}/file`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFile {
    #[serde(rename = "StackFileContent")]
    pub content: String,
}

/// A Docker config, as the Docker Engine API lists it through Portainer's Docker proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DockerConfig {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Spec")]
    pub spec: ConfigSpec,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSpec {
    #[serde(rename = "Name")]
    pub name: String,
    /// Base64 of the content.
    #[serde(rename = "Data", default)]
    pub data: String,
    #[serde(rename = "Labels", default)]
    pub labels: std::collections::BTreeMap<String, String>,
}

/// Portainer's error body (`{"message": ..., "details": ...}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: String,
}
