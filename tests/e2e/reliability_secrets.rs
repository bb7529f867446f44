//! Secrets (docs/reliability.md, "Secrets"): the hypervisor `users.password_hash`, a VM's
//! `user_config.password_hash` and the contents of `core_paths.hf_token_file` /
//! `docker_token_file` never appear on stdout/stderr of any verb (set-up, LetsGo, dry run,
//! `-vv`, a failing run, status, validate) nor in the argv of any logged tool call. They are
//! used: the host password is set, the HF token reaches the vLLM container as a file, the VM
//! hash is in its user-data snippet (mode 0600).

#[path = "reliability_common.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use phoenix_tests::Sim;
use serde_json::{json, Value};

const HOST_HASH: &str = "$6$phxhostsalt$HOSTSECRETxq7Lr2Vb9Kd0Wm3Zt5Ya8Nc1Pe4Hs6Jf";
const VM_HASH: &str = "$6$phxvmsalt$VMSECRETpw8Gd2Tk5Qz9Lb3Xr7Mn1Cv4Bs6Fy0Hj";
const HF_TOKEN: &str = "hf_TOKENSECRETa1B2c3D4e5F6g7H8";
const DOCKER_TOKEN: &str = "dckr_pat_TOKENSECRETz9Y8x7W6";
const SECRETS: [&str; 4] = [HOST_HASH, VM_HASH, HF_TOKEN, DOCKER_TOKEN];

/// The fixture with the secrets set; token files where the host's scripts read them (under
/// the simulated host root) and beside the config (where Phoenix resolves `core_paths`).
fn secret_config(sim: &Sim) -> PathBuf {
    let dir = sim.tmp.path().join("etc");
    std::fs::create_dir_all(&dir).unwrap();
    let src = phoenix_tests::upstream_fixture();
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(src.join(f)).unwrap()).unwrap()
    };
    let mut hv = read("phoenix_hypervisor_config.json");
    hv["users"]["password_hash"] = json!(HOST_HASH);
    let mut vms = read("phoenix_vm_configs.json");
    for vm in vms["vms"].as_array_mut().unwrap() {
        if vm["vmid"] == 8001 {
            vm["user_config"]["password_hash"] = json!(VM_HASH);
        }
    }
    std::fs::write(dir.join("phoenix_hypervisor_config.json"), hv.to_string()).unwrap();
    std::fs::write(dir.join("phoenix_vm_configs.json"), vms.to_string()).unwrap();
    std::fs::copy(
        src.join("phoenix_lxc_configs.json"),
        dir.join("phoenix_lxc_configs.json"),
    )
    .unwrap();
    for (key, token) in [
        ("hf_token_file", HF_TOKEN),
        ("docker_token_file", DOCKER_TOKEN),
    ] {
        let path = hv["core_paths"][key].as_str().unwrap().to_string();
        let on_host = sim.dir().join("host").join(path.trim_start_matches('/'));
        std::fs::create_dir_all(on_host.parent().unwrap()).unwrap();
        std::fs::write(&on_host, format!("{token}\n")).unwrap();
        let name = Path::new(&path).file_name().unwrap();
        std::fs::write(dir.join(name), format!("{token}\n")).unwrap();
    }
    dir.join("phoenix_hypervisor_config.json")
}

fn run(sim: &Sim, cfg: &Path, args: &[&str], outputs: &mut Vec<(String, Output)>) -> Output {
    let mut c = phoenix(sim, args);
    c.arg("--config").arg(cfg);
    let o = c.output().unwrap();
    outputs.push((args.join(" "), o.clone()));
    o
}

fn leaks(label: &str, text: &str) -> Vec<String> {
    SECRETS
        .iter()
        .filter(|s| text.contains(*s))
        .map(|s| format!("{label}: contains {s}"))
        .collect()
}

