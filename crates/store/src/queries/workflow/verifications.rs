//! Verifications of accounts: requested (by an operator, or after the all-messages phase in
//! the same transaction), claimed by one worker at a time under a lease, finished with their
//! outcome. At most one open (pending or running) per account.

use crate::schema::{accounts, migration_runs, verifications};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use migrator_core::ids::{AccountId, RunId, VerificationId};
use serde::{Deserialize, Serialize};

/// One difference between source and destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diff {
    /// `missing_thread`, `extra_thread`, `changed_thread`, `missing_message`,
    /// `extra_message`, `changed_message`, `missing_channel`, `changed_channel`,
    /// `changed_star`.
    pub kind: String,
    /// The source item's key (`thread_id`, `thread_id#sort_key`, `channel_id`), or the
    /// destination's source id for an extra row.
    pub source_key: String,
    /// What differs (field names; short values).
    pub detail: String,
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Source channels compared.
    pub channels: i32,
    /// Source threads compared (rejected items aside).
    pub threads: i32,
    /// Source messages compared.
    pub messages: i64,
    /// Source attachments compared (by count per message).
    pub attachments: i64,
    /// Every difference found.
    pub diff_count: i64,
    /// The first of them.
    pub diffs: Vec<Diff>,
}

impl Outcome {
    /// `match` or `diff`.
    pub fn result(&self) -> &'static str {
        if self.diff_count == 0 {
            "match"
        } else {
            "diff"
        }
    }
}

/// A verification row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = verifications)]
pub struct Verification {
    pub id: VerificationId,
    pub account_id: AccountId,
    pub run_id: Option<RunId>,
    /// `pending`, `running`, `done`, `failed`.
    pub status: String,
    /// `auto` or the operator's token subject.
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub attempts: i32,
    pub finished_at: Option<DateTime<Utc>>,
    /// `match` / `diff` once done.
    pub result: Option<String>,
    pub channels_checked: i32,
    pub threads_checked: i32,
    pub messages_checked: i64,
    pub attachments_checked: i64,
    pub diff_count: i64,
    pub diffs: serde_json::Value,
    pub error: Option<String>,
    /// A running one's lease; a pending one that failed transiently is not taken before it.
    pub claimed_until: Option<DateTime<Utc>>,
    /// Its differences are repaired (copied again, then verified again).
    pub repair: bool,
}

