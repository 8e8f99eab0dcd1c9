//! The one error type of core; the api maps it to HTTP in one place.

use crate::status::IllegalTransition;

/// What can go wrong in core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A query failed.
    #[error("database: {0}")]
    Db(#[from] diesel::result::Error),
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),
    /// The thing asked for does not exist (for this caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The state machine refused a move.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    /// Input the domain refuses.
    #[error("{0}")]
    Invalid(String),
}

impl CoreError {
    /// True for errors worth retrying (connection trouble, serialization failures).
    pub fn is_transient(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        match self {
            CoreError::Pool(_) => true,
            CoreError::Db(Error::DatabaseError(kind, _)) => matches!(
                kind,
                DatabaseErrorKind::SerializationFailure
                    | DatabaseErrorKind::ClosedConnection
                    | DatabaseErrorKind::UnableToSendCommand
            ),
            CoreError::Db(Error::BrokenTransactionManager) => true,
            _ => false,
        }
    }
}

/// Result of core.
pub type CoreResult<T> = Result<T, CoreError>;
