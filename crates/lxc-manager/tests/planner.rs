//! The container planner without processes: (desired, observed) → actions, for each kind of
//! change. The config is the upstream fixture (repo copy); the observed conf is built from the
//! desired state, then changed the way a host drifts.

use std::path::{Path, PathBuf};

use lxc_manager::{desired, firewall, plan};
use phoenix_config::{Config, GuestId};
use phoenix_guest::record::Record;
use phoenix_guest::{NodeOp, Op, Target};
use phoenix_report::{GuestTag, Kind};
use pve::api::Method;
use pve::Conf;

fn config() -> Config {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/upstream-2025-10-01/phoenix_hypervisor_config.json");
    Config::load(&p).expect("fixture loads")
}

fn target(id: u64) -> Target {
    Target {
        guest: GuestTag {
            id,
            kind: Kind::Lxc,
        },
        node: "localhost".into(),
    }
}

const PVE: &str = "/etc/pve";

/// The conf a converged container has: every desired key, GPUs, volumes, raw lines, the
/// root disk at its configured size.
fn converged(cfg: &Config, id: u64) -> (Conf, Option<String>) {
    let lxc = cfg.lxc(GuestId(id)).unwrap();
    let want = desired::build(lxc);
    let mut text = String::new();
    for (k, v) in plan::set_plan(lxc, &Conf::default(), &want).set {
        text.push_str(&format!("{k}: {v}\n"));
    }
    if let Some((pool, size)) = &want.rootfs {
        text.push_str(&format!("rootfs: {pool}:subvol-{id}-disk-0,size={size}G\n"));
    }
    text.push_str("unprivileged: 1\n");
    let mut conf = Conf::parse(&text);
    phoenix_guest::raw::apply(&mut conf, &want.raw);
    let fw = lxc.firewall.as_ref().map(firewall::render);
    (conf, fw)
}

fn configure(cfg: &Config, id: u64, conf: &Conf, fw: Option<&str>) -> phoenix_guest::Step {
    let lxc = cfg.lxc(GuestId(id)).unwrap();
    plan::configure(&target(id), lxc, conf, fw, Path::new(PVE)).0
}

fn shown(step: &phoenix_guest::Step) -> Vec<String> {
    step.drift().iter().map(|c| c.to_string()).collect()
}

#[test]
fn a_converged_container_plans_nothing() {
    let cfg = config();
    for id in [953, 950, 920] {
        let (conf, fw) = converged(&cfg, id);
        let step = configure(&cfg, id, &conf, fw.as_deref());
        assert!(step.is_noop(), "{id}: {:?}", step.actions);
        let lxc = cfg.lxc(GuestId(id)).unwrap();
        assert!(plan::disk(&target(id), lxc, &conf).is_noop());
        let d = plan::drift(&target(id), lxc, &conf, fw.as_deref(), Path::new(PVE)).unwrap();
        assert!(d.is_empty(), "{d:?}");
    }
}

#[test]
fn a_plain_setting_is_one_config_request_with_its_diff() {
    let cfg = config();
    let (mut conf, fw) = converged(&cfg, 953);
    conf.set("memory", "999");
    conf.set("cores", "1");
    let step = configure(&cfg, 953, &conf, fw.as_deref());
    assert_eq!(step.actions.len(), 1);
    let Op::Api(req) = &step.actions[0].op else {
        panic!("{:?}", step.actions[0].op)
    };
    assert_eq!(req.method, Method::Put);
    assert_eq!(req.path, "/nodes/localhost/lxc/953/config");
    assert_eq!(req.get("memory"), Some("4096"));
    assert_eq!(req.get("cores"), Some("4"));
    assert_eq!(
        req.to_argv().unwrap().1.join(" "),
        "set 953 --cores 4 --memory 4096"
    );
    assert_eq!(shown(&step), vec!["memory: 999 -> 4096", "cores: 1 -> 4"]);
}

#[test]
fn a_network_change_shows_the_sub_key_and_keeps_unmanaged_keys() {
    let cfg = config();
    let (mut conf, fw) = converged(&cfg, 953);
    let net = conf.get("net0").unwrap().to_string();
    let ip = net
        .split(',')
        .find_map(|p| p.strip_prefix("ip="))
        .unwrap()
        .to_string();
    conf.set(
        "net0",
        &format!("{},type=veth", net.replace(&ip, "10.9.9.9/24")),
    );
    let step = configure(&cfg, 953, &conf, fw.as_deref());
    assert_eq!(shown(&step), vec![format!("net0.ip: 10.9.9.9/24 -> {ip}")]);
    let Op::Api(req) = &step.actions[0].op else {
        panic!()
    };
    assert!(req.get("net0").unwrap().contains("type=veth"));
}

