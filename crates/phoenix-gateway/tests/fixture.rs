//! The 2025-11-04 deployment's DNS, gateway and Traefik configs, generated and checked by the
//! simulator's `dnsmasq --test` and `nginx -t`; applied atomically, unchanged on a second run,
//! and a refused or failing config leaves the previous one in place.

use std::path::{Path, PathBuf};

use phoenix_gateway::apply::{apply, Applied, ApplyError, ConfigFile, Exec, HostFiles, Output};
use phoenix_gateway::input::{GuestInfo, Input, StackService, TraefikService};
use phoenix_gateway::{dns, nginx, resolv, traefik};
use pve_sim_services::checks;
use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/upstream-2025-11-04")
}

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture().join("etc").join(name)).unwrap())
        .unwrap()
}

fn ip_of(v: &Value) -> Option<std::net::Ipv4Addr> {
    v["network_config"]["ip"]
        .as_str()?
        .split('/')
        .next()?
        .parse()
        .ok()
}

fn traefik_of(v: &Value) -> Option<TraefikService> {
    let t = &v["traefik_service"];
    Some(TraefikService {
        name: t["name"].as_str()?.into(),
        port: t["port"].as_u64()? as u16,
    })
}

/// What the caller (the sync) fills from the checked config; here straight from the JSON.
fn input() -> Input {
    let hv = json("phoenix_hypervisor_config.json");
    let lxc = json("phoenix_lxc_configs.json");
    let vms = json("phoenix_vm_configs.json");
    let mut guests = Vec::new();
    for (id, c) in lxc["lxc_configs"].as_object().unwrap() {
        guests.push(GuestInfo {
            id: id.parse().unwrap(),
            name: c["name"].as_str().unwrap().into(),
            is_vm: false,
            ip: ip_of(c),
            traefik_service: traefik_of(c),
            portainer_agent: false,
            agent_hostname: None,
            dns_records: vec![],
        });
    }
    for v in vms["vms"].as_array().unwrap() {
        guests.push(GuestInfo {
            id: v["vmid"].as_u64().unwrap() as u32,
            name: v["name"].as_str().unwrap().into(),
            is_vm: true,
            ip: ip_of(v),
            traefik_service: traefik_of(v),
            portainer_agent: v["portainer_role"] == "agent",
            agent_hostname: v["portainer_agent_hostname"].as_str().map(Into::into),
            dns_records: vec![],
        });
    }
    let stacks =
        phoenix_stacks::Stacks::load_beside(&fixture().join("etc/phoenix_hypervisor_config.json"))
            .unwrap();
    let mut stack_services = Vec::new();
    for v in vms["vms"].as_array().unwrap() {
        for name in v["docker_stacks"].as_array().into_iter().flatten() {
            let stack = stacks.get(name.as_str().unwrap()).unwrap();
            let env = stack.environment("production").unwrap();
            for service in stack.compose.services() {
                stack_services.push(StackService {
                    stack: stack.name.clone(),
                    service: service.clone(),
                    vmid: v["vmid"].as_u64().unwrap() as u32,
                    labels: env
                        .services
                        .get(&service)
                        .map(|s| s.traefik_labels.clone())
                        .unwrap_or_default(),
                });
            }
        }
    }
    let first_ip = |id: &str| ip_of(&lxc["lxc_configs"][id]);
    Input {
        domain: hv["domain_name"].as_str().unwrap().into(),
        host_ip: hv["network"]["interfaces"]["address"]
            .as_str()
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap(),
        upstream_servers: hv["dns_server"]["upstream_servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().into())
            .collect(),
        fallback_dns: hv["network"]["fallback_dns"].as_str().map(Into::into),
        guests,
        stack_services,
        gateway_ip: first_ip("101"),
        traefik_ip: first_ip("102"),
        portainer_hostname: hv["portainer_api"]["portainer_hostname"]
            .as_str()
            .map(Into::into),
    }
}

/// The simulator's checkers and a service manager that can be made to fail.
struct SimExec {
    root: PathBuf,
    fail_reload: bool,
    calls: Vec<String>,
}

impl Exec for SimExec {
    fn run(&mut self, argv: &[String]) -> std::io::Result<Output> {
        self.calls.push(argv.join(" "));
        let res = match argv
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["dnsmasq", "--test"] => checks::dnsmasq::test(&self.root, "/etc/dnsmasq.conf"),
            ["nginx", "-t"] => checks::nginx::test(&self.root, "/etc/nginx/nginx.conf"),
            ["systemctl", _, _] if self.fail_reload => Err("Job for unit failed.".into()),
            ["systemctl", _, _] => Ok(String::new()),
            other => panic!("unexpected command {other:?}"),
        };
        Ok(match res {
            Ok(out) => Output {
                code: 0,
                stdout: String::new(),
                stderr: out,
            },
            Err(e) => Output {
                code: 1,
                stdout: String::new(),
                stderr: e,
            },
        })
    }
}

