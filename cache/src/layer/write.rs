//! Turning an overlayfs upperdir (a step's diff) into a reproducible OCI layer tar.
//!
//! The walk is depth-first from the diff root, siblings in bytewise order of their tar
//! names, so parents come before children and the same tree always gives the same
//! bytes. Overlay whiteouts become `.wh.<name>` files, an opaque directory is followed
//! immediately by its `.wh..wh..opq` marker, files sharing an inode become tar
//! hardlinks to the first path written, and `trusted.overlay.*` never leaves the host.

use std::collections::{BTreeSet, HashMap};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::error::LayerError;
use super::safe_path::{list_dir, open_root, open_subdir, proc_path};
use super::tar_writer::{Header, Kind, TarWriter};
use super::whiteout::{
    OPAQUE_MARKER, OVERLAY_OPAQUE, OVERLAY_WHITEOUT, WHITEOUT_PREFIX, is_overlay_private_xattr,
};

/// Xattrs that describe the host rather than the content, never written to a layer.
const HOST_XATTRS: &[&str] = &["security.selinux"];
/// Overlay xattrs that mean the upperdir depends on its lowerdirs.
const NON_SELF_CONTAINED: &[&str] = &["trusted.overlay.redirect", "trusted.overlay.metacopy"];

/// Options of [`write_layer`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `SOURCE_DATE_EPOCH`: every mtime later than this is written as this, so builds
    /// at different times give identical layers. `None` keeps the files' mtimes.
    pub source_date_epoch: Option<i64>,
    /// Paths relative to the diff root (e.g. `etc/hosts`, `etc/resolv.conf`) of mount
    /// stubs the sandbox created. Such an entry is left out only if it is still a stub:
    /// an empty regular file, or a directory holding nothing but excluded stubs. If the
    /// step put real content there, it is kept, because it is then the user's.
    pub exclude: BTreeSet<PathBuf>,
}

/// Counts of what a layer holds, for logs, progress and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerStats {
    /// Tar entries written (including whiteouts and opaque markers).
    pub entries: u64,
    /// Regular files with content.
    pub files: u64,
    /// Directories.
    pub dirs: u64,
    /// Symlinks.
    pub symlinks: u64,
    /// Hardlink entries (second and later names of an inode).
    pub hardlinks: u64,
    /// Device nodes and FIFOs.
    pub devices: u64,
    /// `.wh.<name>` entries.
    pub whiteouts: u64,
    /// `.wh..wh..opq` entries.
    pub opaque_dirs: u64,
    /// Bytes of regular file content.
    pub content_bytes: u64,
    /// Mount stubs left out.
    pub excluded: u64,
}

/// Writes the overlay upperdir `diff_dir` as an uncompressed OCI layer tar to `out`.
///
/// `out` is typically a [`Compressor`](super::Compressor), so the tar is compressed and
/// both digests computed as it is produced, with nothing buffered in memory or on disk.
/// The overlay must be mounted with `redirect_dir=off,metacopy=off` (the default for
/// a fresh upperdir); an upperdir using either is refused with
/// [`LayerError::OverlayFeature`].
pub fn write_layer(
    diff_dir: &Path,
    out: impl Write,
    opts: WriteOptions,
) -> Result<LayerStats, LayerError> {
    let root = open_root(diff_dir)?;
    let mut w = Walker {
        tar: TarWriter::new(out),
        opts,
        stats: LayerStats::default(),
        links: HashMap::new(),
    };
    w.dir_children(root.as_fd(), Path::new(""))?;
    w.tar.finish().map_err(LayerError::Output)?;
    tracing::debug!(diff = %diff_dir.display(), stats = ?w.stats, "layer written");
    Ok(w.stats)
}

/// One child of a directory, as it will appear in the tar.
struct Child {
    /// The name in the tar (`.wh.<name>` for whiteouts).
    tar_name: OsString,
    name: OsString,
    st: Stat,
    whiteout: bool,
}

