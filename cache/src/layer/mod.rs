//! Layers on disk: unpacking OCI layer tars into snapshots, and writing a step's
//! overlay upperdir back into a reproducible, compressed layer.
//!
//! Vocabulary (OCI image spec): a *layer* is a tar of filesystem changes; *whiteouts*
//! (`.wh.<name>`) and *opaque markers* (`.wh..wh..opq`) record deletions; the
//! *diffID* is the sha256 of the uncompressed tar and the *digest* that of the blob.
//!
//! - [`apply_layer`] unpacks a (gzip, zstd or plain) layer beneath a target directory,
//!   either flattening it onto earlier layers ([`ApplyMode::Flatten`]) or as its own
//!   overlay lowerdir ([`ApplyMode::Overlay`]). Hostile layers cannot touch anything
//!   outside the target: every path is resolved with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)` or an `O_NOFOLLOW` walk, never by joining strings.
//! - [`write_layer`] turns an overlay upperdir into a sorted, reproducible tar.
//! - [`Compressor`] / [`compress`] compress in one pass and compute both digests.
//!
//! Writing and compressing a step's layer without a temporary file:
//!
//! ```no_run
//! use cache::layer::{Compression, Compressor, WriteOptions, write_layer};
//! # fn main() -> Result<(), cache::layer::LayerError> {
//! let blob = std::fs::File::create("/var/lib/strata/tmp/blob")
//!     .map_err(cache::layer::LayerError::Output)?;
//! let mut c = Compressor::new(Compression::Gzip { level: 6 }, blob)?;
//! let opts = WriteOptions { source_date_epoch: Some(0), ..Default::default() };
//! write_layer("/var/lib/strata/snapshots/42/upper".as_ref(), &mut c, opts)?;
//! let (digests, _file) = c.finish()?;
//! assert!(digests.diff_id.starts_with("sha256:"));
//! # Ok(()) }
//! ```

mod apply;
mod compress;
mod error;
mod metadata;
mod safe_path;
mod tar_writer;
mod whiteout;
mod write;

pub use apply::{ApplyMode, ApplyOptions, ApplyStats, DevicePolicy, apply_layer};
pub use compress::{
    CompressStats, Compression, Compressor, MEDIA_TYPE_DOCKER_GZIP, MEDIA_TYPE_TAR,
    MEDIA_TYPE_TAR_GZIP, MEDIA_TYPE_TAR_ZSTD, compress, detect_compression,
};
pub use error::{LayerError, LayerErrorKind};
pub use write::{LayerStats, WriteOptions, write_layer};
