//! Running a build graph: cache keys, lookups, scheduling and step execution.
//!
//! [`Solver::solve`] walks the graph from the target. Every vertex gets a cache
//! key computed from content (DESIGN.md section 4): an image by its manifest
//! digest, an exec by its op and its inputs' keys, a file op by its op, its
//! destination's key and the content digest of the paths it copies. A key
//! found in the cache index whose snapshot exists is a hit and the step is not
//! run; a miss runs the step in a host-side overlay mount and publishes the
//! upper directory as the step's snapshot (by rename, after which the record
//! is written).
//!
//! The scheduler is a small pool of threads, not async tasks: every piece of
//! work here (sandboxes, copies, hashing, extraction) blocks, and the sandbox
//! must run off async worker threads anyway. A vertex starts as soon as its
//! inputs are done, at most `max_parallelism` at a time; the first failure
//! cancels running sandboxes and stops the rest.

mod copysnap;
mod exec;
mod fetch;
mod file;
mod keys;
mod merge;
mod mounts;
mod scheduler;
mod source;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::graph::VertexId;
use crate::sandbox::Executor;

pub use mounts::enter_private_mount_namespace;
pub use scheduler::{LayerRef, Solved, VertexOutput};

/// A layer of a base image, as the image provider has it in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseLayer {
    /// Uncompressed digest (`sha256:...`).
    pub diff_id: String,
    /// Compressed blob digest (`sha256:...`).
    pub digest: String,
    /// Blob size.
    pub size: u64,
    /// OCI or Docker media type of the blob.
    pub media_type: String,
}

/// Where base images come from: the CLI implements this over the registry
/// client and the content store, so the solver never talks to a registry.
pub trait ImageProvider: Send + Sync {
    /// The layers of a pinned image reference (`name@sha256:...`), pulling
    /// them into the store first when needed.
    fn layers(&self, reference: &str, platform: &str) -> Result<Vec<BaseLayer>, String>;
    /// A verified reader of a blob in the content store.
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + Send>, String>;
}

/// A conditional GET of a remote file (`ADD <url>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpRequest<'r> {
    /// The URL.
    pub url: &'r str,
    /// `If-None-Match`: the `ETag` of the copy the solver still has.
    pub if_none_match: Option<&'r str>,
    /// `If-Modified-Since`: the `Last-Modified` of that copy.
    pub if_modified_since: Option<&'r str>,
}

/// How a remote file request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpResponse {
    /// 304: the copy the solver has is current; no body was written.
    NotModified,
    /// A 2xx response whose body was written out.
    Body {
        /// `ETag`, verbatim.
        etag: Option<String>,
        /// `Last-Modified`, verbatim.
        last_modified: Option<String>,
        /// `Last-Modified` as Unix seconds, when it parses.
        modified: Option<i64>,
        /// The file name a `Content-Disposition` header gives, if any.
        disposition_filename: Option<String>,
    },
}

/// Where remote files come from: the CLI implements this over its HTTP
/// client, so the solver never links one (like [`ImageProvider`]).
pub trait SourceFetcher: Send + Sync {
    /// GET `request.url`, streaming a 2xx body into `body`; a status of 400
    /// or more is an error.
    fn http_get(
        &self,
        request: &HttpRequest<'_>,
        body: &mut dyn std::io::Write,
    ) -> Result<HttpResponse, String>;
}

/// A `--secret` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Read from this file.
    File(PathBuf),
    /// The value itself (from `env=VAR`).
    Value(Vec<u8>),
}

/// What a step reports while the graph runs; the CLI renders these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A vertex started (after its inputs were done).
    Started {
        /// Vertex.
        id: VertexId,
        /// Its progress name.
        name: String,
    },
    /// A vertex was a cache hit.
    Cached {
        /// Vertex.
        id: VertexId,
        /// Its progress name.
        name: String,
    },
    /// A vertex finished running.
    Done {
        /// Vertex.
        id: VertexId,
        /// How long it ran.
        elapsed: Duration,
    },
    /// A line of a step's output.
    Log {
        /// Vertex.
        id: VertexId,
        /// True for stderr.
        stderr: bool,
        /// The line, without its newline.
        line: String,
    },
    /// Why a step is rebuilt (`--explain-cache`).
    Explain {
        /// Vertex.
        id: VertexId,
        /// What changed.
        reason: String,
    },
    /// A vertex failed. Sent where the step fails, before the solve returns its
    /// error, so the display closes the step (`#N ERROR: ...`) in order with
    /// the other steps' lines.
    Failed {
        /// Vertex.
        id: VertexId,
        /// How long it ran before failing.
        elapsed: Duration,
        /// The error, as the solve error would print it.
        error: String,
    },
    /// A running vertex was stopped because another step failed.
    Canceled {
        /// Vertex.
        id: VertexId,
    },
}

