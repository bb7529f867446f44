//! `phoenix validate` on the old orchestrator's deployments, as an upgrading operator runs it:
//! both load unmodified; what Phoenix loads but does not apply yet would be a warning naming a
//! key of the not-applied table (`--strict` refuses it); the 2025-11-04 one has none left.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures")
        .join(rel)
}

fn validate(config: &PathBuf, strict: bool) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_phoenix"));
    c.arg("validate").arg("--config").arg(config);
    if strict {
        c.arg("--strict");
    }
    for v in [
        "PHOENIX_CONFIG",
        "PHOENIX_SIM",
        "PHOENIX_LOCK_FILE",
        "PHOENIX_HOST_LOCK_HELD",
    ] {
        c.env_remove(v);
    }
    c.output().expect("phoenix runs")
}

/// The location of each `warning:` line: `warning: <file>: <location>: <message>`.
fn warnings(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("warning: "))
        .map(|l| {
            let rest = l.split_once(".json: ").map_or(l, |(_, r)| r);
            rest.split_once(": ")
                .map_or(rest, |(loc, _)| loc)
                .to_string()
        })
        .collect()
}

#[test]
fn the_2025_11_04_deployment_validates_without_a_warning_even_strictly() {
    // Every key it holds is applied now (the service layer included).
    let cfg = fixture("upstream-2025-11-04/etc/phoenix_hypervisor_config.json");
    let o = validate(&cfg, false);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(warnings(&o).is_empty(), "{err}");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("configuration is valid: 12 containers, 3 VMs"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let strict = validate(&cfg, true);
    assert_eq!(
        strict.status.code(),
        Some(0),
        "--strict: {}",
        String::from_utf8_lossy(&strict.stderr)
    );
}

#[test]
fn the_2025_10_01_deployment_still_validates() {
    let cfg = fixture("upstream-2025-10-01/phoenix_hypervisor_config.json");
    let o = validate(&cfg, false);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for loc in warnings(&o) {
        assert!(phoenix_config::not_applied::lookup(&loc).is_some(), "{loc}");
    }
}
