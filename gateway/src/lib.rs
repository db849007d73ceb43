//! The gateway: Rucket's HTTP front. It owns the S3 API (through s3s), health and
//! metrics endpoints, the clock that stamps commands, users and their keys, and the
//! `rucket` binary. It is the only crate that knows HTTP.

mod access;
pub mod access_log;
pub mod admin;
pub mod admin_keys;
pub mod admin_kms;
pub mod cluster;
pub mod config;
mod cors;
mod credentials;
mod errors;
pub mod feed;
mod gc;
mod host;
mod http;
mod idle_body;
pub mod lifecycle;
mod limits;
mod metrics;
pub mod notify;
mod post_form;
mod rotate;
mod s3;
mod scope;
pub mod server;
mod sse;
pub mod tls;
mod unsized_body;
mod volumes;
