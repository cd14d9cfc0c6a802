//! The pull side: resolving a reference to a platform's manifest and config, and
//! streaming blobs into a [`BlobSink`] with verification and resumption.

use bytes::Bytes;
use oci_spec::image::{Descriptor, Digest, ImageConfiguration, ImageIndex, ImageManifest};
use reqwest::header::{ACCEPT, CONTENT_RANGE, CONTENT_TYPE, HeaderValue, RANGE};
use reqwest::{Method, StatusCode};

use crate::blob::{BlobSink, Verifier};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::media_type;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::transport::Request;

/// Manifests larger than this are refused: real ones are a few KiB.
const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;
/// Configs larger than this are refused (they are read into memory).
const MAX_CONFIG_BYTES: u64 = 32 * 1024 * 1024;

/// A manifest or index exactly as the registry served it.
///
/// The bytes are kept verbatim because the digest is over them: re-serialising a parsed
/// manifest would change its digest.
#[derive(Clone, Debug)]
pub struct Manifest {
    /// The raw JSON.
    pub bytes: Bytes,
    /// The digest of `bytes`.
    pub digest: Digest,
    /// The media type (from `Content-Type`, else the JSON `mediaType`).
    pub media_type: String,
}

impl Manifest {
    /// Whether this is an OCI index or a Docker manifest list.
    pub fn is_index(&self) -> bool {
        media_type::is_index(&self.media_type)
    }

    /// A descriptor pointing at this manifest.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::new(
            self.media_type.as_str().into(),
            self.bytes.len() as u64,
            self.digest.clone(),
        )
    }
}

/// Everything a build needs from a base image, for one platform.
#[derive(Clone, Debug)]
pub struct ResolvedImage {
    /// The reference as asked for.
    pub reference: Reference,
    /// The index or manifest list the reference pointed at, if it did.
    pub index: Option<Manifest>,
    /// The platform's image manifest.
    pub manifest: Manifest,
    /// `manifest` parsed.
    pub image_manifest: ImageManifest,
    /// The config descriptor from the manifest.
    pub config_descriptor: Descriptor,
    /// The config blob, verified, verbatim.
    pub config_bytes: Bytes,
    /// The config parsed (Env, Cmd, User... and the rootfs diff IDs).
    pub config: ImageConfiguration,
    /// The layer descriptors, base first; fetch each with [`Client::fetch_blob`].
    pub layers: Vec<Descriptor>,
}

impl ResolvedImage {
    /// The reference pinned to the digest that was resolved (the index if there was one),
    /// which is what a build records so that rebuilds use the same image.
    pub fn pinned(&self) -> Reference {
        let digest = self.index.as_ref().unwrap_or(&self.manifest).digest.clone();
        self.reference.with_digest(digest)
    }
}

