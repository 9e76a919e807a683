//! Where a login may send the browser afterwards (`?return_to=`): a path on
//! this server, or a URL on the issuer's origin or one of
//! `web.allowed_return_origins`. Anything else is dropped (the browser lands
//! on `/account`), so Doorward is no open redirect.

/// Where a signed-in browser goes when `return_to` is absent or refused.
pub const DEFAULT: &str = "/account";

/// `raw` when it may be followed, else `None`. `issuer` and `allowed` are
/// origins or URLs (only their origin counts).
pub fn safe(raw: &str, issuer: &str, allowed: &[String]) -> Option<String> {
    // Browsers drop tabs and newlines from URLs and read `\` as `/`: a value
    // with any of them could mean something else to the browser than here.
    if raw.is_empty()
        || raw.len() > 2048
        || raw
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    if let Some(rest) = raw.strip_prefix('/') {
        // `//host` is a URL on another host.
        return (!rest.starts_with('/')).then(|| raw.to_owned());
    }
    let origin = origin_of(raw)?;
    let allowed_here = std::iter::once(issuer)
        .chain(allowed.iter().map(String::as_str))
        .filter_map(origin_of)
        .any(|o| o == origin);
    allowed_here.then(|| raw.to_owned())
}

/// `scheme://host[:port]` of an http(s) URL, lower-cased, default port
/// dropped; `None` for anything else, and for URLs with user info.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?.to_ascii_lowercase();
    if authority.is_empty()
        || authority.contains('@')
        || authority.starts_with(':')
        || !authority
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c))
    {
        return None;
    }
    let authority = authority
        .strip_suffix(default_port)
        .unwrap_or(&authority)
        .to_owned();
    Some(format!("{scheme}://{authority}"))
}

/// Where to go after signing in: `return_to` when it is safe, else `/account`.
pub fn target(raw: Option<&str>, issuer: &str, allowed: &[String]) -> String {
    raw.and_then(|r| safe(r, issuer, allowed))
        .unwrap_or_else(|| DEFAULT.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://auth.example.com";

    fn allowed() -> Vec<String> {
        vec![
            "https://app.example.com".to_owned(),
            "http://localhost:3000".to_owned(),
        ]
    }

    fn ok(raw: &str) -> bool {
        safe(raw, ISSUER, &allowed()).as_deref() == Some(raw)
    }

    #[test]
    fn paths_on_this_server_are_followed() {
        for p in ["/account", "/", "/a/b?x=1#y", "/admin?q=%2F%2Fx"] {
            assert!(ok(p), "{p}");
        }
    }

    #[test]
    fn protocol_relative_and_backslash_paths_are_refused() {
        for p in [
            "//evil.com",
            "//evil.com/account",
            "/\\evil.com",
            "\\\\evil.com",
            "/\t/evil.com",
            "/\n/evil.com",
            " /account",
            "/account\r\nSet-Cookie: x",
            "///evil.com",
        ] {
            assert!(!ok(p), "{p:?}");
        }
    }

    #[test]
    fn allowed_origins_are_followed() {
        for u in [
            "https://auth.example.com/account",
            "https://AUTH.example.com:443/x",
            "https://app.example.com",
            "https://app.example.com/callback?state=1",
            "http://localhost:3000/",
            "HTTPS://app.example.com/x",
        ] {
            assert!(ok(u), "{u}");
        }
    }

    #[test]
    fn other_origins_and_schemes_are_refused() {
        for u in [
            "https://evil.com",
            "https://app.example.com.evil.com/",
            "https://evil.com/https://app.example.com",
            "https://app.example.com@evil.com/",
            "https://user:pw@app.example.com/",
            "http://app.example.com/",
            "https://app.example.com:8443/",
            "http://localhost:3001/",
            "javascript:alert(1)",
            "javascript://app.example.com/%0aalert(1)",
            "data:text/html,x",
            "app.example.com/x",
            "https:/app.example.com",
            "https:///evil.com",
            "ftp://app.example.com/",
            "",
        ] {
            assert!(!ok(u), "{u:?}");
        }
    }

    #[test]
    fn the_fallback_is_the_account_page() {
        assert_eq!(target(None, ISSUER, &[]), "/account");
        assert_eq!(target(Some("https://evil.com"), ISSUER, &[]), "/account");
        assert_eq!(target(Some("/x"), ISSUER, &[]), "/x");
    }

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            origin_of("HTTP://Example.COM:80/x").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            origin_of("http://[::1]:8080").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(origin_of("mailto:a@b.c"), None);
    }
}
