//! The Conversations platform as the source contract describes it.

pub mod conversations;
pub mod dynamo;
pub mod items;
pub mod media;
