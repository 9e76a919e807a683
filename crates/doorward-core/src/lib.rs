//! Doorward's decisions: who may sign up and log in, how passwords are hashed,
//! how sessions and refresh tokens rotate, which key signs. No HTTP, no SQL:
//! the binary turns requests into calls here, and `store::Store` is the only
//! way out to data.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod audit_chain;
pub mod blocklist;
pub mod clock;
pub mod error;
pub mod hash_pool;
pub mod keys;
pub mod lifecycle;
pub mod mail;
pub mod passwords;
pub mod profiles;
pub mod sessions;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod transfer;
pub mod types;

pub use error::{Error, Result};