/// Asks for a verification of the account's run in force (`repair`: its differences are
/// copied again and verified again); an open one already asked for is answered instead (at
/// most one open per account; asking to repair makes it repair).
pub async fn request(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
    run_id: Option<RunId>,
    by: &str,
    repair: bool,
) -> CoreResult<Verification> {
    use verifications::dsl as v;
    let id = VerificationId::new();
    let asked = diesel::insert_into(v::verifications)
        .values((
            v::id.eq(id),
            v::account_id.eq(account_id),
            v::run_id.eq(run_id),
            v::requested_by.eq(by),
            v::repair.eq(repair),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if asked > 0 {
        // the account's earlier ones may be pruned once old (`verifications_superseded`)
        diesel::update(
            v::verifications
                .filter(v::account_id.eq(account_id))
                .filter(v::id.ne(id))
                .filter(v::superseded.eq(false)),
        )
        .set(v::superseded.eq(true))
        .execute(conn)
        .await?;
    }
    if repair && asked == 0 {
        diesel::update(
            v::verifications
                .filter(v::account_id.eq(account_id))
                .filter(v::status.eq_any(["pending", "running"])),
        )
        .set(v::repair.eq(true))
        .execute(conn)
        .await?;
    }
    let open = v::verifications
        .filter(v::account_id.eq(account_id))
        .filter(v::status.eq_any(["pending", "running"]))
        .select(Verification::as_select())
        .first(conn)
        .await
        .optional()?;
    match open {
        Some(o) => Ok(o),
        // the open one ended between the two statements
        None => Ok(latest(conn, account_id)
            .await?
            .ok_or(migrator_core::CoreError::NotFound("verification"))?),
    }
}

/// An operator asking while the account's open verification waits out a failed try: it is
/// tried at once.
pub async fn try_now(conn: &mut AsyncPgConnection, account_id: AccountId) -> CoreResult<()> {
    use verifications::dsl as v;
    diesel::update(
        v::verifications
            .filter(v::account_id.eq(account_id))
            .filter(v::status.eq("pending"))
            .filter(v::claimed_until.is_not_null()),
    )
    .set(v::claimed_until.eq(None::<DateTime<Utc>>))
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims the oldest open verification that is not leased (or whose lease ran out) and not
/// held back after a failed try, for `owner`, for `lease_secs`; with its shopper.
/// Verifications tried `max_attempts` times are left for [`give_up_stale`].
pub async fn claim(
    conn: &mut AsyncPgConnection,
    owner: &str,
    lease_secs: i64,
    max_attempts: i32,
) -> CoreResult<Option<(Verification, String)>> {
    use diesel::sql_types::{Integer, Text};
    #[derive(QueryableByName)]
    struct Claimed {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        id: VerificationId,
    }
    let claimed: Option<Claimed> = diesel::sql_query(
        "UPDATE verifications SET status = 'running', claimed_by = $1, \
                claimed_until = now() + make_interval(secs => $2), attempts = attempts + 1 \
         WHERE id = (SELECT id FROM verifications \
                     WHERE status IN ('pending', 'running') \
                       AND (claimed_until IS NULL OR claimed_until < now()) \
                       AND attempts < $3 \
                     ORDER BY requested_at FOR UPDATE SKIP LOCKED LIMIT 1) \
         RETURNING id",
    )
    .bind::<Text, _>(owner)
    .bind::<Integer, _>(lease_secs as i32)
    .bind::<Integer, _>(max_attempts)
    .get_result(conn)
    .await
    .optional()?;
    let Some(c) = claimed else {
        return Ok(None);
    };
    Ok(Some(
        verifications::table
            .find(c.id)
            .inner_join(accounts::table.on(accounts::id.eq(verifications::account_id)))
            .select((Verification::as_select(), accounts::shopper_id))
            .first::<(Verification, migrator_core::ids::ShopperId)>(conn)
            .await
            .map(|(v, s)| (v, s.to_string()))?,
    ))
}

/// Extends `owner`'s lease; false when it is no longer `owner`'s.
pub async fn heartbeat(
    conn: &mut AsyncPgConnection,
    id: VerificationId,
    owner: &str,
    lease_secs: i64,
) -> CoreResult<bool> {
    use verifications::dsl as v;
    let until = Utc::now() + chrono::Duration::seconds(lease_secs);
    let n = diesel::update(
        v::verifications
            .find(id)
            .filter(v::claimed_by.eq(owner))
            .filter(v::status.eq("running")),
    )
    .set(v::claimed_until.eq(until))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Records `owner`'s outcome, and on the run it verified; false when the lease was lost.
pub async fn finish(
    conn: &mut AsyncPgConnection,
    id: VerificationId,
    owner: &str,
    o: &Outcome,
) -> CoreResult<bool> {
    use verifications::dsl as v;
    let now = Utc::now();
    let run: Option<Option<RunId>> = diesel::update(
        v::verifications
            .find(id)
            .filter(v::claimed_by.eq(owner))
            .filter(v::status.eq("running")),
    )
    .set((
        v::status.eq("done"),
        v::finished_at.eq(now),
        v::claimed_until.eq(None::<DateTime<Utc>>),
        v::result.eq(o.result()),
        v::channels_checked.eq(o.channels),
        v::threads_checked.eq(o.threads),
        v::messages_checked.eq(o.messages),
        v::attachments_checked.eq(o.attachments),
        v::diff_count.eq(o.diff_count),
        v::diffs.eq(serde_json::to_value(&o.diffs).expect("diffs serialise")),
        v::error.eq(None::<String>),
    ))
    .returning(v::run_id)
    .get_result(conn)
    .await
    .optional()?;
    let Some(run) = run else {
        return Ok(false);
    };
    if let Some(run) = run {
        diesel::update(migration_runs::table.find(run))
            .set((
                migration_runs::verification.eq(o.result()),
                migration_runs::verified_at.eq(now),
            ))
            .execute(conn)
            .await?;
    }
    Ok(true)
}

/// What follows a failed try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Open again, not taken before this much time has passed (`failed` once the tries are
    /// used up).
    After(std::time::Duration),
    /// `failed` now: another try would meet the same answer.
    Never,
}

/// A failed try of `owner`: the error is kept; the verification is open again for another
/// try after `retry`'s wait, or `failed` (its tries used up, or the failure permanent).
pub async fn attempt_failed(
    conn: &mut AsyncPgConnection,
    id: VerificationId,
    owner: &str,
    error: &str,
    max_attempts: i32,
    retry: Retry,
) -> CoreResult<()> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable, Text, Timestamptz};
    use verifications::dsl as v;
    let (give_up, wait_ms) = match retry {
        Retry::After(d) => (format!("attempts >= {max_attempts}"), d.as_millis()),
        Retry::Never => ("true".to_string(), 0),
    };
    diesel::update(v::verifications.find(id).filter(v::claimed_by.eq(owner)))
        .set((
            v::status.eq(sql::<Text>(&format!(
                "CASE WHEN {give_up} THEN 'failed' ELSE 'pending' END"
            ))),
            v::claimed_until.eq(sql::<Nullable<Timestamptz>>(&format!(
                "CASE WHEN {give_up} THEN NULL \
                 ELSE now() + make_interval(secs => {wait_ms} / 1000.0) END"
            ))),
            v::error.eq(Some(error)),
            v::finished_at.eq(sql::<Nullable<Timestamptz>>(&format!(
                "CASE WHEN {give_up} THEN now() ELSE NULL END"
            ))),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Open verifications whose tries are used up and whose lease ran out (their workers died
/// each time): failed, so the account can be verified again.
pub async fn give_up_stale(conn: &mut AsyncPgConnection, max_attempts: i32) -> CoreResult<usize> {
    use verifications::dsl as v;
    Ok(diesel::update(
        v::verifications
            .filter(v::status.eq("running"))
            .filter(v::claimed_until.lt(Utc::now()))
            .filter(v::attempts.ge(max_attempts)),
    )
    .set((
        v::status.eq("failed"),
        v::error.eq(Some("its worker stopped answering on every try")),
        v::finished_at.eq(Some(Utc::now())),
    ))
    .execute(conn)
    .await?)
}

/// The account's newest verification.
pub async fn latest(
    conn: &mut AsyncPgConnection,
    account_id: AccountId,
) -> CoreResult<Option<Verification>> {
    use verifications::dsl as v;
    Ok(v::verifications
        .filter(v::account_id.eq(account_id))
        .order(v::requested_at.desc())
        .select(Verification::as_select())
        .first(conn)
        .await
        .optional()?)
}
