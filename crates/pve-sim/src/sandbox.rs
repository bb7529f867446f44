//! Running a command inside a simulated guest, for real: a private mount namespace whose root is
//! the guest's own file tree (`guests/<id>/rootfs`), entered with `chroot`.
//!
//! Why this design (measured, see docs/simulator.md): a mount namespace set up by this process
//! right before `exec` needs no helper program (bubblewrap, proot) and costs well under a
//! millisecond on top of the process start. The guest's `/usr` is an overlay: the shared image
//! layer (`<state>/image/usr`, whose `bin` and `sbin` are opaque and hold only the commands an
//! Ubuntu guest really has, as links to the host's binaries or to the stand-ins) over the
//! host's `/usr` (libraries, interpreters), with the guest's own upper layer (`guests/<id>/usr`)
//! on top, so packages "installed" in a guest write there. Everything else (`/etc`, `/var`,
//! `/opt`, `/root`, `/home`, ...) is the guest's own folder; the host's `/etc` is never visible.
//!
//! Inside, `/.pve-sim/` holds what the stand-ins need: `bin/pve-sim` (this executable, read-only),
//! `usr` (the host's `/usr`, read-only, target of the real-command links), `state` (the node's
//! state folder) and `guest.json` (which guest this is). The namespace, and so every mount,
//! ends with the command's last process.
//!
//! Needs root (as CI and the development machines are) or unprivileged user namespaces; when
//! neither works the command fails with a message saying so.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::state::{io_fail, replace_file, Node};
use crate::{fail, R};

/// The guest marker file inside a guest (see [`crate::guestos::Context`]).
pub const MARKER: &str = "/.pve-sim/guest.json";
/// The stand-in executable inside a guest.
pub const STANDIN: &str = "/.pve-sim/bin/pve-sim";
/// The host's `/usr` inside a guest (read-only).
pub const HOST_USR: &str = "/.pve-sim/usr";
/// The node's state folder inside a guest.
pub const STATE: &str = "/.pve-sim/state";

/// PATH of a root shell on Ubuntu (and on a Proxmox host, whose environment `pct exec` keeps).
pub const GUEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a finished guest command printed.
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// How the command's standard streams are connected.
pub enum Io<'a> {
    /// Inherited from the calling tool (`pct exec`: the caller sees the output as it comes).
    Inherit,
    /// Captured, with optional input (`qm guest exec`, agent file writes, cloud-init).
    Capture(Option<&'a [u8]>),
}

/// A bind mount into the guest: host path, guest path.
pub type Bind = (PathBuf, String);

/// The sandbox of one guest.
pub struct Sandbox<'a> {
    pub node: &'a Node,
    pub id: u32,
    /// `pct` or `qm`: recorded for the stand-ins.
    pub tool: &'a str,
    /// Extra bind mounts (a container's bind mount points).
    pub binds: Vec<Bind>,
}