impl Client {
    /// Fetches the manifest or index `reference` names, verbatim, verifying a pinned digest.
    pub async fn fetch_manifest(&self, reference: &Reference) -> Result<Manifest> {
        let url = self.repo_url(reference, &format!("manifests/{}", reference.object()))?;
        let mut req = Request::new(
            Method::GET,
            url,
            reference.registry(),
            pull_scope(reference),
        );
        req.headers.insert(
            ACCEPT,
            HeaderValue::from_static(media_type::ACCEPT_MANIFESTS),
        );
        req.digest = reference.digest().map(ToString::to_string);
        let policy = self.transport().retry_policy().clone();
        let mut failures = 0u32;
        let (header_type, bytes) = loop {
            let mut resp = self.transport().send_ok(&req).await?;
            let header_type = resp
                .inner
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned());
            let mut buf = Vec::new();
            let read = loop {
                match resp.inner.chunk().await {
                    Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(self.transport().network_error(&req, e)),
                }
                if buf.len() > MAX_MANIFEST_BYTES {
                    return Err(Error::InvalidResponse {
                        subject: reference.to_string(),
                        reason: format!("manifest larger than {MAX_MANIFEST_BYTES} bytes"),
                    });
                }
            };
            match read {
                Ok(()) => break (header_type, Bytes::from(buf)),
                // A dropped body: manifests are small, so fetch again from the start.
                Err(e) if failures < policy.max_retries => {
                    tracing::debug!(%reference, "manifest body interrupted: {e}");
                    tokio::time::sleep(policy.delay(failures, None)).await;
                    failures += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let digest = match reference.digest() {
            Some(d) => {
                let mut v = Verifier::new(d, None)?;
                v.update(&bytes)?;
                v.finish()?;
                d.clone()
            }
            None => crate::blob::sha256_digest(&bytes),
        };
        let media_type = match header_type.filter(|t| media_type::is_manifest(t)) {
            Some(t) => t,
            None => media_type::sniff(&bytes).ok_or_else(|| Error::InvalidResponse {
                subject: reference.to_string(),
                reason: "cannot tell the manifest's media type".to_owned(),
            })?,
        };
        if media_type == media_type::DOCKER_SCHEMA1
            || media_type == media_type::DOCKER_SCHEMA1_SIGNED
        {
            return Err(Error::Unsupported(format!(
                "`{reference}` is a Docker schema 1 manifest\nhint: push the image again with a current docker or skopeo"
            )));
        }
        tracing::debug!(%reference, %digest, %media_type, "fetched manifest");
        Ok(Manifest {
            bytes,
            digest,
            media_type,
        })
    }

    /// Resolves `reference` for the client's default platform: see [`Client::resolve_for`].
    pub async fn resolve(&self, reference: &Reference) -> Result<ResolvedImage> {
        let platform = self.default_platform().clone();
        self.resolve_for(reference, &platform).await
    }

    /// Resolves `reference` to `platform`'s image manifest, config and layers: follows an
    /// index or manifest list to the matching entry (error listing the available platforms
    /// when none matches) and fetches and verifies the config.
    pub async fn resolve_for(
        &self,
        reference: &Reference,
        platform: &Platform,
    ) -> Result<ResolvedImage> {
        let top = self.fetch_manifest(reference).await?;
        let (index, manifest) = if top.is_index() {
            let index: ImageIndex = parse_json(&top.bytes, reference)?;
            let chosen = select_platform(&index, platform, reference)?;
            let child = self
                .fetch_manifest(&reference.with_digest(chosen.digest().clone()))
                .await?;
            if child.is_index() {
                return Err(Error::Unsupported(format!(
                    "nested index in `{reference}` for platform `{platform}`"
                )));
            }
            (Some(top), child)
        } else {
            (None, top)
        };
        let image_manifest: ImageManifest = parse_json(&manifest.bytes, reference)?;
        let config_descriptor = image_manifest.config().clone();
        if config_descriptor.size() > MAX_CONFIG_BYTES {
            return Err(Error::InvalidResponse {
                subject: reference.to_string(),
                reason: format!(
                    "config blob of {} bytes is too large",
                    config_descriptor.size()
                ),
            });
        }
        let mut config_buf =
            Vec::with_capacity(usize::try_from(config_descriptor.size()).unwrap_or(0));
        self.fetch_blob(reference, &config_descriptor, &mut config_buf)
            .await?;
        let config_bytes = Bytes::from(config_buf);
        let config: ImageConfiguration = parse_json(&config_bytes, reference)?;
        let layers = image_manifest.layers().clone();
        Ok(ResolvedImage {
            reference: reference.clone(),
            index,
            manifest,
            image_manifest,
            config_descriptor,
            config_bytes,
            config,
            layers,
        })
    }

    /// Streams the blob `descriptor` names from `reference`'s repository into `sink`,
    /// verifying size and digest as it goes. Returns the number of bytes written.
    ///
    /// A dropped connection is resumed with a `Range` request from the last byte written;
    /// if the registry ignores the range, the sink is rewound and the blob restarted. On
    /// error, the sink may hold a partial blob: the caller discards it.
    pub async fn fetch_blob<S: BlobSink>(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        sink: &mut S,
    ) -> Result<u64> {
        let digest = descriptor.digest();
        let url = self.repo_url(reference, &format!("blobs/{digest}"))?;
        let mut req = Request::new(
            Method::GET,
            url,
            reference.registry(),
            pull_scope(reference),
        );
        req.digest = Some(digest.to_string());
        let stream_err = |source| Error::Stream {
            digest: digest.to_string(),
            source,
        };
        let policy = self.transport().retry_policy().clone();
        let mut verifier = Verifier::new(digest, Some(descriptor.size()))?;
        let mut failures = 0u32;
        loop {
            let offset = verifier.seen();
            if offset > 0 {
                let range = HeaderValue::from_str(&format!("bytes={offset}-"))
                    .unwrap_or_else(|_| HeaderValue::from_static("bytes=0-"));
                req.headers.insert(RANGE, range);
            } else {
                req.headers.remove(RANGE);
            }
            let mut resp = self
                .transport()
                .send_ok(&req)
                .await
                .map_err(|e| e.with_digest(digest))?;
            let status = resp.inner.status();
            let resumed = status == StatusCode::PARTIAL_CONTENT
                && resp
                    .inner
                    .headers()
                    .get(CONTENT_RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(range_start)
                    == Some(offset);
            if offset > 0 && !resumed {
                tracing::debug!(%digest, offset, "registry cannot resume; restarting blob");
                if !sink.rewind().await.map_err(stream_err)? {
                    return Err(Error::Stream {
                        digest: digest.to_string(),
                        source: std::io::Error::other(
                            "the connection dropped, the registry cannot resume and the sink cannot rewind",
                        ),
                    });
                }
                verifier = Verifier::new(digest, Some(descriptor.size()))?;
                if status == StatusCode::PARTIAL_CONTENT {
                    // A range we did not ask for: ask again for the whole blob.
                    continue;
                }
            }
            let broken = loop {
                match resp.inner.chunk().await {
                    Ok(Some(chunk)) => {
                        verifier.update(&chunk)?;
                        sink.write_chunk(chunk).await.map_err(stream_err)?;
                    }
                    Ok(None) if verifier.seen() < descriptor.size() => {
                        break Some("the body ended early".to_owned());
                    }
                    Ok(None) => break None,
                    Err(e) => break Some(self.transport().network_error(&req, e).to_string()),
                }
            };
            drop(resp);
            let Some(why) = broken else { break };
            if failures >= policy.max_retries {
                return Err(Error::Network {
                    method: "GET".to_owned(),
                    url: crate::secret::RedactedUrl::new(req.url.clone()),
                    detail: format!("blob `{digest}`: {why} after {} bytes", verifier.seen()),
                });
            }
            tracing::debug!(%digest, seen = verifier.seen(), %why, "blob download interrupted; resuming");
            tokio::time::sleep(policy.delay(failures, None)).await;
            failures += 1;
        }
        let written = verifier.seen();
        verifier.finish()?;
        sink.flush().await.map_err(stream_err)?;
        Ok(written)
    }
}

/// `bytes START-END/TOTAL` -> START.
fn range_start(content_range: &str) -> Option<u64> {
    content_range
        .trim()
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
}

pub(crate) fn pull_scope(reference: &Reference) -> Vec<String> {
    vec![format!("repository:{}:pull", reference.repository())]
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], reference: &Reference) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::InvalidResponse {
        subject: reference.to_string(),
        reason: format!("invalid JSON: {e}"),
    })
}

/// Picks `wanted` from an index, skipping attestation entries.
fn select_platform<'a>(
    index: &'a ImageIndex,
    wanted: &Platform,
    reference: &Reference,
) -> Result<&'a Descriptor> {
    let mut available = Vec::new();
    let mut fallback = None;
    for m in index.manifests() {
        let Some(p) = m.platform() else { continue };
        let p = Platform::from_oci(p);
        if p.os == "unknown" {
            continue;
        }
        if wanted.matches(&p) {
            if wanted.variant == p.variant {
                return Ok(m);
            }
            fallback.get_or_insert(m);
        }
        available.push(p.to_string());
    }
    fallback.ok_or_else(|| Error::PlatformNotFound {
        reference: reference.familiar(),
        wanted: wanted.to_string(),
        available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_start() {
        assert_eq!(range_start("bytes 100-199/200"), Some(100));
        assert_eq!(range_start("bytes 0-0/1"), Some(0));
        assert_eq!(range_start("items 1-2"), None);
    }
}
