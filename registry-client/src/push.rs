//! The push side: blobs (skip if present, cross-repository mount, streamed monolithic
//! upload with chunked fallback and resumption) and manifests (one `PUT` per tag).
//!
//! Upload lifecycle (distribution spec): `POST /blobs/uploads/` opens a session and
//! answers with its `Location`; the bytes go either in one `PUT <location>?digest=` with
//! the whole body (monolithic) or in `PATCH`es of `Content-Range` chunks followed by an
//! empty `PUT`. After a failure, `GET <location>` reports the bytes the registry holds
//! (`Range: 0-N`) and the upload continues from `N+1`; if the session is gone, the blob
//! starts over in a new one.

use bytes::Bytes;
use oci_spec::image::{Descriptor, Digest};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode, Url};
use tokio::io::AsyncReadExt as _;

use crate::blob::{BlobSource, BoxedReader};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::reference::{DOCKER_HUB, Reference};
use crate::secret::RedactedUrl;
use crate::transport::Request;

/// How blob bytes are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UploadMode {
    /// One streamed `PUT` per blob; falls back to chunked if the registry rejects it.
    #[default]
    Monolithic,
    /// `PATCH` chunks of [`PushConfig::chunk_size`], for registries that cap request size.
    Chunked,
}

/// Upload strategy for pushes.
#[derive(Clone, Debug)]
pub struct PushConfig {
    /// Monolithic (default) or chunked.
    pub mode: UploadMode,
    /// Chunk size for chunked uploads (default 8 MiB). Keep it at 5 MiB or more for real
    /// registries: S3-backed ones reject smaller non-final chunks. Not enforced, so tests
    /// can exercise the path with small blobs.
    pub chunk_size: u64,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            mode: UploadMode::Monolithic,
            chunk_size: 8 * 1024 * 1024,
        }
    }
}

/// What [`Client::push_blob`] had to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobPushed {
    /// The registry already had it (a `HEAD` answered 200).
    Exists,
    /// Mounted from another repository of the same registry; no bytes sent.
    Mounted,
    /// Uploaded.
    Uploaded,
}

/// Why one upload attempt stopped.
enum Attempt {
    /// The registry refuses this way of uploading: try chunked.
    Rejected(Error),
    /// Worth resuming or restarting: network, 5xx, expired session or token.
    Transient(Error, Url),
    /// Give up.
    Fatal(Error),
}

