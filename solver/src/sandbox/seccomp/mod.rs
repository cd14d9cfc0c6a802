//! Docker's default seccomp profile, as data, compiled to a classic BPF filter.
//!
//! The profile below is moby's `profiles/seccomp/default.json` as it applies to a process
//! holding exactly Docker's default capabilities ([`super::caps`]): rules that Docker only
//! adds for `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, `CAP_SYS_TIME`... are left out, rules Docker
//! drops for `CAP_SYS_ADMIN` are kept. Semantics:
//!
//! - a listed syscall whose conditions hold gets the rule's action (usually allow);
//! - any other syscall the profile or the kernel tables know gets `EPERM`;
//! - a syscall numbered above everything the profile knows (newer than the profile) gets
//!   `ENOSYS`, as runc does, so that libcs fall back to older syscalls;
//! - `clone3` gets `ENOSYS` so glibc falls back to `clone`, whose namespace flags are checked.
//!
//! Deliberate differences: syscalls from a foreign ABI (i386 `int 0x80`, x32, 32-bit arm)
//! get `ENOSYS` instead of being allowed through Docker's sub-architectures; 32-bit binaries
//! therefore do not run in a step. Only x86_64 and aarch64 have tables.

mod bpf;
mod syscalls;

use super::error::SetupError;

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Let the syscall through.
    Allow,
    /// Fail it with this errno.
    Errno(u32),
}

/// A condition on one 64-bit syscall argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ArgCheck {
    /// `arg == value`.
    Eq(u64),
    /// `arg != value`.
    Ne(u64),
    /// `arg & mask == value`.
    MaskedEq {
        /// Bits compared.
        mask: u64,
        /// Expected value of those bits.
        value: u64,
    },
}

/// One profile rule: every argument condition must hold (logical and); several rules for the
/// same syscall are tried in order (logical or).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rule {
    /// Syscall names, as in the kernel tables.
    pub names: &'static [&'static str],
    /// What happens when the rule matches.
    pub action: Action,
    /// `(argument index, check)` pairs.
    pub args: &'static [(u8, ArgCheck)],
}

const fn allow(names: &'static [&'static str]) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args: &[],
    }
}

const fn allow_if(names: &'static [&'static str], args: &'static [(u8, ArgCheck)]) -> Rule {
    Rule {
        names,
        action: Action::Allow,
        args,
    }
}

/// The namespace flags `clone` may not use without `CAP_SYS_ADMIN` (`CLONE_NEWNS | NEWUTS |
/// NEWIPC | NEWUSER | NEWPID | NEWNET | NEWCGROUP`).
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// `AF_VSOCK`: Docker forbids vsock sockets (they reach the hypervisor, not the network).
const AF_VSOCK: u64 = 40;

