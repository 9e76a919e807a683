//! The small parsers of identifiers a client or operator types:
//! `Email::parse`, `Username::parse`, `Password::parse` / `for_login` (the
//! normalisation every account lookup and hash goes through), the audit
//! listing cursor (`AuditCursor::decode`), the audit anchor
//! (`ChainHead::parse`, `doorward audit verify --anchor`), the opaque-token
//! shape check and the throttle key of an unknown identifier.
//!
//! Input: one string (lossy UTF-8).
//!
//! Properties: a parsed value parses again to itself (normalisation is
//! idempotent, so one account has one spelling); emails are lower-case,
//! at most 254 bytes, one `@`; usernames 3 to 32 of `[a-z0-9_.-]`;
//! passwords 8 to 256 characters after NFKC; cursors and anchors print
//! back to exactly what was parsed.

use doorward_core::audit::AuditCursor;
use doorward_core::audit_chain::ChainHead;
use doorward_core::throttle::ThrottleKey;
use doorward_core::tokens::plausible_opaque_token;
use doorward_core::types::{Email, Password, Username};

pub fn check(data: &[u8]) {
    let raw = String::from_utf8_lossy(data);
    let raw = raw.as_ref();

    if let Ok(email) = Email::parse(raw) {
        let s = email.as_str();
        assert!(s.len() <= Email::MAX_LEN);
        assert_eq!(s.matches('@').count(), 1, "{s:?}");
        assert_eq!(s, s.to_lowercase());
        assert_eq!(Email::parse(s).as_ref(), Ok(&email), "not idempotent");
        let _ = ThrottleKey::identifier("email", s);
    }
    if let Ok(username) = Username::parse(raw) {
        let s = username.as_str();
        assert!((3..=32).contains(&s.len()));
        assert!(s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)));
        assert_eq!(Username::parse(s).as_ref(), Ok(&username));
    }
    if let Ok(password) = Password::parse(raw, "password") {
        let s = password.expose();
        assert!((8..=256).contains(&s.chars().count()));
        let again = Password::parse(s, "password").unwrap();
        assert_eq!(again.expose(), s, "NFKC not idempotent");
    }
    if let Some(password) = Password::for_login(raw) {
        assert!((1..=1024).contains(&password.expose().chars().count()));
    }
    if let Some(cursor) = AuditCursor::decode(raw) {
        assert_eq!(cursor.encode(), raw, "cursor does not round-trip");
    }
    if let Some(head) = ChainHead::parse(raw) {
        assert_eq!(ChainHead::parse(&head.to_string()), Some(head));
    }
    if plausible_opaque_token(raw) {
        assert!(raw.len() >= 20);
    }
}
