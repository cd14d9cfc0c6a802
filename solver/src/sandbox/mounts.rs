//! Building the sandbox's filesystem view: the root from its mount descriptions, the
//! generated `/etc` files and the step's extra mounts, then `pivot_root` into it.
//!
//! Runs in the sandbox's pid 1, inside its private mount namespace, before the root is
//! entered; every path inside the root goes through [`rootpath`](super::rootpath).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{Gid, Uid, chdir, fchownat, pivot_root};

use super::error::SetupError;
use super::rootpath::{TargetKind, ensure_target, fd_path, open_in_root};
use super::spec::{Mount, MountKind, RootMount};

/// `mount(2)` data must fit in one page.
const MAX_MOUNT_DATA: usize = 4095;

/// Splits mount(8)-style options into flags and filesystem data, like containerd's
/// `parseMountOptions`. Propagation flags are ignored: everything here is private.
pub(crate) fn parse_options(options: &[String]) -> (MsFlags, bool, String) {
    let mut flags = MsFlags::empty();
    let mut recursive_bind = false;
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        let (set, clear) = match option.as_str() {
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
            "rbind" => {
                recursive_bind = true;
                (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty())
            }
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                (MsFlags::empty(), MsFlags::empty())
            }
            other => {
                data.push(other);
                (MsFlags::empty(), MsFlags::empty())
            }
        };
        flags = (flags | set) - clear;
    }
    (flags, recursive_bind, data.join(","))
}

/// Where a mount goes: a host path (the root's mountpoint) or a path inside the root.
pub(crate) enum At<'a> {
    /// A host path, trusted.
    Host(&'a str),
    /// A path inside the root, already opened (and created) by the caller.
    InRoot {
        /// The root directory.
        root: &'a OwnedFd,
        /// `O_PATH` descriptor of the target before mounting.
        target: &'a OwnedFd,
        /// The target path inside the root, for reopening and messages.
        path: &'a str,
    },
}

impl At<'_> {
    /// The path naming the target: before mounting, the opened directory; after mounting
    /// (for a remount), a fresh resolution that lands on the new mount's root. The
    /// descriptor, if any, must stay open while the path is used.
    fn path(&self, mounted: bool) -> Result<(String, Option<OwnedFd>), SetupError> {
        match self {
            At::Host(path) => Ok(((*path).to_owned(), None)),
            At::InRoot { target, .. } if !mounted => Ok((fd_path(*target), None)),
            At::InRoot { root, path, .. } => {
                let fd = open_in_root(*root, path, OFlag::O_PATH)
                    .map_err(|e| SetupError::sys("reopen mount target", path, e))?;
                Ok((fd_path(&fd), Some(fd)))
            }
        }
    }

    fn name(&self) -> &str {
        match self {
            At::Host(_) => "/",
            At::InRoot { path, .. } => path,
        }
    }
}

/// Mounts `source` at `at` with mount(8) options; binds are remounted for `ro` & co.
pub(crate) fn apply_mount(
    fstype: &str,
    source: &str,
    options: &[String],
    at: &At<'_>,
) -> Result<(), SetupError> {
    let what = at.name();
    let (flags, _, data) = parse_options(options);
    let is_bind = fstype == "bind" || flags.contains(MsFlags::MS_BIND);
    let (target, _keep) = at.path(false)?;
    if is_bind {
        let bind_flags = MsFlags::MS_BIND | (flags & MsFlags::MS_REC);
        mount(
            Some(source),
            target.as_str(),
            None::<&str>,
            bind_flags,
            None::<&str>,
        )
        .map_err(|e| SetupError::sys(format!("bind mount `{source}` on"), what, e))?;
        let extra = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
        if !extra.is_empty() {
            let (target, _keep) = at.path(true)?;
            mount(
                None::<&str>,
                target.as_str(),
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                None::<&str>,
            )
            .map_err(|e| SetupError::sys("remount bind", what, e))?;
        }
        return Ok(());
    }
    let (data, _cwd_guard) = shorten_overlay_data(fstype, &data)?;
    mount(
        Some(source),
        target.as_str(),
        Some(fstype),
        flags,
        (!data.is_empty()).then_some(data.as_str()),
    )
    .map_err(|e| SetupError::sys(format!("mount {fstype} on"), what, e).with_detail(data))
}