fn host(root: &Path) -> HostFiles<SimExec> {
    HostFiles {
        root: root.to_path_buf(),
        exec: SimExec {
            root: root.to_path_buf(),
            fail_reload: false,
            calls: vec![],
        },
    }
}

fn argv(s: &str) -> Option<Vec<String>> {
    Some(s.split(' ').map(String::from).collect())
}

#[test]
fn dns_records_cover_every_guest_and_every_stack_service() {
    let input = input();
    let r = dns::records(&input);
    let name = |n: &str| {
        r.records
            .iter()
            .find(|x| x.name == n)
            .map(|x| x.ip.to_string())
    };
    for g in &input.guests {
        if g.ip.is_some() {
            let label = phoenix_gateway::input::dns_label(&g.name);
            assert!(
                name(&format!("{label}.internal.thinkheads.ai")).is_some()
                    || r.shadowed.iter().any(|s| s.name.starts_with(&label)),
                "guest {}",
                g.id
            );
        }
    }
    for s in &input.stack_services {
        let label = phoenix_gateway::input::dns_label(&s.service);
        assert!(
            name(&format!("{label}.internal.thinkheads.ai")).is_some(),
            "stack service {}",
            s.service
        );
    }
    assert_eq!(
        name("qdrant.internal.thinkheads.ai").as_deref(),
        Some("10.0.0.153")
    );
    assert_eq!(
        name("portainer.internal.thinkheads.ai").as_deref(),
        Some("10.0.0.153")
    );
    assert_eq!(
        name("portainer-agent.internal.thinkheads.ai").as_deref(),
        Some("10.0.0.102")
    );
    assert_eq!(
        name("ca.internal.thinkheads.ai").as_deref(),
        Some("10.0.0.10")
    );
    assert_eq!(
        name("thinkheads-ai-app.internal.thinkheads.ai").as_deref(),
        Some("10.0.0.102")
    );
}