#[test]
fn gpus_volumes_raw_lines_and_firewall() {
    let cfg = config();
    let (mut conf, _) = converged(&cfg, 950);
    // A GPU no longer assigned, the volume gone, the raw line gone, the firewall file edited.
    conf.set("dev9", "/dev/nvidia1");
    let mp = conf
        .entries()
        .find(|(k, _)| k.starts_with("mp"))
        .map(|(k, _)| k.to_string())
        .unwrap();
    conf.delete(&mp);
    let mut text = conf.to_string();
    text = text.replace("lxc.apparmor.profile: unconfined\n", "");
    let conf = Conf::parse(&text);
    let step = configure(&cfg, 950, &conf, Some("[OPTIONS]\nenable: 0\n"));
    let d = shown(&step);
    assert!(
        d.contains(&"dev9: /dev/nvidia1 -> (none)".to_string()),
        "{d:?}"
    );
    assert!(
        d.iter()
            .any(|c| c.starts_with("mp0: (none) -> fastData-shared-bulk-data:50,mp=/vllm_models")),
        "{d:?}"
    );
    assert!(
        d.contains(&"lxc.apparmor.profile: (none) -> unconfined".to_string()),
        "{d:?}"
    );
    assert!(d.contains(&"firewall: other rules -> rules of the config".to_string()));
    let kinds: Vec<&str> = step
        .actions
        .iter()
        .map(|a| match &a.op {
            Op::Api(_) => "api",
            Op::Node(NodeOp::RawLines { .. }) => "raw",
            Op::Node(NodeOp::Write { path, .. }) => {
                assert_eq!(path, &Path::new(PVE).join("firewall/950.fw"));
                "firewall"
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(kinds, vec!["api", "raw", "firewall"]);
    let Op::Api(req) = &step.actions[0].op else {
        panic!()
    };
    assert_eq!(req.get("delete"), Some("dev9"));
}

#[test]
fn the_disk_grows_and_a_shrink_is_refused() {
    let cfg = config();
    let lxc = cfg.lxc(GuestId(953)).unwrap();
    let (mut conf, fw) = converged(&cfg, 953);
    conf.set("rootfs", "quickOS-lxc-disks:subvol-953-disk-0,size=8G");
    let step = plan::disk(&target(953), lxc, &conf);
    assert_eq!(shown(&step), vec!["rootfs.size: 8G -> 32G"]);
    let Op::Api(req) = &step.actions[0].op else {
        panic!()
    };
    assert_eq!(req.to_argv().unwrap().1.join(" "), "resize 953 rootfs 32G");
    conf.set("rootfs", "quickOS-lxc-disks:subvol-953-disk-0,size=64G");
    let step = plan::disk(&target(953), lxc, &conf);
    assert!(step.actions.is_empty());
    let why = step.refusal.as_deref().unwrap();
    assert!(
        why.contains("storage_size_gb 32 is below the live rootfs (64G)"),
        "{why}"
    );
    let e = plan::drift(&target(953), lxc, &conf, fw.as_deref(), Path::new(PVE)).unwrap_err();
    assert!(e.starts_with("disk: "), "{e}");
}

#[test]
fn a_clone_is_a_request_on_its_source_that_requires_the_snapshot() {
    let cfg = config();
    let lxc = cfg.lxc(GuestId(950)).unwrap();
    let src = Conf::parse("hostname: x\n[pre-configured]\nhostname: x\n");
    let step = plan::clone(&target(950), lxc, &cfg, GuestId(920), Some(&src)).unwrap();
    let a = &step.actions[0];
    let Op::Api(req) = &a.op else { panic!() };
    assert_eq!(req.path, "/nodes/localhost/lxc/920/clone");
    assert_eq!(
        req.to_argv().unwrap().1.join(" "),
        "clone 920 950 --full 1 --hostname vllm-qwen2.5-7b-awq --snapname pre-configured --storage quickOS-lxc-disks"
    );
    assert_eq!(a.requires.len(), 2);
    assert_eq!(a.requires[1].snapshot.as_deref(), Some("pre-configured"));
    assert!(a.long && !a.slots.is_empty());
}

#[test]
fn a_missing_template_is_downloaded_before_the_create() {
    let cfg = config();
    let lxc = cfg.lxc(GuestId(900)).unwrap();
    let storage_cfg = "dir: fastData-shared-iso\n\tpath /fastData/shared-iso\n\tcontent iso,vztmpl\n\nzfspool: quickOS-lxc-disks\n\tpool quickOS/lxc-disks\n\tcontent rootdir\n";
    let facts = plan::TemplateFacts {
        storage_cfg,
        storages: vec!["fastData-shared-iso".into(), "quickOS-lxc-disks".into()],
    };
    let step = plan::create_from_template(&target(900), lxc, &facts, |_, _| Ok(false)).unwrap();
    let argv: Vec<String> = step
        .actions
        .iter()
        .map(|a| match &a.op {
            Op::Api(r) => {
                let (tool, argv) = r.to_argv().unwrap();
                format!("{tool} {}", argv[..2].join(" "))
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        argv,
        vec!["pveam download fastData-shared-iso", "pct create 900"]
    );
    let step = plan::create_from_template(&target(900), lxc, &facts, |_, _| Ok(true)).unwrap();
    assert_eq!(step.actions.len(), 1);
    let missing = plan::TemplateFacts {
        storage_cfg,
        storages: vec!["fastData-shared-iso".into()],
    };
    let e = plan::create_from_template(&target(900), lxc, &missing, |_, _| Ok(true))
        .err()
        .unwrap();
    assert_eq!(e.0, "storage");
}

#[test]
fn a_feature_removed_from_the_config_is_reported_from_the_record() {
    let cfg = config();
    let lxc = cfg.lxc(GuestId(953)).unwrap();
    let mut rec = Record::empty(953);
    rec.features = vec!["base_setup".into(), "docker".into()];
    assert_eq!(
        rec.dropped_note(&lxc.features).as_deref(),
        Some("installed, no longer configured: docker; Phoenix does not uninstall")
    );
}