/// When overlay options exceed a page (many layers with long paths), rewrites the paths
/// relative to their longest common directory and `chdir`s there, the way containerd does.
/// The returned guard restores `/` as working directory.
fn shorten_overlay_data(
    fstype: &str,
    data: &str,
) -> Result<(String, Option<CwdReset>), SetupError> {
    if fstype != "overlay" || data.len() <= MAX_MOUNT_DATA {
        return Ok((data.to_owned(), None));
    }
    let mut paths: Vec<&str> = Vec::new();
    for opt in data.split(',') {
        if let Some((key, value)) = opt.split_once('=')
            && matches!(key, "lowerdir" | "upperdir" | "workdir")
        {
            paths.extend(value.split(':'));
        }
    }
    let mut common: PathBuf = paths
        .first()
        .and_then(|p| Path::new(p).parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    while !paths.iter().all(|p| Path::new(p).starts_with(&common)) {
        if !common.pop() {
            break;
        }
    }
    let prefix = format!("{}/", common.display().to_string().trim_end_matches('/'));
    let rewritten: Vec<String> = data
        .split(',')
        .map(|opt| match opt.split_once('=') {
            Some((key, value)) if matches!(key, "lowerdir" | "upperdir" | "workdir") => {
                let rel: Vec<&str> = value
                    .split(':')
                    .map(|p| p.strip_prefix(prefix.as_str()).unwrap_or(p))
                    .collect();
                format!("{key}={}", rel.join(":"))
            }
            _ => opt.to_owned(),
        })
        .collect();
    let data = rewritten.join(",");
    if data.len() > MAX_MOUNT_DATA {
        return Err(SetupError {
            op: "mount overlay".to_owned(),
            path: None,
            errno: libc::E2BIG,
            detail: Some(format!(
                "{} bytes of options; hint: squash layers or shorten the state path",
                data.len()
            )),
        });
    }
    chdir(&common).map_err(|e| SetupError::sys("chdir", common.display(), e))?;
    Ok((data, Some(CwdReset)))
}

/// Returns the process to `/` when dropped.
struct CwdReset;

impl Drop for CwdReset {
    fn drop(&mut self) {
        let _ = chdir("/");
    }
}

/// Makes every mount in this (new) namespace private, so nothing leaks to the host.
pub(crate) fn make_private() -> Result<(), SetupError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| SetupError::sys("make mounts private", "/", e))
}

/// Mounts the root descriptions on `rootfs` in order and opens the result.
pub(crate) fn mount_root(root: &[RootMount], rootfs: &Path) -> Result<OwnedFd, SetupError> {
    let target = rootfs.display().to_string();
    for m in root {
        apply_mount(&m.fstype, &m.source, &m.options, &At::Host(&target))?;
    }
    nix::fcntl::open(
        rootfs,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| SetupError::sys("open root", &target, e))
}

/// Bind-mounts a generated file (hosts, resolv.conf, hostname) read-only at `target`.
pub(crate) fn bind_generated_file(
    root: &OwnedFd,
    source: &Path,
    target: &str,
    created: &mut Vec<String>,
) -> Result<(), SetupError> {
    let options = ["bind".to_owned(), "ro".to_owned()];
    let fd = ensure_target(root, target, TargetKind::File, created)
        .map_err(|e| SetupError::sys("create mount target", target, e))?;
    let at = At::InRoot {
        root,
        target: &fd,
        path: target,
    };
    apply_mount("bind", &source.display().to_string(), &options, &at)
}

