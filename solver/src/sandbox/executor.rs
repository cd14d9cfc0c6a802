//! The host side of the built-in executor: start the init process, feed it its config,
//! stream its output, honour cancellation, clean up.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Executor;
use super::cgroup::PidsCgroup;
use super::error::SandboxError;
use super::init::{INIT_MARKER, InitConfig, Report, install_report_fd, send_config};
use super::spec::{CancelHandle, OutputSink, ProcessSpec, RunOutcome, Stream};

/// How often a running step checks its [`CancelHandle`].
const CANCEL_POLL_MS: u16 = 50;

/// Runs steps in namespaces built by strata itself (no runc needed).
///
/// Each [`run`](Executor::run) re-executes `init_program` (by default `/proc/self/exe`, the
/// strata binary, whose `main` must call
/// [`sandbox_init_if_requested`](super::sandbox_init_if_requested) first), so the
/// `clone`/`unshare`/`exec` work happens in a fresh single-threaded process and never on
/// the caller's (possibly tokio) threads. `run` blocks; call it from `spawn_blocking` or a
/// dedicated thread.
#[derive(Debug)]
pub struct BuiltinExecutor {
    state_dir: PathBuf,
    init_program: PathBuf,
}

/// Process-wide run counter: run ids name cgroups, which are shared by every executor.
static NEXT_RUN: AtomicU64 = AtomicU64::new(0);

impl BuiltinExecutor {
    /// An executor keeping its per-run scratch (root mountpoint, generated `/etc` files) in
    /// `state_dir`, which must be on a local filesystem the caller owns (e.g. the cache's
    /// `tmp/`).
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        BuiltinExecutor {
            state_dir: state_dir.into(),
            init_program: PathBuf::from("/proc/self/exe"),
        }
    }

    /// Uses another binary as init (tests use the `strata-sandbox-init` helper binary,
    /// because a test harness cannot be re-executed as init).
    pub fn with_init_program(mut self, program: impl Into<PathBuf>) -> Self {
        self.init_program = program.into();
        self
    }

    /// Whether this host can run the built-in sandbox at all: root and overlayfs. Tests and
    /// `strata` use it to say why they skip or fall back.
    pub fn check_host() -> Result<(), String> {
        if !nix::unistd::geteuid().is_root() {
            return Err(
                "the built-in sandbox needs root (rootless mode is not implemented)".into(),
            );
        }
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if !filesystems
            .lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
        {
            return Err("overlayfs is not available (`modprobe overlay`)".into());
        }
        Ok(())
    }

    fn validate(spec: &ProcessSpec) -> Result<(), SandboxError> {
        if spec.argv.is_empty() {
            return Err(SandboxError::InvalidSpec("empty argv".into()));
        }
        if !spec.cwd.starts_with('/') {
            return Err(SandboxError::InvalidSpec(format!(
                "cwd `{}` is not absolute",
                spec.cwd
            )));
        }
        if spec.root.is_empty() {
            return Err(SandboxError::InvalidSpec("no root mounts".into()));
        }
        Ok(())
    }
}

/// Per-run scratch directory, removed on drop. Only empty directories and our own small
/// files are removed, never recursively: a leaked mount must not take a snapshot with it.
struct RunDir {
    dir: PathBuf,
    files: Vec<PathBuf>,
}

impl RunDir {
    fn create(state_dir: &Path, id: &str) -> Result<Self, SandboxError> {
        let dir = state_dir.join(id);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| SandboxError::Io { path, source }
        };
        std::fs::create_dir_all(state_dir).map_err(io(state_dir))?;
        std::fs::create_dir(&dir).map_err(io(&dir))?;
        let rootfs = dir.join("rootfs");
        std::fs::create_dir(&rootfs).map_err(io(&rootfs))?;
        Ok(RunDir {
            dir,
            files: Vec::new(),
        })
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    fn write(&mut self, name: &str, content: &str) -> Result<PathBuf, SandboxError> {
        let path = self.dir.join(name);
        std::fs::write(&path, content).map_err(|source| SandboxError::Io {
            path: path.clone(),
            source,
        })?;
        self.files.push(path.clone());
        Ok(path)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_dir(self.rootfs());
        if let Err(e) = std::fs::remove_dir(&self.dir) {
            tracing::warn!(path = %self.dir.display(), error = %e, "sandbox run dir left behind");
        }
    }
}

