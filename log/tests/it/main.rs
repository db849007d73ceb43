//! Integration tests of the replicated log: one binary, one module per concern.

mod cluster;
mod conformance;
mod single;
mod support;
