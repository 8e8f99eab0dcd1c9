//! Calls to the source retried: a transient failure is tried again after the backoff's delay
//! (exponential, full jitter: `migrator_core::retry::Backoff`), a permanent one ends at once,
//! and the retries run out on the last error.

use migrator_core::retry::Backoff;
use std::future::Future;

/// What a failed attempt was.
pub enum Attempt<E> {
    /// Retry it.
    Transient(E),
    /// Give up now.
    Permanent(E),
}

/// Runs `f` until it succeeds, fails permanently, or exhausts the retries (last error).
pub async fn retry<T, E, F, Fut>(b: Backoff, mut f: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let mut n = 0;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(Attempt::Permanent(e)) => return Err(e),
            Err(Attempt::Transient(e)) => {
                n += 1;
                if n > b.retries {
                    return Err(e);
                }
                tokio::time::sleep(b.delay(n)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn retries_transient_then_gives_up_and_stops_on_permanent() {
        let b = Backoff {
            base_ms: 1,
            max_ms: 2,
            retries: 2,
        };
        let mut calls = 0;
        let r: Result<(), &str> = retry(b, || {
            calls += 1;
            async { Err(Attempt::Transient("x")) }
        })
        .await;
        assert_eq!((r, calls), (Err("x"), 3));
        let mut calls = 0;
        let r: Result<(), &str> = retry(b, || {
            calls += 1;
            async { Err(Attempt::Permanent("p")) }
        })
        .await;
        assert_eq!((r, calls), (Err("p"), 1));
        let mut calls = 0;
        let r: Result<u8, &str> = retry(b, || {
            calls += 1;
            let c = calls;
            async move {
                if c < 2 {
                    Err(Attempt::Transient("x"))
                } else {
                    Ok(7)
                }
            }
        })
        .await;
        assert_eq!(r, Ok(7));
    }
}