/// Splits a byte stream into lines for the sink.
#[derive(Default)]
struct LineBuffer {
    pending: Vec<u8>,
}

impl LineBuffer {
    fn push(&mut self, data: &[u8], mut emit: impl FnMut(&[u8])) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(pos) = self.pending[start..].iter().position(|&b| b == b'\n') {
            emit(&self.pending[start..start + pos + 1]);
            start += pos + 1;
        }
        self.pending.drain(..start);
    }

    fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            emit(&self.pending);
            self.pending.clear();
        }
    }
}

/// What the reports said so far.
#[derive(Default)]
struct Outcome {
    stubs: Vec<String>,
    exited: Option<super::spec::ExitStatus>,
    error: Option<SandboxError>,
}

impl Outcome {
    fn apply(&mut self, line: &[u8]) {
        match serde_json::from_slice::<Report>(line) {
            Ok(Report::Started(pid)) => tracing::debug!(pid, "sandbox pid 1 started"),
            Ok(Report::Stubs(stubs)) => self.stubs = stubs,
            Ok(Report::Exited(status)) => self.exited = Some(status),
            Ok(Report::Failed(e)) => {
                self.error.get_or_insert(SandboxError::Setup(e));
            }
            Ok(Report::Exec { program, reason }) => {
                self.error
                    .get_or_insert(SandboxError::Exec { program, reason });
            }
            Err(e) => {
                self.error.get_or_insert(SandboxError::Protocol(format!(
                    "bad report `{}`: {e}",
                    String::from_utf8_lossy(line).trim_end()
                )));
            }
        }
    }
}

impl Executor for BuiltinExecutor {
    fn run(
        &self,
        spec: &ProcessSpec,
        output: &mut dyn OutputSink,
        cancel: &CancelHandle,
    ) -> Result<RunOutcome, SandboxError> {
        Self::validate(spec)?;
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        let id = format!(
            "run-{}-{}",
            std::process::id(),
            NEXT_RUN.fetch_add(1, Ordering::Relaxed)
        );
        let mut run_dir = RunDir::create(&self.state_dir, &id)?;
        let mut etc_files = Vec::new();
        for (name, content) in [
            ("hosts", &spec.etc.hosts),
            ("resolv.conf", &spec.etc.resolv_conf),
            ("hostname", &spec.etc.hostname),
        ] {
            if let Some(content) = content {
                etc_files.push((run_dir.write(name, content)?, format!("/etc/{name}")));
            }
        }
        let config = InitConfig {
            spec: spec.clone(),
            rootfs: run_dir.rootfs(),
            etc_files,
        };
        let cgroup = spec
            .pids_limit
            .and_then(|limit| PidsCgroup::create(&id, limit));

        let (report_r, report_w) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| SandboxError::Io {
                path: PathBuf::from("pipe"),
                source: e.into(),
            })?;
        let report_raw = report_w.as_raw_fd();
        let mut command = Command::new(&self.init_program);
        command
            .arg(INIT_MARKER)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure runs between fork and exec and only calls dup2, fcntl and
        // prctl on integers, which are async-signal-safe.
        unsafe {
            command.pre_exec(move || install_report_fd(report_raw));
        }
        let spawned = command.spawn();
        drop(report_w);
        let mut child = spawned.map_err(|source| SandboxError::Spawn {
            program: self.init_program.clone(),
            source,
        })?;
        tracing::debug!(pid = child.id(), cgroup = ?cgroup.as_ref().map(|c| c.dir().to_path_buf()), "sandbox init spawned");

