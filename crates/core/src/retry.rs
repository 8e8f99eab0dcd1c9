//! Exponential backoff with full jitter, for calls to external systems and for hop redelivery.

use rand::Rng;
use std::future::Future;
use std::time::Duration;

/// Backoff policy.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First delay.
    pub base_ms: u64,
    /// Largest delay.
    pub max_ms: u64,
    /// Retries after the first try.
    pub retries: u32,
}

impl Backoff {
    /// One try, no retries.
    pub fn none() -> Self {
        Self {
            base_ms: 1,
            max_ms: 1,
            retries: 0,
        }
    }

    /// Delay before retry `n` (1-based): uniform in [d/2, d], d = base * 2^(n-1) capped.
    pub fn delay(&self, n: u32) -> Duration {
        let exp = self
            .base_ms
            .saturating_mul(1u64 << n.saturating_sub(1).min(30))
            .min(self.max_ms)
            .max(1);
        let ms = rand::rng().random_range(exp / 2..=exp);
        Duration::from_millis(ms)
    }
}

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

    #[test]
    fn delays_grow_are_jittered_and_capped() {
        let b = Backoff {
            base_ms: 100,
            max_ms: 1000,
            retries: 5,
        };
        for _ in 0..100 {
            let d1 = b.delay(1).as_millis();
            assert!((50..=100).contains(&d1));
            let d3 = b.delay(3).as_millis();
            assert!((200..=400).contains(&d3));
            assert!(b.delay(20).as_millis() <= 1000);
        }
    }

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
