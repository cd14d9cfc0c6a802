//! The layers of an exported image: step snapshots turned into compressed blobs (or
//! found again in the cache index), and media types kept in one family.
//!
//! Lifecycle of a step layer: if the cache index ([`Records`]) remembers a blob for
//! `(step id, compression)` and the store still holds it, that blob is the layer and
//! nothing is read or compressed. Otherwise the overlay upperdir is walked by
//! [`write_layer`] straight into a [`Compressor`] whose sink is a store [`BlobWriter`]:
//! the tar never exists uncompressed on disk nor whole in memory, and diffID and digest
//! come out of the same pass. A diff with no entries is no layer at all (its blob is
//! discarded uncommitted), as BuildKit does for a `RUN` that changed nothing.
//!
//! [`BlobWriter`]: cache::BlobWriter

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache::layer::{
    Compression, Compressor, MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_TAR, MEDIA_TYPE_TAR_GZIP,
    MEDIA_TYPE_TAR_ZSTD, WriteOptions, write_layer,
};
use cache::records::{BlobRecord, Records};
use cache::{Digest, Lease, Store};

use super::error::{ExportError, Result};

/// Docker schema2 media type of an uncompressed layer.
const DOCKER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker schema2 media type of a foreign (non-distributable) layer.
const DOCKER_FOREIGN_GZIP: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// OCI media type of a non-distributable gzip layer.
const OCI_NONDIST_GZIP: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
/// OCI media type of a non-distributable uncompressed layer.
const OCI_NONDIST_TAR: &str = "application/vnd.oci.image.layer.nondistributable.v1.tar";
/// Docker schema2 media type of a foreign uncompressed layer.
const DOCKER_FOREIGN_TAR: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar";

/// The pairs (OCI, Docker) of layer media types that mean the same bytes.
const FAMILY_PAIRS: &[(&str, &str)] = &[
    (MEDIA_TYPE_TAR_GZIP, MEDIA_TYPE_DOCKER_GZIP),
    (MEDIA_TYPE_TAR, DOCKER_TAR),
    (OCI_NONDIST_GZIP, DOCKER_FOREIGN_GZIP),
    (OCI_NONDIST_TAR, DOCKER_FOREIGN_TAR),
];

/// One layer-producing step of this build, in the order the steps ran.
///
/// Why an id: the step's cache key names its layer in the cache index, so that a step
/// found in the cache reuses the blob compressed the first time it ran.
#[derive(Debug, Clone)]
pub struct StepLayer {
    /// The step's cache key in hex (any stable string works).
    pub id: String,
    /// The step's snapshot: an overlay upperdir (whiteouts as char devices 0/0).
    pub diff_dir: PathBuf,
    /// Mount stubs the sandbox created (`/etc/hosts` or `etc/hosts`: paths inside the
    /// container), left out of the layer while they are still stubs (empty files, or
    /// directories holding only stubs).
    pub exclude: BTreeSet<PathBuf>,
}

impl StepLayer {
    /// A step layer with no mount stubs to leave out.
    pub fn new(id: impl Into<String>, diff_dir: impl Into<PathBuf>) -> StepLayer {
        StepLayer {
            id: id.into(),
            diff_dir: diff_dir.into(),
            exclude: BTreeSet::new(),
        }
    }
}

/// Where a layer of the exported image came from: for logs, progress and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOrigin {
    /// A layer of the base image, already in the store.
    Base,
    /// A step layer whose blob the cache index remembered: nothing was compressed.
    Reused,
    /// A step layer written and compressed by this export.
    Written,
}

/// One layer of the exported image, as its manifest and config describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The media type in the manifest's family (OCI or Docker).
    pub media_type: String,
    /// The blob's digest (the manifest's layer digest).
    pub digest: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    /// The uncompressed tar's digest (the config's `rootfs.diff_ids` entry).
    pub diff_id: Digest,
    /// Base, reused or newly written.
    pub origin: LayerOrigin,
}

