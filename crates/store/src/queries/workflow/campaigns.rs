//! Campaigns as operators see them: created with a selection fixed in batches, read with their
//! figures from `campaign_counts` (never a count over the selection), moved between states.
//! The driver's writes are in [`crate::queries::workflow::campaign_drive`].
//!
//! Selecting takes `campaign_selection_lock()` alone, a batch of accounts at a time, and every
//! status move takes it shared (the `campaign_accounts_follow` trigger): a move commits either
//! before a batch reads its accounts or after the batch commits, when the trigger follows it,
//! so a member's status in `campaign_accounts` is never stale (migration
//! `2026-11-30-000004_campaigns`).

use crate::schema::campaigns;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::campaign::{CampaignMove, CampaignState};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{CampaignId, ShopperId};
use migrator_core::status::{MigrationStatus, ALL_STATUSES};
use std::collections::HashMap;
use uuid::Uuid;

/// Which accounts a campaign takes: every account whose status is in `statuses`, AND created
/// before `created_before` when given, AND in `shopper_ids` when given.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Statuses selected (the default: not-started and the two failures the app leaves).
    pub statuses: Vec<MigrationStatus>,
    /// Only accounts created before this.
    pub created_before: Option<DateTime<Utc>>,
    /// Only these C1s.
    pub shopper_ids: Option<Vec<ShopperId>>,
}

/// A campaign to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    /// Its selection.
    pub selection: Selection,
    /// Accounts started a second (> 0).
    pub rate_per_sec: f64,
    /// The campaign's accounts migrating at once, at most.
    pub max_in_flight: i32,
    /// When Conversations is switched off.
    pub deadline: DateTime<Utc>,
    /// The operator (`sub`).
    pub created_by: String,
}

/// A campaign row.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub struct Campaign {
    /// Id.
    pub id: CampaignId,
    /// `running`, `paused`, `done` or `cancelled` (see [`Campaign::state`]).
    #[diesel(column_name = state)]
    pub state_name: String,
    /// Statuses selected.
    pub statuses: Vec<String>,
    /// Created-before filter.
    pub created_before: Option<DateTime<Utc>>,
    /// Shopper-id filter.
    pub shopper_ids: Option<Vec<String>>,
    /// Accounts started a second.
    pub rate_per_sec: f64,
    /// Cap on its accounts migrating.
    pub max_in_flight: i32,
    /// The deadline.
    pub deadline: DateTime<Utc>,
    /// The selection is still being taken.
    pub selecting: bool,
    /// Accounts selected.
    pub selected: i64,
    /// The driver's place in the selection (the last account id it visited).
    pub cursor: Option<Uuid>,
    /// The driver has visited every selected account.
    pub walked: bool,
    /// Accounts the campaign started or found started when their turn came.
    pub enqueued: i64,
    /// Why the driver last held back (None: it did not).
    pub held_back: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// The operator who created it.
    pub created_by: String,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// When it ended (done or cancelled).
    pub finished_at: Option<DateTime<Utc>>,
}

impl Campaign {
    /// Its state.
    pub fn state(&self) -> CampaignState {
        CampaignState::parse(&self.state_name).unwrap_or(CampaignState::Cancelled)
    }

    /// The statuses it selected, parsed.
    pub fn selected_statuses(&self) -> Vec<MigrationStatus> {
        self.statuses
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect()
    }
}

/// A campaign's members by what they count as: `completed`, `parked` (given up by the
/// campaign), else their status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members(pub HashMap<String, i64>);

