//! Subscribers of the event archive: the hub that hands each newly archived event to the
//! live subscribers whose filter can match it, one subscription's cursor (history from
//! the archive, then live, without a gap or a duplicate), the filters and renderings
//! (Rucket's own JSON and the AWS notification record), and webhook delivery behind the
//! [`webhook::Deliver`] trait. Everything here reads the archive through
//! [`rucket_log::ArchiveFollower`]; no HTTP framing (the gateway's transports frame what
//! a subscriber emits).

mod error;
mod event;
pub mod filter;
mod hub;
pub mod metrics;
pub mod record;
mod subscriber;
pub mod webhook;

pub use error::FeedError;
pub use event::{decode, FeedEvent};
pub use hub::{stopped, FeedLimits, Hub, LimitError, Permit, Registration};
pub use subscriber::{render, EndReason, EndSignal, Format, Item, KeyCheck, Subscriber, Visibility};
