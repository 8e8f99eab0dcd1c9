//! The web chat initiative's accounts in bulk: BENCH_IMPORT_ACCOUNTS (2,000,000) accounts
//! through `POST /admin/accounts/batch` (NDJSON, 50,000 a request, two requests at once) into
//! a scratch database, against the same rows (account, brand, web chat channel, the status
//! counts' trigger) made in SQL alone from a generated table in another, in the same statement
//! shape and transaction size: the floor of what Postgres does for them with no client,
//! parsing or HTTP in the way.

use super::report::Row;
use super::{env_usize, Bench};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::StreamExt;
use migrator_testkit::db::{create_database, drop_database, pg_server};
use std::time::Instant;

const PER_REQUEST: usize = 50_000;

impl Bench {
    /// Accounts a second through the api, against the floor in SQL.
    pub async fn import(&mut self) -> anyhow::Result<()> {
        let n = env_usize("BENCH_IMPORT_ACCOUNTS", 2_000_000);
        let ours = self.import_through_api(n).await?;
        let raw = raw_import_rate(n).await?;
        self.rows.push(Row(
            format!("account import, {n} accounts (accounts/s; minutes for 2M)"),
            format!("{ours:.0}/s ({:.1} min)", 2e6 / ours / 60.0),
            format!("{raw:.0}/s (INSERT … SELECT)"),
            format!("{:.2}", ours / raw),
        ));
        Ok(())
    }

    async fn import_through_api(&mut self, n: usize) -> anyhow::Result<f64> {
        let db = format!("bench_import_{}", std::process::id());
        drop_database(&db).await?;
        create_database(&db).await?;
        let mut s = self.env.settings.clone();
        s.database.url = format!("{}/{db}", pg_server()).into();
        s.database.migrate_at_start = true;
        s.api.listen = "127.0.0.1:0".into();
        s.api.admin_listen = String::new();
        let api = migrator_api::startup::start(s).await?;
        let url = format!("{}/admin/accounts/batch", api.base_url);
        let token = self.env.admin_token();
        let http = reqwest::Client::new();
        self.say(&format!("import: {n} accounts through the api"));
        let bodies = (0..n).step_by(PER_REQUEST).map(|start| {
            let mut body = Vec::with_capacity(PER_REQUEST * 60);
            for i in start..(start + PER_REQUEST).min(n) {
                body.extend_from_slice(
                    format!("{{\"shopper_id\":\"bench-{i:08}\",\"name\":\"Shop {i}\"}}\n")
                        .as_bytes(),
                );
            }
            body
        });
        let started = Instant::now();
        let created: Vec<anyhow::Result<u64>> = futures::stream::iter(bodies)
            .map(|body| {
                let (http, url, token) = (&http, &url, &token);
                async move {
                    let r = http
                        .post(url)
                        .bearer_auth(token)
                        .header("content-type", "application/x-ndjson")
                        .body(body)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "import: {}", r.status());
                    let v: serde_json::Value = r.json().await?;
                    Ok(v["created"].as_u64().unwrap_or(0))
                }
            })
            .buffer_unordered(2)
            .collect()
            .await;
        let secs = started.elapsed().as_secs_f64();
        let total: u64 = created.into_iter().sum::<anyhow::Result<u64>>()?;
        anyhow::ensure!(total == n as u64, "created {total} of {n}");
        api.stop().await;
        drop_database(&db).await?;
        Ok(n as f64 / secs)
    }
}

/// The same rows made in SQL alone, in a scratch database with the schema: accounts a second.
async fn raw_import_rate(n: usize) -> anyhow::Result<f64> {
    let db = format!("bench_import_raw_{}", std::process::id());
    drop_database(&db).await?;
    create_database(&db).await?;
    let url = format!("{}/{db}", pg_server());
    migrator_store::run_migrations(&url).await?;
    let mut c = AsyncPgConnection::establish(&url).await?;
    diesel::sql_query(format!(
        "CREATE UNLOGGED TABLE ids AS SELECT i, gen_random_uuid() AS id, \
         gen_random_uuid() AS brand, gen_random_uuid() AS channel FROM generate_series(1, {n}) i"
    ))
    .execute(&mut c)
    .await?;
    diesel::sql_query("CREATE INDEX ON ids (i)")
        .execute(&mut c)
        .await?;
    diesel::sql_query("ANALYZE ids").execute(&mut c).await?;
    // the api's transaction size (the status counts' trigger updates the same 16 rows: one
    // transaction of millions would stretch their version chains), two connections at once
    // as the api's two requests
    let batch = migrator_api::routes::import::BATCH;
    let started = Instant::now();
    let done: Vec<anyhow::Result<()>> = futures::stream::iter((1..=n).step_by(batch))
        .map(|from| {
            let url = url.clone();
            async move {
                let mut c = AsyncPgConnection::establish(&url).await?;
                let to = from + batch - 1;
                diesel::sql_query(format!(
                    "WITH input AS (SELECT * FROM ids WHERE i BETWEEN {from} AND {to}), \
                     made AS (INSERT INTO accounts (id, shopper_id, name) \
                       SELECT id, 'raw-' || i, 'Shop ' || i FROM input \
                       ON CONFLICT (shopper_id) DO NOTHING RETURNING id), \
                     b AS (INSERT INTO brands (id, account_id, name, native) \
                       SELECT brand, id, 'Shop ' || i, true FROM input JOIN made USING (id)) \
                     INSERT INTO channels (id, account_id, brand_id, kind, name, native) \
                     SELECT channel, id, brand, 'webchat', 'Web chat', true \
                     FROM input JOIN made USING (id)"
                ))
                .execute(&mut c)
                .await?;
                Ok(())
            }
        })
        .buffer_unordered(2)
        .collect()
        .await;
    done.into_iter().collect::<anyhow::Result<()>>()?;
    let secs = started.elapsed().as_secs_f64();
    drop(c);
    drop_database(&db).await?;
    Ok(n as f64 / secs)
}
