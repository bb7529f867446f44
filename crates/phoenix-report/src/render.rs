//! Events and the recap as text for people. Pure functions, so the wording is tested by
//! snapshots without running anything.

use crate::event::{Event, EventKind};
use crate::recap::{Recap, Tally};

/// How much text to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verbosity {
    /// `-q`: errors only.
    pub quiet: bool,
    /// `-v` count: 1 adds each action and unchanged steps.
    pub verbose: u8,
}

fn who(e: &Event) -> String {
    match (&e.guest, &e.node) {
        (Some(g), _) => format!("{} {}", g.kind.short(), g.id),
        (None, Some(n)) => format!("host {n}"),
        (None, None) => "host".to_string(),
    }
}

fn step(e: &Event) -> &str {
    e.step.as_deref().unwrap_or("run")
}

/// The lines an event shows as (none when this verbosity hides it).
pub fn event_lines(e: &Event, v: Verbosity) -> Vec<String> {
    if v.quiet && e.event != EventKind::Failed {
        return Vec::new();
    }
    let verbose = v.verbose > 0;
    let mut out = Vec::new();
    let msg = e.message.as_deref();
    let with_details = |out: &mut Vec<String>, show_action: bool| {
        for c in &e.changes {
            out.push(format!("    ~ {c}"));
        }
        if show_action {
            if let Some(a) = &e.action {
                out.push(format!("    $ {a}"));
            }
        }
    };
    match e.event {
        EventKind::Planned => {
            out.push(format!(
                "{}: will {}: {}",
                who(e),
                step(e),
                msg.unwrap_or("differs from the config")
            ));
            // Without attribute changes, the action itself says what will happen.
            with_details(&mut out, verbose || e.changes.is_empty());
        }
        EventKind::Then => out.push(format!("{}: then: {}", who(e), msg.unwrap_or(""))),
        EventKind::Started => {
            if verbose {
                out.push(format!(
                    "{}: {}: running {}",
                    who(e),
                    step(e),
                    e.action.as_deref().unwrap_or("")
                ));
            }
        }
        EventKind::Changed => {
            let time = match (verbose, e.elapsed_ms) {
                (true, Some(ms)) => format!(" ({:.1}s)", ms as f64 / 1000.0),
                _ => String::new(),
            };
            out.push(format!(
                "{}: {}: {}{time}",
                who(e),
                step(e),
                msg.unwrap_or("changed")
            ));
            with_details(&mut out, verbose);
        }
        EventKind::Unchanged => match msg {
            Some(m) => out.push(format!("{}: {m}", who(e))),
            None if verbose => out.push(format!("{}: {}: in the desired state", who(e), step(e))),
            None => {}
        },
        EventKind::Failed => out.push(match (&e.guest, &e.step) {
            (Some(g), Some(s)) => format!("Error: {g}: {s}: {}", msg.unwrap_or("failed")),
            (Some(g), None) => format!("Error: {g}: {}", msg.unwrap_or("failed")),
            (None, _) if e.node.is_some() => {
                format!("Error: {}: {}", who(e), msg.unwrap_or("failed"))
            }
            (None, _) => format!("Error: {}", msg.unwrap_or("failed")),
        }),
        EventKind::Skipped => out.push(format!("info: {}", msg.unwrap_or("skipped"))),
        EventKind::Note => out.push(format!("{}: note: {}", who(e), msg.unwrap_or(""))),
        EventKind::Begin => out.push(match (&e.guest, &e.node) {
            // A node's steps interleave with the other nodes': say whose.
            (None, Some(n)) if !msg.unwrap_or("").contains(n.as_str()) => {
                format!("==> {}: {}", who(e), msg.unwrap_or(""))
            }
            _ => format!("==> {}", msg.unwrap_or("")),
        }),
        EventKind::Done => {
            if let Some(m) = msg {
                out.push(format!("{}: {m}", who(e)));
            }
        }
    }
    out
}

fn tally_line(label: &str, t: &Tally) -> String {
    let mut s = format!(
        "{label:<8} ok={} changed={} failed={} skipped={}",
        t.ok, t.changed, t.failed, t.skipped
    );
    if t.planned > 0 {
        s.push_str(&format!(" planned={}", t.planned));
    }
    s
}

/// `Recap:`, one line per guest in the order they first appeared, and the totals.
pub fn recap_lines(r: &Recap) -> Vec<String> {
    if r.is_empty() {
        return Vec::new();
    }
    let mut out = vec!["Recap:".to_string()];
    let (host, guests) = r
        .rows
        .split_at(r.rows.iter().take_while(|(g, _)| g.is_none()).count());
    for (_, t) in host {
        out.push(format!("  {}", tally_line("host", t)));
    }
    for (n, t) in &r.nodes {
        out.push(format!("  {}", tally_line(&format!("host {n}"), t)));
    }
    for (g, t) in guests {
        let label = g.map(|g| g.id.to_string()).unwrap_or_else(|| "host".into());
        out.push(format!("  {}", tally_line(&label, t)));
    }
    if r.rows.len() + r.nodes.len() > 1 {
        out.push(format!("  {}", tally_line("total", &r.totals())));
    }
    out
}
