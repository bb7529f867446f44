//! The client against the simulator's Portainer stand-in: HTTPS with a certificate from the
//! simulated internal CA, reached through the simulated network (a guest address mapped to
//! loopback). Every call, its retries and failures, and that no secret reaches a log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use portainer::{AdminInit, Client, EnvVar, Error, Options, Secret};
use pve_sim_services::ca::{Ca, CaConfig};
use pve_sim_services::{net, portainer as standin, tls};

const HOST: &str = "portainer.internal.test";
const GUEST: &str = "10.0.0.111:9443";
const PASSWORD: &str = "NewKick@$$2025";

struct Env {
    dir: tempfile::TempDir,
    ca_file: PathBuf,
    _server: standin::Server,
}

impl Env {
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn state(&self) -> PathBuf {
        self.root().join("portainer")
    }
    fn options(&self) -> Options {
        let mut o = Options::new(format!("https://{HOST}:9443"), &self.ca_file);
        o.connect_to = Some(GUEST.parse().unwrap());
        o.sim_root = Some(self.root().to_path_buf());
        o.retry_delay = Duration::from_millis(10);
        o.attempts = 3;
        o.timeout = Duration::from_secs(10);
        o
    }
    fn client(&self) -> Client {
        Client::new(self.options()).unwrap()
    }
    fn faults(&self, json: &str) {
        std::fs::write(self.state().join("faults.json"), json).unwrap();
    }
}

fn ca(dir: &Path) -> Ca {
    Ca::init(
        &dir.join("ca"),
        CaConfig {
            name: "Test CA".into(),
            dns: vec!["ca.internal.test".into()],
            address: ":9000".into(),
            provisioner: "admin@test".into(),
            provisioners: vec![],
            provisioner_password_sha256: String::new(),
        },
    )
    .unwrap()
}

fn start() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let ca = ca(dir.path());
    let issued = ca
        .issue(HOST, &["10.0.0.111".into()], time::Duration::hours(24))
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
    net::register(dir.path(), GUEST, server.addr, "portainer", Some(1001)).unwrap();
    Env {
        ca_file: ca.root_path(),
        dir,
        _server: server,
    }
}

fn logged_in(env: &Env) -> Client {
    let mut c = env.client();
    c.ensure_admin("admin", &Secret::new(PASSWORD)).unwrap();
    c.authenticate("admin", &Secret::new(PASSWORD)).unwrap();
    c
}

/// Registers an agent address in the simulated network (the agent container runs).
fn agent_up(env: &Env, addr: &str) {
    let l: SocketAddr = "127.0.0.1:9".parse().unwrap();
    net::register(env.root(), addr, l, "portainer-agent", Some(1002)).unwrap();
}

#[test]
fn admin_is_initialised_once_then_authentication_works() {
    let env = start();
    let mut c = env.client();
    assert!(!c.status().unwrap().instance_id.is_empty());
    assert_eq!(
        c.ensure_admin("admin", &Secret::new(PASSWORD)).unwrap(),
        AdminInit::Created
    );
    assert_eq!(
        c.ensure_admin("admin", &Secret::new(PASSWORD)).unwrap(),
        AdminInit::AlreadyInitialized
    );
    let e = c.authenticate("admin", &Secret::new("wrong")).unwrap_err();
    assert!(
        matches!(e, Error::BadCredentials { status: 422, .. }),
        "{e}"
    );
    c.authenticate("admin", &Secret::new(PASSWORD)).unwrap();
    assert!(c.endpoints().unwrap().is_empty());
    // The recorded init masks the password.
    let reqs = standin::requests(&env.state());
    let init = reqs
        .iter()
        .find(|r| r["path"] == "/api/users/admin/init")
        .unwrap();
    assert_eq!(init["body"]["Username"], "admin");
    assert_eq!(init["body"]["Password"], "***");
}

