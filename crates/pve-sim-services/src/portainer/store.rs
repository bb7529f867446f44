//! The stand-in's state, kept in `state.json` of its folder and rewritten atomically after each
//! change, so a restarted server (or a test) sees everything that happened.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ca::{write, R};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub instance_id: String,
    /// Administrator name and SHA-256 of the password (hex); none before `admin/init`.
    #[serde(default)]
    pub admin: Option<(String, String)>,
    /// Tokens this server issued (SHA-256 hex of each, never the token itself).
    #[serde(default)]
    pub tokens: Vec<String>,
    #[serde(default)]
    pub endpoints: Vec<StoredEndpoint>,
    #[serde(default)]
    pub stacks: Vec<StoredStack>,
    /// Docker configs per environment id.
    #[serde(default)]
    pub configs: BTreeMap<u64, Vec<serde_json::Value>>,
    #[serde(default)]
    pub next_id: u64,
    /// How often each fault rule matched (by index in `faults.json`).
    #[serde(default)]
    pub fault_hits: BTreeMap<usize, u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEndpoint {
    #[serde(rename = "Id")]
    pub id: u64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: u32,
    #[serde(rename = "URL")]
    pub url: String,
    #[serde(rename = "GroupId")]
    pub group_id: u64,
    #[serde(rename = "Status")]
    pub status: u32,
    #[serde(rename = "TLSConfig")]
    pub tls: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredStack {
    #[serde(rename = "Id")]
    pub id: u64,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub kind: u32,
    #[serde(rename = "EndpointId")]
    pub endpoint_id: u64,
    #[serde(rename = "Env")]
    pub env: Vec<serde_json::Value>,
    #[serde(rename = "Status")]
    pub status: u32,
    #[serde(rename = "EntryPoint")]
    pub entry_point: String,
    #[serde(rename = "CreationDate")]
    pub creation_date: u64,
    #[serde(rename = "UpdateDate")]
    pub update_date: u64,
    /// The Compose text (served by `/file`, not part of the stack's JSON).
    #[serde(rename = "StackFileContent")]
    pub file: String,
    /// How many times the stack was deployed (create = 1, each update + 1).
    #[serde(rename = "Deployments")]
    pub deployments: u32,
}

/// `faults.json`: a list of rules; the first matching rule answers instead of the server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// `GET`, `POST`, ... (absent: any).
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix (absent: any).
    #[serde(default)]
    pub path: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub message: Option<String>,
    /// Answer this many times, then let requests through (absent: always).
    #[serde(default)]
    pub times: Option<u32>,
}

impl State {
    pub fn load(dir: &Path) -> R<State> {
        let p = dir.join("state.json");
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State {
                instance_id: random_hex(16),
                next_id: 1,
                ..State::default()
            }),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }

    pub fn save(&self, dir: &Path) -> R<()> {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        write(&dir.join("state.json"), text.as_bytes(), 0o600)
    }

    pub fn new_id(&mut self) -> u64 {
        let id = self.next_id.max(1);
        self.next_id = id + 1;
        id
    }
}

pub fn load_faults(dir: &Path) -> R<Vec<Fault>> {
    let p = dir.join("faults.json");
    match std::fs::read_to_string(&p) {
        Ok(t) if t.trim().is_empty() => Ok(Vec::new()),
        Ok(t) => serde_json::from_str(&t).map_err(|e| format!("{}: {e}", p.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{}: {e}", p.display())),
    }
}

pub fn sha256_hex(s: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

pub fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut b = vec![0u8; n];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
