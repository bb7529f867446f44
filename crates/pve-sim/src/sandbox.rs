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
use std::path::{Path, PathBuf};

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
        let mut envp: Vec<CString> = Vec::new();
        let mut keep = |k: &str, v: &str| {
            if let Ok(c) = CString::new(format!("{k}={v}")) {
                envp.push(c);
            }
        };
        let overridden = |k: &str| k == "PATH" || env.iter().any(|(e, _)| e == k);
        for (k, v) in std::env::vars() {
            let dropped = k.starts_with("PVE_SIM") || k == "SSL_CERT_FILE" || k == "SSL_CERT_DIR";
            if !dropped && !overridden(&k) {
                keep(&k, &v);
            }
        }
        keep("PATH", GUEST_PATH);
        for (k, v) in env {
            keep(k, v);
        }
        let exec = Exec::new(argv, envp)?;
        let capture = matches!(io, Io::Capture(_));
        let input = match &io {
            Io::Capture(i) => *i,
            Io::Inherit => None,
        };
        let code = spawn(&plan, &exec, capture, input)?;
        Ok(Output {
            code: code.0,
            stdout: code.1,
            stderr: code.2,
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

/// The program and its arguments, prepared before the fork: every candidate path of the
/// guest's PATH (no allocation may happen between fork and exec).
struct Exec {
    candidates: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    /// `sh <path> args...` for a file without a `#!` line (ENOEXEC), as execvp does.
    sh_argv: Vec<Vec<CString>>,
    not_found: Vec<u8>,
}

impl Exec {
    fn new(argv: &[String], envp: Vec<CString>) -> R<Exec> {
        let c =
            |s: &str| CString::new(s).map_err(|_| fail(format!("argument with a NUL byte: {s:?}")));
        let prog = &argv[0];
        let candidates: Vec<CString> = if prog.contains('/') {
            vec![c(prog)?]
        } else {
            GUEST_PATH
                .split(':')
                .map(|d| c(&format!("{d}/{prog}")))
                .collect::<R<_>>()?
        };
        let argv_c: Vec<CString> = argv.iter().map(|a| c(a)).collect::<R<_>>()?;
        let mut sh_argv = Vec::new();
        for cand in &candidates {
            let mut v = vec![c("/bin/sh")?, cand.clone()];
            v.extend(argv_c[1..].iter().cloned());
            sh_argv.push(v);
        }
        Ok(Exec {
            candidates,
            argv: argv_c,
            envp,
            sh_argv,
            not_found: format!(
                "pve-sim: {prog}: command not found in the guest (neither real nor simulated)\n"
            )
            .into_bytes(),
        })
    }
}

/// A pipe: (read end, write end).
type Pipe = (libc::c_int, libc::c_int);
/// The command's stdin, stdout and stderr pipes.
type Streams = (Pipe, Pipe, Pipe);

fn pipe() -> R<Pipe> {
    let mut fds = [0; 2];
    // SAFETY: a valid array of two ints.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(fail(format!("pipe: {}", io::Error::last_os_error())));
    }
    Ok((fds[0], fds[1]))
}

fn read_all(fd: libc::c_int) -> Vec<u8> {
    use std::io::Read;
    use std::os::unix::io::FromRawFd;
    // SAFETY: we own this end of the pipe; File closes it.
    let mut f = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut v = Vec::new();
    let _ = f.read_to_end(&mut v);
    v
}

/// Runs the command in a new mount namespace and returns (exit code, stdout, stderr).
///
/// Why two processes: a mount namespace is torn down when its last process exits, and that
/// teardown (an RCU grace period for the mounts) costs ~25 ms that `wait` would include. So a
/// first child A sets up the namespace and forks B, which runs the command; A reports B's exit
/// status through a pipe and exits; this process takes the status from the pipe and never waits
/// for A (it is reaped when this process exits).
fn spawn(
    plan: &MountPlan,
    exec: &Exec,
    capture: bool,
    input: Option<&[u8]>,
) -> R<(i32, Vec<u8>, Vec<u8>)> {
    let (status_r, status_w) = pipe()?;
    let streams = if capture {
        Some((pipe()?, pipe()?, pipe()?))
    } else {
        None
    };
    // SAFETY: fork in a single-threaded process; the child only makes system calls on data
    // prepared above, then execs or exits.
    let a = unsafe { libc::fork() };
    if a < 0 {
        return Err(fail(format!("fork: {}", io::Error::last_os_error())));
    }
    if a == 0 {
        // SAFETY: see above.
        unsafe { child_a(plan, exec, status_w, streams) }
    }
    // SAFETY: closing our copies of the child's ends.
    unsafe { libc::close(status_w) };
    let (out, err) = match streams {
        Some(((in_r, in_w), (out_r, out_w), (err_r, err_w))) => {
            // SAFETY: as above.
            unsafe {
                libc::close(in_r);
                libc::close(out_w);
                libc::close(err_w);
            }
            let data = input.unwrap_or_default().to_vec();
            // Written from a thread so a command that prints before reading cannot deadlock.
            let writer = std::thread::spawn(move || {
                use std::io::Write;
                use std::os::unix::io::FromRawFd;
                // SAFETY: we own the write end; File closes it (EOF for the command).
                let mut f = unsafe { std::fs::File::from_raw_fd(in_w) };
                let _ = f.write_all(&data);
            });
            let err_reader = std::thread::spawn(move || read_all(err_r));
            let out = read_all(out_r);
            let err = err_reader.join().unwrap_or_default();
            let _ = writer.join();
            (out, err)
        }
        None => (Vec::new(), Vec::new()),
    };
    let status = read_all(status_r);
    let code = match status.as_slice() {
        [b'x', rest @ ..] => {
            let n: [u8; 4] = rest
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .unwrap_or([0; 4]);
            i32::from_le_bytes(n)
        }
        [b'e', rest @ ..] => {
            let n: [u8; 4] = rest
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .unwrap_or([0; 4]);
            let e = io::Error::from_raw_os_error(i32::from_le_bytes(n));
            return Err(fail(format!(
                "pve-sim: cannot enter the guest's sandbox: {e} (needs root or unprivileged user namespaces)"
            )));
        }
        _ => return Err(fail("pve-sim: the guest's sandbox ended without a status")),
    };
    Ok((code, out, err))
}

/// Child A: namespace, mounts, fork B, report B's status. Never returns.
unsafe fn child_a(
    plan: &MountPlan,
    exec: &Exec,
    status_w: libc::c_int,
    streams: Option<Streams>,
) -> ! {
    let report = |tag: u8, n: i32| {
        let mut buf = [0u8; 5];
        buf[0] = tag;
        buf[1..].copy_from_slice(&n.to_le_bytes());
        libc::write(status_w, buf.as_ptr().cast(), 5);
    };
    if let Err(e) = plan.enter() {
        report(b'e', e.raw_os_error().unwrap_or(0));
        libc::_exit(1);
    }
    if let Some(((in_r, in_w), (out_r, out_w), (err_r, err_w))) = streams {
        libc::close(in_w);
        libc::close(out_r);
        libc::close(err_r);
        libc::dup2(in_r, 0);
        libc::dup2(out_w, 1);
        libc::dup2(err_w, 2);
    }
    let b = libc::fork();
    if b == 0 {
        libc::close(status_w);
        run_b(plan, exec);
    }
    // A keeps no copy of the command's streams, so the reader sees EOF when B's tree is done.
    let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
    for fd in 0..3 {
        libc::dup2(devnull, fd);
    }
    let mut st: libc::c_int = 0;
    while libc::waitpid(b, &mut st, 0) < 0 {
        if *libc::__errno_location() != libc::EINTR {
            break;
        }
    }
    let code = if libc::WIFEXITED(st) {
        libc::WEXITSTATUS(st)
    } else if libc::WIFSIGNALED(st) {
        128 + libc::WTERMSIG(st)
    } else {
        1
    };
    report(b'x', code);
    libc::_exit(0)
}

/// Child B: into the guest's root, then exec the command the way `execvp` would.
unsafe fn run_b(plan: &MountPlan, exec: &Exec) -> ! {
    if libc::chroot(plan.root.as_ptr()) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
        libc::_exit(126);
    }
    let ptrs = |v: &[CString]| -> Vec<*const libc::c_char> {
        v.iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    };
    let argv = ptrs(&exec.argv);
    let envp = ptrs(&exec.envp);
    let mut denied = false;
    for (i, cand) in exec.candidates.iter().enumerate() {
        libc::execve(cand.as_ptr(), argv.as_ptr(), envp.as_ptr());
        match *libc::__errno_location() {
            libc::ENOEXEC => {
                let sh = ptrs(&exec.sh_argv[i]);
                libc::execve(c"/bin/sh".as_ptr(), sh.as_ptr(), envp.as_ptr());
            }
            libc::EACCES => denied = true,
            _ => {}
        }
    }
    libc::write(2, exec.not_found.as_ptr().cast(), exec.not_found.len());
    libc::_exit(if denied { 126 } else { 127 })
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
