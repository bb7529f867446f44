//! API-level fault rules (`"api_rules"` in `$PVE_SIM_ROOT/faults.json`): fail a request before
//! it runs, or after it ran (its answer lost), drop the connection, or end its task with an
//! error or with warnings. Counted for `nth` like the CLI rules (`fault-counters.json`).

use serde::Deserialize;

use crate::state::Node;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ApiRule {
    /// `GET`, `POST`, `PUT`, `DELETE`; absent matches all.
    pub method: Option<String>,
    /// Exact path below `/api2/json` (`/nodes/pve/lxc`).
    pub path: Option<String>,
    /// Substring of the path.
    pub path_contains: Option<String>,
    /// Only the Nth matching request (1-based); absent: every matching request.
    pub nth: Option<u64>,
    /// `before` (default): answer the fault instead of running the request; `after`: run the
    /// request to its end (task included), then answer the fault, as if the answer was lost.
    #[serde(default)]
    pub when: When,
    /// HTTP status of the fault answer (default 500).
    pub status: Option<u16>,
    #[serde(default)]
    pub message: String,
    /// Close the connection without any answer.
    #[serde(default)]
    pub reset: bool,
    /// The request's task fails with this message (nothing is run).
    pub task_error: Option<String>,
    /// The request's task runs and ends with these `WARN:` lines (`TASK WARNINGS: N`).
    #[serde(default)]
    pub task_warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum When {
    #[default]
    Before,
    After,
}

/// The first rule matching `method path` (counted for `nth`), if any.
pub fn matching(node: &Node, method: &str, path: &str) -> Option<ApiRule> {
    for (i, r) in node.faults.api_rules.iter().enumerate() {
        let m = r
            .method
            .as_deref()
            .is_none_or(|x| x.eq_ignore_ascii_case(method))
            && r.path.as_deref().is_none_or(|p| p == path)
            && r.path_contains.as_deref().is_none_or(|p| path.contains(p));
        if !m {
            continue;
        }
        let n = node.count_match(&format!("api{i}")).ok()?;
        if r.nth.is_none_or(|nth| nth == n) {
            return Some(r.clone());
        }
    }
    None
}
