//! The other stand-ins: locales, `gpg`, `lsb_release`, NVIDIA (driver runfile installer,
//! `nvidia-smi`, `nvcc`), `nginx`, `git`, `cmake`, and the daemons' own binaries (`ollama`,
//! `vllm`, `llama-server`, ...) when called by hand.

use super::{Ctx, GuestFs};
use crate::host::{Args, Out};
use crate::sandbox::STANDIN;

pub fn run(ctx: &mut Ctx, name: &str, a: &[String]) -> Out {
    match name {
        "locale-gen" => locale_gen(&ctx.fs, a),
        "update-locale" => update_locale(&ctx.fs, a),
        "gpg" => gpg(&ctx.fs, a),
        "lsb_release" => lsb_release(a),
        "nvidia-installer" => nvidia_installer(&ctx.fs, a),
        "nvidia-smi" => nvidia_smi(ctx, a),
        "nvcc" => Out::ok("nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.8, V12.8.93\n"),
        "nginx" => nginx(&ctx.fs, a),
        "git" => git(&ctx.fs, a),
        "cmake" => cmake(&ctx.fs, a),
        "ollama" => Out::ok("ollama version is 0.11.4\n"),
        "traefik" if a.first().is_some_and(|x| x == "version") => Out::ok(
            "Version:      3.5.0\nCodename:     chabichou\nGo version:   go1.24.5\nBuilt:        2025-07-23T14:03:36Z\nOS/Arch:      linux/amd64\n",
        ),
        "traefik" => Out::err(
            1,
            "pve-sim: traefik runs as its service (systemctl start traefik); only 'traefik version' is simulated",
        ),
        "vllm" => Out::ok("0.10.1.1\n"),
        "llama-server" => Out::ok("version: 6000 (pve-sim)\n"),
        "dockerd" | "containerd" | "qemu-ga" => Out::ok(format!("{name} (pve-sim stand-in)\n")),
        other => Out::err(127, format!("pve-sim: {other}: not simulated")),
    }
}

/// `en_US.UTF-8` -> `en_US.utf8`, as `locale -a` lists it.
fn normalise_locale(l: &str) -> String {
    match l.split_once('.') {
        Some((lang, cs)) => format!("{lang}.{}", cs.to_lowercase().replace('-', "")),
        None => l.to_string(),
    }
}

fn generated(fs: &GuestFs) -> Vec<String> {
    fs.list("/usr/lib/locale")
}

fn locale_gen(fs: &GuestFs, a: &[String]) -> Out {
    let mut wanted: Vec<String> = a.iter().filter(|x| !x.starts_with('-')).cloned().collect();
    if wanted.is_empty() {
        wanted = fs
            .read("/etc/locale.gen")
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
    }
    let mut out = String::from("Generating locales (this might take a while)...\n");
    let mut changed = false;
    for l in &wanted {
        let lang = l.split('.').next().unwrap_or("");
        if lang.len() < 2
            || !lang
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@')
        {
            return Out::err(
                1,
                format!("Error: '{l}' is not a supported language or locale"),
            );
        }
        let dir = format!("/usr/lib/locale/{}", normalise_locale(l));
        if !fs.exists(&format!("{dir}/LC_IDENTIFICATION")) {
            // The C.utf8 data under the new name: enough for `locale -a` to list it.
            for f in fs.list("/usr/lib/locale/C.utf8") {
                let src = fs.path(&format!("/usr/lib/locale/C.utf8/{f}"));
                if src.is_file() {
                    if let Ok(data) = std::fs::read(&src) {
                        let _ = fs.write(&format!("{dir}/{f}"), &data);
                    }
                }
            }
            let _ = fs.write(
                &format!("{dir}/LC_IDENTIFICATION"),
                format!("pve-sim {l}\n").as_bytes(),
            );
            let line = format!("{l} {}\n", l.split('.').nth(1).unwrap_or("UTF-8"));
            let cur = fs
                .read("/var/lib/locales/supported.d/local")
                .unwrap_or_default();
            if !cur.contains(&line) {
                let _ = fs.write(
                    "/var/lib/locales/supported.d/local",
                    format!("{cur}{line}").as_bytes(),
                );
            }
            changed = true;
        }
        out.push_str(&format!("  {l}... done\n"));
    }
    out.push_str("Generation complete.\n");
    Out {
        code: 0,
        stdout: out,
        stderr: String::new(),
        mutating: changed,
    }
}

