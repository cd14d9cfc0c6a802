//! Authentication: credentials, their sources, and the per-registry state that turns them
//! into `Authorization` headers.
//!
//! Lifecycle: the first request to a registry goes out with no header. A `401` carries a
//! [`Challenge`]; we remember it per registry. For `Basic` we send the user's credentials
//! from then on. For `Bearer` we fetch a token for the request's scopes (e.g.
//! `repository:library/busybox:pull`), cache it per scope set until shortly before it
//! expires, and fetch again on expiry or when a request with it gets a `401`.

mod challenge;
mod credentials;
mod docker_config;
mod token;

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::header::HeaderValue;

pub use challenge::{Challenge, parse_challenges};
pub use credentials::{CredentialSource, Credentials};
pub use docker_config::{DOCKER_HUB_SERVER, DockerConfig};
pub(crate) use token::basic_header;

use crate::error::Result;
use token::Token;

/// Per-registry authentication state shared by all requests of a client.
#[derive(Debug)]
pub(crate) struct Authenticator {
    source: CredentialSource,
    state: Mutex<HashMap<String, RegistryAuth>>,
}

#[derive(Debug, Default)]
struct RegistryAuth {
    /// `None` until looked up; then what the source had.
    credentials: Option<Option<Credentials>>,
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
}

impl Authenticator {
    pub fn new(source: CredentialSource) -> Self {
        Self {
            source,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn with_state<T>(&self, registry: &str, f: impl FnOnce(&mut RegistryAuth) -> T) -> T {
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(registry.to_owned()).or_default())
    }

    /// The registry's credentials, looked up once per client.
    pub async fn credentials(&self, registry: &str) -> Result<Option<Credentials>> {
        if let Some(c) = self.with_state(registry, |s| s.credentials.clone()) {
            return Ok(c);
        }
        let found = self.source.lookup(registry).await?;
        tracing::debug!(registry, found = found.is_some(), "looked up credentials");
        self.with_state(registry, |s| s.credentials = Some(found.clone()));
        Ok(found)
    }

    /// The header to send for a request needing `scopes`, fetching a token when the
    /// registry is known to want one and none is cached.
    pub async fn authorization(
        &self,
        http: &reqwest::Client,
        registry: &str,
        scopes: &[String],
    ) -> Result<Option<HeaderValue>> {
        let key = scope_key(scopes);
        let (challenge, cached) = self.with_state(registry, |s| {
            let cached = s.tokens.get(&key).filter(|t| t.is_fresh()).cloned();
            (s.challenge.clone(), cached)
        });
        let credentials = self.credentials(registry).await?;
        if let Some(Credentials::RegistryToken(t)) = &credentials {
            return Ok(Some(token::bearer_header(t)));
        }
        match challenge {
            None => Ok(None),
            Some(Challenge::Basic { .. }) => Ok(match &credentials {
                Some(Credentials::Basic { username, password }) => {
                    Some(basic_header(username, password))
                }
                _ => None,
            }),
            Some(Challenge::Bearer { realm, service, .. }) => {
                if let Some(t) = cached {
                    return Ok(Some(token::bearer_header(&t.value)));
                }
                let t = token::fetch_token(
                    http,
                    &realm,
                    service.as_deref(),
                    scopes,
                    credentials.as_ref(),
                )
                .await?;
                let header = token::bearer_header(&t.value);
                self.with_state(registry, |s| s.tokens.insert(key, t));
                Ok(Some(header))
            }
        }
    }

    /// Handles a `401`: records the challenge and drops the token that failed. Returns
    /// whether retrying can help (there is a challenge we can answer).
    pub async fn unauthorized(
        &self,
        registry: &str,
        www_authenticate: Option<&str>,
        scopes: &[String],
    ) -> Result<bool> {
        let challenges = www_authenticate.map(parse_challenges).unwrap_or_default();
        let credentials = self.credentials(registry).await?;
        // Prefer bearer; fall back to basic only when we have basic credentials.
        let chosen = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }))
            .or_else(|| {
                challenges
                    .iter()
                    .find(|c| matches!(c, Challenge::Basic { .. }))
            })
            .cloned();
        let Some(chosen) = chosen else {
            return Ok(false);
        };
        let key = scope_key(scopes);
        let helpful = match &chosen {
            Challenge::Basic { .. } => matches!(credentials, Some(Credentials::Basic { .. })),
            Challenge::Bearer { .. } => true,
        };
        self.with_state(registry, |s| {
            s.tokens.remove(&key);
            s.challenge = Some(chosen);
        });
        Ok(helpful)
    }
}

fn scope_key(scopes: &[String]) -> String {
    let mut s: Vec<&str> = scopes.iter().map(String::as_str).collect();
    s.sort_unstable();
    s.join(" ")
}
