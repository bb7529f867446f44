//! The one component that prints what happened.
//!
//! Text for people goes to stderr (honouring `-q` and `-v`), JSON lines to stdout with
//! `--output json`. A manager started by the dispatcher finds [`EVENTS_FD`] in its environment
//! and forwards every event as a JSON line on that pipe instead; the dispatcher
//! [`ingest`](Reporter::ingest)s them, so it renders every guest's events and prints one recap.
//! On a terminal, actions that run for more than a second get a progress line
//! (`… CT 950: clone (12s)`) that is cleared before anything else is printed.

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::event::{Event, EventKind, GuestTag};
use crate::recap::Recap;
use crate::render::{event_lines, recap_lines, Verbosity};

/// The environment variable naming the file descriptor a manager forwards its events on.
pub const EVENTS_FD: &str = "PHOENIX_EVENTS_FD";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Text,
    Json,
    Forward,
}

#[derive(Default)]
struct Progress {
    running: Vec<(Option<GuestTag>, String, String, Instant)>,
    shown: bool,
}

pub struct Reporter {
    mode: Mode,
    verbosity: Verbosity,
    forward: Option<Mutex<File>>,
    recap: Mutex<Recap>,
    progress: Option<Arc<Mutex<Progress>>>,
    /// The cluster node this process's host events belong to (`setup --node`).
    node: std::sync::OnceLock<String>,
}

fn stderr_is_terminal() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(2) == 1 }
}

impl Reporter {
    /// A reporter printing itself: text on stderr, or JSON lines on stdout.
    pub fn new(json: bool, verbosity: Verbosity) -> Reporter {
        let mode = if json { Mode::Json } else { Mode::Text };
        let progress = (mode == Mode::Text && !verbosity.quiet && stderr_is_terminal())
            .then(|| start_ticker(Arc::default()));
        Reporter {
            mode,
            verbosity,
            forward: None,
            recap: Mutex::default(),
            progress,
            node: std::sync::OnceLock::new(),
        }
    }