fn update_locale(fs: &GuestFs, a: &[String]) -> Out {
    let checks = !a.iter().any(|x| x == "--no-checks");
    let mut text = fs.read("/etc/default/locale").unwrap_or_default();
    for kv in a.iter().filter(|x| x.contains('=')) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        let known = ["C", "C.UTF-8", "C.utf8", "POSIX"].contains(&v)
            || generated(fs).contains(&normalise_locale(v));
        if checks && !known {
            return Out::err(
                1,
                format!("*** update-locale: Error: invalid locale settings:  {k}={v}"),
            );
        }
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{k}=")))
            .map(str::to_string)
            .collect();
        lines.push(format!("{k}={v}"));
        text = lines.join("\n") + "\n";
    }
    match fs.write("/etc/default/locale", text.as_bytes()) {
        Ok(()) => Out::changed(""),
        Err(e) => Out::err(1, e.msg),
    }
}

fn gpg(fs: &GuestFs, a: &[String]) -> Out {
    let args = Args::parse(a, &["o", "output"]);
    if !args.has(&["dearmor"]) {
        return Out::err(2, "pve-sim: only 'gpg --dearmor' is simulated");
    }
    let input = match args.pos.first() {
        Some(f) => fs.read(f).unwrap_or_default(),
        None => {
            let mut s = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut s);
            s
        }
    };
    if !input.contains("BEGIN PGP PUBLIC KEY BLOCK") {
        return Out::err(2, "gpg: no valid OpenPGP data found.");
    }
    let data = format!("pve-sim dearmored key\n{input}");
    match args.val(&["o", "output"]) {
        Some(f) if f != "-" => match fs.write(f, data.as_bytes()) {
            Ok(()) => Out::changed(""),
            Err(e) => Out::err(2, e.msg),
        },
        _ => Out::ok(data),
    }
}

fn lsb_release(a: &[String]) -> Out {
    let args = Args::parse(a, &[]);
    let short = args.has(&["s", "short"]);
    let mut out = String::new();
    let mut field = |flag: &[&str], label: &str, value: &str| {
        if args.has(flag) || args.has(&["a", "all"]) {
            if short {
                out.push_str(&format!("{value}\n"));
            } else {
                out.push_str(&format!("{label}:\t{value}\n"));
            }
        }
    };
    field(&["i", "id"], "Distributor ID", "Ubuntu");
    field(&["d", "description"], "Description", "Ubuntu 24.04.2 LTS");
    field(&["r", "release"], "Release", "24.04");
    field(&["c", "codename"], "Codename", "noble");
    Out::ok(out)
}

/// The user-space driver version installed in the guest (from its `libnvidia-ml.so.<v>`).
fn guest_driver(fs: &GuestFs) -> Option<String> {
    fs.list("/usr/lib/x86_64-linux-gnu")
        .into_iter()
        .find_map(|f| f.strip_prefix("libnvidia-ml.so.").map(str::to_string))
}

