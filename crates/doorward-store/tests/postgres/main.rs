//! The conformance suite on PostgreSQL (a fresh database per case), plus what
//! only PostgreSQL has: `locks` (row locks held by another instance, the
//! statement timeout, instances racing one token), `schema` (concurrent
//! migrations, native column types, lost connections) and `audit_chain`
//! (the chain lock, rows from before the chain).
//!
//! The server is `DOORWARD_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), a role that may create
//! databases; `fixture` gives each case a database of its own. An
//! unreachable server fails every case, saying how to start one.

// The fixture and helpers are test code outside `#[test]` functions: a
// failed setup (PostgreSQL unreachable above all) must fail the case.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod audit_chain;
mod fixture;
mod locks;
mod schema;

doorward_store::conformance_tests!(fixture::fresh_postgres);
