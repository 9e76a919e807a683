//! The admin pages (`/admin/users`, `/admin/users/{id}`, `/admin/audit`),
//! driven like a browser without JavaScript (as `web.rs`): cookies carried
//! by hand, redirects not followed, forms posted with the CSRF token.

use std::collections::BTreeMap;

use doorward_core::audit::{self, AuditKind, ClientInfo};
use doorward_core::clock::Clock;
use doorward_core::store::UserRecord;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE, USER_AGENT};
use reqwest::redirect::Policy;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{s, TestApp, PASSWORD};

const ROOT: &str = "root@example.com";

/// One browser: its cookie jar.
struct Browser {
    base: String,
    client: reqwest::Client,
    cookies: BTreeMap<String, String>,
    user_agent: String,
}

struct Page {
    status: StatusCode,
    location: String,
    body: String,
}

impl Page {
    /// The `href` of the link marked `rel="next"`, unescaped.
    fn next_link(&self) -> Option<String> {
        let at = self.body.find("rel=\"next\"")?;
        let start = self.body[..at].rfind("href=\"")? + "href=\"".len();
        let end = start + self.body[start..].find('"')?;
        Some(
            self.body[start..end]
                .replace("&amp;", "&")
                .replace("&#38;", "&"),
        )
    }

    /// The text of the rows of the first table body.
    fn rows(&self) -> Vec<&str> {
        let Some(start) = self.body.find("<tbody>") else {
            return Vec::new();
        };
        let end = start + self.body[start..].find("</tbody>").unwrap();
        self.body[start..end].split("<tr>").skip(1).collect()
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
            user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into(),
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Page {
        let mut req = req.header(USER_AGENT, &self.user_agent);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self
                .cookies
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            req = req.header(COOKIE, jar.join("; "));
        }
        let res = req.send().await.unwrap();
        for c in res.headers().get_all(SET_COOKIE) {
            let c = c.to_str().unwrap();
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
            location: res
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: res.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let req = self.client.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    /// POST a form with this browser's CSRF token.
    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.cookies.get("dw_csrf").cloned().unwrap_or_default();
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        self.post_raw(path, &all).await
    }

    /// POST a form as given (no CSRF field added).
    async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let req = self
            .client
            .post(format!("{}{path}", self.base))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap());
        self.send(req).await
    }

    async fn log_in(&mut self, login: &str, password: &str) -> Page {
        self.get("/login").await;
        self.post("/login", &[("email", login), ("password", password)])
            .await
    }

    /// The access token inside the session cookie (the API accepts it).
    fn access_token(&self) -> String {
        let v = self.cookies.get("dw_session").expect("signed in");
        v.split_once('~').unwrap().0.to_owned()
    }
}

