//! The maximum age of a connection, so that clients which keep one
//! connection for hours spread over replicas the HPA adds.
//!
//! When a connection reaches its age (`--grpc-max-connection-age`, ±10%
//! jitter so one client's connections do not all reconnect at once, as
//! gRPC-Go does) the server sends HTTP/2 GOAWAY: calls in flight finish, the
//! client opens a new connection for the next ones. A connection whose calls
//! have not finished `--grpc-max-connection-age-grace` later is closed under
//! them; at shutdown every connection is drained the same way. Each
//! connection costs one timer, reset once from age (or shutdown) to grace.
//! Connections that reach their age are counted in
//! `ferrotrace_collector_connections_aged_total`.
//!
//! HTTP/1.1 has no GOAWAY, and closing an idle keep-alive connection races
//! with a request the client may be sending on it. So an HTTP/1.1
//! connection past its age (`--http-max-connection-age`) answers its next
//! request with `Connection: close` and is closed after that response, as
//! Envoy's `max_connection_duration` does; one that stays idle is closed
//! `--http-max-connection-age-grace` later, and its requests in flight then
//! get the same grace again.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::time::Duration;

use hyper_util::server::graceful::GracefulConnection;
use tokio_util::sync::CancellationToken;

use crate::metrics as m;

/// How long a receiver's connections may live.
#[derive(Clone, Debug)]
pub struct ConnectionAge {
    /// Zero: connections never age.
    max_age: Duration,
    grace: Duration,
    aged: metrics::Counter,
}

impl ConnectionAge {
    pub fn new(max_age: Duration, grace: Duration, receiver: &'static str) -> Self {
        Self {
            max_age,
            grace,
            aged: metrics::counter!(m::CONNECTIONS_AGED, "receiver" => receiver),
        }
    }

    /// When a connection accepted now reaches its age (jittered); `None`
    /// when connections never age.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        (!self.max_age.is_zero()).then(|| tokio::time::Instant::now() + jittered(self.max_age))
    }

    /// Serves an HTTP/1.1 `connection` whose responses say `Connection:
    /// close` from `deadline` on (the caller's service adds the header): at
    /// `deadline` it is counted, at `deadline` + grace drained (an idle one
    /// closes at once), and closed a grace later; on `shutdown` it is
    /// drained at once.
    pub async fn serve_http1<C>(
        self,
        connection: C,
        deadline: Option<tokio::time::Instant>,
        shutdown: CancellationToken,
    ) where
        C: GracefulConnection,
    {
        tokio::pin!(connection);
        let timer = tokio::time::sleep_until(deadline.unwrap_or_else(far_future));
        tokio::pin!(timer);
        let (mut aged, mut draining) = (false, false);
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = shutdown.cancelled(), if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                    timer.as_mut().reset(tokio::time::Instant::now() + self.grace);
                }
                _ = timer.as_mut(), if deadline.is_some() || draining => {
                    if draining {
                        return;
                    }
                    if !aged {
                        // Its next response closes it; an idle one gets the grace.
                        aged = true;
                        self.aged.increment(1);
                    } else {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                    timer.as_mut().reset(tokio::time::Instant::now() + self.grace);
                }
            }
        }
    }

    /// Serves `connection` to its end: at its age it is drained (GOAWAY), at
    /// age + grace closed; on `shutdown` it is drained at once.
    pub async fn serve<C>(self, connection: C, shutdown: CancellationToken)
    where
        C: GracefulConnection,
    {
        tokio::pin!(connection);
        let aging = !self.max_age.is_zero();
        let timer = tokio::time::sleep(if aging {
            jittered(self.max_age)
        } else {
            Duration::MAX / 4
        });
        tokio::pin!(timer);
        let mut draining = false;
        loop {
            tokio::select! {
                // A client that goes away or times out ends its connection; nothing to report.
                _ = connection.as_mut() => return,
                _ = shutdown.cancelled(), if !draining => {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                    // Calls get the grace here too (--shutdown-timeout bounds it when not aging).
                    timer.as_mut().reset(tokio::time::Instant::now() + self.grace);
                }
                _ = timer.as_mut(), if aging => {
                    if draining {
                        // The grace is over: close it under the calls still running.
                        return;
                    }
                    self.aged.increment(1);
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                    timer.as_mut().reset(tokio::time::Instant::now() + self.grace);
                }
            }
        }
    }
}

/// A time no timer reaches (`Instant` + `Duration::MAX` overflows).
fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// `age` ±10%, from a per-process random seed and a per-call counter (no RNG dependency).
fn jittered(age: Duration) -> Duration {
    use std::sync::atomic::{AtomicU64, Ordering};
    static CALLS: AtomicU64 = AtomicU64::new(0);
    static SEED: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let random = SEED.get_or_init(RandomState::new).hash_one(n);
    // A factor in [0.9, 1.1).
    let factor = 0.9 + 0.2 * (random >> 11) as f64 / (1u64 << 53) as f64;
    age.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_and_varies() {
        let age = Duration::from_secs(100);
        let ages: Vec<Duration> = (0..1000).map(|_| jittered(age)).collect();
        assert!(ages
            .iter()
            .all(|a| *a >= Duration::from_secs(90) && *a < Duration::from_secs(110)));
        let min = ages.iter().min().copied().unwrap_or_default();
        let max = ages.iter().max().copied().unwrap_or_default();
        assert!(max - min > Duration::from_secs(15), "{min:?}..{max:?}");
    }
}
