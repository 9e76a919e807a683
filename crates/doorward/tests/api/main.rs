//! The HTTP API, driven over real HTTP against the real server. One test
//! binary (links once); one file per story.

// Test binaries: helpers outside `#[test]` functions may unwrap and index
// too (clippy.toml's `allow-*-in-tests` only covers the test functions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod helpers;
mod mailbox;
mod postgres;

mod admin;
mod attacks;
mod database;
mod enumeration;
mod errors;
mod hashing;
mod keys;
mod lifecycle;
mod ops;
mod password_policy;
mod refresh;
mod sessions;
mod signup_login;
mod signup_validation;
mod throttle;
mod tokens;
mod web;
mod web_admin;
