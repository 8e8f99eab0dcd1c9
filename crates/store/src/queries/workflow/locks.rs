//! Row locks, always taken in one order: the account, then its run. Every writer of a
//! migration's state (the state machine, the lease, operators' requests) locks through these,
//! so two transactions never wait on each other in opposite orders.

use crate::models::{Account, MigrationRun};
use crate::schema::{accounts, migration_runs};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, RunId};

/// Locks the account row for the rest of the transaction. `FOR NO KEY UPDATE` does not block
/// the foreign-key checks of rows written under it; every writer locks account, then run.
pub async fn lock_account(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<Account> {
    accounts::table
        .find(account_id)
        .select(Account::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("account"))
}

/// Locks a run row (after its account): waits for a worker's page transaction holding it.
pub async fn lock_run(conn: &mut AsyncPgConnection, run_id: RunId) -> CoreResult<MigrationRun> {
    Ok(migration_runs::table
        .find(run_id)
        .select(MigrationRun::as_select())
        .for_no_key_update()
        .first(conn)
        .await?)
}
