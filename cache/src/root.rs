//! The strata root: where it is ([`default_root`]) and how it is opened ([`Root::open`]).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::content::Store;
use crate::error::{Error, IoResultExt, Result, io_at};
use crate::lock::BuildLock;
use crate::scratch::{self, ScratchDir};

/// The on-disk format version this strata reads and writes, kept in `<root>/version`.
///
/// Bump it when a change to the layout drawn in the crate doc would confuse an older
/// strata; an older strata then refuses the root instead of misreading it.
pub const FORMAT_VERSION: u32 = 1;

/// The root used when running as uid 0 and nothing else is configured.
const SYSTEM_ROOT: &str = "/var/lib/strata";

/// The content of `CACHEDIR.TAG` (<https://bford.info/cachedir/>): backup tools skip the
/// root, since everything in it can be pulled or rebuilt.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by strata.\n\
# For information about cache directory tags see https://bford.info/cachedir/\n";

/// The content of `store/oci-layout`, which marks `store/` as an OCI image layout.
const OCI_LAYOUT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}\n";

/// The `index.json` of an empty OCI image layout.
const EMPTY_INDEX: &str = "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}\n";

/// Chooses the strata root the way the CLI documents it.
///
/// In order: the `--root` value `cli`, then `$STRATA_ROOT`, then `/var/lib/strata` when
/// running as root, else `$XDG_DATA_HOME/strata`, else `~/.local/share/strata`. Empty
/// variables count as unset, and a relative `$XDG_DATA_HOME` is ignored as the XDG base
/// directory specification requires.
pub fn default_root(cli: Option<&Path>) -> Result<PathBuf> {
    let is_root = rustix::process::geteuid().is_root();
    resolve_root(cli, &|name| std::env::var_os(name), is_root)
}

/// [`default_root`] with the environment and the effective uid passed in, for tests.
fn resolve_root(
    cli: Option<&Path>,
    env: &dyn Fn(&str) -> Option<OsString>,
    is_root: bool,
) -> Result<PathBuf> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(path) = cli {
        return Ok(path.to_path_buf());
    }
    if let Some(path) = var("STRATA_ROOT") {
        return Ok(path);
    }
    if is_root {
        return Ok(PathBuf::from(SYSTEM_ROOT));
    }
    if let Some(data) = var("XDG_DATA_HOME").filter(|p| p.is_absolute()) {
        return Ok(data.join("strata"));
    }
    if let Some(home) = var("HOME") {
        return Ok(home.join(".local/share/strata"));
    }
    Err(Error::NoDefaultRoot)
}

/// An opened strata root: the directory that holds all of strata's on-disk state.
///
/// Opening creates whatever is missing (so a fresh directory becomes a valid root, and
/// two processes creating one at once both succeed), refuses roots of another
/// [`FORMAT_VERSION`], creates this process's scratch directory under `tmp/`, and removes
/// the scratch directories of processes that are gone. Dropping the last clone of a
/// `Root` (and of its [`Store`]) removes this process's scratch directory.
///
/// ```no_run
/// let root = cache::Root::open(cache::default_root(None)?)?;
/// let busybox = root.store().resolve("docker.io/library/busybox:latest")?;
/// # Ok::<(), cache::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Root {
    path: PathBuf,
    store: Store,
    scratch: Arc<ScratchDir>,
}

impl Root {
    /// Opens the root at `path`, creating it if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Root> {
        let path = path.as_ref().to_path_buf();
        fs::create_dir_all(&path).at(&path)?;
        let version_path = path.join("version");
        check_version(&version_path)?;

        for dir in ["store/blobs/sha256", "snapshots", "tmp", "locks"] {
            let dir = path.join(dir);
            fs::create_dir_all(&dir).at(&dir)?;
        }
        let tmp = path.join("tmp");
        let scratch = Arc::new(ScratchDir::create(&tmp)?);
        let removed = scratch::sweep(&tmp, scratch.path())?;
        if removed > 0 {
            tracing::info!(root = %path.display(), removed, "removed leftovers of interrupted strata processes from tmp/");
        }

