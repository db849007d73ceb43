//! Integration tests of the replicated log: one binary, one module per concern.

mod cluster;
mod conformance;
mod replay;
mod sim;
mod single;
mod support;
