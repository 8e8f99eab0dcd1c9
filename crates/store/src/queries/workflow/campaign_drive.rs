//! The campaign driver's writes: each tick starts the next accounts of the selection (in
//! account id order, its place kept on the campaign row in the same transaction, so a driver
//! killed at any moment is resumed by another without starting an account twice or skipping
//! one) and drives again the members the app path left in a failure, up to
//! `campaign.max_attempts`, then gives them up (their run parked, where operators look).
//! Every start is a step of the state machine through [`transitions::apply`], on the campaign
//! lane. Lock order: the campaign row, then each account, then its run.

use crate::queries::workflow::campaigns::{lock, CampaignRow};
use crate::queries::workflow::locks::lock_account;
use crate::queries::workflow::transitions::{self, Effects, Recorded};
use crate::schema::{campaign_accounts, campaigns};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, CampaignId};
use migrator_core::status::{Event, MigrationStatus};

/// What a tick's starts did.
#[derive(Debug, Default)]
pub struct Drove {
    /// Hops recorded, to publish.
    pub hops: Vec<Recorded>,
    /// Accounts visited (started, or found started or done).
    pub visited: i64,
    /// Failed members given up.
    pub given_up: i64,
}

/// The campaign, locked, when it is running with its selection whole.
async fn running(c: &mut AsyncPgConnection, id: CampaignId) -> CoreResult<Option<CampaignRow>> {
    let row = lock(c, id).await?;
    Ok((row.state == "running" && !row.selecting).then_some(row))
}

/// Starts `account` on the campaign lane when its status is one the campaign selected and the
/// state machine starts something from it (a new run, or a resume); else leaves it.
async fn start(
    c: &mut AsyncPgConnection,
    campaign: CampaignId,
    account_id: AccountId,
    statuses: &[impl AsRef<str>],
) -> CoreResult<Option<Recorded>> {
    let account = lock_account(c, account_id).await?;
    if !statuses
        .iter()
        .any(|s| s.as_ref() == account.migration_status.as_str())
    {
        return Ok(None);
    }
    let effects = Effects::CampaignStart(campaign);
    Ok(transitions::apply(c, &account, Event::Migrate, effects)
        .await?
        .hop)
}

/// Visits the next `n` accounts of the selection: starts those still waiting, counts the rest
/// as enqueued, and moves the campaign's place past them; `walked` once none is left.
pub async fn walk(conn: &mut AsyncPgConnection, id: CampaignId, n: i64) -> CoreResult<Drove> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let Some(row) = running(c, id).await? else {
            return Ok(Drove::default());
        };
        let mut q = campaign_accounts::table
            .filter(campaign_accounts::campaign_id.eq(id))
            .order(campaign_accounts::account_id)
            .select(campaign_accounts::account_id)
            .limit(n)
            .into_boxed();
        if let Some(after) = row.cursor {
            q = q.filter(campaign_accounts::account_id.gt(AccountId(after)));
        }
        let next: Vec<AccountId> = q.load(c).await?;
        let mut out = Drove::default();
        for account in &next {
            let hop = start(c, id, *account, &row.statuses).await?;
            diesel::update(campaign_accounts::table.find((id, *account)))
                .set((
                    campaign_accounts::drives
                        .eq(campaign_accounts::drives + i16::from(hop.is_some())),
                    campaign_accounts::last_drive_at.eq(diesel::dsl::now),
                ))
                .execute(c)
                .await?;
            out.hops.extend(hop);
        }
        out.visited = next.len() as i64;
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::cursor.eq(next.last().map(|a| a.0).or(row.cursor)),
                campaigns::enqueued.eq(campaigns::enqueued + out.visited),
                campaigns::walked.eq((next.len() as i64) < n),
                campaigns::updated_at.eq(diesel::dsl::now),
            ))
            .execute(c)
            .await?;
        Ok(out)
    })
    .await
}

/// Drives again up to `n` members in `channel-failure` or `recent-messages-failure` (the
/// failures the app path leaves until the C1 comes back) last driven `after_secs` ago or more;
/// a member already driven `max_attempts` times is given up instead: counted `parked`, its
/// run parked.
pub async fn redrive(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    n: i64,
    max_attempts: i16,
    after_secs: i64,
) -> CoreResult<Drove> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        if running(c, id).await?.is_none() {
            return Ok(Drove::default());
        }
        let cutoff = chrono::Utc::now() - chrono::Duration::seconds(after_secs);
        let due: Vec<(AccountId, i16)> = campaign_accounts::table
            .filter(campaign_accounts::campaign_id.eq(id))
            .filter(campaign_accounts::status.eq_any(driven_again()))
            .filter(campaign_accounts::given_up.eq(false))
            .filter(campaign_accounts::last_drive_at.lt(cutoff))
            .order(campaign_accounts::last_drive_at)
            .limit(n)
            .select((campaign_accounts::account_id, campaign_accounts::drives))
            .load(c)
            .await?;
        let mut out = Drove::default();
        for (account, drives) in due {
            if drives >= max_attempts {
                give_up(c, id, account).await?;
                out.given_up += 1;
                continue;
            }
            let hop = start(c, id, account, &driven_again()).await?;
            diesel::update(campaign_accounts::table.find((id, account)))
                .set((
                    campaign_accounts::drives.eq(campaign_accounts::drives + 1),
                    campaign_accounts::last_drive_at.eq(diesel::dsl::now),
                ))
                .execute(c)
                .await?;
            out.hops.extend(hop);
            out.visited += 1;
        }
        Ok(out)
    })
    .await
}

