//! `pve-sim portainer <guest-addr> (--steppath DIR --name NAME | --cert FILE --key FILE |
//! --self-signed) [--guest VMID]`: the Portainer server of a simulated VM, in the foreground
//! until SIGTERM/SIGINT. Its certificate is issued for `NAME` (and the guest address) by the
//! simulated CA initialised in `DIR` (`step ca init`), or read from files (what the container's
//! `--sslcert`/`--sslkey` name; the guest's Docker starts it so), or made up and self-signed
//! (Portainer's own when it is given none),
//! it listens on a loopback port and is entered in the simulated network at `<guest-addr>`
//! (`10.0.0.111:9443`), so clients under `--sim` reach it where the real Portainer would be.
//! State, recorded requests and faults are in `$PVE_SIM_ROOT/services/portainer/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use pve_sim_services::ca::Ca;
use pve_sim_services::{net, portainer, tls};

use crate::{fail, R};

/// Where the Portainer stand-in keeps its state.
pub fn portainer_dir(root: &Path) -> PathBuf {
    root.join("services/portainer")
}

pub fn portainer(root: &Path, args: &[&str]) -> R<()> {
    let mut addr = None;
    let mut steppath = None;
    let mut name = None;
    let mut guest = None;
    let mut files: (Option<PathBuf>, Option<PathBuf>) = (None, None);
    let mut self_signed = false;
    let mut admin_timeout = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .map(|v| v.to_string())
                .ok_or_else(|| fail(format!("{a} needs a value")))
        };
        match *a {
            "--steppath" => steppath = Some(PathBuf::from(val()?)),
            "--name" => name = Some(val()?),
            "--cert" => files.0 = Some(PathBuf::from(val()?)),
            "--key" => files.1 = Some(PathBuf::from(val()?)),
            "--self-signed" => self_signed = true,
            "--admin-timeout-ms" => {
                admin_timeout = Some(std::time::Duration::from_millis(
                    val()?
                        .parse::<u64>()
                        .map_err(|_| fail("--admin-timeout-ms needs milliseconds"))?,
                ))
            }
            "--guest" => {
                guest = Some(
                    val()?
                        .parse::<u32>()
                        .map_err(|_| fail("--guest needs a VM ID"))?,
                )
            }
            other if addr.is_none() && !other.starts_with('-') => addr = Some(other.to_string()),
            other => return Err(fail(format!("portainer: unexpected argument '{other}'"))),
        }
    }
    let addr = addr.ok_or_else(|| fail("portainer needs the guest address (10.0.0.111:9443)"))?;
    let ip = addr
        .rsplit_once(':')
        .map(|(h, _)| h.to_string())
        .unwrap_or_default();
    let (chain, key) = match (files, steppath, self_signed) {
        ((Some(c), Some(k)), _, _) => {
            let read = |p: &Path| {
                std::fs::read_to_string(p).map_err(|e| fail(format!("{}: {e}", p.display())))
            };
            (read(&c)?, read(&k)?)
        }
        (_, Some(steppath), _) => {
            let name =
                name.ok_or_else(|| fail("portainer needs --name (the certificate's name)"))?;
            let ca = Ca::load(&steppath).map_err(fail)?;
            let issued = ca
                .issue(&name, &[ip], time::Duration::hours(24))
                .map_err(fail)?;
            (issued.chain_pem, issued.key_pem)
        }
        (_, None, true) => {
            // What Portainer does without --sslcert: a certificate of its own, trusted by nobody.
            let names = vec![ip, "localhost".to_string()];
            let c = rcgen::generate_simple_self_signed(names).map_err(|e| fail(e.to_string()))?;
            (c.cert.pem(), c.key_pair.serialize_pem())
        }
        _ => return Err(fail(
            "portainer needs --steppath DIR --name NAME, --cert FILE --key FILE, or --self-signed",
        )),
    };
    let tls = tls::server_config(&chain, &key).map_err(fail)?;
    let server = portainer::Server::start(
        portainer::Config {
            dir: portainer_dir(root),
            sim_root: Some(root.to_path_buf()),
        },
        "127.0.0.1:0".parse().map_err(|_| fail("loopback"))?,
        tls,
    )
    .map_err(fail)?;
    net::register(root, &addr, server.addr, "portainer", guest).map_err(fail)?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| fail(e.to_string()))?;
    }
    println!("portainer stand-in for {addr} listening on {}", server.addr);
    let deadline = admin_timeout.map(|t| std::time::Instant::now() + t);
    let mut server = Some(server);
    let mut checked = deadline.is_none();
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if checked || deadline.is_some_and(|d| std::time::Instant::now() < d) {
            continue;
        }
        checked = true;
        let admin = portainer::State::load(&portainer_dir(root))
            .map(|s| s.admin.is_some())
            .unwrap_or(false);
        if !admin {
            // Portainer's security time-out: the server stops listening, the process (the
            // container) stays up until it is restarted.
            drop(server.take());
            net::unregister(root, &addr).map_err(fail)?;
            eprintln!("the Portainer instance timed out for security purposes, to re-enable your Portainer instance, you will need to restart Portainer");
        }
    }
    drop(server);
    net::unregister(root, &addr).map_err(fail)?;
    Ok(())
}
