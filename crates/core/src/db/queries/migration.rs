//! The api side of a migration: start/resume, status views, forced re-migration, repair.
//! Every state change goes through the state machine and records its hop in the outbox in the
//! same transaction.

use super::{outbox, parse_status};
use crate::db::models::{Account, MigrationRun};
use crate::db::schema::{
    accounts, brands, channel_sources, channels, contacts, conversations, migration_runs, rejects,
};
use crate::error::{CoreError, CoreResult};
use crate::ids::{AccountId, RunId, ShopperId};
use crate::queue::{MigrationHop, Phase};
use crate::status::MigrationStatus;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use scoped_futures::ScopedFutureExt;
use uuid::Uuid;

/// What `POST /migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    /// A migration was started or resumed (202); the hop is in the outbox.
    Started {
        /// Status now in force (app-facing).
        status: MigrationStatus,
        /// The outbox row to relay.
        outbox_id: i64,
        /// The hop itself.
        hop: MigrationHop,
    },
    /// Nothing to start: running or finished (200).
    Current(MigrationStatus),
}

/// Locks the account row against concurrent starts (`FOR NO KEY UPDATE` does not block the
/// worker's foreign-key checks).
async fn lock_account(conn: &mut AsyncPgConnection, account_id: Uuid) -> CoreResult<Account> {
    accounts::table
        .find(account_id)
        .select(Account::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("account"))
}

/// Moves the locked account along the state machine.
async fn set_status(
    conn: &mut AsyncPgConnection,
    account: &Account,
    to: MigrationStatus,
    run: Option<Uuid>,
) -> CoreResult<()> {
    parse_status(&account.migration_status)?.move_to(to)?;
    diesel::update(accounts::table.find(account.id))
        .set((
            accounts::migration_status.eq(to.as_str()),
            accounts::current_run_id.eq(run),
            accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Creates a fresh run at the channels phase and its first hop.
async fn new_run(
    conn: &mut AsyncPgConnection,
    account: &Account,
) -> CoreResult<(i64, MigrationHop)> {
    let run_id = Uuid::new_v4();
    diesel::insert_into(migration_runs::table)
        .values((
            migration_runs::id.eq(run_id),
            migration_runs::account_id.eq(account.id),
            migration_runs::phase.eq(Phase::Channels.as_str()),
        ))
        .execute(conn)
        .await?;
    set_status(conn, account, MigrationStatus::Migrating, Some(run_id)).await?;
    let hop = MigrationHop::first(AccountId(account.id), RunId(run_id), Phase::Channels);
    let id = outbox::push(conn, &hop).await?;
    Ok((id, hop))
}

/// `POST /migrate`: start, restart after `channel-failure`, resume after
/// `recent-messages-failure`, or report the status in force. Concurrent calls serialise on the
/// account row, so any number of them start at most one migration.
pub async fn start(conn: &mut AsyncPgConnection, account_id: Uuid) -> CoreResult<StartOutcome> {
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let account = lock_account(c, account_id).await?;
            let status = parse_status(&account.migration_status)?;
            match status {
                MigrationStatus::NotStarted | MigrationStatus::ChannelFailure => {
                    if let Some(old) = account.current_run_id {
                        close_run(c, old, false).await?;
                    }
                    let (outbox_id, hop) = new_run(c, &account).await?;
                    Ok(StartOutcome::Started {
                        status: MigrationStatus::Migrating,
                        outbox_id,
                        hop,
                    })
                }
                MigrationStatus::RecentMessagesFailure => {
                    let run_id = account
                        .current_run_id
                        .ok_or(CoreError::Invalid("failed migration without a run".into()))?;
                    diesel::update(migration_runs::table.find(run_id))
                        .set((
                            migration_runs::phase.eq(Phase::RecentMessages.as_str()),
                            migration_runs::hop_attempts.eq(0),
                            migration_runs::lease_owner.eq(None::<String>),
                            migration_runs::lease_expires_at.eq(None::<DateTime<Utc>>),
                            migration_runs::updated_at.eq(diesel::dsl::now),
                        ))
                        .execute(c)
                        .await?;
                    set_status(c, &account, MigrationStatus::ChannelsMigrated, Some(run_id))
                        .await?;
                    let hop = MigrationHop::first(
                        AccountId(account.id),
                        RunId(run_id),
                        Phase::RecentMessages,
                    );
                    let outbox_id = outbox::push(c, &hop).await?;
                    Ok(StartOutcome::Started {
                        status: MigrationStatus::ChannelsMigrated,
                        outbox_id,
                        hop,
                    })
                }
                other => Ok(StartOutcome::Current(other.app_facing())),
            }
        }
        .scope_boxed()
    })
    .await
}

