//! The kernel filesystems a step sees: a fresh `/proc` for its pid namespace, a read-only
//! `/sys`, and a minimal `/dev` on tmpfs, with containerd's default masked and read-only
//! paths.

use std::os::fd::OwnedFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{MsFlags, mount};
use nix::sys::stat::{Mode, SFlag, makedev, mkdirat, mknodat};
use nix::unistd::symlinkat;

use super::error::SetupError;
use super::mounts::{At, apply_mount};
use super::rootpath::{TargetKind, ensure_target, open_in_root};

/// Paths hidden from the step (containerd's `defaultUnixMasks`): kernel state that leaks
/// host information or offers an attack surface.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths the step may read but not write (containerd's default read-only paths).
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Character devices in `/dev`: name, major, minor. Mode 0666 like Docker.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// Symlinks in `/dev`, as runc creates them.
const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

fn strings(options: &[&str]) -> Vec<String> {
    options.iter().map(|s| (*s).to_owned()).collect()
}

/// Mounts `fstype` at `path` inside the root, creating the directory if needed.
fn mount_in_root(
    root: &OwnedFd,
    path: &str,
    fstype: &str,
    options: &[&str],
    created: &mut Vec<String>,
) -> Result<(), SetupError> {
    let fd = ensure_target(root, path, TargetKind::Dir, created)
        .map_err(|e| SetupError::sys("create mount target", path, e))?;
    let at = At::InRoot {
        root,
        target: &fd,
        path,
    };
    apply_mount(fstype, fstype, &strings(options), &at)
}

/// Mounts `/proc`, `/sys` and `/dev` inside the root (before `pivot_root`). Must run in the
/// new pid namespace so `/proc` shows the sandbox's processes only.
pub(crate) fn mount_kernel_filesystems(
    root: &OwnedFd,
    created: &mut Vec<String>,
) -> Result<(), SetupError> {
    mount_in_root(
        root,
        "/proc",
        "proc",
        &["nosuid", "noexec", "nodev"],
        created,
    )?;
    let sys_options = ["nosuid", "noexec", "nodev", "ro"];
    if let Err(e) = mount_in_root(root, "/sys", "sysfs", &sys_options, created) {
        // sysfs refuses a new mount in some nested setups; a read-only bind of the host's
        // is what runc falls back to as well.
        if e.errno != libc::EPERM {
            return Err(e);
        }
        let fd = open_in_root(root, "/sys", OFlag::O_PATH)
            .map_err(|e| SetupError::sys("open", "/sys", e))?;
        let at = At::InRoot {
            root,
            target: &fd,
            path: "/sys",
        };
        let options = strings(&["rbind", "ro", "nosuid", "noexec", "nodev"]);
        apply_mount("bind", "/sys", &options, &at)?;
    }
    let dev_options = ["nosuid", "strictatime", "mode=755", "size=65536k"];
    mount_in_root(root, "/dev", "tmpfs", &dev_options, created)?;
    populate_dev(root)
}

/// Device nodes, symlinks and the pts/shm/mqueue mounts inside the fresh `/dev` tmpfs.
/// Nothing here is recorded as a stub: it lives on tmpfs, not in the layer.
fn populate_dev(root: &OwnedFd) -> Result<(), SetupError> {
    let dev = open_in_root(root, "/dev", OFlag::O_DIRECTORY | OFlag::O_RDONLY)
        .map_err(|e| SetupError::sys("open", "/dev", e))?;
    for &(name, major, minor) in DEVICES {
        let path = format!("/dev/{name}");
        let mode = Mode::from_bits_truncate(0o666);
        match mknodat(&dev, name, SFlag::S_IFCHR, mode, makedev(major, minor)) {
            Ok(()) => {}
            Err(Errno::EPERM) => {
                // No CAP_MKNOD (nested sandboxes): bind the host's node instead.
                let mut ignored = Vec::new();
                let fd = ensure_target(root, &path, TargetKind::File, &mut ignored)
                    .map_err(|e| SetupError::sys("create device stub", &path, e))?;
                let at = At::InRoot {
                    root,
                    target: &fd,
                    path: &path,
                };
                apply_mount("bind", &path, &strings(&["bind"]), &at)?;
            }
            Err(e) => return Err(SetupError::sys("mknod", &path, e)),
        }
    }
    for &(name, target) in DEV_SYMLINKS {
        symlinkat(target, &dev, name)
            .map_err(|e| SetupError::sys("symlink", format!("/dev/{name}"), e))?;
    }
    for dir in ["pts", "shm", "mqueue"] {
        mkdirat(&dev, dir, Mode::from_bits_truncate(0o755))
            .map_err(|e| SetupError::sys("mkdir", format!("/dev/{dir}"), e))?;
    }
    let mut ignored = Vec::new();
    let pts = [
        "nosuid",
        "noexec",
        "newinstance",
        "ptmxmode=0666",
        "mode=0620",
        "gid=5",
    ];
    mount_in_root(root, "/dev/pts", "devpts", &pts, &mut ignored)?;
    let shm = ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"];
    mount_in_root(root, "/dev/shm", "tmpfs", &shm, &mut ignored)?;
    // POSIX message queues are optional in kernels; without them the directory stays empty.
    let _ = mount_in_root(
        root,
        "/dev/mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
        &mut ignored,
    );
    Ok(())
}

/// Applies [`MASKED_PATHS`] and [`READONLY_PATHS`]. Runs after `pivot_root`, so the paths are
/// the sandbox's own; missing paths are skipped, as in runc.
pub(crate) fn restrict_kernel_paths() -> Result<(), SetupError> {
    for &path in MASKED_PATHS {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(_) => continue,
        };
        let result = if meta.is_dir() {
            mount(
                Some("tmpfs"),
                path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
        } else {
            mount(
                Some("/dev/null"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
        };
        result.map_err(|e| SetupError::sys("mask", path, e))?;
    }
    for &path in READONLY_PATHS {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mount(
            Some(path),
            path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| SetupError::sys("bind read-only path", path, e))?;
        mount(
            None::<&str>,
            path,
            None::<&str>,
            MsFlags::MS_BIND
                | MsFlags::MS_REMOUNT
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .map_err(|e| SetupError::sys("remount read-only", path, e))?;
    }
    Ok(())
}
