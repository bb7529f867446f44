//! `phoenix sync` on a simulated node with the 2025-11-04 deployment, unmodified: the CA runs
//! (initialised with the `step` stand-in as container 103's application script does), the
//! gateway containers exist with Nginx installed, and VMs 1001 and 1002 are created by Phoenix
//! with Docker. A first `sync all` issues the manifest's certificates, writes the DNS, Nginx
//! and Traefik configs (each checked by the tools' stand-ins), brings Portainer's server up on
//! 1001 (its stack, with `docker compose`: the guest's simulated Docker then starts the
//! Portainer stand-in at 1001's address) and the agent on 1002, and deploys the stacks through
//! Portainer's API; a second one changes nothing; the failure paths name the guest or stack and
//! leave the previous state in place.

use std::path::Path;
use std::process::Command;

use phoenix_tests::{repo, stderr, Sim};
use serde_json::Value;

const CA_DIR: &str = "host/mnt/pve/quickOS/lxc-persistent-data/103/ssl";
const TEMPLATE: &str = "fastData-shared-iso:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

fn config() -> String {
    repo()
        .join("tests/fixtures/upstream-2025-11-04/etc/phoenix_hypervisor_config.json")
        .display()
        .to_string()
}

/// A simulator tool (`pct`, `step`, ...) run as the node's own tools are.
fn tool(sim: &Sim, name: &str, args: &[&str], envs: &[(&str, &Path)]) -> String {
    let mut c = Command::new(sim.dir().join("bin").join(name));
    c.args(args).env("PVE_SIM_ROOT", sim.dir());
    for (k, v) in envs {
        c.env(k, v);
    }
    let o = c.output().expect("tool");
    assert!(
        o.status.success(),
        "{name} {args:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Node {
    sim: Sim,
    _copy: tempfile::TempDir,
}

impl Node {
    fn sync(&self, args: &[&str]) -> std::process::Output {
        self.sync_env(args, &[])
    }

    fn sync_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
        let cfg = config();
        let mut a = vec!["sync"];
        a.extend_from_slice(args);
        a.extend(["--config", cfg.as_str()]);
        let mut c = self.sim.phoenix(&a);
        c.env("PHOENIX_PORTAINER_RETRY_MS", "5");
        c.envs(env.iter().copied());
        c.output().expect("phoenix sync")
    }

    fn portainer_state(&self) -> Value {
        let p = self.sim.dir().join("services/portainer/state.json");
        serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|_| "{}".into())).unwrap()
    }

    fn portainer_writes(&self) -> usize {
        let p = self.sim.dir().join("services/portainer/requests.jsonl");
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["method"] != "GET" && r["path"] != "/api/auth")
            .count()
    }

    /// Mutating tool calls. The simulator counts every `pct exec` and `qm guest exec` as one
    /// (it cannot know what the command does); the sync's reads inside a container (`true`,
    /// `test -f`, `cat`) and a VM (`sha256sum`, `docker ... inspect|port|ps`) are left out by
    /// name, everything else counts.
    fn mutating_calls(&self) -> Vec<String> {
        self.sim
            .invocations()
            .iter()
            .filter(|c| c["mutating"] == true)
            .filter(|c| !phoenix_tests::is_guest_read(c))
            .map(|c| format!("{} {}", c["tool"], c["argv"]))
            .collect()
    }

    /// What VM `id`'s Docker runs: `name image` lines of running containers.
    fn docker_ps(&self, id: &str) -> String {
        let out = tool(
            &self.sim,
            "qm",
            &[
                "guest",
                "exec",
                id,
                "--",
                "docker",
                "ps",
                "--format",
                "{{.Names}} {{.Image}}",
            ],
            &[],
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        v["out-data"].as_str().unwrap_or_default().to_string()
    }

    /// The simulated network's entry for `addr`.
    fn answers(&self, addr: &str) -> Value {
        let p = self.sim.dir().join("net/addresses.json");
        let map: Value = serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        map[addr].clone()
    }
}

