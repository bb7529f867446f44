//! JSON schemas of the stack files, generated from [`crate::model`] so they cannot disagree with
//! what Phoenix accepts. Committed under `schemas/`; a test fails when they are stale.

use crate::model::{Manifest, StacksFile};

/// `(file name, pretty JSON)` for each schema.
pub fn all() -> Vec<(&'static str, String)> {
    let render = |s: schemars::Schema| {
        let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
        text.push('\n');
        text
    };
    vec![
        (
            "phoenix_stacks_config.schema.json",
            render(schemars::schema_for!(StacksFile)),
        ),
        (
            "phoenix_stack_manifest.schema.json",
            render(schemars::schema_for!(Manifest)),
        ),
    ]
}
