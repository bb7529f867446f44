//! AppArmor, the Proxmox firewall and the NVIDIA driver: `apparmor_parser`, `pve-firewall`,
//! `nvidia-smi`, and `nvidia-installer` (what the simulated driver runfile runs).

use super::state::Host;
use super::{Args, Out};

/// The profile names a profile file declares (`profile NAME ...{`), with a brace check.
fn profile_names(text: &str) -> Result<Vec<String>, String> {
    let mut depth = 0i32;
    let mut names = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if depth == 0 {
            if let Some(rest) = line.strip_prefix("profile ") {
                if let Some(n) = rest.split_whitespace().next() {
                    names.push(n.to_string());
                }
            }
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if depth < 0 {
            return Err(format!("syntax error, unexpected '}}' at line {}", i + 1));
        }
    }
    if depth != 0 {
        return Err("syntax error, unexpected end of file (unbalanced '{')".into());
    }
    if names.is_empty() {
        return Err("no profile declared ('profile <name> {')".into());
    }
    Ok(names)
}

/// `apparmor_parser -r|-a|-R [-W] [-Q|-K] FILE...`; loaded profiles are mirrored in
/// `<host root>/sys/kernel/security/apparmor/profiles`.
pub fn apparmor_parser(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["I", "base", "o", "ofile"]);
    if args.pos.is_empty() {
        return Out::err(
            1,
            "apparmor_parser: no profile file given (pve-sim reads files only)",
        );
    }
    let remove = args.has(&["R", "remove"]);
    let load = !args.has(&["Q", "skip-kernel-load"])
        && (remove || args.has(&["r", "replace", "a", "add"]));
    for f in &args.pos {
        let path = h.host_path(f);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(_) => return Out::err(1, format!("File {f} not found, skipping...")),
        };
        let names = match profile_names(&text) {
            Ok(n) => n,
            Err(e) => {
                return Out::err(
                    1,
                    format!("AppArmor parser error for {f} in profile {f}: {e}"),
                )
            }
        };
        if load {
            for n in names {
                if remove {
                    h.state.apparmor_loaded.remove(&n);
                } else {
                    h.state.apparmor_loaded.insert(n);
                }
            }
        }
    }
    if load {
        let list: String = h
            .state
            .apparmor_loaded
            .iter()
            .map(|n| format!("{n} (enforce)\n"))
            .collect();
        let p = h.host_path("/sys/kernel/security/apparmor/profiles");
        if let Some(d) = p.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        let _ = crate::state::atomic_write(&p, list.as_bytes());
    }
    Out {
        mutating: load,
        ..Out::default()
    }
}

/// Problems of the firewall files (`cluster.fw`, then each guest's `<id>.fw` in ID order),
/// as `pve-firewall compile` reports them: the first one.
fn check_fw_files(dir: &std::path::Path) -> Result<(), String> {
    let cluster = std::fs::read_to_string(dir.join("cluster.fw")).unwrap_or_default();
    super::fwfile::check_file("cluster.fw", &cluster, true)?;
    let mut guests: Vec<(u64, std::path::PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = name.strip_suffix(".fw")?.parse::<u64>().ok()?;
            Some((id, e.path()))
        })
        .collect();
    guests.sort();
    for (id, p) in guests {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        super::fwfile::check_file(&format!("{id}.fw"), &text, false)?;
    }
    Ok(())
}

/// `pve-firewall compile|status|start|stop|restart`.
pub fn pve_firewall(h: &mut Host, a: &[String]) -> Out {
    let fw = h.root.join("etc/pve/firewall/cluster.fw");
    let text = std::fs::read_to_string(&fw).unwrap_or_default();
    let enabled = text
        .lines()
        .any(|l| l.trim().replace(' ', "") == "enable:1");
    match a.first().map(String::as_str) {
        Some("compile") => match check_fw_files(&h.root.join("etc/pve/firewall")) {
            Ok(()) => Out::ok(if enabled {
                "ruleset compiled (simulated)\n"
            } else {
                ""
            }),
            Err(e) => Out::err(255, e),
        },
        Some("status") => {
            let running = h
                .state
                .services
                .get("pve-firewall")
                .is_some_and(|s| s.active);
            Out::ok(format!(
                "Status: {}/{}\n",
                if enabled { "enabled" } else { "disabled" },
                if running { "running" } else { "stopped" }
            ))
        }
        Some(cmd @ ("start" | "stop" | "restart")) => {
            let svc = h.state.services.entry("pve-firewall".into()).or_default();
            svc.active = cmd != "stop";
            Out::changed("")
        }
        _ => Out::err(
            255,
            "pve-sim: pve-firewall <compile|status|start|stop|restart>",
        ),
    }
}

const NO_DRIVER: &str = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.";

