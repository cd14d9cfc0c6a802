//! The distribution token flow: exchanging credentials (or nothing) for a bearer token.
//!
//! `GET realm?service=..&scope=..` with optional basic credentials, or, when the user has
//! an identity (refresh) token, `POST realm` with an OAuth2 form
//! (`grant_type=refresh_token`). The answer is `{"token"|"access_token", "expires_in"}`.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};

use super::Credentials;
use crate::error::{Error, ErrorKind, Result};
use crate::secret::{RedactedUrl, Secret};

/// The token lifetime the spec says to assume when the server does not say.
const DEFAULT_EXPIRY: Duration = Duration::from_secs(60);
/// Refresh this long before expiry so a token does not die mid-request.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);
const CLIENT_ID: &str = "strata";

/// A bearer token and when to stop using it.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub value: Secret,
    pub usable_until: Instant,
}

impl Token {
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.usable_until
    }
}

#[derive(serde::Deserialize)]
struct TokenReply {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Fetches a token for `scopes` from `realm`.
pub(crate) async fn fetch_token(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scopes: &[String],
    credentials: Option<&Credentials>,
) -> Result<Token> {
    let url = reqwest::Url::parse(realm).map_err(|e| Error::InvalidResponse {
        subject: "token realm".to_owned(),
        reason: format!("invalid realm URL: {e}"),
    })?;
    let shown = RedactedUrl::new(url.clone());
    let request = match credentials {
        Some(Credentials::IdentityToken(refresh)) => {
            let mut form: Vec<(&str, &str)> = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.expose()),
                ("client_id", CLIENT_ID),
            ];
            if let Some(s) = service {
                form.push(("service", s));
            }
            let scope = scopes.join(" ");
            if !scope.is_empty() {
                form.push(("scope", &scope));
            }
            http.post(url.clone()).form(&form)
        }
        other => {
            let mut url = url.clone();
            {
                let mut q = url.query_pairs_mut();
                if let Some(s) = service {
                    q.append_pair("service", s);
                }
                for s in scopes {
                    q.append_pair("scope", s);
                }
            }
            let mut req = http.get(url);
            if let Some(Credentials::Basic { username, password }) = other {
                req = req.header(AUTHORIZATION, basic_header(username, password));
            }
            req
        }
    };
    let method = if matches!(credentials, Some(Credentials::IdentityToken(_))) {
        "POST"
    } else {
        "GET"
    };
    tracing::debug!(realm = %shown, ?scopes, "fetching registry token");
    let resp = request.send().await.map_err(|e| Error::Network {
        method: method.to_owned(),
        url: shown.clone(),
        detail: e.without_url().to_string(),
    })?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        let kind = match status.as_u16() {
            401 => ErrorKind::Unauthorized,
            403 => ErrorKind::Denied,
            404 => ErrorKind::NotFound,
            _ => ErrorKind::Unavailable,
        };
        return Err(Error::Registry {
            method: method.to_owned(),
            url: shown,
            status: status.as_u16(),
            kind,
            message: crate::transport::registry_message(&body),
            digest: None,
            hint: (kind == ErrorKind::Unauthorized)
                .then(|| "check the credentials (`strata login`) for this registry".to_owned()),
        });
    }
    let body = resp.bytes().await.map_err(|e| Error::Network {
        method: method.to_owned(),
        url: shown.clone(),
        detail: e.without_url().to_string(),
    })?;
    let reply: TokenReply = serde_json::from_slice(&body).map_err(|e| Error::InvalidResponse {
        subject: shown.to_string(),
        reason: format!("token response is not JSON: {e}"),
    })?;
    let value = reply
        .token
        .filter(|t| !t.is_empty())
        .or(reply.access_token)
        .ok_or_else(|| Error::InvalidResponse {
            subject: shown.to_string(),
            reason: "token response has no `token`".to_owned(),
        })?;
    let lifetime = reply
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_EXPIRY)
        .max(EXPIRY_MARGIN * 2);
    Ok(Token {
        value: Secret::new(value),
        usable_until: Instant::now() + lifetime - EXPIRY_MARGIN,
    })
}

/// `Basic base64(user:pass)`, marked sensitive so hyper never logs it.
pub(crate) fn basic_header(username: &str, password: &Secret) -> HeaderValue {
    use base64::Engine as _;
    let raw = format!("{username}:{}", password.expose());
    let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
    sensitive_header(&format!("Basic {encoded}"))
}

/// `Bearer token`, marked sensitive.
pub(crate) fn bearer_header(token: &Secret) -> HeaderValue {
    sensitive_header(&format!("Bearer {}", token.expose()))
}

fn sensitive_header(value: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}
