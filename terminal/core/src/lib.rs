//! madoguchi's core: the counter's rules and records. Requests and cases for the three task families, validation
//! (和暦, check digits, kana), the review state machine, the audit chain, roles and passwords, and the store on
//! SQLite or PostgreSQL. No UI toolkit here; the terminal app and the CLI drive it.

pub mod anomaly;
pub mod audit;
pub mod auth;
pub mod case;
pub mod certificate;
pub mod checkpoint;
pub mod clock;
pub mod counter;
pub mod datakeys;
pub mod dayclose;
pub mod erase;
pub mod error;
pub mod export;
pub mod fees;
pub mod guard;
pub mod inquiry;
pub mod kana;
pub mod mode;
pub mod notice;
pub mod outbox;
pub mod policy;
pub mod print;
pub mod render;
pub mod report;
pub mod request;
pub mod sample;
pub mod store;
pub mod wareki;

pub use backend_adapter::identifiers;
