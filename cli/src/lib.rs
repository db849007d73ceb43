//! Rucket's command line: every client-side command of the `rucket` binary (`bench`, `cluster`,
//! `events tail`, `key`, `repair`, `replay`), sharing one SigV4 client ([`sigv4`]). The server
//! itself is the gateway's (`rucket_gateway::server`); this crate only dispatches to it.

pub mod bench;
pub mod cluster;
pub mod key;
pub mod kms;
pub mod repair;
pub mod replay;
pub mod sigv4;
pub mod tail;