#[test]
fn dnsmasq_file_is_checked_applied_once_and_kept_when_refused() {
    let d = tempfile::tempdir().unwrap();
    let mut h = host(d.path());
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(
        d.path().join("etc/dnsmasq.conf"),
        "conf-dir=/etc/dnsmasq.d/,*.conf\n",
    )
    .unwrap();
    let input = input();
    let text = dns::dnsmasq_conf(&input, &dns::records(&input));
    let file = ConfigFile {
        path: dns::DNSMASQ_FILE,
        text: &text,
        mode: 0o644,
        check: argv("dnsmasq --test"),
        reload: argv("systemctl restart dnsmasq"),
    };
    assert!(matches!(
        apply(&mut h, &file, true).unwrap(),
        Applied::WouldChange(_)
    ));
    assert!(
        !d.path().join("etc/dnsmasq.d/phoenix.conf").exists(),
        "a dry run writes nothing"
    );
    assert!(matches!(
        apply(&mut h, &file, false).unwrap(),
        Applied::Changed(_)
    ));
    h.exec.calls.clear();
    assert_eq!(apply(&mut h, &file, false).unwrap(), Applied::Unchanged);
    assert!(
        h.exec.calls.is_empty(),
        "an unchanged file is neither checked nor reloaded"
    );

    // A broken record: refused by the check, the working file stays, nothing is restarted.
    let broken = text.replace(
        "address=/ca.internal.thinkheads.ai/10.0.0.10",
        "address=/ca.internal.thinkheads.ai/10.0.0.300",
    );
    let bad = ConfigFile {
        text: &broken,
        ..file.clone()
    };
    let e = apply(&mut h, &bad, false).unwrap_err();
    assert!(matches!(e, ApplyError::Invalid { .. }));
    assert!(e.to_string().contains("bad address at line"), "{e}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("etc/dnsmasq.d/phoenix.conf")).unwrap(),
        text
    );
    assert!(!h.exec.calls.iter().any(|c| c.starts_with("systemctl")));

    // A restart that fails: the previous file is put back.
    let other = text.replace("strict-order\n", "");
    h.exec.fail_reload = true;
    let e = apply(
        &mut h,
        &ConfigFile {
            text: &other,
            ..file.clone()
        },
        false,
    )
    .unwrap_err();
    assert!(matches!(e, ApplyError::ReloadFailed { .. }), "{e}");
    assert_eq!(
        std::fs::read_to_string(d.path().join("etc/dnsmasq.d/phoenix.conf")).unwrap(),
        text
    );
}

#[test]
fn nginx_site_passes_nginx_t_with_the_deployments_nginx_conf() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    // Container 101's files: the deployment's nginx.conf, mime.types, and the certificate the
    // internal CA issued for nginx (its /etc/nginx/ssl mount).
    std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
    std::fs::copy(
        fixture().join("etc/nginx/nginx.conf"),
        root.join("etc/nginx/nginx.conf"),
    )
    .unwrap();
    std::fs::write(
        root.join("etc/nginx/mime.types"),
        "types {\n    text/html html htm;\n    application/json json;\n}\n",
    )
    .unwrap();
    let ca = pve_sim_services::ca::Ca::init(
        &root.join("ca"),
        pve_sim_services::ca::CaConfig {
            name: "T".into(),
            dns: vec!["ca".into()],
            address: ":9000".into(),
            provisioner: "p".into(),
            provisioners: vec![],
            provisioner_password_sha256: String::new(),
        },
    )
    .unwrap();
    let issued = ca
        .issue("nginx.internal.thinkheads.ai", &[], pve_sim_services_time())
        .unwrap();
    std::fs::create_dir_all(root.join("etc/nginx/ssl")).unwrap();
    std::fs::write(
        root.join("etc/nginx/ssl/nginx.internal.thinkheads.ai.crt"),
        &issued.chain_pem,
    )
    .unwrap();
    std::fs::write(
        root.join("etc/nginx/ssl/nginx.internal.thinkheads.ai.key"),
        &issued.key_pem,
    )
    .unwrap();

    let input = input();
    let tls = nginx::Tls {
        cert: "/etc/nginx/ssl/nginx.internal.thinkheads.ai.crt".into(),
        key: "/etc/nginx/ssl/nginx.internal.thinkheads.ai.key".into(),
    };
    let site = nginx::site(&input, &dns::records(&input), &tls).unwrap();
    assert!(site.contains("proxy_pass http://10.0.0.12:80;"));
    assert!(
        site.contains("qdrant.internal.thinkheads.ai")
            && site.contains("portainer.internal.thinkheads.ai")
    );
    let mut h = host(root);
    let file = ConfigFile {
        path: nginx::SITE_LINK,
        text: &site,
        mode: 0o644,
        check: argv("nginx -t"),
        reload: argv("systemctl reload nginx"),
    };
    assert!(matches!(
        apply(&mut h, &file, false).unwrap(),
        Applied::Changed(_)
    ));

    // Without the certificate nginx -t refuses the site, and the previous one stays.
    std::fs::remove_file(root.join("etc/nginx/ssl/nginx.internal.thinkheads.ai.key")).unwrap();
    let other = site.replace("client_max_body_size 16M", "client_max_body_size 32M");
    let e = apply(
        &mut h,
        &ConfigFile {
            text: &other,
            ..file.clone()
        },
        false,
    )
    .unwrap_err();
    assert!(e.to_string().contains("cannot load certificate key"), "{e}");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/nginx/sites-enabled/gateway")).unwrap(),
        site
    );
}

