//! A fault-injecting HTTP proxy in front of a registry.
//!
//! Deterministic: each [`FaultRule`] counts the requests it matches and fires on every
//! `every`-th one (the 1st, `every+1`-th, ... when `first` is set). It can answer with a
//! status instead of forwarding (500, 503, 429 with `Retry-After`), forward but cut the
//! response body in the middle (a dropped connection mid-download), or read part of the
//! request body and close the connection (a dropped upload). Every request is logged, so
//! tests can count what a client actually sent.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::Frame;
use hyper::{Request, Response};

use super::server::{Body, BodyError, Handler, ServerThread, full};

/// What a rule does when it fires.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and an error JSON body) without forwarding.
    Status(u16),
    /// Answer 429 (or 503) with `Retry-After: <secs>`.
    RetryAfter(u16, u64),
    /// Forward, then send only the first half of the response body and break the
    /// connection.
    DropMidBody,
    /// Forward, but ignore `Range` and answer 200 with the whole body (a server that
    /// cannot resume).
    IgnoreRange,
    /// Close the connection without an answer (after reading the request body).
    DropConnection,
    /// Forward, but flip one byte of the response body (corruption in transit).
    CorruptBody,
    /// Forward without the `Authorization` header, so the registry answers 401 as it
    /// would for an expired token.
    StripAuth,
    /// Wait this many milliseconds, then forward normally (to make requests overlap).
    Delay(u64),
    /// Answer with this status and a registry error JSON of this code (e.g. 400
    /// `MANIFEST_INVALID`) without forwarding.
    ErrorCode(u16, String),
}

/// When a fault fires.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Only requests with this method (e.g. "GET"); any when `None`.
    pub method: Option<String>,
    /// Only requests whose path contains this.
    pub path_contains: Option<String>,
    /// Only requests with this header (lowercase name) containing this value.
    pub header_contains: Option<(String, String)>,
    /// Fire on every n-th matching request (n >= 1).
    pub every: u64,
    /// Stop firing after this many faults (`None`: forever).
    pub limit: Option<u64>,
    /// What to do.
    pub fault: Fault,
}

impl FaultRule {
    /// A rule firing on every `every`-th request matching `method` and `path_contains`.
    pub fn new(method: &str, path_contains: &str, every: u64, fault: Fault) -> Self {
        Self {
            method: (!method.is_empty()).then(|| method.to_owned()),
            path_contains: (!path_contains.is_empty()).then(|| path_contains.to_owned()),
            header_contains: None,
            every: every.max(1),
            limit: None,
            fault,
        }
    }

    /// Only matches requests whose header `name` contains `value` (e.g. a manifest `PUT`
    /// whose `Content-Type` is OCI).
    pub fn when_header(mut self, name: &str, value: &str) -> Self {
        self.header_contains = Some((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Limits how many times the rule fires.
    pub fn times(mut self, n: u64) -> Self {
        self.limit = Some(n);
        self
    }
}

/// One request as the proxy saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The status sent back (0 when the connection was dropped).
    pub status: u16,
    /// Which fault fired, if any.
    pub fault: Option<String>,
    /// The request's `Range` header, if any.
    pub range: Option<String>,
}

struct RuleState {
    rule: FaultRule,
    seen: AtomicU64,
    fired: AtomicU64,
}

struct State {
    upstream: SocketAddr,
    rules: Mutex<Vec<Arc<RuleState>>>,
    log: Mutex<Vec<LoggedRequest>>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
}

/// Decrements the in-flight count when a request's handling ends.
struct InFlight<'a>(&'a State);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A running proxy; stops on drop.
pub struct FaultProxy {
    server: ServerThread,
    state: Arc<State>,
}

impl FaultProxy {
    /// Proxies to `upstream` with no faults yet.
    pub fn start(upstream: SocketAddr) -> Self {
        let state = Arc::new(State {
            upstream,
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
        });
        let handler: Handler = {
            let state = state.clone();
            Arc::new(move |req| {
                let state = state.clone();
                Box::pin(async move { handle(req, &state).await })
            })
        };
        Self {
            server: ServerThread::start(handler),
            state,
        }
    }

    /// `127.0.0.1:PORT` of the proxy.
    pub fn host(&self) -> String {
        self.server.addr.to_string()
    }

    /// Replaces the fault rules (counters restart).
    pub fn set_rules(&self, rules: Vec<FaultRule>) {
        *self.state.rules.lock().unwrap() = rules
            .into_iter()
            .map(|rule| {
                Arc::new(RuleState {
                    rule,
                    seen: AtomicU64::new(0),
                    fired: AtomicU64::new(0),
                })
            })
            .collect();
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state.log.lock().unwrap().clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.state.log.lock().unwrap().clear();
    }

