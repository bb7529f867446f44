//! The guest core: what `lxc-manager` and `vm-manager` share, so neither solves a problem the
//! other already solved.
//!
//! Key decision: a manager never acts while it checks. It observes the live guest, builds a
//! [`Step`] of [`Action`]s (API requests in method/path/parameters form, work inside the guest,
//! work on the node) with a reason and the attribute diff for each, and hands the step to
//! [`Job::apply`], the only code that decides whether anything runs: under `--dry-run` the step
//! is reported as planned, otherwise its actions go through a [`Transport`]: `local`
//! ([`LocalTransport`]: `pct`/`qm` on the node), `pvesh` or `api` ([`api::ApiTransport`]:
//! the same requests through `pvesh` or HTTPS, node-local work on the node or over SSH),
//! chosen per run ([`connect`]). A phase that needs an earlier phase's result
//! (the clone's config before configuring it) is planned when reached; a dry run ends there and
//! says what follows (`then: ...`).
//!
//! - [`job`]: [`Job`], one guest and one verb (context, observation, reporting);
//! - [`plan`]: [`Step`], [`Action`], [`Op`]; [`apply`]: the executor;
//! - [`transport`]: the [`Transport`] trait; [`local`]: the `local` transport; [`api`] with
//!   [`carrier`] (`pvesh`, HTTPS): the `pvesh` and `api` transports; [`node`], [`ssh`]:
//!   node-local work here or over SSH; [`connect`]: choosing one, the API settings;
//! - [`observe`]: the dispatcher's bulk observation handed to managers;
//! - [`firewall`]: `.fw` files (a guest's whole; Phoenix's marked rules in `cluster.fw`);
//! - [`record`]: what was done inside a guest, one format (reads both old ones);
//! - [`lifecycle`]: start (polled, retried), stop, restart, delete, snapshots, status;
//! - [`error`]: [`GuestError`], carrying guest and step.

pub mod api;
pub mod apply;
pub mod carrier;
pub mod connect;
pub mod error;
pub mod firewall;
pub mod job;
pub mod lifecycle;
pub mod local;
pub mod node;
pub mod observe;
pub mod placement;
pub mod plan;
pub mod raw;
pub mod record;
pub mod ssh;
pub mod transport;

pub use apply::Applied;
pub use error::{GuestError, GuestResult, TransportError};
pub use job::Job;
pub use local::LocalTransport;
pub use plan::{Action, GuestOp, NodeCommand, NodeOp, Op, Payload, Require, Settle, Step, Target};
pub use transport::{ExecOutput, Transport};

/// The whole `main` of a guest manager: parses the command line, loads the config, routes the
/// verb (`route` returns the exit code; `delete --unmanaged` goes to `delete` instead),
/// reports a failure once and the recap.
pub fn run_manager(
    (name, about, verbs): (&str, &str, &'static [&'static str]),
    kind: phoenix_config::GuestKind,
    route: impl FnOnce(&Job) -> GuestResult<i32>,
    delete: impl FnOnce(&Job) -> GuestResult<()>,
) -> i32 {
    let ctx = match phoenix_host::manager::start(name, about, verbs, true) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = connect::check_verb(&ctx.env, &ctx.config, ctx.inv.verb) {
        eprintln!("Error: {e}");
        return phoenix_host::exit::FAILURE;
    }
    let job = match Job::new(&ctx, kind) {
        Ok(j) => j,
        Err(e) => {
            eprintln!(
                "Error: {} {}: transport {}: {e}",
                kind,
                ctx.id(),
                ctx.env.transport
            );
            return phoenix_host::exit::FAILURE;
        }
    };
    let result = if ctx.inv.unmanaged {
        lifecycle::delete_unmanaged(&job, delete).map(|_| 0)
    } else {
        route(&job)
    };
    match result {
        Ok(code) => {
            job.finish();
            code
        }
        Err(e) => finish(&job, Err(e)),
    }
}

/// Runs a manager verb and turns its outcome into the exit code: a failed step is reported
/// once (`Error: container 950: start: ...`), then the recap.
pub fn finish(job: &Job, result: GuestResult<()>) -> i32 {
    let code = match &result {
        Ok(()) => phoenix_host::exit::SUCCESS,
        Err(e) => {
            job.failed(e);
            phoenix_host::exit::FAILURE
        }
    };
    job.finish();
    code
}
