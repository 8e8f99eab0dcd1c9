//! Every query of the project; handlers and phases call these, none writes SQL.

pub mod accounts;
pub mod inbox;
pub mod migration;
pub mod outbox;
pub mod runs;
pub mod writes;

use crate::error::CoreError;
use crate::status::MigrationStatus;

/// Parses a stored status (the database only ever holds valid ones).
pub(crate) fn parse_status(s: &str) -> Result<MigrationStatus, CoreError> {
    s.parse()
        .map_err(|_| CoreError::Invalid(format!("stored migration status {s:?} is unknown")))
}
