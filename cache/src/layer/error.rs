//! Errors of the layer module: every variant names the tar entry or the file it is about.

use std::io;
use std::path::PathBuf;

/// What a caller can branch on without matching every [`LayerError`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerErrorKind {
    /// The layer is hostile or malformed (escapes, bad paths, bad links): retrying will not help.
    InvalidLayer,
    /// The layer or directory uses a feature this module does not handle.
    Unsupported,
    /// The operating system refused an operation (disk full, permissions, ...).
    Io,
}

/// An error while applying, writing or compressing a layer.
///
/// Paths in variants are the tar entry names (for apply) or paths relative to the diff
/// directory (for write), so a user can find the culprit in the layer.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// A system call on an entry failed.
    #[error("failed to {op} `{path}`")]
    Io {
        /// What we were doing, e.g. "create file".
        op: &'static str,
        /// The entry or file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The tar stream itself could not be read (truncated, bad checksum, decompression).
    #[error("failed to read the layer tar stream{}", after.as_ref().map(|p| format!(" after entry `{}`", p.display())).unwrap_or_default())]
    TarStream {
        /// The last entry read successfully, if any.
        after: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An entry name or link target is unusable (e.g. contains `..`).
    #[error(
        "entry `{entry}` has an unsafe path: {reason}\nhint: the layer is malformed or hostile; it was not applied further"
    )]
    UnsafePath {
        /// The entry name as found in the tar.
        entry: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Reaching an entry would traverse a symlink (possibly planted by an earlier entry).
    #[error(
        "entry `{entry}` goes through symlink `{symlink}`\nhint: layers must not write through symlinks; the layer is malformed or hostile"
    )]
    ThroughSymlink {
        /// The entry name as found in the tar.
        entry: PathBuf,
        /// The path component that is a symlink.
        symlink: PathBuf,
    },
    /// A parent path component of an entry is not a directory.
    #[error("entry `{entry}` needs `{component}` to be a directory, but it is not")]
    NotADirectory {
        /// The entry name as found in the tar.
        entry: PathBuf,
        /// The offending component.
        component: PathBuf,
    },
    /// A hardlink entry points at something that is not a valid link target.
    #[error("hardlink entry `{entry}` points to `{target}`: {reason}")]
    BadHardlink {
        /// The entry name as found in the tar.
        entry: PathBuf,
        /// The link target as found in the tar.
        target: PathBuf,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A device node entry was refused by [`DevicePolicy::Reject`](super::DevicePolicy::Reject).
    #[error(
        "entry `{entry}` is a device node, refused by policy\nhint: apply with `DevicePolicy::Create` or `Skip` to accept it"
    )]
    DeviceRefused {
        /// The entry name as found in the tar.
        entry: PathBuf,
    },
    /// An entry type or file feature this module does not implement.
    #[error("entry `{entry}` is unsupported: {what}")]
    Unsupported {
        /// The entry or file concerned.
        entry: PathBuf,
        /// What is not supported.
        what: String,
    },
    /// The layer blob uses a compression we do not decode.
    #[error(
        "layer is compressed with {found}, which is not supported\nhint: supported are gzip, zstd and uncompressed tar"
    )]
    UnsupportedCompression {
        /// The compression recognised from magic bytes or media type.
        found: String,
    },
    /// An overlay upperdir uses an overlayfs feature that makes it not a self-contained diff.
    #[error(
        "`{path}` carries overlay xattr `{xattr}`, so the upperdir is not a plain diff\nhint: mount the overlay with `redirect_dir=off,metacopy=off`"
    )]
    OverlayFeature {
        /// The file or directory, relative to the diff directory.
        path: PathBuf,
        /// The xattr found.
        xattr: String,
    },
    /// A file changed size while it was being archived.
    #[error("`{path}` changed while it was being written to the layer")]
    FileChanged {
        /// The file, relative to the diff directory.
        path: PathBuf,
    },
    /// Writing the output stream failed.
    #[error("failed to write the layer stream")]
    Output(#[source] io::Error),
}

impl LayerError {
    /// Classifies the error for callers that decide between retrying and reporting.
    pub fn kind(&self) -> LayerErrorKind {
        match self {
            Self::Io { .. } | Self::Output(_) | Self::FileChanged { .. } => LayerErrorKind::Io,
            Self::TarStream { .. }
            | Self::UnsafePath { .. }
            | Self::ThroughSymlink { .. }
            | Self::NotADirectory { .. }
            | Self::BadHardlink { .. }
            | Self::DeviceRefused { .. } => LayerErrorKind::InvalidLayer,
            Self::Unsupported { .. }
            | Self::UnsupportedCompression { .. }
            | Self::OverlayFeature { .. } => LayerErrorKind::Unsupported,
        }
    }

    /// Builds an [`LayerError::Io`] from a rustix errno.
    pub(crate) fn errno(op: &'static str, path: impl Into<PathBuf>, e: rustix::io::Errno) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source: e.into(),
        }
    }

    /// Builds an [`LayerError::Io`] from a std I/O error.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
