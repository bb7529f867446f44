//! What a fresh guest holds: the shared image layer of `/usr` (the commands every Ubuntu 24.04
//! guest has) and the per-guest files of the LXC template (`ubuntu-24.04-standard`) or of
//! Ubuntu's cloud image (`noble-server-cloudimg`): `/etc` (os-release, accounts, apt sources),
//! the package database of the base packages, their units. No Docker, no CUDA, no `/opt/vllm`.
//!
//! The base package lists are an approximation of the real images (the packages Phoenix's
//! scripts ask about are placed as the real images have them: the template has no curl, jq,
//! locales or tzdata; the cloud image has curl, wget, gnupg, cloud-init, no jq and no
//! qemu-guest-agent).

use std::path::{Path, PathBuf};

use super::catalog::{self, BASE_CLOUD, BASE_COMMON};
use super::GuestFs;
use crate::sandbox::{HOST_USR, STANDIN};
use crate::state::{atomic_write, io_fail, Kind, Node};
use crate::R;

/// Which image a guest starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `pct create` from an Ubuntu 24.04 standard template.
    Template,
    /// `qm create` importing Ubuntu's 24.04 cloud image.
    CloudImage,
}

impl Flavour {
    pub fn of(kind: Kind) -> Flavour {
        match kind {
            Kind::Lxc => Flavour::Template,
            Kind::Qemu => Flavour::CloudImage,
        }
    }
    /// Every base package.
    pub fn packages(self) -> Vec<&'static str> {
        let mut v: Vec<&str> = BASE_COMMON.to_vec();
        if self == Flavour::CloudImage {
            v.extend(BASE_CLOUD);
        }
        v.sort();
        v
    }
}

/// Commands of the essential packages, run for real from the host: (folder under /usr, name).
const CORE_REAL: &[(&str, &[&str])] = &[
    (
        "bin",
        &[
            "bash",
            "dash",
            "cat",
            "cp",
            "mv",
            "rm",
            "ln",
            "ls",
            "mkdir",
            "rmdir",
            "chmod",
            "chown",
            "chgrp",
            "touch",
            "test",
            "[",
            "echo",
            "printf",
            "true",
            "false",
            "env",
            "id",
            "whoami",
            "groups",
            "uname",
            "date",
            "sleep",
            "head",
            "tail",
            "tr",
            "cut",
            "sort",
            "uniq",
            "wc",
            "tee",
            "dirname",
            "basename",
            "readlink",
            "realpath",
            "stat",
            "mktemp",
            "sha256sum",
            "sha1sum",
            "sha512sum",
            "md5sum",
            "base64",
            "install",
            "seq",
            "expr",
            "yes",
            "nproc",
            "du",
            "df",
            "od",
            "cmp",
            "diff",
            "tac",
            "nl",
            "paste",
            "comm",
            "fold",
            "split",
            "timeout",
            "nice",
            "nohup",
            "printenv",
            "pwd",
            "tty",
            "sync",
            "truncate",
            "shuf",
            "dd",
            "link",
            "unlink",
            "mkfifo",
            "logname",
            "numfmt",
            "arch",
            "grep",
            "egrep",
            "fgrep",
            "sed",
            "awk",
            "mawk",
            "find",
            "xargs",
            "tar",
            "gzip",
            "gunzip",
            "zcat",
            "hostname",
            "ps",
            "pgrep",
            "pkill",
            "kill",
            "free",
            "uptime",
            "getent",
            "ldd",
            "locale",
            "iconv",
            "getconf",
            "which",
            "run-parts",
            "ischroot",
            "savelog",
            "su",
            "flock",
            "getopt",
            "setsid",
            "logger",
            "more",
            "rev",
            "mountpoint",
            "chage",
            "gpasswd",
            "passwd",
            "perl",
            "less",
            "ip",
            "sudo",
        ],
    ),
    (
        "sbin",
        &[
            "useradd",
            "usermod",
            "userdel",
            "groupadd",
            "groupdel",
            "groupmod",
            "chpasswd",
            "chgpasswd",
            "newusers",
            "runuser",
            "nologin",
            "adduser",
            "deluser",
            "addgroup",
            "delgroup",
            "ldconfig",
        ],
    ),
];