    /// The most requests that were being handled at the same time.
    pub fn max_in_flight(&self) -> u64 {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// How many faults fired in total.
    pub fn faults_fired(&self) -> usize {
        self.requests().iter().filter(|r| r.fault.is_some()).count()
    }
}

fn pick_fault(
    state: &State,
    method: &str,
    path: &str,
    headers: &hyper::HeaderMap,
) -> Option<Fault> {
    let rules = state.rules.lock().unwrap().clone();
    for r in rules {
        let m = r
            .rule
            .method
            .as_deref()
            .is_none_or(|x| x.eq_ignore_ascii_case(method));
        let p = r
            .rule
            .path_contains
            .as_deref()
            .is_none_or(|x| path.contains(x));
        let h = r.rule.header_contains.as_ref().is_none_or(|(name, value)| {
            headers
                .get_all(name.as_str())
                .iter()
                .any(|v| v.to_str().is_ok_and(|v| v.contains(value.as_str())))
        });
        if !(m && p && h) {
            continue;
        }
        let n = r.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n % r.rule.every != 0 {
            continue;
        }
        if r.rule
            .limit
            .is_some_and(|l| r.fired.load(Ordering::SeqCst) >= l)
        {
            continue;
        }
        r.fired.fetch_add(1, Ordering::SeqCst);
        return Some(r.rule.fault.clone());
    }
    None
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    state: &State,
) -> Result<Response<Body>, BodyError> {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let _in_flight = InFlight(state);
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let fault = pick_fault(state, &method, &path, req.headers());
    let range = req
        .headers()
        .get("range")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let log = |status: u16| {
        state.log.lock().unwrap().push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            status,
            fault: fault.as_ref().map(|f| format!("{f:?}")),
            range: range.clone(),
        });
    };
    match &fault {
        Some(Fault::Status(code)) => {
            log(*code);
            return Ok(error_response(*code, None));
        }
        Some(Fault::ErrorCode(code, error_code)) => {
            log(*code);
            return Ok(coded_error_response(*code, error_code));
        }
        Some(Fault::RetryAfter(code, secs)) => {
            log(*code);
            return Ok(error_response(*code, Some(*secs)));
        }
        Some(Fault::DropConnection) => {
            // Read some of the body so an upload is interrupted mid-stream, then fail.
            let mut body = req.into_body();
            let _ = body.frame().await;
            log(0);
            return Err(std::io::Error::other("fault injected: connection dropped"));
        }
        _ => {}
    }
    if let Some(Fault::Delay(ms)) = &fault {
        tokio::time::sleep(std::time::Duration::from_millis(*ms)).await;
    }
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if matches!(fault, Some(Fault::IgnoreRange)) {
        parts.headers.remove("range");
    }
    if matches!(fault, Some(Fault::StripAuth)) {
        parts.headers.remove("authorization");
    }
    let upstream = forward(state.upstream, parts, body).await?;
    let (mut parts, body) = upstream.into_parts();
    let status = parts.status.as_u16();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    log(status);
    let body: Body = match fault {
        Some(Fault::DropMidBody) if body.len() > 1 => CutBody {
            first: Some(body.slice(..body.len() / 2)),
            failed: false,
        }
        .boxed(),
        Some(Fault::CorruptBody) if !body.is_empty() => {
            let mut v = body.to_vec();
            let mid = v.len() / 2;
            v[mid] ^= 0xff;
            full(v)
        }
        _ => full(body),
    };
    // hyper recomputes framing from our body; keep the upstream's Content-Length so a cut
    // body is visibly short.
    parts.headers.remove("transfer-encoding");
    Ok(Response::from_parts(parts, body))
}

/// A body that sends `first` and then fails, which makes hyper abort the connection.
struct CutBody {
    first: Option<Bytes>,
    failed: bool,
}

impl hyper::body::Body for CutBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if let Some(b) = self.first.take() {
            return std::task::Poll::Ready(Some(Ok(Frame::data(b))));
        }
        if !self.failed {
            self.failed = true;
            return std::task::Poll::Ready(Some(Err(std::io::Error::other(
                "fault injected: body cut",
            ))));
        }
        std::task::Poll::Ready(None)
    }
}

async fn forward(
    upstream: SocketAddr,
    parts: hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<hyper::body::Incoming>, BodyError> {
    let stream = tokio::net::TcpStream::connect(upstream).await?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::from_parts(parts, http_body_util::Full::new(body));
    sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)
}

fn coded_error_response(code: u16, error_code: &str) -> Response<Body> {
    let body = serde_json::json!({
        "errors": [{"code": error_code, "message": format!("fault injected: {error_code}")}]
    });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn error_response(code: u16, retry_after: Option<u64>) -> Response<Body> {
    let body = serde_json::json!({
        "errors": [{"code": "UNAVAILABLE", "message": format!("fault injected: {code}")}]
    });
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(secs) = retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}