struct Walker<W: Write> {
    tar: TarWriter<W>,
    opts: WriteOptions,
    stats: LayerStats,
    /// (dev, ino) of multiply-linked files to the first tar name written for them.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> Walker<W> {
    fn dir_children(&mut self, dir: BorrowedFd<'_>, rel: &Path) -> Result<(), LayerError> {
        let mut children = Vec::new();
        for name in list_dir(dir, rel)? {
            let path = rel.join(&name);
            let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| LayerError::errno("stat", &path, e))?;
            let ftype = FileType::from_raw_mode(st.st_mode);
            let whiteout = match ftype {
                FileType::CharacterDevice => st.st_rdev == 0,
                FileType::RegularFile if st.st_size == 0 => {
                    has_xattr(proc_path(dir, &name), OVERLAY_WHITEOUT, &path)?
                }
                _ => false,
            };
            if self.opts.exclude.contains(&path) && self.is_stub(dir, &name, &path, &st)? {
                tracing::debug!(path = %path.display(), "mount stub left out of the layer");
                self.stats.excluded += 1;
                continue;
            }
            let tar_name = if whiteout {
                let mut n = OsString::from(WHITEOUT_PREFIX);
                n.push(&name);
                n
            } else {
                name.clone()
            };
            children.push(Child {
                tar_name,
                name,
                st,
                whiteout,
            });
        }
        children.sort_by(|a, b| a.tar_name.cmp(&b.tar_name));
        for child in children {
            self.child(dir, rel, &child)?;
        }
        Ok(())
    }

    /// Whether an excluded path is still only what the sandbox created.
    fn is_stub(
        &self,
        dir: BorrowedFd<'_>,
        name: &OsStr,
        path: &Path,
        st: &Stat,
    ) -> Result<bool, LayerError> {
        match FileType::from_raw_mode(st.st_mode) {
            FileType::RegularFile => Ok(st.st_size == 0),
            FileType::Directory => {
                let sub = open_subdir(dir, name, path)?;
                for child in list_dir(sub.as_fd(), path)? {
                    let cpath = path.join(&child);
                    let cst = rustix::fs::statat(&sub, &child, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(|e| LayerError::errno("stat", &cpath, e))?;
                    if !self.opts.exclude.contains(&cpath)
                        || !self.is_stub(sub.as_fd(), &child, &cpath, &cst)?
                    {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn child(&mut self, dir: BorrowedFd<'_>, rel: &Path, c: &Child) -> Result<(), LayerError> {
        let path = rel.join(&c.name);
        let tar_path = rel.join(&c.tar_name);
        let mut name_bytes = tar_path.as_os_str().as_bytes().to_vec();
        let st = &c.st;
        let mut h = Header {
            path: &[],
            kind: Kind::Regular,
            mode: st.st_mode & 0o7777,
            uid: u64::from(st.st_uid),
            gid: u64::from(st.st_gid),
            size: 0,
            mtime: self.clamp(st.st_mtime),
            link: &[],
            dev: (0, 0),
            xattrs: &[],
        };
        if c.whiteout {
            // As Docker writes them: an empty file, mode 0600, the whiteout's owner and time.
            h.path = &name_bytes;
            h.mode = 0o600;
            self.stats.whiteouts += 1;
            return self.emit(&h, None);
        }
        let ftype = FileType::from_raw_mode(st.st_mode);
        if ftype != FileType::Directory && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.links.get(&key).cloned() {
                h.path = &name_bytes;
                h.kind = Kind::Hardlink;
                h.link = &first;
                self.stats.hardlinks += 1;
                return self.emit(&h, None);
            }
            self.links.insert(key, name_bytes.clone());
        }
        match ftype {
            FileType::Directory => {
                let sub = open_subdir(dir, &c.name, &path)?;
                let xattrs = read_xattrs(XattrSource::Fd(sub.as_fd()), &path)?;
                let opaque = xattrs.overlay_opaque;
                name_bytes.push(b'/');
                h.path = &name_bytes;
                h.kind = Kind::Directory;
                h.xattrs = &xattrs.kept;
                self.stats.dirs += 1;
                self.emit(&h, None)?;
                if opaque {
                    let marker = path.join(OPAQUE_MARKER);
                    let marker = marker.as_os_str().as_bytes();
                    let mh = Header {
                        path: marker,
                        kind: Kind::Regular,
                        xattrs: &[],
                        ..h.clone()
                    };
                    self.stats.opaque_dirs += 1;
                    self.emit(&mh, None)?;
                }
                self.dir_children(sub.as_fd(), &path)
            }
            FileType::RegularFile => {
                let fd = rustix::fs::openat(
                    dir,
                    &c.name,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| LayerError::errno("open", &path, e))?;
                let xattrs = read_xattrs(XattrSource::Fd(fd.as_fd()), &path)?;
                let size = rustix::fs::fstat(&fd)
                    .map_err(|e| LayerError::errno("stat", &path, e))?
                    .st_size;
                h.path = &name_bytes;
                h.size = u64::try_from(size).unwrap_or(0);
                h.xattrs = &xattrs.kept;
                self.stats.files += 1;
                self.stats.content_bytes += h.size;
                self.emit(&h, Some((fd, &path)))
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, &c.name, Vec::new())
                    .map_err(|e| LayerError::errno("read symlink", &path, e))?;
                let xattrs = read_xattrs(XattrSource::Path(proc_path(dir, &c.name)), &path)?;
                h.path = &name_bytes;
                h.kind = Kind::Symlink;
                h.link = target.as_bytes();
                h.xattrs = &xattrs.kept;
                self.stats.symlinks += 1;
                self.emit(&h, None)
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                let xattrs = read_xattrs(XattrSource::Path(proc_path(dir, &c.name)), &path)?;
                h.path = &name_bytes;
                h.kind = match ftype {
                    FileType::CharacterDevice => Kind::Char,
                    FileType::BlockDevice => Kind::Block,
                    _ => Kind::Fifo,
                };
                h.dev = (rustix::fs::major(st.st_rdev), rustix::fs::minor(st.st_rdev));
                h.xattrs = &xattrs.kept;
                self.stats.devices += 1;
                self.emit(&h, None)
            }
            _ => {
                tracing::debug!(path = %path.display(), "socket left out of the layer");
                Ok(())
            }
        }
    }

    fn clamp(&self, mtime: i64) -> i64 {
        match self.opts.source_date_epoch {
            Some(epoch) => mtime.min(epoch),
            None => mtime,
        }
    }

    fn emit(&mut self, h: &Header<'_>, body: Option<(OwnedFd, &Path)>) -> Result<(), LayerError> {
        self.tar.header(h).map_err(LayerError::Output)?;
        self.stats.entries += 1;
        if let Some((fd, path)) = body {
            let file = std::fs::File::from(fd);
            let complete = self
                .tar
                .body(&file, h.size)
                .map_err(|e| LayerError::io("read", path, e))?;
            if !complete {
                return Err(LayerError::FileChanged {
                    path: path.to_path_buf(),
                });
            }
        }
        Ok(())
    }
}

enum XattrSource<'a> {
    Fd(BorrowedFd<'a>),
    Path(PathBuf),
}

/// The xattrs of one file, split into what goes in the layer and what overlay said.
struct Xattrs {
    /// Sorted by name.
    kept: Vec<(String, Vec<u8>)>,
    overlay_opaque: bool,
}

fn read_xattrs(src: XattrSource<'_>, path: &Path) -> Result<Xattrs, LayerError> {
    let err = |e| LayerError::errno("read xattrs of", path, e);
    let list_query = || match &src {
        XattrSource::Fd(fd) => rustix::fs::flistxattr_query(fd),
        XattrSource::Path(p) => rustix::fs::llistxattr_query(p),
    };
    let list = |buf: &mut [u8]| match &src {
        XattrSource::Fd(fd) => rustix::fs::flistxattr(fd, buf),
        XattrSource::Path(p) => rustix::fs::llistxattr(p, buf),
    };
    let get_query = |name: &str| match &src {
        XattrSource::Fd(fd) => rustix::fs::fgetxattr_query(fd, name),
        XattrSource::Path(p) => rustix::fs::lgetxattr_query(p, name),
    };
    let get = |name: &str, buf: &mut [u8]| match &src {
        XattrSource::Fd(fd) => rustix::fs::fgetxattr(fd, name, buf),
        XattrSource::Path(p) => rustix::fs::lgetxattr(p, name, buf),
    };
    let mut out = Xattrs {
        kept: Vec::new(),
        overlay_opaque: false,
    };
    let names = match with_buffer(list_query, list) {
        Ok(n) => n,
        Err(Errno::NOTSUP) => return Ok(out),
        Err(e) => return Err(err(e)),
    };
    for raw in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(name) = std::str::from_utf8(raw) else {
            tracing::warn!(path = %path.display(), "non-UTF-8 xattr name left out");
            continue;
        };
        let value = match with_buffer(|| get_query(name), |b| get(name, b)) {
            Ok(v) => v,
            Err(Errno::NODATA) => continue,
            Err(e) => return Err(err(e)),
        };
        if NON_SELF_CONTAINED.contains(&name) {
            return Err(LayerError::OverlayFeature {
                path: path.to_path_buf(),
                xattr: name.to_owned(),
            });
        }
        if name == OVERLAY_OPAQUE {
            out.overlay_opaque = value == b"y";
        }
        if !is_overlay_private_xattr(name) && !HOST_XATTRS.contains(&name) {
            out.kept.push((name.to_owned(), value));
        }
    }
    out.kept.sort();
    Ok(out)
}

/// Whether `path` (not followed) has xattr `name`.
fn has_xattr(path: PathBuf, name: &str, display: &Path) -> Result<bool, LayerError> {
    match rustix::fs::lgetxattr_query(&path, name) {
        Ok(_) => Ok(true),
        Err(Errno::NODATA | Errno::NOTSUP) => Ok(false),
        Err(e) => Err(LayerError::errno("read xattrs of", display, e)),
    }
}

/// Calls a size query, then the fill function, until the value fits (it may grow
/// between the two calls).
fn with_buffer(
    query: impl Fn() -> rustix::io::Result<usize>,
    fill: impl Fn(&mut [u8]) -> rustix::io::Result<usize>,
) -> rustix::io::Result<Vec<u8>> {
    loop {
        let size = query()?;
        if size == 0 {
            return Ok(Vec::new());
        }
        let mut buf = vec![0u8; size];
        match fill(&mut buf) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(Errno::RANGE) => continue,
            Err(e) => return Err(e),
        }
    }
}
