//! `sync certs`: the certificate manifest's renewal plan carried out on the host.

use std::path::{Path, PathBuf};

use phoenix_report::{Event, EventKind};

use super::{layer, Stop, Sync, POST_RENEWAL_TIMEOUT};

impl Sync<'_> {
    /// The certificate manifest beside the config, when there is one.
    pub(super) fn manifest(&self) -> Result<Option<phoenix_ca::Manifest>, Stop> {
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
    pub(super) fn on_host(&self, p: &Path) -> PathBuf {
        self.ctx.env.host_path(p)
    }

    /// `certs`: the renewal plan, carried out.
    pub(super) fn certs(&mut self, manifest: Option<&phoenix_ca::Manifest>) -> Result<(), Stop> {
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
        if !m.entries.is_empty() {
            self.renewal_schedule()?;
        }
        Ok(())
    }

    pub(super) fn set_mode_owner(
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
}

fn time_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
