//! The feed's metric names, described once by [`describe`] when the node installs its
//! recorder.

pub const FEED_SUBSCRIBERS: &str = "rucket_feed_subscribers";
pub const FEED_LIVE_DROPS: &str = "rucket_feed_live_drops_total";
pub const FEED_OVERFLOWS: &str = "rucket_feed_overflows_total";
pub const WEBHOOK_DELIVERED: &str = "rucket_webhook_delivered_total";
pub const WEBHOOK_FAILURES: &str = "rucket_webhook_failures_total";
pub const WEBHOOK_LAG_EVENTS: &str = "rucket_webhook_lag_events";
pub const WEBHOOK_LAG_SECONDS: &str = "rucket_webhook_lag_seconds";

pub fn describe() {
    metrics::describe_gauge!(FEED_SUBSCRIBERS, "open event feed subscriptions");
    metrics::describe_counter!(
        FEED_LIVE_DROPS,
        "times a live subscriber fell behind and went back to reading the archive"
    );
    metrics::describe_counter!(FEED_OVERFLOWS, "subscriptions ended because the client stopped reading");
    metrics::describe_counter!(WEBHOOK_DELIVERED, "notification records a webhook target accepted");
    metrics::describe_counter!(WEBHOOK_FAILURES, "webhook requests that failed and will be retried");
    metrics::describe_gauge!(WEBHOOK_LAG_EVENTS, "archived events a webhook target's cursor is behind");
    metrics::describe_gauge!(
        WEBHOOK_LAG_SECONDS,
        metrics::Unit::Seconds,
        "age of the newest event delivered to a webhook target, at delivery"
    );
}
