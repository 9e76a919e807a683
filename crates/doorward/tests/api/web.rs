//! The pages (CONTRACT "Pages"), driven like a browser without JavaScript:
//! cookies carried by hand, redirects not followed, forms posted as
//! `application/x-www-form-urlencoded`.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use reqwest::redirect::Policy;
use reqwest::StatusCode;

use crate::helpers::{TestApp, PASSWORD};

/// One browser: its cookie jar and the last answer.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    /// `Set-Cookie` headers of the last answer, whole.
    set_cookies: Vec<String>,
    user_agent: String,
}

struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .map(|v| v.to_str().unwrap())
            .unwrap_or("")
    }
}

impl Browser {
    fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.addr.clone(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            set_cookies: Vec::new(),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let req = req.header(USER_AGENT, &self.user_agent);
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header(COOKIE, self.cookie_header())
        };
        let res = req.send().await.unwrap();
        self.set_cookies = res
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &self.set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        Page {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// POST a form with this browser's CSRF token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        self.post_raw(path, &all).await
    }

    /// POST a form as given (no CSRF field added).
    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body = serde_urlencoded::to_string(fields).unwrap();
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(req).await
    }

    fn csrf(&self) -> String {
        self.cookies.get("dw_csrf").cloned().unwrap_or_default()
    }

    fn session(&self) -> Option<&String> {
        self.cookies.get("dw_session")
    }

    /// The access token inside the session cookie (the API accepts it).
    fn access_token(&self) -> String {
        let v = self.session().expect("signed in");
        v.split_once('~').unwrap().0.to_owned()
    }

    fn set_cookie(&self, name: &str) -> Option<&String> {
        self.set_cookies
            .iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    async fn sign_up(&mut self, email: &str) -> Page {
        self.get("/signup").await;
        let page = self
            .post("/signup", &[("email", email), ("password", PASSWORD)])
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
        page
    }

    async fn log_in(&mut self, login: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post("/login", &[("email", login), ("password", password)])
            .await
    }
}

#[tokio::test]
async fn signing_up_on_the_page_signs_in_with_an_httponly_lax_cookie() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let form = b.get("/signup").await;
    assert_eq!(form.status, StatusCode::OK);
    for label in [">Email</label>", ">Username</label>", ">Password</label>"] {
        assert!(form.body.contains(label), "{label} missing");
    }
    let csrf = b.set_cookie("dw_csrf").expect("a CSRF cookie").clone();
    assert!(
        csrf.contains("HttpOnly") && csrf.contains("SameSite=Lax"),
        "{csrf}"
    );
    assert!(form.body.contains(&format!("value=\"{}\"", b.csrf())));

    let page = b
        .post(
            "/signup",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/account");
    let cookie = b.set_cookie("dw_session").expect("a session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");

    let account = b.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("ada@example.com"));
    assert!(account.body.contains(">Current password</label>"));
    assert!(account.body.contains(">New password</label>"));
    // The page session is an API session too.
    let me = app.me(&b.access_token()).await;
    assert_eq!(me.status(), 200);
}

