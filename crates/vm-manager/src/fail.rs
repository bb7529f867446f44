//! The one error type of the VM manager: a failed step of one VM, printed as
//! `Error: VM <id>: <step>: <what>` (exit 1).

use phoenix_host::ToolError;

/// A step that could not be completed.
#[derive(Debug)]
pub struct Fail {
    pub step: String,
    pub what: String,
}

impl Fail {
    pub fn new(step: impl Into<String>, what: impl Into<String>) -> Fail {
        Fail {
            step: step.into(),
            what: what.into(),
        }
    }
}

/// Shorthand for step results.
pub type StepResult<T> = Result<T, Fail>;

/// Attaches a step name to lower-level errors.
pub trait AtStep<T> {
    fn at(self, step: &str) -> StepResult<T>;
}

impl<T> AtStep<T> for Result<T, ToolError> {
    fn at(self, step: &str) -> StepResult<T> {
        self.map_err(|e| Fail::new(step, e.to_string()))
    }
}

impl<T> AtStep<T> for std::io::Result<T> {
    fn at(self, step: &str) -> StepResult<T> {
        self.map_err(|e| Fail::new(step, e.to_string()))
    }
}
