//! `[notify.outbox]`: the delivery worker's attempts, backoff, lease and per-channel rates.

use serde::{Deserialize, Serialize};

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Messages per second, sustained (> 0).
    pub per_second: f64,
    /// Messages that may go at once after a quiet spell (>= 1).
    pub burst: u32,
}

/// `[notify.outbox.rate]`: one bucket per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelRates {
    pub email: RateLimit,
    pub sms: RateLimit,
    pub webhook: RateLimit,
}

impl Default for ChannelRates {
    /// E-mail 10/s (a small relay's comfortable pace), SMS 5/s (a common default for HTTP
    /// SMS APIs' per-account limits), webhooks 20/s.
    fn default() -> Self {
        ChannelRates {
            email: RateLimit {
                per_second: 10.0,
                burst: 20,
            },
            sms: RateLimit {
                per_second: 5.0,
                burst: 10,
            },
            webhook: RateLimit {
                per_second: 20.0,
                burst: 40,
            },
        }
    }
}

/// `[notify.outbox]`: the delivery worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a message is given up (marked failed), >= 1.
    pub max_attempts: u32,
    /// Seconds before the first retry; doubled at each retry (exponential backoff).
    pub backoff_initial_s: f64,
    /// Longest wait between two attempts, seconds.
    pub backoff_max_s: f64,
    /// Seconds a claimed message stays reserved by a worker; after that a crashed
    /// worker's claim lapses and the message is retried with the same idempotency key.
    pub lease_s: f64,
    /// Seconds between two looks at the outbox when it is idle.
    pub poll_interval_s: f64,
    /// Messages claimed at once.
    pub batch: u32,
    /// `aviso run-once` delivers before it exits, waiting at most this many seconds for
    /// retries that come due; messages still waiting stay in the outbox for the next run.
    pub run_once_wait_s: f64,
    pub rate: ChannelRates,
}

impl Default for OutboxConfig {
    /// 8 attempts from 30 s doubling to at most 1 h: about 2 h of retries in all, which
    /// rides out a gateway outage without sending a 6-hourly alert after the next one.
    fn default() -> Self {
        OutboxConfig {
            max_attempts: 8,
            backoff_initial_s: 30.0,
            backoff_max_s: 3600.0,
            lease_s: 120.0,
            poll_interval_s: 2.0,
            batch: 50,
            run_once_wait_s: 120.0,
            rate: ChannelRates::default(),
        }
    }
}