        let result = (|| {
            if let Some(cgroup) = &cgroup
                && let Err(source) = cgroup.add(child.id())
            {
                return Err(SandboxError::Io {
                    path: cgroup.dir().join("cgroup.procs"),
                    source,
                });
            }
            if let Some(stdin) = child.stdin.take() {
                // A failed write means the init died; its report says why.
                let _ = send_config(stdin, &config);
            }
            pump(&mut child, report_r, output, cancel)
        })();
        if result.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        if let Some(cgroup) = cgroup {
            cgroup.destroy();
        }
        drop(run_dir);
        result
    }
}

/// Streams output and reports until every writer is gone, then interprets the reports.
fn pump(
    child: &mut Child,
    report_r: OwnedFd,
    output: &mut dyn OutputSink,
    cancel: &CancelHandle,
) -> Result<RunOutcome, SandboxError> {
    let stdout: Option<OwnedFd> = child.stdout.take().map(Into::into);
    let stderr: Option<OwnedFd> = child.stderr.take().map(Into::into);
    let mut sources: Vec<(Option<OwnedFd>, Option<Stream>, LineBuffer)> = vec![
        (stdout, Some(Stream::Stdout), LineBuffer::default()),
        (stderr, Some(Stream::Stderr), LineBuffer::default()),
        (Some(report_r), None, LineBuffer::default()),
    ];
    let mut outcome = Outcome::default();
    let mut cancelled = false;
    let mut buf = vec![0u8; 64 * 1024];
    while sources.iter().any(|s| s.0.is_some()) {
        if !cancelled && cancel.is_cancelled() {
            cancelled = true;
            // The helper is our child (no pid reuse before we wait); pid 1 dies with it
            // through PR_SET_PDEATHSIG, and with pid 1 the whole pid namespace.
            let _ = child.kill();
        }
        let ready: Vec<bool> = {
            let open: Vec<(usize, &OwnedFd)> = sources
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.0.as_ref().map(|fd| (i, fd)))
                .collect();
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|(_, fd)| PollFd::new(fd.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::from(CANCEL_POLL_MS)) {
                Ok(_) | Err(nix::Error::EINTR) => {}
                Err(e) => {
                    return Err(SandboxError::Io {
                        path: PathBuf::from("poll"),
                        source: e.into(),
                    });
                }
            }
            let mut ready = vec![false; sources.len()];
            for ((i, _), fd) in open.iter().zip(&fds) {
                ready[*i] = fd.revents().is_some_and(|r| !r.is_empty());
            }
            ready
        };
        for (i, source) in sources.iter_mut().enumerate() {
            if !ready[i] {
                continue;
            }
            let Some(fd) = source.0.as_ref() else {
                continue;
            };
            let n = match nix::unistd::read(fd, &mut buf) {
                Ok(n) => n,
                Err(nix::Error::EINTR) | Err(nix::Error::EAGAIN) => continue,
                Err(_) => 0,
            };
            let (stream, lines) = (source.1, &mut source.2);
            let mut emit = |line: &[u8]| match stream {
                Some(stream) => output.line(stream, line),
                None => outcome.apply(line),
            };
            if n == 0 {
                lines.finish(&mut emit);
                source.0 = None;
            } else {
                lines.push(&buf[..n], &mut emit);
            }
        }
    }
    let status = child.wait().map_err(|source| SandboxError::Io {
        path: PathBuf::from("waitpid"),
        source,
    })?;
    if cancelled {
        return Err(SandboxError::Cancelled);
    }
    if let Some(error) = outcome.error {
        return Err(error);
    }
    match outcome.exited {
        Some(status) => Ok(RunOutcome {
            status,
            created_stubs: outcome.stubs,
        }),
        None => Err(SandboxError::Protocol(format!(
            "sandbox init ended ({status}) without reporting the process's exit"
        ))),
    }
}
