//! Test harness: spawns the Conversations simulator, the api and workers in-process against a
//! fresh Postgres database, fresh queue names and fresh DynamoDB tables, so every test is
//! isolated and tests run in parallel. Services that are missing fail the test loudly.
//!
//! - [`env`]: one isolated environment ([`TestEnv`]) and its settings;
//! - [`client`]: calls to the api as the app or an operator, with signed tokens;
//! - [`db`]: scratch databases;
//! - [`process`]: worker processes (kill, SIGTERM);
//! - [`verify`]: the destination checked against the source;
//! - [`dynamo_proxy`]: faults between the workers and DynamoDB;
//! - [`broker_proxy`]: a RabbitMQ that accepts connections and never answers.

pub mod broker_proxy;
pub mod client;
pub mod db;
pub mod dynamo_proxy;
pub mod env;
pub mod hostile;
pub mod late;
pub mod object_store;
pub mod process;
pub mod verify;

pub use db::pg_server;
pub use env::{remove_broker_objects, test_settings, EnvOptions, TestEnv};
use std::path::PathBuf;

/// Root of the workspace.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn env_or(k: &str, d: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| d.to_string())
}
