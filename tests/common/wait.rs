//! Waiting for a condition in an async test: poll it at a fixed interval, fail past a limit
//! with what was seen instead.

use std::time::{Duration, Instant};

/// Polls `ready` every `every` until it gives `Ok`, and returns that; past `within`, fails
/// with its last `Err`: what the test saw instead of what it waited for.
pub async fn poll_until<T>(
    within: Duration,
    every: Duration,
    mut ready: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let failure = match ready().await {
            Ok(value) => return value,
            Err(failure) => failure,
        };
        assert!(Instant::now() < deadline, "{failure}");
        tokio::time::sleep(every).await;
    }
}
