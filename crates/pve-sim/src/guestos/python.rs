//! `python3` and `pip`: the interpreter is the host's real one (a guest's `python3 -c ...`
//! runs for real); what needs the network is simulated: `python3 -m venv` (needs
//! python3-venv, as on Ubuntu) makes the venv layout, and `pip install` puts a package's
//! import module (with `__version__`) and metadata into the venv's site-packages, plus the
//! console script for packages that have one (`vllm`). The system pip refuses to install
//! (PEP 668, "externally-managed-environment"), as Ubuntu 24.04's does.

use std::path::Path;
use std::process::Command;

use super::apt::Db;
use super::{Ctx, GuestFs};
use crate::host::Out;
use crate::sandbox::{HOST_USR, STANDIN};

const PYVER: &str = "3.12";

/// The venv an interpreter or pip path (`/opt/vllm/bin/python`) belongs to.
fn venv_of(fs: &GuestFs, argv0: &str) -> Option<String> {
    if !argv0.contains('/') {
        return None;
    }
    let bin = Path::new(argv0).parent()?;
    let dir = bin.parent()?.to_string_lossy().into_owned();
    fs.exists(&format!("{dir}/pyvenv.cfg")).then_some(dir)
}

fn site_packages(venv: Option<&str>) -> String {
    match venv {
        Some(v) => format!("{v}/lib/python{PYVER}/site-packages"),
        None => format!("/usr/local/lib/python{PYVER}/dist-packages"),
    }
}

fn make_venv(fs: &GuestFs, dir: &str, with_pip: bool) -> Out {
    if !Db::load(fs).installed("python3-venv") {
        return Out::err(1, format!("The virtual environment was not created successfully because ensurepip is not\navailable.  On Debian/Ubuntu systems, you need to install the python3-venv\npackage using the following command.\n\n    apt install python3.12-venv\n\nYou may need to use sudo with that command.  After installing the python3-venv\npackage, recreate your virtual environment.\n\nFailing command: {dir}/bin/python3\n"));
    }
    let steps = || -> crate::R<()> {
        fs.write(&format!("{dir}/pyvenv.cfg"), format!("home = /usr/bin\ninclude-system-site-packages = false\nversion = {PYVER}.3\nexecutable = /usr/bin/python{PYVER}\ncommand = /usr/bin/python3 -m venv {dir}\n").as_bytes())?;
        for n in ["python", "python3", &format!("python{PYVER}")] {
            fs.symlink(STANDIN, &format!("{dir}/bin/{n}"))?;
        }
        fs.mkdir(&format!("{dir}/lib/python{PYVER}/site-packages"))?;
        if with_pip {
            for n in ["pip", "pip3"] {
                fs.symlink(STANDIN, &format!("{dir}/bin/{n}"))?;
            }
            record(fs, Some(dir), "pip", "24.0")?;
        }
        Ok(())
    };
    match steps() {
        Ok(()) => Out::changed(""),
        Err(e) => Out::err(1, e.msg),
    }
}

/// Newest version "PyPI" has of a package.
fn latest(name: &str) -> &'static str {
    match name {
        "vllm" => "0.10.1.1",
        "pip" => "25.2",
        "torch" => "2.7.1",
        _ => "1.0.0",
    }
}

fn installed_version(fs: &GuestFs, venv: Option<&str>, name: &str) -> Option<String> {
    let sp = site_packages(venv);
    fs.list(&sp).into_iter().find_map(|d| {
        let rest = d.strip_suffix(".dist-info")?;
        let (n, v) = rest.rsplit_once('-')?;
        (n.eq_ignore_ascii_case(name)).then(|| v.to_string())
    })
}

fn record(fs: &GuestFs, venv: Option<&str>, name: &str, version: &str) -> crate::R<()> {
    let sp = site_packages(venv);
    for d in fs.list(&sp) {
        if d.to_lowercase()
            .starts_with(&format!("{}-", name.to_lowercase()))
            && d.ends_with(".dist-info")
        {
            fs.remove(&format!("{sp}/{d}"));
        }
    }
    let module = name.replace('-', "_");
    fs.write(
        &format!("{sp}/{module}/__init__.py"),
        format!("# pve-sim: stand-in for the {name} package\n__version__ = \"{version}\"\n")
            .as_bytes(),
    )?;
    fs.write(
        &format!("{sp}/{name}-{version}.dist-info/METADATA"),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").as_bytes(),
    )?;
    if name == "vllm" {
        if let Some(v) = venv {
            fs.symlink(STANDIN, &format!("{v}/bin/vllm"))?;
        }
    }
    Ok(())
}

