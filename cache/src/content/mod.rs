//! The content store: immutable blobs named by their digest, in `store/blobs/sha256/`.
//!
//! The vocabulary is containerd's: blobs are *ingested* through a [`BlobWriter`] that
//! hashes while it writes into the process's scratch directory and *commits* by renaming
//! the verified file into place; they are *provided* through a [`BlobReader`] that
//! re-hashes while it reads. A blob is therefore either absent or complete and correct
//! under its name; a reader still verifies, since disks and people can damage files.

mod gc;
mod reader;
mod writer;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use gc::{GcGuard, GcReport};
pub use reader::BlobReader;
pub use writer::BlobWriter;

use crate::digest::Digest;
use crate::error::{Error, IoResultExt, Result, io_at};
use crate::lock::Lease;
use crate::scratch::ScratchDir;

/// The largest blob [`Store::read_all_verified`] reads into memory: manifests and image
/// configs are a few KiB; registries reject manifests over 4 MiB.
pub const SMALL_BLOB_LIMIT: u64 = 16 * 1024 * 1024;

/// The content store and image index of one strata root (`<root>/store/`, an OCI image
/// layout).
///
/// Cheap to clone; every method is safe to call from many threads and many processes at
/// once. Methods that add content or references ask for a [`Lease`] so that a concurrent
/// garbage collection cannot remove what they are about to reference.
///
/// ```no_run
/// # fn main() -> Result<(), cache::Error> {
/// use std::io::Write;
/// let root = cache::Root::open("/var/lib/strata")?;
/// let store = root.store();
/// let lease = store.lease()?;
/// let mut writer = store.writer(&lease)?;
/// writer.write_all(b"hello").map_err(|e| cache::Error::from_io(e, store.dir()))?;
/// let (digest, size) = writer.commit_computed()?;
/// assert_eq!(store.read_all_verified(&digest)?, b"hello");
/// # let _ = size; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    /// `<root>/store`
    dir: PathBuf,
    /// `<root>/store/blobs/sha256`
    blobs: PathBuf,
    /// `<root>/locks`
    locks: PathBuf,
    /// This process's `<root>/tmp/<unique>/`.
    scratch: Arc<ScratchDir>,
}

impl Store {
    /// A store over the (already created) layout of the root at `root`.
    pub(crate) fn new(root: &Path, scratch: Arc<ScratchDir>) -> Store {
        let dir = root.join("store");
        Store {
            blobs: dir.join("blobs").join("sha256"),
            dir,
            locks: root.join("locks"),
            scratch,
        }
    }

    /// The OCI image layout directory, as other tools address it (`oci:<dir>:<name>`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes a shared [`Lease`] that keeps garbage collection away until it is dropped.
    ///
    /// Hold one from the first blob written for an image until the image is tagged (or a
    /// cache record references its blobs). Waits while a collection runs.
    pub fn lease(&self) -> Result<Lease> {
        Lease::acquire(&self.locks.join("gc.lock"))
    }

    /// Starts ingesting a blob whose digest is checked at [`BlobWriter::commit`].
    pub fn writer(&self, _lease: &Lease) -> Result<BlobWriter> {
        BlobWriter::create(self.scratch.temp_path("ingest"), self.blobs.clone())
    }

    /// Writes a small in-memory blob (a config, a manifest) and returns its digest.
    pub fn write_blob(&self, lease: &Lease, data: &[u8]) -> Result<Digest> {
        // A small blob already stored (the config of a no-op rebuild) needs no temp file.
        let digest = Digest::of(data);
        if fs::symlink_metadata(self.path(&digest))
            .is_ok_and(|m| m.is_file() && m.len() == data.len() as u64)
        {
            return Ok(digest);
        }
        let mut writer = self.writer(lease)?;
        writer
            .write_all(data)
            .map_err(|e| Error::from_io(e, &self.blobs))?;
        let (digest, _) = writer.commit_computed()?;
        Ok(digest)
    }

    /// Where the blob `digest` lives (or would live): `store/blobs/sha256/<hex>`.
    ///
    /// For tools that need a path; read through [`Store::open`] to have it verified.
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Whether the blob is in the store (committed blobs are always complete).
    pub fn exists(&self, digest: &Digest) -> Result<bool> {
        let path = self.path(digest);
        match fs::symlink_metadata(&path) {
            Ok(meta) => Ok(meta.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_at(&path, e)),
        }
    }

    /// The size in bytes of a stored blob; [`Error::BlobNotFound`] if it is absent.
    pub fn size(&self, digest: &Digest) -> Result<u64> {
        let path = self.path(digest);
        match fs::metadata(&path) {
            Ok(meta) => Ok(meta.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(Error::BlobNotFound { digest: *digest })
            }
            Err(e) => Err(io_at(&path, e)),
        }
    }

    /// Opens a blob for reading; the reader fails at end of file if the bytes do not hash
    /// to `digest`. [`Error::BlobNotFound`] if it is absent.
    pub fn open(&self, digest: &Digest) -> Result<BlobReader> {
        BlobReader::open(self.path(digest), *digest)
    }

    /// Reads a whole small blob (at most [`SMALL_BLOB_LIMIT`] bytes) and verifies it
    /// before returning it: for manifests and configs that are parsed, never streamed.
    pub fn read_all_verified(&self, digest: &Digest) -> Result<Vec<u8>> {
        let mut reader = self.open(digest)?;
        let size = reader.size();
        if size > SMALL_BLOB_LIMIT {
            return Err(Error::TooLarge {
                digest: *digest,
                size,
                limit: SMALL_BLOB_LIMIT,
            });
        }
        let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        reader
            .read_to_end(&mut data)
            .map_err(|e| Error::from_io(e, reader.path()))?;
        Ok(data)
    }

    /// Every blob in the store, in no particular order; files whose names are not a
    /// sha256 hex digest are skipped with a warning.
    pub fn blobs(&self) -> Result<Vec<Digest>> {
        let mut digests = Vec::new();
        for entry in fs::read_dir(&self.blobs).at(&self.blobs)? {
            let entry = entry.at(&self.blobs)?;
            let name = entry.file_name();
            match name.to_str().map(Digest::from_hex) {
                Some(Ok(digest)) => digests.push(digest),
                _ => {
                    tracing::warn!(path = %entry.path().display(), "ignoring a file that is not a blob")
                }
            }
        }
        Ok(digests)
    }

    /// This process's scratch directory, for temporary files renamed into the store.
    pub(crate) fn scratch(&self) -> &ScratchDir {
        &self.scratch
    }

    /// `<root>/locks/<name>`.
    pub(crate) fn lock_path(&self, name: &str) -> PathBuf {
        self.locks.join(name)
    }

    /// `store/blobs/sha256`.
    pub(crate) fn blobs_dir(&self) -> &Path {
        &self.blobs
    }
}
