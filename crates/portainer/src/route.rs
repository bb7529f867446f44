//! Where a connection goes: the URL's host (DNS), or an address given apart for that host, and
//! under the simulator the loopback port the simulated network maps that address to.
//!
//! The simulated network is a JSON file, `$PVE_SIM_ROOT/net/addresses.json`, written by the
//! simulator when a simulated service starts listening: `{"10.0.0.111:9443": {"to":
//! "127.0.0.1:40123", ...}}`. Under the simulator a connection to an address missing from the
//! map fails as a refused connection would, and nothing but loopback is ever connected to.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// The map file inside a simulator state folder.
pub const SIM_MAP: &str = "net/addresses.json";

/// Resolves hosts for the client's agent.
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// Host name → the address to connect to instead of resolving it.
    pub overrides: BTreeMap<String, SocketAddr>,
    /// Simulator state folder, when running under `--sim`.
    pub sim_root: Option<PathBuf>,
}

impl Route {
    /// The socket address a connection to `host:port` uses.
    pub fn target(&self, host: &str, port: u16) -> Result<SocketAddr, String> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addr = if let Some(a) = self.overrides.get(host) {
            *a
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            SocketAddr::new(ip, port)
        } else if let Some(root) = &self.sim_root {
            return sim_lookup(root, &format!("{host}:{port}"));
        } else {
            return (host, port)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .next()
                .ok_or_else(|| format!("cannot resolve {host}: no address"));
        };
        match &self.sim_root {
            Some(root) if !addr.ip().is_loopback() => sim_lookup(root, &addr.to_string()),
            _ => Ok(addr),
        }
    }
}

/// Looks `key` (`ip:port` or `name:port`) up in the simulated network.
pub fn sim_lookup(root: &Path, key: &str) -> Result<SocketAddr, String> {
    let path = root.join(SIM_MAP);
    let refused = || {
        format!(
            "connection refused: nothing listens on {key} in the simulated network ({})",
            path.display()
        )
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(refused()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let map: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let to = map
        .get(key)
        .and_then(|e| e.get("to"))
        .and_then(|t| t.as_str())
        .ok_or_else(refused)?;
    let addr: SocketAddr = to
        .parse()
        .map_err(|_| format!("{}: {key}: bad address '{to}'", path.display()))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{}: {key} maps to {addr}, which is not loopback; the simulator never leaves loopback",
            path.display()
        ));
    }
    Ok(addr)
}

impl Resolver for Route {
    fn resolve(
        &self,
        uri: &Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri.host().ok_or(ureq::Error::HostNotFound)?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("http") => 80,
            _ => 443,
        });
        let addr = self.target(host, port).map_err(|why| {
            log::warn!("{why}");
            ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                why,
            ))
        })?;
        let mut out = self.empty();
        out.push(addr);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_literals() {
        let mut r = Route::default();
        r.overrides
            .insert("p.example".into(), "127.0.0.1:9".parse().unwrap());
        assert_eq!(
            r.target("p.example", 443).unwrap().to_string(),
            "127.0.0.1:9"
        );
        assert_eq!(r.target("127.0.0.2", 8).unwrap().to_string(), "127.0.0.2:8");
    }

    #[test]
    fn simulator_maps_or_refuses_and_never_leaves_loopback() {
        let d = tempfile::tempdir().unwrap();
        let mut r = Route {
            sim_root: Some(d.path().to_path_buf()),
            ..Route::default()
        };
        r.overrides
            .insert("portainer.x".into(), "10.0.0.111:9443".parse().unwrap());
        let e = r.target("portainer.x", 9443).unwrap_err();
        assert!(
            e.contains("connection refused") && e.contains("10.0.0.111:9443"),
            "{e}"
        );
        std::fs::create_dir_all(d.path().join("net")).unwrap();
        std::fs::write(
            d.path().join(SIM_MAP),
            r#"{"10.0.0.111:9443": {"to": "127.0.0.1:4000"}, "10.0.0.1:1": {"to": "10.0.0.2:1"}}"#,
        )
        .unwrap();
        assert_eq!(
            r.target("portainer.x", 9443).unwrap().to_string(),
            "127.0.0.1:4000"
        );
        assert!(r
            .target("10.0.0.1", 1)
            .unwrap_err()
            .contains("not loopback"));
        assert!(r
            .target("unknown.name", 443)
            .unwrap_err()
            .contains("unknown.name:443"));
        // Loopback itself needs no map.
        assert_eq!(r.target("127.0.0.1", 5).unwrap().to_string(), "127.0.0.1:5");
    }
}
