//! Pulling: blobs streamed from the registry into the content store, several at a time,
//! then the config, the manifest and the name, all under one lease.

use std::io::{self, Write as _};
use std::sync::Arc;

use bytes::Bytes;
use cache::oci_spec::image::Descriptor;
use cache::{Digest, Lease, Store};
use registry_client::{BlobSink, Client, Platform, Reference};

use super::{
    ConfigBlob, INDEX_DIGEST_ANNOTATION, ImageError, LocalImages, PullEvent, PullProgress,
    PulledImage, base_layers, join_error, oci_platform, parse, pinned, platform_of, store_name,
};

impl LocalImages {
    pub(super) async fn pull_async(
        &self,
        reference: &Reference,
        platform: &Platform,
        lease: Arc<Lease>,
        progress: Arc<dyn PullProgress>,
    ) -> Result<PulledImage, ImageError> {
        let resolved = self.client.resolve_for(reference, platform).await?;
        let pinned_ref = pinned(reference, &resolved.manifest.digest);
        progress.event(PullEvent::Resolved {
            reference: &pinned_ref,
            layers: resolved.layers.len(),
        });
        let spec: frontend::ImageSpec = parse(&resolved.config_bytes, reference)?;
        let layers = base_layers(&resolved.image_manifest, &spec, reference)?;

        let (downloaded_blobs, downloaded_bytes) = self
            .fetch_layers(reference, &resolved.layers, &lease, &progress)
            .await?;

        // Config, then manifest, then the name: each only once what it references is in.
        let store = self.store().clone();
        let config_digest = resolved.config_descriptor.digest().clone();
        let config_bytes = resolved.config_bytes.clone();
        let manifest = resolved.manifest.clone();
        let name = store_name(reference);
        let mut descriptor = manifest.descriptor();
        descriptor.set_platform(oci_platform(&spec));
        if let Some(index) = &resolved.index {
            let mut annotations = std::collections::HashMap::new();
            annotations.insert(INDEX_DIGEST_ANNOTATION.to_owned(), index.digest.to_string());
            descriptor.set_annotations(Some(annotations));
        }
        let tag_name = name.clone();
        let blocking_lease = Arc::clone(&lease);
        tokio::task::spawn_blocking(move || -> Result<(), ImageError> {
            write_small(&store, &blocking_lease, &config_bytes, &config_digest)?;
            write_small(&store, &blocking_lease, &manifest.bytes, &manifest.digest)?;
            store.tag(&blocking_lease, &tag_name, &descriptor)?;
            Ok(())
        })
        .await
        .map_err(join_error)??;
        drop(lease);
        tracing::info!(name, reference = %pinned_ref, downloaded_blobs, downloaded_bytes, "pulled image");

        Ok(PulledImage {
            name,
            reference: pinned_ref,
            manifest_digest: resolved.manifest.digest.to_string(),
            index_digest: resolved.index.as_ref().map(|i| i.digest.to_string()),
            platform: platform_of(&spec),
            config: ConfigBlob {
                digest: resolved.config_descriptor.digest().to_string(),
                bytes: resolved.config_bytes.to_vec(),
                spec,
            },
            layers,
            downloaded_blobs,
            downloaded_bytes,
        })
    }

