//! Dockerfile `USER` resolution against the image's own `/etc/passwd` and `/etc/group`.
//!
//! Semantics follow BuildKit (which uses runc's `GetExecUser`):
//! - `""` is root (`0:0`), no supplementary groups;
//! - `uid:gid` (both numeric) needs no files at all;
//! - `name` or `uid`: the first passwd entry whose name or uid matches gives uid and primary
//!   gid; a numeric uid without an entry runs with gid 0; a name without one is an error;
//! - without an explicit group, the supplementary groups are every `/etc/group` entry that
//!   lists the user's name as a member; with an explicit group there are none;
//! - `:group` accepts a group name or a numeric gid.
//!
//! The files are read with [`rootpath`](super::rootpath) resolution, so an image whose
//! `/etc/passwd` is a symlink to `/etc/passwd` (absolute) reads its own, never the host's.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

use super::rootpath::read_in_root;
use super::spec::Ids;

/// Largest passwd or group file we read (real ones are a few KiB).
const MAX_DB_SIZE: u64 = 16 << 20;

/// Why a `USER` could not be resolved; messages match BuildKit's.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// A user name with no passwd entry.
    #[error("unable to find user {user}: no matching entries in passwd file")]
    UserNotFound {
        /// The name from `USER`.
        user: String,
    },
    /// A group name with no group entry.
    #[error("unable to find group {group}: no matching entries in group file")]
    GroupNotFound {
        /// The name from `USER`.
        group: String,
    },
    /// The root or a database could not be read.
    #[error("failed to read `{path}` in the image root: {source}")]
    Read {
        /// The path (inside the root for the databases).
        path: PathBuf,
        /// The OS error.
        source: Errno,
    },
}

/// One passwd line.
struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One group line.
struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves a Dockerfile `USER` value (`name`, `uid`, `name:group`, `uid:gid`...) against the
/// databases inside `root`, the directory holding the step's root filesystem.
pub fn resolve_user(root: &Path, user: &str) -> Result<Ids, UserError> {
    if user.is_empty() {
        return Ok(Ids::default());
    }
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if let (Ok(uid), Some(Ok(gid))) = (user_part.parse::<u32>(), group_part.map(str::parse)) {
        return Ok(Ids {
            uid,
            gid,
            additional_gids: Vec::new(),
        });
    }
    let root_fd = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|source| UserError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let passwd = read_db(&root_fd, "/etc/passwd")?.map(|t| parse_passwd(&t));
    let numeric_uid = user_part.parse::<u32>().ok();
    let entry = passwd
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|e| e.name == user_part || numeric_uid.is_some_and(|uid| e.uid == uid));
    let (uid, mut gid, name) = match (entry, numeric_uid) {
        (Some(e), _) => (e.uid, e.gid, Some(e.name.clone())),
        (None, Some(uid)) => (uid, 0, None),
        (None, None) => {
            return Err(UserError::UserNotFound {
                user: user_part.to_owned(),
            });
        }
    };

    let mut additional_gids = Vec::new();
    match group_part {
        Some(group) => {
            let numeric_gid = group.parse::<u32>().ok();
            let groups = read_db(&root_fd, "/etc/group")?.map(|t| parse_group(&t));
            let found = groups
                .as_deref()
                .unwrap_or_default()
                .iter()
                .find(|g| g.name == group || numeric_gid.is_some_and(|gid| g.gid == gid));
            gid = match (found, numeric_gid) {
                (Some(g), _) => g.gid,
                (None, Some(gid)) => gid,
                (None, None) => {
                    return Err(UserError::GroupNotFound {
                        group: group.to_owned(),
                    });
                }
            };
        }
        None => {
            if let Some(name) = name {
                let groups = read_db(&root_fd, "/etc/group")?.map(|t| parse_group(&t));
                for g in groups.as_deref().unwrap_or_default() {
                    if g.members.contains(&name) && !additional_gids.contains(&g.gid) {
                        additional_gids.push(g.gid);
                    }
                }
            }
        }
    }
    Ok(Ids {
        uid,
        gid,
        additional_gids,
    })
}

/// The `HOME` a process of `uid` gets when the image's environment sets none: its
/// passwd entry's home directory, else `/`, as runc does (Go and others refuse to run
/// without one).
pub fn home_dir(root: &Path, uid: u32) -> String {
    let entry = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ok()
    .and_then(|fd| read_db(&fd, "/etc/passwd").ok().flatten())
    .and_then(|text| parse_passwd(&text).into_iter().find(|e| e.uid == uid));
    match entry {
        Some(e) if e.home.starts_with('/') => e.home,
        _ => "/".to_owned(),
    }
}

