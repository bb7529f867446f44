//! JSON Schemas of the three files, generated from the model types so they can never disagree
//! with what Phoenix accepts. `schemas/*.schema.json` are committed; a test fails when they are
//! stale, and `cargo run -p phoenix -- schema --write schemas/` regenerates them.

use crate::raw::{HypervisorFile, LxcFile, VmFile};

/// `(file name, pretty JSON)` for each schema, in a stable order.
pub fn all() -> Vec<(&'static str, String)> {
    let render = |s: schemars::Schema| {
        let mut text = serde_json::to_string_pretty(&s).unwrap_or_default();
        text.push('\n');
        text
    };
    vec![
        (
            "phoenix_hypervisor_config.schema.json",
            render(schemars::schema_for!(HypervisorFile)),
        ),
        (
            "phoenix_lxc_configs.schema.json",
            render(schemars::schema_for!(LxcFile)),
        ),
        (
            "phoenix_vm_configs.schema.json",
            render(schemars::schema_for!(VmFile)),
        ),
    ]
}
