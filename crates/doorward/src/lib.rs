//! The Doorward server and CLI. `main.rs` only parses the command line and
//! dispatches to `cli`; `app` builds the server; `http` is the JSON API; `mail`
//! renders and delivers mail; `web` the pages.

// Problems (problem+json bodies) are built on the error path only; their
// size on that path is not worth boxing for.
#![allow(clippy::result_large_err)]

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod mail;
pub mod revocation;
pub mod telemetry;
pub mod tls;
pub mod web;