/// The profile. Names that do not exist on the running architecture are skipped.
pub(crate) const DEFAULT_PROFILE: &[Rule] = &[
    allow(&[
        "accept",
        "accept4",
        "access",
        "adjtimex",
        "alarm",
        "bind",
        "brk",
        "capget",
        "capset",
        "chdir",
        "chmod",
        "chown",
        "chown32",
        "clock_adjtime",
        "clock_adjtime64",
        "clock_getres",
        "clock_getres_time64",
        "clock_gettime",
        "clock_gettime64",
        "clock_nanosleep",
        "clock_nanosleep_time64",
        "close",
        "close_range",
        "connect",
        "copy_file_range",
        "creat",
        "dup",
        "dup2",
        "dup3",
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "epoll_wait_old",
        "eventfd",
        "eventfd2",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "faccessat",
        "faccessat2",
        "fadvise64",
        "fadvise64_64",
        "fallocate",
        "fanotify_mark",
        "fchdir",
        "fchmod",
        "fchmodat",
        "fchown",
        "fchown32",
        "fchownat",
        "fcntl",
        "fcntl64",
        "fdatasync",
        "fgetxattr",
        "flistxattr",
        "flock",
        "fork",
        "fremovexattr",
        "fsetxattr",
        "fstat",
        "fstat64",
        "fstatat64",
        "fstatfs",
        "fstatfs64",
        "fsync",
        "ftruncate",
        "ftruncate64",
        "futex",
        "futex_time64",
        "futex_waitv",
        "futimesat",
        "getcpu",
        "getcwd",
        "getdents",
        "getdents64",
        "getegid",
        "getegid32",
        "geteuid",
        "geteuid32",
        "getgid",
        "getgid32",
        "getgroups",
        "getgroups32",
        "getitimer",
        "getpeername",
        "getpgid",
        "getpgrp",
        "getpid",
        "getppid",
        "getpriority",
        "getrandom",
        "getresgid",
        "getresgid32",
        "getresuid",
        "getresuid32",
        "getrlimit",
        "get_robust_list",
        "getrusage",
        "getsid",
        "getsockname",
        "getsockopt",
        "get_thread_area",
        "gettid",
        "gettimeofday",
        "getuid",
        "getuid32",
        "getxattr",
        "inotify_add_watch",
        "inotify_init",
        "inotify_init1",
        "inotify_rm_watch",
        "io_cancel",
        "ioctl",
        "io_destroy",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
        "ioprio_get",
        "ioprio_set",
        "io_setup",
        "io_submit",
        "io_uring_enter",
        "io_uring_register",
        "io_uring_setup",
        "ipc",
        "kill",
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
        "lchown",
        "lchown32",
        "lgetxattr",
        "link",
        "linkat",
        "listen",
        "listxattr",
        "llistxattr",
        "_llseek",
        "lremovexattr",
        "lseek",
        "lsetxattr",
        "lstat",
        "lstat64",
        "madvise",
        "membarrier",
        "memfd_create",
        "memfd_secret",
        "mincore",
        "mkdir",
        "mkdirat",
        "mknod",
        "mknodat",
        "mlock",
        "mlock2",
        "mlockall",
        "mmap",
        "mmap2",
        "mprotect",
        "mq_getsetattr",
        "mq_notify",
        "mq_open",
        "mq_timedreceive",
        "mq_timedreceive_time64",
        "mq_timedsend",
        "mq_timedsend_time64",
        "mq_unlink",
        "mremap",
        "msgctl",
        "msgget",
        "msgrcv",
        "msgsnd",
        "msync",
        "munlock",
        "munlockall",
        "munmap",
        "name_to_handle_at",
        "nanosleep",
        "newfstatat",
        "_newselect",
        "open",
        "openat",
        "openat2",
        "pause",
        "pidfd_open",
        "pidfd_send_signal",
        "pipe",
        "pipe2",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "poll",
        "ppoll",
        "ppoll_time64",
        "prctl",
        "pread64",
        "preadv",
        "preadv2",
        "prlimit64",
        "process_mrelease",
        "pselect6",
        "pselect6_time64",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "read",
        "readahead",
        "readlink",
        "readlinkat",
        "readv",
        "recv",
        "recvfrom",
        "recvmmsg",
        "recvmmsg_time64",
        "recvmsg",
        "remap_file_pages",
        "removexattr",
        "rename",
        "renameat",
        "renameat2",
        "restart_syscall",
        "rmdir",
        "rseq",
        "rt_sigaction",
        "rt_sigpending",
        "rt_sigprocmask",
        "rt_sigqueueinfo",
        "rt_sigreturn",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo",
        "sched_getaffinity",
        "sched_getattr",
        "sched_getparam",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_getscheduler",
        "sched_rr_get_interval",
        "sched_rr_get_interval_time64",
        "sched_setaffinity",
        "sched_setattr",
        "sched_setparam",
        "sched_setscheduler",
        "sched_yield",
        "seccomp",
        "select",
        "semctl",
        "semget",
        "semop",
        "semtimedop",
        "semtimedop_time64",
        "send",
        "sendfile",
        "sendfile64",
        "sendmmsg",
        "sendmsg",
        "sendto",
        "setfsgid",
        "setfsgid32",
        "setfsuid",
        "setfsuid32",
        "setgid",
        "setgid32",
        "setgroups",
        "setgroups32",
        "setitimer",
        "setpgid",
        "setpriority",
        "setregid",
        "setregid32",
        "setresgid",
        "setresgid32",
        "setresuid",
        "setresuid32",
        "setreuid",
        "setreuid32",
        "setrlimit",
        "set_robust_list",
        "setsid",
        "setsockopt",
        "set_thread_area",
        "set_tid_address",
        "setuid",
        "setuid32",
        "setxattr",
        "shmat",
        "shmctl",
        "shmdt",
        "shmget",
        "shutdown",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "sigprocmask",
        "sigreturn",
        "socketcall",
        "socketpair",
        "splice",
        "stat",
        "stat64",
        "statfs",
        "statfs64",
        "statx",
        "symlink",
        "symlinkat",
        "sync",
        "sync_file_range",
        "syncfs",
        "sysinfo",
        "tee",
        "tgkill",
        "time",
        "timer_create",
        "timer_delete",
        "timer_getoverrun",
        "timer_gettime",
        "timer_gettime64",
        "timer_settime",
        "timer_settime64",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_gettime64",
        "timerfd_settime",
        "timerfd_settime64",
        "times",
        "tkill",
        "truncate",
        "truncate64",
        "ugetrlimit",
        "umask",
        "uname",
        "unlink",
        "unlinkat",
        "utime",
        "utimensat",
        "utimensat_time64",
        "utimes",
        "vfork",
        "vmsplice",
        "wait4",
        "waitid",
        "waitpid",
        "write",
        "writev",
    ]),
    // Docker: "minKernel 4.8" (ptrace could bypass seccomp before 4.8).
    allow(&["process_vm_readv", "process_vm_writev", "ptrace"]),
    allow_if(&["socket"], &[(0, ArgCheck::Ne(AF_VSOCK))]),
    allow_if(&["personality"], &[(0, ArgCheck::Eq(0x0))]),
    allow_if(&["personality"], &[(0, ArgCheck::Eq(0x0008))]),
    allow_if(&["personality"], &[(0, ArgCheck::Eq(0x20000))]),
    allow_if(&["personality"], &[(0, ArgCheck::Eq(0x20008))]),
    allow_if(&["personality"], &[(0, ArgCheck::Eq(0xffff_ffff))]),
    // Architecture-specific names; absent elsewhere, so listing them all is harmless.
    allow(&[
        "arm_fadvise64_64",
        "arm_sync_file_range",
        "sync_file_range2",
        "breakpoint",
        "cacheflush",
        "set_tls",
    ]),
    allow(&["arch_prctl", "modify_ldt"]),
    // Without CAP_SYS_ADMIN: clone without namespace flags, clone3 not at all (its flags
    // live in memory that BPF cannot read), so that libc falls back to clone.
    allow_if(
        &["clone"],
        &[(
            0,
            ArgCheck::MaskedEq {
                mask: CLONE_NAMESPACE_FLAGS,
                value: 0,
            },
        )],
    ),
    Rule {
        names: &["clone3"],
        action: Action::Errno(libc::ENOSYS as u32),
        args: &[],
    },
    // Docker adds this for CAP_SYS_CHROOT, which is in the default set.
    allow(&["chroot"]),
];

