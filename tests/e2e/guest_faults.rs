//! One broken install command per feature script (issue 14): a `guest_commands` fault rule
//! makes the command fail inside the simulated guest as a real failure would (exit code and
//! stderr of the real tool); the run fails naming the guest and carrying the guest's stderr;
//! without the rule the re-run converges and the feature is in place.

use phoenix_tests::{
    exec_log, repo, standins, stderr, upstream_1104_fixture, upstream_fixture, Sim,
};
use serde_json::{json, Value};

struct Case {
    /// `etc` (the example) or the upstream fixture.
    config: std::path::PathBuf,
    /// What `phoenix create` builds (with its dependencies).
    target: &'static str,
    rule: Value,
    /// Part of the guest's stderr the error must carry.
    stderr: &'static str,
    /// A stand-in call (words) that changed the guest in the converging re-run.
    then_installed: (u64, &'static [&'static str]),
}

fn example() -> std::path::PathBuf {
    repo().join("etc/phoenix_hypervisor_config.json")
}

fn fixture() -> std::path::PathBuf {
    upstream_fixture().join("phoenix_hypervisor_config.json")
}

/// The 2025-11-04 deployment: its service layer's features (step_ca, step_cli, trusted_ca).
fn fixture_1104() -> std::path::PathBuf {
    upstream_1104_fixture().join("phoenix_hypervisor_config.json")
}

fn run_case(c: Case) {
    let sim = Sim::new();
    let cfg = c.config.to_string_lossy().into_owned();
    let o = sim.run(&["setup", "--config", &cfg]);
    assert!(o.status.success(), "setup: {}", stderr(&o));
    let images = sim.dir().join("host/var/lib/vz/template/phoenix-images");
    std::fs::create_dir_all(&images).unwrap();
    std::fs::write(images.join("noble-server-cloudimg-amd64.img"), b"image").unwrap();
    std::fs::write(
        sim.dir().join("faults.json"),
        json!({ "guest_commands": [c.rule] }).to_string(),
    )
    .unwrap();
    let args = ["create", c.target, "--config", &cfg, "--no-boot-delay"];
    let o = sim.run(&args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the broken install fails the run:\n{err}"
    );
    assert!(
        err.contains(c.stderr),
        "the guest's stderr is in the message:\n{err}"
    );
    assert!(err.contains("Error: "), "{err}");
    std::fs::write(sim.dir().join("faults.json"), "{}").unwrap();
    let o = sim.run(&args);
    assert!(o.status.success(), "the re-run converges:\n{}", stderr(&o));
    let (id, words) = c.then_installed;
    let done = standins(&exec_log(&sim.dir(), id))
        .iter()
        .any(|(cmd, changed)| *changed && words.iter().all(|w| cmd.contains(w)));
    assert!(done, "guest {id} ran {words:?} in the re-run");
}

#[test]
fn lxc_base_setup_apt_failure() {
    run_case(Case {
        config: example(),
        target: "900",
        rule: json!({"tool": "pct", "vmid": 900, "contains": "apt-get install -y ca-certificates",
            "exit_code": 100,
            "stderr": "E: Failed to fetch http://archive.ubuntu.com/ubuntu/pool/main/j/jq/jq_1.7.1-3build1_amd64.deb  Temporary failure resolving 'archive.ubuntu.com'\n"}),
        stderr: "Temporary failure resolving 'archive.ubuntu.com'",
        then_installed: (900, &["apt-get install", "jq"]),
    });
}

#[test]
fn lxc_nvidia_runfile_failure() {
    run_case(Case {
        config: example(),
        target: "901",
        rule: json!({"tool": "pct", "vmid": 901, "contains": "--no-kernel-module", "exit_code": 1,
            "stderr": "ERROR: Unable to find the development tool `cc` in your path\n"}),
        stderr: "Unable to find the development tool",
        then_installed: (901, &["nvidia-installer"]),
    });
}

#[test]
fn lxc_docker_apt_failure() {
    run_case(Case {
        config: example(),
        target: "902",
        rule: json!({"tool": "pct", "vmid": 902, "contains": "apt-get install -y docker-ce",
            "exit_code": 100, "stderr": "E: Package 'docker-ce' has no installation candidate\n"}),
        stderr: "has no installation candidate",
        then_installed: (902, &["apt-get install", "docker-ce"]),
    });
}