    /// Like [`Reporter::new`], unless [`EVENTS_FD`] names a pipe to the dispatcher: then every
    /// event goes there and nothing is printed.
    pub fn from_env(json: bool, verbosity: Verbosity) -> Reporter {
        let fd = std::env::var(EVENTS_FD)
            .ok()
            .and_then(|v| v.trim().parse::<i32>().ok())
            // SAFETY: fcntl(F_GETFD) only asks whether the descriptor is open.
            .filter(|fd| *fd > 2 && unsafe { libc::fcntl(*fd, libc::F_GETFD) } != -1);
        let Some(fd) = fd else {
            return Reporter::new(json, verbosity);
        };
        // SAFETY: the descriptor is open (checked above) and only this reporter owns it. It is
        // marked close-on-exec, so scripts the manager starts do not inherit the pipe.
        let file = unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            File::from_raw_fd(fd)
        };
        Reporter {
            mode: Mode::Forward,
            verbosity,
            forward: Some(Mutex::new(file)),
            recap: Mutex::default(),
            progress: None,
            node: std::sync::OnceLock::new(),
        }
    }

    /// Whether events go to a dispatcher rather than to the user.
    pub fn forwarding(&self) -> bool {
        self.mode == Mode::Forward
    }

    pub fn json(&self) -> bool {
        self.mode == Mode::Json
    }

    pub fn verbosity(&self) -> Verbosity {
        self.verbosity
    }

    /// From now on, host events (no guest) are node `n`'s (set once: `setup --node`).
    pub fn set_node(&self, n: &str) {
        let _ = self.node.set(n.to_string());
    }

    /// Reports one event.
    pub fn emit(&self, mut e: Event) {
        if let (None, None, Some(n)) = (&e.guest, &e.node, self.node.get()) {
            e.node = Some(n.clone());
        }
        if let Ok(mut r) = self.recap.lock() {
            r.count(&e);
        }
        match self.mode {
            Mode::Forward => {
                if let (Some(f), Ok(line)) = (&self.forward, serde_json::to_string(&e)) {
                    if let Ok(mut f) = f.lock() {
                        let _ = writeln!(f, "{line}");
                    }
                }
            }
            Mode::Json => {
                if let Ok(line) = serde_json::to_string(&e) {
                    let _ = writeln!(std::io::stdout().lock(), "{line}");
                }
            }
            Mode::Text => {
                self.track(&e);
                for l in event_lines(&e, self.verbosity) {
                    self.line(&l);
                }
            }
        }
    }

    /// An event forwarded by a manager (one JSON line); `false` when the line is not one.
    pub fn ingest(&self, line: &str) -> bool {
        match serde_json::from_str::<Event>(line) {
            Ok(e) => {
                self.emit(e);
                true
            }
            Err(_) => false,
        }
    }

    /// A manager call that sent no events: count it by its exit status.
    pub fn count_silent_call(&self, g: Option<GuestTag>, ok: bool) {
        if let Ok(mut r) = self.recap.lock() {
            r.count_silent_call(g, ok);
        }
    }

    /// A host call of node `n` that sent no events: count it by its exit status.
    pub fn count_silent_node(&self, n: &str, ok: bool) {
        if let Ok(mut r) = self.recap.lock() {
            r.count_silent_node(n, ok);
        }
    }

    pub fn recap(&self) -> Recap {
        self.recap.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Prints the recap (text unless `-q`, or one JSON object); a forwarding reporter prints
    /// nothing, the dispatcher does.
    pub fn finish(&self) {
        let recap = self.recap();
        if recap.is_empty() {
            return;
        }
        match self.mode {
            Mode::Forward => {}
            Mode::Json => {
                let _ = writeln!(std::io::stdout().lock(), "{}", recap.to_json());
            }
            Mode::Text if !self.verbosity.quiet => {
                for l in recap_lines(&recap) {
                    self.line(&l);
                }
            }
            Mode::Text => {}
        }
    }

    /// A line for people on stderr (clears the progress line first). Not for data.
    pub fn line(&self, text: &str) {
        let mut err = std::io::stderr().lock();
        if let Some(p) = &self.progress {
            if let Ok(mut p) = p.lock() {
                if p.shown {
                    let _ = write!(err, "\r\x1b[K");
                    p.shown = false;
                }
            }
        }
        let _ = writeln!(err, "{text}");
    }

    /// Keeps the list of running actions for the progress line.
    fn track(&self, e: &Event) {
        let Some(p) = &self.progress else { return };
        let Ok(mut p) = p.lock() else { return };
        let step = e.step.clone().unwrap_or_default();
        match e.event {
            EventKind::Started => p.running.push((
                e.guest,
                step,
                e.action.clone().unwrap_or_default(),
                Instant::now(),
            )),
            EventKind::Changed | EventKind::Failed | EventKind::Unchanged => {
                if let Some(i) = p
                    .running
                    .iter()
                    .position(|(g, s, _, _)| *g == e.guest && *s == step)
                {
                    p.running.remove(i);
                }
            }
            _ => {}
        }
    }
}

/// The progress line for what runs longer than a second: `… CT 950: clone (12s)`.
pub fn progress_line(running: &[(Option<GuestTag>, String, Duration)]) -> Option<String> {
    let parts: Vec<String> = running
        .iter()
        .filter(|(_, _, d)| *d >= Duration::from_secs(1))
        .map(|(g, step, d)| {
            let who = g
                .map(|g| format!("{} {}", g.kind.short(), g.id))
                .unwrap_or_else(|| "host".into());
            format!("{who}: {step} ({}s)", d.as_secs())
        })
        .collect();
    (!parts.is_empty()).then(|| format!("… {}", parts.join(", ")))
}

fn start_ticker(state: Arc<Mutex<Progress>>) -> Arc<Mutex<Progress>> {
    let shared = state.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let Ok(mut p) = shared.lock() else { return };
        let now = Instant::now();
        let running: Vec<(Option<GuestTag>, String, Duration)> = p
            .running
            .iter()
            .map(|(g, s, _, t)| (*g, s.clone(), now.duration_since(*t)))
            .collect();
        let mut err = std::io::stderr().lock();
        match progress_line(&running) {
            Some(l) => {
                let _ = write!(err, "\r\x1b[K{l}");
                p.shown = true;
            }
            None if p.shown => {
                let _ = write!(err, "\r\x1b[K");
                p.shown = false;
            }
            None => {}
        }
        let _ = err.flush();
    });
    state
}