/// Marks a run as over (superseded when `cancelled`), releasing its lease.
async fn close_run(conn: &mut AsyncPgConnection, run_id: Uuid, cancelled: bool) -> CoreResult<()> {
    diesel::update(migration_runs::table.find(run_id))
        .set((
            migration_runs::cancelled.eq(cancelled),
            migration_runs::lease_owner.eq(None::<String>),
            migration_runs::lease_expires_at.eq(None::<DateTime<Utc>>),
            migration_runs::finished_at.eq(Some(Utc::now())),
            migration_runs::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The figures `GET /check-migration-status` shows: one indexed read.
#[derive(Debug, Clone)]
pub struct StatusView {
    /// Real status (callers map it to app-facing).
    pub migration_status: String,
    /// Threads in Conversations.
    pub threads_total: i32,
    /// Threads written.
    pub threads_migrated: i32,
    /// Messages written.
    pub messages_migrated: i64,
    /// Attachments failed.
    pub attachments_failed: i32,
    /// Newest change of account or run.
    pub updated_at: DateTime<Utc>,
}

/// Status and progress of a shopper's migration: one indexed read, a prepared statement.
pub async fn status_view(
    conn: &mut AsyncPgConnection,
    shopper: &ShopperId,
) -> CoreResult<StatusView> {
    type Row = (
        String,
        DateTime<Utc>,
        Option<(i32, i32, i64, i32, DateTime<Utc>)>,
    );
    let row: Row = accounts::table
        .left_join(
            migration_runs::table.on(migration_runs::id.nullable().eq(accounts::current_run_id)),
        )
        .filter(accounts::shopper_id.eq(shopper.as_str()))
        .select((
            accounts::migration_status,
            accounts::updated_at,
            (
                migration_runs::threads_total,
                migration_runs::threads_migrated,
                migration_runs::messages_migrated,
                migration_runs::attachments_failed,
                migration_runs::updated_at,
            )
                .nullable(),
        ))
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("account"))?;
    let (migration_status, account_updated, run) = row;
    let (threads_total, threads_migrated, messages_migrated, attachments_failed, run_updated) =
        run.unwrap_or((0, 0, 0, 0, account_updated));
    Ok(StatusView {
        migration_status,
        threads_total,
        threads_migrated,
        messages_migrated,
        attachments_failed,
        updated_at: account_updated.max(run_updated),
    })
}

/// The operator's view of an account's migration.
#[derive(Debug, Clone)]
pub struct AdminView {
    /// The account.
    pub account: Account,
    /// Its run in force.
    pub run: Option<MigrationRun>,
}

/// Real status, phase, attempts, timings, last error and figures.
pub async fn admin_view(
    conn: &mut AsyncPgConnection,
    shopper: &ShopperId,
) -> CoreResult<AdminView> {
    let account = super::accounts::find_by_shopper(conn, shopper).await?;
    let run = match account.current_run_id {
        Some(id) => migration_runs::table
            .find(id)
            .select(MigrationRun::as_select())
            .first(conn)
            .await
            .optional()?,
        None => None,
    };
    Ok(AdminView { account, run })
}

/// Accounts in `status`, a page at a time; returns the page and the total.
pub async fn list_by_status(
    conn: &mut AsyncPgConnection,
    status: MigrationStatus,
    page: i64,
    per_page: i64,
) -> CoreResult<(Vec<Account>, i64)> {
    let q = accounts::table.filter(accounts::migration_status.eq(status.as_str()));
    let total: i64 = q.count().get_result(conn).await?;
    let rows = q
        .order((accounts::updated_at, accounts::id))
        .offset((page - 1) * per_page)
        .limit(per_page)
        .select(Account::as_select())
        .load(conn)
        .await?;
    Ok((rows, total))
}

/// Forced re-migration: supersedes the run in force (a worker holding it is fenced out at its
/// next write), deletes everything the migration created (native rows stay), resets to
/// `not-started` and starts a new run.
pub async fn remigrate(conn: &mut AsyncPgConnection, account_id: Uuid) -> CoreResult<StartOutcome> {
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let mut account = lock_account(c, account_id).await?;
            if let Some(old) = account.current_run_id {
                // waits for a worker's page transaction holding this run, then fences it out
                migration_runs::table
                    .find(old)
                    .select(migration_runs::id)
                    .for_no_key_update()
                    .first::<Uuid>(c)
                    .await?;
                close_run(c, old, true).await?;
            }
            diesel::delete(
                conversations::table
                    .filter(conversations::account_id.eq(account_id))
                    .filter(conversations::native.eq(false)),
            )
            .execute(c)
            .await?;
            diesel::delete(
                contacts::table
                    .filter(contacts::account_id.eq(account_id))
                    .filter(contacts::native.eq(false)),
            )
            .execute(c)
            .await?;
            diesel::delete(
                channel_sources::table.filter(channel_sources::account_id.eq(account_id)),
            )
            .execute(c)
            .await?;
            diesel::delete(
                channels::table
                    .filter(channels::account_id.eq(account_id))
                    .filter(channels::native.eq(false)),
            )
            .execute(c)
            .await?;
            diesel::delete(
                brands::table
                    .filter(brands::account_id.eq(account_id))
                    .filter(brands::native.eq(false)),
            )
            .execute(c)
            .await?;
            diesel::update(brands::table.filter(brands::account_id.eq(account_id)))
                .set(brands::source_id.eq(None::<String>))
                .execute(c)
                .await?;
            diesel::delete(rejects::table.filter(rejects::account_id.eq(account_id)))
                .execute(c)
                .await?;
            let status = parse_status(&account.migration_status)?;
            if status != MigrationStatus::NotStarted {
                set_status(c, &account, MigrationStatus::NotStarted, None).await?;
                account.migration_status = MigrationStatus::NotStarted.as_str().into();
            }
            let (outbox_id, hop) = new_run(c, &account).await?;
            Ok(StartOutcome::Started {
                status: MigrationStatus::Migrating,
                outbox_id,
                hop,
            })
        }
        .scope_boxed()
    })
    .await
}

