//! The 2025-11-04 deployment's stacks load unchanged; broken copies fail with clear messages.

use std::path::{Path, PathBuf};

use phoenix_stacks::{Assignment, StackSource, Stacks, DEFAULT_ENVIRONMENT};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream-2025-11-04")
}

/// A copy of the fixture's `etc/` and `stacks/` in a temporary folder.
fn copy() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    copy_dir(&fixture().join("etc"), &d.path().join("etc"));
    copy_dir(&fixture().join("stacks"), &d.path().join("stacks"));
    d
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn load(base: &Path) -> Result<Stacks, Vec<phoenix_config::Diagnostic>> {
    Stacks::load_beside(&base.join("etc/phoenix_hypervisor_config.json"))
}

#[test]
fn fixture_stacks_load() {
    let s = load(&fixture()).unwrap();
    assert_eq!(
        s.stacks.keys().collect::<Vec<_>>(),
        ["portainer_service", "qdrant_service", "thinkheads_ai_app"]
    );
    for stack in s.stacks.values() {
        assert!(
            matches!(stack.source, StackSource::Folder(_)),
            "{}",
            stack.name
        );
    }
    let q = s.get("qdrant_service").unwrap();
    assert_eq!(q.compose.services(), ["qdrant"]);
    let deployed = q.deployed_compose(DEFAULT_ENVIRONMENT);
    assert!(
        deployed.contains("traefik.http.routers.qdrant.rule=Host(`qdrant.internal.thinkheads.ai`)"),
        "{deployed}"
    );
    assert_eq!(q.firewall_rules(DEFAULT_ENVIRONMENT).len(), 2);
    // The central entries of the same names are superseded by the folders, and say so.
    let superseded: Vec<_> = s
        .warnings
        .iter()
        .filter(|w| w.message.contains("superseded"))
        .map(|w| w.location.clone())
        .collect();
    assert_eq!(
        superseded,
        [
            "docker_stacks.portainer_service",
            "docker_stacks.qdrant_service",
            "docker_stacks.thinkheads_ai_app"
        ]
    );
    // thinkheads_ai_app uses ${API_PORT} without setting it: a warning, as Compose would warn.
    assert!(
        s.warnings.iter().any(|w| w.message.contains("${API_PORT}")),
        "{:?}",
        s.warnings
    );
}

#[test]
fn fixture_assignments_check() {
    let s = load(&fixture()).unwrap();
    let f = fixture().join("etc/phoenix_vm_configs.json");
    let a1 = ["portainer_service".to_string()];
    let a2 = [
        "qdrant_service".to_string(),
        "thinkheads_ai_app".to_string(),
    ];
    let ok = [
        Assignment {
            vmid: 1001,
            stacks: &a1,
            file: &f,
            path: "vms[1]".into(),
        },
        Assignment {
            vmid: 1002,
            stacks: &a2,
            file: &f,
            path: "vms[2]".into(),
        },
    ];
    assert!(s.check_assignments(&ok).is_empty());
    let bad = ["qdrant_servce".to_string(), "qdrant_servce".to_string()];
    let d = s.check_assignments(&[Assignment {
        vmid: 1002,
        stacks: &bad,
        file: &f,
        path: "vms[2]".into(),
    }]);
    assert_eq!(d.len(), 2);
    let text = d[0].to_string();
    assert!(
        text.contains("vms[2].docker_stacks[0]")
            && text.contains("unknown stack 'qdrant_servce'")
            && text.contains("did you mean 'qdrant_service'"),
        "{text}"
    );
    assert!(d[1].to_string().contains("listed twice"));
}

#[test]
fn compose_syntax_error_names_stack_and_line() {
    let d = copy();
    let compose = d.path().join("stacks/qdrant_service/docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    std::fs::write(&compose, text.replace("    ports:\n", "    ports: [\n")).unwrap();
    let errs = load(d.path()).unwrap_err();
    let e = errs
        .iter()
        .find(|e| e.severity == phoenix_config::Severity::Error)
        .unwrap()
        .to_string();
    assert!(
        e.contains("qdrant_service/docker-compose.yml")
            && e.contains("stack 'qdrant_service'")
            && e.contains("invalid YAML"),
        "{e}"
    );
    assert!(
        e.contains(":6:") || e.contains(":7:") || e.contains(":8:"),
        "line expected: {e}"
    );
}

#[test]
fn manifest_problems_have_json_paths() {
    let d = copy();
    let m = d.path().join("stacks/qdrant_service/phoenix.json");
    let text = std::fs::read_to_string(&m).unwrap();
    let text = text
        .replace("\"qdrant\": {", "\"qdrnt\": {")
        .replace("\"port\": \"6334\"", "\"port\": \"70000\"")
        .replace("\"description\"", "\"descripton\"");
    std::fs::write(&m, text).unwrap();
    let errs = load(d.path()).unwrap_err();
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        all.iter()
            .any(|e| e.contains("environments.production.services.qdrnt")
                && e.contains("not a service")),
        "{all:?}"
    );
    assert!(all.iter().any(|e| e.contains("environments.production.firewall_rules[1]") && e.contains("70000")), "{all:?}");
    assert!(
        all.iter()
            .any(|e| e.starts_with("warning") && e.contains("descripton")),
        "{all:?}"
    );
}

#[test]
fn central_entry_alone_is_used_and_checked() {
    let d = copy();
    std::fs::remove_dir_all(d.path().join("stacks/qdrant_service")).unwrap();
    // Its compose_file_path (persistent-storage/qdrant/docker-compose.yml) does not exist.
    let errs = load(d.path()).unwrap_err();
    assert!(
        errs.iter().any(|e| e
            .to_string()
            .contains("docker_stacks.qdrant_service.compose_file_path")
            && e.to_string().contains("not found")),
        "{errs:?}"
    );
    let dir = d.path().join("persistent-storage/qdrant");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture().join("stacks/qdrant_service/docker-compose.yml"),
        dir.join("docker-compose.yml"),
    )
    .unwrap();
    let s = load(d.path()).unwrap();
    let q = s.get("qdrant_service").unwrap();
    assert!(matches!(q.source, StackSource::Central(_)));
    assert!(q
        .deployed_compose("production")
        .contains("traefik.enable=true"));
}

