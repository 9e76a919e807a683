//! Discovery: the public keys (JWKS) and the OpenID-style configuration that
//! names the issuer and where the keys are.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;

/// RFC 7517 key set.
#[derive(Serialize, ToSchema)]
pub struct JwksBody {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<doorward_token::Jwk>,
}

/// The public keys that verify access tokens (current and recently rotated-out).
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery", responses((status = 200, body = JwksBody)))]
pub async fn jwks(State(app): State<AppState>) -> impl IntoResponse {
    let keys = app.accounts.issuer.jwks().keys;
    // Short cache: verifiers pick up rotations quickly.
    (
        [(header::CACHE_CONTROL, "public, max-age=60")],
        Json(JwksBody { keys }),
    )
}

#[derive(Serialize, ToSchema)]
pub struct DiscoveryBody {
    pub issuer: String,
    pub jwks_uri: String,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
}

/// Issuer and JWKS location.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery", responses((status = 200, body = DiscoveryBody)))]
pub async fn openid_configuration(State(app): State<AppState>) -> Json<DiscoveryBody> {
    let issuer = app.settings.issuer.clone();
    Json(DiscoveryBody {
        jwks_uri: format!("{issuer}/.well-known/jwks.json"),
        issuer,
        id_token_signing_alg_values_supported: vec!["EdDSA"],
    })
}
