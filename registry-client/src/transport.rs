//! HTTP transport: one reqwest client, per-host concurrency limits, authentication and
//! retries.
//!
//! Every registry request goes through [`Transport::send`] (replayable bodies: retried on
//! 5xx, 429, timeouts and connection errors, and re-sent once after a `401` with fresh
//! credentials) or [`Transport::send_once`] (streamed bodies, which only the caller can
//! replay). A response holds its host's semaphore permit until it is dropped, so "at most
//! N requests per host" includes the time spent streaming the body.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Authenticator, CredentialSource};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::{RetryPolicy, is_retryable_status, parse_retry_after};
use crate::secret::RedactedUrl;

/// Network settings: TLS, plain-HTTP hosts, timeouts, retries and concurrency.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// Hosts (`host` or `host:port`) spoken to over plain HTTP, like docker's
    /// `--insecure-registry`. Loopback hosts always use plain HTTP.
    pub insecure_hosts: Vec<String>,
    /// A PEM file of extra CA certificates, trusted in addition to the system roots.
    pub extra_ca_file: Option<std::path::PathBuf>,
    /// How long to wait for a TCP+TLS connection.
    pub connect_timeout: Duration,
    /// How long a read may stall before the request is failed (and retried).
    pub read_timeout: Duration,
    /// Retry policy for 5xx, 429 and dropped connections.
    pub retry: RetryPolicy,
    /// Concurrent requests per host; registries throttle clients that open many more.
    pub max_concurrent_per_host: usize,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            insecure_hosts: Vec::new(),
            extra_ca_file: None,
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            max_concurrent_per_host: 4,
            user_agent: concat!("strata/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// One request, described so it can be sent again.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: Method,
    pub url: Url,
    /// The registry as written in references: the key for credentials and tokens.
    pub registry: String,
    /// Token scopes, e.g. `repository:library/busybox:pull`.
    pub scopes: Vec<String>,
    pub headers: HeaderMap,
    pub body: Option<Bytes>,
    /// The digest the request is about, for error messages.
    pub digest: Option<String>,
}

impl Request {
    pub fn new(method: Method, url: Url, registry: &str, scopes: Vec<String>) -> Self {
        Self {
            method,
            url,
            registry: registry.to_owned(),
            scopes,
            headers: HeaderMap::new(),
            body: None,
            digest: None,
        }
    }
}

/// A response plus the per-host permit it holds until dropped.
#[derive(Debug)]
pub(crate) struct Response {
    pub inner: reqwest::Response,
    _permit: OwnedSemaphorePermit,
}

