//! Failures of a page as HTML pages (the API's are problem+json): a short
//! message and a way on, never a cause or a stack trace (those are logged).

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The top bar of every page.
#[derive(Clone, Debug, Default)]
pub struct Nav {
    pub signed_in: bool,
    /// Shows the "Admin" link.
    pub admin: bool,
    /// The CSRF token for the "Log out" form (empty when signed out).
    pub csrf: String,
}

/// A page with a heading, a message and a link.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub nav: Nav,
    pub title: &'a str,
    pub message: &'a str,
    pub link: &'a str,
    pub link_text: &'a str,
}

#[derive(Debug)]
pub enum WebError {
    NotFound,
    /// A form without the right CSRF token.
    Csrf,
    /// A body that is not a form, or too big.
    BadRequest,
    /// The database is unreachable, or too many password hashes are queued.
    Unavailable {
        retry_after_secs: u64,
    },
    Internal,
}

impl From<doorward_core::Error> for WebError {
    fn from(e: doorward_core::Error) -> WebError {
        use doorward_core::Error;
        match e {
            Error::Busy { retry_after_secs } => WebError::Unavailable { retry_after_secs },
            Error::Unavailable => WebError::Unavailable {
                retry_after_secs: 5,
            },
            Error::NotFound => WebError::NotFound,
            other => {
                tracing::error!(error = %other, "page failed");
                WebError::Internal
            }
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no page at this address.",
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was missing its security token or it did not match, so nothing was \
                 changed. Go back, reload the page and try again.",
            ),
            WebError::BadRequest => (
                StatusCode::BAD_REQUEST,
                "Something was wrong with that request",
                "Nothing was changed. Go back, reload the page and try again.",
            ),
            WebError::Unavailable { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy right now",
                "The service cannot answer at the moment. Try again in a few seconds.",
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side. Try again; if it keeps happening, tell \
                 your administrator.",
            ),
        };
        let retry = match self {
            WebError::Unavailable { retry_after_secs } => Some(retry_after_secs.max(1)),
            _ => None,
        };
        let page = MessagePage {
            nav: Nav::default(),
            title,
            message,
            link: "/account",
            link_text: "Go to your account",
        };
        let html = page.render().unwrap_or_else(|_| message.to_owned());
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            html,
        )
            .into_response();
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        res
    }
}
