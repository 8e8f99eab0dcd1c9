//! The object store's failures as `io::Error`s, short and counted by operation
//! (`migrator_blob_errors_total{operation}`).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use migrator_core::metrics::BLOB_ERRORS;
use std::io;

/// A failure of `op` as an `io::Error` saying `why`, counted under `op`.
pub(super) fn failed(op: &'static str, why: impl std::fmt::Display) -> io::Error {
    metrics::counter!(BLOB_ERRORS, "operation" => op).increment(1);
    io::Error::other(format!("object store {op}: {why}"))
}

/// A call's error, short: the service's code and message (`SlowDown: Please reduce your request
/// rate`), else what failed and why (a timeout, a connection refused).
pub(super) fn sdk<E, R>(op: &'static str, e: SdkError<E, R>) -> io::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let why = match e.code() {
        Some(code) => format!("{code}: {}", e.message().unwrap_or("no message")),
        None => match std::error::Error::source(&e) {
            Some(s) => format!("{e}: {s}"),
            None => e.to_string(),
        },
    };
    failed(op, why)
}