/// The running architecture: its `AUDIT_ARCH_*` value and syscall table.
fn native_arch() -> Option<(u32, &'static [(&'static str, u32)])> {
    if cfg!(target_arch = "x86_64") {
        Some((0xC000_003E, syscalls::X86_64))
    } else if cfg!(target_arch = "aarch64") {
        Some((0xC000_00B7, syscalls::AARCH64))
    } else {
        None
    }
}

/// Compiles [`DEFAULT_PROFILE`] for the running architecture.
pub(crate) fn default_filter() -> Result<Vec<libc::sock_filter>, SetupError> {
    let (arch, table) = native_arch().ok_or_else(|| SetupError {
        op: "seccomp".to_owned(),
        path: None,
        errno: libc::ENOSYS,
        detail: Some(format!(
            "no syscall table for `{}`; hint: only x86_64 and aarch64 are supported",
            std::env::consts::ARCH
        )),
    })?;
    bpf::compile(arch, table, DEFAULT_PROFILE).map_err(|detail| SetupError {
        op: "seccomp compile".to_owned(),
        path: None,
        errno: 0,
        detail: Some(detail),
    })
}

/// Installs `filter` on the calling thread (inherited by children and kept across
/// `execve`). The caller must hold `CAP_SYS_ADMIN` or have set `no_new_privs`.
pub(crate) fn install(filter: &[libc::sock_filter]) -> Result<(), SetupError> {
    let prog = libc::sock_fprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: PR_SET_SECCOMP copies the program the kernel reads from `prog`, which points at
    // `filter`, live for the whole call; nothing is retained afterwards.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(SetupError::op("prctl(PR_SET_SECCOMP)", nix::Error::last()));
    }
    Ok(())
}
