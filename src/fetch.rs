//! The solver's [`SourceFetcher`]: `ADD <url>` downloads over reqwest.
//!
//! The solver calls this from its worker threads (never from an async
//! context), so each request runs to completion on a small runtime of its
//! own, created on first use; builds without remote files never start it.

use std::io::Write;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_DISPOSITION, ETAG, HeaderMap, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED,
};
use solver::solve::{HttpRequest, HttpResponse, SourceFetcher};

/// Downloads remote files for the solver.
#[derive(Default)]
pub struct HttpFetcher {
    state: OnceLock<Result<(tokio::runtime::Runtime, reqwest::Client), String>>,
}

impl HttpFetcher {
    /// A fetcher; nothing is set up until the first request.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<&(tokio::runtime::Runtime, reqwest::Client), String> {
        self.state
            .get_or_init(|| {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("strata-fetch")
                    .enable_all()
                    .build()
                    .map_err(|e| format!("starting the HTTP runtime: {e}"))?;
                let client = reqwest::Client::builder()
                    .user_agent(concat!("strata/", env!("CARGO_PKG_VERSION")))
                    .connect_timeout(Duration::from_secs(30))
                    .read_timeout(Duration::from_secs(300))
                    .build()
                    .map_err(|e| format!("creating the HTTP client: {e}"))?;
                Ok((runtime, client))
            })
            .as_ref()
            .map_err(Clone::clone)
    }
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The `filename` parameter of a `Content-Disposition` header.
fn disposition_filename(value: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty()).then(|| v.to_string())
    })
}

fn unix_seconds(http_date: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(http_date).ok()?;
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
    }
}

impl SourceFetcher for HttpFetcher {
    fn http_get(
        &self,
        request: &HttpRequest<'_>,
        body: &mut dyn Write,
    ) -> Result<HttpResponse, String> {
        let (runtime, client) = self.state()?;
        runtime.block_on(async {
            let mut req = client.get(request.url);
            if let Some(etag) = request.if_none_match {
                req = req.header(IF_NONE_MATCH, etag);
            }
            if let Some(since) = request.if_modified_since {
                req = req.header(IF_MODIFIED_SINCE, since);
            }
            let mut resp = req.send().await.map_err(|e| error_chain(&e))?;
            let status = resp.status();
            if status == StatusCode::NOT_MODIFIED {
                return Ok(HttpResponse::NotModified);
            }
            if !status.is_success() {
                return Err(format!("invalid response status {}", status.as_u16()));
            }
            let headers = resp.headers();
            let last_modified = header(headers, LAST_MODIFIED);
            let response = HttpResponse::Body {
                etag: header(headers, ETAG),
                modified: last_modified.as_deref().and_then(unix_seconds),
                last_modified,
                disposition_filename: header(headers, CONTENT_DISPOSITION)
                    .as_deref()
                    .and_then(disposition_filename),
            };
            while let Some(chunk) = resp.chunk().await.map_err(|e| error_chain(&e))? {
                body.write_all(&chunk)
                    .map_err(|e| format!("writing the download: {e}"))?;
            }
            Ok(response)
        })
    }
}

/// An error with its causes (reqwest's own message hides the interesting part).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_names() {
        assert_eq!(
            disposition_filename("attachment; filename=\"a.tar.gz\"").as_deref(),
            Some("a.tar.gz")
        );
        assert_eq!(
            disposition_filename("attachment; FileName=b.txt").as_deref(),
            Some("b.txt")
        );
        assert_eq!(disposition_filename("inline"), None);
    }

    #[test]
    fn http_dates_parse() {
        assert_eq!(
            unix_seconds("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