#[test]
fn calls_without_a_valid_jwt_get_401() {
    let env = start();
    let mut c = env.client();
    c.ensure_admin("admin", &Secret::new(PASSWORD)).unwrap();
    let e = c.endpoints().unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e}");
    assert!(
        e.to_string().contains("GET /api/endpoints: HTTP 401"),
        "{e}"
    );
}

#[test]
fn agents_stacks_and_configs() {
    let env = start();
    let mut c = logged_in(&env);
    // Portainer pings the agent: while nothing listens there, registration fails.
    let e = c
        .create_agent_endpoint("drphoenix", "tcp://10.0.0.102:9001", 1)
        .unwrap_err();
    assert_eq!(e.status(), Some(500), "{e}");
    assert!(
        e.to_string().contains("Unable to get environment type"),
        "{e}"
    );
    agent_up(&env, "10.0.0.102:9001");
    let ep = c
        .create_agent_endpoint("drphoenix", "tcp://10.0.0.102:9001", 1)
        .unwrap();
    assert_eq!((ep.name.as_str(), ep.kind), ("drphoenix", 2));
    let e = c
        .create_agent_endpoint("drphoenix", "tcp://10.0.0.102:9001", 1)
        .unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(c.endpoints().unwrap().len(), 1);

    let compose = "services:\n  qdrant:\n    image: qdrant/qdrant:latest\n";
    let env_vars = vec![EnvVar {
        name: "API_PORT".into(),
        value: "8000".into(),
    }];
    let s = c
        .create_stack(ep.id, "qdrant_service-production", compose, &env_vars)
        .unwrap();
    assert_eq!((s.endpoint_id, s.kind), (ep.id, 2));
    assert_eq!(c.stacks().unwrap().len(), 1);
    assert_eq!(c.stack_file(s.id).unwrap(), compose);
    let e = c
        .create_stack(ep.id, "qdrant_service-production", compose, &[])
        .unwrap_err();
    assert_eq!(e.status(), Some(409));
    let e = c.create_stack(ep.id, "Bad Name", compose, &[]).unwrap_err();
    assert_eq!(e.status(), Some(400));
    let e = c
        .create_stack(ep.id, "broken", "services: [\n", &[])
        .unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(e.to_string().contains("yaml"), "{e}");
    let changed = "services:\n  qdrant:\n    image: qdrant/qdrant:v1\n";
    let s2 = c.update_stack(s.id, ep.id, changed, &[]).unwrap();
    assert!(s2.env.is_empty());
    assert_eq!(c.stack_file(s.id).unwrap(), changed);

    let labels = std::collections::BTreeMap::new();
    let id = c
        .create_config(ep.id, "app-env", b"A=1\n", &labels)
        .unwrap();
    let configs = c.configs(ep.id).unwrap();
    assert_eq!(configs[0].spec.name, "app-env");
    assert_eq!(configs[0].spec.data, "QT0xCg==");
    c.delete_config(ep.id, &id).unwrap();
    assert!(c.configs(ep.id).unwrap().is_empty());

    // What Phoenix sent is on record.
    let reqs = standin::requests(&env.state());
    let create = reqs
        .iter()
        .find(|r| r["path"] == "/api/stacks/create/standalone/string" && r["status"] == 200)
        .unwrap();
    assert_eq!(create["query"]["endpointId"], ep.id.to_string());
    assert_eq!(create["body"]["Env"][0]["name"], "API_PORT");
    assert!(create["authorized"].as_bool().unwrap());
    let agent = reqs
        .iter()
        .find(|r| r["path"] == "/api/endpoints" && r["method"] == "POST")
        .unwrap();
    assert_eq!(agent["body"]["EndpointCreationType"], "2");
    assert_eq!(agent["body"]["URL"], "tcp://10.0.0.102:9001");
}

