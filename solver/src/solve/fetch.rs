//! Remote sources of `ADD`: HTTP(S) files and git repositories.
//!
//! Both produce a plain directory under `snapshots/` (`http-<hex>` holding the
//! one downloaded file, `git-<hex>` holding the checked-out tree), which the
//! following copy reads like the build context (owner 0:0).
//!
//! HTTP, as BuildKit's `source/http`: the body streams to disk while it is
//! hashed; the file gets mode 0600 and the response's `Last-Modified` as its
//! mtime (the Unix epoch without one); `--checksum` is checked against the
//! digest. The vertex key is the content digest. The response's `ETag` and
//! `Last-Modified` are kept in the cache index (`http.v1`) so the next build
//! asks conditionally and reuses the stored file on a 304.
//!
//! Git: the ref resolves with `git ls-remote` (a full commit id is used as
//! is), then a shallow fetch of that ref into a fresh repository, a detached
//! checkout of the commit and, unless `--keep-git-dir`, removal of `.git`. The
//! key is the commit, the subdirectory and the keep flag, so a known commit
//! is not fetched again.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::graph::{Encoder, VertexId};

use super::mounts::{StepDir, io};
use super::scheduler::{Done, VertexOutput};
use super::{HttpRequest, HttpResponse, SolveError, Solver, hex};

/// Writes to a file and hashes what it wrote.
struct HashingFile {
    file: File,
    hasher: Sha256,
}

impl Write for HashingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A name usable as one path component, or `None`.
fn plain_name(name: &str) -> Option<String> {
    let base = name.rsplit('/').next().unwrap_or("");
    (!base.is_empty() && base != "." && base != ".." && !base.contains('\0'))
        .then(|| base.to_string())
}

