//! `cluster.nodes[].setup`: the set-up values that differ on one node, merged over the
//! top-level hypervisor config (JSON merge patch, RFC 7396) for that node's set-up only.
//!
//! Checked before anything runs: only set-up keys ([`SETUP_KEYS`]) may be overridden, and each
//! node's merged file must pass the same checks as the top-level one. An error found in the
//! merged file names the node's override when the key came from it
//! (`cluster.nodes[1].setup.network.interfaces.address`), else the top-level path with the node.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::Report;
use crate::error::{Diagnostic, Severity};
use crate::model::Cluster;

/// The hypervisor-config keys a node's `setup` may set: what the set-up steps read. The rest
/// (`cluster`, `core_paths`, `orchestration`, guest defaults, the cluster-wide firewall, the
/// service layer) is one value for the whole cluster.
pub const SETUP_KEYS: &[&str] = &[
    "users",
    "timezone",
    "network",
    "nfs",
    "samba",
    "zfs",
    "nvidia_driver",
    "vfio",
    "sysctl",
    "shared_volumes",
    "setup_sequence",
];

/// RFC 7396 JSON merge patch: `patch` applied to `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Checks every node's `setup` and returns each such node's merged hypervisor file.
/// `original` is the hypervisor file's text; `top` the top-level file's findings (an error the
/// merged file shares with it is not reported twice).
pub(crate) fn check(
    path: &Path,
    original: &str,
    cluster: Option<&Cluster>,
    top: &[Diagnostic],
    out: &mut Vec<Diagnostic>,
) -> BTreeMap<String, Value> {
    let mut merged = BTreeMap::new();
    let Some(c) = cluster else {
        return merged;
    };
    if c.nodes.iter().all(|n| n.setup.is_none()) {
        return merged;
    }
    let Ok(base) = serde_json::from_str::<Value>(original) else {
        return merged;
    };
    for (i, n) in c.nodes.iter().enumerate() {
        let Some(setup) = &n.setup else { continue };
        let at = format!("cluster.nodes[{i}].setup");
        let mut r = Report { file: path, out };
        let mut bad = false;
        for key in setup.keys() {
            if !SETUP_KEYS.contains(&key.as_str()) {
                bad = true;
                r.error(
                    format!("{at}.{key}"),
                    format!(
                        "'{key}' is not a set-up value a node may override; a node's setup may set: {}",
                        SETUP_KEYS.join(", ")
                    ),
                );
            }
        }
        if bad {
            continue;
        }
        let mut doc = base.clone();
        merge_patch(&mut doc, &Value::Object(setup.clone()));
        for d in check_merged(path, &doc) {
            let top_key = d.location.split(['.', '[']).next().unwrap_or("");
            let relocated = if setup.contains_key(top_key) {
                Diagnostic {
                    location: format!("{at}.{}", d.location),
                    ..d
                }
            } else if d.severity != Severity::Error
                || top
                    .iter()
                    .any(|t| t.location == d.location && t.message == d.message)
            {
                continue;
            } else {
                Diagnostic {
                    message: format!("{} (on node '{}', with {at} merged)", d.message, n.name),
                    ..d
                }
            };
            out.push(relocated);
        }
        merged.insert(n.name.clone(), doc);
    }
    merged
}

/// The findings of the merged file, checked as the top-level one is: its errors, and the
/// unknown keys of its parse (a typo in an override is reported like one at the top level).
fn check_merged(path: &Path, doc: &Value) -> Vec<Diagnostic> {
    let text = doc.to_string();
    let mut found = Vec::new();
    match crate::load::parse_str::<crate::raw::HypervisorFile>(path, &text) {
        Ok(p) => {
            found.extend(p.warnings);
            let mut built = Vec::new();
            super::hypervisor::build(
                &mut Report {
                    file: path,
                    out: &mut built,
                },
                p.value,
            );
            found.extend(built.into_iter().filter(|d| d.severity == Severity::Error));
        }
        Err(d) => found.push(d),
    }
    found
}

/// The hypervisor model of a merged file (checked at load time, so nothing is reported).
pub(crate) fn build(path: &Path, doc: &Value) -> Option<crate::model::Hypervisor> {
    let raw = serde_json::from_value::<crate::raw::HypervisorFile>(doc.clone()).ok()?;
    let mut ignored = Vec::new();
    Some(super::hypervisor::build(
        &mut Report {
            file: path,
            out: &mut ignored,
        },
        raw,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(target: Value, patch: Value) -> Value {
        let mut t = target;
        merge_patch(&mut t, &patch);
        t
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The examples of RFC 7396, section 3 and appendix A.
        let doc = json!({"title": "Goodbye!", "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"], "content": "This will be unchanged"});
        let patch = json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null}, "tags": ["example"]});
        assert_eq!(
            merged(doc, patch),
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
        assert_eq!(
            merged(json!({"a": "b"}), json!({"a": "c"})),
            json!({"a": "c"})
        );
        assert_eq!(
            merged(json!({"a": "b"}), json!({"b": "c"})),
            json!({"a": "b", "b": "c"})
        );
        assert_eq!(merged(json!({"a": "b"}), json!({"a": null})), json!({}));
        assert_eq!(
            merged(json!({"a": ["b"]}), json!({"a": "c"})),
            json!({"a": "c"})
        );
        assert_eq!(
            merged(json!({"a": "c"}), json!({"a": ["b"]})),
            json!({"a": ["b"]})
        );
        assert_eq!(
            merged(
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}})
            ),
            json!({"a": {"b": "d"}})
        );
        assert_eq!(
            merged(json!({"a": [{"b": "c"}]}), json!({"a": [1]})),
            json!({"a": [1]})
        );
        assert_eq!(
            merged(json!(["a", "b"]), json!(["c", "d"])),
            json!(["c", "d"])
        );
        assert_eq!(merged(json!({"a": "b"}), json!(["c"])), json!(["c"]));
        assert_eq!(
            merged(json!({"e": null}), json!({"a": 1})),
            json!({"e": null, "a": 1})
        );
        assert_eq!(
            merged(json!([1, 2]), json!({"a": "b", "c": null})),
            json!({"a": "b"})
        );
        assert_eq!(
            merged(json!({}), json!({"a": {"bb": {"ccc": null}}})),
            json!({"a": {"bb": {}}})
        );
    }
}