/// Reads a database; a missing file is `None` (numeric ids still work without it).
fn read_db(root: &OwnedFd, path: &str) -> Result<Option<String>, UserError> {
    match read_in_root(root, path, MAX_DB_SIZE) {
        Ok(bytes) => Ok(Some(String::from_utf8_lossy(&bytes).into_owned())),
        Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => Ok(None),
        Err(source) => Err(UserError::Read {
            path: PathBuf::from(path),
            source,
        }),
    }
}

/// Parses `name:password:uid:gid:gecos:home:shell`, skipping comments and malformed lines.
fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?.to_owned();
            let _password = f.next()?;
            let uid = f.next()?.trim().parse().ok()?;
            let gid = f.next()?.trim().parse().ok()?;
            let _gecos = f.next();
            let home = f.next().unwrap_or("").to_owned();
            Some(PasswdEntry {
                name,
                uid,
                gid,
                home,
            })
        })
        .collect()
}

/// Parses `name:password:gid:member,member`, skipping comments and malformed lines.
fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?.to_owned();
            let _password = f.next()?;
            let gid = f.next()?.trim().parse().ok()?;
            let members = f
                .next()
                .unwrap_or("")
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            Some(GroupEntry { name, gid, members })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root_with(passwd: &str, group: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/passwd"), passwd).unwrap();
        std::fs::write(dir.path().join("etc/group"), group).unwrap();
        dir
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbob:x:1000:1000::/home/bob:/bin/sh\nbroken line\n";
    const GROUP: &str =
        "root:x:0:\nbob:x:1000:\nwheel:x:10:bob,alice\naudio:x:29:bob\nstaff:x:50:\n";

    #[test]
    fn name_gives_primary_and_supplementary_groups() {
        let root = root_with(PASSWD, GROUP);
        let ids = resolve_user(root.path(), "bob").unwrap();
        assert_eq!((ids.uid, ids.gid), (1000, 1000));
        assert_eq!(ids.additional_gids, vec![10, 29]);
    }

    #[test]
    fn numeric_uid_with_and_without_entry() {
        let root = root_with(PASSWD, GROUP);
        assert_eq!(resolve_user(root.path(), "1000").unwrap().gid, 1000);
        let ids = resolve_user(root.path(), "4242").unwrap();
        assert_eq!((ids.uid, ids.gid, ids.additional_gids.len()), (4242, 0, 0));
    }

    #[test]
    fn explicit_group_by_name_or_number_drops_supplementary() {
        let root = root_with(PASSWD, GROUP);
        let ids = resolve_user(root.path(), "bob:staff").unwrap();
        assert_eq!((ids.uid, ids.gid), (1000, 50));
        assert!(ids.additional_gids.is_empty());
        assert_eq!(resolve_user(root.path(), "bob:7").unwrap().gid, 7);
    }

    #[test]
    fn numeric_pair_needs_no_files() {
        let dir = tempfile::tempdir().unwrap();
        let ids = resolve_user(dir.path(), "123:456").unwrap();
        assert_eq!((ids.uid, ids.gid), (123, 456));
    }

    #[test]
    fn unknown_names_are_errors_like_buildkit() {
        let root = root_with(PASSWD, GROUP);
        let err = resolve_user(root.path(), "foo").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user foo: no matching entries in passwd file"
        );
        let err = resolve_user(root.path(), "bob:nogroup").unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find group nogroup: no matching entries in group file"
        );
    }

    #[test]
    fn symlinked_passwd_stays_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("etc")).unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/passwd"), "img:x:77:88::/:/bin/sh\n").unwrap();
        // Absolute and `..`-escaping links must both land inside the root.
        std::os::unix::fs::symlink("/real/passwd", dir.path().join("etc/passwd")).unwrap();
        std::os::unix::fs::symlink(
            "../../../../../../etc/hostname",
            dir.path().join("etc/group"),
        )
        .unwrap();
        let ids = resolve_user(dir.path(), "img").unwrap();
        assert_eq!((ids.uid, ids.gid), (77, 88));
        // The host has a `root` user, the image does not.
        assert!(resolve_user(dir.path(), "root").is_err());
    }
}
