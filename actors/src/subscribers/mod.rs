//! Subscribers of the domain event bus. Each is an actor that takes [`crate::bus::Published`]
//! and never fails the command that published: it logs, counts
//! (`agora_subscriber_failures_total{subscriber}`) and retries its own failures.
//!
//! - [`notify::Notifier`]: the notification copy ([`templates`]) → the notification broker;
//! - [`search::SearchProjector`]: owns writes to the tantivy index (rebuilt at start-up);
//! - [`ratings::RatingAggregator`]: exact `rating_avg` / `reviews_count` of profiles and services;
//! - [`analytics::Analytics`]: the hook analytics builds on (search queries are recorded);
//! - [`reminders::ReminderPlanner`]: writes a confirmed booking's reminders to the due list
//!   ([`reminders::send_due`] sends them, as a [`crate::periodic::Periodic`] job).

pub mod analytics;
pub mod notify;
pub mod ratings;
pub mod reminders;
pub mod search;
pub mod templates;

use std::time::Duration;

/// Attempts a subscriber makes for one event before giving up (with a logged error).
pub const ATTEMPTS: u32 = 5;

/// Back-off before attempt `n` (1-based): 100 ms, 200 ms, 400 ms, ...
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64 << n.saturating_sub(1).min(6))
}

pub(crate) fn failed(subscriber: &'static str, event: &'static str, attempt: u32, error: &dyn std::fmt::Display) {
    metrics::counter!("agora_subscriber_failures_total", "subscriber" => subscriber).increment(1);
    if attempt >= ATTEMPTS {
        tracing::error!(subscriber, event, attempt, error = %error, "subscriber gave up on an event");
    } else {
        tracing::warn!(subscriber, event, attempt, error = %error, "subscriber failed; retrying");
    }
}
