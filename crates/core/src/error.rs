//! The one error type of core; the api maps it to HTTP in one place, the worker to a hop's
//! outcome through [`CoreError::is_transient`].

use crate::status::IllegalTransition;

/// A query that failed, as the store's driver reported it: what it said, and whether trying
/// again may help (decided where the driver's error kinds are known: the `sql` feature's
/// conversion below).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    /// The driver's words.
    pub message: String,
    /// Connection trouble, a serialization failure, a deadlock, a timeout, a restart: worth
    /// retrying. A broken constraint, a missing row, a refused input: not.
    pub transient: bool,
}

/// What can go wrong in core.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A query failed.
    #[error("database: {0}")]
    Db(DbError),
    /// No connection could be had from the pool.
    #[error("database pool: {0}")]
    Pool(String),
    /// The thing asked for does not exist (for this caller).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with existing state.
    #[error("{0}")]
    Conflict(String),
    /// The caller no longer holds the run's lease (superseded or taken over): stop writing.
    #[error("lease lost")]
    LeaseLost,
    /// The state machine refused a move.
    #[error(transparent)]
    Transition(#[from] IllegalTransition),
    /// Input the domain refuses.
    #[error("{0}")]
    Invalid(String),
}

impl CoreError {
    /// The one rule of what is worth retrying: connection trouble, serialization failures,
    /// deadlocks, timeouts and a database restarting are; a constraint the data breaks, a
    /// missing row or a refused input are not, and retrying would only repeat them.
    pub fn is_transient(&self) -> bool {
        match self {
            CoreError::Pool(_) => true,
            CoreError::Db(e) => e.transient,
            CoreError::NotFound(_)
            | CoreError::Conflict(_)
            | CoreError::LeaseLost
            | CoreError::Transition(_)
            | CoreError::Invalid(_) => false,
        }
    }
}

/// The driver's errors, classified once: connection trouble, serialization failures,
/// deadlocks, timeouts and a database restarting are transient; a constraint the data breaks,
/// a missing row or a refused input are not, and retrying would only repeat them.
#[cfg(feature = "sql")]
impl From<diesel::result::Error> for CoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error};
        let transient = match &e {
            Error::DatabaseError(kind, _) => !matches!(
                kind,
                K::UniqueViolation
                    | K::ForeignKeyViolation
                    | K::NotNullViolation
                    | K::CheckViolation
            ),
            Error::NotFound
            | Error::QueryBuilderError(_)
            | Error::DeserializationError(_)
            | Error::SerializationError(_)
            | Error::InvalidCString(_) => false,
            // broken transaction manager, connection errors, anything else from the driver
            _ => true,
        };
        CoreError::Db(DbError {
            message: e.to_string(),
            transient,
        })
    }
}

/// Result of core.
pub type CoreResult<T> = Result<T, CoreError>;

#[cfg(all(test, feature = "sql"))]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error};

    #[test]
    fn transient_means_worth_retrying() {
        let db = |k| CoreError::from(Error::DatabaseError(k, Box::new(String::from("x"))));
        assert!(CoreError::Pool("timed out".into()).is_transient());
        assert!(db(DatabaseErrorKind::SerializationFailure).is_transient());
        assert!(db(DatabaseErrorKind::ClosedConnection).is_transient());
        assert!(
            db(DatabaseErrorKind::Unknown).is_transient(),
            "deadlock, restart"
        );
        assert!(CoreError::from(Error::BrokenTransactionManager).is_transient());
        assert!(!db(DatabaseErrorKind::UniqueViolation).is_transient());
        assert!(!db(DatabaseErrorKind::ForeignKeyViolation).is_transient());
        assert!(!CoreError::from(Error::NotFound).is_transient());
        assert!(!CoreError::LeaseLost.is_transient());
        assert!(!CoreError::Invalid("x".into()).is_transient());
    }
}
