//! What this task's reads of the source are for ([`ReadPurpose`]: the copy by default, a
//! catch-up, a verification), carried like the rate limit's priority
//! ([`crate::ratelimit::scoped`]): set around a hop or a verification, passed on to the tasks
//! it spawns, read where a page is counted (the `purpose` label of
//! `migrator_dynamodb_pages_total` and the fleet's minutes).

pub use migrator_core::tally::ReadPurpose;
use std::future::Future;

tokio::task_local! {
    static PURPOSE: ReadPurpose;
}

/// The purpose of the reads made in this task (the copy outside [`scoped`]).
pub fn current() -> ReadPurpose {
    PURPOSE.try_with(|p| *p).unwrap_or_default()
}

/// Runs `f` with its reads counted as `purpose`.
pub async fn scoped<F: Future>(purpose: ReadPurpose, f: F) -> F::Output {
    PURPOSE.scope(purpose, f).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_scope_names_its_reads_and_outside_it_they_are_the_copy() {
        assert_eq!(current(), ReadPurpose::Copy);
        let inside = scoped(ReadPurpose::Verification, async { current() }).await;
        assert_eq!(inside, ReadPurpose::Verification);
    }
}
