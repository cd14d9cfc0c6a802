//! Host-side mounts: the overlay a step runs or copies in, and the private
//! mount namespace that keeps them from outliving strata.

use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};

use crate::fileop::RootDir;

use super::SolveError;

/// Move this process into a mount namespace of its own, with every mount
/// private, so that overlays mounted for steps disappear with the process,
/// even after `kill -9`. Call it before any thread is spawned: a mount
/// namespace belongs to a thread, and threads started later inherit it.
pub fn enter_private_mount_namespace() -> Result<(), String> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making / private: {e}"))
}

/// A step's scratch directory under `tmp/`, removed on drop (unless its
/// upper directory was published first).
pub(crate) struct StepDir {
    pub(crate) path: PathBuf,
}

impl StepDir {
    pub(crate) fn new(tmp: &Path) -> Result<Self, SolveError> {
        std::fs::create_dir_all(tmp).map_err(|e| io(tmp, e))?;
        let name = format!(
            "step-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let path = tmp.join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(|e| io(&path, e))?;
        Ok(Self { path })
    }

    pub(crate) fn sub(&self, name: &str) -> Result<PathBuf, SolveError> {
        let p = self.path.join(name);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
        Ok(p)
    }
}

impl Drop for StepDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(crate) fn io(path: &Path, e: std::io::Error) -> SolveError {
    SolveError::Internal(format!("`{}`: {e}", path.display()))
}

/// Which snapshotter this process uses: overlayfs, or the copy-based fallback
/// (`STRATA_SNAPSHOTTER=copy` forces it; it is also chosen when an overlay
/// mount fails on this host).
pub(crate) fn copy_mode() -> bool {
    static MODE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MODE.get_or_init(|| match std::env::var("STRATA_SNAPSHOTTER").as_deref() {
        Ok("copy") => true,
        Ok("overlay") => false,
        _ => {
            let ok = probe_overlay();
            if !ok {
                tracing::warn!("overlayfs is unavailable: using the copy-based snapshotter");
            }
            !ok
        }
    })
}

/// Whether writable overlays are mounted `volatile` (Linux 5.10+): the kernel then
/// skips syncing the whole upper filesystem at unmount, which on a busy disk cost
/// 10 to 50 ms per step; [`sync_tree`] makes just the step's upper directory durable
/// before it is published instead.
fn volatile() -> bool {
    overlay_support() == Some(true)
}

fn probe_overlay() -> bool {
    overlay_support().is_some()
}

/// Whether writable overlays mount here (`None`: no), and if so whether `volatile`.
fn overlay_support() -> Option<bool> {
    static SUPPORT: std::sync::OnceLock<Option<bool>> = std::sync::OnceLock::new();
    *SUPPORT.get_or_init(|| {
        if probe_overlay_with(",volatile") {
            Some(true)
        } else {
            probe_overlay_with("").then_some(false)
        }
    })
}

fn probe_overlay_with(options: &str) -> bool {
    let base = std::env::temp_dir().join(format!("strata-overlay-probe-{}", std::process::id()));
    let dirs = ["lower", "upper", "work", "merged"].map(|d| base.join(d));
    let made = dirs.iter().all(|d| std::fs::create_dir_all(d).is_ok());
    let data = format!(
        "lowerdir={},upperdir={},workdir={}{options}",
        dirs[0].display(),
        dirs[1].display(),
        dirs[2].display()
    );
    let ok = made
        && mount(
            Some("overlay"),
            &dirs[3],
            Some("overlay"),
            MsFlags::empty(),
            Some(data.as_str()),
        )
        .is_ok();
    if ok {
        let _ = umount2(&dirs[3], MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_dir_all(&base);
    ok
}

/// A step's root view: an overlay mounted on the host (unmounted on drop), or,
/// with the copy snapshotter, a materialised copy whose changes [`Overlay::finish`]
/// writes into the upper directory.
pub(crate) struct Overlay {
    pub(crate) merged: PathBuf,
    copied: Option<Copied>,
}

struct Copied {
    before: Option<PathBuf>,
    upper: Option<PathBuf>,
    inodes: std::collections::HashMap<PathBuf, super::copysnap::DirId>,
}

impl Overlay {
    /// Mount `lower` (bottom first) with an optional writable `upper`. With no
    /// upper the view is read-only. An empty lower list gets `empty` as its
    /// only layer, since overlayfs needs at least one.
    pub(crate) fn mount(
        lower: &[PathBuf],
        upper: Option<(&Path, &Path)>,
        merged: PathBuf,
        empty: &Path,
    ) -> Result<Self, SolveError> {
        if copy_mode() {
            super::copysnap::materialize(lower, &merged)?;
            let (before, inodes) = match upper {
                Some(_) => {
                    let before = merged.with_extension("before");
                    super::copysnap::materialize(lower, &before)?;
                    (Some(before), super::copysnap::dir_inodes(&merged)?)
                }
                None => (None, Default::default()),
            };
            return Ok(Self {
                merged,
                copied: Some(Copied {
                    before,
                    upper: upper.map(|(u, _)| u.to_path_buf()),
                    inodes,
                }),
            });
        }
        std::fs::create_dir_all(&merged).map_err(|e| io(&merged, e))?;
        let mut lowers: Vec<String> = lower.iter().rev().map(|p| escape(p)).collect();
        if lowers.is_empty() {
            std::fs::create_dir_all(empty).map_err(|e| io(empty, e))?;
            lowers.push(escape(empty));
        }
        if upper.is_none() && lowers.len() == 1 {
            // A read-only overlay needs two lower layers; a read-only bind is the same view.
            mount(
                Some(Path::new(&lowers[0])),
                &merged,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(|e| SolveError::Internal(format!("bind mount of `{}`: {e}", lowers[0])))?;
            return Ok(Self {
                merged,
                copied: None,
            });
        }
        let mut data = format!("lowerdir={}", lowers.join(":"));
        if let Some((up, work)) = upper {
            data.push_str(&format!(
                ",upperdir={},workdir={}",
                escape(up),
                escape(work)
            ));
        }
        data.push_str(",index=off,xino=off");
        if upper.is_some() && volatile() {
            data.push_str(",volatile");
        }
        let flags = if upper.is_none() {
            MsFlags::MS_RDONLY
        } else {
            MsFlags::empty()
        };
        mount(
            Some("overlay"),
            &merged,
            Some("overlay"),
            flags,
            Some(data.as_str()),
        )
        .map_err(|e| {
            SolveError::Internal(format!(
                "mounting overlay at `{}` ({} layers): {e}",
                merged.display(),
                lowers.len()
            ))
        })?;
        Ok(Self {
            merged,
            copied: None,
        })
    }

    /// End a successful step: with the copy snapshotter, write what changed
    /// into the upper directory; with overlayfs the kernel already did.
    pub(crate) fn finish(self) -> Result<(), SolveError> {
        if let Some(Copied {
            before: Some(before),
            upper: Some(upper),
            inodes,
        }) = &self.copied
        {
            super::copysnap::diff(before, &self.merged, upper, inodes)?;
        }
        Ok(())
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        match &self.copied {
            Some(c) => {
                let _ = std::fs::remove_dir_all(&self.merged);
                if let Some(b) = &c.before {
                    let _ = std::fs::remove_dir_all(b);
                }
            }
            None => {
                if let Err(e) = umount2(&self.merged, MntFlags::MNT_DETACH) {
                    tracing::warn!("unmounting `{}`: {e}", self.merged.display());
                }
            }
        }
    }
}

/// Makes a step's finished upper directory durable, so that the cache record
/// committed after it is published never names a snapshot a crash emptied.
///
/// A small diff (the usual RUN or COPY) fsyncs its own files and directories; a
/// large one syncs the filesystem once, cheaper than thousands of fsyncs.
pub(crate) fn sync_tree(dir: &Path) -> Result<(), SolveError> {
    const MANY: usize = 256;
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    let mut next = 0;
    while next < dirs.len() && files.len() + dirs.len() <= MANY {
        let d = dirs[next].clone();
        next += 1;
        for entry in std::fs::read_dir(&d).map_err(|e| io(&d, e))? {
            let entry = entry.map_err(|e| io(&d, e))?;
            let kind = entry.file_type().map_err(|e| io(&entry.path(), e))?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    let fsync = |p: &Path| {
        std::fs::File::open(p)
            .and_then(|f| f.sync_all())
            .map_err(|e| io(p, e))
    };
    if files.len() + dirs.len() > MANY {
        let root = std::fs::File::open(dir).map_err(|e| io(dir, e))?;
        return rustix::fs::syncfs(&root).map_err(|e| io(dir, e.into()));
    }
    files.iter().try_for_each(|f| fsync(f))?;
    dirs.iter().rev().try_for_each(|d| fsync(d))
}

/// Overlay option values cannot hold `,` or `:` unescaped.
fn escape(p: &Path) -> String {
    p.display()
        .to_string()
        .replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}

/// Fills `layer` (an empty directory) with an overlay layer that, put above
/// `context`, masks its `hidden` paths (root-relative, from
/// [`RootDir::hidden_below`]): a whiteout (character device 0/0) for each,
/// in directories that repeat the context directories' owner, mode and times,
/// since a merged directory shows the topmost layer's. The layer's own root
/// repeats the context root's.
pub(crate) fn mask_layer(
    context: &RootDir,
    hidden: &[PathBuf],
    layer: &Path,
) -> Result<(), SolveError> {
    let mut dirs = std::collections::BTreeSet::from([PathBuf::new()]);
    for h in hidden {
        dirs.extend(h.ancestors().skip(1).map(Path::to_path_buf));
    }
    for d in dirs.iter().filter(|d| !d.as_os_str().is_empty()) {
        let p = layer.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io(&p, e))?;
    }
    for h in hidden {
        let p = layer.join(h);
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::empty(),
            0,
        )
        .map_err(|e| io(&p, e.into()))?;
    }
    // Deepest first: setting a directory's times must come after its children changed it.
    for d in dirs.iter().rev() {
        let st = context
            .lstat(d)
            .map_err(|e| SolveError::Internal(e.to_string()))?
            .ok_or_else(|| {
                SolveError::Internal(format!("context directory `{}` vanished", d.display()))
            })?;
        mirror_dir_meta(&st, &layer.join(d))?;
    }
    Ok(())
}

/// Gives the directory `path` the owner, mode and times of `st`.
fn mirror_dir_meta(st: &rustix::fs::Stat, path: &Path) -> Result<(), SolveError> {
    std::os::unix::fs::chown(path, Some(st.st_uid), Some(st.st_gid)).map_err(|e| io(path, e))?;
    let mode = std::os::unix::fs::PermissionsExt::from_mode(st.st_mode & 0o7777);
    std::fs::set_permissions(path, mode).map_err(|e| io(path, e))?;
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec as _,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec as _,
        },
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::empty())
        .map_err(|e| io(path, e.into()))
}
