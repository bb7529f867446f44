//! The committed `schemas/phoenix_stack*.schema.json` must be what the model generates.
//! Regenerate with `PHOENIX_UPDATE_SCHEMAS=1 cargo test -p phoenix-stacks --test schemas`.

use std::path::PathBuf;

#[test]
fn committed_schemas_are_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let update = std::env::var("PHOENIX_UPDATE_SCHEMAS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, text) in phoenix_stacks::schema::all() {
        let path = dir.join(name);
        if update {
            std::fs::write(&path, &text).expect("write schema");
            continue;
        }
        if std::fs::read_to_string(&path).unwrap_or_default() != text {
            stale.push(name);
        }
    }
    assert!(
        stale.is_empty(),
        "stale schemas {stale:?}: run `PHOENIX_UPDATE_SCHEMAS=1 cargo test -p phoenix-stacks --test schemas` and commit schemas/"
    );
}