/// The name of a compression in the cache index: the level is part of it, because the
/// same tar at another level is another blob, and reusing it would make the manifest
/// depend on what earlier builds asked for.
pub fn compression_key(compression: Compression) -> String {
    match compression {
        Compression::Gzip { level } => format!("gzip-{level}"),
        Compression::Zstd { level } => format!("zstd-{level}"),
        Compression::None => "uncompressed".to_owned(),
    }
}

/// Whether a layer media type has no Docker schema2 equivalent (zstd), so that an image
/// holding it must use OCI media types.
pub(crate) fn needs_oci(media_type: &str) -> bool {
    media_type.contains("zstd")
}

/// The same layer media type in the OCI (`oci = true`) or Docker family; types with no
/// counterpart (zstd, unknown ones) are returned unchanged.
pub(crate) fn layer_media_type(media_type: &str, oci: bool) -> String {
    for (oci_type, docker_type) in FAMILY_PAIRS {
        if media_type == *oci_type || media_type == *docker_type {
            return if oci { oci_type } else { docker_type }.to_string();
        }
    }
    if media_type != MEDIA_TYPE_TAR_ZSTD {
        tracing::warn!(media_type, "unknown layer media type kept as is");
    }
    media_type.to_owned()
}

/// Parses a `sha256:...` digest found in a record or a base layer.
pub(crate) fn parse_digest(value: &str, context: &'static str) -> Result<Digest> {
    Digest::parse(value).map_err(|_| ExportError::BadDigest {
        value: value.to_owned(),
        context,
    })
}

/// What to write the step layers with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteSettings {
    /// The blob compression.
    pub compression: Compression,
    /// File times later than this are clamped to it.
    pub source_date_epoch: Option<i64>,
    /// At most this many layers are written at once.
    pub jobs: usize,
}

