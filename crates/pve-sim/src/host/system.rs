//! Packages, services and kernel: `dpkg-query`, `apt-get`, `systemctl`, `timedatectl`, `sysctl`,
//! `modprobe`, `update-initramfs`.

use super::state::Host;
use super::{Args, Out};

/// `dpkg-query -W [-f=FORMAT] PACKAGE...` (`--show`, `--showformat`).
pub fn dpkg_query(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["f", "showformat"]);
    if !args.has(&["W", "show"]) {
        return Out::err(2, "pve-sim: dpkg-query: only -W/--show is simulated");
    }
    let fmt = args
        .val(&["f", "showformat"])
        .unwrap_or("${Package}\t${Version}\n");
    let mut out = String::new();
    for pkg in &args.pos {
        let name = pkg.split(':').next().unwrap_or(pkg);
        if !h.state.packages.contains(name) {
            return Out {
                code: 1,
                stdout: out,
                stderr: format!("dpkg-query: no packages found matching {pkg}\n"),
                mutating: false,
            };
        }
        out.push_str(
            &fmt.replace("${Package}", name)
                .replace("${Version}", "1.0-pve-sim")
                .replace("${db:Status-Abbrev}", "ii ")
                .replace("${Status}", "install ok installed")
                .replace("\\n", "\n")
                .replace("\\t", "\t"),
        );
    }
    Out::ok(out)
}

fn valid_package(p: &str) -> bool {
    let name = p.split('=').next().unwrap_or("");
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// `apt-get [-y] [-q] [-o X=Y] update|upgrade|dist-upgrade|install|remove|purge [PKG...]`.
pub fn apt_get(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "c", "t"]);
    let Some((cmd, pkgs)) = args.pos.split_first() else {
        return Out::err(100, "E: No command given (pve-sim apt-get)");
    };
    match cmd.as_str() {
        "update" => {
            h.state.apt_updates += 1;
            Out::changed("Reading package lists... Done (simulated)\n")
        }
        "upgrade" | "dist-upgrade" | "full-upgrade" => {
            Out::changed("0 upgraded, 0 newly installed, 0 to remove (simulated)\n")
        }
        "install" | "remove" | "purge" => {
            if let Some(bad) = pkgs.iter().find(|p| !valid_package(p)) {
                return Out::err(100, format!("E: Unable to locate package {bad}"));
            }
            let mut text = String::new();
            for p in pkgs {
                let name = p.split('=').next().unwrap_or(p);
                if cmd == "install" {
                    h.state.install(name);
                    text.push_str(&format!("Setting up {name} (simulated) ...\n"));
                } else {
                    h.state.packages.remove(name);
                    text.push_str(&format!("Removing {name} (simulated) ...\n"));
                }
            }
            Out::changed(text)
        }
        other => Out::err(100, format!("E: Invalid operation {other} (pve-sim)")),
    }
}

fn unit_name(u: &str) -> String {
    u.strip_suffix(".service").unwrap_or(u).to_string()
}

/// A unit a package brought, the state knows, or whose file was written into the host's
/// `/etc/systemd/system` (`<name>.service`, or a `.timer` by its full name).
fn known(h: &Host, u: &str) -> bool {
    let file = if u.contains('.') {
        u.to_string()
    } else {
        format!("{u}.service")
    };
    h.state.unit_known(u)
        || h.host_root()
            .join("etc/systemd/system")
            .join(file)
            .is_file()
}

