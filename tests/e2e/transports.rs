//! Issue acceptance for the transports (`--transport local|pvesh|api`) on the simulator: the
//! upstream fixture's `LetsGo`, a no-op re-run, a drift repair and a delete, once over each
//! transport, end in the same node (normalised dumps compared); a no-op `LetsGo` makes at most 3
//! Proxmox calls locally and at most 1 + 19 GET requests (no write) through `pvesh` or the API;
//! every request the `pvesh` and `api` runs sent is valid per apidata.js, checked by the
//! independent validator (`phoenix_tests::apischema`). Also: a wrong token fails before any
//! change with a clear message; the `api` transport does its node-local work (set-up and
//! feature scripts, `pct exec`/`pct push`, snippets, firewall files, settings only `root@pam`
//! may make) over SSH to a real `sshd` on loopback, reaching the same node as the local
//! transport; without SSH it refuses such verbs before the first request.

#[path = "reliability_common.rs"]
mod common;

use common::*;
use phoenix_tests::apischema::{check_log, Schema};
use phoenix_tests::{repo, stderr, Sim};
use serde_json::Value;

const TRANSPORTS: [&str; 3] = ["local", "pvesh", "api"];
/// Guests of the upstream fixture.
const GUESTS: usize = 19;

fn api_requests(sim: &Sim) -> Vec<Value> {
    std::fs::read_to_string(sim.dir().join("api-requests.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn ok(what: &str, o: std::process::Output) {
    assert!(o.status.success(), "{what} failed:\n{}", stderr(&o));
}

/// Edits a key of a guest's conf file, as someone changing the node by hand would.
fn edit_conf(sim: &Sim, rel: &str, key: &str, value: &str) {
    let p = sim.dir().join("etc/pve").join(rel);
    let text = std::fs::read_to_string(&p).unwrap();
    let mut done = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.split_once(": ") {
            Some((k, _)) if k == key && !done => {
                done = true;
                format!("{key}: {value}")
            }
            _ => l.to_string(),
        })
        .collect();
    assert!(done, "{rel} has no {key}");
    std::fs::write(&p, out.join("\n") + "\n").unwrap();
}

/// What one transport's scenario left and measured.
struct Outcome {
    transport: &'static str,
    converged: Value,
    deleted: Value,
    /// Tool calls (`pct`, `qm`, `pvesm`, `pveam`) of the no-op `LetsGo`, and how many changed.
    noop_tool_calls: usize,
    noop_mutating: usize,
    /// API requests (`pvesh` or HTTPS) of the no-op `LetsGo`: GETs, writes.
    noop_gets: usize,
    noop_writes: usize,
    requests: String,
    sim: Sim,
}

fn scenario(t: &'static str) -> Outcome {
    let sim = fresh();
    let tr = ["--transport", t];
    ok(&format!("{t}: LetsGo"), lets_go(&sim, 4, &tr));
    let converged = normalized_dump(&sim);
    let problems = check_state(&sim.dir());
    assert!(problems.is_empty(), "{t}: {problems:#?}");

    let (calls0, reqs0) = (sim.invocations().len(), api_requests(&sim).len());
    ok(&format!("{t}: no-op LetsGo"), lets_go(&sim, 4, &tr));
    let calls: Vec<Value> = sim.invocations().split_off(calls0);
    let reqs: Vec<Value> = api_requests(&sim).split_off(reqs0);
    let tool_calls: Vec<&Value> = calls
        .iter()
        .filter(|c| ["pct", "qm", "pvesm", "pveam"].contains(&c["tool"].as_str().unwrap_or("")))
        .collect();
    let noop = normalized_dump(&sim);
    assert!(
        diff(&converged, &noop).is_empty(),
        "{t}: the no-op LetsGo changed the node: {:?}",
        diff(&converged, &noop)
    );

    edit_conf(&sim, "lxc/953.conf", "memory", "999");
    edit_conf(&sim, "qemu-server/8001.conf", "cores", "1");
    ok(&format!("{t}: drift repair"), lets_go(&sim, 4, &tr));
    let repaired = normalized_dump(&sim);
    assert!(
        diff(&converged, &repaired).is_empty(),
        "{t}: drift not repaired: {:?}",
        diff(&converged, &repaired)
    );

    let cfg = fixture_config();
    let o = phoenix(
        &sim,
        &[
            "delete",
            "910",
            "8001",
            "--config",
            cfg.to_str().unwrap(),
            "--transport",
            t,
        ],
    )
    .output()
    .unwrap();
    ok(&format!("{t}: delete"), o);
    let deleted = normalized_dump(&sim);
    let requests =
        std::fs::read_to_string(sim.dir().join("api-requests.jsonl")).unwrap_or_default();
    Outcome {
        transport: t,
        converged,
        deleted,
        noop_tool_calls: tool_calls.len(),
        noop_mutating: calls.iter().filter(|c| c["mutating"] == true).count(),
        noop_gets: reqs.iter().filter(|r| r["method"] == "GET").count(),
        noop_writes: reqs.iter().filter(|r| r["method"] != "GET").count(),
        requests,
        sim,
    }
}

#[test]
fn every_transport_converges_repairs_and_deletes_to_the_same_node() {
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = TRANSPORTS
            .iter()
            .map(|t| s.spawn(move || scenario(t)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let local = &outcomes[0];
    for o in &outcomes {
        eprintln!(
            "{}: no-op LetsGo: {} tool calls ({} changing), {} GET + {} write requests",
            o.transport, o.noop_tool_calls, o.noop_mutating, o.noop_gets, o.noop_writes
        );
        assert_eq!(
            o.noop_mutating, 0,
            "{}: a no-op changed something",
            o.transport
        );
        assert_eq!(o.noop_writes, 0, "{}: a no-op wrote", o.transport);
        let d = diff(&local.converged, &o.converged);
        assert!(
            d.is_empty(),
            "{} converged differently from local: {d:#?}",
            o.transport
        );
        let d = diff(&local.deleted, &o.deleted);
        assert!(
            d.is_empty(),
            "{} deleted differently from local: {d:#?}",
            o.transport
        );
    }
    assert!(
        local.noop_tool_calls <= 3 && local.noop_gets == 0,
        "local: {} calls",
        local.noop_tool_calls
    );
    let schema = Schema::fixture();
    for o in &outcomes[1..] {
        assert_eq!(o.noop_tool_calls, 0, "{}: no pct/qm call", o.transport);
        assert!(
            o.noop_gets <= 1 + GUESTS,
            "{}: {} GET requests, want at most 1 + {GUESTS}",
            o.transport,
            o.noop_gets
        );
        let lines = o.requests.lines().count();
        assert!(lines > 100, "{}: only {lines} requests logged", o.transport);
        let bad = check_log(&schema, &o.requests);
        assert!(
            bad.is_empty(),
            "{}: invalid requests:\n{}",
            o.transport,
            bad.join("\n")
        );
        let via_pvesh = o
            .requests
            .lines()
            .filter(|l| l.contains("\"via\":\"pvesh\""))
            .count();
        match o.transport {
            "pvesh" => assert_eq!(via_pvesh, lines, "pvesh: every request through pvesh"),
            _ => assert_eq!(via_pvesh, 0, "api: every request over HTTPS"),
        }
    }
    // Nothing of the API server is left running.
    let api = &outcomes[2];
    assert!(
        !api.sim.dir().join("api/server.json").exists(),
        "pve-sim serve still running"
    );
}

#[test]
fn a_wrong_token_fails_before_any_change_and_never_shows_the_secret() {
    let sim = fresh();
    let secret = "00000000-1111-2222-3333-444444444444";
    phoenix_host::fs::write_private(&sim.dir().join("api/phoenix-token"), secret.as_bytes())
        .unwrap();
    let before = sim.invocations().len();
    let o = lets_go(&sim, 4, &["--transport", "api"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("authentication failed (HTTP 401)") && !err.contains(secret),
        "{err}"
    );
    let reqs = api_requests(&sim);
    assert!(
        !reqs.is_empty()
            && reqs
                .iter()
                .all(|r| r["method"] == "GET" && r["status"] == 401)
    );
    assert!(sim.invocations()[before..]
        .iter()
        .all(|c| c["mutating"] != true));
}

fn example(sim: &Sim, args: &[&str]) -> std::process::Output {
    let cfg = repo().join("etc/phoenix_hypervisor_config.json");
    let mut a = args.to_vec();
    a.extend(["--config", cfg.to_str().unwrap(), "--no-boot-delay"]);
    phoenix(sim, &a).output().unwrap()
}

/// The example's image in the node's cache (as the fixture tests place it).
fn cache_image(sim: &Sim) {
    let cache = sim.dir().join("host/var/lib/vz/template/phoenix-images");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join(IMAGE), b"image").unwrap();
}

#[test]
fn the_api_transport_does_node_local_work_over_ssh() {
    let Some(sshd) = phoenix_tests::sshd::start_sshd() else {
        return;
    };
    let known = sshd.known_hosts();
    let cfg = repo().join("etc/phoenix_hypervisor_config.json");
    let local = Sim::new();
    ok(
        "local setup",
        phoenix(&local, &["setup", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap(),
    );
    cache_image(&local);
    ok("local LetsGo", example(&local, &["LetsGo"]));
    let remote = Sim::new();
    let over_ssh = |args: &[&str]| {
        let mut c = phoenix(&remote, args);
        c.args(["--transport", "api", "--config", cfg.to_str().unwrap()])
            .env("PHOENIX_SSH_HOST", "127.0.0.1")
            .env("PHOENIX_SSH_PORT", sshd.port.to_string())
            .env("PHOENIX_SSH_USER", phoenix_tests::sshd::user())
            .env("PHOENIX_SSH_KNOWN_HOSTS", &known)
            .env("PHOENIX_SSH_IDENTITY", sshd.dir.path().join("user_key"));
        c.output().unwrap()
    };
    // Host set-up scripts too run on the node, staged there.
    ok("setup over SSH", over_ssh(&["setup"]));
    let after_setup = sshd.accepted();
    assert!(
        after_setup >= 1,
        "setup did not go over SSH ({after_setup} connections)"
    );
    cache_image(&remote);
    ok(
        "LetsGo over the API with SSH",
        over_ssh(&["LetsGo", "--no-boot-delay"]),
    );
    assert!(
        sshd.accepted() > after_setup + 3,
        "node-local work did not go over SSH ({} connections)",
        sshd.accepted() - after_setup
    );
    let d = diff(&normalized_dump(&local), &normalized_dump(&remote));
    assert!(d.is_empty(), "api+ssh differs from local: {d:#?}");
    // Device passthrough is root@pam's alone: it went as `pct set` on the node, not as a
    // request a token would be refused.
    let passthrough = remote.invocations().into_iter().any(|c| {
        c["tool"] == "pct" && c.get("via").is_none() && c["argv"].to_string().contains("\"--dev0\"")
    });
    assert!(passthrough, "no `pct set --dev0` on the node");
    let reqs = std::fs::read_to_string(remote.dir().join("api-requests.jsonl")).unwrap();
    assert!(
        !reqs.contains("\"dev0\""),
        "device passthrough sent over the API"
    );
    let problems = check_state(&remote.dir());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn without_ssh_the_api_transport_refuses_node_local_work_before_any_change() {
    let sim = fresh();
    let api = phoenix_host::sim::SimApi::start(&sim.dir()).expect("pve-sim serve");
    let mut c = std::process::Command::new(phoenix_tests::bin("phoenix"));
    phoenix_tests::clean_env(&mut c);
    let cfg = fixture_config();
    c.args([
        "LetsGo",
        "--no-boot-delay",
        "--transport",
        "api",
        "--config",
    ])
    .arg(&cfg)
    .env("PHOENIX_API_URL", &api.info.url)
    .env("PHOENIX_API_TOKEN_ID", &api.info.token_id)
    .env("PHOENIX_API_TOKEN_SECRET_FILE", &api.info.secret_file)
    .env("PHOENIX_API_FINGERPRINT", &api.info.fingerprint)
    .env("PHOENIX_PVE_DIR", "/etc/pve")
    .env("PHOENIX_HOST_ROOT", sim.dir().join("host"))
    .env("PHOENIX_SCRIPTS_DIR", repo().join("scripts"))
    .env("PHOENIX_LOCK_FILE", sim.tmp.path().join("phoenix.lock"));
    let before = sim.invocations().len();
    let o = c.output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("'LetsGo' needs node-local work") && err.contains("set orchestration.api.ssh"),
        "{err}"
    );
    assert!(sim.invocations()[before..]
        .iter()
        .all(|c| c["mutating"] != true));
    assert!(
        api_requests(&sim).is_empty(),
        "refused before the first request"
    );
    // What needs no node-local work runs over the API alone.
    let mut c = std::process::Command::new(phoenix_tests::bin("phoenix"));
    phoenix_tests::clean_env(&mut c);
    c.args(["status", "--transport", "api", "--config"])
        .arg(&cfg)
        .env("PHOENIX_API_URL", &api.info.url)
        .env("PHOENIX_API_TOKEN_ID", &api.info.token_id)
        .env("PHOENIX_API_TOKEN_SECRET_FILE", &api.info.secret_file)
        .env("PHOENIX_API_FINGERPRINT", &api.info.fingerprint)
        .env("PHOENIX_PVE_DIR", "/etc/pve")
        .env("PHOENIX_HOST_ROOT", sim.dir().join("host"))
        .env("PHOENIX_LOCK_FILE", sim.tmp.path().join("phoenix.lock"));
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!api_requests(&sim).is_empty());
}