impl Sandbox<'_> {
    /// Runs `argv` in the guest (`argv[0]` looked up in the guest's PATH) with `env` added to
    /// the kept environment. One command at a time per guest (an exec lock), as the overlay
    /// upper layer must not be mounted twice.
    pub fn run(&self, argv: &[String], env: &[(String, String)], io: Io) -> R<Output> {
        let tree = crate::guestos::tree::Tree::of(self.node, self.id);
        crate::guestos::tree::ensure(self.node, self.id)?;
        let image = crate::guestos::image::ensure_layer(self.node)?;
        let _lock = self.node.lock_global(&format!("exec-{}", self.id))?;
        self.prepare(&tree)?;
        let plan = MountPlan::new(self, &tree, &image)?;
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("PVE_SIM") || k == "SSL_CERT_FILE" || k == "SSL_CERT_DIR" {
                cmd.env_remove(&k);
            }
        }
        cmd.env("PATH", GUEST_PATH);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let capture = matches!(io, Io::Capture(_));
        if let Io::Capture(input) = &io {
            cmd.stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            });
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        // SAFETY: the closure only makes system calls on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || plan.enter());
        }
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return Ok(spawn_failure(&argv[0], e)),
        };
        if let (Io::Capture(Some(input)), Some(mut stdin)) = (&io, child.stdin.take()) {
            use std::io::Write;
            let data = input.to_vec();
            // Written from a thread so a command that prints before reading cannot deadlock.
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("waiting for the guest command: {e}")))?;
        let code = exit_code(out.status);
        Ok(Output {
            code,
            stdout: if capture { out.stdout } else { Vec::new() },
            stderr: if capture { out.stderr } else { Vec::new() },
        })
    }

    /// Mount points and the marker the namespace needs, created before the fork.
    fn prepare(&self, tree: &crate::guestos::tree::Tree) -> R<()> {
        let r = &tree.rootfs;
        for d in [
            "usr",
            "dev",
            "proc",
            "sys",
            ".pve-sim/usr",
            ".pve-sim/state",
            ".pve-sim/bin",
        ] {
            let p = r.join(d);
            std::fs::create_dir_all(&p).map_err(|e| io_fail(&p, e))?;
        }
        let exe_mp = r.join(".pve-sim/bin/pve-sim");
        if !exe_mp.exists() {
            replace_file(&exe_mp, b"")?;
        }
        for (_, guest) in &self.binds {
            let p = r.join(guest.trim_start_matches('/'));
            if !p.exists() {
                std::fs::create_dir_all(&p).map_err(|e| io_fail(&p, e))?;
            }
        }
        let marker = serde_json::json!({"vmid": self.id, "tool": self.tool}).to_string();
        let mp = r.join(".pve-sim/guest.json");
        if std::fs::read_to_string(&mp).ok().as_deref() != Some(marker.as_str()) {
            replace_file(&mp, marker.as_bytes())?;
        }
        std::fs::create_dir_all(&tree.work).map_err(|e| io_fail(&tree.work, e))?;
        Ok(())
    }
}

fn exit_code(st: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0))
}

/// The shell's answers when the program cannot be started (127: not found, 126: not runnable).
fn spawn_failure(prog: &str, e: io::Error) -> Output {
    let not_found = e.kind() == io::ErrorKind::NotFound;
    let text = if e.raw_os_error() == Some(libc::EPERM) {
        format!(
            "pve-sim: cannot enter the guest's sandbox: {e} (needs root or unprivileged user namespaces)\n"
        )
    } else if not_found {
        format!("pve-sim: {prog}: command not found in the guest (neither real nor simulated)\n")
    } else {
        format!("pve-sim: {prog}: {e}\n")
    };
    Output {
        code: if not_found { 127 } else { 126 },
        stdout: Vec::new(),
        stderr: text.into_bytes(),
    }
}

fn cstr(p: &Path) -> R<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| fail(format!("bad path {}", p.display())))
}

/// One mount to make inside the namespace.
struct Mount {
    source: CString,
    target: CString,
    fstype: Option<CString>,
    flags: libc::c_ulong,
    data: Option<CString>,
    /// Remount read-only after the bind.
    readonly: bool,
}

/// Every system call argument the child needs, built before the fork (no allocation after).
struct MountPlan {
    root: CString,
    /// The guest's host name (its own UTS namespace).
    hostname: Vec<u8>,
    mounts: Vec<Mount>,
    unprivileged: Option<(u32, u32)>,
}

impl MountPlan {
    fn new(sb: &Sandbox, tree: &crate::guestos::tree::Tree, image: &Path) -> R<MountPlan> {
        let r = &tree.rootfs;
        let exe = std::env::current_exe().map_err(|e| fail(format!("current exe: {e}")))?;
        let bind = |src: &Path, dst: &Path, readonly: bool| -> R<Mount> {
            Ok(Mount {
                source: cstr(src)?,
                target: cstr(dst)?,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
                readonly,
            })
        };
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        let unprivileged = (uid != 0).then_some((uid, gid));
        let mut opts = format!(
            "lowerdir={}:/usr,upperdir={},workdir={}",
            image.display(),
            tree.usr.display(),
            tree.work.display()
        );
        if unprivileged.is_some() {
            opts.push_str(",userxattr");
        }
        let mut mounts = vec![
            Mount {
                source: CString::new("overlay").unwrap_or_default(),
                target: cstr(&r.join("usr"))?,
                fstype: Some(CString::new("overlay").unwrap_or_default()),
                flags: 0,
                data: Some(CString::new(opts).map_err(|_| fail("bad overlay options"))?),
                readonly: false,
            },
            bind(Path::new("/usr"), &r.join(".pve-sim/usr"), true)?,
            bind(&exe, &r.join(".pve-sim/bin/pve-sim"), true)?,
            bind(&sb.node.root, &r.join(".pve-sim/state"), false)?,
            bind(Path::new("/dev"), &r.join("dev"), false)?,
            bind(Path::new("/sys"), &r.join("sys"), true)?,
            Mount {
                source: CString::new("proc").unwrap_or_default(),
                target: cstr(&r.join("proc"))?,
                fstype: Some(CString::new("proc").unwrap_or_default()),
                flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: None,
                readonly: false,
            },
        ];
        if unprivileged.is_some() {
            // A new proc needs a new PID namespace when unprivileged: bind the host's instead.
            if let Some(m) = mounts.last_mut() {
                *m = bind(Path::new("/proc"), &r.join("proc"), false)?;
            }
        }
        for (host, guest) in &sb.binds {
            mounts.push(bind(host, &r.join(guest.trim_start_matches('/')), false)?);
        }
        let hostname = std::fs::read_to_string(r.join("etc/hostname"))
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".into())
            .into_bytes();
        Ok(MountPlan {
            root: cstr(r)?,
            hostname,
            mounts,
            unprivileged,
        })
    }

