//! [`FileTarget`]s over the run's node-local work ([`NodeWork`]): the host's files (under
//! `PHOENIX_HOST_ROOT`) and a container's files (`pct exec` / `pct push` only), so the sync
//! reaches the node the same way as every other verb: here, or over SSH for the `api`
//! transport. Commands are argv vectors; no shell line is ever built.

use std::path::Path;

use phoenix_gateway::apply::{ApplyError, FileTarget, Output};
use phoenix_guest::node::NodeWork;
use phoenix_guest::{NodeCommand, Payload};
use phoenix_host::HostEnv;

fn io(target: &str, path: &str, why: impl std::fmt::Display) -> ApplyError {
    ApplyError::Io {
        target: target.to_string(),
        path: path.to_string(),
        why: why.to_string(),
    }
}

/// The host's files and programs.
pub struct NodeFiles<'a> {
    pub node: &'a dyn NodeWork,
    pub env: &'a HostEnv,
}

impl NodeFiles<'_> {
    /// Runs `argv` on the node, output captured.
    pub fn exec(&self, argv: &[String]) -> Result<Output, String> {
        let (prog, args) = argv.split_first().ok_or("empty command")?;
        let out = self
            .node
            .run(&NodeCommand {
                program: prog.into(),
                args: args.to_vec(),
                env: vec![],
                stream: false,
                what: prog.clone(),
            })
            .map_err(|e| e.0)?;
        Ok(Output {
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl FileTarget for NodeFiles<'_> {
    fn name(&self) -> String {
        "host".into()
    }

    fn read(&mut self, path: &str) -> Result<Option<String>, ApplyError> {
        let p = self.env.host_path(Path::new(path));
        match self.node.read(&p).map_err(|e| io("host", path, e.0))? {
            None => Ok(None),
            Some(b) => String::from_utf8(b)
                .map(Some)
                .map_err(|_| io("host", path, "not UTF-8 text")),
        }
    }

    fn write(&mut self, path: &str, text: &str, mode: u32) -> Result<(), ApplyError> {
        let p = self.env.host_path(Path::new(path));
        self.node
            .write(&p, text.as_bytes(), mode & 0o077 == 0)
            .map_err(|e| io("host", path, e.0))
    }

    fn remove(&mut self, path: &str) -> Result<(), ApplyError> {
        let p = self.env.host_path(Path::new(path));
        self.node
            .remove(&p)
            .map(|_| ())
            .map_err(|e| io("host", path, e.0))
    }

    fn run(&mut self, argv: &[String]) -> Result<Output, ApplyError> {
        self.exec(argv).map_err(|e| io("host", &argv.join(" "), e))
    }
}

/// A container's files, through `pct exec` and `pct push`.
pub struct CtFiles<'a> {
    pub node: &'a dyn NodeWork,
    pub ctid: u64,
}

impl CtFiles<'_> {
    fn exec(&self, argv: &[&str]) -> Result<Output, ApplyError> {
        let a: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        let out = self
            .node
            .ct_exec(self.ctid, &a)
            .map_err(|e| io(&self.name(), &a.join(" "), e.0))?;
        Ok(Output {
            code: out.code,
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }
}

impl FileTarget for CtFiles<'_> {
    fn name(&self) -> String {
        format!("CT {}", self.ctid)
    }

    fn read(&mut self, path: &str) -> Result<Option<String>, ApplyError> {
        if self.exec(&["test", "-f", path])?.code != 0 {
            return Ok(None);
        }
        let out = self.exec(&["cat", path])?;
        if out.code != 0 {
            return Err(io(&self.name(), path, out.stderr.trim()));
        }
        Ok(Some(out.stdout))
    }

    fn write(&mut self, path: &str, text: &str, mode: u32) -> Result<(), ApplyError> {
        let staged = format!("{path}.phoenix-new");
        if let Some((dir, _)) = path.rsplit_once('/').filter(|(d, _)| !d.is_empty()) {
            let out = self.exec(&["mkdir", "-p", dir])?;
            if out.code != 0 {
                return Err(io(&self.name(), path, out.stderr.trim()));
            }
        }
        self.node
            .ct_push(
                self.ctid,
                &Payload::Bytes(text.as_bytes().to_vec()),
                &staged,
                Some(&format!("{mode:o}")),
            )
            .map_err(|e| io(&self.name(), path, e.0))?;
        let mv = self.exec(&["mv", "-f", &staged, path])?;
        if mv.code != 0 {
            return Err(io(&self.name(), path, mv.stderr.trim()));
        }
        Ok(())
    }

    fn remove(&mut self, path: &str) -> Result<(), ApplyError> {
        let out = self.exec(&["rm", "-f", path])?;
        if out.code != 0 {
            return Err(io(&self.name(), path, out.stderr.trim()));
        }
        Ok(())
    }

    fn run(&mut self, argv: &[String]) -> Result<Output, ApplyError> {
        let a: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.exec(&a)
    }
}