/// Enqueues the all-messages phase again for every `messages-failure` account whose run has
/// been idle for `idle_secs`; returns the hops recorded in the outbox.
pub async fn enqueue_repairs(
    conn: &mut AsyncPgConnection,
    idle_secs: i64,
) -> CoreResult<Vec<(i64, MigrationHop)>> {
    conn.transaction::<_, CoreError, _>(|c| {
        async move {
            let cutoff = Utc::now() - chrono::Duration::seconds(idle_secs);
            let due: Vec<(Uuid, Uuid)> = accounts::table
                .inner_join(
                    migration_runs::table
                        .on(migration_runs::id.nullable().eq(accounts::current_run_id)),
                )
                .filter(accounts::migration_status.eq(MigrationStatus::MessagesFailure.as_str()))
                .filter(migration_runs::updated_at.le(cutoff))
                .select((accounts::id, migration_runs::id))
                .for_update()
                .skip_locked()
                .load(c)
                .await?;
            let mut out = Vec::new();
            for (account_id, run_id) in due {
                diesel::update(migration_runs::table.find(run_id))
                    .set((
                        migration_runs::phase.eq(Phase::AllMessages.as_str()),
                        migration_runs::hop_attempts.eq(0),
                        migration_runs::updated_at.eq(diesel::dsl::now),
                    ))
                    .execute(c)
                    .await?;
                let hop =
                    MigrationHop::first(AccountId(account_id), RunId(run_id), Phase::AllMessages);
                out.push((outbox::push(c, &hop).await?, hop));
            }
            Ok(out)
        }
        .scope_boxed()
    })
    .await
}