/// A container of the gateway, created and started with the simulator's `pct`.
fn container(sim: &Sim, id: &str, name: &str, ip: &str, mounts: &[(&str, &str)]) {
    let net = format!("name=eth0,bridge=vmbr0,ip={ip}/24,gw=10.0.0.1");
    let mut args = vec![
        "create".to_string(),
        id.into(),
        TEMPLATE.into(),
        "--hostname".into(),
        name.into(),
        "--rootfs".into(),
        "quickOS-lxc-disks:8".into(),
        "--net0".into(),
        net,
    ];
    for (i, (host, inside)) in mounts.iter().enumerate() {
        std::fs::create_dir_all(sim.dir().join("host").join(host.trim_start_matches('/'))).unwrap();
        args.push(format!("--mp{i}"));
        args.push(format!("{host},mp={inside}"));
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    tool(sim, "pct", &a, &[]);
    tool(sim, "pct", &["start", id], &[]);
}

fn start() -> Node {
    let sim = Sim::new();
    let cfg = config();
    // The node itself (initialised on first use).
    let o = sim.run(&["validate", "--config", &cfg, "-q"]);
    assert!(o.status.success(), "{}", stderr(&o));
    tool(
        &sim,
        "pveam",
        &[
            "download",
            "fastData-shared-iso",
            "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        ],
        &[],
    );
    container(
        &sim,
        "101",
        "Nginx-Phoenix",
        "10.0.0.153",
        &[
            (
                "/mnt/pve/quickOS/lxc-persistent-data/101/ssl",
                "/etc/nginx/ssl",
            ),
            (
                "/mnt/pve/quickOS/lxc-persistent-data/103/ssl",
                "/etc/step-ca/ssl",
            ),
        ],
    );
    tool(
        &sim,
        "pct",
        &["exec", "101", "--", "apt-get", "update"],
        &[],
    );
    tool(
        &sim,
        "pct",
        &["exec", "101", "--", "apt-get", "install", "-y", "nginx"],
        &[],
    );
    container(
        &sim,
        "102",
        "Traefik-Internal",
        "10.0.0.12",
        &[
            (
                "/mnt/pve/quickOS/lxc-persistent-data/102/certs",
                "/etc/traefik/certs",
            ),
            (
                "/mnt/pve/quickOS/lxc-persistent-data/103/ssl",
                "/etc/step-ca/ssl",
            ),
        ],
    );
    // The binary and unit the `traefik` feature installs (that feature is not written yet).
    let binary = sim.tmp.path().join("traefik");
    std::fs::write(&binary, "#!/bin/sh\nexit 0\n").unwrap();
    tool(
        &sim,
        "pct",
        &[
            "push",
            "102",
            binary.to_str().unwrap(),
            "/usr/local/bin/traefik",
            "--perms",
            "755",
        ],
        &[],
    );
    let unit = sim.tmp.path().join("traefik.service");
    std::fs::write(
        &unit,
        "[Unit]\nDescription=Traefik\n[Service]\nExecStart=/usr/local/bin/traefik --configFile=/etc/traefik/traefik.yml\n[Install]\nWantedBy=multi-user.target\n",
    )
    .unwrap();
    tool(
        &sim,
        "pct",
        &[
            "push",
            "102",
            unit.to_str().unwrap(),
            "/etc/systemd/system/traefik.service",
        ],
        &[],
    );
    // The CA as container 103's application script leaves it: initialised, root exported,
    // started (answering at its DNS name and address in the simulated network).
    let ca = sim.dir().join(CA_DIR);
    std::fs::create_dir_all(&ca).unwrap();
    std::fs::write(ca.join("ca_password.txt"), "ca-secret\n").unwrap();
    std::fs::write(ca.join("provisioner_password.txt"), "prov-secret\n").unwrap();
    let env: &[(&str, &Path)] = &[("STEPPATH", &ca)];
    let pw = ca.join("ca_password.txt");
    let ppw = ca.join("provisioner_password.txt");
    tool(
        &sim,
        "step",
        &[
            "ca",
            "init",
            "--name",
            "ThinkHeads Internal CA",
            "--dns",
            "ca.internal.thinkheads.ai",
            "--dns",
            "10.0.0.10",
            "--address",
            ":9000",
            "--provisioner",
            "admin@thinkheads.ai",
            "--password-file",
            pw.to_str().unwrap(),
            "--provisioner-password-file",
            ppw.to_str().unwrap(),
            "--deployment-type",
            "standalone",
        ],
        env,
    );
    std::fs::copy(ca.join("certs/root_ca.crt"), ca.join("phoenix_root_ca.crt")).unwrap();
    tool(
        &sim,
        "step-ca",
        &[
            ca.join("config/ca.json").to_str().unwrap(),
            "--password-file",
            pw.to_str().unwrap(),
        ],
        env,
    );
    // VMs 1001 (Portainer's server) and 1002 (an agent) with Docker, from a copy of the files
    // reduced to what the sync needs of them: the feature `docker`, no shared volumes (the
    // host's NFS server is not set up here), no dependencies on the gateway (made above).
    let copy = tempfile::tempdir().unwrap();
    copy_dir(
        &repo().join("tests/fixtures/upstream-2025-11-04"),
        copy.path(),
    );
    let vms_file = copy.path().join("etc/phoenix_vm_configs.json");
    let mut vms: Value =
        serde_json::from_str(&std::fs::read_to_string(&vms_file).unwrap()).unwrap();
    for v in vms["vms"].as_array_mut().unwrap() {
        if v["vmid"] == 9000 {
            continue;
        }
        let v = v.as_object_mut().unwrap();
        v.insert("features".into(), serde_json::json!(["docker"]));
        v.remove("volumes");
        v.remove("dependencies");
    }
    std::fs::write(&vms_file, vms.to_string()).unwrap();
    let reduced = copy.path().join("etc/phoenix_hypervisor_config.json");
    let o = sim.run(&[
        "create",
        "1001",
        "1002",
        "--config",
        reduced.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "create 1001 1002: {}", stderr(&o));
    Node { sim, _copy: copy }
}

#[test]
fn sync_all_deploys_the_layer_and_a_second_run_changes_nothing() {
    let n = start();
    // --dry-run: the plan, nothing changed.
    let before = n.mutating_calls();
    let o = n.sync(&["all", "--dry-run"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("change(s) planned; nothing was changed"),
        "{err}"
    );
    let after = n.mutating_calls();
    assert_eq!(after, before, "a dry run changes nothing");
    assert_eq!(n.portainer_writes(), 0);

    // Portainer's security time-out: a sync that deployed the server and then failed (the
    // administrator refused once) leaves it without an administrator; it stops serving, and
    // the next sync restarts it and carries on.
    assert!(n.sync(&["certs"]).status.success());
    let faults = n.sim.dir().join("services/portainer/faults.json");
    std::fs::create_dir_all(faults.parent().unwrap()).unwrap();
    std::fs::write(
        &faults,
        r#"[{"method": "POST", "path": "/api/users/admin/init", "status": 500, "message": "database is locked", "times": 1}]"#,
    )
    .unwrap();
    let o = n.sync_env(
        &["portainer"],
        &[("PVE_SIM_PORTAINER_ADMIN_TIMEOUT_MS", "300")],
    );
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("database is locked"), "{err}");
    let t = std::time::Instant::now();
    while !n.answers("10.0.0.111:9443").is_null() {
        assert!(t.elapsed().as_secs() < 20, "Portainer did not time out");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(&faults, "[]").unwrap();

    let o = n.sync(&["all"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    // Certificates from the manifest, issued by the CA.
    let crt = n
        .sim
        .dir()
        .join("host/mnt/pve/quickOS/lxc-persistent-data/101/ssl/nginx.internal.thinkheads.ai.crt");
    assert!(std::fs::read_to_string(&crt)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    // The renewal schedule: an hourly timer running `phoenix sync certs`, enabled and started.
    let units = n.sim.dir().join("host/etc/systemd/system");
    let service = std::fs::read_to_string(units.join("phoenix-cert-renewal.service")).unwrap();
    assert!(service.contains(" sync certs --config "), "{service}");
    let timer = std::fs::read_to_string(units.join("phoenix-cert-renewal.timer")).unwrap();
    assert!(timer.contains("OnCalendar=hourly"), "{timer}");
    let on = tool(
        &n.sim,
        "systemctl",
        &["is-enabled", "phoenix-cert-renewal.timer"],
        &[],
    );
    assert_eq!(on.trim(), "enabled");
    // DNS records for every guest and stack service.
    let dns = std::fs::read_to_string(n.sim.dir().join("host/etc/dnsmasq.d/phoenix.conf")).unwrap();
    for want in [
        "address=/ca.internal.thinkheads.ai/10.0.0.10",
        "address=/qdrant.internal.thinkheads.ai/10.0.0.153",
        "address=/thinkheads-ai-app.internal.thinkheads.ai/10.0.0.102",
        "address=/drphoenix.internal.thinkheads.ai/10.0.0.102",
    ] {
        assert!(dns.contains(want), "{want}:\n{dns}");
    }
    // The gateway's configs, in their containers.
    let site = tool(
        &n.sim,
        "pct",
        &[
            "exec",
            "101",
            "--",
            "cat",
            "/etc/nginx/sites-enabled/gateway",
        ],
        &[],
    );
    assert!(
        site.contains("ssl_certificate /etc/nginx/ssl/nginx.internal.thinkheads.ai.crt;"),
        "{site}"
    );
    let dynamic = tool(
        &n.sim,
        "pct",
        &[
            "exec",
            "102",
            "--",
            "cat",
            "/etc/traefik/dynamic/dynamic_conf.yml",
        ],
        &[],
    );
    assert!(dynamic.contains("qdrant-router:"), "{dynamic}");
    // Portainer on the VMs: the server from its stack on 1001 (with the manifest's
    // certificate), the agent on 1002, each answering in the simulated network.
    let ps = n.docker_ps("1001");
    assert!(
        ps.contains("portainer_server portainer/portainer-ce:latest"),
        "{ps}"
    );
    let ps = n.docker_ps("1002");
    assert!(
        ps.contains("portainer_agent portainer/agent:latest"),
        "{ps}"
    );
    assert_eq!(n.answers("10.0.0.111:9443")["service"], "portainer");
    assert_eq!(n.answers("10.0.0.102:9001")["service"], "portainer-agent");
    assert!(
        err.contains(
            "VM 1001: portainer server (stack portainer_service): Portainer did not answer"
        ),
        "the timed-out server restarted: {err}"
    );
    // Portainer: the administrator, the agent environment, both stacks with Traefik labels.
    let st = n.portainer_state();
    assert_eq!(st["endpoints"][0]["Name"], "drphoenix", "{st}");
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
    assert!(st["stacks"][0]["StackFileContent"]
        .as_str()
        .unwrap()
        .contains("traefik.http.routers.qdrant.rule=Host(`qdrant.internal.thinkheads.ai`)"));

    // A second sync: nothing changes anywhere.
    let calls = n.mutating_calls();
    let writes = n.portainer_writes();
    let o = n.sync(&["all"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("sync: already in the desired state"), "{err}");
    assert_eq!(n.mutating_calls(), calls, "no mutating tool call:\n{err}");
    assert_eq!(n.portainer_writes(), writes, "no Portainer write");

    // --output json: the events through phoenix-report, one JSON object a line.
    let o = n.sync(&["stacks", "--output", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e["event"] == "unchanged"
            && e["step"] == "stack 'qdrant_service-production' on 'drphoenix'"),
        "{out}"
    );

    // The administrator's password is in no output and no recorded request, even at -vv.
    let o = n.sync(&["portainer", "-vv"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let requests =
        std::fs::read_to_string(n.sim.dir().join("services/portainer/requests.jsonl")).unwrap();
    for text in [
        stderr(&o),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        requests,
    ] {
        assert!(
            !text.contains("NewKick@$$2025"),
            "the password leaked:\n{text}"
        );
    }

    // The old CLI's `sync stack <name> to <vmid>`: that stack alone; a VM it is not assigned to
    // is refused naming both.
    let o = n.sync(&["stack", "qdrant_service", "to", "1002"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(n.portainer_writes(), writes);
    let o = n.sync(&["stack", "qdrant_service", "to", "1001"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("stack 'qdrant_service' is not assigned to VM 1001"),
        "{err}"
    );

    // Portainer's server stopped by hand no longer answers; the next sync starts it again, and
    // only it. The VM stopping stops it too.
    let stop = [
        "guest",
        "exec",
        "1001",
        "--",
        "docker",
        "stop",
        "portainer_server",
    ];
    tool(&n.sim, "qm", &stop, &[]);
    assert!(n.answers("10.0.0.111:9443").is_null());
    let o = n.sync(&["portainer"]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("VM 1001: portainer server (stack portainer_service): changed")
            && !err.contains("VM 1002")
            && err.contains("sync: 1 change(s) applied"),
        "{err}"
    );
    assert_eq!(n.answers("10.0.0.111:9443")["service"], "portainer");
    tool(&n.sim, "qm", &["stop", "1001"], &[]);
    assert!(n.answers("10.0.0.111:9443").is_null());
}

#[test]
fn failures_name_the_guest_or_stack_and_leave_the_previous_state() {
    let n = start();
    assert!(n.sync(&["all"]).status.success());
    let portainer = n.sim.dir().join("services/portainer");

    // Portainer answering 500: the stack is named, nothing else written.
    let writes = n.portainer_writes();
    std::fs::write(
        portainer.join("faults.json"),
        r#"[{"method": "GET", "path": "/api/stacks", "status": 500, "message": "database is locked"}]"#,
    )
    .unwrap();
    let o = n.sync(&["stacks"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sync stacks:")
            && err.contains("HTTP 500")
            && err.contains("database is locked"),
        "{err}"
    );
    assert_eq!(n.portainer_writes(), writes);

    // 401 on every call: bad credentials are said as such.
    std::fs::write(
        portainer.join("faults.json"),
        r#"[{"method": "POST", "path": "/api/auth", "status": 401, "message": "Invalid credentials"}]"#,
    )
    .unwrap();
    let o = n.sync(&["portainer"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("sync portainer:") && err.contains("admin"),
        "{err}"
    );
    std::fs::write(portainer.join("faults.json"), "[]").unwrap();

    // The CA unreachable: a certificate to issue fails naming it; the old files stay.
    let crt = n.sim.dir().join(
        "host/mnt/pve/quickOS/lxc-persistent-data/102/certs/traefik.internal.thinkheads.ai.crt",
    );
    std::fs::remove_file(&crt).unwrap();
    pve_sim_services::net::unregister(&n.sim.dir(), "ca.internal.thinkheads.ai:9000").unwrap();
    let o = n.sync(&["certs"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("traefik.internal.thinkheads.ai") && err.contains("connection refused"),
        "{err}"
    );
    assert!(!crt.exists());

    // An invalid Nginx configuration: nginx -t refuses, the working site stays, no reload.
    let site = "/etc/nginx/sites-enabled/gateway";
    let good = tool(&n.sim, "pct", &["exec", "101", "--", "cat", site], &[]);
    tool(
        &n.sim,
        "pct",
        &[
            "exec",
            "101",
            "--",
            "rm",
            "-f",
            "/etc/nginx/ssl/nginx.internal.thinkheads.ai.key",
        ],
        &[],
    );
    tool(&n.sim, "pct", &["exec", "101", "--", "rm", "-f", site], &[]);
    let o = n.sync(&["gateway"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("CT 101")
            && err.contains("nginx -t")
            && err.contains("cannot load certificate key"),
        "{err}"
    );
    let now = Command::new(n.sim.dir().join("bin/pct"))
        .args(["exec", "101", "--", "test", "-f", site])
        .env("PVE_SIM_ROOT", n.sim.dir())
        .status()
        .unwrap();
    assert!(!now.success(), "the refused site was taken away again");
    assert!(!good.is_empty());
}

#[test]
fn a_compose_syntax_error_stops_the_sync_before_anything_changes() {
    // A copy of the deployment with one broken Compose file.
    let copy = tempfile::tempdir().unwrap();
    let src = repo().join("tests/fixtures/upstream-2025-11-04");
    copy_dir(&src, copy.path());
    let compose = copy.path().join("stacks/qdrant_service/docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    std::fs::write(
        &compose,
        text.replacen("services:", "services:\n  bad: [unclosed", 1),
    )
    .unwrap();
    let sim = Sim::new();
    let cfg = copy.path().join("etc/phoenix_hypervisor_config.json");
    let o = sim.run(&["sync", "all", "--config", cfg.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("qdrant_service") && err.contains("docker-compose.yml"),
        "{err}"
    );
    assert!(
        !sim.dir().join("host/etc/dnsmasq.d/phoenix.conf").exists(),
        "nothing was applied"
    );
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

#[test]
fn a_deployment_without_the_layer_syncs_nothing() {
    let sim = Sim::new();
    let cfg = repo().join("etc/phoenix_hypervisor_config.json");
    let o = sim.run(&["sync", "all", "--config", cfg.to_str().unwrap()]);
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("skipped=4"), "{err}");
    assert!(
        !sim.invocations().iter().any(|c| c["mutating"] == true),
        "nothing changed"
    );
}
