//! The one error of a guest manager: which guest, which step, what went wrong.

use phoenix_report::GuestTag;

/// A failed step of one guest, printed as `Error: container 950: start: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{step}: {message}")]
pub struct GuestError {
    pub guest: GuestTag,
    pub step: String,
    pub message: String,
}

impl GuestError {
    pub fn new(guest: GuestTag, step: impl Into<String>, message: impl Into<String>) -> Self {
        GuestError {
            guest,
            step: step.into(),
            message: message.into(),
        }
    }

    /// `container 950: start: <message>`.
    pub fn line(&self) -> String {
        format!("{}: {self}", self.guest)
    }
}

pub type GuestResult<T> = Result<T, GuestError>;

/// Why a transport could not carry a request or an action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

impl From<phoenix_host::ToolError> for TransportError {
    fn from(e: phoenix_host::ToolError) -> Self {
        TransportError(e.to_string())
    }
}

impl From<std::io::Error> for TransportError {
    fn from(e: std::io::Error) -> Self {
        TransportError(e.to_string())
    }
}