/// `systemctl is-enabled|is-active [--quiet] UNIT`, `enable|disable [--now] UNIT...`,
/// `start|stop|restart|reload UNIT...`, `daemon-reload`.
pub fn systemctl(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    let quiet = args.has(&["quiet", "q"]);
    let Some((cmd, units)) = args.pos.split_first() else {
        return Out::err(1, "pve-sim: systemctl needs a command");
    };
    let units: Vec<String> = units.iter().map(|u| unit_name(u)).collect();
    match cmd.as_str() {
        "is-enabled" | "is-active" => {
            let Some(u) = units.first() else {
                return Out::err(1, "Too few arguments.");
            };
            let st = h.state.services.get(u).copied().unwrap_or_default();
            let (yes, word_yes, word_no) = if cmd == "is-enabled" {
                (st.enabled, "enabled", "disabled")
            } else {
                (st.active, "active", "inactive")
            };
            let word = if !known(h, u) {
                "not-found"
            } else if yes {
                word_yes
            } else {
                word_no
            };
            let text = if quiet {
                String::new()
            } else {
                format!("{word}\n")
            };
            Out {
                code: if yes {
                    0
                } else {
                    if cmd == "is-enabled" {
                        1
                    } else {
                        3
                    }
                },
                stdout: text,
                ..Out::default()
            }
        }
        "daemon-reload" => Out::changed(""),
        "enable" | "disable" | "start" | "stop" | "restart" | "reload" | "try-restart" => {
            service_change(h, cmd, &units, args.has(&["now"]))
        }
        "status" => {
            let u = units.first().cloned().unwrap_or_default();
            let st = h.state.services.get(&u).copied().unwrap_or_default();
            Out {
                code: if st.active { 0 } else { 3 },
                stdout: format!(
                    "{u}.service (simulated): {}\n",
                    if st.active {
                        "active (running)"
                    } else {
                        "inactive (dead)"
                    }
                ),
                ..Out::default()
            }
        }
        other => Out::err(1, format!("pve-sim: 'systemctl {other}' is not simulated")),
    }
}

fn service_change(h: &mut Host, cmd: &str, units: &[String], now: bool) -> Out {
    if units.is_empty() {
        return Out::err(1, "Too few arguments.");
    }
    for u in units {
        if !known(h, u) {
            return Out::err(
                5,
                format!("Failed to {cmd} unit: Unit {u}.service does not exist."),
            );
        }
        let st = h.state.services.entry(u.clone()).or_default();
        match cmd {
            "enable" => {
                st.enabled = true;
                st.active |= now;
            }
            "disable" => {
                st.enabled = false;
                st.active &= !now;
            }
            "stop" => st.active = false,
            _ => st.active = true,
        }
    }
    Out::changed("")
}

/// `timedatectl show -p Timezone --value`, `timedatectl set-timezone ZONE`, `timedatectl [status]`.
pub fn timedatectl(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["p", "property"]);
    match args.pos.first().map(String::as_str) {
        Some("show") => {
            let tz = &h.state.timezone;
            match args.val(&["p", "property"]) {
                Some("Timezone") if args.has(&["value"]) => Out::ok(format!("{tz}\n")),
                Some("Timezone") => Out::ok(format!("Timezone={tz}\n")),
                Some(p) => Out::err(
                    1,
                    format!("pve-sim: timedatectl property {p} is not simulated"),
                ),
                None => Out::ok(format!("Timezone={tz}\nNTP=yes\nNTPSynchronized=yes\n")),
            }
        }
        Some("set-timezone") => {
            let Some(tz) = args.pos.get(1) else {
                return Out::err(1, "Too few arguments.");
            };
            if !tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b))
                || tz.is_empty()
            {
                return Out::err(
                    1,
                    format!("Failed to set time zone: Invalid or not installed time zone '{tz}'"),
                );
            }
            h.state.timezone = tz.clone();
            Out::changed("")
        }
        None | Some("status") => Out::ok(format!(
            "                Time zone: {} (simulated)\nSystem clock synchronized: yes\n",
            h.state.timezone
        )),
        Some(other) => Out::err(
            1,
            format!("pve-sim: 'timedatectl {other}' is not simulated"),
        ),
    }
}

fn sysctl_default(key: &str) -> &'static str {
    match key {
        "vm.swappiness" => "60",
        "fs.inotify.max_user_instances" => "128",
        "fs.inotify.max_user_watches" => "65536",
        "vm.max_map_count" => "65530",
        "kernel.keys.maxkeys" => "200",
        _ => "0",
    }
}