/// Host folders under `/usr` a fresh guest must not see (made opaque in the image layer).
const HIDDEN: &[&str] = &[
    "local",
    "games",
    "lib/systemd/system",
    "share/keyrings",
    "libexec/docker",
];

/// Bumped whenever the layer's content changes, so an old layer is rebuilt.
const LAYER_VERSION: &str = "pve-sim image layer 4\n";

/// The shared image layer (`<state>/image/usr`), built on first use.
pub fn ensure_layer(node: &Node) -> R<PathBuf> {
    let dir = node.root.join("image/usr");
    let stamp = node.root.join("image/.version");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(LAYER_VERSION) {
        return Ok(dir);
    }
    let _g = node.lock_global("image")?;
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(LAYER_VERSION) {
        return Ok(dir);
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| io_fail(&dir, e))?;
    }
    build_layer(&dir)?;
    atomic_write(&stamp, LAYER_VERSION.as_bytes())?;
    Ok(dir)
}

fn build_layer(dir: &Path) -> R<()> {
    for sub in ["bin", "sbin"] {
        let d = dir.join(sub);
        std::fs::create_dir_all(&d).map_err(|e| io_fail(&d, e))?;
        opaque(&d);
    }
    for (sub, names) in CORE_REAL {
        for name in *names {
            if let Some(host) = host_binary(name) {
                link(&format!("{HOST_USR}/{host}"), &dir.join(sub).join(name))?;
            }
        }
    }
    link(&format!("{HOST_USR}/bin/dash"), &dir.join("bin/sh"))?;
    // The stand-ins of the essential packages (apt, dpkg, systemd, python3).
    for pkg in ["apt", "dpkg", "mount", "systemd", "python3"] {
        for (path, _) in catalog::lookup(pkg).map(|p| p.commands).unwrap_or_default() {
            let rel = path.trim_start_matches("/usr/");
            link(STANDIN, &dir.join(rel))?;
        }
    }
    for h in HIDDEN {
        let d = dir.join(h);
        std::fs::create_dir_all(&d).map_err(|e| io_fail(&d, e))?;
        opaque(&d);
    }
    for sub in ["bin", "sbin", "lib", "share", "include", "src", "etc"] {
        let d = dir.join("local").join(sub);
        std::fs::create_dir_all(&d).map_err(|e| io_fail(&d, e))?;
    }
    // No time zone data until tzdata is installed (a whiteout hides the host's).
    whiteout(&dir.join("share/zoneinfo"));
    Ok(())
}

/// The real file behind `bin/<name>` or `sbin/<name>` of the host's `/usr`, relative to
/// `/usr` (alternatives such as `awk -> /etc/alternatives/awk -> mawk` resolved, since the
/// guest has its own `/etc`), if it exists.
fn host_binary(name: &str) -> Option<String> {
    ["bin", "sbin"].into_iter().find_map(|d| {
        let real = std::fs::canonicalize(Path::new("/usr").join(d).join(name)).ok()?;
        real.strip_prefix("/usr")
            .ok()
            .map(|r| r.to_string_lossy().into_owned())
    })
}

fn link(target: &str, at: &Path) -> R<()> {
    if let Some(d) = at.parent() {
        std::fs::create_dir_all(d).map_err(|e| io_fail(d, e))?;
    }
    let _ = std::fs::remove_file(at);
    std::os::unix::fs::symlink(target, at).map_err(|e| io_fail(at, e))
}

