//! Protect axum routes with Doorward access tokens.
//!
//! A service builds one [`Guard`] from a [`VerifyPolicy`] and Doorward's JWKS, puts it in
//! its router state, and asks for [`Authenticated`] in the handlers that need a user.
//! Requests without a valid, unrevoked `Authorization: Bearer` token get a 401
//! problem+json ([`GuardRejection`]) and never reach the handler.
//!
//! The guard does no I/O: the service fetches `/.well-known/jwks.json` (at start and then
//! periodically) and calls [`Guard::set_keys`], and feeds revoked session ids to
//! [`Guard::revocations`].
//!
//! ```
//! use axum::extract::FromRef;
//! use axum::routing::get;
//! use axum::Router;
//! use doorward_guard::{Authenticated, Guard, Jwks, VerifyPolicy};
//!
//! #[derive(Clone)]
//! struct AppState {
//!     guard: Guard,
//! }
//!
//! impl FromRef<AppState> for Guard {
//!     fn from_ref(state: &AppState) -> Guard {
//!         state.guard.clone()
//!     }
//! }
//!
//! // Only reached with a valid token; `claims.sub` is the user id.
//! async fn whoami(Authenticated(claims): Authenticated) -> String {
//!     format!("{} {:?}", claims.sub, claims.roles)
//! }
//!
//! # fn main() -> Result<(), doorward_guard::TokenError> {
//! // The body of GET https://auth.example/.well-known/jwks.json
//! let jwks = Jwks::from_json(br#"{"keys":[]}"#)?;
//! let guard = Guard::new(
//!     VerifyPolicy::new("https://auth.example", "https://api.example"),
//!     &jwks,
//! );
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .with_state(AppState { guard: guard.clone() });
//!
//! // Later, from a background task: new keys, and a session logged out until its
//! // tokens' latest expiry.
//! guard.set_keys(&jwks);
//! guard.revocations().revoke("session-id", 1_700_000_900);
//! # let _ = app;
//! # Ok(())
//! # }
//! ```

mod cache;
mod extract;
mod guard;
mod revocation;

pub use cache::DEFAULT_CACHE_CAPACITY;
pub use doorward_token::{Claims, Jwks, TokenError, VerifyPolicy};
pub use extract::{bearer_token, Authenticated, AuthenticatedShared, GuardRejection};
pub use guard::{Guard, GuardError};
pub use revocation::RevocationSet;
