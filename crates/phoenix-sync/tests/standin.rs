//! `sync` against the Portainer stand-in with the 2025-11-04 stacks: first run registers the
//! agent and creates the stacks, a second run changes nothing, a changed variable updates
//! exactly that stack, a failing Portainer stops with the stack named and nothing half done.

use std::path::{Path, PathBuf};
use std::time::Duration;

use phoenix_stacks::Stacks;
use phoenix_sync::{apply, desired, plan, AgentVm, Step};
use portainer::{Client, Options, Secret};
use pve_sim_services::ca::{Ca, CaConfig};
use pve_sim_services::{net, portainer as standin, tls};

const PASSWORD: &str = "NewKick@$$2025";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream-2025-11-04")
}

struct Env {
    dir: tempfile::TempDir,
    _server: standin::Server,
    ca_file: PathBuf,
}

fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::init(
        &dir.path().join("ca"),
        CaConfig {
            name: "ThinkHeads Internal CA".into(),
            dns: vec!["ca".into()],
            address: ":9000".into(),
            provisioner: "admin@thinkheads.ai".into(),
            provisioners: vec![],
            provisioner_password_sha256: String::new(),
        },
    )
    .unwrap();
    let issued = ca
        .issue(
            "portainer.internal.thinkheads.ai",
            &["10.0.0.111".into()],
            time::Duration::hours(24),
        )
        .unwrap();
    let server = standin::Server::start(
        standin::Config {
            dir: dir.path().join("portainer"),
            sim_root: Some(dir.path().to_path_buf()),
        },
        "127.0.0.1:0".parse().unwrap(),
        tls::server_config(&issued.chain_pem, &issued.key_pem).unwrap(),
    )
    .unwrap();
    net::register(
        dir.path(),
        "10.0.0.111:9443",
        server.addr,
        "portainer",
        Some(1001),
    )
    .unwrap();
    // The agent container runs on 1002.
    net::register(
        dir.path(),
        "portainer-agent.internal.thinkheads.ai:9001",
        "127.0.0.1:9".parse().unwrap(),
        "portainer-agent",
        Some(1002),
    )
    .unwrap();
    Env {
        ca_file: ca.root_path(),
        dir,
        _server: server,
    }
}

impl Env {
    fn client(&self) -> Client {
        let mut o = Options::new(
            "https://portainer.internal.thinkheads.ai:9443",
            &self.ca_file,
        );
        o.connect_to = Some("10.0.0.111:9443".parse().unwrap());
        o.sim_root = Some(self.dir.path().to_path_buf());
        o.retry_delay = Duration::from_millis(5);
        o.attempts = 2;
        let mut c = Client::new(o).unwrap();
        c.ensure_admin("admin", &Secret::new(PASSWORD)).unwrap();
        c.authenticate("admin", &Secret::new(PASSWORD)).unwrap();
        c
    }
    fn state(&self) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(self.dir.path().join("portainer/state.json")).unwrap(),
        )
        .unwrap()
    }
    fn writes(&self) -> usize {
        standin::requests(&self.dir.path().join("portainer"))
            .iter()
            .filter(|r| {
                r["method"] != "GET"
                    && r["path"] != "/api/auth"
                    && !r["path"].as_str().unwrap().starts_with("/api/users")
            })
            .count()
    }
}

fn agents() -> Vec<AgentVm> {
    vec![AgentVm {
        vmid: 1002,
        environment_name: "drphoenix".into(),
        agent_host: "portainer-agent.internal.thinkheads.ai".into(),
        docker_stacks: vec!["qdrant_service".into(), "thinkheads_ai_app".into()],
    }]
}

fn stacks(base: &Path) -> Stacks {
    Stacks::load_beside(&base.join("etc/phoenix_hypervisor_config.json")).unwrap()
}

#[test]
fn first_sync_deploys_second_changes_nothing() {
    let env = start();
    let mut c = env.client();
    let d = desired(&agents(), 9001, &stacks(&fixture()).stacks, None).unwrap();
    let steps = plan(&mut c, &d).unwrap();
    let text: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    assert_eq!(text, [
        "register environment 'drphoenix' (tcp://portainer-agent.internal.thinkheads.ai:9001) for VM 1002",
        "create stack 'qdrant_service-production' on 'drphoenix' (VM 1002): not in Portainer",
        "create stack 'thinkheads_ai_app-production' on 'drphoenix' (VM 1002): not in Portainer",
    ]);
    assert_eq!(env.writes(), 0, "planning only reads");
    assert_eq!(apply(&mut c, &steps, 1).unwrap(), 3);
    let st = env.state();
    assert_eq!(st["endpoints"].as_array().unwrap().len(), 1);
    let names: Vec<&str> = st["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["qdrant_service-production", "thinkheads_ai_app-production"]
    );
    // The Traefik labels reached the deployed Compose file.
    let q = &st["stacks"][0]["StackFileContent"];
    assert!(
        q.as_str()
            .unwrap()
            .contains("traefik.http.routers.qdrant.rule=Host(`qdrant.internal.thinkheads.ai`)"),
        "{q}"
    );

    let writes = env.writes();
    let again = plan(&mut c, &d).unwrap();
    assert!(again.iter().all(|s| !s.changes()), "{again:?}");
    assert_eq!(apply(&mut c, &again, 1).unwrap(), 0);
    assert_eq!(env.writes(), writes, "a converged sync sends nothing");
}

