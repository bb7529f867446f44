//! The renewal schedule: a systemd timer on the host that runs `phoenix sync certs` every hour.
//!
//! Why a timer and why hourly: the internal CA issues certificates for 24 hours and the plan
//! re-issues one that expires within 12 (`phoenix-ca`), so an hourly check renews each one
//! about 12 hours before it expires, with room for a CA that is down for a while. The timer is
//! `Persistent`, so a host that was off catches up at boot. It is put in place by `sync certs`
//! itself (the part that knows the manifest), written only when it differs, and enabled once.

use std::path::{Path, PathBuf};

use phoenix_gateway::apply::{apply, ConfigFile};
use phoenix_report::{Event, EventKind};

use super::{Stop, Sync};

pub const SERVICE: &str = "phoenix-cert-renewal.service";
pub const TIMER: &str = "phoenix-cert-renewal.timer";
const UNIT_DIR: &str = "/etc/systemd/system";

/// The unit that runs the renewal: the installed dispatcher with this run's config.
pub fn service_unit(phoenix: &Path, config: &Path) -> String {
    format!(
        "[Unit]\nDescription=Phoenix: renew the internal CA's certificates (certificate-manifest.json)\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=oneshot\nExecStart={} sync certs --config {}\n",
        phoenix.display(),
        config.display()
    )
}

pub fn timer_unit() -> String {
    format!(
        "[Unit]\nDescription=Phoenix: check the internal certificates every hour\n\n[Timer]\nOnCalendar=hourly\nRandomizedDelaySec=300\nPersistent=true\nUnit={SERVICE}\n\n[Install]\nWantedBy=timers.target\n"
    )
}

/// The dispatcher beside this manager (installed side by side, or in the same `target/` dir).
fn dispatcher() -> Result<PathBuf, Stop> {
    let exe = std::env::current_exe().map_err(|e| Stop(format!("this program's path: {e}")))?;
    Ok(exe.with_file_name("phoenix"))
}

/// A value that goes into a unit's `ExecStart`: no blanks, quotes, `%`, `$` or `\`
/// (systemd would split or expand them).
fn unit_safe(p: &Path) -> Result<String, Stop> {
    let s = p.display().to_string();
    if s.chars()
        .any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '%' | '$' | '\\'))
    {
        return Err(Stop(format!(
            "{s}: a path with blanks, quotes, '%', '$' or '\\' cannot go into the renewal timer's unit"
        )));
    }
    Ok(s)
}

impl Sync<'_> {
    /// The service and timer in place, the timer enabled and running.
    pub(super) fn renewal_schedule(&mut self) -> Result<(), Stop> {
        let phoenix = dispatcher()?;
        let config = std::path::absolute(&self.ctx.config.paths.hypervisor)
            .map_err(|e| Stop(format!("the config's path: {e}")))?;
        unit_safe(&phoenix)?;
        unit_safe(&config)?;
        let units = [
            (SERVICE, service_unit(&phoenix, &config)),
            (TIMER, timer_unit()),
        ];
        for (name, text) in &units {
            let path = format!("{UNIT_DIR}/{name}");
            let file = ConfigFile {
                path: &path,
                text,
                mode: 0o644,
                check: None,
                reload: Self::argv(&["systemctl", "daemon-reload"]),
            };
            let dry = self.dry();
            let a = apply(&mut self.host(), &file, dry)?;
            self.report(None, "certs schedule", &path, &a);
        }
        let on = |s: &Self, what: &str| {
            s.host()
                .exec(&[
                    "systemctl".into(),
                    what.into(),
                    "--quiet".into(),
                    TIMER.into(),
                ])
                .map(|o| o.code == 0)
                .unwrap_or(false)
        };
        if on(self, "is-enabled") && on(self, "is-active") {
            self.r
                .emit(Event::new(EventKind::Unchanged, None).step("certs schedule"));
            return Ok(());
        }
        self.changed += 1;
        let action = format!("systemctl enable --now {TIMER}");
        if self.dry() {
            self.r.emit(
                Event::new(EventKind::Planned, None)
                    .step("certs schedule")
                    .action(action),
            );
            return Ok(());
        }
        self.must(
            &Self::argv(&["systemctl", "enable", "--now", TIMER]).unwrap_or_default(),
            "the renewal timer",
        )?;
        self.r.emit(
            Event::new(EventKind::Changed, None)
                .step("certs schedule")
                .action(action),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_name_the_dispatcher_and_the_config() {
        let s = service_unit(
            Path::new("/usr/local/bin/phoenix"),
            Path::new("/etc/p/h.json"),
        );
        assert!(
            s.contains("\nExecStart=/usr/local/bin/phoenix sync certs --config /etc/p/h.json\n")
        );
        assert!(s.contains("Type=oneshot"));
        let t = timer_unit();
        assert!(t.contains("OnCalendar=hourly") && t.contains("Persistent=true"));
        assert!(t.contains(&format!("Unit={SERVICE}")));
        assert!(unit_safe(Path::new("/a b/phoenix")).is_err());
        assert!(unit_safe(Path::new("/a/$x")).is_err());
        assert!(unit_safe(Path::new("/usr/local/bin/phoenix")).is_ok());
    }
}
