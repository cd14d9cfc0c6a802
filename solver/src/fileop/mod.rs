//! File operations of a File step (COPY, ADD, WORKDIR, heredoc files) applied
//! to a directory that is the step's root filesystem.
//!
//! The caller hands over the destination root (an overlay merged directory or
//! a copy-based snapshot) and the roots of the op's inputs (the build context,
//! another stage); this module knows nothing about snapshots or scheduling.
//! Semantics follow BuildKit's file backend: wildcards, "copy a directory's
//! contents", a trailing `/` meaning "into this directory", `--chown` names
//! resolved in the destination image, `--chmod` octal or symbolic, `--parents`,
//! `--exclude`, symlinks copied as symlinks, hardlinks kept, xattrs and times
//! kept, ADD's archive unpacking.
//!
//! A context input's `.dockerignore` patterns hide paths ([`Input::hidden`]):
//! a hidden file cannot be named, matched by a wildcard or reached by a walk.
//!
//! Every path, in either root, is resolved as a chroot would (see [`RootDir`]):
//! `COPY ../x` reads the context's `/x`, a context symlink to `/etc/passwd`
//! reads the context's own `/etc/passwd` (usually absent), and an image whose
//! `/usr/local` links to `/opt` receives files in its own `/opt`.
//!
//! ```no_run
//! use solver::fileop::{Input, Ownership, apply};
//! use solver::graph::{CopyOptions, FileAction};
//! use std::path::Path;
//!
//! let action = FileAction::Copy {
//!     input: 0,
//!     src: vec!["src/*.rs".into()],
//!     dest: "/app/src/".into(),
//!     options: CopyOptions { allow_wildcard: true, create_dest_path: true, ..Default::default() },
//! };
//! let ignored = vec!["secret.env".to_string()];
//! let context = Input { root: Path::new("/tmp/ctx"), ownership: Ownership::Root, hidden: &ignored };
//! apply(Path::new("/tmp/rootfs"), &[context], &action)?;
//! # Ok::<(), solver::fileop::FileOpError>(())
//! ```

mod chmod;
mod chown;
mod copy;
mod root;
mod unpack;
pub(crate) mod wildcard;

use std::fmt::Display;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags, openat};
use rustix::io::Errno;

use crate::graph::{Chown, CopyOptions, FileAction};
pub(crate) use copy::read_xattrs;
use copy::{Copier, OwnerRule, clear_target, remove_all};
use root::{DirMeta, is_dir, set_meta, show};

pub use chmod::Chmod;
pub use chown::resolve_owner;
pub use root::RootDir;
pub use unpack::{Compression, extract};
pub use wildcard::{Excluder, glob_match, has_wildcard};

/// What a File step failed on; every variant names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    /// A system call failed.
    #[error("failed to {op} `{path}`: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path, as seen inside its root.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A source path does not exist.
    #[error(
        "`{path}` not found\nhint: check that the path exists in the source and is not excluded"
    )]
    NotFound {
        /// The path as written.
        path: String,
    },
    /// A wildcard matched nothing.
    #[error("no source files were specified: `{pattern}` matches nothing")]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// A directory would be written over a non-directory.
    #[error("cannot copy to non-directory `{path}`")]
    NotADirectory {
        /// The destination.
        path: String,
    },
    /// A file would replace a directory.
    #[error("cannot replace directory `{path}` with a file")]
    IsADirectory {
        /// The destination.
        path: String,
    },
    /// Too many symlinks on a path (a loop).
    #[error("too many levels of symbolic links resolving `{path}`")]
    SymlinkLoop {
        /// The path.
        path: String,
    },
    /// `--chmod` is neither octal nor symbolic.
    #[error("invalid chmod `{value}`: {reason}\nhint: use octal (`0755`) or symbolic (`u+x,g-w`)")]
    InvalidChmod {
        /// The value as written.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--chown` user is not in the image's `/etc/passwd`.
    #[error("unable to find user `{name}` in the image's /etc/passwd\nhint: use a numeric uid")]
    UnknownUser {
        /// The name.
        name: String,
    },
    /// A `--chown` group is not in the image's `/etc/group`.
    #[error("unable to find group `{name}` in the image's /etc/group\nhint: use a numeric gid")]
    UnknownGroup {
        /// The name.
        name: String,
    },
    /// An archive entry tries to leave the extraction directory.
    #[error("archive `{archive}` entry `{entry}` points outside the destination")]
    ArchiveEscape {
        /// The archive.
        archive: String,
        /// The entry name.
        entry: String,
    },
    /// An archive could not be read.
    #[error("invalid archive `{archive}`: {source}")]
    Archive {
        /// The archive.
        archive: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A source is of a kind that cannot be copied.
    #[error("cannot copy `{path}`: unsupported file type")]
    Unsupported {
        /// The path.
        path: String,
    },
    /// The action names an input the caller did not provide.
    #[error("file action reads input {index}, which was not provided")]
    MissingInput {
        /// The input index.
        index: usize,
    },
}

/// What callers branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A path or a name does not exist.
    NotFound,
    /// The request is malformed or unsafe.
    Invalid,
    /// The system refused.
    Io,
}