#[test]
fn lxc_vllm_pip_failure() {
    run_case(Case {
        config: example(),
        target: "950",
        rule: json!({"tool": "pct", "vmid": 950, "contains": "bin/pip install vllm", "exit_code": 1,
            "stderr": "ERROR: Could not find a version that satisfies the requirement vllm\n"}),
        stderr: "Could not find a version that satisfies the requirement vllm",
        then_installed: (950, &["pip install", "vllm"]),
    });
}

#[test]
fn lxc_ollama_installer_failure() {
    run_case(Case {
        config: fixture(),
        target: "955",
        rule: json!({"tool": "pct", "vmid": 955, "contains": "ollama-install", "exit_code": 6,
            "stderr": "curl: (6) Could not resolve host: ollama.com\n"}),
        stderr: "Could not resolve host: ollama.com",
        then_installed: (955, &["systemctl enable ollama"]),
    });
}

#[test]
fn vm_base_setup_apt_failure() {
    run_case(Case {
        config: example(),
        target: "8000",
        // Inside the VM the feature script runs apt-get itself: the rule matches that stand-in.
        rule: json!({"tool": "qm", "vmid": 8000, "contains": "apt-get install -y", "exit_code": 100,
            "stderr": "E: Unable to locate package jq\n"}),
        stderr: "Unable to locate package jq",
        then_installed: (8000, &["apt-get install -y", "jq"]),
    });
}

#[test]
fn vm_docker_apt_failure() {
    run_case(Case {
        config: example(),
        target: "8001",
        rule: json!({"tool": "qm", "vmid": 8001, "contains": "apt-get install -y docker-ce",
            "exit_code": 100, "stderr": "E: Package 'docker-ce' has no installation candidate\n"}),
        stderr: "has no installation candidate",
        then_installed: (8001, &["apt-get install -y", "docker-ce"]),
    });
}

#[test]
fn lxc_step_ca_apt_failure() {
    run_case(Case {
        config: fixture_1104(),
        target: "103",
        rule: json!({"tool": "pct", "vmid": 103, "contains": "apt-get install -y step-cli step-ca",
            "exit_code": 100,
            "stderr": "E: Failed to fetch https://packages.smallstep.com/stable/debian/pool/main/s/step-ca/step-ca_0.28.4_amd64.deb  404  Not Found\n"}),
        stderr: "step-ca_0.28.4_amd64.deb  404  Not Found",
        then_installed: (103, &["apt-get install", "step-ca"]),
    });
}

#[test]
fn lxc_step_cli_apt_failure() {
    run_case(Case {
        config: fixture_1104(),
        target: "101",
        rule: json!({"tool": "pct", "vmid": 101, "contains": "apt-get install -y step-cli",
            "exit_code": 100, "stderr": "E: Unable to locate package step-cli\n"}),
        stderr: "Unable to locate package step-cli",
        then_installed: (101, &["apt-get install", "step-cli"]),
    });
}

#[test]
fn lxc_trusted_ca_update_failure() {
    // The root is written before update-ca-certificates fails: the re-run must still run it.
    run_case(Case {
        config: fixture_1104(),
        target: "101",
        rule: json!({"tool": "pct", "vmid": 101, "contains": "update-ca-certificates",
            "exit_code": 1,
            "stderr": "rehash: warning: skipping phoenix_root_ca.pem,it does not contain exactly one certificate or CRL\n"}),
        stderr: "does not contain exactly one certificate",
        then_installed: (101, &["update-ca-certificates"]),
    });
}

#[test]
fn vm_step_cli_and_trusted_ca_failures() {
    // One VM, two broken features in turn (creating 1001 needs 103, 102 and the template).
    run_case(Case {
        config: fixture_1104(),
        target: "1001",
        rule: json!({"tool": "qm", "vmid": 1001, "contains": "update-ca-certificates",
            "exit_code": 1, "stderr": "update-ca-certificates: /etc/ssl/certs is read-only\n"}),
        stderr: "/etc/ssl/certs is read-only",
        then_installed: (1001, &["update-ca-certificates"]),
    });
    run_case(Case {
        config: fixture_1104(),
        target: "1001",
        rule: json!({"tool": "qm", "vmid": 1001, "contains": "apt-get install -y step-cli",
            "exit_code": 100, "stderr": "E: Unable to locate package step-cli\n"}),
        stderr: "Unable to locate package step-cli",
        then_installed: (1001, &["apt-get install -y", "step-cli"]),
    });
}
