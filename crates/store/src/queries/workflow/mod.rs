//! The state machine's writer and what drives it. The only code that writes a migration status
//! or a run: every step goes through [`transitions::apply`] (the status the state machine in
//! `migrator_core::status` decides, the run's side, the next hop in the outbox), always locking
//! the account, then its run ([`locks`]).

pub mod blob_removals;
pub mod campaign_drive;
pub mod campaign_dry_run;
pub mod campaigns;
pub mod dead_letters;
mod effects;
pub mod lease;
pub mod locks;
pub mod migration;
pub mod outbox;
pub mod repairs;
mod run_rows;
pub mod runs;
pub mod settling;
pub mod sweeps;
pub mod transitions;
pub mod verifications;
