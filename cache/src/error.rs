//! Typed errors of the on-disk state: every variant names the path, digest or image name
//! it is about, and [`Error::kind`] says what a caller can branch on.

use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// A `Result` whose error is the cache crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, coarsely: the part of an [`Error`] that callers branch on
/// (retry, re-pull, report "not found") without matching every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A blob, an image name or a file does not exist.
    NotFound,
    /// Content does not match the size or digest it was announced or stored under.
    DigestMismatch,
    /// A file of the root (`index.json`, a manifest, the version file) cannot be parsed.
    Corrupt,
    /// Another process holds a lock that was asked for without waiting.
    Locked,
    /// The caller passed a malformed digest or image name, or a blob too large to buffer.
    InvalidInput,
    /// The root was written by a strata with another on-disk format version.
    Unsupported,
    /// Any other operating-system I/O failure.
    Io,
}

/// An error of the cache crate's on-disk state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on `path` failed.
    #[error("i/o error at `{}`", path.display())]
    Io {
        /// The file or directory the operation was about.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: io::Error,
    },
    /// The content store has no blob with this digest.
    #[error(
        "blob `{digest}` is not in the content store\nhint: pull or rebuild the image that needs it"
    )]
    BlobNotFound {
        /// The digest that was looked up.
        digest: Digest,
    },
    /// No image in `index.json` carries this name.
    #[error("image `{name}` is not in the local store")]
    ImageNotFound {
        /// The name that was looked up.
        name: String,
    },
    /// Content hashed to another digest than expected.
    #[error("digest mismatch for `{}`: expected `{expected}`, got `{actual}`", path.display())]
    DigestMismatch {
        /// The blob file (or temporary file) whose content was hashed.
        path: PathBuf,
        /// The digest the content was supposed to have.
        expected: Digest,
        /// The digest of the bytes actually written or read.
        actual: Digest,
    },
    /// Content has another length than expected.
    #[error("size mismatch for `{}`: expected {expected} bytes, got {actual}", path.display())]
    SizeMismatch {
        /// The blob file (or temporary file) that was measured.
        path: PathBuf,
        /// The size the content was supposed to have.
        expected: u64,
        /// The number of bytes actually written or read.
        actual: u64,
    },
    /// A string is not a valid `sha256:<64 lowercase hex>` digest.
    #[error("invalid digest `{value}`: {reason}")]
    InvalidDigest {
        /// The rejected string.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A string is not a valid image name for `org.opencontainers.image.ref.name`.
    #[error(
        "invalid image name `{name}`: {reason}\nhint: pass a full reference such as `docker.io/library/busybox:latest`"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A blob is larger than a whole-blob read allows.
    #[error("blob `{digest}` is {size} bytes, more than the {limit} bytes read in one piece")]
    TooLarge {
        /// The blob.
        digest: Digest,
        /// Its size on disk.
        size: u64,
        /// The limit it exceeds.
        limit: u64,
    },
    /// A JSON file of the root or store does not parse.
    #[error("`{}` is corrupt: {source}", path.display())]
    CorruptJson {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// A file of the root has unexpected content.
    #[error("`{}` is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The root was written in another on-disk format version.
    #[error(
        "strata root `{}` has format version `{found}`, this strata uses version {expected}\nhint: use another `--root`, or the strata version that created it",
        path.display()
    )]
    UnsupportedVersion {
        /// The version file.
        path: PathBuf,
        /// Its content.
        found: String,
        /// The version this build of strata reads and writes.
        expected: u32,
    },
    /// A lock asked for without waiting is held by another process (or another handle).
    #[error("`{}` is locked by another strata process\nhint: wait for it to finish and retry", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// No default root could be chosen because neither `$XDG_DATA_HOME` nor `$HOME` is set.
    #[error(
        "cannot choose a strata root: neither `XDG_DATA_HOME` nor `HOME` is set\nhint: pass `--root` or set `STRATA_ROOT`"
    )]
    NoDefaultRoot,
}

impl Error {
    /// The coarse category of this error, for callers that branch on it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::Io { .. } => ErrorKind::Io,
            Error::BlobNotFound { .. } | Error::ImageNotFound { .. } => ErrorKind::NotFound,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => ErrorKind::DigestMismatch,
            Error::InvalidDigest { .. }
            | Error::InvalidName { .. }
            | Error::TooLarge { .. }
            | Error::NoDefaultRoot => ErrorKind::InvalidInput,
            Error::CorruptJson { .. } | Error::Corrupt { .. } => ErrorKind::Corrupt,
            Error::UnsupportedVersion { .. } => ErrorKind::Unsupported,
            Error::Locked { .. } => ErrorKind::Locked,
        }
    }

    /// Recovers the cache error carried inside an [`io::Error`] returned by a
    /// [`crate::BlobReader`] (whose `Read` impl can only return `io::Error`), or wraps a
    /// plain I/O error with the path it happened at.
    pub fn from_io(err: io::Error, path: &Path) -> Error {
        if err.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match err.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(inner)) => return *inner,
                // Unreachable after the `is` check above; keep a path-named error anyway.
                Some(Err(other)) => return io_at(path, io::Error::other(other)),
                None => return io_at(path, io::Error::other("unknown i/o error")),
            }
        }
        io_at(path, err)
    }
}

/// Wraps an [`io::Error`] with the path it happened at.
pub(crate) fn io_at(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Attaches a path to the `io::Error` of a `std::io::Result`.
pub(crate) trait IoResultExt<T> {
    /// Maps the error to [`Error::Io`] naming `path`.
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoResultExt<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| io_at(path, source))
    }
}
