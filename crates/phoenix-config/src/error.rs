//! Problems found in configuration, kept as data so that every problem of every file can be
//! reported in one pass before anything touches the host.

use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a [`Diagnostic`] is. Warnings become errors under `validate --strict`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

/// One problem, located in a file by JSON path (`lxc_configs.950.memory_mb`) or, for syntax
/// errors, by `line:column`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// Dotted JSON path or `line:column`; empty when the problem concerns the whole file.
    pub location: String,
    pub message: String,
}

impl Diagnostic {
    pub fn error(file: &Path, location: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_path_buf(),
            location: location.into(),
            message: message.into(),
        }
    }

    pub fn warning(file: &Path, location: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, location, message)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        if self.location.is_empty() {
            write!(f, "{level}: {}: {}", self.file.display(), self.message)
        } else {
            write!(
                f,
                "{level}: {}: {}: {}",
                self.file.display(),
                self.location,
                self.message
            )
        }
    }
}

/// The error type of this crate: loading stopped, or validation found errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read or parsed; cross-file checks were not run.
    #[error("{} config file(s) could not be read or parsed", .0.iter().filter(|d| d.severity == Severity::Error).count())]
    Unreadable(Vec<Diagnostic>),
    /// Every file parsed, but validation found at least one error. All diagnostics (warnings
    /// included) are kept so the caller can print them together.
    #[error("{} error(s) in configuration", .0.iter().filter(|d| d.severity == Severity::Error).count())]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// Every diagnostic carried by this error.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Unreadable(v) | ConfigError::Invalid(v) => v.clone(),
        }
    }

    /// Exit code for binaries: 2 for unreadable or malformed files, 1 for invalid content.
    pub fn exit_code(&self) -> i32 {
        match self {
            ConfigError::Unreadable(_) => 2,
            ConfigError::Invalid(_) => 1,
        }
    }
}
