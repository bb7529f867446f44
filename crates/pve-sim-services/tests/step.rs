//! The `step` / `step-ca` stand-ins through the deployment's own sequence: container 103
//! initialises and starts the CA, the host bootstraps against it by fingerprint and asks for a
//! certificate of the manifest; the failures a real run meets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pve_sim_services::step::{step, step_ca, Env, Out};

struct World {
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let w = World {
            dir: tempfile::tempdir().unwrap(),
        };
        let ssl = w.ca_dir();
        std::fs::create_dir_all(&ssl).unwrap();
        std::fs::write(ssl.join("ca_password.txt"), "capass\n").unwrap();
        std::fs::write(ssl.join("provisioner_password.txt"), "provpass\n").unwrap();
        w
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    /// 103's STEPPATH (`/etc/step-ca/ssl`, a host folder bind-mounted into 103).
    fn ca_dir(&self) -> PathBuf {
        self.root().join("lxc-persistent-data/103/ssl")
    }
    fn run(&self, tool: &str, steppath: &Path, args: &[&str]) -> Out {
        let vars: BTreeMap<String, String> =
            [("STEPPATH".to_string(), steppath.display().to_string())].into();
        let get = move |k: &str| vars.get(k).cloned();
        let env = Env {
            vars: &get,
            sim_root: self.root(),
            guest: Some(103),
        };
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if tool == "step-ca" {
            step_ca(&args, &env)
        } else {
            step(&args, &env)
        }
    }
    fn init_and_start(&self) {
        let ca = self.ca_dir();
        let pw = ca.join("ca_password.txt").display().to_string();
        let ppw = ca.join("provisioner_password.txt").display().to_string();
        let o = self.run(
            "step",
            &ca,
            &[
                "ca",
                "init",
                "--name",
                "ThinkHeads Internal CA",
                "--dns",
                "ca.internal.thinkheads.ai",
                "--dns",
                "10.0.0.10",
                "--dns",
                "*.internal.thinkheads.ai",
                "--address",
                ":9000",
                "--provisioner",
                "admin@thinkheads.ai",
                "--deployment-type",
                "standalone",
                "--password-file",
                &pw,
                "--provisioner-password-file",
                &ppw,
            ],
        );
        assert_eq!(o.code, 0, "{}", o.stderr);
        let again = self.run(
            "step",
            &ca,
            &[
                "ca",
                "init",
                "--name",
                "x",
                "--dns",
                "x",
                "--address",
                ":9000",
                "--provisioner",
                "p",
                "--password-file",
                &pw,
                "--provisioner-password-file",
                &ppw,
            ],
        );
        assert_ne!(again.code, 0);
        let cfg = ca.join("config/ca.json").display().to_string();
        let o = self.run("step-ca", &ca, &[&cfg, "--password-file", &pw]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        assert!(o.stdout.contains("10.0.0.10:9000"), "{}", o.stdout);
    }
}

#[test]
fn host_bootstraps_and_gets_a_certificate() {
    let w = World::new();
    w.init_and_start();
    let host_step = w.root().join("host/root/.step");
    let fp = w.run(
        "step",
        &host_step,
        &[
            "certificate",
            "fingerprint",
            &w.ca_dir().join("certs/root_ca.crt").display().to_string(),
        ],
    );
    assert_eq!(fp.code, 0);
    let fp = fp.stdout.trim().to_string();
    assert_eq!(fp.len(), 64);

    let bad = w.run(
        "step",
        &host_step,
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            "https://10.0.0.10:9000",
            "--fingerprint",
            &"0".repeat(64),
        ],
    );
    assert!(
        bad.code != 0 && bad.stderr.contains("does not match"),
        "{}",
        bad.stderr
    );
    let o = w.run(
        "step",
        &host_step,
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            "https://10.0.0.10:9000",
            "--fingerprint",
            &fp,
            "--force",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(host_step.join("certs/root_ca.crt").is_file());
    assert_eq!(w.run("step", &host_step, &["ca", "health"]).stdout, "ok\n");

    let crt = w
        .root()
        .join("host/101/ssl/nginx.crt")
        .display()
        .to_string();
    let key = w
        .root()
        .join("host/101/ssl/nginx.key")
        .display()
        .to_string();
    let ppw = w
        .ca_dir()
        .join("provisioner_password.txt")
        .display()
        .to_string();
    let args = [
        "ca",
        "certificate",
        "nginx.internal.thinkheads.ai",
        &crt,
        &key,
        "--san",
        "nginx.internal.thinkheads.ai",
        "--san",
        "portainer.internal.thinkheads.ai",
        "--provisioner",
        "admin@thinkheads.ai",
        "--provisioner-password-file",
        &ppw,
        "--not-after",
        "24h",
    ];
    let o = w.run("step", &host_step, &args);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let pem = std::fs::read_to_string(&crt).unwrap();
    assert_eq!(
        pem.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf and intermediate"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Again without --force: the files exist.
    let o = w.run("step", &host_step, &args);
    assert!(
        o.code != 0 && o.stderr.contains("already exists"),
        "{}",
        o.stderr
    );
    let mut forced: Vec<&str> = args.to_vec();
    forced.push("--force");
    assert_eq!(w.run("step", &host_step, &forced).code, 0);

    // A wrong provisioner password.
    let wrong = w.root().join("wrong.txt");
    std::fs::write(&wrong, "nope").unwrap();
    let wrong = wrong.display().to_string();
    let o = w.run(
        "step",
        &host_step,
        &[
            "ca",
            "certificate",
            "x.internal.thinkheads.ai",
            "/tmp/never.crt",
            "/tmp/never.key",
            "--provisioner-password-file",
            &wrong,
        ],
    );
    assert!(
        o.code != 0 && o.stderr.contains("invalid password"),
        "{}",
        o.stderr
    );

    // Provisioners.
    let o = w.run(
        "step",
        &w.ca_dir(),
        &["ca", "provisioner", "add", "acme", "--type", "ACME"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let list = w.run("step", &w.ca_dir(), &["ca", "provisioner", "list"]);
    assert!(list.stdout.contains("\"ACME\""), "{}", list.stdout);
}

#[test]
fn an_unreachable_ca_and_a_foreign_root_fail_like_the_real_client() {
    let w = World::new();
    let host_step = w.root().join("host/root/.step");
    // Nothing was started: connection refused.
    let o = w.run(
        "step",
        &host_step,
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            "https://10.0.0.10:9000",
            "--fingerprint",
            &"a".repeat(64),
        ],
    );
    assert!(
        o.code != 0 && o.stderr.contains("connect: connection refused"),
        "{}",
        o.stderr
    );
    w.init_and_start();
    // A root that is not the CA's.
    let other = tempfile::tempdir().unwrap();
    let oca = pve_sim_services::ca::Ca::init(
        other.path(),
        pve_sim_services::ca::CaConfig {
            name: "Other".into(),
            dns: vec!["o".into()],
            address: ":1".into(),
            provisioner: "p".into(),
            provisioners: vec![],
            provisioner_password_sha256: String::new(),
        },
    )
    .unwrap();
    let o = w.run(
        "step",
        &host_step,
        &[
            "ca",
            "health",
            "--ca-url",
            "https://ca.internal.thinkheads.ai:9000",
            "--root",
            &oca.root_path().display().to_string(),
        ],
    );
    assert!(
        o.code != 0 && o.stderr.contains("unknown authority"),
        "{}",
        o.stderr
    );
}
