//! Rendering: each [`MailKind`] becomes what it says ([`Content`]: a
//! subject, paragraphs and at most one link to act on), then one
//! multipart/alternative message with a plain-text and an HTML part
//! (`templates/layout.html`, every value HTML-escaped).
//!
//! Parts are 7bit when they are ASCII (the usual case), so the links in an
//! outbox file can be copied as they stand, not quoted-printable encoded.

use doorward_core::mail::{MailKind, OutgoingMail};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// The HTML frame around every message: `{{subject}}`, `{{content}}`, `{{site}}`.
const LAYOUT_HTML: &str = include_str!("templates/layout.html");
/// Inline (mail clients drop style sheets).
const BUTTON_STYLE: &str = "display:inline-block;padding:10px 18px;background:#1f6feb;\
    color:#ffffff;text-decoration:none;border-radius:6px;font-weight:600;";
/// Plain-text paragraphs are wrapped at this width (URLs never are).
const TEXT_WIDTH: usize = 72;

/// Builds messages for one issuer and sender.
pub struct Renderer {
    /// The public base URL, without a trailing slash.
    issuer: String,
    /// The issuer's host (and port), naming the site to the reader.
    site: String,
    from: Mailbox,
}

/// What a message says, before it is laid out as text and as HTML. Holds
/// links with tokens: no `Debug`.
pub struct Content {
    pub subject: &'static str,
    pub blocks: Vec<Block>,
}

pub enum Block {
    Paragraph(String),
    /// The one thing to do, as a button (HTML) or a line of its own (text).
    Action {
        label: &'static str,
        url: String,
    },
}

/// The message could not be built (an address lettre refuses).
#[derive(Debug, thiserror::Error)]
#[error("the message could not be built: {0}")]
pub struct RenderError(String);

impl Renderer {
    pub fn new(issuer: &str, from: Mailbox) -> Renderer {
        let issuer = issuer.trim_end_matches('/').to_owned();
        let site = url::Url::parse(&issuer)
            .ok()
            .and_then(|u| {
                let host = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host,
                })
            })
            .unwrap_or_else(|| issuer.clone());
        Renderer { issuer, site, from }
    }

    /// `{issuer}/{page}?token=T`, the token percent-encoded (it is URL-safe
    /// already; this keeps a future token format from breaking the link).
    fn link(&self, page: &str, token: &str) -> String {
        let token: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        format!("{}/{page}?token={token}", self.issuer)
    }

    /// What each kind says. Notifications say what happened and what to do
    /// if it was not the reader.
    pub fn content(&self, kind: &MailKind) -> Content {
        let site = &self.site;
        let forgot = format!("{}/forgot-password", self.issuer);
        let p = |s: String| Block::Paragraph(s);
        match kind {
            MailKind::VerifyEmail { token } => Content {
                subject: "Confirm your email address",
                blocks: vec![
                    p(format!("Please confirm that this is your email address for your account at {site}.")),
                    Block::Action { label: "Confirm email address", url: self.link("verify-email", token) },
                    p("The link expires in 24 hours and works once. If you did not create an account, ignore this message: nothing happens without the link.".into()),
                ],
            },
            MailKind::ResetPassword { token } => Content {
                subject: "Reset your Doorward password",
                blocks: vec![
                    p(format!("Someone asked to reset the password of your account at {site}. To choose a new password, open this link:")),
                    Block::Action { label: "Choose a new password", url: self.link("reset-password", token) },
                    p("The link expires in 30 minutes and works once. Resetting signs you out everywhere.".into()),
                    p("If you did not ask for this, ignore this message: your password stays as it is.".into()),
                ],
            },
            MailKind::AlreadyRegistered => Content {
                subject: "You already have an account",
                blocks: vec![
                    p(format!("Someone tried to sign up at {site} with this email address, but it already has an account.")),
                    p("If that was you, sign in with your password instead. If you have forgotten it, choose a new one here:".into()),
                    Block::Action { label: "Reset your password", url: forgot },
                    p("If it was not you, ignore this message: nothing has changed.".into()),
                ],
            },
            MailKind::PasswordChanged => Content {
                subject: "Your Doorward password was changed",
                blocks: vec![
                    p(format!("The password of your account at {site} was just changed, and your other sessions were signed out.")),
                    p("If you did this, there is nothing more to do.".into()),
                    p("If you did not, someone else knows your password: reset it now (this signs out every session), and change it wherever else you use it.".into()),
                    Block::Action { label: "Reset your password", url: forgot },
                ],
            },
            MailKind::PasswordReset => Content {
                subject: "Your Doorward password was reset",
                blocks: vec![
                    p(format!("The password of your account at {site} was just reset with a reset link, and every session was signed out.")),
                    p("If you did this, there is nothing more to do.".into()),
                    p("If you did not, someone can read your email: secure your email account first, then reset your password again.".into()),
                    Block::Action { label: "Reset your password", url: forgot },
                ],
            },
        }
    }

    /// The plain-text part.
    pub fn text(&self, content: &Content) -> String {
        let mut out = String::new();
        for block in &content.blocks {
            match block {
                Block::Paragraph(text) => out.push_str(&wrap(text, TEXT_WIDTH)),
                Block::Action { label, url } => {
                    out.push_str(label);
                    out.push_str(":\n");
                    out.push_str(url);
                }
            }
            out.push_str("\n\n");
        }
        out.push_str("-- \n");
        out.push_str(&wrap(&footer(&self.site), TEXT_WIDTH));
        out.push('\n');
        out
    }

    /// The HTML part: every value escaped, non-ASCII as character references.
    pub fn html(&self, content: &Content) -> String {
        let mut body = String::new();
        for block in &content.blocks {
            match block {
                Block::Paragraph(text) => {
                    body.push_str(&format!("<p>{}</p>\n", escape(text)));
                }
                Block::Action { label, url } => {
                    let url = escape(url);
                    body.push_str(&format!(
                        "<p style=\"margin:24px 0;\"><a href=\"{url}\" style=\"{BUTTON_STYLE}\">{}</a></p>\n\
                         <p style=\"font-size:13px;color:#656d76;word-break:break-all;\">If the \
                         button does not work, copy this address into your browser:<br>\n{url}</p>\n",
                        escape(label)
                    ));
                }
            }
        }
        fill(
            LAYOUT_HTML,
            &[
                ("subject", &escape(content.subject)),
                ("content", &body),
                ("site", &escape(&footer(&self.site))),
            ],
        )
    }

    /// The whole message for `mail`: From, To, Subject, Date, Message-ID,
    /// `Auto-Submitted` (RFC 3834: no auto-replies), both parts.
    pub fn message(&self, mail: &OutgoingMail) -> Result<Message, RenderError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| RenderError(format!("recipient: {e}")))?;
        let content = self.content(&mail.kind);
        let domain = self.from.email.domain();
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(content.subject)
            .date_now()
            .message_id(Some(format!("<{}@{domain}>", uuid::Uuid::new_v4())))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ))
            .multipart(
                MultiPart::alternative()
                    .singlepart(part(ContentType::TEXT_PLAIN, self.text(&content)))
                    .singlepart(part(ContentType::TEXT_HTML, self.html(&content))),
            )
            .map_err(|e| RenderError(e.to_string()))
    }
}

