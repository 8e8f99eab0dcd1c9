//! Every query of the project; handlers, phases and the sweeper call these, none writes SQL.
//! Three kinds, a folder each, and what they may do:
//!
//! - [`workflow`]: the state machine's writer and what drives it — statuses, runs, leases,
//!   the outbox, sweeps, campaigns, settling, verifications, dead letters. **Only this folder
//!   writes a migration status or a run.**
//! - [`destination`]: the re:amaze rows a migration writes and the app reads — accounts,
//!   brands and channels, conversations, messages, attachments, web chat, rejects; their reads
//!   for the inbox and the verifier. Never a status or a run.
//! - [`operators`]: what operators read (lists, overviews, history, the program, the fleet's
//!   steering and health, the audit log), the console's sessions and the retention rules.
//!   Reads, and writes of operators' own tables only.
//!
//! [`page`] is the cursor paging every list shares.

pub mod destination;
pub mod operators;
pub mod page;
pub mod workflow;
