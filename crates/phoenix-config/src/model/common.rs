//! Pieces shared by containers, VMs and the host: health checks and test suites.

use std::collections::BTreeMap;

use crate::types::RelPath;

/// Health check attempts when `retries` is not set.
pub const DEFAULT_HEALTH_RETRIES: u32 = 3;
/// Seconds between health check attempts when `interval` is not set.
pub const DEFAULT_HEALTH_INTERVAL_SECS: u64 = 5;

/// A command run inside the guest until it succeeds. Serializes with the files' field names
/// (what a record's fingerprint is taken of).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthCheck {
    /// Command line run with `sh -c` inside the guest; never empty.
    pub command: String,
    /// Attempts before giving up, at least 1 (default [`DEFAULT_HEALTH_RETRIES`]).
    pub retries: u32,
    /// Seconds between attempts (default [`DEFAULT_HEALTH_INTERVAL_SECS`]).
    pub interval: u64,
    /// Label shown in output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl HealthCheck {
    /// What output calls the check: its name, else its command.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.command)
    }
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            command: String::new(),
            retries: DEFAULT_HEALTH_RETRIES,
            interval: DEFAULT_HEALTH_INTERVAL_SECS,
            name: None,
        }
    }
}

/// Test suites by name (`health_checks`, `integration_tests`, ...); names are checked
/// ([`crate::types::SuiteName`] rules).
pub type TestSuites = BTreeMap<String, Vec<TestSpec>>;

/// One test of a suite: a script under `<scripts>/tests/` (only `script` tests exist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestSpec {
    pub name: String,
    /// Path relative to the tests folder (`docker/check_docker_service.sh`).
    pub path: RelPath,
}

/// One string or a list of strings: the old tool read several keys either way
/// (`dns_nameservers`, `nameservers`), `jq`'s `if type == "array" then .[] else . end`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct StringList(pub Vec<String>);

impl StringList {
    /// Every entry, a string split at white space (`"10.0.0.13 8.8.8.8"` is two).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.0.iter().flat_map(|s| s.split_whitespace())
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|s| s.trim().is_empty())
    }
}

impl<'de> serde::Deserialize<'de> for StringList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = StringList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StringList, E> {
                Ok(StringList(vec![v.to_string()]))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<StringList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(StringList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for StringList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "StringList".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A string, or a list of strings.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// How the gateway (Traefik) publishes a guest's service: `<name>.<domain>` to `port`.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct TraefikService {
    pub name: String,
    pub port: u16,
}

/// A DNS record the internal DNS server serves for a guest.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct DnsRecord {
    pub hostname: String,
    pub ip: String,
}