#[test]
fn a_changed_variable_updates_exactly_that_stack() {
    let env = start();
    let mut c = env.client();
    let d = desired(&agents(), 9001, &stacks(&fixture()).stacks, None).unwrap();
    let steps = plan(&mut c, &d).unwrap();
    apply(&mut c, &steps, 1).unwrap();
    // A copy of the deployment with a variable for thinkheads_ai_app.
    let copy = tempfile::tempdir().unwrap();
    for sub in [
        "etc",
        "stacks/qdrant_service",
        "stacks/thinkheads_ai_app",
        "stacks/portainer_service",
    ] {
        std::fs::create_dir_all(copy.path().join(sub)).unwrap();
        for e in std::fs::read_dir(fixture().join(sub)).unwrap().flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), copy.path().join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    let m = copy.path().join("stacks/thinkheads_ai_app/phoenix.json");
    let text = std::fs::read_to_string(&m).unwrap().replace(
        "\"production\": {",
        "\"production\": {\n \"variables\": [{\"name\": \"API_PORT\", \"value\": \"8000\"}],",
    );
    std::fs::write(&m, text).unwrap();
    let d2 = desired(&agents(), 9001, &stacks(copy.path()).stacks, None).unwrap();
    let steps = plan(&mut c, &d2).unwrap();
    let changed: Vec<String> = steps
        .iter()
        .filter(|s| s.changes())
        .map(|s| s.to_string())
        .collect();
    assert_eq!(changed, ["update stack 'thinkheads_ai_app-production' on 'drphoenix' (VM 1002): variables API_PORT"]);
    apply(&mut c, &steps, 1).unwrap();
    let st = env.state();
    let t = st["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == "thinkheads_ai_app-production")
        .unwrap();
    assert_eq!(t["Env"][0]["value"], "8000");
    assert_eq!(t["Deployments"], 2);
    let q = st["stacks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == "qdrant_service-production")
        .unwrap();
    assert_eq!(q["Deployments"], 1, "the other stack was not redeployed");
}

#[test]
fn portainer_failures_name_the_stack_and_leave_nothing_half_done() {
    let env = start();
    let mut c = env.client();
    let d = desired(&agents(), 9001, &stacks(&fixture()).stacks, None).unwrap();
    std::fs::write(
        env.dir.path().join("portainer/faults.json"),
        r#"[{"method": "POST", "path": "/api/stacks/create", "status": 500, "message": "failed to deploy a stack: compose up failed"}]"#,
    ).unwrap();
    let steps = plan(&mut c, &d).unwrap();
    let e = apply(&mut c, &steps, 1).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("create stack 'qdrant_service-production' on 'drphoenix' (VM 1002)"),
        "{msg}"
    );
    assert!(
        msg.contains("HTTP 500") && msg.contains("compose up failed"),
        "{msg}"
    );
    let st = env.state();
    assert!(
        st["stacks"].as_array().unwrap().is_empty(),
        "no stack half deployed, later ones not tried"
    );
    // Once Portainer works again, the same sync completes.
    std::fs::write(env.dir.path().join("portainer/faults.json"), "[]").unwrap();
    let steps = plan(&mut c, &d).unwrap();
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Step::CreateStack(_)))
            .count(),
        2
    );
    apply(&mut c, &steps, 1).unwrap();
}

#[test]
fn sync_one_stack_to_one_vm() {
    let env = start();
    let mut c = env.client();
    let all = stacks(&fixture());
    let d = desired(&agents(), 9001, &all.stacks, Some(("qdrant_service", 1002))).unwrap();
    assert_eq!(d.stacks.len(), 1);
    let steps = plan(&mut c, &d).unwrap();
    apply(&mut c, &steps, 1).unwrap();
    assert_eq!(env.state()["stacks"].as_array().unwrap().len(), 1);
    let e = desired(&agents(), 9001, &all.stacks, Some(("qdrant_service", 1001))).unwrap_err();
    assert!(e.contains("not assigned to VM 1001"), "{e}");
}
