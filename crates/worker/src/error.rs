//! How a hop can fail, as the consumer loop needs to know it.

use migrator_core::conversations::SourceError;
use migrator_core::CoreError;

/// A hop's failure.
#[derive(Debug, thiserror::Error)]
pub enum HopError {
    /// Worth another attempt later (5xx, timeouts, throttling, database or broker hiccups).
    #[error("transient: {0}")]
    Transient(String),
    /// The source asked us to slow down (DynamoDB throttling): retried after a growing delay;
    /// counts towards the run's total attempts, not the hop's.
    #[error("throttled: {0}")]
    Throttled(String),
    /// The source refused our credentials (REST 401/403): a configuration fault, retried after
    /// a growing delay like throttling and shown to operators; never "this C1 is unknown".
    #[error("refused: {0}")]
    Refused(String),
    /// Will not get better by retrying (the source says the C1 is unknown, a contract breach).
    #[error("permanent: {0}")]
    Permanent(String),
    /// Another worker or a forced re-migration took the run: stop, write nothing more.
    #[error("lease lost")]
    LeaseLost,
}

impl From<CoreError> for HopError {
    fn from(e: CoreError) -> Self {
        match e {
            // the run moved on under us (superseded, taken over, or its status changed)
            CoreError::LeaseLost | CoreError::Transition(_) => HopError::LeaseLost,
            e if e.is_transient() => HopError::Transient(e.to_string()),
            e => HopError::Permanent(e.to_string()),
        }
    }
}

impl From<SourceError> for HopError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Transient(m) => HopError::Transient(m),
            SourceError::Permanent(m) => HopError::Permanent(m),
            SourceError::Throttled(m) => HopError::Throttled(m),
            SourceError::Refused(m) => HopError::Refused(m),
        }
    }
}

/// Result of a hop step.
pub type HopResult<T> = Result<T, HopError>;
