//! `Claims`: the payload of a Doorward access token (RFC 9068 §2.2 plus `sid` and `roles`).

use serde::{Deserialize, Serialize};

/// The claims of a Doorward access token.
///
/// Times are Unix seconds. `aud` is always a single string when Doorward signs; the verifier
/// also accepts a token whose `aud` is an array that contains the expected audience, and then
/// reports that audience here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: Doorward's public base URL.
    pub iss: String,
    /// Subject: the user id.
    pub sub: String,
    /// Audience (`tokens.audience`, by default the issuer).
    pub aud: String,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Not before, Unix seconds; omitted when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// Session id: what revocation is keyed on.
    pub sid: String,
    /// The user's roles at the time of issue.
    pub roles: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Claims {
        Claims {
            iss: "https://auth.example".into(),
            sub: "u1".into(),
            aud: "https://auth.example".into(),
            exp: 2000,
            iat: 1000,
            nbf: None,
            jti: "j1".into(),
            sid: "s1".into(),
            roles: vec!["admin".into()],
        }
    }

    #[test]
    fn nbf_is_omitted_when_none() {
        let json = serde_json::to_value(sample()).unwrap();
        assert!(json.get("nbf").is_none());
        let with_nbf = Claims {
            nbf: Some(900),
            ..sample()
        };
        assert_eq!(serde_json::to_value(with_nbf).unwrap()["nbf"], 900);
    }

    #[test]
    fn round_trips_through_json() {
        let json = serde_json::to_string(&sample()).unwrap();
        assert_eq!(serde_json::from_str::<Claims>(&json).unwrap(), sample());
    }
}
