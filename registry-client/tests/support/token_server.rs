//! A tiny distribution token server (the `auth: token` flow).
//!
//! distribution validates a token's JWT signature with a key from `rootcertbundle`,
//! found by the header's `kid`, which is the libtrust key ID of the certificate's public
//! key: base32 of the first 240 bits of sha256(DER SubjectPublicKeyInfo), in colon-separated
//! groups of four. It then checks `iss` (the configured issuer), `aud` (the service), the
//! time window, and that `access` grants the requested `repository:name:actions`. Keys
//! and certificates come from `openssl` at test time; tokens are signed RS256 by
//! `openssl dgst -sha256 -sign`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http_body_util::BodyExt as _;
use hyper::{Method, Request, Response, StatusCode};

use super::registry::RegistryAuth;
use super::run;
use super::server::{Body, Handler, ServerThread, full, parse_form};

/// Who may get which tokens.
#[derive(Clone, Debug)]
pub struct TokenServerOptions {
    /// `(user, password)` pairs accepted with basic auth (GET) or `grant_type=password`.
    pub users: Vec<(String, String)>,
    /// `(refresh token, user)` pairs accepted with `grant_type=refresh_token` (POST).
    pub refresh_tokens: Vec<(String, String)>,
    /// Whether anonymous clients get pull access.
    pub anonymous_pull: bool,
    /// Token lifetime in seconds.
    pub expires_in: u64,
}

impl Default for TokenServerOptions {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            refresh_tokens: Vec::new(),
            anonymous_pull: true,
            expires_in: 300,
        }
    }
}

/// One token request, as the server saw it (no secrets).
#[derive(Clone, Debug)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The authenticated user, if any.
    pub user: Option<String>,
    /// The `grant_type` of a POST.
    pub grant_type: Option<String>,
    /// The requested scopes.
    pub scopes: Vec<String>,
}

/// A running token server.
pub struct TokenServer {
    server: ServerThread,
    dir: tempfile::TempDir,
    /// The certificate to put in the registry's `rootcertbundle`.
    pub cert: PathBuf,
    /// Every request received.
    pub requests: Arc<Mutex<Vec<TokenRequest>>>,
    issued: Arc<AtomicUsize>,
}

pub const SERVICE: &str = "strata-test-registry";
pub const ISSUER: &str = "strata-test-issuer";

struct Keys {
    key: PathBuf,
    kid: String,
}

impl TokenServer {
    /// Starts the server; keys are generated with `openssl`.
    pub fn start(options: TokenServerOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=strata-test-token-issuer", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null()));
        let der = Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&key)
            .output()
            .unwrap()
            .stdout;
        let keys = Arc::new(Keys {
            key,
            kid: libtrust_key_id(&der),
        });
        let requests = Arc::new(Mutex::new(Vec::new()));
        let issued = Arc::new(AtomicUsize::new(0));
        let options = Arc::new(options);
        let handler: Handler = {
            let (requests, issued) = (requests.clone(), issued.clone());
            Arc::new(move |req| {
                let (keys, options, requests, issued) = (
                    keys.clone(),
                    options.clone(),
                    requests.clone(),
                    issued.clone(),
                );
                Box::pin(async move { Ok(handle(req, &keys, &options, &requests, &issued).await) })
            })
        };
        Self {
            server: ServerThread::start(handler),
            dir,
            cert,
            requests,
            issued,
        }
    }

    /// The realm URL registries point clients to.
    pub fn realm(&self) -> String {
        format!("http://{}/token", self.server.addr)
    }

    /// The registry configuration that trusts this server.
    pub fn registry_auth(&self) -> RegistryAuth {
        RegistryAuth::Token {
            realm: self.realm(),
            service: SERVICE.to_owned(),
            issuer: ISSUER.to_owned(),
            root_cert: self.cert.clone(),
        }
    }

    /// How many tokens were issued.
    pub fn tokens_issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    keys: &Keys,
    options: &TokenServerOptions,
    log: &Mutex<Vec<TokenRequest>>,
    issued: &AtomicUsize,
) -> Response<Body> {
    let method = req.method().clone();
    let mut params = parse_form(req.uri().query().unwrap_or(""));
    let basic = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
    if method == Method::POST {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        params.extend(parse_form(&String::from_utf8_lossy(&body)));
    }
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let mut scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|s| !s.is_empty())
        .collect();
    scopes.dedup();
    let grant_type = get("grant_type");
    let user: Result<Option<String>, ()> = match (method.clone(), grant_type.as_deref()) {
        (Method::POST, Some("refresh_token")) => {
            let token = get("refresh_token").unwrap_or_default();
            options
                .refresh_tokens
                .iter()
                .find(|(t, _)| *t == token)
                .map(|(_, u)| Some(u.clone()))
                .ok_or(())
        }
        (Method::POST, Some("password")) => {
            let (u, p) = (
                get("username").unwrap_or_default(),
                get("password").unwrap_or_default(),
            );
            check_user(options, &u, &p)
        }
        (Method::POST, _) => Err(()),
        _ => match &basic {
            Some((u, p)) => check_user(options, u, p),
            None => Ok(None),
        },
    };
    log.lock().unwrap().push(TokenRequest {
        method: method.to_string(),
        user: user.clone().ok().flatten(),
        grant_type: grant_type.clone(),
        scopes: scopes.clone(),
    });
    let Ok(user) = user else {
        return json(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({
                "errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]
            }),
        );
    };
    if get("service").as_deref() != Some(SERVICE) {
        return json(
            StatusCode::BAD_REQUEST,
            serde_json::json!({
                "errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]
            }),
        );
    }
    let access: Vec<serde_json::Value> = scopes
        .iter()
        .filter_map(|s| {
            let (kind, rest) = s.split_once(':')?;
            let (name, actions) = rest.rsplit_once(':')?;
            let granted: Vec<&str> = actions
                .split(',')
                .filter(|a| user.is_some() || (options.anonymous_pull && *a == "pull"))
                .collect();
            Some(serde_json::json!({"type": kind, "name": name, "actions": granted}))
        })
        .collect();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let n = issued.fetch_add(1, Ordering::SeqCst);
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": user.clone().unwrap_or_default(),
        "aud": SERVICE,
        "exp": now + options.expires_in,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("strata-test-{now}-{n}"),
        "access": access,
    });
    let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "kid": keys.kid});
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = keys.key.clone();
    let input = signing_input.clone();
    let signature = tokio::task::spawn_blocking(move || sign(&key, input.as_bytes()))
        .await
        .unwrap();
    let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
    json(
        StatusCode::OK,
        serde_json::json!({
            "token": token,
            "access_token": token,
            "expires_in": options.expires_in,
        }),
    )
}

fn check_user(
    options: &TokenServerOptions,
    user: &str,
    password: &str,
) -> Result<Option<String>, ()> {
    options
        .users
        .iter()
        .any(|(u, p)| u == user && p == password)
        .then(|| Some(user.to_owned()))
        .ok_or(())
}

fn json(status: StatusCode, value: serde_json::Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn sign(key: &PathBuf, data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl dgst -sign failed");
    out.stdout
}

/// libtrust's key ID: base32(sha256(der)[..30]) in groups of 4 joined by `:`.
fn libtrust_key_id(der: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(der);
    let encoded = base32(&hash[..30]);
    let groups: Vec<String> = encoded
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    groups.join(":")
}

/// RFC 4648 base32 without padding (30 bytes encode to exactly 48 characters).
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in data {
        buffer = ((buffer << 8) | u32::from(b)) & 0xFFFF;
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}