impl Members {
    /// Members counted under `key`.
    pub fn get(&self, key: &str) -> i64 {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// Migrating now (any path).
    pub fn in_flight(&self) -> i64 {
        ALL_STATUSES
            .iter()
            .filter(|s| s.is_in_progress())
            .map(|s| self.get(s.as_str()))
            .sum()
    }

    /// In a failure status, not given up.
    pub fn failed(&self) -> i64 {
        ALL_STATUSES
            .iter()
            .filter(|s| s.failed_phase().is_some())
            .map(|s| self.get(s.as_str()))
            .sum()
    }

    /// Settled: completed, given up (parked), or in `messages-failure` (the app shows it
    /// completed; the sweeper's repairs own the rest of its history).
    pub fn settled(&self) -> i64 {
        self.get("completed") + self.get("parked") + self.get("messages-failure")
    }
}

/// Creates a running campaign with an empty selection (then [`select_batch`] until it says
/// it is whole); 409 while another is running or paused.
pub async fn create(conn: &mut AsyncPgConnection, new: &NewCampaign) -> CoreResult<CampaignId> {
    let id = CampaignId::new();
    let statuses: Vec<&str> = new.selection.statuses.iter().map(|s| s.as_str()).collect();
    let ids: Option<Vec<&str>> = new
        .selection
        .shopper_ids
        .as_ref()
        .map(|v| v.iter().map(|s| s.as_str()).collect());
    let inserted = diesel::insert_into(campaigns::table)
        .values((
            campaigns::id.eq(id),
            campaigns::state.eq(CampaignState::Running.as_str()),
            campaigns::statuses.eq(statuses),
            campaigns::created_before.eq(new.selection.created_before),
            campaigns::shopper_ids.eq(ids),
            campaigns::rate_per_sec.eq(new.rate_per_sec),
            campaigns::max_in_flight.eq(new.max_in_flight),
            campaigns::deadline.eq(new.deadline),
            campaigns::created_by.eq(&new.created_by),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if inserted == 0 {
        return Err(CoreError::Conflict(
            "a campaign is running or paused: pause is not enough, cancel it first".into(),
        ));
    }
    Ok(id)
}

#[derive(QueryableByName)]
struct Batch {
    #[diesel(sql_type = Nullable<SqlUuid>)]
    last: Option<Uuid>,
    #[diesel(sql_type = BigInt)]
    scanned: i64,
    #[diesel(sql_type = BigInt)]
    selected: i64,
}

/// Takes the next batch of the campaign's selection (`batch` accounts looked at along the
/// accounts' primary key, or the whole shopper-id list at once); returns whether the selection
/// is whole. Idempotent: a batch is one transaction with the campaign's place in it.
pub async fn select_batch(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    batch: i64,
) -> CoreResult<bool> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        // the campaign row first, then the selection lock: the order the driver keeps
        let camp = lock(c, id).await?;
        if !camp.selecting {
            return Ok(true);
        }
        diesel::sql_query("SELECT pg_advisory_xact_lock(campaign_selection_lock())")
            .execute(c)
            .await?;
        let by_list = camp.shopper_ids.is_some();
        let scanned = if by_list {
            "SELECT id, migration_status, created_at FROM accounts \
             WHERE shopper_id = ANY($4) ORDER BY id"
        } else {
            "SELECT id, migration_status, created_at FROM accounts \
             WHERE ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        };
        let sql = format!(
            "WITH scanned AS ({scanned}), \
             sel AS (INSERT INTO campaign_accounts (campaign_id, account_id, status) \
               SELECT $1, id, migration_status FROM scanned \
               WHERE migration_status = ANY($5) AND ($6::timestamptz IS NULL OR created_at < $6) \
               ON CONFLICT DO NOTHING RETURNING account_id, status), \
             counted AS (INSERT INTO campaign_counts (campaign_id, key, shard, n) \
               SELECT $1, campaign_key(status, false), abs(hashtext(account_id::text)) % 16, count(*) \
               FROM sel GROUP BY 2, 3 \
               ON CONFLICT (campaign_id, key, shard) DO UPDATE SET n = campaign_counts.n + EXCLUDED.n \
               RETURNING 1) \
             SELECT (SELECT id FROM scanned ORDER BY id DESC LIMIT 1) AS last, \
                    (SELECT count(*) FROM scanned) AS scanned, \
                    (SELECT count(*) FROM sel) AS selected, \
                    (SELECT count(*) FROM counted) AS counted"
        );
        let b: Batch = diesel::sql_query(sql)
            .bind::<SqlUuid, _>(id.0)
            .bind::<Nullable<SqlUuid>, _>(camp.select_after)
            .bind::<BigInt, _>(batch)
            .bind::<Array<Text>, _>(camp.shopper_ids.clone().unwrap_or_default())
            .bind::<Array<Text>, _>(camp.statuses.clone())
            .bind::<Nullable<Timestamptz>, _>(camp.created_before)
            .get_result(c)
            .await?;
        let whole = by_list || b.scanned < batch;
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::selecting.eq(!whole),
                campaigns::select_after.eq(b.last.or(camp.select_after)),
                campaigns::selected.eq(campaigns::selected + b.selected),
                campaigns::updated_at.eq(diesel::dsl::now),
            ))
            .execute(c)
            .await?;
        Ok(whole)
    })
    .await
}

