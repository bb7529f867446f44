//! Runs the shell test suites (`tests/shell/run_all.sh`: feature scripts against a fake `pct`,
//! the legacy wrapper's mapping table, and `bash -n` + `shellcheck` of every script).

use std::process::Command;

#[test]
fn shell_suites_pass() {
    let root = phoenix_tests::repo();
    let out = Command::new("bash")
        .arg(root.join("tests/shell/run_all.sh"))
        .current_dir(&root)
        .env("PHOENIX_FIXTURES", phoenix_tests::upstream_fixture())
        .output()
        .expect("bash");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "shell suites failed:\n{text}");
}
