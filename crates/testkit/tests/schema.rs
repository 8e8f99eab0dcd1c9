//! The Diesel migrations apply on an empty database, and every down.sql undoes its up.sql.

use migrator_testkit::db::{create_database, drop_database, pg_server};

#[tokio::test]
async fn migrations_apply_and_revert_cleanly() {
    let name = format!(
        "mtschema{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    );
    create_database(&name)
        .await
        .expect("PostgreSQL must be running (scripts/services.sh)");
    let url = format!("{}/{name}", pg_server());
    migrator_store::check_migrations_reversible(&url)
        .await
        .expect("up, down, up");
    // idempotent: a second run applies nothing and fails nothing
    migrator_store::run_migrations(&url).await.expect("re-run");
    drop_database(&name).await.unwrap();
}
