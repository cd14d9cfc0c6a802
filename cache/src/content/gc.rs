//! Garbage collection: removing blobs that no image in `index.json` (and no root the
//! caller names, such as a build-cache record) reaches.
//!
//! Safety against concurrent writers comes from the lease lock (`locks/gc.lock`): writers
//! and taggers hold it shared ([`Lease`](crate::Lease)), a collection holds it exclusive
//! ([`GcGuard`]). A committed blob that is not referenced yet is therefore always covered
//! by a live lease, and no collection runs until that lease ends.

use std::collections::HashSet;
use std::fs;
use std::io;

use serde_json::Value;

use crate::content::Store;
use crate::digest::Digest;
use crate::error::{Error, Result, io_at};
use crate::lock::{FileLock, Mode, Wait};
use crate::root::sync_dir;

/// Media types whose blobs are JSON documents that reference other blobs.
const WALKED_MEDIA_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// What a collection removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// The blobs removed.
    pub removed: Vec<Digest>,
    /// Their total size in bytes.
    pub freed_bytes: u64,
}

/// The exclusive hold on the lease lock that allows removing blobs.
///
/// While it is held no [`Lease`](crate::Lease) exists in any process, so every blob is
/// either reachable from `index.json` or garbage (or reachable from a root only the
/// caller knows: read those roots after taking the guard and pass them to
/// [`GcGuard::collect`]). Released on drop.
#[derive(Debug)]
pub struct GcGuard<'a> {
    store: &'a Store,
    _lock: FileLock,
}

impl Store {
    /// Takes the collection lock, waiting until every lease (in every process) has ended.
    ///
    /// Never call it while this thread holds a lease: it would wait for itself.
    pub fn lock_gc(&self) -> Result<GcGuard<'_>> {
        self.gc_guard(Wait::Block)
    }

    /// Takes the collection lock, or fails with [`Error::Locked`] if a lease is held (a
    /// build or pull is running): for `strata rmi`, which can leave the blobs to a later
    /// collection rather than wait.
    pub fn try_lock_gc(&self) -> Result<GcGuard<'_>> {
        self.gc_guard(Wait::Fail)
    }

    fn gc_guard(&self, wait: Wait) -> Result<GcGuard<'_>> {
        let lock = FileLock::acquire(&self.lock_path("gc.lock"), Mode::Exclusive, wait)?;
        Ok(GcGuard {
            store: self,
            _lock: lock,
        })
    }

    /// Removes every blob not reachable from `index.json`, waiting for running leases.
    ///
    /// Shorthand for [`Store::lock_gc`] then [`GcGuard::collect`] with no extra roots;
    /// callers that keep blobs referenced elsewhere (the build cache) must use those.
    pub fn gc(&self) -> Result<GcReport> {
        self.lock_gc()?.collect(&[])
    }

    /// The blobs that neither `index.json` nor `extra_roots` reach, without removing
    /// anything (for `strata du` and dry runs). Without the collection lock the answer
    /// may be stale by the time it is used.
    pub fn unreferenced(&self, extra_roots: &[Digest]) -> Result<Vec<Digest>> {
        let reachable = self.reachable(extra_roots)?;
        let mut garbage: Vec<Digest> = self
            .blobs()?
            .into_iter()
            .filter(|d| !reachable.contains(d))
            .collect();
        garbage.sort();
        Ok(garbage)
    }

    /// Every blob reached from `index.json` through manifests and indexes, plus
    /// `extra_roots` (kept as they are, not walked). Fails on a reachable manifest that
    /// is corrupt, so that nothing is removed on a misread; a manifest absent from the
    /// store (an index pulled for one platform only) is skipped.
    fn reachable(&self, extra_roots: &[Digest]) -> Result<HashSet<Digest>> {
        let mut seen: HashSet<Digest> = extra_roots.iter().copied().collect();
        let mut queue: Vec<(Digest, String)> = Vec::new();
        for descriptor in self.read_index()?.manifests() {
            let digest = Digest::try_from(descriptor.digest())?;
            queue.push((digest, descriptor.media_type().to_string()));
        }
        while let Some((digest, media_type)) = queue.pop() {
            if !seen.insert(digest) {
                continue;
            }
            if !WALKED_MEDIA_TYPES.contains(&media_type.as_str()) {
                continue;
            }
            let data = match self.read_all_verified(&digest) {
                Ok(data) => data,
                Err(Error::BlobNotFound { .. }) => {
                    tracing::debug!(%digest, "referenced manifest is not in the store");
                    continue;
                }
                Err(e) => return Err(e),
            };
            let json: Value =
                serde_json::from_slice(&data).map_err(|source| Error::CorruptJson {
                    path: self.path(&digest),
                    source,
                })?;
            children(&json, &mut queue);
        }
        Ok(seen)
    }
}

/// Pushes the descriptors a manifest or index references: `config`, `layers`,
/// `manifests`, `blobs` and `subject`. Digests of other algorithms than sha256 cannot
/// name a blob of this store and are skipped.
fn children(json: &Value, queue: &mut Vec<(Digest, String)>) {
    let singles = ["config", "subject"]
        .iter()
        .filter_map(|field| json.get(*field));
    let lists = ["layers", "manifests", "blobs"]
        .iter()
        .filter_map(|field| json.get(*field).and_then(Value::as_array))
        .flatten();
    for descriptor in singles.chain(lists) {
        let Some(digest) = descriptor.get("digest").and_then(Value::as_str) else {
            continue;
        };
        match Digest::parse(digest) {
            Ok(digest) => {
                let media_type = descriptor
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                // A descriptor without a media type is kept but never parsed.
                queue.push((digest, media_type.to_owned()));
            }
            Err(_) => tracing::debug!(digest, "skipping a non-sha256 reference"),
        }
    }
}

impl GcGuard<'_> {
    /// Removes every blob reachable neither from `index.json` nor from `extra_roots`, and
    /// reports what it removed.
    pub fn collect(&self, extra_roots: &[Digest]) -> Result<GcReport> {
        let mut report = GcReport::default();
        for digest in self.store.unreferenced(extra_roots)? {
            match self.delete(&digest) {
                Ok(size) => {
                    report.freed_bytes += size;
                    report.removed.push(digest);
                }
                Err(Error::BlobNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        if !report.removed.is_empty() {
            sync_dir(self.store.blobs_dir())?;
        }
        tracing::info!(
            removed = report.removed.len(),
            freed_bytes = report.freed_bytes,
            "garbage-collected the content store"
        );
        Ok(report)
    }

    /// Removes one blob, referenced or not, and returns its size; [`Error::BlobNotFound`]
    /// if it is absent. Only under the guard, so no writer relies on it meanwhile.
    pub fn delete(&self, digest: &Digest) -> Result<u64> {
        let path = self.store.path(digest);
        let size = self.store.size(digest)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound { digest: *digest })
            }
            Err(e) => Err(io_at(&path, e)),
        }
    }
}
