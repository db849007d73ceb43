//! Integration tests: the real `rucket` binary driven by real clients.

mod auth;
mod bodies;
mod buckets;
mod crash;
mod endpoints;
mod listing;
mod objects;
mod support;
mod tidy;