        let store_dir = path.join("store");
        install(&scratch, &store_dir.join("oci-layout"), OCI_LAYOUT)?;
        install(&scratch, &store_dir.join("index.json"), EMPTY_INDEX)?;
        install(&scratch, &path.join("CACHEDIR.TAG"), CACHEDIR_TAG)?;
        install(&scratch, &version_path, &format!("{FORMAT_VERSION}\n"))?;
        check_version(&version_path)?;

        let store = Store::new(&path, Arc::clone(&scratch));
        tracing::debug!(root = %path.display(), "opened strata root");
        Ok(Root {
            path,
            store,
            scratch,
        })
    }

    /// The root directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The content store and image index in `store/` (an OCI image layout).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// `snapshots/`: unpacked layers and step results, owned by the snapshotter.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.path.join("snapshots")
    }

    /// Holds the build lock shared, for the whole of a build (see [`BuildLock`]);
    /// `on_wait` runs first if a `strata prune` holds it.
    pub fn lock_for_build(&self, on_wait: impl FnOnce()) -> Result<BuildLock> {
        BuildLock::acquire(&self.path.join("locks/build.lock"), false, on_wait)
    }

    /// Holds the build lock exclusive, for `strata prune` (see [`BuildLock`]); `on_wait`
    /// runs first if builds are running.
    pub fn lock_for_prune(&self, on_wait: impl FnOnce()) -> Result<BuildLock> {
        BuildLock::acquire(&self.path.join("locks/build.lock"), true, on_wait)
    }

    /// This process's private directory under `tmp/`, on the same file system as the
    /// rest of the root so that work built here (a snapshot, an export) can be published
    /// by `rename`. It is removed when the root is dropped, or by the next strata that
    /// opens the root after this process died.
    pub fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }
}

/// Fails unless the version file is absent or holds [`FORMAT_VERSION`].
fn check_version(path: &Path) -> Result<()> {
    match fs::read_to_string(path) {
        Ok(found) if found.trim() == FORMAT_VERSION.to_string() => Ok(()),
        Ok(found) => Err(Error::UnsupportedVersion {
            path: path.to_path_buf(),
            found: found.trim().to_owned(),
            expected: FORMAT_VERSION,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_at(path, e)),
    }
}

/// Creates `target` with `contents` unless it exists, atomically: the file is written and
/// fsynced in the scratch directory, then hard-linked into place (`link` fails rather than
/// replace, so a concurrent creator's file, or an existing `index.json`, is kept).
fn install(scratch: &ScratchDir, target: &Path, contents: &str) -> Result<()> {
    if fs::symlink_metadata(target).is_ok() {
        return Ok(());
    }
    let temp = scratch.temp_path("install");
    let mut file = File::create(&temp).at(&temp)?;
    file.write_all(contents.as_bytes()).at(&temp)?;
    file.sync_all().at(&temp)?;
    drop(file);
    let linked = fs::hard_link(&temp, target);
    fs::remove_file(&temp).at(&temp)?;
    match linked {
        Ok(()) => {
            if let Some(parent) = target.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_at(target, e)),
    }
}

/// Fsyncs a directory, making the renames and links done in it durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<OsString> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn root_resolution_order() {
        let all = env_of(&[
            ("STRATA_ROOT", "/env/root"),
            ("XDG_DATA_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        let cli = Path::new("/cli");
        assert_eq!(resolve_root(Some(cli), &all, true).unwrap(), cli);
        assert_eq!(
            resolve_root(None, &all, true).unwrap(),
            Path::new("/env/root")
        );
        let no_strata = env_of(&[("XDG_DATA_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(
            resolve_root(None, &no_strata, true).unwrap(),
            Path::new(SYSTEM_ROOT)
        );
        assert_eq!(
            resolve_root(None, &no_strata, false).unwrap(),
            Path::new("/xdg/strata")
        );
        let relative_xdg = env_of(&[
            ("STRATA_ROOT", ""),
            ("XDG_DATA_HOME", "xdg"),
            ("HOME", "/h"),
        ]);
        assert_eq!(
            resolve_root(None, &relative_xdg, false).unwrap(),
            Path::new("/h/.local/share/strata")
        );
        let nothing = env_of(&[]);
        assert_eq!(
            resolve_root(None, &nothing, false).unwrap_err().kind(),
            crate::ErrorKind::InvalidInput
        );
    }
}
