//! Types that keep credentials out of logs, errors and `Debug` output.
//!
//! Every password, token and URL that may carry userinfo passes through these types, so a
//! `{:?}` or `{}` anywhere in the crate (or in a caller's log line) cannot leak a secret.

use std::fmt;

/// A credential value (password, identity token, bearer token).
///
/// Why a type: `Debug` and `Display` print `****`, so a secret placed in a struct that
/// derives `Debug` or in an error message is redacted by construction. The value is only
/// reachable through [`Secret::expose`], which makes every use greppable.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for building an `Authorization` header or a token request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an absent password in `config.json`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

/// A URL printed with its userinfo and secret-bearing query parameters replaced by `****`.
///
/// Errors carry the URL that failed; this type makes sure that a realm or endpoint written
/// as `https://user:pass@host/` never shows its password.
#[derive(Clone, PartialEq, Eq)]
pub struct RedactedUrl(Box<reqwest::Url>);

/// Query parameters that may carry a credential and are therefore never printed.
const SECRET_QUERY_KEYS: &[&str] = &["password", "refresh_token", "access_token", "token"];

impl RedactedUrl {
    /// Wraps a URL for display.
    pub fn new(url: reqwest::Url) -> Self {
        Self(Box::new(url))
    }

    /// The underlying URL, for making requests.
    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }

    fn redacted(&self) -> String {
        let mut url = (*self.0).clone();
        if !url.username().is_empty() {
            let _ = url.set_username("****");
        }
        if url.password().is_some() {
            let _ = url.set_password(Some("****"));
        }
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .map(|(k, v)| {
                    let v = if SECRET_QUERY_KEYS.contains(&k.as_ref()) {
                        "****".to_owned()
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            url.query_pairs_mut().clear().extend_pairs(pairs);
        }
        url.to_string()
    }
}

impl fmt::Display for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for RedactedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedactedUrl({})", self.redacted())
    }
}

impl From<reqwest::Url> for RedactedUrl {
    fn from(url: reqwest::Url) -> Self {
        Self::new(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_never_printed() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(****)");
        assert_eq!(format!("{s}"), "****");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn url_userinfo_and_token_query_are_redacted() {
        let url =
            reqwest::Url::parse("https://bob:hunter2@example.com/v2/?refresh_token=abc&scope=x")
                .unwrap();
        let shown = RedactedUrl::new(url).to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(!shown.contains("bob"), "{shown}");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(shown.contains("scope=x"), "{shown}");
    }
}