fn pve_sim_services_time() -> time::Duration {
    time::Duration::hours(24)
}

#[test]
fn traefik_files() {
    let input = input();
    let template =
        std::fs::read_to_string(fixture().join("etc/traefik/traefik.yml.template")).unwrap();
    let st = traefik::static_conf(&template, "https://ca.internal.thinkheads.ai:9000").unwrap();
    assert!(st.contains("directory: /etc/traefik/dynamic"));
    let dy = traefik::dynamic_conf(&input, "/etc/step-ca/ssl/phoenix_root_ca.crt").unwrap();
    for want in [
        "qdrant-router:",
        "Host(`qdrant.internal.thinkheads.ai`)",
        "url: \"http://10.0.0.102:6333\"",
        "portainer-service:",
        "url: \"http://10.0.0.111:9000\"",
        "portainer-agent-service:",
        "url: \"https://10.0.0.102:9001\"",
        "serversTransport: internal-ca",
        "ca-service:",
        "url: \"http://10.0.0.10:9000\"",
        "- \"/etc/step-ca/ssl/phoenix_root_ca.crt\"",
    ] {
        assert!(dy.contains(want), "{want}:\n{dy}");
    }
    assert_eq!(
        dy,
        traefik::dynamic_conf(&input, "/etc/step-ca/ssl/phoenix_root_ca.crt").unwrap(),
        "deterministic"
    );
}

#[test]
fn resolv_conf_only_points_at_a_running_server() {
    let d = tempfile::tempdir().unwrap();
    let mut h = host(d.path());
    std::fs::create_dir_all(d.path().join("etc")).unwrap();
    std::fs::write(d.path().join("etc/resolv.conf"), "nameserver 10.0.0.1\n").unwrap();
    let want = resolv::resolv_conf("internal.thinkheads.ai", "10.0.0.13", Some("8.8.8.8"));
    // The server does not run: the original stays.
    assert_eq!(
        resolv::ensure(&mut h, &want, false, false).unwrap(),
        resolv::Outcome::Restored { changed: false }
    );
    // It runs: switched, the original kept once.
    assert!(matches!(
        resolv::ensure(&mut h, &want, true, false).unwrap(),
        resolv::Outcome::Applied(Applied::Changed(_))
    ));
    assert_eq!(
        std::fs::read_to_string(d.path().join("etc/resolv.conf.phoenix.bak")).unwrap(),
        "nameserver 10.0.0.1\n"
    );
    assert!(std::fs::read_to_string(d.path().join("etc/resolv.conf"))
        .unwrap()
        .contains("nameserver 10.0.0.13\nnameserver 8.8.8.8\n"));
    assert_eq!(
        resolv::ensure(&mut h, &want, true, false).unwrap(),
        resolv::Outcome::Applied(Applied::Unchanged)
    );
    // It stopped: the original is back.
    assert_eq!(
        resolv::ensure(&mut h, &want, false, false).unwrap(),
        resolv::Outcome::Restored { changed: true }
    );
    assert_eq!(
        std::fs::read_to_string(d.path().join("etc/resolv.conf")).unwrap(),
        "nameserver 10.0.0.1\n"
    );
}
