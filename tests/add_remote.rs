//! End-to-end tests of `ADD <url>` and `ADD <git url>` through the `strata build`
//! binary: a real HTTP server on 127.0.0.1 (ETag, Last-Modified, conditional
//! requests) and a real `git daemon` serving a repository made in a temporary
//! directory. Builds are `FROM scratch` exported with `--output type=local`.
//! They need root (the copy runs in an overlay mount); otherwise they are skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

macro_rules! require_root {
    () => {
        if !is_root() {
            eprintln!("skipped: ADD tests need root (overlay mounts)");
            return;
        }
    };
}

/// `Last-Modified` of the served file, and the same instant in Unix seconds.
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_UNIX: i64 = 1_445_412_480;

/// One request the server answered.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    if_none_match: Option<String>,
    if_modified_since: Option<String>,
    status: u16,
}

struct Served {
    body: Vec<u8>,
    etag: String,
    seen: Vec<Seen>,
}

/// A one-file HTTP/1.1 server (`/file.txt`) that answers conditional requests.
struct Server {
    port: u16,
    state: Arc<Mutex<Served>>,
}

impl Server {
    fn start(body: &[u8], etag: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Served {
            body: body.to_vec(),
            etag: etag.to_string(),
            seen: Vec::new(),
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Self { port, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn set(&self, body: &[u8], etag: &str) {
        let mut s = self.state.lock().unwrap();
        s.body = body.to_vec();
        s.etag = etag.to_string();
    }

    fn take_seen(&self) -> Vec<Seen> {
        std::mem::take(&mut self.state.lock().unwrap().seen)
    }
}

fn serve(stream: TcpStream, state: &Mutex<Served>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let (mut inm, mut ims) = (None, None);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = Some(v.trim().to_string());
            match k.trim().to_ascii_lowercase().as_str() {
                "if-none-match" => inm = v,
                "if-modified-since" => ims = v,
                _ => {}
            }
        }
    }
    let mut s = state.lock().unwrap();
    let (status, head, body) = if path != "/file.txt" {
        (404, String::new(), b"not found".to_vec())
    } else if inm.as_deref() == Some(s.etag.as_str()) {
        (304, format!("ETag: {}\r\n", s.etag), Vec::new())
    } else {
        (
            200,
            format!("ETag: {}\r\nLast-Modified: {LAST_MODIFIED}\r\n", s.etag),
            s.body.clone(),
        )
    };
    s.seen.push(Seen {
        path,
        if_none_match: inm,
        if_modified_since: ims,
        status,
    });
    drop(s);
    let reason = match status {
        200 => "OK",
        304 => "Not Modified",
        _ => "Not Found",
    };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\n{head}Content-Length: {}\r\nConnection: close\r\n\r\n",
        if status == 304 { 0 } else { body.len() }
    )?;
    out.write_all(&body)?;
    out.flush()
}

/// Builds `dockerfile` (`FROM scratch` ...) into `<dir>/out-<n>` with root `<dir>/root`.
fn build(dir: &Path, n: &str, dockerfile: &str) -> (Output, PathBuf) {
    let ctx = dir.join(format!("ctx-{n}"));
    fs::create_dir_all(&ctx).unwrap();
    fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let out_dir = dir.join(format!("out-{n}"));
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--root")
        .arg(dir.join("root"))
        .arg("build")
        .args(["--progress", "plain", "--output"])
        .arg(format!("type=local,dest={}", out_dir.display()))
        .arg(&ctx)
        .env_remove("STRATA_ROOT")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_PROXY", "*")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .output()
        .unwrap();
    (out, out_dir)
}

fn text(out: &Output) -> String {
    format!(
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_success(out: &Output) {
    assert!(out.status.success(), "strata build failed\n{}", text(out));
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[test]
fn add_url_downloads_with_mode_mtime_and_revalidates() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(b"hello remote\n", "\"v1\"");
    let dockerfile = format!("FROM scratch\nADD {} /f\n", server.url("/file.txt"));

    let (out, dest) = build(dir.path(), "1", &dockerfile);
    assert_success(&out);
    let f = dest.join("f");
    assert_eq!(fs::read(&f).unwrap(), b"hello remote\n");
    let meta = fs::metadata(&f).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.mtime(), LAST_MODIFIED_UNIX);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].status, 200);
    assert_eq!(seen[0].if_none_match, None);

    // Unchanged: a conditional request answered 304, and the copy is cached.
    let (out, dest) = build(dir.path(), "2", &dockerfile);
    assert_success(&out);
    assert!(text(&out).contains("CACHED"), "{}", text(&out));
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"hello remote\n");
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].path, "/file.txt");
    assert_eq!(seen[0].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(seen[0].if_modified_since.as_deref(), Some(LAST_MODIFIED));
    assert_eq!(seen[0].status, 304);

    // Changed: downloaded again and the copy reruns.
    server.set(b"changed\n", "\"v2\"");
    let (out, dest) = build(dir.path(), "3", &dockerfile);
    assert_success(&out);
    assert!(!text(&out).contains("CACHED"), "{}", text(&out));
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"changed\n");
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].if_none_match.as_deref(), Some("\"v1\""));
    assert_eq!(seen[0].status, 200);
}

