//! The OpenAPI document, generated from the handlers' annotations. The
//! committed copy `docs/openapi.json` is checked against it by a test, so a
//! change to the API shows up in review.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{account, admin, auth, lifecycle, ops, problem, wellknown};

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorward", description = "Self-hosted authentication server: accounts, sessions, JWT access tokens."),
    paths(
        auth::signup, auth::login, auth::refresh, auth::logout,
        account::me, account::sessions, account::revoke_session,
        lifecycle::change_password, lifecycle::forgot_password, lifecycle::reset_password,
        lifecycle::verify_email, lifecycle::resend_verification,
        admin::list_users, admin::get_user, admin::update_user, admin::delete_user,
        admin::force_password_reset, admin::list_audit,
        wellknown::jwks, wellknown::openid_configuration,
        ops::healthz, ops::metrics, ops::openapi,
    ),
    components(schemas(problem::Problem, problem::FieldProblem)),
    modifiers(&Bearer, &ProblemJson),
)]
pub struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// Error answers are `application/problem+json` (RFC 9457), which the
/// annotations' `body = Problem` would otherwise document as `application/json`.
struct ProblemJson;

impl Modify for ProblemJson {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                for (status, response) in op.responses.responses.iter_mut() {
                    let is_error = status.parse::<u16>().is_ok_and(|s| s >= 400);
                    if let (true, RefOr::T(response)) = (is_error, response) {
                        if let Some(content) = response.content.shift_remove("application/json") {
                            response
                                .content
                                .insert("application/problem+json".into(), content);
                        }
                    }
                }
            }
        }
    }
}

/// The document as pretty JSON (stable: what `docs/openapi.json` holds).
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}
