//! The sandbox side: what runs in the re-executed init process.
//!
//! Three processes, each single-threaded (the helper is a fresh `execve`, so `fork` in it is
//! sound; nothing here ever runs on a tokio thread):
//!
//! 1. **helper**, started by [`BuiltinExecutor`](super::BuiltinExecutor) with the marker
//!    argument: reads its [`InitConfig`] from stdin, unshares the namespaces, sets the
//!    hostname and loopback, forks pid 1 and waits for it. It stays in the host pid
//!    namespace, so its parent can kill it without any pid-reuse race; pid 1 dies with it
//!    (`PR_SET_PDEATHSIG`).
//! 2. **pid 1** of the new pid namespace: builds the filesystem view, `pivot_root`s, forks
//!    the main process, reaps every zombie, and exits as soon as the main process ends.
//!    The kernel then kills everything left in the namespace, so background processes
//!    never outlive the step.
//! 3. **main**: loads seccomp (while still privileged), cuts capabilities, switches user,
//!    and `execve`s the step's command.
//!
//! Every process reports to the executor through fd 3, one JSON [`Report`] per line; the
//! descriptor is close-on-exec, so the step's own processes never see it.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
use nix::sys::signal::{SigHandler, SigSet, Signal, signal};
use nix::sys::stat::{Mode, umask};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Gid, Pid, Uid, dup2_stdin, fork, getppid, setsid};
use serde::{Deserialize, Serialize};

use super::caps;
use super::dev;
use super::error::SetupError;
use super::mounts;
use super::namespaces;
use super::seccomp;
use super::spec::{DEFAULT_PATH, ExitStatus, Network, ProcessSpec};

/// `argv[1]` that turns a binary into the sandbox init.
pub const INIT_MARKER: &str = "__strata-sandbox-init";

/// The descriptor reports go to.
pub(crate) const REPORT_FD: i32 = 3;

/// Everything the helper needs, sent as JSON on its stdin.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InitConfig {
    /// The process to run.
    pub spec: ProcessSpec,
    /// Empty host directory to assemble the root on (only ever mounted on inside the
    /// sandbox's private mount namespace).
    pub rootfs: PathBuf,
    /// Generated files to bind: host source and target inside the root.
    pub etc_files: Vec<(PathBuf, String)>,
}

/// One message from the sandbox to the executor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Report {
    /// pid 1 exists, with this host pid (informational).
    Started(i32),
    /// Mount targets created in the root.
    Stubs(Vec<String>),
    /// A setup step failed.
    Failed(SetupError),
    /// `execve` of the step's program failed.
    Exec {
        /// argv[0].
        program: String,
        /// Why.
        reason: String,
    },
    /// The main process ended.
    Exited(ExitStatus),
}

/// Sends one report; a vanished executor is not the sandbox's problem.
fn report(msg: &Report) {
    let Ok(mut line) = serde_json::to_vec(msg) else {
        return;
    };
    line.push(b'\n');
    // SAFETY: REPORT_FD was installed by the executor and stays open for this process's
    // lifetime (it is only closed by execve, after which this code no longer runs).
    let fd = unsafe { BorrowedFd::borrow_raw(REPORT_FD) };
    let mut rest = line.as_slice();
    while !rest.is_empty() {
        match nix::unistd::write(fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
    }
}

/// Entry point for the marker argument: never returns.
pub(crate) fn run() -> ! {
    let code = match helper() {
        Ok(()) => 0,
        Err(e) => {
            report(&Report::Failed(e));
            125
        }
    };
    std::process::exit(code)
}

/// Kills this process when its parent dies, and closes the race where it already has when
/// the parent is visible (pid 1 cannot see the helper outside its namespace; if the helper
/// dies in that instant, the executor's cgroup cleanup still kills the sandbox).
fn die_with_parent(expected_parent: Option<Pid>) -> Result<(), SetupError> {
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| SetupError::op("prctl(PR_SET_PDEATHSIG)", e))?;
    if expected_parent.is_some_and(|p| getppid() != p) {
        std::process::exit(125);
    }
    Ok(())
}

