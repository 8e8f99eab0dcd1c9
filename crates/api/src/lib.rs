//! The re:amaze migration API: mobile app endpoints (accounts, migrate, status, inbox, web
//! chat) and operator endpoints, over the shared core.

pub mod audit;
pub mod auth;
pub mod console;
pub mod error;
pub mod extract;
pub mod jwt;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod request_id;
pub mod routes;
pub mod startup;
pub mod state;
pub mod views;
