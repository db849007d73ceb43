//! Prometheus metrics: requests by operation and status, latency, bytes in and out, and
//! the log's commit and applied positions.

use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const REQUESTS: &str = "rucket_requests_total";
pub const LATENCY: &str = "rucket_request_duration_seconds";
pub const BYTES_IN: &str = "rucket_bytes_in_total";
pub const BYTES_OUT: &str = "rucket_bytes_out_total";
pub const RAFT_COMMITTED: &str = "rucket_raft_committed_index";
pub const RAFT_APPLIED: &str = "rucket_raft_applied_index";
pub const RAFT_LAST_LOG: &str = "rucket_raft_last_log_index";
pub const APPLIED_POSITION: &str = "rucket_applied_position";
pub const UPLOADS_IN_FLIGHT: &str = "rucket_uploads_in_flight";
pub const CONNECTIONS_OPEN: &str = "rucket_connections_open";
pub const REJECTIONS: &str = "rucket_rejections_total";
pub const LOG_DURABLE: &str = "rucket_log_durable";
pub const LOG_FSYNC_FAILURES: &str = "rucket_log_fsync_failures";
pub const ORPHANS_REMOVED: &str = "rucket_orphan_blobs_removed_total";
pub const BLOBS_COLLECTED: &str = "rucket_blobs_collected_total";
pub const BLOBS_COLLECT_FAILURES: &str = "rucket_blobs_collect_failures_total";
pub const LIFECYCLE_ACTIONS: &str = "rucket_lifecycle_actions_total";
pub const KEYS_REWRAPPED: &str = "rucket_data_keys_rewrapped_total";
pub const CLUSTER_ROLE: &str = "rucket_cluster_is_leader";
pub const CLUSTER_TERM: &str = "rucket_cluster_term";
pub const CLUSTER_LEADER: &str = "rucket_cluster_leader_id";
pub const CLUSTER_LEADER_CHANGES: &str = "rucket_cluster_leader_changes_total";
pub const CLUSTER_FORWARD_SECONDS: &str = "rucket_cluster_forward_seconds";
pub const CLUSTER_REPLICATION_LAG: &str = "rucket_cluster_replication_lag_entries";
pub const CLUSTER_COPY_FAILURES: &str = "rucket_cluster_copy_failures_total";
pub const CLUSTER_BLOBS_FETCHED: &str = "rucket_cluster_blobs_fetched_total";
pub const CLUSTER_BLOBS_MISSING: &str = "rucket_cluster_blobs_missing";
pub const KEYS_UNDER_PREVIOUS: &str = "rucket_data_keys_under_previous_master_keys";

/// Installs the process-wide recorder and returns the handle that renders it.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(LATENCY.to_owned()), &buckets)?
        .install_recorder()?;
    metrics::describe_counter!(REQUESTS, "S3 requests by operation and HTTP status");
    metrics::describe_histogram!(LATENCY, metrics::Unit::Seconds, "S3 request latency by operation");
    metrics::describe_counter!(BYTES_IN, metrics::Unit::Bytes, "request body bytes received");
    metrics::describe_counter!(BYTES_OUT, metrics::Unit::Bytes, "object bytes sent");
    metrics::describe_gauge!(RAFT_COMMITTED, "last committed Raft log index");
    metrics::describe_gauge!(RAFT_APPLIED, "last Raft log index applied to the state machine");
    metrics::describe_gauge!(RAFT_LAST_LOG, "last Raft log index appended locally");
    metrics::describe_gauge!(APPLIED_POSITION, "last applied event position");
    metrics::describe_gauge!(
        LOG_DURABLE,
        "1 while writes can be made durable; 0 after a failed fsync (writes refused until restart)"
    );
    metrics::describe_gauge!(LOG_FSYNC_FAILURES, "failed fsyncs of the log since the node started");
    metrics::describe_counter!(ORPHANS_REMOVED, "blobs removed because no event refers to them");
    metrics::describe_counter!(BLOBS_COLLECTED, "released blobs removed by the collector");
    metrics::describe_counter!(BLOBS_COLLECT_FAILURES, "released blobs the collector could not remove");
    metrics::describe_counter!(
        rucket_blobs::CORRUPTIONS_METRIC,
        "blob chunks refused because their CRC32C did not match"
    );
    rucket_feed::metrics::describe();
    metrics::describe_gauge!(CLUSTER_ROLE, "1 when this node leads its cluster");
    metrics::describe_gauge!(CLUSTER_TERM, "the Raft term this node is in");
    metrics::describe_gauge!(CLUSTER_LEADER, "the id of the leader this node knows (0: none)");
    metrics::describe_counter!(CLUSTER_LEADER_CHANGES, "changes of leader this node has seen");
    metrics::describe_histogram!(
        CLUSTER_FORWARD_SECONDS,
        metrics::Unit::Seconds,
        "writes forwarded to the leader, until applied here"
    );
    metrics::describe_gauge!(
        CLUSTER_REPLICATION_LAG,
        "Raft entries a follower lags behind the leader (on the leader)"
    );
    metrics::describe_counter!(
        CLUSTER_COPY_FAILURES,
        "writes refused because their body reached too few nodes"
    );
    metrics::describe_counter!(CLUSTER_BLOBS_FETCHED, "missing blobs fetched from peers");
    metrics::describe_gauge!(
        CLUSTER_BLOBS_MISSING,
        "bodies that applied events name and this node lacks, after the last resync pass"
    );
    metrics::describe_counter!(LIFECYCLE_ACTIONS, "expirations and aborts the lifecycle worker applied");
    Ok(handle)
}

pub fn record_request(operation: &str, status: u16, elapsed: Duration) {
    let labels = [("operation", operation.to_owned()), ("status", status.to_string())];
    metrics::counter!(REQUESTS, &labels).increment(1);
    metrics::histogram!(LATENCY, "operation" => operation.to_owned()).record(elapsed.as_secs_f64());
}
