//! Shared harness of `tests/build.rs`: a temporary strata root per test, seeded with a
//! busybox base image that strata itself built once per test binary (`FROM scratch` +
//! `COPY rootfs/ /` of Debian's busybox-static), temporary build contexts, the binary run
//! with `--root`, and the built images read back with umoci and skopeo.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

/// The test's context, or return after the skip message (`#[macro_use] mod
/// support_build;` in the test file).
#[allow(unused_macros)]
macro_rules! ctx_or_skip {
    ($name:expr) => {
        match $crate::support_build::TestContext::new($name) {
            Some(t) => t,
            None => return,
        }
    };
}

/// The `SOURCE_DATE_EPOCH` the tests use where they need reproducible digests.
pub const EPOCH: &str = "1700000000";

/// The name under which every test root holds the busybox base image.
pub const BASE: &str = "busybox:latest";

/// Unpacks `image` from `root`'s store with umoci into a fresh `bundle-<image>` under
/// `dir`; returns the bundle's root filesystem.
pub fn unpack_in(root: &Path, dir: &Path, image: &str) -> PathBuf {
    let bundle = dir.join(format!("bundle-{}", image.replace([':', '/'], "_")));
    let _ = fs::remove_dir_all(&bundle);
    let out = Command::new("umoci")
        .args(["unpack", "--image", &store_ref(root, image)])
        .arg(&bundle)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci unpack {image}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    bundle.join("rootfs")
}

