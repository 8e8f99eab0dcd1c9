//! How a hop can fail, as the consumer loop needs to know it.

use migrator_core::db::queries::runs::LEASE_LOST;
use migrator_core::CoreError;

/// A hop's failure.
#[derive(Debug, thiserror::Error)]
pub enum HopError {
    /// Worth another attempt later (5xx, timeouts, throttling, database or broker hiccups).
    #[error("transient: {0}")]
    Transient(String),
    /// Will not get better by retrying (the source says the C1 is unknown, a contract breach).
    #[error("permanent: {0}")]
    Permanent(String),
    /// Another worker or a forced re-migration took the run: stop, write nothing more.
    #[error("lease lost")]
    LeaseLost,
}

impl From<CoreError> for HopError {
    fn from(e: CoreError) -> Self {
        match &e {
            CoreError::Conflict(m) if m == LEASE_LOST => HopError::LeaseLost,
            CoreError::Transition(_) => HopError::LeaseLost,
            // every other database error is worth a retry: constraint errors cannot happen on
            // idempotent upserts, and connection trouble is the common case
            _ => HopError::Transient(e.to_string()),
        }
    }
}

/// Result of a hop step.
pub type HopResult<T> = Result<T, HopError>;
