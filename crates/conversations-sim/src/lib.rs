//! A simulator of the Conversations platform for local runs, demos and tests: the REST API and
//! media service of the source contract, and a seeder that fills the DynamoDB tables with
//! realistic synthetic C1s.

pub mod items;
pub mod media;
pub mod model;
pub mod server;
pub mod store;
