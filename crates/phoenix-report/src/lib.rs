//! Phoenix's one reporter: everything a run tells its user goes through here.
//!
//! Key decision: what happened is data first ([`Event`]: planned, changed, unchanged, failed,
//! skipped, per guest and step, with the attribute diff), text second. The same events are
//! rendered as text (honouring `-q`/`-v`), printed as JSON lines (`--output json`), or forwarded
//! by a manager to the dispatcher over a pipe, so a dispatched run prints one recap for all
//! guests, like Ansible's `953  ok=5 changed=1 failed=0`.
//!
//! - [`event`]: [`Event`], [`Change`] (`memory: 999 -> 1024`), [`GuestTag`];
//! - [`reporter`]: [`Reporter`] (sinks, progress line, forwarding);
//! - [`render`]: the text of events and of the recap; [`recap`]: the counting;
//! - [`status`]: [`GuestStatus`], the one status shape of dispatcher and managers.
//!
//! ```
//! use phoenix_report::{Change, Event, EventKind, GuestTag, Kind, Reporter, Verbosity};
//! let r = Reporter::new(false, Verbosity { quiet: true, verbose: 0 });
//! let g = GuestTag { id: 953, kind: Kind::Lxc };
//! r.emit(Event::new(EventKind::Changed, Some(g)).step("configure")
//!     .changes(vec![Change::new("memory", Some("999"), Some("1024"))]));
//! assert_eq!(r.recap().get(Some(g)).changed, 1);
//! ```

pub mod event;
pub mod recap;
pub mod render;
pub mod reporter;
pub mod status;

pub use event::{Change, Event, EventKind, GuestTag, Kind};
pub use recap::{Recap, Tally};
pub use render::Verbosity;
pub use reporter::{Reporter, EVENTS_FD};
pub use status::{GuestStatus, Sync};

#[cfg(test)]
mod tests;
