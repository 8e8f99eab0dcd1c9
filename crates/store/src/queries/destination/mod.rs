//! The re:amaze rows a migration writes (keyed by their source ids: a row written twice is one
//! row) and the app reads: accounts with their brands and channels, conversations, messages,
//! attachments, native web chat, the source items refused (rejects), and the reads of the app's
//! inbox and of the verifier. Nothing here writes a migration status or a run (that is
//! [`super::workflow`]'s).

pub mod account_import;
pub mod accounts;
pub mod attachments;
pub mod brands;
pub mod conversations;
pub mod inbox;
pub mod messages;
pub mod rejects;
pub mod verify_reads;
pub mod webchat;
