//! `hypervisor-manager sync <part>`: the service layer put in place, part by part, each one
//! planned against what is there and applied only where it differs (so a second sync changes
//! nothing, and `--dry-run` is the plan).
//!
//! | part | what |
//! | --- | --- |
//! | `certs` | the certificate manifest: each certificate (re)issued from the internal CA when missing, expiring, misnamed or not the CA's ([`phoenix_ca::plan`]); mode and owner; its post-renewal command |
//! | `dns` | `/etc/dnsmasq.d/phoenix.conf` on the host (`dnsmasq --test`, `systemctl restart dnsmasq`), then `/etc/resolv.conf` pointed at it while it runs |
//! | `gateway` | the Nginx site in the gateway container (`nginx -t`, reload), Traefik's static and dynamic files in the Traefik container |
//! | `portainer` | the administrator (initialised once), one agent environment per `portainer_role: agent` VM |
//! | `stacks` | `portainer`, then every stack of the agents' `docker_stacks` created or updated |
//! | `all` | `certs`, `dns`, `gateway`, `stacks`, in that order |
//!
//! Everything the parts read is loaded and checked first (the stacks with their Compose
//! files, the manifest): a problem there stops the sync before anything changed. A part that
//! fails stops the sync; each file is replaced atomically and put back when its check or
//! reload fails ([`phoenix_gateway::apply`]), so a failure leaves nothing half applied.

mod files;
pub mod layer;
mod portainer;

use std::path::{Path, PathBuf};

use phoenix_gateway::apply::{apply, Applied, ConfigFile};
use phoenix_gateway::{dns, nginx, resolv, traefik};
use phoenix_guest::node::NodeWork;
use phoenix_host::exit;
use phoenix_host::manager::Context;
use phoenix_report::{Event, EventKind, GuestTag, Kind, Reporter};

use files::{CtFiles, NodeFiles};
use layer::Layer;

/// How long a certificate's `post_renewal_command` may run (`timeout(1)`'s argument).
pub const POST_RENEWAL_TIMEOUT: &str = "120";

/// The parts, in the order `all` runs them.
pub const PARTS: &[&str] = &["certs", "dns", "gateway", "portainer", "stacks"];

/// Why a part stopped: the message of its `Failed` event.
pub struct Stop(pub String);

impl<T: std::fmt::Display> From<T> for Stop {
    fn from(e: T) -> Stop {
        Stop(e.to_string())
    }
}

/// One sync run.
pub struct Sync<'a> {
    pub ctx: &'a Context,
    pub r: &'a Reporter,
    pub layer: Layer,
    pub node: &'a dyn NodeWork,
    /// Objects changed (or, under `--dry-run`, that would change).
    pub changed: usize,
}

pub fn run(ctx: &Context, r: &Reporter) -> i32 {
    let part = ctx.inv.argument.as_deref().unwrap_or("all");
    let parts: Vec<&str> = match part {
        "all" => vec!["certs", "dns", "gateway", "stacks"],
        p if PARTS.contains(&p) => vec![p],
        other => {
            crate::fail(
                r,
                format!(
                    "sync: unknown part '{other}'; expected all, {}",
                    PARTS.join(", ")
                ),
            );
            return exit::FAILURE;
        }
    };
    if ctx.inv.only_stack.is_some() && part != "stacks" {
        crate::fail(r, "sync: --stack and --to apply to 'sync stacks' only");
        return exit::FAILURE;
    }
    let layer = match Layer::load(&ctx.config) {
        Ok(l) => l,
        Err(e) => {
            crate::fail(r, format!("sync: the stacks cannot be deployed:\n{e}"));
            return exit::FAILURE;
        }
    };
    let node = match phoenix_guest::connect::node_work(&ctx.runner, &ctx.env, &ctx.config) {
        Ok(n) => n,
        Err(e) => {
            crate::fail(r, format!("sync: {e}"));
            return exit::FAILURE;
        }
    };
    let mut s = Sync {
        ctx,
        r,
        layer,
        node: node.as_ref(),
        changed: 0,
    };
    // What the parts read is checked before the first change.
    let manifest = if parts.contains(&"certs") {
        match s.manifest() {
            Ok(m) => m,
            Err(Stop(m)) => {
                crate::fail(r, format!("sync certs: {m}"));
                return exit::FAILURE;
            }
        }
    } else {
        None
    };
    for p in &parts {
        let res = match *p {
            "certs" => s.certs(manifest.as_ref()),
            "dns" => s.dns(),
            "gateway" => s.gateway(),
            "portainer" => s.portainer(false),
            _ => s.portainer(true),
        };
        if let Err(Stop(m)) = res {
            // A dry run on a host where the part's inputs do not exist yet (the CA has not
            // exported its root, a container is still to be created): planned when reached.
            if ctx.env.dry_run {
                r.emit(
                    Event::new(EventKind::Then, None)
                        .step(format!("sync {p}"))
                        .message(format!("planned when reached: {m}")),
                );
                continue;
            }
            crate::fail(r, format!("sync {p}: {m}"));
            return exit::FAILURE;
        }
    }
    let what = if ctx.env.dry_run {
        format!(
            "dry run: {} change(s) planned; nothing was changed",
            s.changed
        )
    } else if s.changed == 0 {
        "sync: already in the desired state".to_string()
    } else {
        format!("sync: {} change(s) applied", s.changed)
    };
    r.emit(Event::new(EventKind::Done, None).message(what));
    exit::SUCCESS
}