/// The downloaded file's name, as BuildKit's `getFileName`: the op's file
/// name, else `Content-Disposition`'s, else the URL's last path segment,
/// else `index`.
fn download_name(url: &str, filename: &str, disposition: Option<&str>) -> String {
    if let Some(n) = plain_name(filename) {
        return n;
    }
    if let Some(n) = disposition.and_then(plain_name) {
        return n;
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let path = path.split_once("://").map_or(path, |(_, rest)| rest);
    match path.split_once('/') {
        Some((_, p)) => plain_name(p).unwrap_or_else(|| "index".into()),
        None => "index".into(),
    }
}

fn parse_digest(digest: &str) -> Option<[u8; 32]> {
    let hex = digest.strip_prefix("sha256:")?;
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Publish `dir` as `snapshots/<name>` (another build may have published
/// identical content under the same name first: then keep theirs).
fn publish_dir(snapshots: &Path, dir: &Path, name: &str) -> Result<PathBuf, SolveError> {
    fs::create_dir_all(snapshots).map_err(|e| io(snapshots, e))?;
    let dest = snapshots.join(name);
    match fs::rename(dir, &dest) {
        Ok(()) => Ok(dest),
        Err(_) if dest.is_dir() => Ok(dest),
        Err(e) => Err(io(&dest, e)),
    }
}

impl Solver<'_> {
    /// `ADD <url>`: download (or revalidate) the file and return its directory.
    pub(crate) fn fetch_http(
        &self,
        id: VertexId,
        url: &str,
        checksum: Option<&str>,
        filename: &str,
    ) -> Result<Done, SolveError> {
        let step_err = |message: String| SolveError::Step {
            vertex: id,
            message,
        };
        let Some(fetcher) = self.fetcher else {
            return Err(step_err(format!(
                "cannot download {url}: this build has no HTTP client"
            )));
        };
        let expected = match checksum {
            Some(c) => Some(parse_digest(c).ok_or_else(|| {
                step_err(format!(
                    "invalid checksum {c:?}: expected sha256:<64 hex digits>"
                ))
            })?),
            None => None,
        };
        let mismatch = |got: &str| {
            step_err(format!(
                "digest mismatch for {url}: {got} (expected: {})",
                checksum.unwrap_or_default()
            ))
        };
        let record_key = format!("{url}\0{filename}");
        let known = self
            .records
            .http(&record_key)
            .map_err(|e| SolveError::Internal(e.to_string()))?
            .filter(|r| parse_digest(&r.digest).is_some())
            .filter(|r| self.snapshot_path(&r.snapshot).is_dir());

        let step = StepDir::new(&self.tmp_dir())?;
        let download = step.path.join("download");
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&download)
            .map_err(|e| io(&download, e))?;
        let mut sink = HashingFile {
            file,
            hasher: Sha256::new(),
        };
        let request = HttpRequest {
            url,
            if_none_match: known.as_ref().and_then(|r| r.etag.as_deref()),
            if_modified_since: known.as_ref().and_then(|r| r.last_modified.as_deref()),
        };
        let response = fetcher
            .http_get(&request, &mut sink)
            .map_err(|e| step_err(format!("downloading {url}: {e}")))?;
        let (etag, last_modified, modified, disposition) = match response {
            HttpResponse::NotModified => {
                let Some(record) = known else {
                    return Err(step_err(format!(
                        "downloading {url}: 304 Not Modified to an unconditional request"
                    )));
                };
                if checksum.is_some_and(|c| c != record.digest) {
                    return Err(mismatch(&record.digest));
                }
                let key = parse_digest(&record.digest).unwrap_or_default();
                return Ok(Done {
                    key,
                    output: VertexOutput::Dir {
                        path: self.snapshot_path(&record.snapshot),
                        exclude: Vec::new(),
                    },
                });
            }
            HttpResponse::Body {
                etag,
                last_modified,
                modified,
                disposition_filename,
            } => (etag, last_modified, modified, disposition_filename),
        };
        let HashingFile { file, hasher } = sink;
        file.sync_all().map_err(|e| io(&download, e))?;
        let key: [u8; 32] = hasher.finalize().into();
        let digest = format!("sha256:{}", hex(&key));
        if expected.is_some_and(|e| e != key) {
            return Err(mismatch(&digest));
        }
        let name = download_name(url, filename, disposition.as_deref());
        let mtime = match modified {
            Some(s) if s >= 0 => UNIX_EPOCH + Duration::from_secs(s as u64),
            Some(s) => UNIX_EPOCH - Duration::from_secs(s.unsigned_abs()),
            None => SystemTime::UNIX_EPOCH,
        };
        file.set_times(fs::FileTimes::new().set_accessed(mtime).set_modified(mtime))
            .map_err(|e| io(&download, e))?;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(|e| io(&download, e))?;
        drop(file);
        let out = step.sub("out")?;
        let target = out.join(&name);
        fs::rename(&download, &target).map_err(|e| io(&target, e))?;

        let mut e = Encoder::new();
        e.tag("strata.http/v1");
        e.str("digest", &digest);
        e.str("name", &name);
        e.str(
            "mtime",
            &modified.map(|m| m.to_string()).unwrap_or_default(),
        );
        let snapshot = format!("http-{}", hex(&e.finish().0));
        let path = publish_dir(&self.snapshots_dir(), &out, &snapshot)?;
        if etag.is_some() || last_modified.is_some() {
            let record = cache::records::HttpRecord {
                etag,
                last_modified,
                digest,
                snapshot,
            };
            if let Err(e) = self.records.put_http(&record_key, &record) {
                tracing::warn!("recording the download of {url}: {e}");
            }
        }
        Ok(Done {
            key,
            output: VertexOutput::Dir {
                path,
                exclude: Vec::new(),
            },
        })
    }

    /// `ADD <git url>`: check out the commit the ref names.
    pub(crate) fn fetch_git(
        &self,
        id: VertexId,
        remote: &str,
        reference: Option<&str>,
        subdir: Option<&str>,
        keep_git_dir: bool,
    ) -> Result<Done, SolveError> {
        let step_err = |message: String| SolveError::Step {
            vertex: id,
            message,
        };
        let subdir = match subdir {
            Some(s) => clean_subdir(s).ok_or_else(|| {
                step_err(format!(
                    "invalid git subdirectory {s:?}: it leaves the repository"
                ))
            })?,
            None => None,
        };
        let (commit, fetch_ref) = resolve_ref(remote, reference).map_err(step_err)?;
        let mut e = Encoder::new();
        e.tag("strata.git/v1");
        e.str("commit", &commit);
        e.str("subdir", subdir.as_deref().unwrap_or(""));
        e.bool("keep_git_dir", keep_git_dir);
        if keep_git_dir {
            // .git/config names the remote.
            e.str("remote", remote);
        }
        let key = e.finish().0;
        let snapshot = format!("git-{}", hex(&key));
        let existing = self.snapshot_path(&snapshot);
        if existing.is_dir() {
            return Ok(Done {
                key,
                output: VertexOutput::Dir {
                    path: existing,
                    exclude: Vec::new(),
                },
            });
        }

        let step = StepDir::new(&self.tmp_dir())?;
        let repo = step.path.join("repo");
        let repo_arg = repo.display().to_string();
        git(&["init", "-q", &repo_arg], None).map_err(step_err)?;
        git(&["remote", "add", "origin", remote], Some(&repo)).map_err(step_err)?;
        let shallow = git(
            &[
                "fetch",
                "-q",
                "--depth=1",
                "--no-tags",
                "origin",
                fetch_ref.as_deref().unwrap_or(&commit),
            ],
            Some(&repo),
        );
        if shallow.is_err() {
            // Servers that refuse a commit id in `want` still serve their refs.
            git(
                &[
                    "fetch",
                    "-q",
                    "--tags",
                    "origin",
                    "+refs/*:refs/remotes/all/*",
                ],
                Some(&repo),
            )
            .map_err(|e| step_err(format!("fetching {commit} from {remote}: {e}")))?;
        }
        git(&["checkout", "-q", "--detach", &commit], Some(&repo))
            .map_err(|e| step_err(format!("checking out {commit} of {remote}: {e}")))?;
        if repo.join(".gitmodules").exists() {
            git(
                &["submodule", "update", "--init", "--recursive", "--depth=1"],
                Some(&repo),
            )
            .map_err(step_err)?;
        }
        if !keep_git_dir {
            let dot_git = repo.join(".git");
            fs::remove_dir_all(&dot_git).map_err(|e| io(&dot_git, e))?;
        }
        let out = match &subdir {
            Some(sub) => {
                let dir = repo.join(sub);
                let meta = fs::symlink_metadata(&dir)
                    .map_err(|_| step_err(format!("{remote}: no directory {sub:?} at {commit}")))?;
                if !meta.is_dir() {
                    return Err(step_err(format!("{remote}: {sub:?} is not a directory")));
                }
                dir
            }
            None => repo,
        };
        let path = publish_dir(&self.snapshots_dir(), &out, &snapshot)?;
        Ok(Done {
            key,
            output: VertexOutput::Dir {
                path,
                exclude: Vec::new(),
            },
        })
    }
}

/// A subdirectory fragment as a relative path inside the repository
/// (`Some(None)` for its root), or `None` when it would leave it.
fn clean_subdir(s: &str) -> Option<Option<String>> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(s).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::Prefix(_) => return None,
        }
    }
    Some(Some(parts.join("/")).filter(|p| !p.is_empty()))
}

