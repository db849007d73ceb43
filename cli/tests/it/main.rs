//! Integration tests: the real `rucket` binary driven by real clients.

mod acl;
mod auth;
mod bench;
mod bodies;
mod buckets;
mod copy;
mod cors;
mod crash;
mod encryption;
mod endpoints;
mod fail_closed;
mod feed;
mod judged_at_apply;
mod keys;
mod lifecycle;
mod listing;
mod multipart;
mod notifications;
mod objects;
mod policy;
mod replay;
mod support;
mod tagging;
mod tidy;
mod tls;
mod versioning;
