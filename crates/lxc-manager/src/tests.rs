//! `test` verb: runs the container's test suites through `scripts/tests/test_runner.sh`
//! (PHX-LXC-07), after checking that the runner and every test script it will run exist.

use phoenix_config::Lxc;
use phoenix_guest::{GuestResult, Job};

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
    let out = phoenix_guest::lifecycle::run_test_runner(job, &runner)?;
    if out.success() {
        Ok(())
    } else {
        Err(job.err(
            "test",
            format!("test_runner.sh reported failures (exit {})", out.code),
        ))
    }
}