/// Run git (never prompting for credentials); its stderr on failure.
fn git(args: &[&str], dir: Option<&Path>) -> Result<String, String> {
    let mut cmd = Command::new("git");
    if let Some(d) = dir {
        cmd.arg("-C").arg(d);
    }
    cmd.args([
        "-c",
        "advice.detachedHead=false",
        "-c",
        "init.defaultBranch=main",
    ])
    .args(args)
    .env("GIT_TERMINAL_PROMPT", "0")
    .env("GIT_ASKPASS", "true")
    .stdin(std::process::Stdio::null());
    let out = cmd.output().map_err(|e| {
        if e.kind() == io::ErrorKind::NotFound {
            "git is not installed (ADD of a git repository runs the git binary)".to_string()
        } else {
            format!("running git: {e}")
        }
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git {} failed: {}",
            args.first().copied().unwrap_or(""),
            stderr.trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_commit_id(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit a ref names and the ref to fetch it by (`None`: by commit id).
fn resolve_ref(remote: &str, reference: Option<&str>) -> Result<(String, Option<String>), String> {
    if let Some(r) = reference.filter(|r| is_commit_id(r)) {
        return Ok((r.to_ascii_lowercase(), None));
    }
    let name = reference.unwrap_or("HEAD");
    let listing = git(&["ls-remote", "--", remote, name], None)?;
    let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    let find = |full: &str| {
        refs.iter()
            .find(|(_, n)| *n == full)
            .map(|(sha, _)| sha.to_string())
    };
    // git's own order: the exact name, then tags, then branches.
    let candidates = if name == "HEAD" || name.starts_with("refs/") {
        vec![name.to_string()]
    } else {
        vec![
            format!("refs/{name}"),
            format!("refs/tags/{name}"),
            format!("refs/heads/{name}"),
        ]
    };
    for full in candidates {
        if let Some(sha) = find(&full) {
            // An annotated tag: the commit is its peeled value.
            let commit = find(&format!("{full}^{{}}")).unwrap_or(sha);
            return Ok((commit, Some(full)));
        }
    }
    Err(format!("repository {remote} does not contain ref {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_follow_buildkit() {
        assert_eq!(download_name("http://h/a/b.txt", "f", None), "f");
        assert_eq!(download_name("http://h/a/b.txt?x=1", "", None), "b.txt");
        assert_eq!(download_name("http://h/a/", "", Some("c.tgz")), "c.tgz");
        assert_eq!(download_name("http://h", "", None), "index");
        assert_eq!(download_name("http://h/", "", Some("..")), "index");
        assert_eq!(download_name("http://h/x", "../../etc", None), "etc");
    }

    #[test]
    fn subdirs_stay_inside_the_repository() {
        assert_eq!(clean_subdir("a/b/"), Some(Some("a/b".into())));
        assert_eq!(clean_subdir("/a/./b"), Some(Some("a/b".into())));
        assert_eq!(clean_subdir("a/../b"), Some(Some("b".into())));
        assert_eq!(clean_subdir("../x"), None);
        assert_eq!(clean_subdir("."), Some(None));
    }

    #[test]
    fn digests_parse() {
        let d = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(parse_digest(&d), Some([0xab; 32]));
        assert_eq!(parse_digest("sha256:ab"), None);
        assert_eq!(parse_digest(&format!("md5:{}", "ab".repeat(32))), None);
    }
}