fn helper() -> Result<(), SetupError> {
    let mut input = Vec::new();
    std::io::stdin()
        .read_to_end(&mut input)
        .map_err(|e| SetupError {
            op: "read init config".to_owned(),
            path: None,
            errno: e.raw_os_error().unwrap_or(0),
            detail: None,
        })?;
    let config: InitConfig = serde_json::from_slice(&input).map_err(|e| SetupError {
        op: "parse init config".to_owned(),
        path: None,
        errno: 0,
        detail: Some(e.to_string()),
    })?;
    // SAFETY: REPORT_FD is open (installed by the executor); setting a flag on it touches
    // no memory.
    let report_fd = unsafe { BorrowedFd::borrow_raw(REPORT_FD) };
    fcntl(report_fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map_err(|e| SetupError::sys("fcntl(FD_CLOEXEC)", "fd 3", e))?;

    namespaces::unshare_namespaces(config.spec.network)?;
    if config.spec.network == Network::None {
        namespaces::bring_up_loopback()?;
    }
    namespaces::set_hostname(&config.spec.hostname)?;

    // SAFETY: this process is a fresh exec of a binary whose main called the init entry
    // point before starting any thread, so it is single-threaded and fork is sound.
    match unsafe { fork() }.map_err(|e| SetupError::op("fork pid 1", e))? {
        ForkResult::Child => {
            let code = match pid1(&config) {
                Ok(code) => code,
                Err(e) => {
                    report(&Report::Failed(e));
                    125
                }
            };
            std::process::exit(code)
        }
        ForkResult::Parent { child } => {
            report(&Report::Started(child.as_raw()));
            loop {
                match waitpid(child, None) {
                    Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => return Ok(()),
                    Ok(_) | Err(nix::Error::EINTR) => continue,
                    Err(e) => return Err(SetupError::op("waitpid pid 1", e)),
                }
            }
        }
    }
}

/// pid 1: filesystem, then fork the main process and reap until it ends.
fn pid1(config: &InitConfig) -> Result<i32, SetupError> {
    die_with_parent(None)?;
    umask(Mode::empty());
    let spec = &config.spec;
    let mut stubs = Vec::new();
    mounts::make_private()?;
    let root = mounts::mount_root(&spec.root, &config.rootfs)?;
    dev::mount_kernel_filesystems(&root, &mut stubs)?;
    for (source, target) in &config.etc_files {
        mounts::bind_generated_file(&root, source, target, &mut stubs)?;
    }
    mounts::mount_extra(&root, &spec.mounts, &mut stubs)?;
    mounts::ensure_cwd(&root, &spec.cwd, spec.user.uid, spec.user.gid)?;
    drop(root);
    report(&Report::Stubs(stubs));
    mounts::enter_root(&config.rootfs)?;
    dev::restrict_kernel_paths()?;
    let filter = seccomp::default_filter()?;

    let me = nix::unistd::getpid();
    // SAFETY: pid 1 is a fork of the single-threaded helper, hence single-threaded.
    let main = match unsafe { fork() }.map_err(|e| SetupError::op("fork main process", e))? {
        ForkResult::Child => {
            let err = exec_main(spec, &filter, me);
            report(&err);
            std::process::exit(match &err {
                Report::Exec { reason, .. } if reason.contains("not found") => 127,
                Report::Exec { .. } => 126,
                _ => 125,
            })
        }
        ForkResult::Parent { child } => child,
    };
    loop {
        match waitpid(None::<Pid>, None) {
            Ok(WaitStatus::Exited(pid, code)) if pid == main => {
                report(&Report::Exited(ExitStatus::Exited(code)));
                return Ok(code);
            }
            Ok(WaitStatus::Signaled(pid, sig, _)) if pid == main => {
                report(&Report::Exited(ExitStatus::Signaled(sig as i32)));
                return Ok(128 + sig as i32);
            }
            // Reaped an orphan, or interrupted: keep going.
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(SetupError::op("waitpid", e)),
        }
    }
}

/// The main process: drop privileges and exec. Returns only on failure, with the report.
fn exec_main(spec: &ProcessSpec, filter: &[libc::sock_filter], pid1: Pid) -> Report {
    match prepare_main(spec, filter, pid1) {
        Ok((path, argv, env)) => {
            let err = nix::unistd::execve(&path, &argv, &env).err();
            Report::Exec {
                program: spec.argv.first().cloned().unwrap_or_default(),
                reason: err.map(|e| e.desc().to_lowercase()).unwrap_or_default(),
            }
        }
        Err(report) => report,
    }
}

type ExecArgs = (CString, Vec<CString>, Vec<CString>);

fn prepare_main(
    spec: &ProcessSpec,
    filter: &[libc::sock_filter],
    pid1: Pid,
) -> Result<ExecArgs, Report> {
    let failed = Report::Failed;
    die_with_parent(Some(pid1)).map_err(failed)?;
    // The Rust runtime ignores SIGPIPE and exec keeps ignored signals: restore defaults so
    // `yes | head` behaves as in any shell.
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no handler code in this process.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
    }
    let _ = SigSet::empty().thread_set_mask();
    setsid().map_err(|e| failed(SetupError::op("setsid", e)))?;
    let null = open(
        "/dev/null",
        OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| failed(SetupError::sys("open", "/dev/null", e)))?;
    dup2_stdin(&null).map_err(|e| failed(SetupError::sys("dup2 stdin", "/dev/null", e)))?;
    drop::<OwnedFd>(null);
    nix::unistd::chdir(spec.cwd.as_str())
        .map_err(|e| failed(SetupError::sys("chdir", &spec.cwd, e)))?;

    // Loaded while still holding CAP_SYS_ADMIN, so no_new_privs stays off (as in Docker);
    // the profile allows every call below.
    seccomp::install(filter).map_err(failed)?;
    let mask = caps::default_capability_mask();
    caps::restrict_bounding_set(mask).map_err(failed)?;
    nix::sys::prctl::set_keepcaps(true)
        .map_err(|e| failed(SetupError::op("PR_SET_KEEPCAPS", e)))?;
    let ids = &spec.user;
    let groups: Vec<Gid> = ids
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    nix::unistd::setgroups(&groups).map_err(|e| failed(SetupError::op("setgroups", e)))?;
    let gid = Gid::from_raw(ids.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| failed(SetupError::op("setresgid", e)))?;
    let uid = Uid::from_raw(ids.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| failed(SetupError::op("setresuid", e)))?;
    let effective = if ids.uid == 0 { mask } else { 0 };
    caps::set_capabilities(effective, mask, 0).map_err(failed)?;
    umask(Mode::from_bits_truncate(0o022));

    let program = spec.argv.first().cloned().unwrap_or_default();
    let path = find_program(&program, &spec.env)?;
    let cstrings = |v: &[String]| -> Result<Vec<CString>, Report> {
        v.iter()
            .map(|s| CString::new(s.as_bytes()))
            .collect::<Result<_, _>>()
            .map_err(|_| Report::Exec {
                program: program.clone(),
                reason: "argument or environment contains a NUL byte".to_owned(),
            })
    };
    Ok((path, cstrings(&spec.argv)?, cstrings(&spec.env)?))
}

