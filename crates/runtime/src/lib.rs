//! What every process of ours starts with: its settings (layered, checked before a start), its
//! logs and traces, its metrics recorder, and the signals that stop it.

pub mod metrics;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod trace_context;
