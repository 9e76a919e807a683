//! The bench server of `bench/run.sh`: `GET /bare` returns small JSON; `GET /guarded` (the
//! `Authenticated` extractor) and `GET /guarded-shared` (`AuthenticatedShared`) return the
//! same JSON after `doorward-guard` checks the bearer token against a running Doorward's
//! JWKS. Same server, same runtime, so the ratio guarded ÷ bare is the guard's cost.
//!
//! `guardbench serve ADDR ISSUER JWKS_FILE` serves; `guardbench argon2 N` prints the mean
//! time in ms of one argon2id verify with Doorward's default parameters (N runs).

use std::time::Instant;

use axum::extract::FromRef;
use axum::routing::get;
use axum::{Json, Router};
use doorward_core::passwords::{HashParams, HashPool, PasswordHasher};
use doorward_core::types::Password;
use doorward_guard::{Authenticated, AuthenticatedShared, Guard, Jwks, VerifyPolicy};
use serde_json::{json, Value};

#[derive(Clone)]
struct State {
    guard: Guard,
}

impl FromRef<State> for Guard {
    fn from_ref(state: &State) -> Guard {
        state.guard.clone()
    }
}

async fn bare() -> Json<Value> {
    Json(json!({"ok": true, "sub": "anonymous"}))
}

async fn guarded(Authenticated(claims): Authenticated) -> Json<Value> {
    Json(json!({"ok": true, "sub": claims.sub}))
}

async fn guarded_shared(AuthenticatedShared(claims): AuthenticatedShared) -> Json<Value> {
    Json(json!({"ok": true, "sub": claims.sub}))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve", addr, issuer, jwks_file] => serve(addr, issuer, jwks_file).await,
        ["argon2", runs] => argon2(runs.parse()?).await,
        _ => Err("usage: guardbench serve ADDR ISSUER JWKS_FILE | guardbench argon2 RUNS".into()),
    }
}

async fn serve(
    addr: &str,
    issuer: &str,
    jwks_file: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let jwks = Jwks::from_json(&std::fs::read(jwks_file)?)?;
    let guard = Guard::new(VerifyPolicy::new(issuer, issuer), &jwks);
    let app = Router::new()
        .route("/bare", get(bare))
        .route("/guarded", get(guarded))
        .route("/guarded-shared", get(guarded_shared))
        .with_state(State { guard });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn argon2(runs: u32) -> Result<(), Box<dyn std::error::Error>> {
    let hasher = PasswordHasher::new(HashParams::default(), HashPool::default())?;
    let password = Password::for_login("correct horse battery staple").ok_or("password")?;
    let stored = hasher.hash(&password).await?;
    let start = Instant::now();
    for _ in 0..runs {
        hasher.verify(&password, Some(&stored)).await?;
    }
    let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs.max(1));
    println!("{ms:.2}");
    Ok(())
}
