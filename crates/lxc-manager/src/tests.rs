//! `test` verb: runs the container's test suites through `scripts/tests/test_runner.sh`
//! (PHX-LXC-07), after checking that the runner and every test script it will run exist.

use phoenix_config::Lxc;
use phoenix_guest::{GuestResult, Job, NodeCommand};

pub fn run(job: &Job, lxc: &Lxc) -> GuestResult<()> {
    let tests_dir = job.ctx.env.scripts_dir.join("tests");
    let runner = tests_dir.join("test_runner.sh");
    let suites = &lxc.tests;
    let suite = job.ctx.inv.suite.as_deref();
    if let Some(s) = suite {
        if !suites.contains_key(s) {
            let known: Vec<&str> = suites.keys().map(String::as_str).collect();
            return Err(job.err(
                "test",
                format!(
                    "has no test suite '{s}' (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let mut needed = vec![runner.clone()];
    for (name, list) in suites {
        if suite.is_none_or(|s| s == name) {
            needed.extend(list.iter().map(|t| tests_dir.join(&t.path)));
        }
    }
    crate::features::check_exist(job, &needed)?;
    let mut args = vec![runner.display().to_string(), job.guest.id.to_string()];
    if let Some(s) = suite {
        args.extend(["--suite".to_string(), s.to_string()]);
    }
    // On the node, with the environment contract: here for the local transports, over SSH
    // (scripts staged) for the API's.
    let out = job
        .transport
        .node_run(&NodeCommand {
            program: "bash".into(),
            args,
            env: Vec::new(),
            stream: true,
            what: "test_runner.sh".into(),
        })
        .map_err(|e| job.err("test", e.0))?;
    if out.success() {
        Ok(())
    } else {
        Err(job.err(
            "test",
            format!("test_runner.sh reported failures (exit {})", out.code),
        ))
    }
}