#[test]
fn secrets_never_appear_in_output_logs_or_argv_but_are_used() {
    let sim = fresh();
    let cfg = secret_config(&sim);
    let mut outs = Vec::new();
    let ok = |o: &Output, what: &str| {
        assert!(o.status.success(), "{what}:\n{}", phoenix_tests::stderr(o))
    };
    let o = run(
        &sim,
        &cfg,
        &["LetsGo", "--dry-run", "-vv", "--no-boot-delay"],
        &mut outs,
    );
    ok(&o, "dry run");
    let o = run(&sim, &cfg, &["setup", "-vv"], &mut outs);
    ok(&o, "setup");
    // The simulated guest says the token file is not in place yet, so vLLM's script writes it.
    set_faults(
        &sim,
        &json!({ "guest_commands": [{ "tool": "pct", "vmid": 950, "contains": "hf_token.env", "exit_code": 1 }] }),
    );
    let o = run(&sim, &cfg, &["LetsGo", "-vv", "--no-boot-delay"], &mut outs);
    ok(&o, "LetsGo");
    let o = run(
        &sim,
        &cfg,
        &["reconfigure", "950", "8001", "-vv"],
        &mut outs,
    );
    ok(&o, "reconfigure");
    // Failing runs: the VM's feature cannot be transferred; no command runs in 950.
    set_faults(
        &sim,
        &json!({ "rules": [
            { "tool": "qm", "command": "guest exec", "vmid": 8001, "message": "QEMU guest agent is not running" },
            { "tool": "pct", "command": "exec", "vmid": 950, "message": "lxc-attach failed" }
        ] }),
    );
    let o = run(&sim, &cfg, &["reconfigure", "8001", "-vv"], &mut outs);
    assert!(!o.status.success());
    let o = run(&sim, &cfg, &["reconfigure", "950", "-vv"], &mut outs);
    assert!(!o.status.success());
    set_faults(&sim, &json!({}));
    let o = run(&sim, &cfg, &["status"], &mut outs);
    ok(&o, "status");
    let o = run(&sim, &cfg, &["status", "--output", "json"], &mut outs);
    ok(&o, "status json");
    let o = run(&sim, &cfg, &["validate", "--output", "json"], &mut outs);
    ok(&o, "validate");
    let o = run(&sim, &cfg, &["validate", "--strict", "-vv"], &mut outs);
    assert!(o.status.code().is_some());

    let mut found = Vec::new();
    for (what, o) in &outs {
        found.extend(leaks(
            &format!("stdout of `{what}`"),
            &String::from_utf8_lossy(&o.stdout),
        ));
        found.extend(leaks(
            &format!("stderr of `{what}`"),
            &String::from_utf8_lossy(&o.stderr),
        ));
    }
    for call in sim.invocations() {
        found.extend(leaks(
            &format!("argv of {} {}", call["tool"], call["argv"]),
            &call["argv"].to_string(),
        ));
    }
    assert!(found.is_empty(), "secrets leaked:\n{}", found.join("\n"));

    // They were used, so the checks above looked at runs that handled them.
    let snippets = sim
        .dir()
        .join("storage/local/snippets/phoenix-8001-user.yml");
    let user_data = std::fs::read_to_string(&snippets).unwrap();
    assert!(
        user_data.contains(VM_HASH),
        "the VM's hash is in its user-data"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&snippets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "user-data holding a password hash is private");
    let host_state = std::fs::read_to_string(sim.dir().join("host-state/state.json")).unwrap();
    assert!(
        host_state.contains(HOST_HASH),
        "the host user's password was set"
    );
    let pushed = sim.dir().join("guests/950/rootfs/etc/vllm/hf_token.env");
    let token = std::fs::read_to_string(&pushed).unwrap_or_default();
    assert!(
        token.contains(HF_TOKEN),
        "the HF token reached the vLLM container ({})",
        pushed.display()
    );
    let problems = check_state(&sim.dir());
    assert!(problems.is_empty(), "{problems:#?}");
}