impl FileOpError {
    pub(crate) fn io(op: &'static str, path: impl Display, err: impl Into<std::io::Error>) -> Self {
        Self::Io {
            op,
            path: path.to_string(),
            source: err.into(),
        }
    }

    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::NotFound { .. }
            | Self::NoMatch { .. }
            | Self::UnknownUser { .. }
            | Self::UnknownGroup { .. }
            | Self::MissingInput { .. } => ErrorKind::NotFound,
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Self::Io { .. } => ErrorKind::Io,
            _ => ErrorKind::Invalid,
        }
    }
}

/// How owners of an input's files carry over when there is no `--chown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    /// Files become `0:0`: the build context, whose owners are the user's
    /// machine's and mean nothing in the image (BuildKit resets them too).
    Root,
    /// Files keep their owners: another stage or image (`COPY --from`).
    Preserve,
}

/// One input of a File op: a directory that copy sources are read from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The directory, treated as `/`.
    pub root: &'a Path,
    /// How its owners carry over.
    pub ownership: Ownership,
    /// `.dockerignore` patterns of a build context (root-relative): the paths
    /// they exclude do not exist for the copy, so naming one is "not found"
    /// and no wildcard or directory walk reaches it. Empty for other inputs.
    pub hidden: &'a [String],
}

/// Applies actions in order to `dest_root`.
pub fn apply_all(
    dest_root: &Path,
    inputs: &[Input<'_>],
    actions: &[FileAction],
) -> Result<(), FileOpError> {
    actions.iter().try_for_each(|a| apply(dest_root, inputs, a))
}

/// Applies one action to `dest_root`, reading copy sources from `inputs`.
pub fn apply(
    dest_root: &Path,
    inputs: &[Input<'_>],
    action: &FileAction,
) -> Result<(), FileOpError> {
    let dest = RootDir::open(dest_root)?;
    match action {
        FileAction::Copy {
            input,
            src,
            dest: to,
            options,
        } => {
            let input = inputs
                .get(*input)
                .ok_or(FileOpError::MissingInput { index: *input })?;
            copy_action(&dest, input, src, to, options)
        }
        FileAction::Mkdir {
            path,
            mode,
            parents,
            chown,
        } => mkdir(&dest, path, *mode, *parents, chown.as_ref()),
        FileAction::Mkfile {
            path,
            mode,
            data,
            chown,
        } => mkfile(&dest, path, *mode, data, chown.as_ref()),
        FileAction::Rm {
            path,
            allow_not_found,
        } => rm(&dest, path, *allow_not_found),
    }
}

fn mkdir(
    dest: &RootDir,
    path: &str,
    mode: u32,
    parents: bool,
    chown: Option<&Chown>,
) -> Result<(), FileOpError> {
    let owner = chown.map(|c| resolve_owner(dest, c)).transpose()?;
    let rel = dest.resolve(path, true)?;
    if parents {
        return dest
            .mkdir_all(
                &rel,
                DirMeta {
                    mode,
                    owner,
                    time: None,
                },
            )
            .map(drop);
    }
    let (pfd, name) = dest.parent_of(&rel)?;
    match rustix::fs::mkdirat(&pfd, &name, Mode::from_raw_mode(0o700)) {
        Ok(()) => set_meta(
            pfd.as_fd(),
            Some(&name),
            &show(&rel),
            owner,
            Some(mode),
            None,
        ),
        Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(FileOpError::io("create directory", show(&rel), e)),
    }
}

fn mkfile(
    dest: &RootDir,
    path: &str,
    mode: u32,
    data: &[u8],
    chown: Option<&Chown>,
) -> Result<(), FileOpError> {
    let owner = chown.map(|c| resolve_owner(dest, c)).transpose()?;
    let rel = dest.resolve(path, true)?;
    let shown = show(&rel);
    // A heredoc COPY creates missing parents, as a COPY does (BuildKit too).
    let parent_meta = DirMeta {
        mode: 0o755,
        owner,
        time: None,
    };
    dest.mkdir_all(rel.parent().unwrap_or(Path::new("")), parent_meta)?;
    let (pfd, name) = dest.parent_of(&rel)?;
    clear_target(pfd.as_fd(), &name, &shown)?;
    let fd = openat(
        &pfd,
        &name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| FileOpError::io("create", &shown, e))?;
    let mut file = std::fs::File::from(fd);
    std::io::Write::write_all(&mut file, data).map_err(|e| FileOpError::io("write", &shown, e))?;
    set_meta(file.as_fd(), None, &shown, owner, None, None)?;
    set_meta(file.as_fd(), None, &shown, None, Some(mode), None)
}

fn rm(dest: &RootDir, path: &str, allow_not_found: bool) -> Result<(), FileOpError> {
    let rel = dest.resolve(path, false)?;
    if rel.as_os_str().is_empty() {
        return Err(FileOpError::io("remove", "/", Errno::PERM));
    }
    if dest.lstat(&rel)?.is_none() {
        if allow_not_found {
            return Ok(());
        }
        return Err(FileOpError::NotFound {
            path: path.to_owned(),
        });
    }
    let (pfd, name) = dest.parent_of(&rel)?;
    remove_all(pfd.as_fd(), &name, &show(&rel))
}

/// `lstat` of a resolved path inside `root`, for the content hasher.
pub(crate) fn lstat_in(
    root: &RootDir,
    rel: &Path,
) -> Result<Option<rustix::fs::Stat>, FileOpError> {
    root.lstat(rel)
}

/// The parent directory and last component of a resolved path, for the
/// content hasher.
pub(crate) fn parent_in(
    root: &RootDir,
    rel: &Path,
) -> Result<(std::os::fd::OwnedFd, std::ffi::OsString), FileOpError> {
    root.parent_of(rel)
}

/// One source after wildcard expansion.
struct Matched {
    /// Root-relative path of the match.
    path: String,
    /// Path kept under the destination with `--parents`.
    parents_rel: PathBuf,
}

fn copy_action(
    dest: &RootDir,
    input: &Input<'_>,
    srcs: &[String],
    to: &str,
    o: &CopyOptions,
) -> Result<(), FileOpError> {
    let src_root = RootDir::open(input.root)?.hiding(Excluder::new(input.hidden));
    let chown = o
        .chown
        .as_ref()
        .map(|c| resolve_owner(dest, c))
        .transpose()?;
    let owner = match (chown, input.ownership) {
        (Some((u, g)), _) => OwnerRule::Fixed(u, g),
        (None, Ownership::Root) => OwnerRule::Fixed(0, 0),
        (None, Ownership::Preserve) => OwnerRule::Preserve,
    };
    let chmod = o.chmod.as_deref().map(Chmod::parse).transpose()?;
    let exclude = Excluder::new(&o.exclude);
    let meta = DirMeta {
        mode: 0o755,
        owner: chown,
        time: o.timestamp,
    };
    let matches = expand_sources(&src_root, srcs, o, &exclude)?;
    if matches.is_empty() {
        return Ok(());
    }

    let into_dir = to.ends_with('/') || to.ends_with("/.") || o.parents;
    let to_clean = to.trim_end_matches('/');
    if !o.create_dest_path {
        let rel = dest.resolve(to_clean, true)?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        if dest.lstat(parent)?.is_none() {
            return Err(FileOpError::NotFound { path: show(parent) });
        }
    }
    // Directories this action creates; with a fixed timestamp their times are
    // set again at the end, after the copies inside them touched them.
    let mut created = Vec::new();
    let base = if into_dir {
        let rel = dest.resolve(to_clean, true)?;
        created.extend(dest.mkdir_all(&rel, meta)?);
        rel
    } else {
        let rel = dest.resolve(to_clean, true)?;
        created.extend(dest.mkdir_all(rel.parent().unwrap_or(Path::new("")), meta)?);
        dest.resolve(to_clean, true)?
    };

    let mut copier = Copier::new(
        &src_root,
        dest,
        owner,
        chmod.as_ref(),
        o.timestamp,
        &exclude,
    );
    for m in &matches {
        let src_rel = src_root.resolve(&m.path, o.follow_symlinks)?;
        let Some(st) = src_root.lstat(&src_rel)? else {
            return Err(FileOpError::NotFound {
                path: format!("/{}", m.path.trim_start_matches('/')),
            });
        };
        if o.unpack_archive
            && root::is_file(&st)
            && unpack::try_unpack(&src_root, &src_rel, dest, to_clean, meta)?
        {
            continue;
        }
        if o.parents {
            let target = make_parents(
                &src_root,
                &m.parents_rel,
                src_rel.as_path(),
                dest,
                &base,
                &copier,
            )?;
            copier.copy_top(&src_rel, &target)?;
            continue;
        }
        let mut target = base.clone();
        let dst_st = dest.lstat(&target)?.filter(|s| !root::is_symlink(s));
        let src_is_dir = is_dir(&st);
        let dst_is_dir = dst_st.as_ref().is_some_and(is_dir);
        let into =
            (!o.dir_contents_only && src_is_dir && dst_st.is_some()) || (!src_is_dir && dst_is_dir);
        if let (true, Some(name)) = (into, Path::new(&m.path).file_name()) {
            target.push(name);
        }
        let mk = if o.dir_contents_only && src_is_dir && dst_st.is_none() {
            target.clone()
        } else {
            target.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        created.extend(dest.mkdir_all(&mk, meta)?);
        copier.copy_top(&src_rel, &target)?;
    }
    if let Some(t) = o.timestamp {
        for rel in created.iter().rev() {
            let (pfd, name) = dest.parent_of(rel)?;
            set_meta(
                pfd.as_fd(),
                Some(&name),
                &show(rel),
                None,
                None,
                Some((t, 0, t, 0)),
            )?;
        }
    }
    Ok(())
}

/// Expands every source (wildcards, exclusions) in order.
fn expand_sources(
    src_root: &RootDir,
    srcs: &[String],
    o: &CopyOptions,
    exclude: &Excluder,
) -> Result<Vec<Matched>, FileOpError> {
    let mut out = Vec::new();
    for s in srcs {
        // `--parents` keeps what follows a `/./` pivot, or the whole path.
        let (pivot, _) = match s.find("/./") {
            Some(i) if o.parents => (s[..i].to_owned(), &s[i + 3..]),
            _ => (String::new(), s.as_str()),
        };
        let pivot_rel = src_root.resolve(&pivot, true)?;
        let wild = o.allow_wildcard && s.split('/').any(has_wildcard);
        let found = if wild {
            let m = wildcard::expand(src_root, s, &mut || {})?;
            let m: Vec<String> = m.into_iter().filter(|p| !exclude.is_excluded(p)).collect();
            if m.is_empty() && !o.allow_empty_wildcard {
                return Err(FileOpError::NoMatch { pattern: s.clone() });
            }
            m
        } else {
            vec![s.clone()]
        };
        for path in found {
            let clean = clean_rel(&path);
            let parents_rel = clean
                .strip_prefix(&pivot_rel)
                .map(Path::to_path_buf)
                .unwrap_or(clean);
            out.push(Matched { path, parents_rel });
        }
    }
    Ok(out)
}

/// A path made relative and lexically clean (`..` clamped at the root).
fn clean_rel(p: &str) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// Creates `base/<parents of rel>` mirroring the source directories' metadata
/// (`--parents`) and returns the exact target for the source itself.
fn make_parents(
    src_root: &RootDir,
    rel: &Path,
    src_rel: &Path,
    dest: &RootDir,
    base: &Path,
    copier: &Copier<'_>,
) -> Result<PathBuf, FileOpError> {
    let comps: Vec<_> = rel.iter().collect();
    let depth = comps.len().saturating_sub(1);
    // The source directory that corresponds to `base/<comps[..=i]>`.
    let src_ancestors: Vec<PathBuf> = src_rel.ancestors().skip(1).map(Path::to_path_buf).collect();
    let mut target = base.to_path_buf();
    for (i, comp) in comps.iter().take(depth).enumerate() {
        target.push(comp);
        if dest.lstat(&target)?.is_some() {
            continue;
        }
        let src_dir = src_ancestors
            .get(depth - 1 - i)
            .cloned()
            .unwrap_or_default();
        let st = src_root
            .lstat(&src_dir)?
            .ok_or_else(|| FileOpError::NotFound {
                path: show(&src_dir),
            })?;
        let (pfd, name) = dest.parent_of(&target)?;
        rustix::fs::mkdirat(&pfd, &name, Mode::from_raw_mode(0o700))
            .map_err(|e| FileOpError::io("create directory", show(&target), e))?;
        set_meta(
            pfd.as_fd(),
            Some(&name),
            &show(&target),
            copier.owner_of(&st),
            Some(copier.mode_of(&st)),
            Some(copier.times_of(&st)),
        )?;
    }
    if let Some(last) = comps.last() {
        target.push(last);
    }
    Ok(target)
}