#[test]
fn transient_failures_are_retried_and_500_is_reported() {
    let env = start();
    let mut c = logged_in(&env);
    env.faults(r#"[{"method": "GET", "path": "/api/stacks", "status": 503, "times": 2}]"#);
    assert!(c.stacks().unwrap().is_empty());
    env.faults(r#"[{"method": "GET", "path": "/api/stacks", "status": 503}]"#);
    let e = c.stacks().unwrap_err();
    assert_eq!(e.status(), Some(503), "{e}");
    env.faults(r#"[{"path": "/api/endpoints", "status": 500, "message": "database is locked"}]"#);
    let e = c.endpoints().unwrap_err();
    assert_eq!(
        e.to_string(),
        "GET /api/endpoints: HTTP 500: database is locked (faults.json)"
    );
    let gets = standin::requests(&env.state())
        .iter()
        .filter(|r| r["path"] == "/api/endpoints")
        .count();
    assert_eq!(gets, 1, "a 500 is not retried");
}

#[test]
fn a_stale_jwt_is_renewed_once() {
    let env = start();
    let mut c = logged_in(&env);
    // Forget every token the server issued: the next call gets a 401, logs in again, succeeds.
    let state_file = env.state().join("state.json");
    let mut st: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    st["tokens"] = serde_json::json!([]);
    std::fs::write(&state_file, st.to_string()).unwrap();
    assert!(c.endpoints().unwrap().is_empty());
    let auths = standin::requests(&env.state())
        .iter()
        .filter(|r| r["path"] == "/api/auth")
        .count();
    assert_eq!(auths, 2);
}

#[test]
fn tls_is_verified_against_the_internal_ca() {
    let env = start();
    // Another CA's root: the handshake fails, nothing is sent.
    let other = tempfile::tempdir().unwrap();
    let other_ca = ca(other.path());
    let mut o = env.options();
    o.ca_file = other_ca.root_path();
    o.attempts = 1;
    let e = Client::new(o).unwrap().status().unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
    // The right CA but a name the certificate does not carry.
    let mut o = env.options();
    o.url = "https://wrong.internal.test:9443".into();
    o.connect_to = Some(GUEST.parse().unwrap());
    o.attempts = 1;
    let e = Client::new(o).unwrap().status().unwrap_err();
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");
}

#[test]
fn nothing_listening_is_a_refused_connection_and_private_addresses_are_never_dialled() {
    let env = start();
    let mut o = env.options();
    o.connect_to = Some("10.0.0.99:9443".parse().unwrap());
    o.attempts = 2;
    let e = Client::new(o).unwrap().status().unwrap_err();
    assert!(
        e.to_string().contains("nothing listens on 10.0.0.99:9443"),
        "{e}"
    );
}

/// Every log line of this test binary, through the logger Phoenix's binaries use
/// (`phoenix_host::cli::logger`) at the most verbose setting a user could ask for.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static LOGS: OnceLock<Capture> = OnceLock::new();

#[test]
fn secrets_never_reach_logs_errors_or_debug_output() {
    let cap = LOGS
        .get_or_init(|| {
            let c = Capture::default();
            let _ = phoenix_host::cli::logger("trace,ureq_proto=trace,ureq_proto::util=trace")
                .target(env_logger::Target::Pipe(Box::new(c.clone())))
                .try_init();
            c
        })
        .clone();
    let env = start();
    let mut c = logged_in(&env);
    agent_up(&env, "10.0.0.102:9001");
    let ep = c
        .create_agent_endpoint("a", "tcp://10.0.0.102:9001", 1)
        .unwrap();
    c.create_stack(ep.id, "s", "services:\n  a:\n    image: x\n", &[])
        .unwrap();
    let bad = c
        .authenticate("admin", &Secret::new("not-the-password"))
        .unwrap_err();
    let debug = format!("{c:?} {bad:?} {bad}");
    let logs = String::from_utf8_lossy(&cap.0.lock().unwrap()).to_string();
    assert!(
        logs.contains("/api/auth") && logs.contains("rustls"),
        "the capture works: {logs}"
    );
    for text in [&logs, &debug] {
        assert!(!text.contains(PASSWORD), "password leaked: {text}");
        assert!(
            !text.contains("not-the-password"),
            "password leaked: {text}"
        );
        assert!(!text.contains("sim."), "a JWT leaked: {text}");
    }
}
