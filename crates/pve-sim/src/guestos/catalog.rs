//! The packages the simulated guests know: the Ubuntu 24.04 (noble) archive subset Phoenix's
//! scripts use, Docker's, NVIDIA's and Smallstep's repositories, and what each package puts in the guest
//! (commands, unit files, files). Versions are those of noble at the time of writing; a package
//! not listed here does not exist (`apt-get install` answers "Unable to locate package").

/// Where a package comes from (an apt source must name this URL, and `apt-get update` must
/// have fetched its lists, before it can be installed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repo {
    Ubuntu,
    Docker,
    Cuda,
    Smallstep,
}

impl Repo {
    /// The source URL's prefix.
    pub fn url(self) -> &'static str {
        match self {
            Repo::Ubuntu => "http://archive.ubuntu.com/ubuntu",
            Repo::Docker => "https://download.docker.com/linux/ubuntu",
            Repo::Cuda => {
                "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64"
            }
            Repo::Smallstep => "https://packages.smallstep.com/stable/debian",
        }
    }
    /// The list file name apt keeps for it (under `/var/lib/apt/lists/`).
    pub fn list_file(self) -> &'static str {
        match self {
            Repo::Ubuntu => "archive.ubuntu.com_ubuntu_dists_noble_main_binary-amd64_Packages",
            Repo::Docker => {
                "download.docker.com_linux_ubuntu_dists_noble_stable_binary-amd64_Packages"
            }
            Repo::Cuda => {
                "developer.download.nvidia.com_compute_cuda_repos_ubuntu2404_x86%5f64_Packages"
            }
            Repo::Smallstep => {
                "packages.smallstep.com_stable_debian_dists_debs_main_binary-amd64_Packages"
            }
        }
    }
    /// `apt-cache policy`'s origin line.
    pub fn origin(self) -> &'static str {
        match self {
            Repo::Ubuntu => "http://archive.ubuntu.com/ubuntu noble/main amd64 Packages",
            Repo::Docker => "https://download.docker.com/linux/ubuntu noble/stable amd64 Packages",
            Repo::Cuda => {
                "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64  Packages"
            }
            Repo::Smallstep => "https://packages.smallstep.com/stable/debian debs/main amd64 Packages",
        }
    }
    pub fn all() -> [Repo; 4] {
        [Repo::Ubuntu, Repo::Docker, Repo::Cuda, Repo::Smallstep]
    }
}

/// Where a command of a package comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Src {
    /// The host's binary at this path under `/usr` (a real program).
    Real(&'static str),
    /// The pve-sim stand-in of that name.
    Standin,
}

/// One package.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub repo: Repo,
    pub section: &'static str,
    pub depends: Vec<&'static str>,
    /// Guest path of each command and where it comes from.
    pub commands: Vec<(String, Src)>,
    /// Unit name, path, text.
    pub units: Vec<(&'static str, String)>,
    /// Guest path, content.
    pub files: Vec<(String, String)>,
    /// Symlinks: guest path, target.
    pub links: Vec<(String, String)>,
    /// System groups the maintainer scripts create (`addgroup --system`).
    pub groups: Vec<&'static str>,
    pub description: &'static str,
}

