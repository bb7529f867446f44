//! The API client against the simulated API server (`pve-sim serve`): authentication, TLS
//! pinning, tasks, fault handling; every request the tests make checked against the full
//! apidata.js by the independent validator.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_tests::apischema::{check_log, Schema};
use phoenix_tests::{bin, sim_cmd, Sim};
use pve::api::{Method, Request};
use pve_client::{Client, Error, Fingerprint, Options, Secret, Token, TokenId, Trust};
use serde_json::{json, Value};

const TEMPLATE: &str = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
const TOKEN: &str = "root@pam!phoenix";

/// A node with an API server; stopped (SIGTERM) on drop.
struct Server {
    sim: Sim,
    child: Child,
    url: String,
    fingerprint: String,
    secret: String,
}

impl Server {
    fn start(faults: Value) -> Server {
        let sim = Sim::new();
        let root = sim.dir();
        sim_cmd(&root, &["init"]);
        std::fs::write(root.join("faults.json"), faults.to_string()).unwrap();
        sim_cmd(
            &root,
            &[
                "pveam",
                "download",
                "local",
                "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
            ],
        );
        let secret = sim_cmd(&root, &["token", "add", TOKEN]);
        let child = Command::new(bin("pve-sim"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("PVE_SIM_ROOT", &root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start pve-sim serve");
        let info = root.join("api/server.json");
        let t0 = Instant::now();
        while !info.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(info).unwrap()).unwrap();
        Server {
            url: v["url"].as_str().unwrap().to_string(),
            fingerprint: v["fingerprint"].as_str().unwrap().to_string(),
            sim,
            child,
            secret,
        }
    }

    fn root(&self) -> PathBuf {
        self.sim.dir()
    }

    fn client_with(&self, secret: &str, trust: Trust) -> Client {
        let mut opts = Options::new(&self.url, trust);
        opts.timeout = Duration::from_secs(20);
        opts.retry_backoff = Duration::from_millis(20);
        opts.lock_backoff = Duration::from_millis(50);
        opts.task_poll = Duration::from_millis(50);
        let token = Token {
            id: TokenId::parse(TOKEN).unwrap(),
            secret: Secret::new(secret),
        };
        Client::new(opts, token).unwrap()
    }

    fn client(&self) -> Client {
        self.client_with(
            &self.secret,
            Trust::Fingerprint(Fingerprint::parse(&self.fingerprint).unwrap()),
        )
    }

    fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(self.root().join("api-requests.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Every request so far is valid per the full apidata.js.
    fn assert_requests_valid(&self) {
        let text =
            std::fs::read_to_string(self.root().join("api-requests.jsonl")).unwrap_or_default();
        let problems = check_log(&Schema::fixture(), &text);
        assert!(problems.is_empty(), "invalid requests: {problems:#?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: signalling our own child by its pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn create_ct(id: u32) -> Request {
    Request::new(Method::Post, "/nodes/pve/lxc")
        .param("vmid", id.to_string())
        .param("ostemplate", TEMPLATE)
        .param("rootfs", "local-zfs:4")
        .param("hostname", format!("ct{id}"))
        .param("net0", "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,firewall=1")
}

fn api_writes(s: &Server) -> usize {
    s.sim
        .invocations()
        .iter()
        .filter(|i| i["via"] == "api" && i["mutating"] == true)
        .count()
}

#[test]
fn a_create_and_a_change_run_as_tasks_and_show_in_every_read() {
    let s = Server::start(json!({}));
    let c = s.client();
    let r = c.call(&create_ct(950)).unwrap();
    let task = r.task.expect("create is a task");
    assert!(
        task.upid.starts_with("UPID:pve:") && task.upid.contains(":vzcreate:950:root@pam!phoenix:"),
        "{}",
        task.upid
    );
    assert_eq!(task.status, "OK");
    c.call(&Request::new(Method::Put, "/nodes/pve/lxc/950/config").param("memory", "1024"))
        .unwrap();
    let conf = c.get("/nodes/pve/lxc/950/config", &[]).unwrap();
    assert_eq!(conf["memory"], json!(1024));
    assert_eq!(conf["hostname"], "ct950");
    let res = c.get("/cluster/resources", &[("type", "vm")]).unwrap();
    assert_eq!(res[0]["vmid"], 950);
    assert_eq!(res[0]["status"], "stopped");
    // The CLI sees the same node.
    assert!(sim_cmd(&s.root(), &["pct", "config", "950"]).contains("memory: 1024"));
    // pvesh over the same handler.
    let out = sim_cmd(
        &s.root(),
        &[
            "pvesh",
            "get",
            "/cluster/resources",
            "--type",
            "vm",
            "--output-format",
            "json",
        ],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["name"],
        "ct950"
    );
    s.assert_requests_valid();
}

#[test]
fn a_wrong_token_is_refused_clearly_and_writes_nothing() {
    let s = Server::start(json!({}));
    let bad = s.client_with(
        "not-the-secret",
        Trust::Fingerprint(Fingerprint::parse(&s.fingerprint).unwrap()),
    );
    let e = bad.call(&create_ct(950)).unwrap_err();
    assert!(matches!(e, Error::Unauthorized { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("authentication failed") && msg.contains("token"),
        "{msg}"
    );
    assert!(!msg.contains("not-the-secret"), "the secret leaked: {msg}");
    assert_eq!(api_writes(&s), 0);
    assert!(s.requests().iter().all(|r| r["status"] == 401));
    assert_eq!(s.sim.dump()["guests"], json!([]));
}

#[test]
fn a_certificate_with_another_fingerprint_is_refused() {
    let s = Server::start(json!({}));
    let other = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF";
    let c = s.client_with(
        &s.secret,
        Trust::Fingerprint(Fingerprint::parse(other).unwrap()),
    );
    let e = c.get("/version", &[]).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Certificate { .. }), "{e:?}");
    assert!(msg.contains(&s.fingerprint) && msg.contains(other), "{msg}");
    // Nothing reached the handler.
    assert!(s.requests().is_empty());
    // The pinned fingerprint, or the certificate itself as the CA, is accepted.
    assert_eq!(s.client().get("/version", &[]).unwrap()["version"], "9.1.3");
    let ca = s.client_with(&s.secret, Trust::CaFile(s.root().join("api/pve-ssl.pem")));
    assert_eq!(ca.get("/version", &[]).unwrap()["release"], "9.1");
}

#[test]
fn a_task_with_warnings_succeeds_and_a_failing_task_fails_with_its_log() {
    // `nth` counts the matches of each rule: a request the first rule took is not counted by
    // the second.
    let s = Server::start(json!({"api_rules": [
        {"method": "POST", "path": "/nodes/pve/lxc/950/status/start", "nth": 1, "task_warnings": ["cgroup limit ignored"]},
        {"method": "POST", "path": "/nodes/pve/lxc/950/status/start", "nth": 1, "task_error": "startup for container '950' failed"}
    ]}));
    let c = s.client();
    c.call(&create_ct(950)).unwrap();
    let start = Request::new(Method::Post, "/nodes/pve/lxc/950/status/start");
    let r = c.call(&start).unwrap();
    let t = r.task.unwrap();
    assert_eq!(t.status, "WARNINGS: 1");
    assert_eq!(t.warnings, vec!["cgroup limit ignored".to_string()]);
    c.call(&Request::new(
        Method::Post,
        "/nodes/pve/lxc/950/status/stop",
    ))
    .unwrap();
    let e = c.call(&start).unwrap_err();
    match &e {
        Error::TaskFailed {
            status, log_tail, ..
        } => {
            assert_eq!(status, "startup for container '950' failed");
            assert!(
                log_tail
                    .iter()
                    .any(|l| l.starts_with("TASK ERROR: startup for container")),
                "{log_tail:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    s.assert_requests_valid();
}

#[test]
fn a_create_whose_answer_was_lost_is_not_made_twice() {
    let s = Server::start(json!({"api_rules": [
        {"method": "POST", "path": "/nodes/pve/lxc", "nth": 1, "when": "after", "status": 500, "message": "proxy timeout"},
        {"method": "POST", "path": "/nodes/pve/lxc", "nth": 1, "when": "before", "status": 503, "message": "service unavailable"}
    ]}));
    let c = s.client();
    // 1st create: made, answer lost → the client finds 950 and adopts it.
    let r = c.call(&create_ct(950)).unwrap();
    assert!(r.adopted);
    // 2nd create: refused before running → the client sees 951 absent and runs it again.
    let r = c.call(&create_ct(951)).unwrap();
    assert!(!r.adopted && r.task.is_some());
    let creates: Vec<_> = s
        .sim
        .invocations()
        .into_iter()
        .filter(|i| i["argv"][0] == "create")
        .collect();
    assert_eq!(creates.len(), 2, "{creates:?}");
    let posts = s
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/api2/json/nodes/pve/lxc")
        .count();
    assert_eq!(posts, 3);
    s.assert_requests_valid();
}

#[test]
fn bad_parameters_are_named_and_a_locked_clone_source_is_waited_for() {
    let s = Server::start(json!({}));
    let c = s.client();
    let e = c.call(&create_ct(950).param("memory", "lots")).unwrap_err();
    match &e {
        Error::BadParams { errors, .. } => assert_eq!(
            errors["memory"],
            "type check ('integer') failed - got 'lots'"
        ),
        other => panic!("{other:?}"),
    }
    c.call(&create_ct(900)).unwrap();
    c.call(&Request::new(Method::Post, "/nodes/pve/lxc/900/template"))
        .unwrap();
    // A backup holds the source: the clone answers 500 at once, the client waits, then clones.
    let conf = s.root().join("etc/pve/lxc/900.conf");
    let text = std::fs::read_to_string(&conf).unwrap();
    std::fs::write(&conf, format!("lock: backup\n{text}")).unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        std::fs::write(&conf, text).unwrap();
    });
    let r = c
        .call(
            &Request::new(Method::Post, "/nodes/pve/lxc/900/clone")
                .param("newid", "950")
                .param("hostname", "ct950"),
        )
        .unwrap();
    release.join().unwrap();
    assert_eq!(r.task.unwrap().status, "OK");
    let refused = s
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/api2/json/nodes/pve/lxc/900/clone" && r["status"] == 500)
        .count();
    assert!(refused >= 1);
    let lines: Vec<Value> = s
        .requests()
        .into_iter()
        .filter(|r| r["status"] != 400)
        .collect();
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    assert!(check_log(&Schema::fixture(), &text).is_empty());
}