fn footer(site: &str) -> String {
    format!("This message was sent by {site} because this email address was used there. It was sent automatically; replies are not read.")
}

/// A part, 7bit when it is ASCII with lines under RFC 5322's 998 octets;
/// otherwise lettre's choice (quoted-printable or base64).
fn part(content_type: ContentType, body: String) -> SinglePart {
    let seven_bit = body.is_ascii() && body.lines().all(|l| l.len() < 998) && !body.contains('\0');
    let builder = SinglePart::builder().header(content_type);
    if seven_bit {
        let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
        builder.body(Body::dangerous_pre_encoded(
            crlf.into_bytes(),
            ContentTransferEncoding::SevenBit,
        ))
    } else {
        builder.body(body)
    }
}

/// HTML-escape text for element content and quoted attribute values;
/// non-ASCII becomes a numeric character reference (the part stays 7bit).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_ascii() => out.push(c),
            c => out.push_str(&format!("&#x{:X};", u32::from(c))),
        }
    }
    out
}

/// Replace each `{{name}}` in `template` by its value, in one pass (a value
/// containing `{{...}}` is not expanded again). Unknown names stay.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() * 2);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, marker) = rest.split_at(start);
        out.push_str(before);
        let name = marker
            .strip_prefix("{{")
            .and_then(|m| m.split_once("}}"))
            .and_then(|(name, after)| {
                let value = values.iter().find(|(n, _)| *n == name.trim())?.1;
                Some((value, after))
            });
        match name {
            Some((value, after)) => {
                out.push_str(value);
                rest = after;
            }
            None => {
                out.push_str("{{");
                rest = marker.get(2..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out
}

/// Greedy word wrap at `width` columns; a word longer than that (a URL)
/// stands on a line of its own, unbroken.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width);
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > width {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
