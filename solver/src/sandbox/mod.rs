//! The sandbox: runs one `RUN` step's process in isolation and reports how it ended.
//!
//! It knows nothing about graphs or caches: the solver describes the process as a
//! [`ProcessSpec`] (argv, env, user, root mounts from the snapshotter, extra mounts) and an
//! [`Executor`] runs it. [`BuiltinExecutor`] needs no runtime: it builds new mount, pid,
//! UTS and IPC namespaces (and network for [`Network::None`]), an overlay root entered with
//! `pivot_root`, a fresh `/proc` with containerd's masked paths, a minimal `/dev`, Docker's
//! default capabilities and seccomp profile, and a pids cgroup. When the step's main process
//! exits, its pid namespace is torn down, so nothing it started survives.
//!
//! Lifecycle of one run:
//!
//! ```text
//! strata (any thread) --spawn--> init helper --fork--> pid 1 --fork--> main --exec--> argv
//!   <- stdout/stderr lines (streamed to the OutputSink)
//!   <- fd 3 reports: started, stubs created, setup error | exec error | exit status
//! ```
//!
//! # Hooking the init entry point
//!
//! The built-in executor re-executes `/proc/self/exe`, so the binary's `main` must start
//! with [`sandbox_init_if_requested`] *before* creating any thread or runtime:
//!
//! ```ignore
//! fn main() {
//!     solver::sandbox::sandbox_init_if_requested();
//!     // ... then tracing, clap, the tokio runtime ...
//! }
//! ```
//!
//! # Example
//!
//! ```no_run
//! use solver::sandbox::{BuiltinExecutor, CancelHandle, Executor, ProcessSpec, RootMount};
//!
//! let root = RootMount::overlay(&["/snap/1".into()], "/snap/2/fs".into(), "/snap/2/work".into());
//! let spec = ProcessSpec::new(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()], vec![root]);
//! let executor = BuiltinExecutor::new("/var/lib/strata/tmp");
//! let mut print = |_stream, line: &[u8]| eprint!("{}", String::from_utf8_lossy(line));
//! let outcome = executor.run(&spec, &mut print, &CancelHandle::new())?;
//! assert!(outcome.status.success());
//! # Ok::<(), solver::sandbox::SandboxError>(())
//! ```

mod caps;
mod cgroup;
mod dev;
mod error;
mod executor;
mod init;
mod mounts;
mod namespaces;
mod rootpath;
mod seccomp;
mod spec;
mod user;

pub use caps::{DEFAULT_CAPABILITIES, default_capability_mask};
pub use dev::{MASKED_PATHS, READONLY_PATHS};
pub use error::{ErrorKind, SandboxError, SetupError};
pub use executor::BuiltinExecutor;
pub use init::INIT_MARKER;
pub use spec::{
    CancelHandle, DEFAULT_HOSTNAME, DEFAULT_PATH, DEFAULT_PIDS_LIMIT, EtcFiles, ExitStatus, Ids,
    Mount, MountKind, Network, OutputSink, ProcessSpec, RootMount, RunOutcome, Stream,
    filter_resolv_conf, hosts_file, hosts_file_with_extra, resolv_conf_from_host,
};
pub use user::{UserError, home_dir, resolve_user};

/// Something that runs a [`ProcessSpec`] to completion: the built-in sandbox today, an OCI
/// runtime such as runc (`--runtime runc`) later. Implementations block the calling thread;
/// async callers use `spawn_blocking`.
pub trait Executor: Send + Sync {
    /// Runs the process, streaming its output to `output` line by line, and returns its exit
    /// status (a non-zero exit is `Ok`; `Err` means the sandbox itself failed or the run was
    /// cancelled through `cancel`).
    fn run(
        &self,
        spec: &ProcessSpec,
        output: &mut dyn OutputSink,
        cancel: &CancelHandle,
    ) -> Result<RunOutcome, SandboxError>;
}

/// Turns this process into the sandbox init when it was started as one (`argv[1]` is
/// [`INIT_MARKER`]); otherwise returns at once. Call it first thing in `main`, before any
/// thread exists: the init forks, which is only sound in a single-threaded process.
pub fn sandbox_init_if_requested() {
    if std::env::args_os().nth(1).is_some_and(|a| a == INIT_MARKER) {
        init::run();
    }
}
