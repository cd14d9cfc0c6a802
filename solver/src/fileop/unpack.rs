//! ADD of a local archive: detect it, then extract it safely into the destination.
//!
//! An archive is a regular file that, once decompressed (gzip, bzip2, xz, zstd
//! or none, told apart by their magic bytes), starts with a valid tar header;
//! anything else is copied as a file, as in Docker. Extraction treats the
//! destination directory as the archive's `/`: names are cleaned, a name that
//! climbs out with `..` is an error, absolute names and symlinks are resolved
//! inside it, and a hardlink may only point at something already extracted
//! there. Directory times are set last, once their contents stop changing.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, XattrFlags, openat, openat2};

use super::FileOpError;
use super::copy::{clear_target, remove_all};
use super::root::{DirMeta, RootDir, is_dir, set_meta, show};

/// The compression of an archive, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// bzip2 (`BZh`).
    Bzip2,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Tells the compression from the first bytes of a file.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(b"BZh") {
            Self::Bzip2
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Self::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    fn reader<'a>(self, file: &'a mut File) -> std::io::Result<Box<dyn Read + 'a>> {
        let buf = BufReader::new(file);
        Ok(match self {
            Self::None => Box::new(buf),
            Self::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buf)),
            Self::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(buf)),
            Self::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(buf)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(buf)?),
        })
    }
}

