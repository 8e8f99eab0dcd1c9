//! What operators read — every list a cursor page along its own index, every count a summary —
//! and their own tables: the fleet's steering, the audit log, the console's sessions; with the
//! retention rule of every growing table (the sweeper prunes by it).

pub mod audit;
pub mod fleet;
pub mod history;
pub mod listing;
pub mod overview;
pub mod program;
pub mod rates;
pub mod retention;
pub mod series;
pub mod sessions;
