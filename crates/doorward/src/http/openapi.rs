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
    modifiers(&Bearer, &ProblemJson, &Links),
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

/// OpenAPI links (3.1 §4.8.20): which value of an answer the next call
/// takes. They document the flows (a signup's refresh token goes to
/// `/v1/refresh`, a listed user's id to `/v1/admin/users/{id}`) and drive
/// Schemathesis' stateful phase (`tests/schemathesis/run.sh`), which
/// follows them with real tokens and ids instead of random ones.
struct Links;

/// `Bearer <access_token of this answer>`, for links to protected routes.
const BEARER_FROM_BODY: &str = "Bearer {$response.body#/access_token}";

/// (operation id, status, link name, target operation id, parameters, request body).
type LinkRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    Option<fn() -> serde_json::Value>,
);

fn refresh_body() -> serde_json::Value {
    serde_json::json!({"refresh_token": "$response.body#/refresh_token"})
}

fn login_body() -> serde_json::Value {
    serde_json::json!({"email": "$request.body#/email", "password": "$request.body#/password"})
}

fn forgot_body() -> serde_json::Value {
    serde_json::json!({"email": "$response.body#/user/email"})
}

const AUTH: &[(&str, &str)] = &[("header.Authorization", BEARER_FROM_BODY)];
const FIRST_SESSION: &[(&str, &str)] = &[("path.id", "$response.body#/0/id")];
const FIRST_USER: &[(&str, &str)] = &[("path.id", "$response.body#/items/0/id")];
const SAME_USER: &[(&str, &str)] = &[("path.id", "$request.path.id")];
const NEXT_USERS: &[(&str, &str)] = &[("query.cursor", "$response.body#/next_cursor")];
const FIRST_EVENTS_USER: &[(&str, &str)] = &[("query.user_id", "$response.body#/items/0/user_id")];

const LINKS: &[LinkRow] = &[
    // A new session: refresh it, use it, end it.
    (
        "signup",
        "201",
        "Refresh",
        "refresh",
        &[],
        Some(refresh_body),
    ),
    ("signup", "201", "LogIn", "login", &[], Some(login_body)),
    ("signup", "201", "Me", "me", AUTH, None),
    ("signup", "201", "Sessions", "sessions", AUTH, None),
    (
        "signup",
        "201",
        "ChangePassword",
        "change_password",
        AUTH,
        None,
    ),
    (
        "signup",
        "201",
        "ResendVerification",
        "resend_verification",
        AUTH,
        None,
    ),
    (
        "signup",
        "201",
        "Forgot",
        "forgot_password",
        &[],
        Some(forgot_body),
    ),
    ("signup", "201", "Logout", "logout", AUTH, None),
    (
        "login",
        "200",
        "Refresh",
        "refresh",
        &[],
        Some(refresh_body),
    ),
    ("login", "200", "Me", "me", AUTH, None),
    ("login", "200", "Sessions", "sessions", AUTH, None),
    ("login", "200", "Logout", "logout", AUTH, None),
    // Rotation: the new refresh token refreshes again.
    (
        "refresh",
        "200",
        "Refresh",
        "refresh",
        &[],
        Some(refresh_body),
    ),
    ("refresh", "200", "Me", "me", AUTH, None),
    ("refresh", "200", "Logout", "logout", AUTH, None),
    (
        "sessions",
        "200",
        "RevokeSession",
        "revoke_session",
        FIRST_SESSION,
        None,
    ),
    // Administration: a listed user, then the same user again.
    ("list_users", "200", "GetUser", "get_user", FIRST_USER, None),
    (
        "list_users",
        "200",
        "UpdateUser",
        "update_user",
        FIRST_USER,
        None,
    ),
    (
        "list_users",
        "200",
        "DeleteUser",
        "delete_user",
        FIRST_USER,
        None,
    ),
    (
        "list_users",
        "200",
        "NextPage",
        "list_users",
        NEXT_USERS,
        None,
    ),
    (
        "get_user",
        "200",
        "UpdateUser",
        "update_user",
        SAME_USER,
        None,
    ),
    (
        "get_user",
        "200",
        "DeleteUser",
        "delete_user",
        SAME_USER,
        None,
    ),
    ("update_user", "200", "GetUser", "get_user", SAME_USER, None),
    (
        "update_user",
        "200",
        "DeleteUser",
        "delete_user",
        SAME_USER,
        None,
    ),
    ("delete_user", "204", "GetUser", "get_user", SAME_USER, None),
    (
        "list_audit",
        "200",
        "UserEvents",
        "list_audit",
        FIRST_EVENTS_USER,
        None,
    ),
];

impl Modify for Links {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::link::LinkBuilder;
        use utoipa::openapi::RefOr;
        for (source, status, name, target, params, body) in LINKS {
            let op = openapi.paths.paths.values_mut().find_map(|item| {
                [
                    &mut item.get,
                    &mut item.post,
                    &mut item.put,
                    &mut item.patch,
                    &mut item.delete,
                ]
                .into_iter()
                .flatten()
                .find(|op| op.operation_id.as_deref() == Some(*source))
            });
            let Some(op) = op else { continue };
            let Some(RefOr::T(response)) = op.responses.responses.get_mut(*status) else {
                continue;
            };
            let mut link = LinkBuilder::new().operation_id(*target);
            for (k, v) in params.iter() {
                link = link.parameter(*k, *v);
            }
            link = link.request_body(body.map(|f| f()));
            response
                .links
                .insert((*name).to_owned(), RefOr::T(link.build()));
        }
    }
}

/// The document as pretty JSON (stable: what `docs/openapi.json` holds).
pub fn json() -> String {
    let Ok(mut doc) = serde_json::to_value(ApiDoc::openapi()) else {
        return "{}".into();
    };
    camel_case_links(&mut doc);
    serde_json::to_string_pretty(&doc).unwrap_or_else(|_| "{}".into())
}

/// utoipa 5.5 serialises `Link` fields in snake case (`operation_id`,
/// `request_body`); OpenAPI, and Schemathesis, read `operationId` and
/// `requestBody`.
fn camel_case_links(doc: &mut serde_json::Value) {
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return;
    };
    let links = paths
        .values_mut()
        .filter_map(|item| item.as_object_mut())
        .flat_map(|item| item.values_mut())
        .filter_map(|op| op.get_mut("responses").and_then(|r| r.as_object_mut()))
        .flat_map(|responses| responses.values_mut())
        .filter_map(|r| r.get_mut("links").and_then(|l| l.as_object_mut()))
        .flat_map(|links| links.values_mut())
        .filter_map(|l| l.as_object_mut());
    for link in links {
        for (from, to) in [
            ("operation_id", "operationId"),
            ("request_body", "requestBody"),
        ] {
            if let Some(v) = link.remove(from) {
                link.insert(to.to_owned(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link row with a typo would be skipped silently: every source
    /// answer exists and carries its links, and every target is an operation.
    #[test]
    fn every_link_joins_two_operations() {
        let doc: serde_json::Value = serde_json::from_str(&json()).unwrap();
        let ops: Vec<&serde_json::Value> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .collect();
        let by_id = |id: &str| {
            ops.iter()
                .find(|op| op["operationId"] == id)
                .copied()
                .unwrap_or_else(|| panic!("no operation `{id}`"))
        };
        for (source, status, name, target, _, _) in LINKS {
            let link = &by_id(source)["responses"][*status]["links"][*name];
            assert_eq!(link["operationId"], *target, "{source} {status} {name}");
            by_id(target);
        }
    }
}