#[test]
fn add_url_into_a_directory_keeps_the_url_file_name() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(b"data", "\"d\"");
    let dockerfile = format!("FROM scratch\nADD {} /dl/\n", server.url("/file.txt"));
    let (out, dest) = build(dir.path(), "1", &dockerfile);
    assert_success(&out);
    assert_eq!(fs::read(dest.join("dl/file.txt")).unwrap(), b"data");
    let meta = fs::metadata(dest.join("dl/file.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
}

#[test]
fn add_url_checksum_is_verified() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let body = b"checked content\n";
    let server = Server::start(body, "\"c\"");
    let good = sha256(body);
    let dockerfile = format!(
        "FROM scratch\nADD --checksum={good} {} /f\n",
        server.url("/file.txt")
    );
    let (out, dest) = build(dir.path(), "1", &dockerfile);
    assert_success(&out);
    assert_eq!(fs::read(dest.join("f")).unwrap(), body);

    let bad = sha256(b"something else");
    let dockerfile = format!(
        "FROM scratch\nADD --checksum={bad} {} /f\n",
        server.url("/file.txt")
    );
    let (out, _) = build(dir.path(), "2", &dockerfile);
    assert!(!out.status.success(), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("digest mismatch"), "{stderr}");
    assert!(stderr.contains(&good), "actual digest missing: {stderr}");
    assert!(stderr.contains(&bad), "expected digest missing: {stderr}");

    // A 404 is an error too.
    let dockerfile = format!("FROM scratch\nADD {} /f\n", server.url("/missing"));
    let (out, _) = build(dir.path(), "3", &dockerfile);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("404"),
        "{}",
        text(&out)
    );
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `git daemon` serving `<base>/repo.git`: commit one (tag v1, annotated),
/// then commit two on `main` (adds `b/c.txt`).
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn git_daemon(dir: &Path) -> Option<Daemon> {
    let work = dir.join("work");
    fs::create_dir_all(&work).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    fs::write(work.join("a.txt"), "one\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "one"]);
    git(&work, &["tag", "-a", "v1", "-m", "v1"]);
    fs::write(work.join("a.txt"), "two\n").unwrap();
    fs::create_dir_all(work.join("b")).unwrap();
    fs::write(work.join("b/c.txt"), "sub\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-q", "-m", "two"]);
    let base = dir.join("srv");
    fs::create_dir_all(&base).unwrap();
    git(
        dir,
        &[
            "clone",
            "-q",
            "--bare",
            &work.display().to_string(),
            &base.join("repo.git").display().to_string(),
        ],
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("git")
        .arg("daemon")
        .arg("--export-all")
        .arg("--reuseaddr")
        .arg("--listen=127.0.0.1")
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(&base)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let mut daemon = Daemon { child, port };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(daemon);
        }
        if let Ok(Some(_)) = daemon.child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = daemon.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            eprintln!("git daemon exited: {err}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn add_git_checks_out_refs_without_dot_git() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let Some(daemon) = git_daemon(dir.path()) else {
        eprintln!("skipped: git daemon is not available");
        return;
    };
    let url = format!("git://127.0.0.1:{}/repo.git", daemon.port);

    // A tag: the first commit's tree, no .git.
    let (out, dest) = build(
        dir.path(),
        "tag",
        &format!("FROM scratch\nADD {url}#v1 /src\n"),
    );
    assert_success(&out);
    assert_eq!(fs::read_to_string(dest.join("src/a.txt")).unwrap(), "one\n");
    assert!(!dest.join("src/b").exists());
    assert!(!dest.join("src/.git").exists());
    let meta = fs::metadata(dest.join("src/a.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));

    // The default branch, twice: the second build is cached.
    let dockerfile = format!("FROM scratch\nADD {url} /src\n");
    let (out, dest) = build(dir.path(), "head", &dockerfile);
    assert_success(&out);
    assert_eq!(fs::read_to_string(dest.join("src/a.txt")).unwrap(), "two\n");
    assert_eq!(
        fs::read_to_string(dest.join("src/b/c.txt")).unwrap(),
        "sub\n"
    );
    let (out, _) = build(dir.path(), "head-again", &dockerfile);
    assert_success(&out);
    assert!(text(&out).contains("CACHED"), "{}", text(&out));

    // A branch and a subdirectory.
    let (out, dest) = build(
        dir.path(),
        "subdir",
        &format!("FROM scratch\nADD {url}#main:b /sub\n"),
    );
    assert_success(&out);
    assert_eq!(fs::read_to_string(dest.join("sub/c.txt")).unwrap(), "sub\n");
    assert!(!dest.join("sub/a.txt").exists());

    // --keep-git-dir keeps the repository.
    let (out, dest) = build(
        dir.path(),
        "keep",
        &format!("FROM scratch\nADD --keep-git-dir=true {url}#main /src\n"),
    );
    assert_success(&out);
    assert_eq!(fs::read_to_string(dest.join("src/a.txt")).unwrap(), "two\n");
    assert!(dest.join("src/.git").is_dir());

    // A ref the repository does not have.
    let (out, _) = build(
        dir.path(),
        "missing",
        &format!("FROM scratch\nADD {url}#nope /src\n"),
    );
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope"),
        "{}",
        text(&out)
    );
}

#[test]
fn add_url_archives_are_unpacked_only_with_unpack() {
    require_root!();
    let dir = tempfile::tempdir().unwrap();
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(6);
    header.set_mode(0o644);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_cksum();
    archive
        .append_data(&mut header, "x/y.txt", &b"inner\n"[..])
        .unwrap();
    let body = archive.into_inner().unwrap();
    let server = Server::start(&body, "\"t\"");
    let url = server.url("/file.txt");

    let (out, dest) = build(
        dir.path(),
        "1",
        &format!("FROM scratch\nADD {url} /kept/\n"),
    );
    assert_success(&out);
    assert_eq!(fs::read(dest.join("kept/file.txt")).unwrap(), body);

    let (out, dest) = build(
        dir.path(),
        "2",
        &format!("FROM scratch\nADD --unpack=true {url} /u/\n"),
    );
    assert_success(&out);
    assert_eq!(
        fs::read_to_string(dest.join("u/x/y.txt")).unwrap(),
        "inner\n"
    );
}
