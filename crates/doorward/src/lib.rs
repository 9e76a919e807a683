//! The Doorward server and CLI. `main.rs` only parses the command line and
//! dispatches to `cli`; `app` builds the server; `http` is the JSON API.

pub mod app;
pub mod cli;
pub mod config;
pub mod http;
pub mod revocation;
pub mod telemetry;