/// Locks the campaign row for the rest of the transaction; 404 when unknown.
pub(crate) async fn lock(c: &mut AsyncPgConnection, id: CampaignId) -> CoreResult<CampaignRow> {
    campaigns::table
        .find(id)
        .select(CampaignRow::as_select())
        .for_no_key_update()
        .first(c)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("campaign"))
}

/// The columns selecting and driving need.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = campaigns)]
pub(crate) struct CampaignRow {
    pub state: String,
    pub statuses: Vec<String>,
    pub created_before: Option<DateTime<Utc>>,
    pub shopper_ids: Option<Vec<String>>,
    pub selecting: bool,
    pub select_after: Option<Uuid>,
    pub cursor: Option<Uuid>,
}

/// A campaign; 404 when unknown.
pub async fn get(conn: &mut AsyncPgConnection, id: CampaignId) -> CoreResult<Campaign> {
    campaigns::table
        .find(id)
        .select(Campaign::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("campaign"))
}

/// The running or paused campaign, if any (at most one: `campaigns_live`).
pub async fn live(conn: &mut AsyncPgConnection) -> CoreResult<Option<Campaign>> {
    Ok(campaigns::table
        .filter(campaigns::state.eq_any(["running", "paused"]))
        .select(Campaign::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// The newest `limit` campaigns, newest first.
pub async fn list(conn: &mut AsyncPgConnection, limit: i64) -> CoreResult<Vec<Campaign>> {
    Ok(campaigns::table
        .order((campaigns::created_at.desc(), campaigns::id))
        .limit(limit)
        .select(Campaign::as_select())
        .load(conn)
        .await?)
}

/// A campaign's members by key (16 rows a key at most, summed).
pub async fn members(conn: &mut AsyncPgConnection, id: CampaignId) -> CoreResult<Members> {
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = Text)]
        key: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let sums: Vec<Sum> = diesel::sql_query(
        "SELECT key, sum(n)::bigint AS n FROM campaign_counts WHERE campaign_id = $1 GROUP BY key",
    )
    .bind::<SqlUuid, _>(id.0)
    .load(conn)
    .await?;
    Ok(Members(sums.into_iter().map(|s| (s.key, s.n)).collect()))
}

/// Sets a live campaign's pace (an operator's `PATCH`): `rate_per_sec` and/or `max_in_flight`
/// (`None` keeps it). 409 when the campaign is over (done or cancelled), 404 when unknown.
/// Returns the campaign before and after.
pub async fn set_pace(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    rate_per_sec: Option<f64>,
    max_in_flight: Option<i32>,
) -> CoreResult<(Campaign, Campaign)> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let row = lock(c, id).await?;
        if !CampaignState::parse(&row.state)?.is_live() {
            return Err(CoreError::Conflict(format!(
                "campaign {id} is {}: its pace cannot change",
                row.state
            )));
        }
        let before = get(c, id).await?;
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::rate_per_sec.eq(rate_per_sec.unwrap_or(before.rate_per_sec)),
                campaigns::max_in_flight.eq(max_in_flight.unwrap_or(before.max_in_flight)),
                campaigns::updated_at.eq(diesel::dsl::now),
            ))
            .execute(c)
            .await?;
        Ok((before, get(c, id).await?))
    })
    .await
}

/// Moves the campaign (an operator's pause, resume or cancel; the driver's finish); 409 for
/// an illegal move, 404 when unknown. Returns the campaign after it.
pub async fn change(
    conn: &mut AsyncPgConnection,
    id: CampaignId,
    m: CampaignMove,
) -> CoreResult<Campaign> {
    conn.transaction::<_, CoreError, _>(async move |c| {
        let row = lock(c, id).await?;
        let to = CampaignState::parse(&row.state)?.on(m)?;
        let ended = !to.is_live();
        diesel::update(campaigns::table.find(id))
            .set((
                campaigns::state.eq(to.as_str()),
                campaigns::updated_at.eq(diesel::dsl::now),
                campaigns::finished_at.eq(ended.then(Utc::now)),
            ))
            .execute(c)
            .await?;
        get(c, id).await
    })
    .await
}