impl Package {
    fn new(name: &str, version: &str, section: &'static str, description: &'static str) -> Self {
        Package {
            name: name.to_string(),
            version: version.to_string(),
            repo: Repo::Ubuntu,
            section,
            depends: Vec::new(),
            commands: Vec::new(),
            units: Vec::new(),
            files: Vec::new(),
            links: Vec::new(),
            groups: Vec::new(),
            description,
        }
    }
    fn repo(mut self, r: Repo) -> Self {
        self.repo = r;
        self
    }
    fn deps(mut self, d: &[&'static str]) -> Self {
        self.depends = d.to_vec();
        self
    }
    /// Stand-in commands at `/usr/bin/<name>` (or the given absolute path).
    fn standin(mut self, names: &[&str]) -> Self {
        for n in names {
            let p = if n.starts_with('/') {
                n.to_string()
            } else {
                format!("/usr/bin/{n}")
            };
            self.commands.push((p, Src::Standin));
        }
        self
    }
    /// Real commands: guest path = host path.
    fn real(mut self, paths: &[&'static str]) -> Self {
        for p in paths {
            self.commands.push((p.to_string(), Src::Real(p)));
        }
        self
    }
    fn unit(mut self, name: &'static str, text: &str) -> Self {
        self.units.push((name, text.to_string()));
        self
    }
    fn file(mut self, path: &str, content: &str) -> Self {
        self.files.push((path.to_string(), content.to_string()));
        self
    }
    fn group(mut self, g: &'static str) -> Self {
        self.groups.push(g);
        self
    }
    fn link(mut self, path: &str, target: &str) -> Self {
        self.links.push((path.to_string(), target.to_string()));
        self
    }
    /// Units a package's maintainer scripts enable and start on install (Debian policy).
    pub fn enabled_units(&self) -> Vec<&'static str> {
        self.units
            .iter()
            .filter(|(_, t)| t.contains("[Install]"))
            .map(|(n, _)| *n)
            .collect()
    }
}

fn service(desc: &str, exec: &str, wanted_by: Option<&str>) -> String {
    let mut s = format!("[Unit]\nDescription={desc}\n\n[Service]\nExecStart={exec}\n");
    if let Some(w) = wanted_by {
        s.push_str(&format!("\n[Install]\nWantedBy={w}\n"));
    }
    s
}

/// The package called `name`, if any repository has it.
pub fn lookup(name: &str) -> Option<Package> {
    let p = Package::new;
    Some(match name {
        // ---- in the base images ------------------------------------------------------------
        "apt" => p("apt", "2.7.14build2", "admin", "commandline package manager")
            .standin(&["apt-get", "apt", "apt-cache"]),
        "dpkg" => p("dpkg", "1.22.6ubuntu6.1", "admin", "Debian package management system")
            .standin(&["dpkg", "dpkg-query"]),
        // mount(8) and mountpoint(1) are simulated: a guest cannot really mount here.
        "mount" => p("mount", "2.39.3-9ubuntu6.3", "admin", "tools for mounting and manipulating filesystems")
            .standin(&["mount", "umount", "mountpoint"]),
        "systemd" => p("systemd", "255.4-1ubuntu8.6", "admin", "system and service manager")
            .standin(&["systemctl", "journalctl", "/usr/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-networkd"])
            .unit(
                "systemd-journald.service",
                "[Unit]\nDescription=Journal Service\n\n[Service]\nExecStart=/usr/lib/systemd/systemd-journald\n",
            )
            .unit(
                "systemd-networkd.service",
                &service("Network Configuration", "/usr/lib/systemd/systemd-networkd", Some("multi-user.target")),
            ),
        "cron" => p("cron", "3.0pl1-184ubuntu2", "admin", "process scheduling daemon")
            .standin(&["/usr/sbin/cron"])
            .unit("cron.service", &service("Regular background program processing daemon", "/usr/sbin/cron -f", Some("multi-user.target"))),
        "openssh-server" => p("openssh-server", "1:9.6p1-3ubuntu13.12", "net", "secure shell (SSH) server")
            .standin(&["/usr/sbin/sshd"])
            .unit("ssh.service", &service("OpenBSD Secure Shell server", "/usr/sbin/sshd -D", Some("multi-user.target"))),
        "python3" => p("python3", "3.12.3-0ubuntu2", "python", "interactive high-level object-oriented language")
            .standin(&["python3"]),
        "ubuntu-keyring" => p("ubuntu-keyring", "2023.11.28.1", "misc", "GnuPG keys of the Ubuntu archive")
            .file("/usr/share/keyrings/ubuntu-archive-keyring.gpg", "pve-sim: Ubuntu archive signing key\n"),
        "cloud-init" => p("cloud-init", "25.1.4-0ubuntu0~24.04.1", "admin", "initialization and customization tool for cloud instances")
            .standin(&["cloud-init"]),
        // ---- what Phoenix's scripts install ------------------------------------------------
        "ca-certificates" => p("ca-certificates", "20240203", "misc", "Common CA certificates")
            .standin(&["/usr/sbin/update-ca-certificates"])
            .file("/etc/ssl/certs/ca-certificates.crt", "pve-sim: CA bundle\n"),
        "curl" => p("curl", "8.5.0-2ubuntu10.6", "web", "command line tool for transferring data with URL syntax").standin(&["curl"]),
        "wget" => p("wget", "1.21.4-1ubuntu4.1", "web", "retrieves files from the web").standin(&["wget"]),
        "jq" => p("jq", "1.7.1-3build1", "utils", "lightweight and flexible command-line JSON processor").real(&["/usr/bin/jq"]),
        "gnupg" => p("gnupg", "2.4.4-2ubuntu17.3", "utils", "GNU privacy guard - a free PGP replacement").standin(&["gpg"]),
        "lsb-release" => p("lsb-release", "12.0-2", "misc", "Linux Standard Base version reporting utility").standin(&["lsb_release"]),
        "locales" => p("locales", "2.39-0ubuntu8.4", "localization", "GNU C Library: National Language (locale) data [support]")
            .standin(&["/usr/sbin/locale-gen", "/usr/sbin/update-locale"])
            .file("/etc/locale.gen", "# This file lists locales that you wish to have built.\n# en_US.UTF-8 UTF-8\n"),
        "tzdata" => p("tzdata", "2025b-0ubuntu0.24.04.1", "localization", "time zone and daylight-saving time data")
            .link("/usr/share/zoneinfo", "/.pve-sim/usr/share/zoneinfo"),
        "zstd" => p("zstd", "1.5.5+dfsg2-2build1.1", "utils", "fast lossless compression algorithm").real(&["/usr/bin/zstd"]),
        "pciutils" => p("pciutils", "1:3.10.0-2build1", "admin", "PCI utilities"),
        "git" => p("git", "1:2.43.0-1ubuntu7.3", "vcs", "fast, scalable, distributed revision control system").standin(&["git"]),
        "cmake" => p("cmake", "3.28.3-1build7", "devel", "cross-platform, open-source make system").standin(&["cmake"]),
        "build-essential" => p("build-essential", "12.10ubuntu1", "devel", "Informational list of build-essential packages")
            .real(&["/usr/bin/gcc", "/usr/bin/g++", "/usr/bin/make", "/usr/bin/cc"]),
        "libcurl4-openssl-dev" => p("libcurl4-openssl-dev", "8.5.0-2ubuntu10.6", "libdevel", "development files and documentation for libcurl (OpenSSL flavour)"),
        "python3-venv" => p("python3-venv", "3.12.3-0ubuntu2", "python", "venv module for python3 (default python3 version)").deps(&["python3"]),
        "python3-pip" => p("python3-pip", "24.0+dfsg-1ubuntu1.2", "python", "Python package installer").deps(&["python3"]).standin(&["pip3", "pip"]),
        "python3-dev" => p("python3-dev", "3.12.3-0ubuntu2", "python", "header files and a static library for Python (default)").deps(&["python3"]),
        "nginx" => p("nginx", "1.24.0-2ubuntu7.4", "httpd", "small, powerful, scalable web/proxy server")
            .standin(&["/usr/sbin/nginx"])
            .unit("nginx.service", &service("A high performance web server and a reverse proxy server", "/usr/sbin/nginx -g 'daemon on; master_process on;'", Some("multi-user.target")))
            .file("/etc/nginx/nginx.conf", "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\nevents {\n\tworker_connections 768;\n}\nhttp {\n\tinclude /etc/nginx/mime.types;\n\tinclude /etc/nginx/conf.d/*.conf;\n\tinclude /etc/nginx/sites-enabled/*;\n}\n")
            .file("/etc/nginx/mime.types", "types {\n\ttext/html html;\n}\n")
            .file("/etc/nginx/sites-available/default", "server {\n\tlisten 80 default_server;\n\troot /var/www/html;\n}\n")
            .file("/var/www/html/index.nginx-debian.html", "<h1>Welcome to nginx!</h1>\n")
            .link("/etc/nginx/sites-enabled/default", "/etc/nginx/sites-available/default"),
        "qemu-guest-agent" => p("qemu-guest-agent", "1:8.2.2+ds-0ubuntu1.7", "admin", "Guest-side qemu-system agent")
            .standin(&["/usr/sbin/qemu-ga"])
            // Ubuntu's unit has no [Install] section: udev starts it when the virtio port exists.
            .unit("qemu-guest-agent.service", "[Unit]\nDescription=QEMU Guest Agent\nBindsTo=dev-virtio\\x2dports-org.qemu.guest_agent.0.device\n\n[Service]\nExecStart=/usr/sbin/qemu-ga\n"),
        "nfs-common" => p("nfs-common", "1:2.6.4-3ubuntu5.1", "net", "NFS support files common to client and server")
            .standin(&["/usr/sbin/mount.nfs", "/usr/sbin/showmount"]),
        // ---- Docker's repository -----------------------------------------------------------
        "docker-ce" => p("docker-ce", "5:28.3.3-1~ubuntu.24.04~noble", "admin", "Docker: the open-source application container engine")
            .repo(Repo::Docker)
            .deps(&["containerd.io", "docker-ce-cli"])
            .standin(&["dockerd"])
            .group("docker")
            .unit("docker.service", &service("Docker Application Container Engine", "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock", Some("multi-user.target"))),
        "docker-ce-cli" => p("docker-ce-cli", "5:28.3.3-1~ubuntu.24.04~noble", "admin", "Docker CLI: the open-source application container engine")
            .repo(Repo::Docker)
            .standin(&["docker"]),
        "containerd.io" => p("containerd.io", "1.7.27-1", "devel", "An open and reliable container runtime")
            .repo(Repo::Docker)
            .standin(&["containerd"])
            .unit("containerd.service", &service("containerd container runtime", "/usr/bin/containerd", Some("multi-user.target"))),
        "docker-buildx-plugin" => p("docker-buildx-plugin", "0.26.1-1~ubuntu.24.04~noble", "admin", "Docker Buildx cli plugin.")
            .repo(Repo::Docker)
            .file("/usr/libexec/docker/cli-plugins/docker-buildx", "pve-sim: docker buildx plugin\n"),
        "docker-compose-plugin" => p("docker-compose-plugin", "2.39.1-1~ubuntu.24.04~noble", "admin", "Docker Compose (V2) plugin for the Docker CLI.")
            .repo(Repo::Docker)
            .file("/usr/libexec/docker/cli-plugins/docker-compose", "pve-sim: docker compose plugin\n"),
        // ---- Smallstep's repository (the step_cli and step_ca features) ----------------------
        "step-cli" => p("step-cli", "0.28.7", "utils", "A zero trust swiss army knife for working with X509, OAuth, JWT, OATH OTP, etc.")
            .repo(Repo::Smallstep)
            .standin(&["step-cli", "step"]),
        "step-ca" => p("step-ca", "0.28.4", "utils", "An online certificate authority and related tools for secure automated certificate management")
            .repo(Repo::Smallstep)
            .standin(&["step-ca"]),
        // ---- NVIDIA's CUDA repository ------------------------------------------------------
        "cuda-keyring" => p("cuda-keyring", "1.1-1", "utils", "GPG keyring for the CUDA repository")
            .repo(Repo::Cuda)
            .file("/usr/share/keyrings/cuda-archive-keyring.gpg", "pve-sim: CUDA archive signing key\n")
            .file(
                "/etc/apt/sources.list.d/cuda-ubuntu2404-x86_64.list",
                &format!("deb [signed-by=/usr/share/keyrings/cuda-archive-keyring.gpg] {}/ /\n", Repo::Cuda.url()),
            ),
        n if cuda_toolkit(n).is_some() => {
            let (major, minor) = cuda_toolkit(n)?;
            let home = format!("/usr/local/cuda-{major}.{minor}");
            p(n, &format!("{major}.{minor}.1-1"), "devel", "CUDA Toolkit meta-package")
                .repo(Repo::Cuda)
                .standin(&[&format!("{home}/bin/nvcc")])
                .file(&format!("{home}/version.json"), &format!("{{\"cuda\": {{\"version\": \"{major}.{minor}.1\"}}}}\n"))
                .link("/usr/local/cuda", &home)
        }
        _ => return None,
    })
}

/// `cuda-toolkit-12-8` -> (12, 8).
fn cuda_toolkit(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix("cuda-toolkit-")?;
    let (a, b) = rest.split_once('-')?;
    let major: u32 = a.parse().ok()?;
    let minor: u32 = b.parse().ok()?;
    (10..=13).contains(&major).then_some((major, minor))
}

/// Packages of both base images whose files are not already in the shared image layer, with
/// the essential ones listed only in the package database.
pub const BASE_COMMON: &[&str] = &[
    "adduser",
    "apt",
    "base-files",
    "base-passwd",
    "bash",
    "bsdutils",
    "coreutils",
    "cron",
    "dash",
    "debconf",
    "debianutils",
    "diffutils",
    "dpkg",
    "e2fsprogs",
    "findutils",
    "grep",
    "gzip",
    "hostname",
    "init-system-helpers",
    "iproute2",
    "less",
    "libc-bin",
    "libc6",
    "login",
    "mawk",
    "mount",
    "ncurses-base",
    "ncurses-bin",
    "netbase",
    "openssh-server",
    "passwd",
    "perl-base",
    "procps",
    "python3",
    "sed",
    "sensible-utils",
    "sudo",
    "systemd",
    "systemd-sysv",
    "sysvinit-utils",
    "tar",
    "ubuntu-keyring",
    "util-linux",
];

/// Extra packages of Ubuntu's cloud image (`noble-server-cloudimg`): the ones Phoenix's VM
/// scripts ask about. No qemu-guest-agent, no jq.
pub const BASE_CLOUD: &[&str] = &[
    "ca-certificates",
    "cloud-init",
    "curl",
    "wget",
    "gnupg",
    "lsb-release",
    "git",
    "locales",
    "tzdata",
];

/// Version recorded for a base package the catalog does not describe.
pub fn base_version(name: &str) -> &'static str {
    match name {
        "bash" => "5.2.21-2ubuntu4",
        "coreutils" => "9.4-3ubuntu6",
        "libc6" | "libc-bin" => "2.39-0ubuntu8.4",
        "base-files" => "13ubuntu10.2",
        "systemd-sysv" => "255.4-1ubuntu8.6",
        _ => "1.0-1ubuntu1",
    }
}