    /// In the child, between fork and exec.
    fn enter(&self) -> io::Result<()> {
        let check = |rc: libc::c_int| {
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        // SAFETY: system calls on pointers to CStrings owned by `self`, alive until exec.
        unsafe {
            match self.unprivileged {
                None => check(libc::unshare(libc::CLONE_NEWNS | libc::CLONE_NEWUTS))?,
                Some((uid, gid)) => {
                    check(libc::unshare(
                        libc::CLONE_NEWNS | libc::CLONE_NEWUTS | libc::CLONE_NEWUSER,
                    ))?;
                    map_ids(uid, gid)?;
                }
            }
            check(libc::sethostname(
                self.hostname.as_ptr().cast(),
                self.hostname.len(),
            ))?;
            let none = std::ptr::null();
            check(libc::mount(
                none,
                c"/".as_ptr(),
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            for m in &self.mounts {
                check(libc::mount(
                    m.source.as_ptr(),
                    m.target.as_ptr(),
                    m.fstype.as_ref().map_or(none, |f| f.as_ptr()),
                    m.flags,
                    m.data
                        .as_ref()
                        .map_or(std::ptr::null(), |d| d.as_ptr() as *const libc::c_void),
                ))?;
                if m.readonly {
                    // Best effort: a read-only remount can be refused in a user namespace.
                    libc::mount(
                        none,
                        m.target.as_ptr(),
                        none,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_REC,
                        std::ptr::null(),
                    );
                }
            }
            check(libc::chroot(self.root.as_ptr()))?;
            check(libc::chdir(c"/".as_ptr()))?;
        }
        Ok(())
    }
}

/// Maps the caller to root in a new user namespace (raw system calls: runs after fork).
unsafe fn map_ids(uid: u32, gid: u32) -> io::Result<()> {
    unsafe fn write_file(path: &std::ffi::CStr, data: &[u8]) -> io::Result<()> {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = libc::write(fd, data.as_ptr() as *const libc::c_void, data.len());
        libc::close(fd);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    let mut buf = [0u8; 32];
    write_file(c"/proc/self/setgroups", b"deny")?;
    let n = fmt_map(&mut buf, uid);
    write_file(c"/proc/self/uid_map", &buf[..n])?;
    let n = fmt_map(&mut buf, gid);
    write_file(c"/proc/self/gid_map", &buf[..n])
}

/// `0 <id> 1` into `buf` without allocating.
fn fmt_map(buf: &mut [u8; 32], id: u32) -> usize {
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut v = id;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf[0] = b'0';
    buf[1] = b' ';
    let mut i = 2;
    while n > 0 {
        n -= 1;
        buf[i] = digits[n];
        i += 1;
    }
    buf[i..i + 3].copy_from_slice(b" 1\n");
    i + 3
}

#[cfg(test)]
mod tests {
    #[test]
    fn id_map_line() {
        let mut b = [0u8; 32];
        let n = super::fmt_map(&mut b, 1000);
        assert_eq!(&b[..n], b"0 1000 1\n");
        let n = super::fmt_map(&mut b, 0);
        assert_eq!(&b[..n], b"0 0 1\n");
    }
}
