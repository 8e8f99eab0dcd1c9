//! Every query of the project, one module per table or job; handlers and phases call these,
//! none writes SQL.

pub mod account_import;
pub mod accounts;
pub mod attachments;
pub mod audit;
pub mod blob_removals;
pub mod brands;
pub mod campaign_drive;
pub mod campaigns;
pub mod conversations;
pub mod dead_letters;
pub mod fleet;
pub mod history;
pub mod inbox;
pub mod lease;
pub mod listing;
pub mod locks;
pub mod messages;
pub mod migration;
pub mod outbox;
pub mod overview;
pub mod page;
pub mod program;
pub mod rates;
pub mod rejects;
pub mod retention;
pub mod runs;
pub mod sessions;
pub mod settling;
pub mod sweeps;
pub mod transitions;
pub mod verifications;
pub mod verify_reads;
pub mod webchat;
