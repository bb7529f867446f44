//! Hostile and broken input: every case in `tests/bad_configs/` must fail with exactly the error
//! lines in its `expected` file (paths shown as `{dir}`), never panic, and make zero calls to the
//! simulated node. `PHOENIX_BLESS=1` rewrites the `expected` files (review the diff!).

use std::path::Path;
use std::process::Command;

use phoenix_tests::{bin, clean_env, stderr};

const CONFIG: &str = "phoenix_hypervisor_config.json";

fn copy_case(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

/// Runs `phoenix LetsGo` on a case folder; returns (exit code, stderr with the folder as {dir}).
fn run_case(case: &Path, sim: &Path) -> (Option<i32>, String) {
    let mut c = Command::new(bin("phoenix"));
    c.args(["LetsGo", "--config"])
        .arg(case.join(CONFIG))
        .arg(format!("--sim={}", sim.display()));
    clean_env(&mut c);
    c.current_dir(case);
    let out = c.output().expect("phoenix");
    let dir = case.display().to_string();
    (out.status.code(), stderr(&out).replace(&dir, "{dir}"))
}

fn check(name: &str, case: &Path, expected_file: Option<&Path>, failures: &mut Vec<String>) {
    let sim = case.parent().unwrap().join(format!("{name}.sim"));
    let (code, err) = run_case(case, &sim);
    if code == Some(0) || code.is_none() {
        failures.push(format!("{name}: expected a failure, got exit {code:?}"));
    }
    if err.contains("panicked") || code == Some(101) {
        failures.push(format!("{name}: panicked:\n{err}"));
    }
    if sim.join("invocations.jsonl").exists() {
        failures.push(format!("{name}: the simulated node was called"));
    }
    let Some(expected_file) = expected_file else {
        return;
    };
    if std::env::var("PHOENIX_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(expected_file, &err).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(expected_file).unwrap_or_default();
    if expected != err {
        failures.push(format!(
            "{name}: stderr differs\n--- expected\n{expected}--- got\n{err}"
        ));
    }
}

#[test]
fn every_bad_config_fails_clearly_without_touching_the_node() {
    let root = phoenix_tests::repo().join("tests/bad_configs");
    let tmp = tempfile::tempdir().unwrap();
    let mut names: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(
        names.len() >= 40,
        "at least 40 cases, found {}",
        names.len()
    );
    let mut failures = Vec::new();
    for name in &names {
        let case = tmp.path().join(name);
        copy_case(&root.join(name), &case);
        check(
            name,
            &case,
            Some(&root.join(name).join("expected")),
            &mut failures,
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n\n")
    );
}

/// Cases too large to commit are generated.
#[test]
fn generated_hostile_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    let lxc = "phoenix_lxc_configs.json";
    let hv = r#"{"core_paths": {"lxc_config_file": "phoenix_lxc_configs.json"}}"#;

    let deep = tmp.path().join("deep");
    std::fs::create_dir(&deep).unwrap();
    std::fs::write(deep.join(CONFIG), hv).unwrap();
    let nesting = 100_000;
    std::fs::write(
        deep.join(lxc),
        format!("{}{}", "[".repeat(nesting), "]".repeat(nesting)),
    )
    .unwrap();
    let (_, err) = run_case(&deep, &tmp.path().join("deep.sim"));
    assert!(
        err.contains("{dir}/phoenix_lxc_configs.json: 1:") && err.contains("nesting too deep"),
        "{err}"
    );
    check("deep-nesting", &deep, None, &mut failures);

    let big = tmp.path().join("big");
    std::fs::create_dir(&big).unwrap();
    std::fs::write(big.join(CONFIG), hv).unwrap();
    let mut text = String::from(r#"{"lxc_configs": {}, "pad": ""#);
    text.push_str(&"x".repeat(50 * 1024 * 1024));
    text.push_str("\"}");
    std::fs::write(big.join(lxc), text).unwrap();
    let (_, err) = run_case(&big, &tmp.path().join("big.sim"));
    assert!(
        err.contains("file is 50.0 MiB; config files are limited to 16 MiB"),
        "{err}"
    );
    check("huge-file", &big, None, &mut failures);
    assert!(failures.is_empty(), "{failures:#?}");
}
