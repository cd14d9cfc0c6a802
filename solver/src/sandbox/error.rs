//! Typed sandbox errors.
//!
//! Setup happens in other processes, so the failures found there travel back over the report
//! pipe as a [`SetupError`] (plain data: operation, path, errno) and surface as
//! [`SandboxError::Setup`].

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What a caller branches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command or a path the step needs does not exist.
    NotFound,
    /// The run was cancelled.
    Cancelled,
    /// The host cannot provide the isolation (not root, no overlayfs, no namespaces...).
    Unavailable,
    /// The image's data is unusable (unknown USER, bad passwd file).
    InvalidInput,
    /// Anything else: a bug or an unexpected host failure.
    Other,
}

/// A syscall that failed while a sandbox was being set up, named precisely enough to debug
/// from a bug report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetupError {
    /// The operation or syscall (`mount overlay`, `pivot_root`, `capset`...).
    pub op: String,
    /// The path it acted on, if any (inside the root once known).
    pub path: Option<String>,
    /// `errno`, or 0 when the failure was not a syscall.
    pub errno: i32,
    /// Extra context (mount options, the program name...).
    pub detail: Option<String>,
}

impl SetupError {
    /// A failed syscall on `path`.
    pub(crate) fn sys(op: impl Into<String>, path: impl fmt::Display, err: nix::Error) -> Self {
        SetupError {
            op: op.into(),
            path: Some(path.to_string()),
            errno: err as i32,
            detail: None,
        }
    }

    /// A failed syscall with no path.
    pub(crate) fn op(op: impl Into<String>, err: nix::Error) -> Self {
        SetupError {
            op: op.into(),
            path: None,
            errno: err as i32,
            detail: None,
        }
    }

    /// Adds context.
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(path) = &self.path {
            write!(f, " `{path}`")?;
        }
        if self.errno != 0 {
            write!(f, ": {}", nix::Error::from_raw(self.errno).desc())?;
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

/// Why a sandboxed run failed (as opposed to the process exiting non-zero, which is an
/// [`ExitStatus`](super::ExitStatus)).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The init process could not be started.
    #[error("failed to start sandbox init `{program}`: {source}")]
    Spawn {
        /// The init program.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Host-side file work failed (state dir, cgroup, pipes).
    #[error("sandbox i/o on `{path}`: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setup step inside the sandbox failed.
    #[error("sandbox setup failed: {cause}{hint}", cause = .0, hint = setup_hint(.0))]
    Setup(SetupError),
    /// `argv[0]` was not found or not executable.
    #[error("exec: `{program}`: {reason}\nhint: check the image's PATH and that the file exists")]
    Exec {
        /// The program as given.
        program: String,
        /// "executable file not found in $PATH", "permission denied"...
        reason: String,
    },
    /// The spec is unusable (empty argv, relative paths...).
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// The init process sent something unexpected or died without a status.
    #[error("sandbox init protocol error: {0}")]
    Protocol(String),
    /// The run was cancelled through its [`CancelHandle`](super::CancelHandle).
    #[error("sandboxed process cancelled")]
    Cancelled,
    /// USER could not be resolved.
    #[error(transparent)]
    User(#[from] super::user::UserError),
}

/// What to do when the host refuses the isolation a RUN step needs: without
/// `CAP_SYS_ADMIN` (not root, or a container without privileges) no mount or pid
/// namespace can be made, and strata has no rootless mode yet.
fn setup_hint(e: &SetupError) -> &'static str {
    if e.errno == libc::EPERM {
        "\nhint: RUN steps need root (to create mount and pid namespaces and mount overlayfs); run strata as root, or in a container started with --privileged"
    } else if e.errno == libc::ENODEV {
        "\nhint: the kernel lacks a file system the sandbox needs (overlay, proc or tmpfs)"
    } else {
        ""
    }
}

impl SandboxError {
    /// The category callers act on.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SandboxError::Exec { .. } => ErrorKind::NotFound,
            SandboxError::Cancelled => ErrorKind::Cancelled,
            SandboxError::Spawn { .. } => ErrorKind::Unavailable,
            SandboxError::Setup(e) if e.errno == libc::EPERM || e.errno == libc::ENODEV => {
                ErrorKind::Unavailable
            }
            SandboxError::User(_) | SandboxError::InvalidSpec(_) => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        }
    }
}