fn ct(id: u64) -> Option<GuestTag> {
    Some(GuestTag {
        id,
        kind: Kind::Lxc,
    })
}

impl Sync<'_> {
    fn dry(&self) -> bool {
        self.ctx.env.dry_run
    }

    /// Reports what happened to one file.
    fn report(&mut self, guest: Option<GuestTag>, step: &str, path: &str, a: &Applied) {
        let e = match a {
            Applied::Unchanged => Event::new(EventKind::Unchanged, guest).step(step),
            Applied::WouldChange(d) => {
                self.changed += 1;
                Event::new(EventKind::Planned, guest)
                    .step(step)
                    .action(format!("write {path}"))
                    .message(format!("+{} -{} lines", d.added.len(), d.removed.len()))
            }
            Applied::Changed(d) => {
                self.changed += 1;
                Event::new(EventKind::Changed, guest)
                    .step(step)
                    .action(format!("write {path}"))
                    .message(format!("+{} -{} lines", d.added.len(), d.removed.len()))
            }
        };
        self.r.emit(e);
    }

    fn host(&self) -> NodeFiles<'_> {
        NodeFiles {
            node: self.node,
            env: &self.ctx.env,
        }
    }

    fn argv(words: &[&str]) -> Option<Vec<String>> {
        Some(words.iter().map(|s| s.to_string()).collect())
    }

    /// `dns`: the dnsmasq file, then `resolv.conf`.
    fn dns(&mut self) -> Result<(), Stop> {
        let enabled = self
            .ctx
            .config
            .hypervisor
            .dns_server
            .as_ref()
            .is_some_and(|d| d.enabled);
        if !enabled {
            self.r.emit(
                Event::new(EventKind::Skipped, None)
                    .step("dns")
                    .message("dns_server.enabled is not true"),
            );
            return Ok(());
        }
        let input = self.layer.input.clone();
        let input = &input;
        if input.domain.is_empty() {
            return Err(Stop("domain_name is not set".into()));
        }
        self.dnsmasq_installed()?;
        let records = dns::records(input);
        for s in &records.shadowed {
            log::info!(
                "DNS name {} ({}) is already claimed; {} ignored",
                s.name,
                s.source,
                s.ip
            );
        }
        let text = dns::dnsmasq_conf(input, &records);
        let file = ConfigFile {
            path: dns::DNSMASQ_FILE,
            text: &text,
            mode: 0o644,
            check: Some(vec![
                "dnsmasq".into(),
                "--test".into(),
                format!("--conf-file={}", dns::DNSMASQ_FILE),
            ]),
            reload: Self::argv(&["systemctl", "restart", "dnsmasq"]),
        };
        let dry = self.dry();
        let a = apply(&mut self.host(), &file, dry)?;
        self.report(None, "dns dnsmasq", dns::DNSMASQ_FILE, &a);
        let running = self
            .host()
            .exec(&["systemctl".into(), "is-active".into(), "--quiet".into(), "dnsmasq".into()])
            .map(|o| o.code == 0)
            .map_err(Stop)?
            // Under --dry-run a file about to be written means dnsmasq will run.
            || matches!(a, Applied::WouldChange(_));
        let host_ip = input.host_ip.to_string();
        let want = resolv::resolv_conf(&input.domain, &host_ip, input.fallback_dns.as_deref());
        match resolv::ensure(&mut self.host(), &want, running, dry)? {
            resolv::Outcome::Applied(a) => self.report(None, "dns resolv.conf", resolv::RESOLV, &a),
            resolv::Outcome::Restored { changed } => {
                if changed {
                    self.changed += 1;
                }
                self.r.emit(
                    Event::new(
                        if changed {
                            EventKind::Changed
                        } else {
                            EventKind::Unchanged
                        },
                        None,
                    )
                    .step("dns resolv.conf")
                    .message("dnsmasq does not run: the original resolv.conf is in place"),
                );
            }
        }
        Ok(())
    }

    /// dnsmasq is a package of the host: installed once (`apt-get install -y dnsmasq`).
    fn dnsmasq_installed(&mut self) -> Result<(), Stop> {
        let argv: Vec<String> = ["dpkg-query", "-W", "-f", "${Status}", "dnsmasq"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = self.host().exec(&argv).map_err(Stop)?;
        if out.code == 0 && out.stdout.contains("install ok installed") {
            return Ok(());
        }
        self.changed += 1;
        let action = "apt-get install -y dnsmasq";
        if self.dry() {
            self.r.emit(
                Event::new(EventKind::Planned, None)
                    .step("dns package")
                    .action(action),
            );
            return Ok(());
        }
        let argv: Vec<String> = action.split(' ').map(String::from).collect();
        self.must(&argv, "dnsmasq")?;
        self.r.emit(
            Event::new(EventKind::Changed, None)
                .step("dns package")
                .action(action),
        );
        Ok(())
    }

    /// Checks a container answers `pct exec` before its files are touched.
    fn reachable(&self, id: u64) -> Result<(), Stop> {
        match self.node.ct_exec(id, &["true".to_string()]) {
            Ok(o) if o.code == 0 => Ok(()),
            Ok(o) => Err(Stop(format!(
                "CT {id} does not answer `pct exec` (is it created and running?): {}",
                o.stderr.trim()
            ))),
            Err(e) => Err(Stop(format!(
                "CT {id} does not answer `pct exec` (is it created and running?): {}",
                e.0
            ))),
        }
    }

    /// `gateway`: Nginx's site, Traefik's files.
    fn gateway(&mut self) -> Result<(), Stop> {
        let input = self.layer.input.clone();
        let records = dns::records(&input);
        if let Some(id) = self.layer.nginx {
            self.reachable(id)?;
            let tls = self.nginx_tls(id)?;
            let site =
                nginx::site(&input, &records, &tls).map_err(|e| Stop(format!("CT {id}: {e}")))?;
            let file = ConfigFile {
                path: nginx::SITE_LINK,
                text: &site,
                mode: 0o644,
                check: Self::argv(&["nginx", "-t"]),
                reload: Self::argv(&["systemctl", "reload", "nginx"]),
            };
            let dry = self.dry();
            let mut target = CtFiles {
                node: self.node,
                ctid: id,
            };
            let a = apply(&mut target, &file, dry)?;
            self.report(ct(id), "gateway nginx", nginx::SITE_LINK, &a);
        } else {
            self.r.emit(
                Event::new(EventKind::Skipped, None)
                    .step("gateway nginx")
                    .message("no container has a traefik_service named 'nginx'"),
            );
        }
        if let Some(id) = self.layer.traefik {
            self.reachable(id)?;
            let template_path = self.layer.etc.join("traefik/traefik.yml.template");
            let template = std::fs::read_to_string(&template_path)
                .map_err(|e| Stop(format!("{}: {e}", template_path.display())))?;
            let ca_url = self
                .layer
                .ca_url
                .clone()
                .ok_or("step_ca.dns_name is not set (Traefik's ACME server)")?;
            let st = traefik::static_conf(&template, &ca_url).map_err(Stop)?;
            let root = format!("{}/{}", layer::CA_STATE_DIR, layer::ROOT_FILE);
            let dy = traefik::dynamic_conf(&input, &root).map_err(Stop)?;
            let dry = self.dry();
            for (path, text, reload) in [
                (traefik::STATIC_FILE, &st, true),
                (traefik::DYNAMIC_FILE, &dy, false),
            ] {
                let file = ConfigFile {
                    path,
                    text,
                    mode: 0o644,
                    check: None,
                    // Traefik watches its dynamic folder; the static file needs a restart.
                    reload: if reload {
                        Self::argv(&["systemctl", "restart", "traefik"])
                    } else {
                        None
                    },
                };
                let mut target = CtFiles {
                    node: self.node,
                    ctid: id,
                };
                let a = apply(&mut target, &file, dry)?;
                self.report(ct(id), "gateway traefik", path, &a);
            }
        }
        Ok(())
    }

    /// The certificate Nginx serves: the manifest's entry for `nginx.<domain>`, as container
    /// 101 sees it through its bind mounts.
    fn nginx_tls(&self, id: u64) -> Result<nginx::Tls, Stop> {
        let cfg = &self.ctx.config;
        let c = cfg
            .lxc(phoenix_config::GuestId(id))
            .ok_or_else(|| Stop(format!("CT {id} is not configured")))?;
        let name = format!("nginx.{}", self.layer.input.domain);
        let manifest = self.manifest()?;
        let entry = manifest
            .as_ref()
            .and_then(|m| m.entries.iter().find(|e| e.common_name == name));
        let inside = |p: &str| layer::inside_path_of(c, p);
        match entry {
            Some(e) => Ok(nginx::Tls {
                cert: inside(&e.cert_path).ok_or_else(|| {
                    Stop(format!(
                        "CT {id}: {} is not in one of its mount points",
                        e.cert_path
                    ))
                })?,
                key: inside(&e.key_path).ok_or_else(|| {
                    Stop(format!(
                        "CT {id}: {} is not in one of its mount points",
                        e.key_path
                    ))
                })?,
            }),
            None => Ok(nginx::Tls {
                cert: format!("{}/{name}.crt", layer::NGINX_SSL_DIR),
                key: format!("{}/{name}.key", layer::NGINX_SSL_DIR),
            }),
        }
    }

    /// The certificate manifest beside the config, when there is one.
    fn manifest(&self) -> Result<Option<phoenix_ca::Manifest>, Stop> {
        let path = self.layer.etc.join(phoenix_ca::manifest::FILE);
        if !path.exists() {
            return Ok(None);
        }
        phoenix_ca::Manifest::load(&path).map(Some).map_err(|d| {
            Stop(
                d.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        })
    }

    /// A host path of the manifest or the CA under the host root.
    fn on_host(&self, p: &Path) -> PathBuf {
        self.ctx.env.host_path(p)
    }

    /// `certs`: the renewal plan, carried out.
    fn certs(&mut self, manifest: Option<&phoenix_ca::Manifest>) -> Result<(), Stop> {
        let Some(m) = manifest else {
            self.r.emit(
                Event::new(EventKind::Skipped, None)
                    .step("certs")
                    .message("no etc/certificate-manifest.json"),
            );
            return Ok(());
        };
        let (Some(ca_dir), Some(url)) = (self.layer.ca_dir.clone(), self.layer.ca_url.clone())
        else {
            return Err(Stop(
                "the manifest needs the internal CA: a container with feature step_ca and a mount point at /etc/step-ca/ssl, and step_ca.dns_name".into(),
            ));
        };
        let root = ca_dir.join(layer::ROOT_FILE);
        let roots = self
            .node
            .read(&self.on_host(&root))
            .map_err(|e| Stop(e.0))?
            .ok_or_else(|| {
                Stop(format!(
                    "the internal CA has not exported its root certificate yet ({}; the CA container's application script does that)",
                    root.display()
                ))
            })?;
        let host_root = self.ctx.env.host_root.clone();
        let ids = |u: &str, g: &str| phoenix_ca::plan::host_ids(&host_root, u, g);
        let cx = phoenix_ca::plan::Context {
            host_root: &host_root,
            roots_pem: Some(&roots),
            now: time_now(),
            ids: &ids,
        };
        let provisioner = self
            .ctx
            .config
            .hypervisor
            .step_ca
            .as_ref()
            .and_then(|s| s.provisioner_name.clone())
            .ok_or("step_ca.provisioner_name is not set")?;
        for p in phoenix_ca::plan::plan(&m.entries, &cx) {
            let e = &m.entries[p.index];
            let step = format!("certs {}", e.common_name);
            let crt = self.on_host(Path::new(&e.cert_path));
            let key = self.on_host(Path::new(&e.key_path));
            let files = [crt.display().to_string(), key.display().to_string()];
            match &p.action {
                phoenix_ca::Action::Unchanged => {
                    self.r
                        .emit(Event::new(EventKind::Unchanged, None).step(step));
                }
                phoenix_ca::Action::Issue(reason) => {
                    self.changed += 1;
                    let action = format!("step ca certificate {}", e.common_name);
                    if self.dry() {
                        self.r.emit(
                            Event::new(EventKind::Planned, None)
                                .step(step)
                                .action(action)
                                .message(reason.to_string()),
                        );
                        continue;
                    }
                    let mut argv = vec![
                        "step".to_string(),
                        "ca".into(),
                        "certificate".into(),
                        e.common_name.clone(),
                        files[0].clone(),
                        files[1].clone(),
                    ];
                    for san in e.names() {
                        argv.extend(["--san".to_string(), san]);
                    }
                    argv.extend([
                        "--provisioner".to_string(),
                        provisioner.clone(),
                        "--provisioner-password-file".into(),
                        self.on_host(&ca_dir.join(layer::PROVISIONER_PASSWORD_FILE))
                            .display()
                            .to_string(),
                        "--ca-url".into(),
                        url.clone(),
                        "--root".into(),
                        self.on_host(&root).display().to_string(),
                        "--not-after".into(),
                        "24h".into(),
                        "--force".into(),
                    ]);
                    if let Some(d) = crt.parent() {
                        std::fs::create_dir_all(d)
                            .map_err(|x| Stop(format!("{}: {x}", d.display())))?;
                    }
                    self.must(&argv, &e.common_name)?;
                    self.set_mode_owner(e, &files, true)?;
                    // The certificate is in place either way; a consumer that is not up yet
                    // (its guest not created) reads it when it starts.
                    if let Some(post) = e.post_renewal_argv() {
                        // Bounded: the fixture's own commands wait in a loop for a file.
                        let mut argv = vec!["timeout".to_string(), POST_RENEWAL_TIMEOUT.into()];
                        argv.extend(post);
                        if let Err(Stop(m)) =
                            self.must(&argv, &format!("{} post_renewal_command", e.common_name))
                        {
                            self.r.emit(
                                Event::new(EventKind::Note, None)
                                    .step(step.clone())
                                    .message(format!("{m}; the new certificate is in place")),
                            );
                        }
                    }
                    self.r.emit(
                        Event::new(EventKind::Changed, None)
                            .step(step)
                            .action(action)
                            .message(reason.to_string()),
                    );
                }
                phoenix_ca::Action::Permissions { owner, .. } => {
                    self.changed += 1;
                    if self.dry() {
                        self.r.emit(
                            Event::new(EventKind::Planned, None)
                                .step(step)
                                .action(format!("chmod {} {}", e.permissions, e.cert_path)),
                        );
                        continue;
                    }
                    self.set_mode_owner(e, &files, owner.is_some())?;
                    self.r.emit(
                        Event::new(EventKind::Changed, None)
                            .step(step)
                            .action(format!("chmod {} {}", e.permissions, e.cert_path)),
                    );
                }
            }
        }
        Ok(())
    }

    fn set_mode_owner(
        &self,
        e: &phoenix_ca::Entry,
        files: &[String; 2],
        chown: bool,
    ) -> Result<(), Stop> {
        let mut chmod = vec!["chmod".to_string(), e.permissions.clone()];
        chmod.extend(files.iter().cloned());
        self.must(&chmod, &e.common_name)?;
        let known = e
            .owner_pair()
            .and_then(|(u, g)| phoenix_ca::plan::host_ids(&self.ctx.env.host_root, u, g))
            .is_some();
        if chown && known {
            let mut c = vec!["chown".to_string(), e.owner.clone()];
            c.extend(files.iter().cloned());
            self.must(&c, &e.common_name)?;
        }
        Ok(())
    }

    /// Runs `argv` on the node; a failure names `what` and quotes the command's output.
    fn must(&self, argv: &[String], what: &str) -> Result<(), Stop> {
        let out = self
            .host()
            .exec(argv)
            .map_err(|e| Stop(format!("{what}: {e}")))?;
        if out.code != 0 {
            let shown = match argv {
                [t, _, rest @ ..] if t == "timeout" => rest,
                all => all,
            };
            return Err(Stop(format!(
                "{what}: `{}` failed (exit {}): {}",
                shown.join(" "),
                out.code,
                format!("{}{}", out.stdout, out.stderr).trim()
            )));
        }
        Ok(())
    }
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