    /// Downloads the layers the store lacks, `max_connections` at a time; returns how
    /// many blobs and bytes were downloaded. The first failure aborts the others (their
    /// partial files are removed as their writers drop).
    async fn fetch_layers(
        &self,
        reference: &Reference,
        layers: &[Descriptor],
        lease: &Arc<Lease>,
        progress: &Arc<dyn PullProgress>,
    ) -> Result<(usize, u64), ImageError> {
        let store = self.store();
        let permits = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        let mut tasks = tokio::task::JoinSet::new();
        let mut seen = std::collections::HashSet::new();
        for layer in layers {
            let digest = Digest::try_from(layer.digest())?;
            if !seen.insert(digest) {
                continue;
            }
            let digest_text = layer.digest().to_string();
            if store.exists(&digest)? {
                progress.event(PullEvent::BlobDone {
                    digest: &digest_text,
                    size: layer.size(),
                    present: true,
                });
                continue;
            }
            let job = LayerJob {
                client: self.client.clone(),
                store: store.clone(),
                lease: Arc::clone(lease),
                reference: reference.clone(),
                descriptor: layer.clone(),
                digest,
                progress: Arc::clone(progress),
            };
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .map_err(|e| ImageError::Internal {
                        what: "the download queue closed".to_owned(),
                        source: io::Error::other(e),
                    })?;
                job.run().await
            });
        }
        let (mut blobs, mut bytes) = (0, 0);
        while let Some(done) = tasks.join_next().await {
            bytes += done.map_err(join_error)??;
            blobs += 1;
        }
        Ok((blobs, bytes))
    }
}

/// One layer download, owned by its task.
struct LayerJob {
    client: Client,
    store: Store,
    lease: Arc<Lease>,
    reference: Reference,
    descriptor: Descriptor,
    digest: Digest,
    progress: Arc<dyn PullProgress>,
}

impl LayerJob {
    async fn run(self) -> Result<u64, ImageError> {
        let digest_text = self.descriptor.digest().to_string();
        let size = self.descriptor.size();
        self.progress.event(PullEvent::BlobStarted {
            digest: &digest_text,
            size,
        });
        let mut sink = StoreSink {
            writer: Some(self.store.writer(&self.lease)?),
            store: self.store.clone(),
            lease: Arc::clone(&self.lease),
            digest: digest_text.clone(),
            size,
            progress: Arc::clone(&self.progress),
        };
        let written = self
            .client
            .fetch_blob(&self.reference, &self.descriptor, &mut sink)
            .await?;
        let writer = sink.writer.take().ok_or_else(|| ImageError::Internal {
            what: format!("blob `{digest_text}` lost its writer"),
            source: io::Error::other("writer missing after download"),
        })?;
        let digest = self.digest;
        tokio::task::spawn_blocking(move || writer.commit(size, &digest))
            .await
            .map_err(join_error)??;
        self.progress.event(PullEvent::BlobDone {
            digest: &digest_text,
            size,
            present: false,
        });
        Ok(written)
    }
}

/// A [`BlobSink`] over the content store's writer: chunks land in the process's scratch
/// directory (through a 256 KiB buffer) and nowhere else, so memory stays flat whatever
/// the layer's size.
struct StoreSink {
    writer: Option<cache::BlobWriter>,
    store: Store,
    lease: Arc<Lease>,
    digest: String,
    size: u64,
    progress: Arc<dyn PullProgress>,
}

impl BlobSink for StoreSink {
    async fn write_chunk(&mut self, chunk: Bytes) -> io::Result<()> {
        let writer = self
            .writer
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already closed"))?;
        writer.write_all(&chunk)?;
        self.progress.event(PullEvent::BlobProgress {
            digest: &self.digest,
            written: writer.written(),
            size: self.size,
        });
        Ok(())
    }

    async fn rewind(&mut self) -> io::Result<bool> {
        // Dropping the old writer removes its scratch file.
        self.writer = None;
        let writer = self
            .store
            .writer(&self.lease)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.writer = Some(writer);
        Ok(true)
    }
}

/// Writes an in-memory blob that must hash to `digest` (a config or manifest).
fn write_small(
    store: &Store,
    lease: &Lease,
    bytes: &[u8],
    digest: &registry_client::Digest,
) -> Result<(), ImageError> {
    let digest = Digest::try_from(digest)?;
    if store.exists(&digest)? {
        return Ok(());
    }
    let mut writer = store.writer(lease)?;
    writer
        .write_all(bytes)
        .map_err(|e| cache::Error::from_io(e, store.dir()))?;
    writer.commit(bytes.len() as u64, &digest)?;
    Ok(())
}
