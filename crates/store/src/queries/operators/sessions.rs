//! The operators' console's server-side sessions (`console_sessions`): a row per signed-in
//! browser, found by the SHA-256 of the cookie's secret (the secret itself is never stored),
//! sliding to its idle timeout and never past its absolute lifetime. Expired rows are pruned by
//! the sweeper ([`crate::queries::operators::retention`]).

use diesel::sql_types::{Bytea, Double, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use migrator_core::error::CoreResult;
use std::time::Duration;

/// A live session: who signed in, and the token its forms carry.
#[derive(Debug, Clone, QueryableByName)]
pub struct Session {
    /// The operator (a token's `sub`, or the identity proxy's header).
    #[diesel(sql_type = Text)]
    pub operator: String,
    /// The CSRF token every state-changing form of this session carries.
    #[diesel(sql_type = Text)]
    pub csrf_token: String,
}

/// How long a session lives: `idle` past its last use, `max` past its sign-in at most.
#[derive(Debug, Clone, Copy)]
pub struct Lifetime {
    /// Idle timeout.
    pub idle: Duration,
    /// Absolute lifetime.
    pub max: Duration,
}

/// Records a new session for `operator` under `secret_sha256`.
pub async fn create(
    conn: &mut AsyncPgConnection,
    secret_sha256: &[u8],
    operator: &str,
    csrf_token: &str,
    life: Lifetime,
) -> CoreResult<()> {
    diesel::sql_query(
        "INSERT INTO console_sessions (secret_sha256, operator, csrf_token, expires_at, \
         absolute_until) VALUES ($1, $2, $3, \
         now() + make_interval(secs => least($4, $5)), now() + make_interval(secs => $5))",
    )
    .bind::<Bytea, _>(secret_sha256)
    .bind::<Text, _>(operator)
    .bind::<Text, _>(csrf_token)
    .bind::<Double, _>(life.idle.as_secs_f64())
    .bind::<Double, _>(life.max.as_secs_f64())
    .execute(conn)
    .await?;
    Ok(())
}

/// The live session of `secret_sha256`, its idle timeout slid forward (one statement: an
/// expired one is not found and not extended); `None` when there is none.
pub async fn touch(
    conn: &mut AsyncPgConnection,
    secret_sha256: &[u8],
    idle: Duration,
) -> CoreResult<Option<Session>> {
    let mut rows: Vec<Session> = diesel::sql_query(
        "UPDATE console_sessions SET seen_at = now(), \
         expires_at = least(absolute_until, now() + make_interval(secs => $2)) \
         WHERE secret_sha256 = $1 AND expires_at > now() \
         RETURNING operator, csrf_token",
    )
    .bind::<Bytea, _>(secret_sha256)
    .bind::<Double, _>(idle.as_secs_f64())
    .load(conn)
    .await?;
    Ok(rows.pop())
}

/// Ends the session of `secret_sha256` (sign-out); whether there was one.
pub async fn delete(conn: &mut AsyncPgConnection, secret_sha256: &[u8]) -> CoreResult<bool> {
    let n = diesel::sql_query("DELETE FROM console_sessions WHERE secret_sha256 = $1")
        .bind::<Bytea, _>(secret_sha256)
        .execute(conn)
        .await?;
    Ok(n > 0)
}
