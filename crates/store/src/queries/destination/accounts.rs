//! Accounts, brands and channels as the app and the web chat initiative see them.

use crate::models::{Account, Brand, Channel};
use crate::schema::{accounts, brands, channels};
use diesel::prelude::*;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::{AccountId, BrandId, ChannelId, ShopperId};
use migrator_core::status::MigrationStatus;

/// An account with its brands and channels (credentials never included).
#[derive(Debug, Clone)]
pub struct AccountTree {
    /// The account.
    pub account: Account,
    /// Its brands, each with its channels.
    pub brands: Vec<(Brand, Vec<Channel>)>,
}

/// Finds the account of a shopper.
pub async fn find_by_shopper(
    conn: &mut AsyncPgConnection,
    shopper: &ShopperId,
) -> CoreResult<Account> {
    accounts::table
        .filter(accounts::shopper_id.eq(shopper))
        .select(Account::as_select())
        .first(conn)
        .await
        .optional()?
        .ok_or(CoreError::NotFound("account"))
}

/// What the web chat initiative does before migration: an account, a default brand and its
/// web chat channel, `migration_status = not-started`. An existing shopper is a conflict.
pub async fn create_with_webchat(
    conn: &mut AsyncPgConnection,
    shopper: &ShopperId,
    name: &str,
) -> CoreResult<AccountTree> {
    let shopper = shopper.clone();
    let name = name.to_string();
    conn.transaction::<_, CoreError, _>(async move |c| {
        let now = chrono::Utc::now();
        let account = Account {
            id: AccountId::new(),
            shopper_id: shopper.clone(),
            name: name.clone(),
            status: "active".into(),
            migration_status: MigrationStatus::NotStarted,
            current_run_id: None,
            created_at: now,
            updated_at: now,
        };
        let inserted = diesel::insert_into(accounts::table)
            .values(&account)
            .on_conflict(accounts::shopper_id)
            .do_nothing()
            .execute(c)
            .await?;
        if inserted == 0 {
            return Err(CoreError::Conflict(format!(
                "an account for shopper_id {shopper} already exists"
            )));
        }
        let brand = Brand {
            id: BrandId::new(),
            account_id: account.id,
            source_id: None,
            name: name.clone().into(),
            website: None,
            native: true,
            created_at: now,
        };
        diesel::insert_into(brands::table)
            .values(&brand)
            .execute(c)
            .await?;
        let channel_id = ChannelId::new();
        diesel::insert_into(channels::table)
            .values((
                channels::id.eq(channel_id),
                channels::account_id.eq(account.id),
                channels::brand_id.eq(brand.id),
                channels::kind.eq("webchat"),
                channels::name.eq("Web chat"),
                channels::native.eq(true),
            ))
            .execute(c)
            .await?;
        let channel = Channel {
            id: channel_id,
            account_id: account.id,
            brand_id: brand.id,
            kind: "webchat".into(),
            name: "Web chat".into(),
            address: None,
            native: true,
        };
        Ok(AccountTree {
            account,
            brands: vec![(brand, vec![channel])],
        })
    })
    .await
}

/// The account with its brands and channels.
pub async fn tree(conn: &mut AsyncPgConnection, account: Account) -> CoreResult<AccountTree> {
    let bs: Vec<Brand> = brands::table
        .filter(brands::account_id.eq(account.id))
        .order((brands::native.desc(), brands::created_at, brands::id))
        .select(Brand::as_select())
        .load(conn)
        .await?;
    let mut cs: Vec<Channel> = channels::table
        .filter(channels::account_id.eq(account.id))
        .order((channels::created_at, channels::id))
        .select(Channel::as_select())
        .load(conn)
        .await?;
    let brands = bs
        .into_iter()
        .map(|b| {
            let mine: Vec<Channel> = cs.iter().filter(|c| c.brand_id == b.id).cloned().collect();
            cs.retain(|c| c.brand_id != b.id);
            (b, mine)
        })
        .collect();
    Ok(AccountTree { account, brands })
}

/// Accounts by migration status, exact, read from `account_counts` (O(statuses)).
pub async fn count_by_status(
    conn: &mut AsyncPgConnection,
) -> CoreResult<Vec<(MigrationStatus, i64)>> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    // kept by a trigger in every transaction that moves an account: a few rows a status,
    // summed, instead of a count over millions of accounts
    let sums: Vec<Sum> =
        diesel::sql_query("SELECT status, sum(n)::bigint AS n FROM account_counts GROUP BY status")
            .load(conn)
            .await?;
    Ok(sums
        .into_iter()
        .filter_map(|s| s.status.parse().ok().map(|st| (st, s.n)))
        .collect())
}