/// Whether a 512-byte block is a tar header: its checksum must match.
fn is_tar_header(block: &[u8; 512]) -> bool {
    if block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = &block[148..156];
    let text: String = field
        .iter()
        .take_while(|b| **b != 0 && **b != b' ')
        .map(|b| *b as char)
        .collect();
    let Ok(want) = u32::from_str_radix(text.trim(), 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                u32::from(b' ')
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == want
}

/// Opens a resolved regular file of the source root and, when it is an
/// archive, returns it with its compression.
fn open_archive(src: &RootDir, rel: &Path) -> Result<Option<(File, Compression)>, FileOpError> {
    let fd = openat2(
        src.fd(),
        super::root::dot(rel),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| FileOpError::io("open", show(rel), e))?;
    let mut file = File::from(fd);
    let mut head = [0u8; 6];
    let n = read_full(&mut file, &mut head).map_err(|e| FileOpError::io("read", show(rel), e))?;
    let kind = Compression::detect(&head[..n]);
    file.seek(SeekFrom::Start(0))
        .map_err(|e| FileOpError::io("read", show(rel), e))?;
    let mut block = [0u8; 512];
    let is_tar = match kind.reader(&mut file) {
        Ok(mut r) => matches!(read_full(&mut r, &mut block), Ok(512)) && is_tar_header(&block),
        Err(_) => false,
    };
    file.seek(SeekFrom::Start(0))
        .map_err(|e| FileOpError::io("read", show(rel), e))?;
    Ok(is_tar.then_some((file, kind)))
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Extracts `src_rel` of `src` into `dest_path` of `dest` when it is an
/// archive; returns `false` (and does nothing) when it is not one.
///
/// `--chown` owns only the destination directories made here (`meta`): the
/// extracted entries keep the archive's owners, as docker's BuildKit does
/// (`tests/docker_parity.rs`, case `add_more`).
pub(crate) fn try_unpack(
    src: &RootDir,
    src_rel: &Path,
    dest: &RootDir,
    dest_path: &str,
    meta: DirMeta,
) -> Result<bool, FileOpError> {
    let Some((mut file, kind)) = open_archive(src, src_rel)? else {
        return Ok(false);
    };
    let dest_rel = dest.resolve(dest_path, true)?;
    dest.mkdir_all(&dest_rel, meta)?;
    let into = RootDir::from_fd(dest.open_dir(&dest_rel)?, dest.path().join(&dest_rel));
    let reader = kind
        .reader(&mut file)
        .map_err(|e| FileOpError::io("decompress", show(src_rel), e))?;
    extract(reader, &into, &show(src_rel), None)?;
    Ok(true)
}

/// Extracts a tar stream into `root`, which acts as the archive's `/`.
pub fn extract(
    reader: impl Read,
    root: &RootDir,
    archive: &str,
    chown: Option<(u32, u32)>,
) -> Result<(), FileOpError> {
    let bad = |e: std::io::Error| FileOpError::Archive {
        archive: archive.to_owned(),
        source: e,
    };
    let mut ar = tar::Archive::new(reader);
    let mut dir_times: Vec<(PathBuf, i64)> = Vec::new();
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let name = clean_name(&entry.path_bytes(), archive)?;
        let Some(name) = name else { continue };
        let hdr = entry.header().clone();
        let kind = hdr.entry_type();
        let parent_rel = root.resolve(&parent_str(&name), true)?;
        root.mkdir_all(
            &parent_rel,
            DirMeta {
                mode: 0o755,
                owner: chown,
                time: None,
            },
        )?;
        let file_name = name.file_name().unwrap_or(OsStr::new("."));
        let rel = parent_rel.join(file_name);
        let shown = show(&rel);
        let pfd = root.open_dir(&parent_rel)?;
        let owner = Some(match chown {
            Some(o) => o,
            None => (
                hdr.uid().map_err(bad)? as u32,
                hdr.gid().map_err(bad)? as u32,
            ),
        });
        let mode = hdr.mode().map_err(bad)? & 0o7777;
        let mtime = hdr.mtime().map_err(bad)? as i64;
        let times = Some((mtime, 0, mtime, 0));
        match kind {
            tar::EntryType::Directory => {
                match root.lstat(&rel)? {
                    Some(st) if is_dir(&st) => {}
                    Some(_) => {
                        clear_target(pfd.as_fd(), file_name, &shown)?;
                        mkdir(&pfd, file_name, &shown)?;
                    }
                    None => mkdir(&pfd, file_name, &shown)?,
                }
                set_meta(
                    pfd.as_fd(),
                    Some(file_name),
                    &shown,
                    owner,
                    Some(mode),
                    None,
                )?;
                dir_times.push((rel.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                replace(&pfd, file_name, &shown)?;
                let fd = openat(
                    &pfd,
                    file_name,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| FileOpError::io("create", &shown, e))?;
                let mut out = File::from(fd);
                std::io::copy(&mut entry, &mut out).map_err(bad)?;
                set_meta(out.as_fd(), None, &shown, owner, None, None)?;
                set_meta(out.as_fd(), None, &shown, None, Some(mode), None)?;
                set_pax_xattrs(&mut entry, &out, &shown);
                set_meta(out.as_fd(), None, &shown, None, None, times)?;
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                replace(&pfd, file_name, &shown)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &pfd, file_name)
                    .map_err(|e| FileOpError::io("create symlink", &shown, e))?;
                set_meta(pfd.as_fd(), Some(file_name), &shown, owner, None, times)?;
            }
            tar::EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                let Some(target) = clean_name(&target, archive)? else {
                    return Err(FileOpError::ArchiveEscape {
                        archive: archive.to_owned(),
                        entry: name.display().to_string(),
                    });
                };
                let target_rel = root.resolve(&target.to_string_lossy(), false)?;
                match root.lstat(&target_rel)? {
                    Some(st) if !is_dir(&st) => {}
                    _ => {
                        return Err(FileOpError::ArchiveEscape {
                            archive: archive.to_owned(),
                            entry: name.display().to_string(),
                        });
                    }
                }
                replace(&pfd, file_name, &shown)?;
                rustix::fs::linkat(root.fd(), &target_rel, &pfd, file_name, AtFlags::empty())
                    .map_err(|e| FileOpError::io("hardlink", &shown, e))?;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let ftype = match kind {
                    tar::EntryType::Char => FileType::CharacterDevice,
                    tar::EntryType::Block => FileType::BlockDevice,
                    _ => FileType::Fifo,
                };
                let major = hdr.device_major().map_err(bad)?.unwrap_or(0);
                let minor = hdr.device_minor().map_err(bad)?.unwrap_or(0);
                replace(&pfd, file_name, &shown)?;
                rustix::fs::mknodat(
                    &pfd,
                    file_name,
                    ftype,
                    Mode::from_raw_mode(mode & 0o777),
                    rustix::fs::makedev(major, minor),
                )
                .map_err(|e| FileOpError::io("create device", &shown, e))?;
                set_meta(
                    pfd.as_fd(),
                    Some(file_name),
                    &shown,
                    owner,
                    Some(mode),
                    times,
                )?;
            }
            other => {
                tracing::debug!(archive, entry = %name.display(), kind = ?other, "skipping tar entry");
            }
        }
    }
    for (rel, mtime) in dir_times.into_iter().rev() {
        let (pfd, name) = root.parent_of(&rel)?;
        set_meta(
            pfd.as_fd(),
            Some(&name),
            &show(&rel),
            None,
            None,
            Some((mtime, 0, mtime, 0)),
        )?;
    }
    Ok(())
}

/// Removes whatever is at `name` so a non-directory can take its place.
fn replace(pfd: &impl AsFd, name: &OsStr, shown: &str) -> Result<(), FileOpError> {
    remove_all(pfd.as_fd(), name, shown)
}

fn mkdir(pfd: &impl AsFd, name: &OsStr, shown: &str) -> Result<(), FileOpError> {
    rustix::fs::mkdirat(pfd, name, Mode::from_raw_mode(0o700))
        .map_err(|e| FileOpError::io("create directory", shown, e))
}

/// Cleans an entry name: no leading `/`, no `.`, `..` applied; `None` for the
/// archive's root itself; an error when `..` climbs above it.
fn clean_name(raw: &[u8], archive: &str) -> Result<Option<PathBuf>, FileOpError> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in raw.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(FileOpError::ArchiveEscape {
                        archive: archive.to_owned(),
                        entry: String::from_utf8_lossy(raw).into_owned(),
                    });
                }
            }
            c => out.push(c),
        }
    }
    if out.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        out.iter()
            .map(|c| Path::new(OsStr::from_bytes(c)))
            .collect(),
    ))
}

fn parent_str(name: &Path) -> String {
    name.parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Applies `SCHILY.xattr.*` PAX records to an extracted file.
fn set_pax_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, file: &File, shown: &str) {
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return;
    };
    for ext in exts.flatten() {
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        let name = OsStr::from_bytes(name);
        if let Err(e) = rustix::fs::fsetxattr(file, name, ext.value_bytes(), XattrFlags::empty()) {
            tracing::warn!(path = %shown, error = %e, "cannot set xattr from archive");
        }
    }
}
