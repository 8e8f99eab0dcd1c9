//! Accounts in bulk, as the web chat initiative creates them (about two million): each an
//! account, its default brand and its web chat channel, exactly as `POST /admin/accounts`
//! makes one, a batch of thousands per statement. Idempotent on `shopper_id`: an account that
//! exists is counted and left as it is.

use diesel::sql_types::{Array, BigInt, Text, Uuid as SqlUuid};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use migrator_core::error::{CoreError, CoreResult};
use migrator_core::ids::ShopperId;

/// One account to create: a valid shopper id and its display name (checked by the caller:
/// 1–256 characters of text).
#[derive(Debug, Clone)]
pub struct NewAccountRow {
    pub shopper_id: ShopperId,
    pub name: String,
}

/// What a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// Accounts created (with their brand and channel).
    pub created: u64,
    /// Accounts whose shopper id existed already (or appeared earlier in the batch): left as
    /// they are.
    pub existing: u64,
}

impl std::ops::AddAssign for ImportCounts {
    fn add_assign(&mut self, o: Self) {
        self.created += o.created;
        self.existing += o.existing;
    }
}

/// Creates the accounts of `rows` that do not exist, in one transaction of one statement:
/// accounts (`ON CONFLICT (shopper_id) DO NOTHING`), then a native brand and a web chat channel
/// for each account created. The status counts follow by their trigger.
pub async fn import_batch(
    conn: &mut AsyncPgConnection,
    rows: &[NewAccountRow],
) -> CoreResult<ImportCounts> {
    #[derive(QueryableByName)]
    struct Created {
        #[diesel(sql_type = BigInt)]
        created: i64,
    }
    if rows.is_empty() {
        return Ok(ImportCounts::default());
    }
    let n = rows.len();
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::new_v4()).collect();
    let brands: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::new_v4()).collect();
    let channels: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::new_v4()).collect();
    let shoppers: Vec<String> = rows.iter().map(|r| r.shopper_id.to_string()).collect();
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let created = conn
        .transaction::<_, CoreError, _>(async move |c| {
            let got: Created = diesel::sql_query(
                "WITH input AS ( \
                   SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::uuid[]) \
                     AS t(id, shopper_id, name, brand_id, channel_id)), \
                 made AS ( \
                   INSERT INTO accounts (id, shopper_id, name) \
                   SELECT id, shopper_id, name FROM input \
                   ON CONFLICT (shopper_id) DO NOTHING RETURNING id), \
                 brand AS ( \
                   INSERT INTO brands (id, account_id, name, native) \
                   SELECT i.brand_id, i.id, i.name, true FROM input i JOIN made USING (id)), \
                 channel AS ( \
                   INSERT INTO channels (id, account_id, brand_id, kind, name, native) \
                   SELECT i.channel_id, i.id, i.brand_id, 'webchat', 'Web chat', true \
                   FROM input i JOIN made USING (id)) \
                 SELECT count(*) AS created FROM made",
            )
            .bind::<Array<SqlUuid>, _>(&ids)
            .bind::<Array<Text>, _>(&shoppers)
            .bind::<Array<Text>, _>(&names)
            .bind::<Array<SqlUuid>, _>(&brands)
            .bind::<Array<SqlUuid>, _>(&channels)
            .get_result(c)
            .await?;
            Ok(got.created)
        })
        .await? as u64;
    Ok(ImportCounts {
        created,
        existing: n as u64 - created,
    })
}