/// The shared HTTP machinery of a client.
#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    pub auth: Authenticator,
    config: TransportConfig,
    limits: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl Transport {
    pub fn new(config: TransportConfig, credentials: CredentialSource) -> Result<Self> {
        let mut builder = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(reqwest::redirect::Policy::limited(10));
        if let Some(path) = &config.extra_ca_file {
            let pem = fs_err::read(path).map_err(|source| Error::Io {
                op: "read",
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| Error::Io {
                op: "parse certificates in",
                path: path.clone(),
                source: std::io::Error::other(e.without_url()),
            })?;
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| Error::Unsupported(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            auth: Authenticator::new(credentials),
            config,
            limits: Mutex::new(HashMap::new()),
        })
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.config.retry
    }

    /// `http(s)://<api host>/v2/`, plain HTTP for loopback and insecure hosts.
    pub fn base_url(&self, api_host: &str) -> Result<Url> {
        let scheme = if self.is_plain_http(api_host) {
            "http"
        } else {
            "https"
        };
        Url::parse(&format!("{scheme}://{api_host}/v2/")).map_err(|e| Error::InvalidReference {
            input: api_host.to_owned(),
            reason: format!("registry host is not a valid URL host: {e}"),
        })
    }

    fn is_plain_http(&self, api_host: &str) -> bool {
        if self.config.insecure_hosts.iter().any(|h| h == api_host) {
            return true;
        }
        let host = host_without_port(api_host);
        if self.config.insecure_hosts.iter().any(|h| h == host) {
            return true;
        }
        host == "localhost"
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    async fn permit(&self, url: &Url) -> OwnedSemaphorePermit {
        let key = format!(
            "{}:{}",
            url.host_str().unwrap_or(""),
            url.port_or_known_default().unwrap_or(0)
        );
        let sem = {
            let mut map = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key)
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(self.config.max_concurrent_per_host.max(1)))
                })
                .clone()
        };
        // The semaphore is never closed, so acquisition cannot fail.
        match sem.acquire_owned().await {
            Ok(p) => p,
            Err(_) => unreachable!("per-host semaphores are never closed"),
        }
    }

    async fn build(&self, req: &Request) -> Result<reqwest::RequestBuilder> {
        let mut builder = self
            .http
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone());
        if let Some(h) = self
            .auth
            .authorization(&self.http, &req.registry, &req.scopes)
            .await?
        {
            builder = builder.header(AUTHORIZATION, h);
        }
        Ok(builder)
    }

    /// Sends a replayable request, retrying transient failures and answering one `401`.
    /// Returns any response that is not retryable, including 4xx: callers decide.
    pub async fn send(&self, req: &Request) -> Result<Response> {
        let policy = &self.config.retry;
        let mut attempt = 0u32;
        let mut answered_challenge = false;
        loop {
            let mut builder = self.build(req).await?;
            if let Some(body) = &req.body {
                builder = builder.body(body.clone());
            }
            let permit = self.permit(&req.url).await;
            let outcome = builder.send().await;
            let retry_after = match outcome {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !answered_challenge => {
                    answered_challenge = true;
                    let header = resp
                        .headers()
                        .get(WWW_AUTHENTICATE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    drop(permit);
                    if self
                        .auth
                        .unauthorized(&req.registry, header.as_deref(), &req.scopes)
                        .await?
                    {
                        continue;
                    }
                    return self.fail(req, resp).await;
                }
                Ok(resp)
                    if is_retryable_status(resp.status().as_u16())
                        && attempt < policy.max_retries =>
                {
                    let after = resp
                        .headers()
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| parse_retry_after(v, SystemTime::now()));
                    tracing::debug!(method = %req.method, url = %RedactedUrl::new(req.url.clone()), status = resp.status().as_u16(), attempt, "retrying");
                    after
                }
                Ok(resp) => {
                    return Ok(Response {
                        inner: resp,
                        _permit: permit,
                    });
                }
                Err(e) if attempt < policy.max_retries => {
                    tracing::debug!(method = %req.method, url = %RedactedUrl::new(req.url.clone()), error = %e.without_url(), attempt, "retrying");
                    None
                }
                Err(e) => return Err(self.network_error(req, e)),
            };
            drop(permit);
            tokio::time::sleep(policy.delay(attempt, retry_after)).await;
            attempt += 1;
        }
    }

    /// Sends a request once with a streamed body. A `401` updates the auth state (so the
    /// caller's next attempt carries fresh credentials) and comes back as an error.
    pub async fn send_once(&self, req: &Request, body: reqwest::Body) -> Result<Response> {
        let builder = self.build(req).await?.body(body);
        let permit = self.permit(&req.url).await;
        let resp = builder
            .send()
            .await
            .map_err(|e| self.network_error(req, e))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            let header = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            self.auth
                .unauthorized(&req.registry, header.as_deref(), &req.scopes)
                .await?;
        }
        Ok(Response {
            inner: resp,
            _permit: permit,
        })
    }

    /// Like [`Transport::send`], but any non-2xx status becomes an [`Error::Registry`].
    pub async fn send_ok(&self, req: &Request) -> Result<Response> {
        let resp = self.send(req).await?;
        if resp.inner.status().is_success() {
            Ok(resp)
        } else {
            self.fail(req, resp.inner).await
        }
    }

    /// Turns an error response into an [`Error::Registry`], reading the error JSON.
    pub async fn fail<T>(&self, req: &Request, resp: reqwest::Response) -> Result<T> {
        let status = resp.status().as_u16();
        let body = if req.method == Method::HEAD {
            String::new()
        } else {
            read_capped(resp, 64 * 1024).await
        };
        let message = registry_message(&body);
        let codes = registry_codes(&body);
        let kind = classify(status, &codes);
        let hint = match kind {
            ErrorKind::Unauthorized => Some(format!(
                "log in with `strata login {}` or check the saved credentials",
                req.registry
            )),
            ErrorKind::NotFound if req.url.path().contains("/manifests/") => Some(format!(
                "check the repository name and tag; if the image is private, log in with `strata login {}`",
                req.registry
            )),
            _ => None,
        };
        Err(Error::Registry {
            method: req.method.to_string(),
            url: RedactedUrl::new(req.url.clone()),
            status,
            kind,
            message,
            digest: req.digest.clone(),
            hint,
        })
    }

    pub fn network_error(&self, req: &Request, e: reqwest::Error) -> Error {
        let e = e.without_url();
        let mut detail = e.to_string();
        let mut innermost = detail.clone();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            innermost = s.to_string();
            detail.push_str(": ");
            detail.push_str(&innermost);
            source = s.source();
        }
        let host = match (req.url.host_str(), req.url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            (None, _) => req.registry.clone(),
        };
        if e.is_connect() {
            // reqwest's chain repeats itself ("error sending request: client error
            // (Connect): tcp connect error: ..."); the innermost cause says it all.
            detail = format!("cannot connect to `{host}`: {innermost}");
        }
        if let Some(hint) = network_hint(&detail, &host) {
            detail.push_str("\nhint: ");
            detail.push_str(&hint);
        }
        Error::Network {
            method: req.method.to_string(),
            url: RedactedUrl::new(req.url.clone()),
            detail,
        }
    }
}

