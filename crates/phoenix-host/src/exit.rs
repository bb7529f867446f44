//! Exit codes shared by every Phoenix binary (documented in docs/architecture.md).

pub const SUCCESS: i32 = 0;
/// Usage error, invalid config content, or a failed step.
pub const FAILURE: i32 = 1;
/// A config file could not be read or parsed.
pub const CONFIG_UNREADABLE: i32 = 2;
/// Another Phoenix run holds the host lock.
pub const LOCKED: i32 = 3;
/// Interrupted by SIGINT.
pub const INTERRUPTED: i32 = 130;
/// Stopped by SIGTERM.
pub const TERMINATED: i32 = 143;
