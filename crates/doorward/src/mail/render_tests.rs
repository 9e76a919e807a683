//! Rendering tests: headers, both parts, links, escaping.

use super::*;
use mail_parser::{MessageParser, MimeHeaders};

const TOKEN: &str = "tok_3q-Xy_9LmZ0aBcDeFgHiJkLmNoPqRsTuVwXyZ012345";

fn renderer() -> Renderer {
    Renderer::new(
        "https://auth.example.com/",
        "Example <no-reply@example.com>".parse().unwrap(),
    )
}

fn mail(kind: MailKind) -> OutgoingMail {
    OutgoingMail {
        to: "ada@example.org".into(),
        kind,
    }
}

fn all_kinds() -> Vec<MailKind> {
    vec![
        MailKind::VerifyEmail {
            token: TOKEN.into(),
        },
        MailKind::ResetPassword {
            token: TOKEN.into(),
        },
        MailKind::AlreadyRegistered,
        MailKind::PasswordChanged,
        MailKind::PasswordReset,
    ]
}

/// The bytes as sent, parsed back as RFC 5322 + MIME.
fn parsed(kind: MailKind) -> (Vec<u8>, String, String, String) {
    let raw = renderer().message(&mail(kind)).unwrap().formatted();
    let msg = MessageParser::default().parse(&raw[..]).unwrap();
    let root = msg.root_part().content_type().unwrap();
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("alternative"))
    );
    assert_eq!((msg.text_body_count(), msg.html_body_count()), (1, 1));
    let text_type = msg.text_part(0).unwrap().content_type().unwrap();
    assert_eq!(text_type.subtype(), Some("plain"));
    let html_type = msg.html_part(0).unwrap().content_type().unwrap();
    assert_eq!(html_type.subtype(), Some("html"));
    assert_eq!(
        msg.from().unwrap().first().unwrap().address(),
        Some("no-reply@example.com")
    );
    assert_eq!(
        msg.to().unwrap().first().unwrap().address(),
        Some("ada@example.org")
    );
    assert!(msg.date().is_some(), "Date");
    assert!(
        msg.message_id().unwrap().ends_with("@example.com"),
        "{:?}",
        msg.message_id()
    );
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated")
    );
    let subject = msg.subject().unwrap().to_owned();
    let text = msg.body_text(0).unwrap().into_owned();
    let html = msg.body_html(0).unwrap().into_owned();
    (raw, subject, text, html)
}

#[test]
fn verification_mail_links_to_the_verify_page_in_both_parts() {
    let (raw, subject, text, html) = parsed(MailKind::VerifyEmail {
        token: TOKEN.into(),
    });
    assert_eq!(subject, "Confirm your email address");
    let link = format!("https://auth.example.com/verify-email?token={TOKEN}");
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert!(text.contains("24 hours") && html.contains("24 hours"));
    // 7bit: the link stands as it is in the raw file (copyable from an outbox).
    let raw = String::from_utf8(raw).unwrap();
    assert!(raw.contains(&link), "{raw}");
    assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
}

#[test]
fn reset_mail_links_to_the_reset_page_and_says_30_minutes() {
    let (_, subject, text, html) = parsed(MailKind::ResetPassword {
        token: TOKEN.into(),
    });
    assert_eq!(subject, "Reset your Doorward password");
    let link = format!("https://auth.example.com/reset-password?token={TOKEN}");
    assert!(text.contains(&link) && html.contains(&link), "{text}");
    assert!(text.contains("30 minutes") && html.contains("30 minutes"));
}

#[test]
fn notifications_say_what_happened_and_point_to_forgot_password() {
    for (kind, subject, says) in [
        (
            MailKind::PasswordChanged,
            "Your Doorward password was changed",
            "was just changed",
        ),
        (
            MailKind::PasswordReset,
            "Your Doorward password was reset",
            "was just reset",
        ),
        (
            MailKind::AlreadyRegistered,
            "You already have an account",
            "already has an account",
        ),
    ] {
        let (_, got, text, html) = parsed(kind);
        assert_eq!(got, subject);
        assert!(text.contains(says) && html.contains(says), "{text}");
        let forgot = "https://auth.example.com/forgot-password";
        assert!(text.contains(forgot) && html.contains(forgot), "{text}");
        assert!(text.contains("auth.example.com"), "names the site: {text}");
    }
}

