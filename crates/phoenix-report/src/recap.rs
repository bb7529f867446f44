//! Counting events per guest for the closing recap (Ansible's `ok=5 changed=1 failed=0`):
//! `ok` counts steps found as desired, `changed` actions applied, `planned` actions a dry run
//! would apply, `failed` failed steps or managers, `skipped` guests or steps not processed.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::{Event, EventKind, GuestTag};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Tally {
    pub ok: u32,
    pub changed: u32,
    pub failed: u32,
    pub skipped: u32,
    pub planned: u32,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.ok += o.ok;
        self.changed += o.changed;
        self.failed += o.failed;
        self.skipped += o.skipped;
        self.planned += o.planned;
    }
}

/// Tallies by guest (`None`: the host), the host first, then by guest id: parallel runs finish
/// in any order, and the recap reads the same every time. Host events of a cluster node
/// (`setup` per node) have one row per node, by name, after the host's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recap {
    pub rows: Vec<(Option<GuestTag>, Tally)>,
    pub nodes: Vec<(String, Tally)>,
}

impl Recap {
    fn node_row(&mut self, n: &str) -> &mut Tally {
        let i = match self.nodes.binary_search_by(|(k, _)| k.as_str().cmp(n)) {
            Ok(i) => i,
            Err(i) => {
                self.nodes.insert(i, (n.to_string(), Tally::default()));
                i
            }
        };
        &mut self.nodes[i].1
    }

    /// A node's row (for a host step of that node that reported nothing itself).
    pub fn count_silent_node(&mut self, node: &str, ok: bool) {
        let t = self.node_row(node);
        if ok {
            t.ok += 1;
        } else {
            t.failed += 1;
        }
    }

    /// The tally of node `n`'s host steps.
    pub fn node(&self, n: &str) -> Tally {
        self.nodes
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, t)| *t)
            .unwrap_or_default()
    }

    /// Whether there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty() && self.nodes.is_empty()
    }

    fn row(&mut self, g: Option<GuestTag>) -> &mut Tally {
        let i = match self.rows.binary_search_by(|(k, _)| k.cmp(&g)) {
            Ok(i) => i,
            Err(i) => {
                self.rows.insert(i, (g, Tally::default()));
                i
            }
        };
        &mut self.rows[i].1
    }

    /// Counts one event.
    pub fn count(&mut self, e: &Event) {
        let t = match (&e.guest, &e.node) {
            (None, Some(n)) => self.node_row(n),
            _ => self.row(e.guest),
        };
        match e.event {
            EventKind::Unchanged => t.ok += 1,
            EventKind::Changed => t.changed += 1,
            EventKind::Planned => t.planned += 1,
            EventKind::Failed => t.failed += 1,
            EventKind::Skipped => t.skipped += 1,
            _ => {}
        }
    }

    /// A manager call that reported nothing itself (an older or a stub manager): its exit status
    /// is all we know.
    pub fn count_silent_call(&mut self, g: Option<GuestTag>, ok: bool) {
        let t = self.row(g);
        if ok {
            t.ok += 1;
        } else {
            t.failed += 1;
        }
    }

    pub fn get(&self, g: Option<GuestTag>) -> Tally {
        self.rows
            .iter()
            .find(|(k, _)| *k == g)
            .map(|(_, t)| *t)
            .unwrap_or_default()
    }

    pub fn totals(&self) -> Tally {
        let mut t = Tally::default();
        for (_, r) in &self.rows {
            t.add(r);
        }
        for (_, r) in &self.nodes {
            t.add(r);
        }
        t
    }

    /// The recap as one JSON object (`--output json`).
    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|(g, t)| {
                let mut v = serde_json::to_value(t).unwrap_or_default();
                if let (Some(o), Some(g)) = (v.as_object_mut(), g) {
                    o.insert("id".into(), g.id.into());
                    o.insert("type".into(), g.kind.as_str().into());
                }
                v
            })
            .collect();
        let mut out =
            serde_json::json!({"event": "recap", "guests": rows, "totals": self.totals()});
        if !self.nodes.is_empty() {
            let nodes: Vec<serde_json::Value> = self
                .nodes
                .iter()
                .map(|(n, t)| {
                    let mut v = serde_json::to_value(t).unwrap_or_default();
                    if let Some(o) = v.as_object_mut() {
                        o.insert("node".into(), n.as_str().into());
                    }
                    v
                })
                .collect();
            out["nodes"] = nodes.into();
        }
        out
    }
}
