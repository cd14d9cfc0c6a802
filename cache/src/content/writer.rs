//! Ingesting a blob: write to a scratch file while hashing, then verify and rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Digester};
use crate::error::{Error, IoResultExt, Result, io_at};
use crate::root::sync_dir;

/// Buffer between callers' (often small) writes and the file.
const BUFFER_SIZE: usize = 256 * 1024;

/// A blob being written: a [`Write`] sink that hashes every byte and publishes the blob
/// atomically on [`commit`](BlobWriter::commit).
///
/// The protocol (containerd's `content.Writer`): bytes go to a file in this process's
/// `tmp/<unique>/`; `commit` checks the size and digest, fsyncs the file, renames it to
/// `store/blobs/sha256/<hex>` and fsyncs that directory. A blob is thus never visible
/// half-written, whatever instant the process dies at. If the blob already exists
/// (another writer, another process, an earlier pull) the commit succeeds without
/// touching it, so concurrent writers of one digest all succeed. A writer dropped without
/// a commit, or whose commit fails, removes its file.
///
/// `Write` errors are `io::Error`s that carry an [`Error`] naming the file; turn them
/// back with [`Error::from_io`].
///
/// From async code (a registry pull), move the writer into `tokio::task::spawn_blocking`
/// and feed it chunks over a channel, or write each received chunk directly: a write
/// lands in a 256 KiB buffer and then in the page cache, and the one slow step, the fsync,
/// happens in `commit`, which belongs in `spawn_blocking`.
#[derive(Debug)]
pub struct BlobWriter {
    /// `None` once committed or failed.
    file: Option<BufWriter<File>>,
    temp: PathBuf,
    blobs: PathBuf,
    digester: Digester,
    written: u64,
    /// Set once the temp file has been renamed into place (nothing to remove on drop).
    published: bool,
}

impl BlobWriter {
    /// Creates the scratch file `temp`; the blob will be committed into `blobs`.
    pub(crate) fn create(temp: PathBuf, blobs: PathBuf) -> Result<BlobWriter> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .at(&temp)?;
        Ok(BlobWriter {
            file: Some(BufWriter::with_capacity(BUFFER_SIZE, file)),
            temp,
            blobs,
            digester: Digester::new(),
            written: 0,
            published: false,
        })
    }

    /// How many bytes have been written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Publishes the blob if it has exactly `expected_size` bytes and hashes to
    /// `expected_digest`: the check that makes a registry pull trustworthy.
    ///
    /// On [`Error::SizeMismatch`] or [`Error::DigestMismatch`] nothing is published and the
    /// scratch file is removed. A blob that already exists counts as success.
    pub fn commit(mut self, expected_size: u64, expected_digest: &Digest) -> Result<()> {
        self.finish(Some((expected_size, expected_digest)))
            .map(|_| ())
    }

    /// Publishes the blob under the digest of whatever was written, and returns that
    /// digest and the size: for content strata makes itself (layers, configs, manifests).
    pub fn commit_computed(mut self) -> Result<(Digest, u64)> {
        self.finish(None)
    }

    fn finish(&mut self, expected: Option<(u64, &Digest)>) -> Result<(Digest, u64)> {
        let Some(mut buffered) = self.file.take() else {
            return Err(self.closed_error());
        };
        buffered.flush().at(&self.temp)?;
        let file = buffered
            .into_inner()
            .map_err(|e| io_at(&self.temp, e.into_error()))?;
        let actual = std::mem::take(&mut self.digester).finish();
        let target = self.blobs.join(actual.hex());
        if let Some((expected_size, expected_digest)) = expected {
            if self.written != expected_size {
                return Err(Error::SizeMismatch {
                    path: self.blobs.join(expected_digest.hex()),
                    expected: expected_size,
                    actual: self.written,
                });
            }
            if actual != *expected_digest {
                return Err(Error::DigestMismatch {
                    path: self.blobs.join(expected_digest.hex()),
                    expected: *expected_digest,
                    actual,
                });
            }
        }
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_file() && m.len() == self.written) {
            tracing::trace!(digest = %actual, "blob already in the store");
            return Ok((actual, self.written));
        }
        file.sync_all().at(&self.temp)?;
        drop(file);
        fs::rename(&self.temp, &target).at(&target)?;
        self.published = true;
        sync_dir(&self.blobs)?;
        tracing::debug!(digest = %actual, size = self.written, "committed blob");
        Ok((actual, self.written))
    }

    fn closed_error(&self) -> Error {
        io_at(
            &self.temp,
            io::Error::other("blob writer used after a failed write or commit"),
        )
    }

    /// An `io::Error` that carries a cache [`Error`] naming `path`.
    fn wrap(path: &Path, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), io_at(path, e))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Some(file) = self.file.as_mut() else {
            return Err(io::Error::other(self.closed_error()));
        };
        let n = file.write(buf).map_err(|e| Self::wrap(&self.temp, e))?;
        self.digester.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(file) => file.flush().map_err(|e| Self::wrap(&self.temp, e)),
            None => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.published {
            return;
        }
        // Close before unlinking; an unflushed buffer is simply discarded.
        if let Some(buffered) = self.file.take() {
            let (file, _unflushed) = buffered.into_parts();
            drop(file);
        }
        if let Err(e) = fs::remove_file(&self.temp)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.temp.display(), error = %e, "cannot remove an aborted blob");
        }
    }
}
