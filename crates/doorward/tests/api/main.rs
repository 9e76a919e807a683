//! The HTTP API, driven over real HTTP against the real server. One test
//! binary (links once); one file per story.

mod helpers;

mod refresh;
mod signup_login;
