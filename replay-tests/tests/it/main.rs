//! Replay tests: frozen logs, golden projections, determinism, live-versus-replayed.

mod determinism;
mod golden;
mod live_equals_replay;
mod scenarios;
