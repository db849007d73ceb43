//! The feed's own tests, in process: a real archive in a temporary fjall database, events
//! appended offline, and tokio's paused time for heartbeats, stalls and retries.

mod hub;
mod subscriber;
mod support;
mod webhook;