/// An administrator created as `doorward user create --admin` does, signed
/// in to the pages.
async fn admin_browser(app: &TestApp) -> (Browser, String) {
    let id = app.create_admin().await;
    let mut b = Browser::new(app);
    let page = b.log_in(ROOT, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    (b, id)
}

/// A user signed in to the pages; returns the browser and the user id.
async fn user_browser(app: &TestApp, email: &str) -> (Browser, String) {
    let id = s(&app.signed_up(email).await["user"]["id"]).to_owned();
    let mut b = Browser::new(app);
    let page = b.log_in(email, PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    (b, id)
}

async fn user_record(app: &TestApp, id: &str) -> Option<UserRecord> {
    app.state
        .accounts
        .store
        .user_by_id(Uuid::parse_str(id).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn admin_pages_are_for_administrators_only() {
    let app = TestApp::spawn().await;
    let (mut ada, ada_id) = user_browser(&app, "ada@example.com").await;

    // Signed out: the login page, with a way back.
    let mut anon = Browser::new(&app);
    for (path, back) in [
        ("/admin/users", "/login?return_to=%2Fadmin%2Fusers"),
        (
            "/admin/audit?type=login",
            "/login?return_to=%2Fadmin%2Faudit%3Ftype%3Dlogin",
        ),
    ] {
        let page = anon.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(page.location, back);
    }
    let page = anon.get(&format!("/admin/users/{ada_id}")).await;
    assert_eq!(
        page.location,
        format!("/login?return_to=%2Fadmin%2Fusers%2F{ada_id}")
    );
    // Logging in from there comes back.
    anon.get(&page.location).await;
    let page = anon
        .post(
            "/login",
            &[
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("return_to", &format!("/admin/users/{ada_id}")),
            ],
        )
        .await;
    assert_eq!(page.location, format!("/admin/users/{ada_id}"));

    // Signed in without the role: 403 pages, no Admin link, no change.
    let account = ada.get("/account").await;
    assert!(!account.body.contains("href=\"/admin/users\""));
    for path in [
        "/admin/users".to_owned(),
        "/admin/audit".to_owned(),
        format!("/admin/users/{ada_id}"),
        format!("/admin/users/{ada_id}/delete"),
    ] {
        let page = ada.get(&path).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("Administrators only"), "{path}");
        assert!(!page.body.contains("ada@example.com</a>"));
    }
    let page = ada
        .post(
            &format!("/admin/users/{ada_id}/roles"),
            &[("roles", "admin")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let page = ada
        .post(
            &format!("/admin/users/{ada_id}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    let ada_now = user_record(&app, &ada_id).await.unwrap();
    assert_eq!(ada_now.roles, vec!["user"]);

    // An administrator: the pages, and the Admin link in the nav.
    let (mut root, _) = admin_browser(&app).await;
    assert_eq!(root.get("/admin").await.location, "/admin/users");
    for path in ["/admin/users", "/admin/audit"] {
        let page = root.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains("<a href=\"/admin/users\">Admin</a>"));
    }
    let page = root.get(&format!("/admin/users/{ada_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("ada@example.com"));
}

#[tokio::test]
async fn users_are_searched_and_paged() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let names = ["ada", "bob", "cleo", "dan", "eve"];
    for n in names {
        app.signed_up(&format!("{n}@example.com")).await;
    }

    // Pages of two, in creation order, each user once.
    let mut seen: Vec<String> = Vec::new();
    let mut url = "/admin/users?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let page = root.get(&url).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let rows = page.rows();
        assert!(rows.len() <= 2 && !rows.is_empty(), "{url}");
        for r in rows {
            let end = r.find("</a>").unwrap();
            let start = r[..end].rfind('>').unwrap() + 1;
            seen.push(r[start..end].to_owned());
        }
        pages += 1;
        if pages > 1 {
            assert!(page.body.contains(">First page</a>"));
        }
        match page.next_link() {
            Some(next) => {
                assert!(next.contains("limit=2&cursor="), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut expected = vec![ROOT.to_owned()];
    expected.extend(names.iter().map(|n| format!("{n}@example.com")));
    assert_eq!(seen, expected);

    // Search: substring of email or username; the filter stays in the links.
    let page = root.get("/admin/users?q=BO").await;
    assert_eq!(page.rows().len(), 1);
    assert!(page.rows()[0].contains("bob@example.com"));
    assert!(page.body.contains("value=\"BO\""));
    let page = root.get("/admin/users?q=example&limit=4").await;
    assert_eq!(page.rows().len(), 4);
    let next = page.next_link().unwrap();
    assert!(
        next.starts_with("/admin/users?q=example&limit=4&cursor="),
        "{next}"
    );
    assert_eq!(root.get(&next).await.rows().len(), 2);
    let page = root.get("/admin/users?q=nobody-here").await;
    assert!(page.rows().is_empty());
    assert!(page.body.contains("No user matches"));

    // Bad input: an inline message, never a failure page.
    let long = "x".repeat(300);
    let page = root.get(&format!("/admin/users?q={long}")).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Search for at most 256 characters."));
    let page = root.get("/admin/users?cursor=nonsense").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("That page link is not valid"));
    assert_eq!(page.rows().len(), 6);
}

#[tokio::test]
async fn disabling_a_user_signs_them_out_everywhere_and_enabling_lets_them_back() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let (mut ada, id) = user_browser(&app, "ada@example.com").await;
    let api = app.logged_in("ada@example.com").await;
    let api_token = s(&api["access_token"]).to_owned();
    let page_token = ada.access_token();
    assert_eq!(app.me(&api_token).await.status(), 200);
    assert_eq!(ada.get("/account").await.status, StatusCode::OK);

    let page = root.post(&format!("/admin/users/{id}/disable"), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location, format!("/admin/users/{id}?done=disabled"));
    let page = root.get(&page.location).await;
    assert!(page.body.contains("The account is disabled"));
    assert!(page.body.contains("Enable account</button>"));
    assert!(user_record(&app, &id).await.unwrap().disabled);

    // Every session ended: the API token, and the page session.
    assert_eq!(app.me(&api_token).await.status(), 401);
    assert_eq!(app.me(&page_token).await.status(), 401);
    let bounced = ada.get("/account").await;
    assert_eq!(bounced.status, StatusCode::SEE_OTHER);
    assert!(
        bounced.location.starts_with("/login"),
        "{}",
        bounced.location
    );
    assert!(!ada.cookies.contains_key("dw_session"));
    let refused = ada.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("This account is disabled."));

    // The list shows it; the audit trail names the administrator.
    let list = root.get("/admin/users?q=ada").await;
    assert!(list.rows()[0].contains(">disabled</span>"));
    let page = root.get(&format!("/admin/users/{id}")).await;
    assert!(page.body.contains("Account disabled"));
    assert!(page.body.contains(&format!("{ROOT}</a>")));

    let page = root.post(&format!("/admin/users/{id}/enable"), &[]).await;
    assert_eq!(page.location, format!("/admin/users/{id}?done=enabled"));
    assert!(!user_record(&app, &id).await.unwrap().disabled);
    let back = ada.log_in("ada@example.com", PASSWORD).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "{}", back.body);
    assert_eq!(ada.get("/account").await.status, StatusCode::OK);
    let audit = root.get(&format!("/admin/audit?user={id}")).await;
    let kinds: Vec<&str> = ["user_enabled", "user_disabled"]
        .into_iter()
        .filter(|k| audit.body.contains(&format!(">{k}</code>")))
        .collect();
    assert_eq!(kinds.len(), 2, "{}", audit.body);
}

#[tokio::test]
async fn roles_are_set_on_the_page_and_take_effect_at_once() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let (mut bob, id) = user_browser(&app, "bob@example.com").await;
    assert_eq!(bob.get("/admin/users").await.status, StatusCode::FORBIDDEN);

    let page = root
        .post(
            &format!("/admin/users/{id}/roles"),
            &[("roles", "admin, support")],
        )
        .await;
    assert_eq!(page.location, format!("/admin/users/{id}?done=roles"));
    let page = root.get(&page.location).await;
    assert!(page.body.contains("The roles are saved."));
    assert!(page.body.contains("user, admin, support"));
    assert_eq!(
        user_record(&app, &id).await.unwrap().roles,
        vec!["user", "admin", "support"]
    );
    // Bob's session ended with the change; logged in again, he is an admin.
    assert!(bob.get("/account").await.location.starts_with("/login"));
    bob.log_in("bob@example.com", PASSWORD).await;
    let page = bob.get("/admin/users").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<a href=\"/admin/users\">Admin</a>"));

    // Saving the same roles (as the field shows them) changes nothing.
    let page = root.get(&format!("/admin/users/{id}")).await;
    assert!(page.body.contains("value=\"admin support\""));
    let page = root
        .post(
            &format!("/admin/users/{id}/roles"),
            &[("roles", "admin support")],
        )
        .await;
    assert_eq!(
        page.location,
        format!("/admin/users/{id}?done=roles_unchanged")
    );
    assert_eq!(bob.get("/admin/users").await.status, StatusCode::OK);

    // A bad role name: shown at the field, what was typed kept (escaped).
    let page = root
        .post(
            &format!("/admin/users/{id}/roles"),
            &[("roles", "support <b>boss</b>")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("Roles are 1 to 32 characters"));
    assert!(page.body.contains("aria-invalid=\"true\""));
    assert!(
        page.body
            .contains("value=\"support &#60;b&#62;boss&#60;/b&#62;\"")
            || page
                .body
                .contains("value=\"support &lt;b&gt;boss&lt;/b&gt;\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<b>boss"));
    assert_eq!(
        user_record(&app, &id).await.unwrap().roles,
        vec!["user", "admin", "support"]
    );

    // Dropping admin: bob is a plain user again.
    root.post(&format!("/admin/users/{id}/roles"), &[("roles", "")])
        .await;
    assert_eq!(user_record(&app, &id).await.unwrap().roles, vec!["user"]);
}

#[tokio::test]
async fn a_forced_reset_mails_a_link_and_ends_the_sessions() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let (mut cleo, id) = user_browser(&app, "cleo@example.com").await;
    let token = cleo.access_token();

    let page = root
        .post(&format!("/admin/users/{id}/password-reset"), &[])
        .await;
    assert_eq!(page.location, format!("/admin/users/{id}?done=reset"));
    let page = root.get(&page.location).await;
    assert!(page.body.contains("a password reset link is on its way"));
    // The first mail asked to confirm the address (at signup).
    let mail = app.nth_mail_to("cleo@example.com", 2).await;
    let reset = mail.token("/reset-password");
    assert!(!page.body.contains(&reset), "the link is never shown");
    assert_eq!(app.me(&token).await.status(), 401);
    assert!(cleo.get("/account").await.location.starts_with("/login"));
    assert!(page.body.contains("Password reset requested"));
    assert!(page.body.contains("success: forced by administrator"));
}

#[tokio::test]
async fn an_administrator_cannot_lock_themselves_out() {
    let app = TestApp::spawn().await;
    let (mut root, me) = admin_browser(&app).await;

    let page = root.post(&format!("/admin/users/{me}/disable"), &[]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("You cannot disable your own account"));
    assert!(page.body.contains("role=\"alert\""));

    let page = root
        .post(&format!("/admin/users/{me}/roles"), &[("roles", "support")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page
        .body
        .contains("You cannot remove the admin role from your own account"));
    assert!(page.body.contains("value=\"support\""));

    let page = root
        .post(&format!("/admin/users/{me}/delete"), &[("confirm", "yes")])
        .await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("You cannot delete your own account"));

    let record = user_record(&app, &me).await.unwrap();
    assert!(!record.disabled);
    assert_eq!(record.roles, vec!["user", "admin"]);
    // Still signed in, still an administrator.
    assert_eq!(root.get("/admin/users").await.status, StatusCode::OK);
}

#[tokio::test]
async fn admin_forms_without_the_csrf_token_change_nothing() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let (_, id) = user_browser(&app, "dan@example.com").await;
    // The signup's confirmation mail.
    app.mails_to("dan@example.com", 1).await;
    let wrong = "A".repeat(43);
    for (path, fields) in [
        (format!("/admin/users/{id}/disable"), vec![]),
        (format!("/admin/users/{id}/roles"), vec![("roles", "admin")]),
        (
            format!("/admin/users/{id}/delete"),
            vec![("confirm", "yes")],
        ),
        (format!("/admin/users/{id}/password-reset"), vec![]),
    ] {
        let page = root.post_raw(&path, &fields).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(page.body.contains("This form has expired"), "{path}");
        let mut with_wrong = fields.clone();
        with_wrong.push(("csrf", &wrong));
        let page = root.post_raw(&path, &with_wrong).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
    }
    let record = user_record(&app, &id).await.expect("not deleted");
    assert!(!record.disabled);
    assert_eq!(record.roles, vec!["user"]);
    app.assert_mail_count("dan@example.com", 1).await;
}

#[tokio::test]
async fn deleting_asks_for_confirmation_and_unknown_users_are_404() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let (mut eve, id) = user_browser(&app, "eve@example.com").await;

    let confirm = root.get(&format!("/admin/users/{id}/delete")).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Delete eve@example.com?"));
    assert!(confirm.body.contains("name=\"confirm\" value=\"yes\""));
    // A POST without the confirmation only shows the question.
    let page = root.post(&format!("/admin/users/{id}/delete"), &[]).await;
    assert_eq!(page.location, format!("/admin/users/{id}/delete"));
    assert!(user_record(&app, &id).await.is_some());

    let page = root
        .post(&format!("/admin/users/{id}/delete"), &[("confirm", "yes")])
        .await;
    assert_eq!(page.location, "/admin/users?done=deleted");
    assert!(root
        .get(&page.location)
        .await
        .body
        .contains("The account is deleted"));
    assert!(user_record(&app, &id).await.is_none());
    assert!(eve.get("/account").await.location.starts_with("/login"));

    for path in [
        format!("/admin/users/{id}"),
        format!("/admin/users/{}", Uuid::now_v7()),
        "/admin/users/not-an-id".to_owned(),
        format!("/admin/users/{id}/delete"),
    ] {
        let page = root.get(&path).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.body.contains("No such user"), "{path}");
    }
    let page = root.post(&format!("/admin/users/{id}/disable"), &[]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    // The deleted account's events stay, under its id.
    let audit = root.get(&format!("/admin/audit?user={id}")).await;
    assert_eq!(audit.status, StatusCode::OK);
    assert!(audit.body.contains(">user_deleted</code>"));
    assert!(audit.body.contains("deleted account"));
}

#[tokio::test]
async fn the_audit_log_is_filtered_and_paged() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let (_, id) = user_browser(&app, "fay@example.com").await;
    for _ in 0..3 {
        let mut b = Browser::new(&app);
        b.log_in("fay@example.com", "not the password").await;
    }

    // By email, username or id: the same events; paged two at a time.
    let by_email = root.get("/admin/audit?user=FAY%40example.com").await;
    assert_eq!(by_email.status, StatusCode::OK);
    let by_id = root.get(&format!("/admin/audit?user={id}")).await;
    assert_eq!(by_email.rows(), by_id.rows());
    let n = by_id.rows().len();
    assert!(n >= 5, "{n}"); // signup, login, three failures
    assert!(by_id.body.contains(&format!(
        "<a href=\"/admin/users/{id}\">fay@example.com</a>"
    )));
    let mut url = "/admin/audit?user=fay%40example.com&limit=2".to_owned();
    let mut total = 0;
    loop {
        let page = root.get(&url).await;
        total += page.rows().len();
        match page.next_link() {
            Some(next) => {
                assert!(next.contains("user=fay%40example.com"), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(total, n);

    // By type, and by date (UTC days, both included).
    let failed = root.get("/admin/audit?type=login_failed").await;
    assert_eq!(failed.rows().len(), 3);
    assert!(failed
        .body
        .contains("<option value=\"login_failed\" selected>"));
    let f = time::macros::format_description!("[year]-[month]-[day]");
    let today = app.clock.now().date();
    let day = |d: time::Date| d.format(&f).unwrap();
    let yesterday = day(today.previous_day().unwrap());
    let tomorrow = day(today.next_day().unwrap());
    let today = day(today);
    let page = root
        .get(&format!(
            "/admin/audit?type=login_failed&since={today}&until={today}"
        ))
        .await;
    assert_eq!(page.rows().len(), 3);
    let page = root.get(&format!("/admin/audit?until={yesterday}")).await;
    assert!(page.rows().is_empty());
    assert!(page.body.contains("No events match these filters."));
    let page = root.get(&format!("/admin/audit?since={tomorrow}")).await;
    assert!(page.rows().is_empty());

    // Bad filters: inline messages, no events.
    for (query, message) in [
        ("type=nope", "Choose an event type from the list."),
        ("since=yesterday", "Give a date as YYYY-MM-DD."),
        (
            "user=nobody%40example.com",
            "No account has this email address or username.",
        ),
        (
            "user=%3F%3F",
            "Give an email address, a username or a user id.",
        ),
    ] {
        let page = root.get(&format!("/admin/audit?{query}")).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(page.body.contains(message), "{query}");
        assert!(page.rows().is_empty(), "{query}");
    }
    let page = root
        .get(&format!("/admin/audit?since={today}&until={yesterday}"))
        .await;
    assert!(page.body.contains("The end is before the start."));
    let page = root.get("/admin/audit?cursor=!!").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("That page link is not valid"));
}

#[tokio::test]
async fn what_users_typed_is_shown_as_text() {
    let app = TestApp::spawn().await;
    let (mut root, _) = admin_browser(&app).await;
    let payload = "<script>alert(1)</script>";

    // An account with markup in its email and username (as an import, which
    // does not re-validate, could store it).
    let template = app.signed_up("plain@example.com").await;
    let plain = user_record(&app, s(&template["user"]["id"])).await.unwrap();
    let now = app.clock.now();
    let evil = UserRecord {
        id: Uuid::now_v7(),
        email: format!("{payload}@example.com"),
        username: Some("<img src=x onerror=alert(2)>".to_owned()),
        ..plain
    };
    let event = audit::event(
        AuditKind::Signup,
        now,
        &ClientInfo::default(),
        Some(evil.id),
        None,
        "success",
    );
    app.state
        .accounts
        .store
        .create_user(&evil, None, &event)
        .await
        .unwrap();
    // A login with markup in its user agent.
    let mut b = Browser::new(&app);
    b.user_agent = format!("{payload} <img src=x onerror=alert(3)>");
    b.log_in("plain@example.com", PASSWORD).await;

    let pages = [
        root.get("/admin/users").await,
        root.get(&format!("/admin/users/{}", evil.id)).await,
        root.get(&format!("/admin/users/{}/delete", evil.id)).await,
        root.get("/admin/audit").await,
        root.get("/admin/users?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await,
        root.get("/admin/audit?user=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
            .await,
    ];
    for (i, page) in pages.iter().enumerate() {
        assert!(!page.body.contains("<script>"), "page {i}: {}", page.body);
        assert!(!page.body.contains("<img"), "page {i}");
    }
    assert!(pages[0].body.contains("&lt;script&gt;") || pages[0].body.contains("&#60;script&#62;"));
    assert_eq!(pages[0].rows().len(), 3);
    assert_eq!(pages[4].rows().len(), 1, "the search finds it");
    assert!(
        pages[3].body.contains("onerror=alert(3)"),
        "the agent is shown, as text"
    );
}
