//! `sync dns`: the dnsmasq package and file on the host, then `resolv.conf`.

use phoenix_gateway::apply::{apply, Applied, ConfigFile};
use phoenix_gateway::{dns, resolv};
use phoenix_report::{Event, EventKind};

use super::{Stop, Sync};

impl Sync<'_> {
    /// `dns`: the dnsmasq file, then `resolv.conf`.
    pub(super) fn dns(&mut self) -> Result<(), Stop> {
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
    pub(super) fn dnsmasq_installed(&mut self) -> Result<(), Stop> {
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
}