/// Produces the blobs of `steps`, at most `settings.jobs` at once, in step order;
/// `None` for a step whose diff is empty. Media types are OCI here; the caller converts.
pub(crate) fn step_layers(
    store: &Store,
    lease: &Lease,
    records: &Records,
    steps: &[StepLayer],
    settings: WriteSettings,
) -> Result<Vec<Option<Layer>>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Option<Layer>>>>> =
        steps.iter().map(|_| Mutex::new(None)).collect();
    let workers = settings.jobs.clamp(1, steps.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(step) = steps.get(i) else { break };
                    let result = step_layer(store, lease, records, step, settings);
                    let failed = result.is_err();
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(result);
                    }
                    if failed {
                        // Let the other workers stop early: the export fails anyway.
                        next.store(steps.len(), Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut layers = Vec::with_capacity(steps.len());
    for (slot, step) in results.into_iter().zip(steps) {
        let result = slot
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match result {
            Some(r) => layers.push(r?),
            // Not reached because an earlier step failed; that failure is returned above.
            None => {
                return Err(ExportError::WriteLayer {
                    step: step.id.clone(),
                    dir: step.diff_dir.clone(),
                    source: cache::layer::LayerError::Output(std::io::Error::other(
                        "export stopped after another layer failed",
                    )),
                });
            }
        }
    }
    Ok(layers)
}

/// The blob of one step: reused from the cache index, or written now.
pub(crate) fn step_layer(
    store: &Store,
    lease: &Lease,
    records: &Records,
    step: &StepLayer,
    settings: WriteSettings,
) -> Result<Option<Layer>> {
    let key = compression_key(settings.compression);
    if let Some(layer) = recorded_layer(store, records, &step.id, &key) {
        tracing::debug!(step = %step.id, digest = %layer.digest, "reusing the layer blob of a cached step");
        return Ok(Some(layer));
    }
    write_step_layer(store, lease, records, step, &key, settings)
}

/// Compresses one step's snapshot into a new blob and records it under
/// `(step id, key)`; `None` for an empty diff.
pub(crate) fn write_step_layer(
    store: &Store,
    lease: &Lease,
    records: &Records,
    step: &StepLayer,
    key: &str,
    settings: WriteSettings,
) -> Result<Option<Layer>> {
    let wrap = |source| ExportError::WriteLayer {
        step: step.id.clone(),
        dir: step.diff_dir.clone(),
        source,
    };
    let writer = store.writer(lease)?;
    let mut compressor = Compressor::new(settings.compression, writer).map_err(wrap)?;
    let options = WriteOptions {
        source_date_epoch: settings.source_date_epoch,
        // The sandbox reports stubs as absolute paths inside the container.
        exclude: step
            .exclude
            .iter()
            .map(|p| p.strip_prefix("/").unwrap_or(p).to_path_buf())
            .collect(),
    };
    let stats = write_layer(&step.diff_dir, &mut compressor, options).map_err(wrap)?;
    let (digests, writer) = compressor.finish().map_err(wrap)?;
    if stats.entries == 0 {
        tracing::debug!(step = %step.id, "empty diff: no layer");
        drop(writer); // removes the uncommitted blob
        return Ok(None);
    }
    let digest = parse_digest(&digests.digest, "a compressed layer")?;
    let diff_id = parse_digest(&digests.diff_id, "a compressed layer")?;
    writer.commit(digests.compressed_size, &digest)?;
    let media_type = settings.compression.media_type().to_owned();
    let record = BlobRecord {
        diff_id: digests.diff_id.clone(),
        digest: digests.digest.clone(),
        size: digests.compressed_size,
        media_type: media_type.clone(),
    };
    if let Err(e) = records.put_blob(&step.id, key, &record) {
        tracing::warn!(step = %step.id, error = %e, "cannot record the layer blob; the next export compresses it again");
    }
    tracing::info!(
        step = %step.id,
        %digest,
        size = digests.compressed_size,
        uncompressed = digests.uncompressed_size,
        "wrote layer"
    );
    Ok(Some(Layer {
        media_type,
        digest,
        size: digests.compressed_size,
        diff_id,
        origin: LayerOrigin::Written,
    }))
}

/// The layer the cache index remembers for `(id, key)` if its blob is still stored.
///
/// The index is a cache: a failure to read it, a malformed record or a collected blob
/// all mean "compress again", never a failed export.
pub(crate) fn recorded_layer(
    store: &Store,
    records: &Records,
    id: &str,
    key: &str,
) -> Option<Layer> {
    let record = match records.blob(id, key) {
        Ok(record) => record?,
        Err(e) => {
            tracing::warn!(step = id, error = %e, "cannot read the cache index; compressing the layer again");
            return None;
        }
    };
    let digest = Digest::parse(&record.digest).ok()?;
    let diff_id = Digest::parse(&record.diff_id).ok()?;
    match store.size(&digest) {
        Ok(size) if size == record.size => Some(Layer {
            media_type: record.media_type,
            digest,
            size,
            diff_id,
            origin: LayerOrigin::Reused,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_convert_between_families() {
        assert_eq!(
            layer_media_type(MEDIA_TYPE_TAR_GZIP, false),
            MEDIA_TYPE_DOCKER_GZIP
        );
        assert_eq!(
            layer_media_type(MEDIA_TYPE_DOCKER_GZIP, true),
            MEDIA_TYPE_TAR_GZIP
        );
        assert_eq!(layer_media_type(DOCKER_TAR, true), MEDIA_TYPE_TAR);
        assert_eq!(layer_media_type(MEDIA_TYPE_TAR, false), DOCKER_TAR);
        assert_eq!(
            layer_media_type(DOCKER_FOREIGN_GZIP, true),
            OCI_NONDIST_GZIP
        );
        assert_eq!(
            layer_media_type(MEDIA_TYPE_TAR_ZSTD, false),
            MEDIA_TYPE_TAR_ZSTD
        );
        assert!(needs_oci(MEDIA_TYPE_TAR_ZSTD));
        assert!(!needs_oci(MEDIA_TYPE_DOCKER_GZIP));
    }

    #[test]
    fn compression_keys_include_the_level() {
        assert_eq!(compression_key(Compression::Gzip { level: 6 }), "gzip-6");
        assert_eq!(compression_key(Compression::Zstd { level: 3 }), "zstd-3");
        assert_eq!(compression_key(Compression::None), "uncompressed");
    }
}