#[tokio::test]
async fn signup_errors_are_shown_on_the_form_with_the_values_kept() {
    let app = TestApp::spawn().await;
    app.signed_up("taken@example.com").await;
    let mut b = Browser::new(&app);
    b.get("/signup").await;
    let page = b
        .post(
            "/signup",
            &[
                ("email", "taken@example.com"),
                ("username", "grace"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page
        .body
        .contains("An account already uses this email address"));
    assert!(page.body.contains("value=\"grace\""));
    assert!(!page.body.contains(PASSWORD), "passwords are never echoed");
    assert!(b.session().is_none());

    let page = b
        .post(
            "/signup",
            &[("email", "new@example.com"), ("password", "short")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("aria-invalid=\"true\""));
    assert!(page.body.contains("id=\"password-error\"><span"));
}

#[tokio::test]
async fn a_wrong_password_gets_a_message_and_no_session() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let mut b = Browser::new(&app);
    let page = b.log_in("ada@example.com", "not the password").await;
    assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    assert!(page.body.contains("Wrong email, username or password"));
    assert!(page.body.contains("value=\"ada@example.com\""));
    assert!(b.session().is_none());

    let page = b.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/account");
    assert!(b.session().is_some());
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.get("/signup").await;
    let fields = [("email", "ada@example.com"), ("password", PASSWORD)];
    let page = b.post_raw("/signup", &fields).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("nothing was"));
    let mut wrong = fields.to_vec();
    wrong.push(("csrf", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(
        b.post_raw("/signup", &wrong).await.status,
        StatusCode::FORBIDDEN
    );
    // The right field without the cookie it must match.
    let csrf = b.csrf();
    let mut fresh = Browser::new(&app);
    let mut with_field = fields.to_vec();
    with_field.push(("csrf", &csrf));
    assert_eq!(
        fresh.post_raw("/signup", &with_field).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        401,
        "no account was made"
    );

    // Signed in: a password change without the token changes nothing.
    b.sign_up("ada@example.com").await;
    let page = b
        .post_raw(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a whole new passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    // Nor does a logout.
    assert_eq!(
        b.post_raw("/logout", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.me(&b.access_token()).await.status(), 200);
}

/// `<script>alert(1)</script>` as text (named or numeric entities).
fn escaped(body: &str) -> bool {
    body.contains("&lt;script&gt;alert(1)&lt;") || body.contains("&#60;script&#62;alert(1)&#60;")
}

#[tokio::test]
async fn user_supplied_values_are_escaped() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.get("/signup").await;
    let xss = "<script>alert(1)</script>";
    let page = b
        .post(
            "/signup",
            &[
                ("email", &format!("{xss}@example.com")),
                ("username", xss),
                ("password", PASSWORD),
                ("return_to", "\"><script>alert(2)</script>"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!page.body.contains("<script>alert"), "{}", page.body);
    assert!(escaped(&page.body), "{}", page.body);

    // A user agent is shown on the account page's session list.
    b.user_agent = xss.to_owned();
    b.sign_up("ada@example.com").await;
    let account = b.get("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(!account.body.contains("<script>alert"));
    assert!(escaped(&account.body));
}

#[tokio::test]
async fn a_page_logout_ends_the_api_session_and_an_api_logout_the_page_session() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_up("ada@example.com").await;
    let access = b.access_token();
    assert_eq!(app.me(&access).await.status(), 200);
    let page = b.post("/logout", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(page.location().starts_with("/login"));
    assert!(b.set_cookie("dw_session").unwrap().contains("Max-Age=0"));
    assert_eq!(app.me(&access).await.status(), 401);
    assert_eq!(b.get("/account").await.status, StatusCode::SEE_OTHER);

    // The other way round: the API logs out the page's session.
    let page = b.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(b.get("/account").await.status, StatusCode::OK);
    let res = app.logout(&b.access_token(), None).await;
    assert_eq!(res.status(), 204);
    let page = b.get("/account").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location(), "/login?return_to=%2Faccount");
    assert!(b.session().is_none(), "the dead cookie is cleared");
}

#[tokio::test]
async fn return_to_is_followed_only_to_this_server_and_allowed_origins() {
    let app =
        TestApp::spawn_with(&[("DOORWARD_WEB_ALLOWED_RETURN_ORIGINS", "https://app.example")])
            .await;
    app.signed_up("ada@example.com").await;
    let cases = [
        ("/account?tab=sessions", "/account?tab=sessions"),
        (
            "https://app.example/callback?x=1",
            "https://app.example/callback?x=1",
        ),
        (
            &format!("{}/account", app.addr),
            &format!("{}/account", app.addr),
        ),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example/", "/account"),
        ("https://app.example.evil.example/", "/account"),
        ("javascript:alert(1)", "/account"),
    ];
    for (return_to, expected) in cases {
        let mut b = Browser::new(&app);
        let form = b
            .get(&format!(
                "/login?{}",
                serde_urlencoded::to_string([("return_to", return_to)]).unwrap()
            ))
            .await;
        assert_eq!(form.status, StatusCode::OK);
        let page = b
            .post(
                "/login",
                &[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("return_to", return_to),
                ],
            )
            .await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert_eq!(page.location(), expected, "return_to {return_to}");
        // Signed in already: the login page sends the browser on at once.
        let again = b
            .get(&format!(
                "/login?{}",
                serde_urlencoded::to_string([("return_to", return_to)]).unwrap()
            ))
            .await;
        assert_eq!(again.status, StatusCode::SEE_OTHER);
        assert_eq!(
            again.location(),
            expected,
            "signed in, return_to {return_to}"
        );
    }
}

#[tokio::test]
async fn pages_send_a_strict_csp_and_no_store() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    for path in [
        "/login",
        "/signup",
        "/forgot-password",
        "/reset-password?token=x",
    ] {
        let page = b.get(path).await;
        let h = |name: &str| {
            page.headers
                .get(name)
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_str()
                .unwrap()
                .to_owned()
        };
        let csp = h("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert!(["no-referrer", "same-origin"].contains(&h("referrer-policy").as_str()));
        assert_eq!(h("cache-control"), "no-store");
        assert!(h("content-type").starts_with("text/html"));
        assert!(page.headers.get("strict-transport-security").is_none());
        assert!(!page.body.contains("<script>"), "no inline script");
        assert!(!page.body.contains("style="), "no inline style");
    }
    let css = b.get("/assets/doorward.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
    assert!(css.headers["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age"));
    let js = b.get("/assets/doorward.js").await;
    assert_eq!(js.status, StatusCode::OK);
}

#[tokio::test]
async fn change_password_on_the_page_keeps_this_session_and_ends_the_others() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_up("ada@example.com").await;
    let other = app.logged_in("ada@example.com").await;
    let other_access = other["access_token"].as_str().unwrap().to_owned();

    let page = b
        .post(
            "/account/password",
            &[
                ("current_password", "not it at all"),
                ("new_password", "a whole new passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("id=\"current_password-error\"><span"));

    let page = b
        .post(
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a whole new passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let account = b.get(page.location()).await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("Your password is changed"));
    assert_eq!(app.me(&other_access).await.status(), 401);
    assert_eq!(
        app.login("ada@example.com", "a whole new passphrase")
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn sessions_can_be_signed_out_one_by_one_or_all_but_this_one() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_up("ada@example.com").await;
    let second = app.logged_in("ada@example.com").await;
    let second_access = second["access_token"].as_str().unwrap().to_owned();
    let second_id = app.sessions(&second_access).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let third = app.logged_in("ada@example.com").await;
    let third_access = third["access_token"].as_str().unwrap().to_owned();

    let account = b.get("/account").await;
    assert!(account
        .body
        .contains(&format!("/account/sessions/{second_id}")));
    assert!(account.body.contains("Sign out everywhere else"));
    let page = b.post(&format!("/account/sessions/{second_id}"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(app.me(&second_access).await.status(), 401);
    assert_eq!(app.me(&third_access).await.status(), 200);

    let page = b.post("/account/sessions/others", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(app.me(&third_access).await.status(), 401);
    assert_eq!(
        b.get("/account").await.status,
        StatusCode::OK,
        "this one stays"
    );
}

#[tokio::test]
async fn the_verify_link_only_shows_a_button_and_the_press_verifies() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    b.sign_up("ada@example.com").await;
    let token = app
        .nth_mail_to("ada@example.com", 1)
        .await
        .token("/verify-email");
    let page = b.get(&format!("/verify-email?token={token}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Confirm email address"));
    let me: serde_json::Value = app.me(&b.access_token()).await.json().await.unwrap();
    assert_eq!(
        me["email_verified"], false,
        "opening the link verifies nothing"
    );

    let page = b.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let me: serde_json::Value = app.me(&b.access_token()).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
    // Used: a second press says so.
    let page = b.post("/verify-email", &[("token", &token)]).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page
        .body
        .contains("invalid, was used already or has expired"));
}

#[tokio::test]
async fn forgot_and_reset_password_through_the_mailed_link() {
    let app = TestApp::spawn().await;
    app.signed_up("ada@example.com").await;
    let mut b = Browser::new(&app);
    b.get("/forgot-password").await;
    let page = b
        .post("/forgot-password", &[("email", "nobody@example.com")])
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let unknown = page.body;
    let page = b
        .post("/forgot-password", &[("email", "ada@example.com")])
        .await;
    assert_eq!(page.body, unknown, "the same answer for any address");
    let mail = app.nth_mail_to("ada@example.com", 2).await;
    let token = mail.token("/reset-password");

    let form = b.get(&format!("/reset-password?token={token}")).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains(">New password</label>"));
    let page = b
        .post(
            "/reset-password",
            &[("token", &token), ("new_password", "short")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = b
        .post(
            "/reset-password",
            &[
                ("token", &token),
                ("new_password", "a whole new passphrase"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), "/login?done=password_set");
    let page = b.log_in("ada@example.com", "a whole new passphrase").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_on_the_same_session() {
    let app = TestApp::spawn_with(&[("DOORWARD_TOKENS_ACCESS_TTL", "10s")]).await;
    let mut b = Browser::new(&app);
    b.sign_up("ada@example.com").await;
    let first = b.session().unwrap().clone();
    let first_access = b.access_token();
    let session_id = app.sessions(&first_access).await[0]["id"].clone();
    // Past the access token's life and the 5 s leeway.
    // (The guard checks `exp` by the system clock, the core issues by the
    // test clock: both move on.)
    tokio::time::sleep(std::time::Duration::from_secs(16)).await;
    app.clock.advance(time::Duration::seconds(16));
    assert_eq!(app.me(&first_access).await.status(), 401);

    let page = b.get("/account").await;
    assert_eq!(page.status, StatusCode::OK, "renewed, not sent to log in");
    let renewed = b.set_cookie("dw_session").expect("a renewed cookie");
    assert!(renewed.contains("HttpOnly"));
    assert_ne!(b.session().unwrap(), &first);
    let access = b.access_token();
    let sessions = app.sessions(&access).await;
    assert_eq!(sessions.len(), 1, "the same session, not a new one");
    assert_eq!(sessions[0]["id"], session_id);
}
