//! The Conversations platform's data as the source contract describes it (its REST API client
//! is in core, shared with the api).

pub mod dynamo;
pub mod items;
pub mod media;
