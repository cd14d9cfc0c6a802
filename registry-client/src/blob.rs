//! How blob bytes enter and leave the client: [`BlobSink`] for downloads, [`BlobSource`]
//! for uploads, and the [`Verifier`] that hashes bytes as they stream past.
//!
//! The client never holds a layer in memory: a download writes each network chunk to the
//! sink as it arrives, and an upload reads from the source as the request body is sent.
//! Both traits can restart (a sink rewinds, a source reopens at an offset) because a
//! retried transfer may have to start over when the registry cannot resume it.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;

use bytes::Bytes;
use oci_spec::image::{Digest, DigestAlgorithm};
use sha2::Digest as _;
use tokio::io::{AsyncRead, AsyncSeekExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::error::{Error, Result};

/// Where a downloaded blob goes. The content store's writer implements this; so do
/// `tokio::fs::File` and `Vec<u8>` (for small blobs and tests).
///
/// Lifecycle: [`BlobSink::write_chunk`] is called with consecutive pieces. If the
/// connection drops and the registry cannot resume with a `Range` request, the client
/// calls [`BlobSink::rewind`] and writes from byte 0 again. The client verifies size and
/// digest itself; a sink that also verifies (a content-store commit) is welcome to.
pub trait BlobSink: Send {
    /// Appends `chunk`.
    fn write_chunk(&mut self, chunk: Bytes) -> impl Future<Output = io::Result<()>> + Send;

    /// Makes everything written durable enough for the caller to read it back (flushes
    /// buffers); called once after the last chunk. A content-store writer may also
    /// fsync here.
    fn flush(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        async { Ok(()) }
    }

    /// Discards everything written so far. Returns `Ok(false)` if the sink cannot, in
    /// which case a download that cannot resume fails instead of restarting.
    fn rewind(&mut self) -> impl Future<Output = io::Result<bool>> + Send {
        async { Ok(false) }
    }
}

impl BlobSink for tokio::fs::File {
    async fn write_chunk(&mut self, chunk: Bytes) -> io::Result<()> {
        self.write_all(&chunk).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        // tokio's File writes in the background: without this, the last chunk may not
        // be in the file yet when the caller reads it.
        tokio::io::AsyncWriteExt::flush(self).await
    }

    async fn rewind(&mut self) -> io::Result<bool> {
        tokio::io::AsyncWriteExt::flush(self).await?;
        self.set_len(0).await?;
        self.seek(io::SeekFrom::Start(0)).await?;
        Ok(true)
    }
}

impl BlobSink for Vec<u8> {
    async fn write_chunk(&mut self, chunk: Bytes) -> io::Result<()> {
        self.extend_from_slice(&chunk);
        Ok(())
    }

    async fn rewind(&mut self) -> io::Result<bool> {
        self.clear();
        Ok(true)
    }
}

/// Adapts any [`AsyncWrite`] (a pipe, a decompressor) as a sink that cannot rewind.
#[derive(Debug)]
pub struct WriterSink<W>(pub W);

impl<W: AsyncWrite + Unpin + Send> BlobSink for WriterSink<W> {
    async fn write_chunk(&mut self, chunk: Bytes) -> io::Result<()> {
        self.0.write_all(&chunk).await
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.0.flush().await
    }
}

/// A boxed byte stream, as returned by [`BlobSource::open`].
pub type BoxedReader = Pin<Box<dyn AsyncRead + Send>>;

/// Where an uploaded blob comes from.
///
/// Why `open(offset)` rather than one reader: a failed upload is resumed from the offset
/// the registry reports, or restarted from 0, and each attempt needs a fresh reader
/// positioned there. The client reads exactly the descriptor's size from it.
pub trait BlobSource: Send + Sync {
    /// A reader positioned at `offset`.
    fn open(&self, offset: u64) -> impl Future<Output = io::Result<BoxedReader>> + Send;
}

/// A blob stored in a file (a content-store blob path).
#[derive(Debug, Clone)]
pub struct FileSource(pub PathBuf);

impl BlobSource for FileSource {
    async fn open(&self, offset: u64) -> io::Result<BoxedReader> {
        let mut f = fs_err::tokio::File::open(&self.0).await?;
        f.seek(io::SeekFrom::Start(offset)).await?;
        Ok(Box::pin(f))
    }
}

/// A small blob held in memory (configs, manifests, test data).
#[derive(Debug, Clone)]
pub struct BytesSource(pub Bytes);

impl BlobSource for BytesSource {
    async fn open(&self, offset: u64) -> io::Result<BoxedReader> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.0.len());
        Ok(Box::pin(io::Cursor::new(self.0.slice(start..))))
    }
}