/// `nvidia-smi [--query-gpu=FIELDS --format=csv[,noheader]] [-L] [-pm 0|1]`.
pub fn nvidia_smi(h: &mut Host, a: &[String]) -> Out {
    // nvidia-smi's `-pm` is one short option of two letters, not `-p -m`.
    let a: Vec<String> = a
        .iter()
        .map(|w| match w.as_str() {
            "-pm" => "--persistence-mode".to_string(),
            _ => w.clone(),
        })
        .collect();
    let args = Args::parse(&a, &["query-gpu", "format", "persistence-mode", "i", "id"]);
    let Some(driver) = h.state.nvidia.driver.clone() else {
        return Out::err(9, NO_DRIVER);
    };
    if let Some(v) = args.val(&["persistence-mode"]) {
        h.state.nvidia.persistence = v == "1" || v.eq_ignore_ascii_case("enabled");
        let word = if h.state.nvidia.persistence {
            "Enabled"
        } else {
            "Disabled"
        };
        return Out::changed(format!(
            "{word} persistence mode for GPU 00000000:01:00.0.\n"
        ));
    }
    let gpus = h.state.nvidia.gpus.clone();
    if args.has(&["L", "list-gpus"]) {
        return Out::ok(
            gpus.iter()
                .enumerate()
                .map(|(i, g)| format!("GPU {i}: {g} (UUID: GPU-pve-sim-{i})\n"))
                .collect::<String>(),
        );
    }
    if let Some(fields) = args.val(&["query-gpu"]) {
        let fields: Vec<&str> = fields.split(',').map(str::trim).collect();
        let mut s = String::new();
        if !args.val(&["format"]).unwrap_or("").contains("noheader") {
            s.push_str(&fields.join(", "));
            s.push('\n');
        }
        for (i, g) in gpus.iter().enumerate() {
            let row: Vec<String> = fields
                .iter()
                .map(|f| match *f {
                    "driver_version" => driver.clone(),
                    "name" => g.clone(),
                    "index" => i.to_string(),
                    "persistence_mode" => if h.state.nvidia.persistence {
                        "Enabled"
                    } else {
                        "Disabled"
                    }
                    .to_string(),
                    "memory.total" => "24576 MiB".into(),
                    _ => "[N/A]".into(),
                })
                .collect();
            s.push_str(&row.join(", "));
            s.push('\n');
        }
        return Out::ok(s);
    }
    Out::ok(format!(
        "NVIDIA-SMI {driver} (pve-sim)    Driver Version: {driver}\n{} GPU(s): {}\n",
        gpus.len(),
        gpus.join(", ")
    ))
}

/// `nvidia-installer --pve-sim-version VERSION [--silent] [--dkms] ...`: installs the simulated
/// driver. Like the real installer it needs the kernel headers and dkms for `--dkms`.
pub fn nvidia_installer(h: &mut Host, a: &[String]) -> Out {
    let args = Args::parse(a, &["pve-sim-version", "ui", "kernel-source-path"]);
    let Some(version) = args.val(&["pve-sim-version"]) else {
        return Out::err(1, "ERROR: pve-sim's nvidia-installer runs only from a simulated driver runfile (--pve-sim-version missing)");
    };
    let headers = ["proxmox-default-headers", "pve-headers"]
        .iter()
        .any(|p| h.state.packages.contains(*p));
    if !headers {
        return Out::err(1, "ERROR: Unable to find the kernel source tree for the currently running kernel. Please make sure you have installed the kernel source files for your kernel (proxmox-default-headers).");
    }
    if args.has(&["dkms"]) && !h.state.packages.contains("dkms") {
        return Out::err(
            1,
            "ERROR: Failed to run `dkms status`: dkms is not installed.",
        );
    }
    h.state.nvidia.driver = Some(version.to_string());
    h.state.modules.insert("nvidia".into());
    super::system::write_proc_modules(h);
    Out::changed(format!("Installation of the NVIDIA Accelerated Graphics Driver for Linux-x86_64 (version: {version}) is now complete (simulated).\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_and_braces() {
        assert_eq!(
            profile_names("profile a flags=(x) {\n  mount,\n}\n").unwrap_or_default(),
            vec!["a"]
        );
        assert!(profile_names("profile a {\n").is_err());
        assert!(profile_names("# nothing\n").is_err());
    }

    #[test]
    fn compile_checks_every_firewall_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let w = |n: &str, t: &str| std::fs::write(dir.path().join(n), t).expect("write");
        w("cluster.fw", "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n");
        assert!(check_fw_files(dir.path()).is_ok());
        w(
            "1001.fw",
            "[OPTIONS]\nenable: 1\n\n[RULES]\nIN ACCEPT -dport 80\n",
        );
        let e = check_fw_files(dir.path()).unwrap_err();
        assert!(e.starts_with("1001.fw (line 5)"), "{e}");
        w(
            "cluster.fw",
            "[OPTIONS]\nbogus: 1\n[RULES]\nIN ACCEPT -p tcp\n",
        );
        assert!(check_fw_files(dir.path()).is_err());
    }
}