/// The failures the app path leaves until the C1 comes back, which a campaign drives again
/// (the partial index `campaign_accounts_failed` holds the same two).
fn driven_again() -> [&'static str; 2] {
    [
        MigrationStatus::ChannelFailure.as_str(),
        MigrationStatus::RecentMessagesFailure.as_str(),
    ]
}

/// The campaign stops driving `account`: counted `parked` (unless it completed meanwhile) and
/// its run, held after its failure, parked.
async fn give_up(c: &mut AsyncPgConnection, id: CampaignId, account: AccountId) -> CoreResult<()> {
    let acc = lock_account(c, account).await?;
    // only while it is still in the failure it was found in (the app may have restarted it)
    let given_up = diesel::sql_query(
        "WITH m AS (UPDATE campaign_accounts SET given_up = true \
           WHERE campaign_id = $1 AND account_id = $2 AND NOT given_up \
             AND status = ANY($3) RETURNING status) \
         SELECT campaign_counts_add($1, campaign_key(m.status, false), $2, -1), \
                campaign_counts_add($1, campaign_key(m.status, true), $2, 1) FROM m",
    )
    .bind::<SqlUuid, _>(id.0)
    .bind::<SqlUuid, _>(account.0)
    .bind::<diesel::sql_types::Array<Text>, _>(driven_again().to_vec())
    .execute(c)
    .await?;
    if given_up == 0 {
        return Ok(());
    }
    if let Some(run) = acc.current_run_id {
        transitions::park_held(
            c,
            run,
            "given up by the campaign after campaign.max_attempts",
        )
        .await?;
    }
    Ok(())
}

/// Records why the driver held back (None: it did not), when it changed.
pub async fn held_back(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    why: Option<&str>,
) -> CoreResult<()> {
    diesel::update(campaigns::table.find(id))
        .filter(campaigns::held_back.is_distinct_from(why))
        .set(campaigns::held_back.eq(why))
        .execute(conn)
        .await?;
    Ok(())
}

/// Time to inbox p99, in ms, of the C1s who opened the app over the last minute: inboxes
/// reached in it (`channels_at - opened_at`) and those still waiting (their wait so far).
/// Read along `migration_runs_inbox` and `migration_runs_opening`: as many rows as app opens
/// in a minute. None when there were none.
pub async fn inbox_p99_ms(conn: &mut AsyncPgConnection) -> CoreResult<Option<u64>> {
    #[derive(QueryableByName)]
    struct P {
        #[diesel(sql_type = Nullable<BigInt>)]
        p99: Option<i64>,
    }
    let p: P = diesel::sql_query(
        "SELECT (percentile_disc(0.99) WITHIN GROUP (ORDER BY ms))::bigint AS p99 FROM ( \
           SELECT extract(epoch FROM channels_at - opened_at) * 1000 AS ms FROM migration_runs \
             WHERE opened_at IS NOT NULL AND channels_at > now() - interval '60 seconds' \
           UNION ALL \
           SELECT extract(epoch FROM now() - opened_at) * 1000 FROM migration_runs \
             WHERE opened_at IS NOT NULL AND channels_at IS NULL AND active \
               AND opened_at > now() - interval '10 minutes') t",
    )
    .get_result(conn)
    .await?;
    Ok(p.p99.map(|v| v.max(0) as u64))
}

/// Completions on `lane` (`app`, `campaign`; None: both) since `since`, to the minute
/// (from `completions`, 8 rows a minute and lane).
pub async fn completed_since(
    conn: &mut AsyncPgConnection,
    lane: Option<&str>,
    since: chrono::DateTime<chrono::Utc>,
) -> CoreResult<i64> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let n: N = diesel::sql_query(
        "SELECT coalesce(sum(n), 0)::bigint AS n FROM completions \
         WHERE ($1::text IS NULL OR lane = $1) AND minute >= date_trunc('minute', $2)",
    )
    .bind::<Nullable<Text>, _>(lane)
    .bind::<diesel::sql_types::Timestamptz, _>(since)
    .get_result(conn)
    .await?;
    Ok(n.n)
}