fn valid_sysctl_key(k: &str) -> bool {
    k.contains('.')
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b))
}

/// `sysctl -n KEY`, `sysctl KEY`, `sysctl -w KEY=VALUE`, `sysctl -p [FILE]`, `sysctl --system`.
pub fn sysctl(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    if args.has(&["p", "load"]) || args.has(&["system"]) {
        let file = args
            .pos
            .first()
            .map_or_else(|| "/etc/sysctl.conf".to_string(), String::clone);
        let path = h.host_path(&file);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Out::err(
                255,
                format!("sysctl: cannot open \"{file}\": No such file or directory"),
            );
        };
        let mut out = String::new();
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with(';'))
        {
            if let Some((k, v)) = line.split_once('=') {
                h.state
                    .sysctl
                    .insert(k.trim().to_string(), v.trim().to_string());
                out.push_str(&format!("{} = {}\n", k.trim(), v.trim()));
            }
        }
        return Out::changed(out);
    }
    let mut out = Out::default();
    for w in &args.pos {
        if let Some((k, v)) = w.split_once('=') {
            if !valid_sysctl_key(k) {
                return Out::err(
                    255,
                    format!(
                        "sysctl: cannot stat /proc/sys/{}: No such file or directory",
                        k.replace('.', "/")
                    ),
                );
            }
            h.state.sysctl.insert(k.to_string(), v.to_string());
            out.mutating = true;
            out.stdout.push_str(&format!("{k} = {v}\n"));
        } else {
            if !valid_sysctl_key(w) {
                return Out::err(
                    255,
                    format!(
                        "sysctl: cannot stat /proc/sys/{}: No such file or directory",
                        w.replace('.', "/")
                    ),
                );
            }
            let v = h
                .state
                .sysctl
                .get(w)
                .cloned()
                .unwrap_or_else(|| sysctl_default(w).to_string());
            out.stdout.push_str(&if args.has(&["n", "values"]) {
                format!("{v}\n")
            } else {
                format!("{w} = {v}\n")
            });
        }
    }
    out
}

/// `modprobe [-n] [-r] MODULE`: the loaded set is mirrored in `<host root>/proc/modules`.
pub fn modprobe(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    let Some(m) = args.pos.first() else {
        return Out::err(1, "modprobe: ERROR: missing parameters. See -h.");
    };
    let m = m.replace('-', "_");
    if args.has(&["n", "dry-run"]) {
        return Out::ok("");
    }
    if matches!(m.as_str(), "nvidia" | "nvidia_uvm" | "nvidia_drm")
        && h.state.nvidia.driver.is_none()
    {
        return Out::err(
            1,
            format!("modprobe: FATAL: Module {m} not found in directory /lib/modules/6.8.12-pve"),
        );
    }
    if args.has(&["r", "remove"]) {
        h.state.modules.remove(&m);
    } else {
        h.state.modules.insert(m);
    }
    write_proc_modules(h);
    Out::changed("")
}

/// Writes `<host root>/proc/modules` from the loaded set, as the kernel lists it.
pub fn write_proc_modules(h: &Host) {
    let text: String = h
        .state
        .modules
        .iter()
        .map(|m| format!("{m} 16384 0 - Live 0x0000000000000000\n"))
        .collect();
    let path = h.host_path("/proc/modules");
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    let _ = crate::state::atomic_write(&path, text.as_bytes());
}

/// `update-initramfs -u [-k all|VERSION]`.
pub fn update_initramfs(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["k"]);
    if !args.has(&["u", "c"]) {
        return Out::err(
            1,
            "Usage: update-initramfs {-c|-d|-u} [-k version] (pve-sim)",
        );
    }
    h.state.initramfs_updates += 1;
    Out::changed("update-initramfs: Generating /boot/initrd.img-6.8.12-pve (simulated)\n")
}
