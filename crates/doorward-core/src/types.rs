//! Parsed input: an `Email`, `Username` or `Password` value exists only if it
//! is valid, so code past the parse never re-checks (parse, don't validate).

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// One field that failed validation: the `errors[]` entries of a 422.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        FieldError {
            field,
            code,
            message: message.into(),
        }
    }
}

/// A trimmed, NFKC-normalised, lower-cased, syntactically valid email
/// address.
///
/// Look-alikes: compatibility forms (fullwidth letters, ligatures, the
/// Kelvin sign) are the same address as their plain form, so they cannot
/// open a second account that displays like the first; invisible format
/// characters (zero-width joiner and space, bidi overrides and isolates,
/// soft hyphen, BOM: Unicode category Cf) are refused; other scripts are
/// other addresses (Cyrillic `а` is not Latin `a`, as for mail delivery).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, FieldError> {
        let bad = |m: &str| Err(FieldError::new("email", "invalid_email", m));
        // Bounded before normalising: NFKC may expand, and huge input is
        // refused anyway.
        if raw.len() > 4 * Self::MAX_LEN {
            return bad("An email address has at most 254 characters.");
        }
        let folded = raw.nfkc().collect::<String>().trim().to_lowercase();
        let s: String = folded.nfkc().collect();
        if s.is_empty() {
            return bad("Enter an email address.");
        }
        if s.len() > Self::MAX_LEN {
            return bad("An email address has at most 254 characters.");
        }
        if s.chars()
            .any(|c| c.general_category() == GeneralCategory::Format)
        {
            return bad("An email address cannot contain invisible characters.");
        }
        if s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    '<' | '>' | '"' | ',' | ';' | '\\' | '(' | ')' | '[' | ']'
                )
        }) {
            return bad("An email address cannot contain spaces or any of <>\",;\\()[].");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return bad("An email address looks like name@example.com.");
        };
        if local.is_empty() || local.len() > 64 || domain.contains('@') {
            return bad("An email address looks like name@example.com.");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return bad(
                "The part before @ cannot start or end with a dot or hold two dots in a row.",
            );
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if labels.len() < 2 || !labels.iter().all(label_ok) {
            return bad("The part after @ must be a domain such as example.com.");
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 3 to 32 of `[a-z0-9_.-]`. Stored lower-case; input is lower-cased first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, FieldError> {
        let s = raw.trim().to_lowercase();
        let len = s.chars().count();
        if !(3..=32).contains(&len) {
            return Err(FieldError::new(
                "username",
                "invalid_username",
                "A username has 3 to 32 characters.",
            ));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldError::new(
                "username",
                "invalid_username",
                "A username may hold only a-z, 0-9, underscore, dot and hyphen.",
            ));
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password after NFKC normalisation, 8 to 256 characters. Never printed:
/// `Debug` is redacted by `SecretString`.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 256;

    /// Length rules only; the policy (email/username, blocklist) is
    /// `passwords::PasswordPolicy::check`.
    pub fn parse(raw: &str, field: &'static str) -> Result<Password, FieldError> {
        let normalised: String = raw.nfkc().collect();
        let n = normalised.chars().count();
        if n < Self::MIN_CHARS {
            return Err(FieldError::new(
                field,
                "password_too_short",
                "Use at least 8 characters.",
            ));
        }
        if n > Self::MAX_CHARS {
            return Err(FieldError::new(
                field,
                "password_too_long",
                "Use at most 256 characters.",
            ));
        }
        Ok(Password(SecretString::from(normalised)))
    }

    /// For a login attempt: normalise, refuse only absurd lengths (so that a
    /// password set under older rules still works), never reveal why.
    pub fn for_login(raw: &str) -> Option<Password> {
        let normalised: String = raw.nfkc().collect();
        let n = normalised.chars().count();
        (1..=1024)
            .contains(&n)
            .then(|| Password(SecretString::from(normalised)))
    }

    /// Stands in for an impossible login password so the attempt still
    /// costs one verification (it never matches: the hash it meets is real).
    pub fn placeholder() -> Password {
        Password(SecretString::from("\u{0}placeholder\u{0}"))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Alice@Example.COM ").unwrap().as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn look_alike_emails_are_folded_or_refused() {
        let parse = |e: &str| Email::parse(e).map(|e| e.as_str().to_owned());
        // Compatibility forms: the plain address.
        assert_eq!(parse("\u{FF21}da@example.com").unwrap(), "ada@example.com");
        assert_eq!(parse("ada@ex\u{FF41}mple.com").unwrap(), "ada@example.com");
        assert_eq!(parse("\u{FB01}@example.com").unwrap(), "fi@example.com");
        assert_eq!(parse("\u{212A}im@example.com").unwrap(), "kim@example.com");
        assert_eq!(
            parse("\u{3000}ada@example.com\u{3000}").unwrap(),
            "ada@example.com"
        );
        // Another script: another address.
        assert_eq!(
            parse("\u{430}da@example.com").unwrap(),
            "\u{430}da@example.com"
        );
        // Invisible: refused.
        for c in [
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{AD}', '\u{FEFF}',
            '\u{2060}',
        ] {
            assert!(parse(&format!("a{c}da@example.com")).is_err(), "{c:?}");
        }
    }

    #[test]
    fn bad_emails_are_refused() {
        for e in [
            "", "a", "a@", "@b.c", "a@b", "a b@c.d", "a@@b.c", "a@b..c", ".a@b.c", "a@-b.c",
            "a<b@c.d",
        ] {
            assert!(Email::parse(e).is_err(), "{e:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Bob_1.x-y").unwrap().as_str(), "bob_1.x-y");
        for u in ["ab", &"a".repeat(33), "bad name", "émile", "a/b"] {
            assert!(Username::parse(u).is_err(), "{u:?} accepted");
        }
        assert!(Username::parse(&"a".repeat(32)).is_ok());
    }

    #[test]
    fn password_length_counts_characters_after_nfkc() {
        assert!(Password::parse("1234567", "password").is_err());
        assert!(Password::parse("12345678", "password").is_ok());
        // Eight characters, more than eight bytes.
        assert!(Password::parse("éééééééé", "password").is_ok());
        assert!(Password::parse(&"x".repeat(256), "password").is_ok());
        assert!(Password::parse(&"x".repeat(257), "password").is_err());
        // U+FB01 (ﬁ ligature) becomes "fi" under NFKC.
        assert_eq!(
            Password::parse("\u{FB01}1234567", "password")
                .unwrap()
                .expose(),
            "fi1234567"
        );
    }

    #[test]
    fn password_debug_is_redacted() {
        let p = Password::parse("correct horse", "password").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in ".{0,300}") {
            let _ = Email::parse(&s);
            let _ = Username::parse(&s);
            let _ = Password::parse(&s, "password");
        }

        #[test]
        fn email_parsing_is_idempotent(s in "\\PC{0,40}@\\PC{1,20}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }

        #[test]
        fn valid_emails_round_trip(local in "[a-z0-9]{1,20}", domain in "[a-z]{1,10}\\.[a-z]{2,5}") {
            let e = format!("{local}@{domain}");
            let parsed = Email::parse(&e).unwrap();
            prop_assert_eq!(parsed.as_str(), e.as_str());
        }
    }
}
