//! Providing a blob: a reader that re-hashes what it reads.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Digester};
use crate::error::{Error, IoResultExt, Result, io_at};

/// A stored blob opened for reading, verified as it is read.
///
/// It hashes every byte; when the file ends it compares the byte count with the size the
/// file had when opened and the hash with the blob's name, and a mismatch is returned as
/// the read error instead of the end of file (an `io::Error` carrying
/// [`Error::DigestMismatch`] or [`Error::SizeMismatch`]; recover it with
/// [`Error::from_io`]). So a consumer that reads to the end (tar extraction, an upload)
/// never silently accepts a damaged blob, though it may have seen some of its bytes
/// before the error: act on them only once the end was reached.
///
/// Reads go straight to the file: wrap it in a `BufReader` for small reads.
#[derive(Debug)]
pub struct BlobReader {
    file: File,
    path: PathBuf,
    digest: Digest,
    size: u64,
    read: u64,
    state: State,
}

/// Where the verification stands.
#[derive(Debug)]
enum State {
    /// Not at the end yet.
    Reading(Digester),
    /// The end was reached and the content matched.
    Verified,
    /// The end was reached and the content did not match.
    Failed { actual: Digest },
}

impl BlobReader {
    /// Opens the blob file at `path`, which must hash to `digest`.
    pub(crate) fn open(path: PathBuf, digest: Digest) -> Result<BlobReader> {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::BlobNotFound { digest });
            }
            Err(e) => return Err(io_at(&path, e)),
        };
        let size = file.metadata().at(&path)?.len();
        Ok(BlobReader {
            file,
            path,
            digest,
            size,
            read: 0,
            state: State::Reading(Digester::new()),
        })
    }

    /// The blob's size in bytes, as it was on disk when opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The digest the content must hash to.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The blob file's path, for error messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The error to report at the end of a blob whose hash is `actual`.
    fn mismatch(&self, actual: Digest) -> io::Error {
        let error = if self.read == self.size {
            Error::DigestMismatch {
                path: self.path.clone(),
                expected: self.digest,
                actual,
            }
        } else {
            Error::SizeMismatch {
                path: self.path.clone(),
                expected: self.size,
                actual: self.read,
            }
        };
        io::Error::new(io::ErrorKind::InvalidData, error)
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.state {
            State::Verified => return Ok(0),
            State::Failed { actual } => return Err(self.mismatch(*actual)),
            State::Reading(_) => {}
        }
        let n = self
            .file
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), io_at(&self.path, e)))?;
        if n > 0 {
            if let State::Reading(digester) = &mut self.state {
                digester.update(&buf[..n]);
            }
            self.read += n as u64;
            return Ok(n);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let State::Reading(digester) = std::mem::replace(&mut self.state, State::Verified) else {
            return Ok(0);
        };
        let actual = digester.finish();
        if actual == self.digest && self.read == self.size {
            return Ok(0);
        }
        self.state = State::Failed { actual };
        Err(self.mismatch(actual))
    }
}