/// What the driver runfile does in a container: the user-space libraries and tools, no kernel
/// module (the host's).
fn nvidia_installer(fs: &GuestFs, a: &[String]) -> Out {
    let version = a
        .iter()
        .find_map(|x| x.strip_prefix("--pve-sim-version="))
        .unwrap_or("")
        .to_string();
    if !a.iter().any(|x| x == "--no-kernel-module") {
        return Out::err(1, "ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this kernel module was built against the wrong or improperly configured kernel sources (in a container, install with --no-kernel-module: the host provides the module).");
    }
    if version.is_empty() {
        return Out::err(1, "ERROR: pve-sim: runfile without a version");
    }
    if let Some(old) = guest_driver(fs) {
        fs.remove(&format!("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{old}"));
        fs.remove(&format!("/usr/lib/x86_64-linux-gnu/libcuda.so.{old}"));
    }
    let steps = || -> crate::R<()> {
        fs.write(
            &format!("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.{version}"),
            b"pve-sim: NVML\n",
        )?;
        fs.write(
            &format!("/usr/lib/x86_64-linux-gnu/libcuda.so.{version}"),
            b"pve-sim: CUDA driver\n",
        )?;
        fs.symlink(STANDIN, "/usr/bin/nvidia-smi")?;
        Ok(())
    };
    match steps() {
        Ok(()) => Out::changed(format!("Verifying archive integrity... OK\nUncompressing NVIDIA Accelerated Graphics Driver for Linux-x86_64 {version}\n")),
        Err(e) => Out::err(1, e.msg),
    }
}

/// GPU indices whose `/dev/nvidiaN` the container's config passes through.
fn passed_gpus(ctx: &Ctx) -> Vec<usize> {
    let p = crate::state::Node::open(ctx.state.to_path_buf())
        .ok()
        .and_then(|n| {
            let id = ctx.vmid;
            n.owner(id).map(|(on, k)| n.peer(&on).conf_path(k, id))
        })
        .unwrap_or_else(|| ctx.state.join(format!("etc/pve/lxc/{}.conf", ctx.vmid)));
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let main = text.split("\n[").next().unwrap_or("");
    let mut out = Vec::new();
    for word in main.split(|c: char| c.is_whitespace() || c == ',' || c == '=') {
        if let Some(n) = word
            .strip_prefix("/dev/nvidia")
            .and_then(|r| r.parse::<usize>().ok())
        {
            if !out.contains(&n) {
                out.push(n);
            }
        }
    }
    out
}

