//! Moving threads and their messages, shared by the recent and the all-messages phases.
//!
//! Progress is checkpointed with every committed page ([`checkpoint`]). A worker killed at any
//! instant resumes from the last commit; since every write is an idempotent upsert keyed by
//! source id, the result equals an uninterrupted run. The first message pages of upcoming
//! threads are read ahead ([`read_ahead`]) while earlier ones are written ([`batch`]); web chat
//! threads only carry starred flags ([`webchat`]).

mod batch;
mod checkpoint;
mod mover;
mod read_ahead;
mod walk;
mod webchat;

pub use mover::{move_threads, Scope};