/// What a user can do about a request that got no answer, recognised from the cause's
/// text (reqwest, hyper and rustls expose no stable kinds for these).
fn network_hint(detail: &str, host: &str) -> Option<String> {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        Some(format!(
            "the TLS connection to `{host}` failed: if the registry uses a private CA or a self-signed certificate, pass it with `--registry-ca FILE`; if it serves plain HTTP, use `--insecure-registry {host}`"
        ))
    } else if lower.contains("connection refused") {
        Some(format!(
            "nothing accepts connections at `{host}`: check that the registry is running and that the host and port are right"
        ))
    } else if lower.contains("dns error") || lower.contains("lookup address") {
        Some(format!(
            "the name in `{host}` does not resolve: check the spelling and the network's DNS"
        ))
    } else if lower.contains("timed out") || lower.contains("timeout") {
        Some(format!(
            "`{host}` did not answer in time: check the network, a firewall or a proxy"
        ))
    } else {
        None
    }
}

fn host_without_port(api_host: &str) -> &str {
    if api_host.starts_with('[') {
        return api_host
            .split_once(']')
            .map(|(h, _)| &h[1..])
            .unwrap_or(api_host);
    }
    api_host.split(':').next().unwrap_or(api_host)
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> String {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        buf.extend_from_slice(&chunk);
        if buf.len() >= cap {
            buf.truncate(cap);
            break;
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(serde::Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The registry's error JSON (`{"errors":[{"code","message"}]}`) as `CODE: message` lines.
pub(crate) fn registry_message(body: &str) -> Option<String> {
    let parsed: ErrorBody = serde_json::from_str(body).ok()?;
    let lines: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
            (false, false) => format!("{}: {}", e.code, e.message),
            (false, true) => e.code.clone(),
            _ => e.message.clone(),
        })
        .filter(|l| !l.is_empty())
        .collect();
    (!lines.is_empty()).then(|| lines.join("; "))
}

fn registry_codes(body: &str) -> Vec<String> {
    serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.errors.into_iter().map(|e| e.code).collect())
        .unwrap_or_default()
}

fn classify(status: u16, codes: &[String]) -> ErrorKind {
    let has = |c: &str| codes.iter().any(|x| x == c);
    if has("DENIED") {
        return ErrorKind::Denied;
    }
    if has("UNAUTHORIZED") {
        return ErrorKind::Unauthorized;
    }
    if has("DIGEST_INVALID") || has("SIZE_INVALID") {
        return ErrorKind::DigestMismatch;
    }
    match status {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Denied,
        404 => ErrorKind::NotFound,
        429 | 500..=599 => ErrorKind::Unavailable,
        _ if has("NAME_UNKNOWN") || has("MANIFEST_UNKNOWN") || has("BLOB_UNKNOWN") => {
            ErrorKind::NotFound
        }
        _ => ErrorKind::InvalidResponse,
    }
}

#[cfg(test)]
mod tests {
    use super::network_hint;

    #[test]
    fn network_failures_say_what_to_do() {
        let tls = network_hint(
            "cannot connect to `h:1`: invalid peer certificate: UnknownIssuer",
            "h:1",
        );
        assert!(tls.is_some_and(
            |h| h.contains("--registry-ca FILE") && h.contains("--insecure-registry h:1")
        ));
        let refused = network_hint(
            "cannot connect to `h:1`: Connection refused (os error 111)",
            "h:1",
        );
        assert!(refused.is_some_and(|h| h.contains("is running")));
        let dns = network_hint(
            "dns error: failed to lookup address information",
            "nope.invalid",
        );
        assert!(dns.is_some_and(|h| h.contains("does not resolve")));
        assert_eq!(network_hint("connection reset by peer", "h"), None);
    }
}