/// Marks a folder opaque for overlayfs: the lower layers' content of that folder is hidden.
/// `trusted.` needs root; `user.` is what an unprivileged (`userxattr`) overlay reads.
fn opaque(d: &Path) {
    let Ok(p) = std::ffi::CString::new(d.as_os_str().as_encoded_bytes()) else {
        return;
    };
    for name in [c"trusted.overlay.opaque", c"user.overlay.opaque"] {
        // SAFETY: valid C strings and a one-byte value.
        unsafe {
            libc::setxattr(p.as_ptr(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0);
        }
    }
}

/// An overlayfs whiteout (character device 0:0): hides a lower layer's entry. Needs root;
/// without it the entry stays visible.
fn whiteout(at: &Path) {
    let Ok(p) = std::ffi::CString::new(at.as_os_str().as_encoded_bytes()) else {
        return;
    };
    // SAFETY: valid C string.
    unsafe {
        libc::mknod(p.as_ptr(), libc::S_IFCHR, 0);
    }
}

const OS_RELEASE: &str = "PRETTY_NAME=\"Ubuntu 24.04.2 LTS\"
NAME=\"Ubuntu\"
VERSION_ID=\"24.04\"
VERSION=\"24.04.2 LTS (Noble Numbat)\"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL=\"https://www.ubuntu.com/\"
SUPPORT_URL=\"https://help.ubuntu.com/\"
BUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"
PRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
";

const LSB_RELEASE: &str = "DISTRIB_ID=Ubuntu
DISTRIB_RELEASE=24.04
DISTRIB_CODENAME=noble
DISTRIB_DESCRIPTION=\"Ubuntu 24.04.2 LTS\"
";

const SOURCES: &str = "Types: deb
URIs: http://archive.ubuntu.com/ubuntu/
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

Types: deb
URIs: http://security.ubuntu.com/ubuntu/
Suites: noble-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
";

/// System accounts of Ubuntu 24.04: (name, uid, gid, gecos, home, shell).
const USERS: &[(&str, u32, u32, &str, &str, &str)] = &[
    ("root", 0, 0, "root", "/root", "/bin/bash"),
    ("daemon", 1, 1, "daemon", "/usr/sbin", "/usr/sbin/nologin"),
    ("bin", 2, 2, "bin", "/bin", "/usr/sbin/nologin"),
    ("sys", 3, 3, "sys", "/dev", "/usr/sbin/nologin"),
    ("sync", 4, 65534, "sync", "/bin", "/bin/sync"),
    ("games", 5, 60, "games", "/usr/games", "/usr/sbin/nologin"),
    ("man", 6, 12, "man", "/var/cache/man", "/usr/sbin/nologin"),
    ("lp", 7, 7, "lp", "/var/spool/lpd", "/usr/sbin/nologin"),
    ("mail", 8, 8, "mail", "/var/mail", "/usr/sbin/nologin"),
    ("news", 9, 9, "news", "/var/spool/news", "/usr/sbin/nologin"),
    (
        "uucp",
        10,
        10,
        "uucp",
        "/var/spool/uucp",
        "/usr/sbin/nologin",
    ),
    ("proxy", 13, 13, "proxy", "/bin", "/usr/sbin/nologin"),
    (
        "www-data",
        33,
        33,
        "www-data",
        "/var/www",
        "/usr/sbin/nologin",
    ),
    (
        "backup",
        34,
        34,
        "backup",
        "/var/backups",
        "/usr/sbin/nologin",
    ),
    (
        "list",
        38,
        38,
        "Mailing List Manager",
        "/var/list",
        "/usr/sbin/nologin",
    ),
    ("irc", 39, 39, "ircd", "/run/ircd", "/usr/sbin/nologin"),
    ("_apt", 42, 65534, "", "/nonexistent", "/usr/sbin/nologin"),
    (
        "nobody",
        65534,
        65534,
        "nobody",
        "/nonexistent",
        "/usr/sbin/nologin",
    ),
    (
        "systemd-network",
        998,
        998,
        "systemd Network Management",
        "/",
        "/usr/sbin/nologin",
    ),
    (
        "messagebus",
        100,
        102,
        "",
        "/nonexistent",
        "/usr/sbin/nologin",
    ),
    ("sshd", 101, 65534, "", "/run/sshd", "/usr/sbin/nologin"),
];

const GROUPS: &[(&str, u32)] = &[
    ("root", 0),
    ("daemon", 1),
    ("bin", 2),
    ("sys", 3),
    ("adm", 4),
    ("tty", 5),
    ("disk", 6),
    ("lp", 7),
    ("mail", 8),
    ("news", 9),
    ("uucp", 10),
    ("man", 12),
    ("proxy", 13),
    ("kmem", 15),
    ("dialout", 20),
    ("fax", 21),
    ("voice", 22),
    ("cdrom", 24),
    ("floppy", 25),
    ("tape", 26),
    ("sudo", 27),
    ("audio", 29),
    ("dip", 30),
    ("www-data", 33),
    ("backup", 34),
    ("operator", 37),
    ("list", 38),
    ("irc", 39),
    ("src", 40),
    ("shadow", 42),
    ("utmp", 43),
    ("video", 44),
    ("sasl", 45),
    ("plugdev", 46),
    ("staff", 50),
    ("games", 60),
    ("users", 100),
    ("messagebus", 102),
    ("systemd-network", 998),
    ("systemd-journal", 999),
    ("nogroup", 65534),
];

const LOGIN_DEFS: &str = "MAIL_DIR /var/mail
UMASK 022
HOME_MODE 0750
PASS_MAX_DAYS 99999
PASS_MIN_DAYS 0
PASS_WARN_AGE 7
UID_MIN 1000
UID_MAX 60000
SYS_UID_MIN 100
SYS_UID_MAX 999
GID_MIN 1000
GID_MAX 60000
SYS_GID_MIN 100
SYS_GID_MAX 999
USERGROUPS_ENAB yes
ENCRYPT_METHOD SHA512
";

const PAM_ROOT_ONLY: &str = "#%PAM-1.0
auth sufficient pam_rootok.so
account sufficient pam_rootok.so
session required pam_unix.so
";

/// Fills a fresh tree with the image's files and the base packages.
pub fn populate(fs: &GuestFs, flavour: Flavour) -> R<()> {
    for (l, t) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        fs.symlink(t, &format!("/{l}"))?;
    }
    for d in [
        "/etc/apt/sources.list.d",
        "/etc/apt/apt.conf.d",
        "/etc/apt/keyrings",
        "/etc/apt/preferences.d",
        "/etc/systemd/system/multi-user.target.wants",
        "/etc/default",
        "/etc/skel",
        "/etc/pam.d",
        "/etc/sudoers.d",
        "/var/lib/dpkg/info",
        "/var/lib/apt/lists/partial",
        "/var/cache/apt/archives/partial",
        "/var/log/apt",
        "/var/lib/systemd",
        "/var/spool",
        "/var/backups",
        "/var/mail",
        "/var/opt",
        "/var/local",
        "/root",
        "/home",
        "/run",
        "/srv",
        "/mnt",
        "/media",
        "/opt",
        "/boot",
        "/proc",
        "/sys",
        "/dev",
        "/usr/lib/systemd/system",
        "/usr/local/bin",
        "/usr/local/sbin",
        // ca-certificates (in every Ubuntu image) makes the folder for local roots.
        "/usr/local/share/ca-certificates",
        "/usr/share/keyrings",
    ] {
        fs.mkdir(d)?;
    }
    for d in ["/tmp", "/var/tmp"] {
        fs.mkdir(d)?;
        set_mode(&fs.path(d), 0o1777)?;
    }
    set_mode(&fs.path("/root"), 0o700)?;
    fs.write("/etc/os-release", OS_RELEASE.as_bytes())?;
    fs.write("/etc/lsb-release", LSB_RELEASE.as_bytes())?;
    fs.write("/etc/debian_version", b"trixie/sid\n")?;
    fs.write("/etc/hostname", b"localhost\n")?;
    fs.write(
        "/etc/hosts",
        b"127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
    )?;
    fs.write("/etc/resolv.conf", b"# set by Proxmox at start\n")?;
    fs.write("/etc/apt/sources.list.d/ubuntu.sources", SOURCES.as_bytes())?;
    fs.write(
        "/etc/nsswitch.conf",
        b"passwd: files\ngroup: files\nshadow: files\ngshadow: files\nhosts: files dns\n",
    )?;
    fs.write(
        "/etc/shells",
        b"/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/dash\n/usr/bin/dash\n",
    )?;
    fs.write(
        "/etc/environment",
        format!("PATH=\"{}\"\n", crate::sandbox::GUEST_PATH).as_bytes(),
    )?;
    fs.write("/etc/login.defs", LOGIN_DEFS.as_bytes())?;
    fs.write("/etc/default/useradd", b"SHELL=/bin/sh\n")?;
    fs.write(
        "/etc/skel/.profile",
        b"if [ -n \"$BASH_VERSION\" ] && [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n",
    )?;
    fs.write("/etc/skel/.bashrc", b"# ~/.bashrc\n")?;
    fs.write("/root/.bashrc", b"# ~/.bashrc\n")?;
    fs.write("/etc/machine-id", b"")?;
    fs.write(
        "/etc/fstab",
        match flavour {
            // A container's root is mounted by Proxmox; the template's fstab is empty.
            Flavour::Template => b"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n".as_slice(),
            Flavour::CloudImage => b"LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,commit=30,errors=remount-ro\t0 1\nLABEL=BOOT\t/boot\text4\tdefaults\t0 2\nLABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n".as_slice(),
        },
    )?;
    for p in ["runuser", "runuser-l", "su", "sudo", "other"] {
        fs.write(&format!("/etc/pam.d/{p}"), PAM_ROOT_ONLY.as_bytes())?;
    }
    fs.write(
        "/etc/sudoers",
        b"root ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
    )?;
    set_mode(&fs.path("/etc/sudoers"), 0o440)?;
    accounts(fs)?;
    let mut db = super::apt::Db::default();
    for name in flavour.packages() {
        match catalog::lookup(name) {
            Some(pkg) => {
                super::apt::unpack(fs, &pkg, false)?;
                for unit in pkg.enabled_units() {
                    super::systemd::enable_unit(fs, unit)?;
                }
                db.add(&pkg);
            }
            None => db.add_base(name, catalog::base_version(name)),
        }
    }
    db.save(fs)?;
    if flavour == Flavour::CloudImage {
        fs.symlink("/usr/share/zoneinfo/Etc/UTC", "/etc/localtime")?;
        fs.write("/etc/timezone", b"Etc/UTC\n")?;
        fs.mkdir("/var/lib/cloud")?;
        fs.write("/etc/cloud/cloud.cfg", b"# pve-sim: cloud-init reads the NoCloud drive Proxmox attaches\ndatasource_list: [ NoCloud, None ]\n")?;
    }
    Ok(())
}

fn accounts(fs: &GuestFs) -> R<()> {
    let mut passwd = String::new();
    let mut shadow = String::new();
    for (n, uid, gid, gecos, home, shell) in USERS {
        passwd.push_str(&format!("{n}:x:{uid}:{gid}:{gecos}:{home}:{shell}\n"));
        shadow.push_str(&format!("{n}:*:19900:0:99999:7:::\n"));
    }
    let mut group = String::new();
    let mut gshadow = String::new();
    for (n, gid) in GROUPS {
        group.push_str(&format!("{n}:x:{gid}:\n"));
        gshadow.push_str(&format!("{n}:*::\n"));
    }
    fs.write("/etc/passwd", passwd.as_bytes())?;
    fs.write("/etc/group", group.as_bytes())?;
    fs.write_mode("/etc/shadow", shadow.as_bytes(), 0o640)?;
    fs.write_mode("/etc/gshadow", gshadow.as_bytes(), 0o640)
}

fn set_mode(p: &Path, mode: u32) -> R<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| io_fail(p, e))
}