fn nvidia_smi(ctx: &mut Ctx, a: &[String]) -> Out {
    let Some(lib) = guest_driver(&ctx.fs) else {
        return Out::err(127, "nvidia-smi: command not found");
    };
    let host_version = crate::host::state::Host::open(&ctx.state)
        .ok()
        .and_then(|h| h.state.nvidia.driver.clone());
    match host_version {
        None => Out::err(9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running."),
        Some(v) if v != lib => Out::err(18, format!("Failed to initialize NVML: Driver/library version mismatch\nNVML library version: {lib}")),
        Some(_) => {
            let visible = if ctx.tool == "pct" { passed_gpus(ctx) } else { Vec::new() };
            crate::host::container_nvidia_smi(&ctx.state, &visible, a)
        }
    }
}

fn nginx(fs: &GuestFs, a: &[String]) -> Out {
    let args = Args::parse(a, &["s", "c", "g", "p"]);
    if args.has(&["v", "V"]) {
        return Out::err(0, "nginx version: nginx/1.24.0 (Ubuntu)");
    }
    if args.has(&["t", "T"]) {
        // The whole configuration as nginx reads it (pve-sim-services' checker: directives,
        // contexts, includes, certificate files), worded as nginx words it.
        let conf = args
            .val(&["c"])
            .unwrap_or("/etc/nginx/nginx.conf")
            .to_string();
        return match pve_sim_services::checks::nginx::test(&fs.path("/"), &conf) {
            Ok(text) => Out::err(0, text.trim_end()),
            Err(text) => Out::err(1, text.trim_end()),
        };
    }
    Out::ok("")
}

fn git(fs: &GuestFs, a: &[String]) -> Out {
    let args = Args::parse(a, &["depth", "branch", "b", "C"]);
    match args.pos.first().map(String::as_str) {
        Some("clone") => {
            let Some(url) = args.pos.get(1) else {
                return Out::err(129, "fatal: You must specify a repository to clone.");
            };
            let name = url
                .trim_end_matches('/')
                .trim_end_matches(".git")
                .rsplit('/')
                .next()
                .unwrap_or("repo")
                .to_string();
            let dir = args.pos.get(2).cloned().unwrap_or(name);
            let host = url.split('/').nth(2).unwrap_or("");
            if host != "github.com" {
                return Out::err(128, format!("Cloning into '{dir}'...\nfatal: unable to access '{url}/': Could not resolve host: {host}"));
            }
            if !fs.list(&dir).is_empty() {
                return Out::err(128, format!("fatal: destination path '{dir}' already exists and is not an empty directory."));
            }
            let branch = args.val(&["branch", "b"]).unwrap_or("master");
            let steps = || -> crate::R<()> {
                fs.write(
                    &format!("{dir}/.git/HEAD"),
                    format!("ref: refs/heads/{branch}\n").as_bytes(),
                )?;
                fs.write(
                    &format!("{dir}/.git/config"),
                    format!("[remote \"origin\"]\n\turl = {url}\n").as_bytes(),
                )?;
                fs.write(&format!("{dir}/CMakeLists.txt"), b"# pve-sim: source tree\ncmake_minimum_required(VERSION 3.14)\nproject(\"llama.cpp\" C CXX)\n")?;
                fs.write(
                    &format!("{dir}/README.md"),
                    format!("pve-sim: checkout of {url} ({branch})\n").as_bytes(),
                )?;
                Ok(())
            };
            match steps() {
                Ok(()) => Out {
                    code: 0,
                    stdout: String::new(),
                    stderr: format!("Cloning into '{dir}'...\n"),
                    mutating: true,
                },
                Err(e) => Out::err(128, format!("fatal: {}", e.msg)),
            }
        }
        Some("--version") | Some("version") => Out::ok("git version 2.43.0\n"),
        Some(other) => Out::err(1, format!("pve-sim: 'git {other}' is not simulated")),
        None => Out::err(1, "usage: git [--version] <command> [<args>]"),
    }
}

fn cmake(fs: &GuestFs, a: &[String]) -> Out {
    let args = Args::parse(
        a,
        &[
            "S", "B", "D", "build", "config", "j", "target", "t", "parallel",
        ],
    );
    if let Some(build) = args.val(&["build"]) {
        let cache = format!("{build}/CMakeCache.txt");
        let Some(text) = fs.read(&cache) else {
            return Out::err(1, format!("Error: {build} is not a directory or has no CMakeCache.txt; run the configure step first"));
        };
        let target = args.val(&["target", "t"]).unwrap_or("all");
        let bin = if target == "all" {
            "llama-server"
        } else {
            target
        };
        if let Err(e) = fs.symlink(STANDIN, &format!("{build}/bin/{bin}")) {
            return Out::err(1, e.msg);
        }
        let cuda = text.contains("GGML_CUDA:BOOL=ON");
        return Out::changed(format!(
            "[100%] Built target {bin}{}\n",
            if cuda { " (CUDA)" } else { "" }
        ));
    }
    if args.has(&["version"]) {
        return Out::ok("cmake version 3.28.3\n");
    }
    let (Some(src), Some(build)) = (args.val(&["S"]), args.val(&["B"])) else {
        return Out::err(
            1,
            "pve-sim: cmake needs -S <source> -B <build> or --build <dir>",
        );
    };
    if !fs.exists(&format!("{src}/CMakeLists.txt")) {
        return Out::err(1, format!("CMake Error: The source directory \"{src}\" does not appear to contain CMakeLists.txt."));
    }
    let mut cache = String::from("# pve-sim CMakeCache\n");
    for o in &args.opts {
        if let ("D", Some(v)) = (o.0.as_str(), &o.1) {
            let (k, val) = v.split_once('=').unwrap_or((v, ""));
            if k == "CMAKE_CUDA_COMPILER" && !fs.exists(val) {
                return Out::err(1, format!("CMake Error: Could not find compiler set in environment variable CUDACXX or CMAKE_CUDA_COMPILER:\n\n{val}"));
            }
            cache.push_str(&format!("{k}:BOOL={val}\n"));
        }
    }
    match fs.write(&format!("{build}/CMakeCache.txt"), cache.as_bytes()) {
        Ok(()) => Out::changed(format!("-- Configuring done\n-- Generating done\n-- Build files have been written to: {build}\n")),
        Err(e) => Out::err(1, e.msg),
    }
}
