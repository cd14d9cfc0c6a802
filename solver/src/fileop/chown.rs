//! `--chown` and WORKDIR's owner, resolved against the destination image.
//!
//! Names are looked up in the destination root's `/etc/passwd` and
//! `/etc/group`, which are resolved inside the root (an image whose
//! `/etc/passwd` is a symlink to `/../../etc/passwd` reads its own file, never
//! the host's). Numeric ids need no file. As in Docker, a user given without a
//! group gets the user's primary group when named, or the same number when
//! numeric (`--chown=1000` is `1000:1000`).

use std::io::Read;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags, openat2};

use super::FileOpError;
use super::root::{RootDir, is_file, show};
use crate::graph::Chown;

/// Largest passwd or group file we read; larger ones are not account files.
const MAX_ACCOUNT_FILE: u64 = 16 << 20;

/// Resolves `chown` to numeric `(uid, gid)` using the accounts of `root`.
pub fn resolve_owner(root: &RootDir, chown: &Chown) -> Result<(u32, u32), FileOpError> {
    let (uid, primary_gid) = match chown.user.parse::<u32>() {
        Ok(uid) => (uid, uid),
        Err(_) => {
            let passwd = read_account_file(root, "/etc/passwd")?;
            lookup(&passwd, &chown.user)
                .and_then(|f| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))
                .ok_or_else(|| FileOpError::UnknownUser {
                    name: chown.user.clone(),
                })?
        }
    };
    let gid = match chown.group.as_deref() {
        None | Some("") => primary_gid,
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read_account_file(root, "/etc/group")?;
                lookup(&groups, group)
                    .and_then(|f| f.get(2)?.parse().ok())
                    .ok_or_else(|| FileOpError::UnknownGroup {
                        name: group.to_owned(),
                    })?
            }
        },
    };
    Ok((uid, gid))
}

/// The colon-separated fields of the first line whose first field is `name`.
fn lookup<'a>(file: &'a str, name: &str) -> Option<Vec<&'a str>> {
    file.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
}

/// Reads an account file of the image; a missing file reads as empty.
fn read_account_file(root: &RootDir, path: &str) -> Result<String, FileOpError> {
    let rel = root.resolve(path, true)?;
    let Some(st) = root.lstat(&rel)? else {
        return Ok(String::new());
    };
    if !is_file(&st) {
        return Ok(String::new());
    }
    let fd = openat2(
        root.fd(),
        rel_or_dot(&rel),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| FileOpError::io("open", show(&rel), e))?;
    let mut text = String::new();
    std::fs::File::from(fd)
        .take(MAX_ACCOUNT_FILE)
        .read_to_string(&mut text)
        .map_err(|e| FileOpError::io("read", show(&rel), e))?;
    Ok(text)
}

fn rel_or_dot(rel: &Path) -> &Path {
    super::root::dot(rel)
}
