//! cloud-init in a simulated VM: at start, the user-data and network-config Proxmox would put
//! on the VM's NoCloud drive (the `cicustom` snippets, else a minimal one) get an instance-id
//! from their text (Proxmox: SHA-1 of user-data + network-config; here a 64-bit hash: only
//! equality matters). A new instance-id is a first boot: `write_files`, `hostname`, `users`,
//! `packages` (after `apt-get update` when `package_update` is true) and `runcmd` are applied
//! to the guest, for real, in its sandbox; later boots of the same instance apply nothing, as
//! cloud-init's per-instance modules do. The YAML is read with the host's Python and PyYAML
//! (the parser cloud-init itself uses). `cloud-init status` reports the result.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::tree::Tree;
use super::{Ctx, GuestFs};
use crate::host::Out;
use crate::sandbox::{Io, Sandbox};
use crate::state::Node;
use crate::R;
use pve::{Conf, PropString};

const DATA: &str = "/var/lib/cloud/data";

fn hash(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The snippets of `cicustom` (`user=local:snippets/x.yml,network=...`).
fn snippets(node: &Node, conf: &Conf) -> (Option<String>, Option<String>) {
    let Some(ps) = conf.get("cicustom").and_then(|c| PropString::parse(c).ok()) else {
        return (None, None);
    };
    let read = |k: &str| {
        ps.get(k)
            .and_then(|v| node.volume_file(v).ok())
            .and_then(|p| std::fs::read_to_string(p).ok())
    };
    (read("user"), read("network"))
}

/// YAML to JSON with the host's PyYAML.
fn parse_yaml(text: &str) -> Result<Value, String> {
    // Debian's interpreter, which has cloud-init's PyYAML (not whatever `python3` PATH finds).
    let python = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut child = Command::new(python)
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin.read()), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run python3 to read the user-data: {e}"))?;
    if let Some(mut s) = child.stdin.take() {
        let _ = s.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "user-data is not valid YAML (or python3-yaml is missing): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// `'x'` quoting for the generated shell script.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(scalar).collect(),
        Value::String(s) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The shell script cloud-init's modules amount to for this user-data.
fn script(cfg: &Value, fs: &GuestFs) -> Result<String, String> {
    let mut s = String::from("#!/bin/sh\n# pve-sim: cloud-init modules of this instance\nrc=0\n");
    if let Some(files) = cfg.get("write_files").and_then(Value::as_array) {
        for f in files {
            let path = f
                .get("path")
                .and_then(Value::as_str)
                .ok_or("write_files entry without path")?;
            let content = f.get("content").map(scalar).unwrap_or_default();
            let mode = f
                .get("permissions")
                .map(scalar)
                .unwrap_or_else(|| "0644".into());
            let append = f.get("append").and_then(Value::as_bool).unwrap_or(false);
            fs.write(
                &format!("/var/lib/cloud/instance/files{path}"),
                content.as_bytes(),
            )
            .map_err(|e| e.msg)?;
            s.push_str(&format!(
                "mkdir -p \"$(dirname {p})\" && cat /var/lib/cloud/instance/files{p} {op} {p} && chmod {m} {p} || rc=1\n",
                p = sh_quote(path),
                op = if append { ">>" } else { ">" },
                m = sh_quote(mode.trim_matches('\''))
            ));
        }
    }
    if let Some(h) = cfg.get("hostname").and_then(Value::as_str) {
        s.push_str(&format!("printf '%s\\n' {} > /etc/hostname\n", sh_quote(h)));
        if cfg.get("manage_etc_hosts").and_then(Value::as_bool) == Some(true) {
            s.push_str(&format!(
                "printf '127.0.1.1 %s\\n127.0.0.1 localhost\\n' {} > /etc/hosts\n",
                sh_quote(h)
            ));
        }
    }
    if let Some(users) = cfg.get("users").and_then(Value::as_array) {
        for u in users {
            let Some(name) = u.get("name").and_then(Value::as_str) else {
                continue;
            };
            let shell = u.get("shell").and_then(Value::as_str).unwrap_or("/bin/sh");
            let groups = u.get("groups").map(strings).unwrap_or_default().join(",");
            s.push_str(&format!(
                "id {n} >/dev/null 2>&1 || useradd -m -s {sh} {g} {n} || rc=1\n",
                n = sh_quote(name),
                sh = sh_quote(shell),
                g = if groups.is_empty() {
                    String::new()
                } else {
                    format!("-G {}", sh_quote(&groups))
                }
            ));
            if let Some(sudo) = u.get("sudo").map(scalar).filter(|x| x != "false") {
                s.push_str(&format!(
                    "printf '%s %s\\n' {} {} > /etc/sudoers.d/90-cloud-init-users\n",
                    sh_quote(name),
                    sh_quote(&sudo)
                ));
            }
            if let Some(keys) = u
                .get("ssh_authorized_keys")
                .map(strings)
                .filter(|k| !k.is_empty())
            {
                let home = if name == "root" {
                    "/root".to_string()
                } else {
                    format!("/home/{name}")
                };
                s.push_str(&format!(
                    "mkdir -p {h}/.ssh && printf '%s\\n' {k} > {h}/.ssh/authorized_keys\n",
                    h = sh_quote(&home),
                    k = keys
                        .iter()
                        .map(|k| sh_quote(k))
                        .collect::<Vec<_>>()
                        .join(" ")
                ));
            }
        }
    }
    let packages = cfg.get("packages").map(strings).unwrap_or_default();
    let update = cfg
        .get("package_update")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || !packages.is_empty();
    if update {
        s.push_str("DEBIAN_FRONTEND=noninteractive apt-get update || rc=1\n");
    }
    if !packages.is_empty() {
        s.push_str(&format!(
            "DEBIAN_FRONTEND=noninteractive apt-get --option=Dpkg::Options::=--force-confold --option=Dpkg::options::=--force-unsafe-io --assume-yes --quiet install {} || rc=1\n",
            packages.iter().map(|p| sh_quote(p)).collect::<Vec<_>>().join(" ")
        ));
    }
    if let Some(cmds) = cfg.get("runcmd").and_then(Value::as_array) {
        for c in cmds {
            match c {
                Value::Array(argv) => s.push_str(
                    &argv
                        .iter()
                        .map(|a| sh_quote(&scalar(a)))
                        .collect::<Vec<_>>()
                        .join(" "),
                ),
                other => s.push_str(&scalar(other)),
            }
            s.push_str(" || rc=1\n");
        }
    }
    s.push_str("exit $rc\n");
    Ok(s)
}

/// Applies the instance's user-data when its instance-id is new.
pub fn first_boot(node: &Node, id: u32, conf: &Conf) -> R<()> {
    let fs = Tree::of(node, id).fs();
    let (user, network) = snippets(node, conf);
    let user = user.unwrap_or_else(|| {
        format!(
            "#cloud-config\nhostname: {}\n",
            conf.get("name").unwrap_or("localhost")
        )
    });
    let network = network.unwrap_or_default();
    let iid = hash(&format!("{user}{network}"));
    if fs
        .read(&format!("{DATA}/instance-id"))
        .map(|t| t.trim().to_string())
        == Some(iid.clone())
    {
        return Ok(());
    }
    let result = match parse_yaml(&user).and_then(|cfg| script(&cfg, &fs)) {
        Ok(sh) => {
            fs.write(
                "/var/lib/cloud/instance/scripts/pve-sim-modules.sh",
                sh.as_bytes(),
            )?;
            let sb = Sandbox {
                node,
                id,
                tool: "qm",
                binds: Vec::new(),
            };
            let argv: Vec<String> = [
                "/bin/sh",
                "/var/lib/cloud/instance/scripts/pve-sim-modules.sh",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            let out = sb.run(&argv, &[], Io::Capture(None))?;
            let mut log = String::from_utf8_lossy(&out.stdout).into_owned();
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            fs.write("/var/log/cloud-init-output.log", log.as_bytes())?;
            if out.code == 0 {
                Vec::new()
            } else {
                vec![format!(
                    "modules failed (exit {}), see /var/log/cloud-init-output.log",
                    out.code
                )]
            }
        }
        Err(e) => vec![e],
    };
    fs.write(
        &format!("{DATA}/instance-id"),
        format!("{iid}\n").as_bytes(),
    )?;
    fs.write(
        &format!("{DATA}/result.json"),
        serde_json::json!({"v1": {"errors": result}})
            .to_string()
            .as_bytes(),
    )?;
    fs.write("/var/lib/cloud/instance/boot-finished", b"pve-sim\n")
}

/// `cloud-init clean [--logs] [--machine-id] [--seed]`: forget the instance, so the next boot
/// is a first boot (what Phoenix does before turning a VM into a template).
fn clean(fs: &GuestFs, a: &[String]) -> Out {
    let seed = a.iter().any(|x| x == "--seed" || x == "-s");
    for e in fs.list("/var/lib/cloud") {
        if e != "seed" || seed {
            fs.remove(&format!("/var/lib/cloud/{e}"));
        }
    }
    if a.iter().any(|x| x == "--logs" || x == "-l") {
        fs.remove("/var/log/cloud-init.log");
        fs.remove("/var/log/cloud-init-output.log");
    }
    if a.iter().any(|x| x == "--machine-id") {
        let _ = fs.write("/etc/machine-id", b"uninitialized\n");
    }
    Out::changed("")
}

/// `cloud-init status [--wait] [--long]`, `cloud-init clean`.
pub fn command(ctx: &mut Ctx, a: &[String]) -> Out {
    match a.first().map(String::as_str) {
        Some("status") => {}
        Some("clean") => return clean(&ctx.fs, &a[1..]),
        Some("--version") | Some("version") => {
            return Out::ok("/usr/bin/cloud-init 25.1.4-0ubuntu0~24.04.1\n")
        }
        _ => {
            return Out::err(
                1,
                "pve-sim: only 'cloud-init status' and 'cloud-init clean' are simulated",
            )
        }
    }
    let fs = &ctx.fs;
    if !fs.exists("/var/lib/cloud/instance/boot-finished") {
        return Out {
            code: 0,
            stdout: "status: running\n".into(),
            ..Out::default()
        };
    }
    let errors: Vec<String> = fs
        .read(&format!("{DATA}/result.json"))
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["v1"]["errors"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .map(scalar)
        .collect();
    if errors.is_empty() {
        Out::ok("status: done\n")
    } else {
        Out {
            code: 1,
            stdout: format!("status: error\n{}\n", errors.join("\n")),
            ..Out::default()
        }
    }
}
