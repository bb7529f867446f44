//! The fixture's manifest loads; the renewal plan finds missing, expiring and wrong
//! certificates, issued for real by the simulated CA.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use phoenix_ca::plan::{plan, plan_one, Action, Context, Reason};
use phoenix_ca::{Entry, Manifest};
use pve_sim_services::ca::{Ca, CaConfig};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/upstream-2025-11-04/etc/certificate-manifest.json")
}

fn new_ca(dir: &Path) -> Ca {
    Ca::init(
        dir,
        CaConfig {
            name: "ThinkHeads Internal CA".into(),
            dns: vec!["ca.internal.thinkheads.ai".into()],
            address: ":9000".into(),
            provisioner: "admin@thinkheads.ai".into(),
            provisioners: vec![],
            provisioner_password_sha256: String::new(),
        },
    )
    .unwrap()
}

/// Writes what `step ca certificate` writes for `e`, under `root`.
fn issue(ca: &Ca, root: &Path, e: &Entry, sans: &[String], hours: i64) {
    let i = ca
        .issue(&e.common_name, sans, time::Duration::hours(hours))
        .unwrap();
    for (p, data) in [(&e.cert_path, &i.chain_pem), (&e.key_path, &i.key_pem)] {
        let p = root.join(p.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(e.mode().unwrap())).unwrap();
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn fixture_manifest_loads() {
    let m = Manifest::load(&fixture()).unwrap();
    assert_eq!(m.entries.len(), 3);
    assert_eq!(
        m.entries[0].names(),
        [
            "nginx.internal.thinkheads.ai",
            "portainer.internal.thinkheads.ai"
        ]
    );
    assert_eq!(
        m.entries[2].post_renewal_argv().unwrap()[..5],
        ["pct", "exec", "102", "--", "/bin/bash"]
    );
}

#[test]
fn manifest_errors_have_json_paths() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("certificate-manifest.json");
    std::fs::write(
        &p,
        r#"[{"common_name": "bad name", "cert_path": "rel.crt", "key_path": "/k", "owner": "root",
            "permissions": "999", "post_renewal_command": "systemctl reload nginx; rm -rf /", "color": 1}]"#,
    )
    .unwrap();
    let errs: Vec<String> = Manifest::load(&p)
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
    for want in [
        "[0].common_name",
        "[0].cert_path",
        "[0].owner",
        "[0].permissions",
        "[0].post_renewal_command",
        "color",
    ] {
        assert!(errs.iter().any(|e| e.contains(want)), "{want}: {errs:?}");
    }
}

#[test]
fn renewal_plan_from_missing_to_converged() {
    let d = tempfile::tempdir().unwrap();
    let host = d.path().join("host");
    let ca = new_ca(&d.path().join("ca"));
    let roots = std::fs::read(ca.root_path()).unwrap();
    let m = Manifest::load(&fixture()).unwrap();
    let ids = |_: &str, _: &str| None;
    let cx = Context {
        host_root: &host,
        roots_pem: Some(&roots),
        now: now(),
        ids: &ids,
    };

    // Fresh host: everything is missing.
    for p in plan(&m.entries, &cx) {
        assert!(
            matches!(p.action, Action::Issue(Reason::Missing(_))),
            "{p:?}"
        );
    }
    // Issued per the manifest: nothing to do.
    for e in &m.entries {
        issue(&ca, &host, e, &e.sans, 24);
    }
    for p in plan(&m.entries, &cx) {
        assert_eq!(p.action, Action::Unchanged, "{}", p.common_name);
    }
    let nginx = &m.entries[0];

    // Mode changed by hand: only permissions.
    let crt = host.join(nginx.cert_path.trim_start_matches('/'));
    std::fs::set_permissions(&crt, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        plan_one(nginx, &cx),
        Action::Permissions {
            mode: Some((0o644, 0o640)),
            owner: None
        }
    );

    // Expiring within 12 hours.
    issue(&ca, &host, nginx, &nginx.sans, 2);
    let a = plan_one(nginx, &cx);
    assert!(
        matches!(a, Action::Issue(Reason::Expiring { seconds_left }) if seconds_left < 3 * 3600),
        "{a:?}"
    );
    assert!(format!(
        "{}",
        match a {
            Action::Issue(r) => r,
            _ => unreachable!(),
        }
    )
    .starts_with("expires in 2h"));

    // A SAN missing.
    issue(&ca, &host, nginx, &[], 24);
    let a = plan_one(nginx, &cx);
    assert_eq!(
        a,
        Action::Issue(Reason::Names {
            missing: vec!["portainer.internal.thinkheads.ai".into()],
            extra: vec![]
        })
    );

    // Issued by another CA (e.g. the CA was initialised again).
    let other = new_ca(&d.path().join("other"));
    issue(&other, &host, nginx, &nginx.sans, 24);
    assert_eq!(plan_one(nginx, &cx), Action::Issue(Reason::NotFromCa));

    // The key file of another certificate.
    issue(&ca, &host, nginx, &nginx.sans, 24);
    let portainer = &m.entries[1];
    std::fs::copy(
        host.join(portainer.key_path.trim_start_matches('/')),
        host.join(nginx.key_path.trim_start_matches('/')),
    )
    .unwrap();
    assert_eq!(plan_one(nginx, &cx), Action::Issue(Reason::KeyMismatch));
}
