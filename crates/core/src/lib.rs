//! The migration's domain, with no I/O: the state machine and its phase table, typed ids, the
//! hop message, what follows a failed hop, the app's progress, exact text, the source's item
//! types and how an item is decoded and checked against the contract, backoff, the blob-store
//! trait, and every metric's name. The other crates do the I/O around it: `migrator-store`
//! (Postgres, blobs), `migrator-source` (Conversations), `migrator-queue` (RabbitMQ),
//! `migrator-runtime` (settings, logs, signals).

pub mod blob;
pub mod campaign;
pub mod error;
pub mod hop;
pub mod ids;
pub mod metrics;
pub mod progress;
pub mod retry;
pub mod setback;
pub mod source;
pub mod status;
pub mod tally;
pub mod text;

pub use error::{CoreError, CoreResult};
pub use ids::*;
pub use status::{MigrationStatus, Phase};
