//! Exponential backoff with full jitter, for calls to external systems and for hop redelivery:
//! the delays (the loop that waits them is the source clients', `migrator_source::retry`).

use rand::Rng;
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
}