/// `pip install [-U] [--no-cache-dir] spec...`, `pip --version`, `pip show`.
fn pip_run(fs: &GuestFs, venv: Option<&str>, argv: &[String]) -> Out {
    match argv.first().map(String::as_str) {
        Some("--version") | Some("-V") => {
            let v = installed_version(fs, venv, "pip").unwrap_or_else(|| "24.0".into());
            return Out::ok(format!(
                "pip {v} from {}/pip (python {PYVER})\n",
                site_packages(venv)
            ));
        }
        Some("show") => {
            let n = argv.get(1).cloned().unwrap_or_default();
            return match installed_version(fs, venv, &n) {
                Some(v) => Out::ok(format!("Name: {n}\nVersion: {v}\n")),
                None => Out::err(1, format!("WARNING: Package(s) not found: {n}")),
            };
        }
        Some("install") => {}
        _ => {
            return Out::err(
                1,
                "pve-sim: only 'pip install', 'pip show' and 'pip --version' are simulated",
            )
        }
    }
    if venv.is_none() && !argv.iter().any(|a| a == "--break-system-packages") {
        return Out::err(1, "error: externally-managed-environment\n\n\u{d7} This environment is externally managed\n\u{2570}\u{2500}> To install Python packages system-wide, try apt install\n    python3-xyz, where xyz is the package you are trying to\n    install.\n\nnote: If you believe this is a mistake, please contact your Python installation or OS distribution provider. You can override this, at the risk of breaking your Python installation or OS, by passing --break-system-packages.");
    }
    let upgrade = argv.iter().any(|a| a == "-U" || a == "--upgrade");
    let specs: Vec<&String> = argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if specs.is_empty() {
        return Out::err(
            1,
            "ERROR: You must give at least one requirement to install (see \"pip help install\")",
        );
    }
    let mut out = String::new();
    let mut done = Vec::new();
    for spec in specs {
        let (name, pin) = match spec.split_once("==") {
            Some((n, v)) => (
                n.split('[').next().unwrap_or(n).to_string(),
                Some(v.to_string()),
            ),
            None => (
                spec.split(['[', '>', '<', '='])
                    .next()
                    .unwrap_or(spec)
                    .to_string(),
                None,
            ),
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Out::err(1, format!("ERROR: Invalid requirement: '{spec}'"));
        }
        let want = pin.clone().unwrap_or_else(|| latest(&name).to_string());
        let have = installed_version(fs, venv, &name);
        if have.as_deref() == Some(want.as_str()) || (have.is_some() && pin.is_none() && !upgrade) {
            out.push_str(&format!(
                "Requirement already satisfied: {name} in {}\n",
                site_packages(venv)
            ));
            continue;
        }
        if let Err(e) = record(fs, venv, &name, &want) {
            return Out::err(1, e.msg);
        }
        done.push(format!("{name}-{want}"));
    }
    if !done.is_empty() {
        out.push_str(&format!("Successfully installed {}\n", done.join(" ")));
    }
    Out {
        code: 0,
        stdout: out,
        stderr: String::new(),
        mutating: !done.is_empty(),
    }
}

/// `pip` / `pip3` (a venv's, or the system one).
pub fn pip(ctx: &mut Ctx, argv0: &str, argv: &[String]) -> Out {
    let venv = venv_of(&ctx.fs, argv0);
    pip_run(&ctx.fs, venv.as_deref(), argv)
}

/// `python3`: `-m venv` and `-m pip` simulated, everything else run by the real interpreter
/// (a venv's sees its site-packages).
pub fn python(ctx: &mut Ctx, argv0: &str, argv: &[String]) -> Out {
    let venv = venv_of(&ctx.fs, argv0);
    if argv.first().map(String::as_str) == Some("-m") {
        match argv.get(1).map(String::as_str) {
            Some("venv") => {
                let with_pip = !argv.iter().any(|a| a == "--without-pip");
                let Some(dir) = argv[2..].iter().find(|a| !a.starts_with('-')) else {
                    return Out::err(2, "usage: venv [-h] ENV_DIR [ENV_DIR ...]\nvenv: error: the following arguments are required: ENV_DIR");
                };
                return make_venv(&ctx.fs, dir, with_pip);
            }
            Some("pip") => return pip_run(&ctx.fs, venv.as_deref(), &argv[2..]),
            _ => {}
        }
    }
    let real = format!("{HOST_USR}/bin/python3");
    let mut cmd = Command::new(&real);
    cmd.args(argv);
    if let Some(v) = &venv {
        cmd.env("PYTHONPATH", site_packages(Some(v)));
        cmd.env("VIRTUAL_ENV", v);
    }
    match cmd.status() {
        Ok(st) => Out {
            code: st.code().unwrap_or(1),
            ..Out::default()
        },
        Err(e) => Out::err(
            127,
            format!("pve-sim: python3: the host's interpreter ({real}) cannot run: {e}"),
        ),
    }
}