/// Performs the step's extra mounts.
pub(crate) fn mount_extra(
    root: &OwnedFd,
    mounts: &[Mount],
    created: &mut Vec<String>,
) -> Result<(), SetupError> {
    for m in mounts {
        if !m.target.starts_with('/') {
            return Err(SetupError {
                op: "mount".to_owned(),
                path: Some(m.target.clone()),
                errno: libc::EINVAL,
                detail: Some("target must be absolute".to_owned()),
            });
        }
        match &m.kind {
            MountKind::Bind { source, readonly } => {
                let kind = match std::fs::metadata(source) {
                    Ok(meta) if meta.is_dir() => TargetKind::Dir,
                    Ok(_) => TargetKind::File,
                    Err(e) => {
                        return Err(SetupError::sys(
                            "stat bind source",
                            source.display(),
                            nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                        ));
                    }
                };
                let fd = ensure_target(root, &m.target, kind, created)
                    .map_err(|e| SetupError::sys("create mount target", &m.target, e))?;
                let mut options = vec!["rbind".to_owned()];
                if *readonly {
                    options.push("ro".to_owned());
                }
                let source = source.display().to_string();
                let at = At::InRoot {
                    root,
                    target: &fd,
                    path: &m.target,
                };
                apply_mount("bind", &source, &options, &at)?;
            }
            MountKind::Tmpfs { size, mode } => {
                let fd = ensure_target(root, &m.target, TargetKind::Dir, created)
                    .map_err(|e| SetupError::sys("create mount target", &m.target, e))?;
                let mut options = vec![
                    "nosuid".to_owned(),
                    "nodev".to_owned(),
                    format!("mode={:o}", mode.unwrap_or(0o1777)),
                ];
                if let Some(size) = size {
                    options.push(format!("size={size}"));
                }
                let at = At::InRoot {
                    root,
                    target: &fd,
                    path: &m.target,
                };
                apply_mount("tmpfs", "tmpfs", &options, &at)?;
            }
        }
    }
    Ok(())
}

/// Creates the working directory when missing, owned by the step's user like BuildKit does;
/// it is part of the step's result, not a stub.
pub(crate) fn ensure_cwd(root: &OwnedFd, cwd: &str, uid: u32, gid: u32) -> Result<(), SetupError> {
    let mut created = Vec::new();
    ensure_target(root, cwd, TargetKind::Dir, &mut created)
        .map_err(|e| SetupError::sys("create working directory", cwd, e))?;
    for path in created {
        let fd = open_in_root(root, &path, OFlag::O_PATH)
            .map_err(|e| SetupError::sys("open working directory", &path, e))?;
        fchownat(
            fd.as_fd(),
            "",
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            nix::fcntl::AtFlags::AT_EMPTY_PATH,
        )
        .map_err(|e| SetupError::sys("chown working directory", &path, e))?;
    }
    Ok(())
}

/// Enters the root: `pivot_root(".", ".")` then lazily detaches the old root stacked on top,
/// so no path leads back to the host (runc's trick; needs no directory inside the root).
pub(crate) fn enter_root(rootfs: &Path) -> Result<(), SetupError> {
    chdir(rootfs).map_err(|e| SetupError::sys("chdir", rootfs.display(), e))?;
    pivot_root(".", ".").map_err(|e| SetupError::sys("pivot_root", rootfs.display(), e))?;
    // The old root is now mounted over ".": make it private before detaching so the
    // unmount cannot propagate anywhere.
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| SetupError::sys("make old root private", "/", e))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| SetupError::sys("detach old root", "/", e))?;
    chdir("/").map_err(|e| SetupError::sys("chdir", "/", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["ro", "nosuid", "lowerdir=/a:/b", "rw", "upperdir=/u"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, rec, data) = parse_options(&opts);
        assert_eq!(flags, MsFlags::MS_NOSUID);
        assert!(!rec);
        assert_eq!(data, "lowerdir=/a:/b,upperdir=/u");
    }
}
