//! The committed `schemas/phoenix_status.schema.json` must be what [`GuestStatus`] generates.
//! Regenerate with `PHOENIX_UPDATE_SCHEMAS=1 cargo test -p phoenix-report --test schema`.

use std::path::PathBuf;

#[test]
fn committed_status_schema_is_current() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/phoenix_status.schema.json");
    let text = serde_json::to_string_pretty(&phoenix_report::status::schema()).unwrap() + "\n";
    if std::env::var("PHOENIX_UPDATE_SCHEMAS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "stale {}: run `PHOENIX_UPDATE_SCHEMAS=1 cargo test -p phoenix-report --test schema` and commit it",
        path.display()
    );
}