/// Looks `program` up in the step's `PATH` (not the init's), like Docker's exec.
fn find_program(program: &str, env: &[String]) -> Result<CString, Report> {
    let not_found = |reason: &str| Report::Exec {
        program: program.to_owned(),
        reason: reason.to_owned(),
    };
    let to_c = |p: &str| CString::new(p).map_err(|_| not_found("name contains a NUL byte"));
    if program.is_empty() {
        return Err(not_found("empty command"));
    }
    if program.contains('/') {
        return to_c(program);
    }
    let path_var = env
        .iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{}/{program}", dir.trim_end_matches('/'));
        let Ok(meta) = std::fs::metadata(&candidate) else {
            continue;
        };
        if meta.is_file()
            && nix::unistd::access(candidate.as_str(), nix::unistd::AccessFlags::X_OK).is_ok()
        {
            return to_c(&candidate);
        }
    }
    Err(not_found("executable file not found in $PATH"))
}

/// Writes the init config to the helper's stdin.
pub(crate) fn send_config(mut stdin: impl Write, config: &InitConfig) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(config).map_err(std::io::Error::other)?;
    stdin.write_all(&bytes)
}

/// Makes `fd` the child's [`REPORT_FD`]; called between fork and exec, so it only makes
/// async-signal-safe syscalls.
pub(crate) fn install_report_fd(fd: i32) -> std::io::Result<()> {
    // SAFETY: dup2/fcntl are async-signal-safe and take plain integers.
    unsafe {
        if fd == REPORT_FD {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        } else if libc::dup2(fd, REPORT_FD) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
