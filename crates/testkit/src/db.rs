//! Scratch databases, one per test, on the Postgres server the tests use.

use crate::{env_or, TestEnv};
use anyhow::Context;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

/// The server URL of Postgres (without database).
pub fn pg_server() -> String {
    env_or("MIGRATOR_TEST_PG", "postgres://postgres@127.0.0.1:5432")
}

/// Creates an empty database.
pub async fn create_database(name: &str) -> anyhow::Result<()> {
    let mut c = AsyncPgConnection::establish(&format!("{}/postgres", pg_server()))
        .await
        .context("connect to postgres")?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut c)
        .await?;
    Ok(())
}

/// Drops a database, disconnecting its users.
pub async fn drop_database(name: &str) -> anyhow::Result<()> {
    let mut c = AsyncPgConnection::establish(&format!("{}/postgres", pg_server())).await?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut c)
        .await?;
    Ok(())
}

impl TestEnv {
    /// A direct database connection (assertions).
    pub async fn db(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(self.settings.database.url.as_str())
            .await
            .expect("db")
    }
}