impl Client {
    /// Whether the repository already has `digest` (`HEAD /blobs/<digest>`).
    pub async fn blob_exists(&self, reference: &Reference, digest: &Digest) -> Result<bool> {
        let url = self.repo_url(reference, &format!("blobs/{digest}"))?;
        let mut req = Request::new(
            Method::HEAD,
            url,
            reference.registry(),
            push_scope(reference),
        );
        req.digest = Some(digest.to_string());
        let resp = self.transport().send(&req).await?;
        match resp.inner.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => self
                .transport()
                .fail(&req, resp.inner)
                .await
                .map_err(|e| push_hint(e, reference)),
        }
    }

    /// Fails early, before any big upload, when we may not push to `reference`: opens an
    /// upload session (which needs push permission) and cancels it.
    pub async fn check_push_access(&self, reference: &Reference) -> Result<()> {
        let location = self.start_upload(reference, None).await?;
        let req = Request::new(
            Method::DELETE,
            location,
            reference.registry(),
            push_scope(reference),
        );
        if let Err(e) = self.transport().send(&req).await {
            tracing::debug!(%reference, "cancelling the probe upload failed: {e}");
        }
        Ok(())
    }

    /// Pushes one blob unless the repository has it: tries a mount from `mount_from` (a
    /// repository of the same registry that has the blob), else uploads from `source`.
    pub async fn push_blob<S: BlobSource>(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &S,
        mount_from: Option<&Reference>,
    ) -> Result<BlobPushed> {
        let digest = descriptor.digest();
        if self.blob_exists(reference, digest).await? {
            tracing::debug!(%digest, "blob exists; skipping");
            return Ok(BlobPushed::Exists);
        }
        let mut session = None;
        if let Some(from) = mount_from.filter(|f| f.registry() == reference.registry()) {
            match self.mount(reference, digest, from).await? {
                None => return Ok(BlobPushed::Mounted),
                Some(location) => session = Some(location),
            }
        }
        self.upload(reference, descriptor, source, session).await?;
        Ok(BlobPushed::Uploaded)
    }

    /// Uploads `bytes` as the manifest for every tag in `tags` (one `PUT` each; the first
    /// tag may also be a digest). Push manifests only after all their blobs.
    pub async fn push_manifest(
        &self,
        reference: &Reference,
        tags: &[&str],
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest> {
        let digest = crate::blob::sha256_digest(&bytes);
        let digest_str = digest.to_string();
        let objects: Vec<&str> = if tags.is_empty() {
            vec![digest_str.as_str()]
        } else {
            tags.to_vec()
        };
        for object in objects {
            let url = self.repo_url(reference, &format!("manifests/{object}"))?;
            let mut req = Request::new(
                Method::PUT,
                url,
                reference.registry(),
                push_scope(reference),
            );
            req.headers.insert(CONTENT_TYPE, header(media_type)?);
            req.body = Some(bytes.clone());
            req.digest = Some(digest_str.clone());
            self.transport()
                .send_ok(&req)
                .await
                .map_err(|e| push_hint(e, reference))?;
            tracing::debug!(%reference, object, %digest, "pushed manifest");
        }
        Ok(digest)
    }

    /// `POST ?mount=&from=`: `None` when mounted, else the upload session the registry
    /// opened instead.
    async fn mount(
        &self,
        reference: &Reference,
        digest: &Digest,
        from: &Reference,
    ) -> Result<Option<Url>> {
        let mut url = self.repo_url(reference, "blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_ref())
            .append_pair("from", from.repository());
        let mut scopes = push_scope(reference);
        scopes.push(format!("repository:{}:pull", from.repository()));
        let mut req = Request::new(Method::POST, url, reference.registry(), scopes);
        req.body = Some(Bytes::new());
        req.digest = Some(digest.to_string());
        let resp = self
            .transport()
            .send_ok(&req)
            .await
            .map_err(|e| push_hint(e, reference))?;
        if resp.inner.status() == StatusCode::CREATED {
            tracing::debug!(%digest, from = %from, "mounted blob");
            return Ok(None);
        }
        Ok(Some(location(&req, &resp.inner)?))
    }

    /// Opens an upload session and returns its URL.
    async fn start_upload(&self, reference: &Reference, digest: Option<&Digest>) -> Result<Url> {
        let url = self.repo_url(reference, "blobs/uploads/")?;
        let mut req = Request::new(
            Method::POST,
            url,
            reference.registry(),
            push_scope(reference),
        );
        req.body = Some(Bytes::new());
        req.digest = digest.map(ToString::to_string);
        let resp = self
            .transport()
            .send_ok(&req)
            .await
            .map_err(|e| push_hint(e, reference))?;
        location(&req, &resp.inner)
    }

    async fn upload<S: BlobSource>(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &S,
        mut session: Option<Url>,
    ) -> Result<()> {
        let digest = descriptor.digest();
        let policy = self.transport().retry_policy().clone();
        let mut mode = self.push_config().mode;
        let mut offset = 0u64;
        let mut failures = 0u32;
        loop {
            let location = match session.take() {
                Some(l) => l,
                None => {
                    offset = 0;
                    self.start_upload(reference, Some(digest)).await?
                }
            };
            let attempt = if mode == UploadMode::Monolithic && offset == 0 {
                self.put_monolithic(reference, descriptor, source, location)
                    .await
            } else {
                self.put_chunked(reference, descriptor, source, location, offset)
                    .await
            };
            let (err, location) = match attempt {
                Ok(()) => return Ok(()),
                Err(Attempt::Fatal(e)) => return Err(push_hint(e, reference)),
                Err(Attempt::Rejected(e)) if mode == UploadMode::Monolithic => {
                    tracing::debug!(%digest, "monolithic upload rejected ({e}); falling back to chunked");
                    mode = UploadMode::Chunked;
                    continue;
                }
                Err(Attempt::Rejected(e)) => return Err(push_hint(e, reference)),
                Err(Attempt::Transient(e, location)) => (e, location),
            };
            if failures >= policy.max_retries {
                return Err(push_hint(err, reference));
            }
            tracing::debug!(%digest, "upload interrupted ({err}); resuming");
            tokio::time::sleep(policy.delay(failures, None)).await;
            failures += 1;
            // Ask the registry how far it got; resume there, or restart the blob.
            if let Some((next, held)) = self.upload_status(reference, &location).await {
                offset = held;
                session = Some(next);
            }
        }
    }

    /// `GET <location>`: the session URL to continue with and the bytes held.
    async fn upload_status(&self, reference: &Reference, location: &Url) -> Option<(Url, u64)> {
        let req = Request::new(
            Method::GET,
            location.clone(),
            reference.registry(),
            push_scope(reference),
        );
        let resp = self.transport().send(&req).await.ok()?;
        if resp.inner.status() != StatusCode::NO_CONTENT {
            return None;
        }
        let held = resp
            .inner
            .headers()
            .get("range")
            .and_then(|v| v.to_str().ok())
            .and_then(|r| r.rsplit('-').next()?.trim().parse::<u64>().ok())
            // distribution reports an empty upload as `0-0` too: read it as nothing held
            // (re-sending one byte is harmless; skipping one would corrupt the blob).
            .map(|end| if end == 0 { 0 } else { end + 1 })
            .unwrap_or(0);
        let next = location_header(&req, &resp.inner).unwrap_or_else(|| location.clone());
        tracing::debug!(held, "upload status");
        Some((next, held))
    }

    async fn put_monolithic<S: BlobSource>(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &S,
        location: Url,
    ) -> Result<(), Attempt> {
        let digest = descriptor.digest();
        let url = with_digest(&location, digest);
        let reader = open(source, digest, 0)
            .map_err(Attempt::Fatal)?
            .await
            .map_err(Attempt::Fatal)?;
        let mut req = Request::new(
            Method::PUT,
            url,
            reference.registry(),
            push_scope(reference),
        );
        req.headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        req.headers
            .insert(CONTENT_LENGTH, HeaderValue::from(descriptor.size()));
        req.digest = Some(digest.to_string());
        self.finish_request(
            &req,
            streamed_body(reader, descriptor.size()),
            &location,
            StatusCode::CREATED,
        )
        .await
        .map(drop)
    }

    async fn put_chunked<S: BlobSource>(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        source: &S,
        mut location: Url,
        mut offset: u64,
    ) -> Result<(), Attempt> {
        let digest = descriptor.digest();
        let size = descriptor.size();
        let chunk = self.push_config().chunk_size.max(1);
        while offset < size {
            let len = chunk.min(size - offset);
            let reader = open(source, digest, offset)
                .map_err(Attempt::Fatal)?
                .await
                .map_err(Attempt::Fatal)?;
            let mut req = Request::new(
                Method::PATCH,
                location.clone(),
                reference.registry(),
                push_scope(reference),
            );
            req.headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            req.headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
            let range = format!("{offset}-{}", offset + len - 1);
            req.headers
                .insert("content-range", header(&range).map_err(Attempt::Fatal)?);
            req.digest = Some(digest.to_string());
            let resp = self
                .finish_request(
                    &req,
                    streamed_body(reader, len),
                    &location,
                    StatusCode::ACCEPTED,
                )
                .await?;
            location = location_header(&req, &resp).unwrap_or(location);
            offset += len;
        }
        let mut req = Request::new(
            Method::PUT,
            with_digest(&location, digest),
            reference.registry(),
            push_scope(reference),
        );
        req.headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
        req.digest = Some(digest.to_string());
        self.finish_request(
            &req,
            reqwest::Body::from(Bytes::new()),
            &location,
            StatusCode::CREATED,
        )
        .await
        .map(drop)
    }

    /// Sends one streamed request and sorts the outcome into an [`Attempt`].
    async fn finish_request(
        &self,
        req: &Request,
        body: reqwest::Body,
        location: &Url,
        expected: StatusCode,
    ) -> Result<reqwest::Response, Attempt> {
        let resp = match self.transport().send_once(req, body).await {
            Ok(r) => r.inner,
            Err(e) => return Err(Attempt::Transient(e, location.clone())),
        };
        let status = resp.status();
        if status == expected || (status.is_success() && expected != StatusCode::ACCEPTED) {
            return Ok(resp);
        }
        let err = match self.transport().fail::<()>(req, resp).await {
            Err(e) => e,
            Ok(()) => unreachable!("fail always returns an error"),
        };
        Err(match (status.as_u16(), err.kind()) {
            (401, _) => Attempt::Transient(err, location.clone()),
            (404, _) => Attempt::Transient(err, location.clone()),
            (_, ErrorKind::Unavailable) => Attempt::Transient(err, location.clone()),
            (_, ErrorKind::Denied) | (_, ErrorKind::DigestMismatch) => Attempt::Fatal(err),
            (400 | 405 | 411 | 413 | 415 | 416 | 501, _) => Attempt::Rejected(err),
            _ => Attempt::Fatal(err),
        })
    }
}

fn open<'a, S: BlobSource>(
    source: &'a S,
    digest: &'a Digest,
    offset: u64,
) -> Result<impl Future<Output = Result<BoxedReader>> + 'a> {
    Ok(async move {
        source.open(offset).await.map_err(|e| Error::Stream {
            digest: digest.to_string(),
            source: e,
        })
    })
}

