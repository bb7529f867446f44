//! The dispatcher's library: the command line, the plan (what to run, in which order), the
//! executor (running managers, in parallel where the graph allows), and the verbs answered
//! without a manager (`status`, `validate`, `graph`). `main.rs` only wires them together; the
//! split lets benchmarks and tests reach the planner directly.

pub mod cli;
pub mod graph;
pub mod host;
pub mod legacy;
pub mod plan;
pub mod run;
pub mod status;
pub mod synth;
