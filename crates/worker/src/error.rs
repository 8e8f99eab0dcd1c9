//! How work against the source and the store fails — a hop, a verification — as far as
//! retrying it is concerned.

use migrator_core::CoreError;
use migrator_source::conversations::SourceError;

/// A failure of a hop or a verification.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
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

impl From<CoreError> for WorkError {
    fn from(e: CoreError) -> Self {
        match e {
            // the run moved on under us (superseded, taken over, or its status changed)
            CoreError::LeaseLost | CoreError::Transition(_) => WorkError::LeaseLost,
            e if e.is_transient() => WorkError::Transient(e.to_string()),
            e => WorkError::Permanent(e.to_string()),
        }
    }
}

impl From<SourceError> for WorkError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::Transient(m) => WorkError::Transient(m),
            SourceError::Permanent(m) => WorkError::Permanent(m),
            SourceError::Throttled(m) => WorkError::Throttled(m),
            SourceError::Refused(m) => WorkError::Refused(m),
        }
    }
}

/// Result of a step of a hop or a verification.
pub type WorkResult<T> = Result<T, WorkError>;
