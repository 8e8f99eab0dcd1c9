//! Everything the api and the worker share: the migration state machine, domain types, the
//! Diesel schema and queries, queue message types, settings and credential encryption.

pub mod blob;
pub mod conversations;
pub mod crypto;
pub mod db;
pub mod dynamo;
pub mod error;
pub mod ids;
pub mod metrics;
pub mod preflight;
pub mod progress;
pub mod queue;
pub mod ratelimit;
pub mod relay;
pub mod retry;
pub mod settings;
pub mod settle;
pub mod shutdown;
pub mod source;
pub mod status;
pub mod telemetry;
pub mod text;

pub use error::{CoreError, CoreResult};
pub use ids::*;
pub use status::{MigrationStatus, Phase};
