//! The port to the ward's resident system (住民記録システム): the `ResidentSystem` trait, the records that cross it,
//! and the embedded reference resident system that implements it on its own SQLite file with a synthetic population.
//!
//! This crate knows nothing of cases, reviews, audit or devices; madoguchi's core drives it. There is no standard
//! "write a 異動 entry" API for third-party terminals, so the port is the seam where a vendor integration plugs in.

pub mod http;
pub mod identifiers;
pub mod port;
pub mod postal;
pub mod reference;
pub mod search_key;
pub mod types;

pub use port::{Disconnected, ResidentSystem, ResidentSystemError};
pub use reference::ReferenceResidentSystem;
