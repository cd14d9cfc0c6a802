//! The crate's error type and the [`ErrorKind`] callers branch on.
//!
//! Messages follow the project style: lowercase, the object in backticks, and a `hint:`
//! where there is something the user can do. No variant ever holds a credential: URLs are
//! [`RedactedUrl`]s and registry messages come from the response body, never the request.

use std::path::PathBuf;

use oci_spec::image::Digest;

use crate::secret::RedactedUrl;

/// What went wrong, coarsely: the part of an [`Error`] that callers branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The reference string (or a digest in it) does not parse.
    InvalidReference,
    /// The registry has no such repository, manifest, tag or blob.
    NotFound,
    /// The registry wants credentials we do not have, or rejected the ones we sent.
    Unauthorized,
    /// The credentials are valid but lack permission (push to someone else's repo).
    Denied,
    /// The registry or network failed after all retries (5xx, 429, timeouts, resets).
    Unavailable,
    /// Downloaded bytes do not match the expected digest or size.
    DigestMismatch,
    /// An index has no manifest for the requested platform.
    PlatformNotFound,
    /// The registry answered with something that is not a valid response or manifest.
    InvalidResponse,
    /// A media type, digest algorithm or feature this client does not handle.
    Unsupported,
    /// Reading or writing local files (config.json, the caller's sink or blob source).
    Io,
    /// Credential configuration or a credential helper failed.
    Credentials,
}

/// An error from the registry client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reference did not parse; `reason` uses docker's wording.
    #[error("invalid reference format: {reason}: `{input}`")]
    InvalidReference {
        /// The string as given.
        input: String,
        /// What rule it broke, e.g. "repository name must be lowercase".
        reason: String,
    },

    /// The registry answered with an error status.
    #[error("{method} `{url}` failed: {status}{}{}{}", fmt_subject(.digest), fmt_message(.message), fmt_hint(.hint))]
    Registry {
        /// The HTTP method.
        method: String,
        /// The URL, redacted.
        url: RedactedUrl,
        /// The HTTP status code.
        status: u16,
        /// The classified kind (from the status and the registry's error codes).
        kind: ErrorKind,
        /// The registry's error JSON flattened to `CODE: message` lines.
        message: Option<String>,
        /// The blob or manifest digest the request was about, if any.
        digest: Option<String>,
        /// What the user can do about it.
        hint: Option<String>,
    },

    /// The request never got a response after all retries.
    #[error("{method} `{url}` failed: {detail}")]
    Network {
        /// The HTTP method.
        method: String,
        /// The URL, redacted.
        url: RedactedUrl,
        /// The cause, without the URL (which reqwest would print unredacted).
        detail: String,
    },

    /// The content did not hash to what its descriptor says.
    #[error("digest mismatch for `{expected}`: got `{actual}`")]
    DigestMismatch {
        /// The digest the descriptor or reference names.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },

    /// The content's length differs from its descriptor.
    #[error("size mismatch for `{digest}`: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob's digest.
        digest: Digest,
        /// The size the descriptor says.
        expected: u64,
        /// The bytes received (possibly stopped early once over `expected`).
        actual: u64,
    },

    /// An index has no manifest for the wanted platform.
    #[error(
        "no manifest for platform `{wanted}` in `{reference}`; available: {}\nhint: pass one of the available platforms with --platform",
        .available.join(", ")
    )]
    PlatformNotFound {
        /// The reference being resolved.
        reference: String,
        /// The platform asked for, e.g. `linux/riscv64`.
        wanted: String,
        /// The platforms the index lists.
        available: Vec<String>,
    },

    /// The registry sent something we cannot interpret.
    #[error("invalid response for `{subject}`: {reason}")]
    InvalidResponse {
        /// What was being fetched (a reference or digest).
        subject: String,
        /// What was wrong with it.
        reason: String,
    },

    /// Something this client does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),

    /// A local file operation failed.
    #[error("failed to {op} `{}`: {source}", .path.display())]
    Io {
        /// What we were doing: "read", "write", "create"...
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The caller's sink or source failed while streaming a blob.
    #[error("blob stream for `{digest}` failed: {source}")]
    Stream {
        /// The blob being streamed.
        digest: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Credentials could not be read, parsed or obtained from a helper.
    #[error("credentials for `{server}`: {message}")]
    Credentials {
        /// The registry the credentials are for.
        server: String,
        /// What went wrong; never contains the secret itself.
        message: String,
    },
}

fn fmt_subject(digest: &Option<String>) -> String {
    digest
        .as_ref()
        .map(|d| format!(" (`{d}`)"))
        .unwrap_or_default()
}

fn fmt_message(message: &Option<String>) -> String {
    message
        .as_ref()
        .map(|m| format!(": {m}"))
        .unwrap_or_default()
}

fn fmt_hint(hint: &Option<String>) -> String {
    hint.as_ref()
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default()
}

impl Error {
    /// The coarse kind, for callers that retry, fall back or word a message by case.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidReference { .. } => ErrorKind::InvalidReference,
            Error::Registry { kind, .. } => *kind,
            Error::Network { .. } => ErrorKind::Unavailable,
            Error::DigestMismatch { .. } | Error::SizeMismatch { .. } => ErrorKind::DigestMismatch,
            Error::PlatformNotFound { .. } => ErrorKind::PlatformNotFound,
            Error::InvalidResponse { .. } => ErrorKind::InvalidResponse,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Io { .. } | Error::Stream { .. } => ErrorKind::Io,
            Error::Credentials { .. } => ErrorKind::Credentials,
        }
    }

    /// The HTTP status, when the registry answered with an error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Registry { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub(crate) fn with_digest(mut self, d: &Digest) -> Self {
        if let Error::Registry { digest, .. } = &mut self {
            *digest = Some(d.to_string());
        }
        self
    }

    pub(crate) fn with_hint(mut self, h: impl Into<String>) -> Self {
        if let Error::Registry { hint, .. } = &mut self {
            *hint = Some(h.into());
        }
        self
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
