//! The Conversations platform's data as the source contract describes it (its REST API and
//! DynamoDB clients are in core, shared with the api).

pub use migrator_core::dynamo;
pub mod items;
pub mod media;