/// A request body that streams `len` bytes from `reader` in 64 KiB pieces.
fn streamed_body(reader: BoxedReader, len: u64) -> reqwest::Body {
    let limited = reader.take(len);
    let stream = futures_util::stream::unfold(Some(limited), |state| async move {
        let mut reader = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(reader)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    reqwest::Body::wrap_stream(stream)
}

fn push_scope(reference: &Reference) -> Vec<String> {
    vec![format!("repository:{}:pull,push", reference.repository())]
}

fn header(value: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(value).map_err(|_| Error::Unsupported(format!("header value `{value}`")))
}

fn with_digest(location: &Url, digest: &Digest) -> Url {
    let mut url = location.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_ref());
    url
}

fn location_header(req: &Request, resp: &reqwest::Response) -> Option<Url> {
    let value = resp.headers().get(LOCATION)?.to_str().ok()?;
    req.url.join(value).ok()
}

fn location(req: &Request, resp: &reqwest::Response) -> Result<Url> {
    location_header(req, resp).ok_or_else(|| Error::InvalidResponse {
        subject: RedactedUrl::new(req.url.clone()).to_string(),
        reason: "upload session response has no `Location`".to_owned(),
    })
}

/// Adds the Docker Hub `namespace/repo` explanation to permission errors.
fn push_hint(err: Error, reference: &Reference) -> Error {
    let permission = matches!(err.kind(), ErrorKind::Denied | ErrorKind::Unauthorized);
    if permission
        && reference.registry() == DOCKER_HUB
        && let Some(name) = reference.repository().strip_prefix("library/")
    {
        return err.with_hint(format!(
                "Docker Hub repositories are `namespace/name`: `{name}` means the official image `library/{name}`, which only Docker can push; push to `<your-user>/{name}` instead"
            ));
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> Error {
        Error::Registry {
            method: "POST".into(),
            url: RedactedUrl::new(Url::parse("https://registry-1.docker.io/v2/").unwrap()),
            status: 401,
            kind: ErrorKind::Unauthorized,
            message: Some("UNAUTHORIZED: authentication required".into()),
            digest: None,
            hint: None,
        }
    }

    #[test]
    fn docker_hub_single_component_push_explains_namespaces() {
        let r = Reference::parse("busybox").unwrap();
        let msg = push_hint(denied(), &r).to_string();
        assert!(
            msg.contains("hint: Docker Hub repositories are `namespace/name`"),
            "{msg}"
        );
        assert!(msg.contains("<your-user>/busybox"), "{msg}");
        let r = Reference::parse("me/busybox").unwrap();
        assert!(!push_hint(denied(), &r).to_string().contains("namespace"));
        let r = Reference::parse("ghcr.io/busybox").unwrap();
        assert!(!push_hint(denied(), &r).to_string().contains("namespace"));
    }

    #[test]
    fn digest_is_appended_to_the_upload_location() {
        let loc = Url::parse("http://r/v2/a/blobs/uploads/x?_state=abc").unwrap();
        let d: Digest = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
            .parse()
            .unwrap();
        let url = with_digest(&loc, &d);
        assert_eq!(
            url.as_str(),
            "http://r/v2/a/blobs/uploads/x?_state=abc&digest=sha256%3Aa3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
        );
    }
}