#[test]
fn a_folder_without_a_manifest_is_skipped_with_a_warning() {
    let d = copy();
    std::fs::remove_file(d.path().join("stacks/thinkheads_ai_app/phoenix.json")).unwrap();
    // The central entry of that name is then used; its file sources do not exist there.
    let errs = load(d.path()).unwrap_err();
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        all.iter().any(|w| w.starts_with("warning")
            && w.contains("stack 'thinkheads_ai_app' skipped: no manifest phoenix.json")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|e| e.starts_with("error")
            && e.contains(
                "docker_stacks.thinkheads_ai_app.environments.production.files[0].source"
            )
            && e.contains("not found")),
        "{all:?}"
    );
}

#[test]
fn no_stacks_at_all_is_fine() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    let s = load(d.path()).unwrap();
    assert!(s.stacks.is_empty());
}

#[test]
fn stack_firewall_rules_reach_the_vm_without_repeats() {
    let s = load(&fixture()).unwrap();
    let vms: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixture().join("etc/phoenix_vm_configs.json")).unwrap(),
    )
    .unwrap();
    let vm = &vms["vms"][2];
    let own: Vec<phoenix_stacks::model::FirewallRule> =
        serde_json::from_value(vm["firewall"]["rules"].clone()).unwrap();
    let stacks: Vec<String> = serde_json::from_value(vm["docker_stacks"].clone()).unwrap();
    let all = s.firewall_rules_for(&own, &stacks);
    // 1002 already allows 6333 and 6334 (qdrant's rules); thinkheads_ai_app adds 8000.
    assert_eq!(all.len(), own.len() + 1);
    assert_eq!(all.last().unwrap().port.as_deref(), Some("8000"));
    // 1001 gets portainer_service's three rules.
    let vm = &vms["vms"][1];
    let own: Vec<phoenix_stacks::model::FirewallRule> =
        serde_json::from_value(vm["firewall"]["rules"].clone()).unwrap();
    let all = s.firewall_rules_for(&own, &["portainer_service".to_string()]);
    assert_eq!(all.len(), own.len() + 3);
}

#[test]
fn a_vms_firewall_rules_gain_its_stacks_rules() {
    use phoenix_config::model::firewall::{Direction, FwAction, PortList};
    let stacks = load(&fixture()).unwrap();
    let own = vec![phoenix_config::model::FirewallRule {
        direction: Direction::In,
        action: FwAction::Accept,
        proto: Some("tcp".into()),
        dport: Some(PortList::parse("22").unwrap()),
        ..Default::default()
    }];
    let names = [
        "qdrant_service".to_string(),
        "thinkheads_ai_app".to_string(),
    ];
    let rules = stacks.vm_rules(&own, &names).unwrap();
    let ports: Vec<String> = rules
        .iter()
        .map(|r| {
            r.dport
                .as_ref()
                .map(|p| format!("{p:?}"))
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(rules[0], own[0], "the VM's own rules first");
    assert!(rules.len() >= 4, "{ports:?}");
    assert!(rules
        .iter()
        .any(|r| r.comment.as_deref()
            == Some("stack qdrant_service: Allow access to Qdrant HTTP API")));
    assert!(rules.iter().any(|r| r.comment.as_deref()
        == Some("stack thinkheads_ai_app: Allow access to Thinkheads.AI App")
        && r.dport == Some(PortList::parse("8000").unwrap())));
    // Twice the same stack: its rules once.
    let twice = stacks
        .vm_rules(&own, &[names[0].clone(), names[0].clone()])
        .unwrap();
    assert_eq!(
        twice.len(),
        stacks.vm_rules(&own, &names[..1]).unwrap().len()
    );
    assert!(stacks.vm_rules(&own, &["nope".into()]).is_err());
}