/// Hashes bytes as they stream and checks them against a digest and size at the end.
#[derive(Clone)]
pub struct Verifier {
    hasher: Hasher,
    expected: Digest,
    expected_size: Option<u64>,
    seen: u64,
}

#[derive(Clone)]
enum Hasher {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Verifier {
    /// A verifier for `expected`; fails for digest algorithms we cannot compute.
    pub fn new(expected: &Digest, expected_size: Option<u64>) -> Result<Self> {
        let hasher = match expected.algorithm() {
            DigestAlgorithm::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
            other => {
                return Err(Error::Unsupported(format!(
                    "digest algorithm `{other}` in `{expected}`"
                )));
            }
        };
        Ok(Self {
            hasher,
            expected: expected.clone(),
            expected_size,
            seen: 0,
        })
    }

    /// Feeds bytes; fails as soon as more arrive than the expected size.
    pub fn update(&mut self, data: &[u8]) -> Result<()> {
        self.seen += data.len() as u64;
        if let Some(size) = self.expected_size
            && self.seen > size
        {
            return Err(Error::SizeMismatch {
                digest: self.expected.clone(),
                expected: size,
                actual: self.seen,
            });
        }
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
        Ok(())
    }

    /// Bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Checks size and digest.
    pub fn finish(self) -> Result<()> {
        if let Some(size) = self.expected_size
            && self.seen != size
        {
            return Err(Error::SizeMismatch {
                digest: self.expected,
                expected: size,
                actual: self.seen,
            });
        }
        let (algo, hex) = match self.hasher {
            Hasher::Sha256(h) => ("sha256", hex::encode(h.finalize())),
            Hasher::Sha384(h) => ("sha384", hex::encode(h.finalize())),
            Hasher::Sha512(h) => ("sha512", hex::encode(h.finalize())),
        };
        if hex != self.expected.digest() {
            return Err(Error::DigestMismatch {
                expected: self.expected.to_string(),
                actual: format!("{algo}:{hex}"),
            });
        }
        Ok(())
    }
}

/// The sha256 digest of `data`, for manifests we push.
pub fn sha256_digest(data: &[u8]) -> Digest {
    let hex = hex::encode(sha2::Sha256::digest(data));
    // A lowercase 64-hex sha256 always parses.
    match format!("sha256:{hex}").parse() {
        Ok(d) => d,
        Err(_) => unreachable!("sha256 digests are well-formed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_checks_size_and_digest() {
        let d = sha256_digest(b"hello");
        let mut v = Verifier::new(&d, Some(5)).unwrap();
        v.update(b"hel").unwrap();
        v.update(b"lo").unwrap();
        v.finish().unwrap();

        let mut v = Verifier::new(&d, Some(5)).unwrap();
        v.update(b"hellO").unwrap();
        assert_eq!(
            v.finish().unwrap_err().kind(),
            crate::ErrorKind::DigestMismatch
        );

        let mut v = Verifier::new(&d, Some(5)).unwrap();
        assert!(v.update(b"hello!").is_err(), "oversize fails early");

        let v = Verifier::new(&d, Some(5)).unwrap();
        assert!(matches!(
            v.finish(),
            Err(Error::SizeMismatch { actual: 0, .. })
        ));
    }
}
