//! Path resolution confined to an image's root.
//!
//! A hostile image can make `/etc`, `/proc` or a mount target a symlink to `/` or `../../..`.
//! Following it from the host would read host files or mount over host paths, so every path
//! inside a root is resolved with `openat2(RESOLVE_IN_ROOT)`: the kernel treats the root as
//! `/` for `..` and absolute symlinks (Linux 5.6+). Mounts then target the resulting file
//! descriptor through `/proc/self/fd/N`, as runc does, so nothing is resolved twice.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{Mode, mkdirat};

/// Opens `path` (absolute or relative, interpreted inside the root) below `root`.
pub(crate) fn open_in_root<Fd: AsFd>(root: Fd, path: &str, flags: OFlag) -> nix::Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    openat2(root, rel, how)
}

/// The path through which a syscall that takes a path reaches exactly this descriptor.
pub(crate) fn fd_path<Fd: AsRawFd>(fd: &Fd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// What a mount target should be when it has to be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// A directory.
    Dir,
    /// An empty regular file (for file bind mounts).
    File,
}

/// Opens the mount target `path` inside `root` as an `O_PATH` descriptor, creating it and any
/// missing parent directories first. Each path created is appended to `created` (as an
/// absolute path inside the root, parents first) so the caller can drop these stubs from the
/// layer.
pub(crate) fn ensure_target<Fd: AsFd>(
    root: Fd,
    path: &str,
    kind: TargetKind,
    created: &mut Vec<String>,
) -> nix::Result<OwnedFd> {
    let root = root.as_fd();
    match open_in_root(root, path, OFlag::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let components: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let mut so_far = String::new();
    for (i, component) in components.iter().enumerate() {
        if *component == ".." {
            // `..` in a target is resolved by the kernel inside the root; building it up
            // component-wise would be ambiguous, so refuse it.
            return Err(Errno::EINVAL);
        }
        let parent = open_in_root(root, &so_far, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
        let last = i + 1 == components.len();
        so_far.push('/');
        so_far.push_str(component);
        match open_in_root(root, &so_far, OFlag::O_PATH) {
            Ok(fd) if last => return Ok(fd),
            Ok(_) => continue,
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        if last && kind == TargetKind::File {
            // O_CREAT|O_EXCL does not follow a dangling symlink planted at the name.
            let how = OpenHow::new()
                .flags(OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_WRONLY | OFlag::O_CLOEXEC)
                .mode(Mode::from_bits_truncate(0o644));
            drop(openat2(&parent, *component, how)?);
        } else {
            mkdirat(&parent, *component, Mode::from_bits_truncate(0o755))?;
        }
        created.push(so_far.clone());
        if last {
            return open_in_root(root, &so_far, OFlag::O_PATH);
        }
    }
    // `path` was `/`: it exists by definition.
    open_in_root(root, "/", OFlag::O_PATH)
}

/// Reads a small regular file inside `root`, refusing FIFOs, devices and anything larger
/// than `limit` bytes (an image must not hang or exhaust the builder).
pub(crate) fn read_in_root<Fd: AsFd>(root: Fd, path: &str, limit: u64) -> nix::Result<Vec<u8>> {
    use std::io::Read;
    let fd = open_in_root(root, path, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
    let file = std::fs::File::from(fd);
    let meta = file.metadata().map_err(io_errno)?;
    if !meta.is_file() {
        return Err(Errno::EINVAL);
    }
    if meta.len() > limit {
        return Err(Errno::EFBIG);
    }
    let mut buf = Vec::with_capacity(meta.len() as usize);
    file.take(limit).read_to_end(&mut buf).map_err(io_errno)?;
    Ok(buf)
}

fn io_errno(e: std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