#[test]
fn tokens_are_percent_encoded_and_html_is_escaped() {
    let r = renderer();
    let content = r.content(&MailKind::VerifyEmail {
        token: "a&b<c>\"d' e/f".into(),
    });
    let text = r.text(&content);
    assert!(
        text.contains("/verify-email?token=a%26b%3Cc%3E%22d%27+e%2Ff"),
        "{text}"
    );
    let hostile = Content {
        subject: "Hi <b>",
        blocks: vec![
            Block::Paragraph("<script>alert('x')</script> & {{content}} é".into()),
            Block::Action {
                label: "Go",
                url: "https://x.example/?a=1&b=\"2\"".into(),
            },
        ],
    };
    let html = r.html(&hostile);
    assert!(
        !html.contains("<script>") && !html.contains("<b>"),
        "{html}"
    );
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp;"));
    assert!(
        html.contains("{{content}} &#xE9;"),
        "not expanded twice: {html}"
    );
    assert!(html.contains("href=\"https://x.example/?a=1&amp;b=&quot;2&quot;\""));
    assert!(html.contains("<title>Hi &lt;b&gt;</title>"));
    assert!(html.is_ascii());
}

#[test]
fn every_kind_renders_both_parts() {
    for kind in all_kinds() {
        let (_, subject, text, html) = parsed(kind);
        assert!(!subject.is_empty());
        assert!(text.contains("replies are not read"), "{text}");
        assert!(html.starts_with("<!DOCTYPE html>") && html.contains("</html>"));
        for line in text.lines().filter(|l| !l.contains("://")) {
            assert!(line.chars().count() <= TEXT_WIDTH, "{line}");
        }
    }
}

#[test]
fn a_non_ascii_sender_name_or_site_still_makes_a_valid_message() {
    let r = Renderer::new(
        "https://bücher.example",
        "Bücher <no-reply@example.com>".parse().unwrap(),
    );
    let raw = r
        .message(&mail(MailKind::PasswordChanged))
        .unwrap()
        .formatted();
    let msg = MessageParser::default().parse(&raw[..]).unwrap();
    assert_eq!(msg.from().unwrap().first().unwrap().name(), Some("Bücher"));
    assert!(msg.body_text(0).unwrap().contains("xn--bcher-kva.example"));
}

#[test]
fn a_bad_recipient_is_an_error_that_does_not_show_the_token() {
    let err = renderer()
        .message(&OutgoingMail {
            to: "not an address".into(),
            kind: MailKind::ResetPassword {
                token: TOKEN.into(),
            },
        })
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    let m = mail(MailKind::VerifyEmail {
        token: TOKEN.into(),
    });
    assert!(!format!("{m:?}").contains(TOKEN));
}

#[test]
fn wrap_keeps_long_words_whole() {
    assert_eq!(wrap("aa bb cc", 5), "aa bb\ncc");
    assert_eq!(
        wrap("x https://very.long/url y", 5),
        "x\nhttps://very.long/url\ny"
    );
    assert_eq!(fill("{{a}}-{{b}}-{{", &[("a", "{{b}}")]), "{{b}}-{{b}}-{{");
}

#[test]
fn the_default_sender_of_an_ip_issuer_makes_a_valid_message() {
    for (issuer, domain) in [
        ("http://127.0.0.1:8080", "127.0.0.1"),
        ("http://[::1]:8080", "localhost"),
    ] {
        let from = crate::mail::MailSettings::from_section(&Default::default(), issuer)
            .unwrap()
            .from;
        let raw = Renderer::new(issuer, from)
            .message(&mail(MailKind::PasswordReset))
            .unwrap()
            .formatted();
        let msg = MessageParser::default().parse(&raw[..]).unwrap();
        let shown = String::from_utf8_lossy(&raw);
        assert!(
            shown.contains(&format!("From: no-reply@{domain}\r\n")),
            "{shown}"
        );
        assert!(msg.message_id().unwrap().ends_with(&format!("@{domain}")));
        assert!(msg
            .body_text(0)
            .unwrap()
            .contains(&format!("{issuer}/forgot-password")));
    }
}
