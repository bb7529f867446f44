//! `bash -n` and `shellcheck -x` of the set-up steps, the host test runner and install.sh.
//! Without shellcheck the syntax check still runs and a skip note is printed.

mod common;

use std::process::Command;

fn scripts() -> Vec<std::path::PathBuf> {
    let repo = common::repo();
    let mut out: Vec<_> = std::fs::read_dir(repo.join("scripts/hypervisor_setup"))
        .expect("scripts/hypervisor_setup")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sh"))
        .collect();
    out.sort();
    out.push(repo.join("scripts/tests/hypervisor_test_runner.sh"));
    out.push(repo.join("scripts/install.sh"));
    out
}

#[test]
fn scripts_parse_and_pass_shellcheck() {
    let files = scripts();
    assert!(files.len() >= 13, "{files:?}");
    for f in &files {
        let o = Command::new("bash")
            .arg("-n")
            .arg(f)
            .output()
            .expect("run bash -n");
        assert!(
            o.status.success(),
            "bash -n {}: {}",
            f.display(),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let Ok(o) = Command::new("shellcheck")
        .arg("-x")
        .args(&files)
        .current_dir(common::repo())
        .output()
    else {
        eprintln!("note: shellcheck is not installed; only `bash -n` was checked");
        return;
    };
    assert!(
        o.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn steps_are_strict_and_executable() {
    use std::os::unix::fs::PermissionsExt;
    for f in scripts() {
        let body = std::fs::read_to_string(&f).expect("read script");
        if f.ends_with("hypervisor_setup_lib.sh") {
            continue;
        }
        assert!(
            body.contains("set -euo pipefail"),
            "{} lacks set -euo pipefail",
            f.display()
        );
        let mode = std::fs::metadata(&f).expect("stat").permissions().mode();
        assert!(mode & 0o111 != 0, "{} is not executable", f.display());
    }
}
