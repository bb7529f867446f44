//! A private OpenSSH server on loopback for the tests of node-local work over SSH: its own
//! config, host key and authorized key in a temp folder, a free port, stopped on drop.
//! `.ci/run` installs openssh-server; without it [`start_sshd`] fails in CI and returns `None`
//! elsewhere (the caller skips).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use phoenix_host::ssh::SshTarget;

const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    pub dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn keygen(path: &Path) {
    let ok = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen")
        .success();
    assert!(ok, "ssh-keygen failed");
}

pub fn start_sshd() -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{SSHD} missing: .ci/run installs openssh-server"
        );
        eprintln!("{SSHD} not installed; skipping (CI installs it)");
        return None;
    }
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::getuid() } == 0 && !Path::new("/run/sshd").is_dir() {
        panic!("sshd needs its privilege separation folder /run/sshd (.ci/run creates it)");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    keygen(&d.join("host_key"));
    keygen(&d.join("user_key"));
    std::fs::copy(d.join("user_key.pub"), d.join("authorized_keys")).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
         AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\n\
         StrictModes no\nUsePAM no\nLogLevel INFO\n",
        d = d.display()
    );
    std::fs::write(d.join("sshd_config"), config).unwrap();
    let child = Command::new(SSHD)
        .arg("-D")
        .arg("-E")
        .arg(d.join("sshd.log"))
        .arg("-f")
        .arg(d.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sshd");
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(10), "sshd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(Sshd { dir, child, port })
}

pub fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Sshd {
    pub fn target(&self, known_hosts: PathBuf) -> SshTarget {
        let mut t = SshTarget::new("127.0.0.1", known_hosts);
        t.port = self.port;
        t.user = user();
        t.identity = Some(self.dir.path().join("user_key"));
        t
    }

    /// Connections the server accepted so far (its log's `Accepted publickey` lines).
    pub fn accepted(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("sshd.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("Accepted publickey"))
            .count()
    }

    /// A known_hosts file with the server's real host key.
    pub fn known_hosts(&self) -> PathBuf {
        let key = std::fs::read_to_string(self.dir.path().join("host_key.pub")).unwrap();
        let mut parts = key.split_whitespace();
        let (kind, data) = (parts.next().unwrap(), parts.next().unwrap());
        let p = self.dir.path().join("known_hosts");
        std::fs::write(&p, format!("[127.0.0.1]:{} {kind} {data}\n", self.port)).unwrap();
        p
    }
}
