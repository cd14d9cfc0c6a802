//! What can go wrong while exporting an image, with the path, digest or name involved.

use std::io;
use std::path::{Path, PathBuf};

use cache::layer::LayerError;

/// An export failure.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file or directory could not be read or written.
    #[error("cannot {action} `{}`", path.display())]
    Io {
        /// What was being done (`create`, `write`, `remove`...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The content store or image index failed (its error names the blob or file).
    #[error(transparent)]
    Store(#[from] cache::Error),
    /// A step's snapshot could not be turned into a layer blob.
    #[error("cannot write the layer of step `{step}` from `{}`", dir.display())]
    WriteLayer {
        /// The step's id (its cache key).
        step: String,
        /// The step's snapshot directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: LayerError,
    },
    /// A layer blob could not be unpacked into a filesystem output.
    #[error("cannot unpack layer `{digest}` into `{}`", dest.display())]
    ApplyLayer {
        /// The layer blob.
        digest: String,
        /// The directory being filled.
        dest: PathBuf,
        /// The cause.
        #[source]
        source: LayerError,
    },
    /// The filesystem tree could not be written as a tar.
    #[error("cannot write the filesystem of `{}` as a tar", dir.display())]
    WriteTree {
        /// The unpacked tree.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: LayerError,
    },
    /// A base layer the solver reported is missing from the content store.
    #[error(
        "base layer `{digest}` is not in the content store\nhint: pull the base image again (or run without the cache)"
    )]
    MissingBaseLayer {
        /// The layer's blob digest.
        digest: String,
    },
    /// A digest string from a record or base layer is malformed.
    #[error("malformed digest `{value}` in {context}")]
    BadDigest {
        /// The text.
        value: String,
        /// Where it came from.
        context: &'static str,
    },
    /// An image name given with `-t` or `name=` is not a valid reference.
    #[error(
        "invalid image name `{name}`: {reason}\nhint: names look like `app:1.0` or `registry.example.com/team/app:1.0`"
    )]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// An `--output` spec could not be understood.
    #[error("invalid --output `{spec}`: {reason}\nhint: {hint}")]
    InvalidOutput {
        /// The spec as given.
        spec: String,
        /// What is wrong.
        reason: String,
        /// What to write instead.
        hint: String,
    },
    /// A build flag for the export is malformed.
    #[error("invalid {option}: {reason}\nhint: {hint}")]
    InvalidOption {
        /// The flag (`--label`, `--compression`).
        option: &'static str,
        /// What is wrong.
        reason: String,
        /// What to write instead.
        hint: String,
    },
    /// A JSON document (config, manifest, index) could not be encoded.
    #[error("cannot encode the {what} as JSON")]
    Json {
        /// Which document.
        what: &'static str,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl ExportError {
    /// A closure turning an `io::Error` into [`ExportError::Io`] for `path`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ExportError {
        let path = path.to_path_buf();
        move |source| ExportError::Io {
            action,
            path,
            source,
        }
    }
}

/// The result type of the export module.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;