/// `strata --root ROOT ARGS...` for the non-build commands (`rmi`, `prune`, `du`...),
/// with no inherited root or log settings and no stdin.
pub fn strata_in(root: &Path, args: &[&str]) -> Output {
    Command::new(strata_bin())
        .arg("--root")
        .arg(root)
        .args(args)
        .env_remove("STRATA_ROOT")
        .env_remove("STRATA_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// [`strata_in`], asserting success; returns (stdout, stderr).
pub fn strata_ok(root: &Path, args: &[&str]) -> (String, String) {
    let out = strata_in(root, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "strata {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// Whether the tests can run here; prints why not when they cannot.
///
/// The sandbox needs root (mount, pid namespaces, overlayfs). CI runs as root.
pub fn can_run(test: &str) -> bool {
    // /proc/self belongs to the effective uid of the process reading it.
    let euid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if euid != 0 {
        eprintln!("SKIP {test}: needs root (namespaces, overlayfs mounts); euid is {euid}");
        return false;
    }
    for tool in ["umoci", "skopeo", "gzip"] {
        if Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            eprintln!("SKIP {test}: `{tool}` is not installed");
            return false;
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        eprintln!("SKIP {test}: /bin/busybox (Debian busybox-static) is not installed");
        return false;
    }
    true
}

/// The path of the strata binary under test.
pub fn strata_bin() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

/// The result of one `strata` run.
pub struct Run {
    /// The exit status.
    pub status: std::process::ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error (the progress lines).
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
        Self {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the whole output unless the run succeeded.
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "strata failed ({}):\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics with the whole output if the run succeeded.
    pub fn fails(self) -> Self {
        assert!(
            !self.status.success(),
            "strata succeeded but should have failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// The progress steps of this run: for each `#N [stage i/n] INSTR` line, the
    /// instruction text (`RUN echo hi`) and whether it was `CACHED`. `[internal]`
    /// steps and `FROM` (never cached: they are not Dockerfile steps) are left out.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps: BTreeMap<String, Step> = BTreeMap::new();
        let mut order = Vec::new();
        for line in self.stderr.lines() {
            let Some(rest) = line.strip_prefix('#') else {
                continue;
            };
            let Some((num, tail)) = rest.split_once(' ') else {
                continue;
            };
            if num.parse::<u32>().is_err() {
                continue;
            }
            if let Some((stage, instr)) = tail
                .strip_prefix('[')
                .and_then(|rest| rest.split_once("] "))
            {
                if stage == "internal" || instr.starts_with("FROM ") {
                    continue;
                }
                if !steps.contains_key(num) {
                    order.push(num.to_string());
                }
                steps.insert(
                    num.to_string(),
                    Step {
                        stage: stage.to_string(),
                        instruction: instr.to_string(),
                        cached: false,
                        done: false,
                    },
                );
            } else if let Some(step) = steps.get_mut(num) {
                if tail == "CACHED" {
                    step.cached = true;
                } else if tail.starts_with("DONE") {
                    step.done = true;
                }
            }
        }
        order.iter().map(|n| steps[n].clone()).collect()
    }

    /// The step whose instruction contains `needle` (exactly one must).
    pub fn step(&self, needle: &str) -> Step {
        let found: Vec<Step> = self
            .steps()
            .into_iter()
            .filter(|s| s.instruction.contains(needle))
            .collect();
        assert_eq!(
            found.len(),
            1,
            "expected one step containing {needle:?}, found {found:?}\nstderr:\n{}",
            self.stderr
        );
        found[0].clone()
    }

    /// The image config digest printed on stdout.
    pub fn image_id(&self) -> String {
        self.stdout.trim().lines().last().unwrap_or("").to_string()
    }
}

/// One `#N` step of the plain progress output.
#[derive(Debug, Clone)]
pub struct Step {
    /// `stage-0 2/5`, `build 1/3`...
    pub stage: String,
    /// `RUN echo hi`, `COPY a /b`...
    pub instruction: String,
    /// Reported `#N CACHED`.
    pub cached: bool,
    /// Reported `#N DONE ...`.
    pub done: bool,
}

/// The base image's root: built once per test binary, its `store/` copied into each
/// test's root.
struct SharedBase {
    root: PathBuf,
}

fn shared_base() -> &'static SharedBase {
    static BASE_ROOT: OnceLock<SharedBase> = OnceLock::new();
    BASE_ROOT.get_or_init(|| {
        let tmp = std::env::temp_dir();
        remove_stale_bases(&tmp);
        let dir = tmp.join(format!("strata-e2e-build-base-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let ctx = dir.join("ctx");
        busybox_rootfs(&ctx.join("rootfs"));
        fs::write(
            ctx.join("Dockerfile"),
            "FROM scratch\nCOPY rootfs/ /\nCMD [\"/bin/sh\"]\n",
        )
        .unwrap();
        let root = dir.join("root");
        let out = Command::new(strata_bin())
            .arg("--root")
            .arg(&root)
            .args(["build", "--progress=plain", "-t", BASE])
            .arg(&ctx)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env_remove("STRATA_ROOT")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        Run::from(out).ok();
        SharedBase { root }
    })
}

/// Removes base roots left by earlier test processes that are gone.
fn remove_stale_bases(tmp: &Path) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("strata-e2e-build-base-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A busybox root filesystem: the static binary, its applet links, passwd and group
/// (root, nobody, and `app` 1000:1000 for `--chown=app` tests), a 1777 `/tmp`.
pub fn busybox_rootfs(dir: &Path) {
    for sub in ["bin", "etc", "tmp", "root"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", dir.join("bin/busybox")).unwrap();
    let list = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            symlink("busybox", dir.join("bin").join(applet)).unwrap();
        }
    }
    fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    fs::write(dir.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
}

/// A test's temporary directory: a strata root holding the busybox base image, and
/// build contexts.
pub struct TestContext {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl TestContext {
    /// A fresh root seeded with the base image, or `None` (after saying why) when the
    /// tests cannot run here.
    pub fn new(test: &str) -> Option<Self> {
        if !can_run(test) {
            return None;
        }
        let base = shared_base();
        let dir = tempfile::Builder::new()
            .prefix("strata-e2e-build-")
            .tempdir()
            .unwrap();
        let root = dir.path().join("root");
        Self::seed(&base.root, &root);
        Some(Self { dir, root })
    }

    /// Another root in the same test directory, seeded with the base image.
    pub fn other_root(&self, name: &str) -> PathBuf {
        let root = self.dir.path().join(name);
        Self::seed(&shared_base().root, &root);
        root
    }

    fn seed(from: &Path, root: &Path) {
        fs::create_dir_all(root).unwrap();
        let status = Command::new("cp")
            .arg("-a")
            .arg(from.join("store"))
            .arg(root.join("store"))
            .status()
            .unwrap();
        assert!(status.success(), "copying the base store failed");
    }

    /// This test's strata root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This test's temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A build context directory `name` holding `files` (path, content); parents are
    /// created.
    pub fn context(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        let ctx = self.dir.path().join(name);
        fs::create_dir_all(&ctx).unwrap();
        for (path, content) in files {
            write(&ctx.join(path), content);
        }
        ctx
    }

    /// `strata --root ROOT build --progress=plain ARGS... CTX`, with a fixed
    /// `SOURCE_DATE_EPOCH`.
    pub fn build(&self, ctx: &Path, args: &[&str]) -> Run {
        self.build_in(&self.root, ctx, args, &[("SOURCE_DATE_EPOCH", EPOCH)])
    }

    /// Like [`Self::build`] with a chosen root and environment (no implicit
    /// `SOURCE_DATE_EPOCH`).
    pub fn build_in(&self, root: &Path, ctx: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(root, ctx, args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().unwrap())
    }

    /// The command of a build, not yet run (no `SOURCE_DATE_EPOCH`).
    pub fn command(&self, root: &Path, ctx: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(strata_bin());
        cmd.arg("--root")
            .arg(root)
            .args(["build", "--progress=plain"])
            .args(args)
            .arg(ctx)
            .env_remove("STRATA_ROOT")
            .env_remove("STRATA_LOG")
            .env_remove("SOURCE_DATE_EPOCH")
            .stdin(Stdio::null());
        cmd
    }

    /// Builds a context made of `dockerfile` and `files`, tagged `tag`; asserts success.
    pub fn build_ok(&self, name: &str, dockerfile: &str, files: &[(&str, &str)], tag: &str) -> Run {
        let ctx = self.context(name, files);
        write(&ctx.join("Dockerfile"), dockerfile);
        self.build(&ctx, &["-t", tag]).ok()
    }

    /// The store reference of an image name (`demo:1` -> `ROOT/store:docker.io/library/demo:1`).
    pub fn store_ref(&self, image: &str) -> String {
        store_ref(&self.root, image)
    }

    /// Unpacks `image` from this root's store with umoci; returns its root filesystem.
    pub fn unpack(&self, image: &str) -> PathBuf {
        unpack_in(&self.root, self.dir.path(), image)
    }

    /// The image config of `image` (skopeo inspect --config), as JSON.
    pub fn config(&self, image: &str) -> Value {
        let out = Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!("oci:{}", self.store_ref(image)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect --config {image}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The store reference of `image` in `root`.
pub fn store_ref(root: &Path, image: &str) -> String {
    let full = if image.contains('/') {
        image.to_string()
    } else {
        format!("docker.io/library/{image}")
    };
    format!("{}:{full}", root.join("store").display())
}

/// Writes `content` to `path`, creating parents.
pub fn write(path: &Path, content: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(path, content).unwrap();
}

/// The content of a file of an unpacked root filesystem.
pub fn read(rootfs: &Path, path: &str) -> String {
    let p = rootfs.join(path.trim_start_matches('/'));
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {path} in the image: {e}"))
}

/// lstat of a path of an unpacked root filesystem.
pub fn meta(rootfs: &Path, path: &str) -> fs::Metadata {
    let p = rootfs.join(path.trim_start_matches('/'));
    fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("lstat {path} in the image: {e}"))
}

/// Permission bits (incl. setuid/setgid/sticky) of a path of an unpacked rootfs.
pub fn mode(rootfs: &Path, path: &str) -> u32 {
    meta(rootfs, path).mode() & 0o7777
}

/// (uid, gid) of a path of an unpacked rootfs.
pub fn owner(rootfs: &Path, path: &str) -> (u32, u32) {
    let m = meta(rootfs, path);
    (m.uid(), m.gid())
}

/// Whether a path exists (without following a final symlink) in an unpacked rootfs.
pub fn exists(rootfs: &Path, path: &str) -> bool {
    fs::symlink_metadata(rootfs.join(path.trim_start_matches('/'))).is_ok()
}

/// Every regular file under `dir` with its size, relative paths sorted.
pub fn snapshot_files(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, u64>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(m) = fs::symlink_metadata(&path) else {
                continue;
            };
            if m.is_dir() {
                walk(base, &path, out);
            } else if m.is_file() {
                let rel = path.strip_prefix(base).unwrap().display().to_string();
                out.insert(rel, m.len());
            }
        }
    }
    walk(dir, dir, &mut out);
    out
}

/// The bytes of every blob in `ROOT/store/blobs`, gzip-decompressed when it is gzip.
pub fn store_blob_contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let blobs = root.join("store/blobs/sha256");
    for entry in fs::read_dir(&blobs).unwrap().flatten() {
        let path = entry.path();
        let raw = fs::read(&path).unwrap();
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let dec = Command::new("gzip").arg("-dc").arg(&path).output().unwrap();
            assert!(dec.status.success(), "gzip -dc {}", path.display());
            dec.stdout
        } else {
            raw
        };
        out.push((path, bytes));
    }
    out
}

/// Whether `haystack` contains `needle`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads `containerimage.digest` from a `--metadata-file`.
pub fn metadata_digest(path: &Path) -> String {
    let v: Value = serde_json::from_slice(&fs::read(path).unwrap()).unwrap();
    v["containerimage.digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no containerimage.digest in {v}"))
        .to_string()
}

impl TestContext {
    /// The image config of `image` exactly as stored (the config blob that the manifest
    /// tagged `image` in `index.json` names), for fields the OCI spec has not (`OnBuild`)
    /// and that skopeo therefore drops.
    pub fn raw_config(&self, image: &str) -> Value {
        let store = self.root.join("store");
        let name = store_ref(&self.root, image);
        let name = name.rsplit_once("store:").unwrap().1.to_string();
        let blob = |digest: &str| -> Value {
            let hex = digest.strip_prefix("sha256:").unwrap();
            serde_json::from_slice(&fs::read(store.join("blobs/sha256").join(hex)).unwrap())
                .unwrap()
        };
        let index: Value =
            serde_json::from_slice(&fs::read(store.join("index.json")).unwrap()).unwrap();
        let manifest = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} is not in index.json: {index}"));
        let manifest = blob(manifest["digest"].as_str().unwrap());
        blob(manifest["config"]["digest"].as_str().unwrap())
    }
}

/// The entry names of every layer blob (gzip tar) in `ROOT/store/blobs`.
pub fn layer_entries(root: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(root.join("store/blobs/sha256"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        let mut magic = [0u8; 2];
        let is_gzip = fs::File::open(&path)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && magic == [0x1f, 0x8b];
        if !is_gzip {
            continue;
        }
        let out = Command::new("tar").arg("-tzf").arg(&path).output().unwrap();
        assert!(out.status.success(), "tar -tzf {}", path.display());
        names.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(str::to_string),
        );
    }
    names
}
