//! `sync gateway`: the Nginx site in the gateway container, Traefik's files in its container.

use phoenix_gateway::apply::{apply, ConfigFile};
use phoenix_gateway::{dns, nginx, traefik};
use phoenix_report::{Event, EventKind};

use super::files::CtFiles;
use super::{ct, layer, Stop, Sync};

impl Sync<'_> {
    /// Checks a container answers `pct exec` before its files are touched.
    pub(super) fn reachable(&self, id: u64) -> Result<(), Stop> {
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
    pub(super) fn gateway(&mut self) -> Result<(), Stop> {
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
    pub(super) fn nginx_tls(&self, id: u64) -> Result<nginx::Tls, Stop> {
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
}