/// Settings of one solve.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// The strata root (snapshots/, cache-mounts/, index).
    pub root: PathBuf,
    /// This process's private scratch directory under the root's `tmp/` (on the
    /// same file system as `snapshots/`, so publishing is a rename).
    pub scratch: PathBuf,
    /// The build context directory.
    pub context: PathBuf,
    /// At most this many steps run at once.
    pub max_parallelism: usize,
    /// `--secret` values by id.
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh` agent sockets by id.
    pub ssh: BTreeMap<String, PathBuf>,
}

/// Errors of a solve.
#[derive(Debug, thiserror::Error)]
pub enum SolveError {
    /// A RUN exited non-zero.
    #[error("process {command:?} did not complete successfully: exit code: {code}")]
    ExitCode {
        /// The vertex.
        vertex: VertexId,
        /// The argv, joined.
        command: String,
        /// The exit code (128+n for a signal).
        code: i32,
    },
    /// A step failed for another reason.
    #[error("{message}")]
    Step {
        /// The vertex.
        vertex: VertexId,
        /// What went wrong.
        message: String,
    },
    /// The solve was cancelled because another step failed.
    #[error("cancelled")]
    Cancelled,
    /// Infrastructure failure (cache index, snapshots).
    #[error("{0}")]
    Internal(String),
}

impl SolveError {
    /// The vertex that failed, for pointing at its Dockerfile line.
    pub fn vertex(&self) -> Option<VertexId> {
        match self {
            SolveError::ExitCode { vertex, .. } | SolveError::Step { vertex, .. } => Some(*vertex),
            _ => None,
        }
    }
}

/// Runs build graphs.
pub struct Solver<'a> {
    pub(crate) options: SolveOptions,
    pub(crate) records: cache::records::Records,
    pub(crate) images: &'a dyn ImageProvider,
    pub(crate) fetcher: Option<&'a dyn SourceFetcher>,
    pub(crate) executor: &'a dyn Executor,
    pub(crate) events: &'a (dyn Fn(Event) + Sync),
    pub(crate) explain: bool,
    pub(crate) memo_cell: std::sync::OnceLock<keys::Memo>,
    pub(crate) extract_lock: std::sync::Mutex<()>,
    pub(crate) layer_hook: Option<&'a LayerHook<'a>>,
}

/// Called with each step's own layer as soon as the step is done (run or cached),
/// from the scheduler's worker thread: lets the caller start work on the layer, such
/// as compressing it, while later steps still run.
pub type LayerHook<'a> = dyn Fn(VertexId, &LayerRef) + Sync + 'a;

impl<'a> Solver<'a> {
    /// A solver over the root in `options`.
    pub fn new(
        options: SolveOptions,
        images: &'a dyn ImageProvider,
        executor: &'a dyn Executor,
        events: &'a (dyn Fn(Event) + Sync),
    ) -> Self {
        let records = cache::records::Records::new(options.root.join("index"));
        Self {
            options,
            records,
            images,
            fetcher: None,
            executor,
            events,
            explain: false,
            memo_cell: std::sync::OnceLock::new(),
            extract_lock: std::sync::Mutex::new(()),
            layer_hook: None,
        }
    }

    /// Hand every step's own layer to `hook` as soon as the step is done.
    pub fn with_layer_hook(mut self, hook: &'a LayerHook<'a>) -> Self {
        self.layer_hook = Some(hook);
        self
    }

    /// Report why each rebuilt step missed the cache.
    pub fn explain_cache(mut self, on: bool) -> Self {
        self.explain = on;
        self
    }

    /// Fetch `ADD <url>` sources through `fetcher`.
    pub fn with_fetcher(mut self, fetcher: &'a dyn SourceFetcher) -> Self {
        self.fetcher = Some(fetcher);
        self
    }

    pub(crate) fn snapshots_dir(&self) -> PathBuf {
        self.options.root.join("snapshots")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.options.scratch.clone()
    }

    pub(crate) fn snapshot_path(&self, name: &str) -> PathBuf {
        self.snapshots_dir().join(name)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.options.root
    }
}

/// Lower-case hex of a digest's bytes: how snapshots and cache records name steps.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
