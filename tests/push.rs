//! End-to-end tests of `strata push`: the real binary against Debian's `docker-registry`
//! (through the fault proxy of `registry-client/tests/support` where requests are
//! counted), with images pulled into a temporary root by `strata pull` from a registry
//! that skopeo filled with a busybox image, and the results read back with skopeo and
//! umoci.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../registry-client/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::{BaseImage, Fault, FaultProxy, FaultRule, ImageFormat, Registry, RegistryAuth};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// A strata root and a docker config directory, and the binary run against them.
struct Strata {
    root: tempfile::TempDir,
    docker_config: tempfile::TempDir,
}

impl Strata {
    fn new() -> Self {
        Self {
            root: tempfile::tempdir().unwrap(),
            docker_config: tempfile::tempdir().unwrap(),
        }
    }

    fn run_with(&self, args: &[&str], docker_config: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strata"))
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .env("DOCKER_CONFIG", docker_config)
            .env_remove("STRATA_ROOT")
            .env_remove("STRATA_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_with(args, self.docker_config.path())
    }

    /// Runs and asserts success; returns (stdout, stderr).
    fn ok(&self, args: &[&str]) -> (String, String) {
        let out = self.run(args);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "strata {args:?} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        (stdout, stderr)
    }

    /// Runs and asserts failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let (stdout, stderr) = texts(&out);
        assert!(
            !out.status.success(),
            "strata {args:?} succeeded:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        stderr
    }

    /// Names the image stored as `from` also `to` in the local store.
    fn tag(&self, from: &str, to: &str) {
        let root = cache::Root::open(self.root.path()).unwrap();
        let store = root.store();
        let descriptor = store.resolve(from).unwrap();
        let lease = store.lease().unwrap();
        store.tag(&lease, to, &descriptor).unwrap();
    }

    fn untag(&self, name: &str) {
        let root = cache::Root::open(self.root.path()).unwrap();
        root.store().untag(name).unwrap();
    }

    fn has_blob(&self, digest: &str) -> bool {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.root
            .path()
            .join("store/blobs/sha256")
            .join(hex)
            .is_file()
    }
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A registry holding busybox as `base:1` (OCI, pushed by skopeo), and a root into which
/// `strata pull` fetched it. Returns the source registry, the root, the image and the
/// store name.
fn seeded() -> (Registry, Strata, BaseImage, String) {
    let source = Registry::start();
    let base = BaseImage::busybox();
    base.push(&source.host(), "base:1", None, ImageFormat::Oci);
    let strata = Strata::new();
    let name = format!("{}/base:1", source.host());
    strata.ok(&["pull", &name]);
    (source, strata, base, name)
}

fn manifest_digest(base: &BaseImage) -> String {
    base.images[0].manifest_digest.clone()
}

/// Requests that upload blob bytes or open upload sessions.
fn uploads(requests: &[support::LoggedRequest]) -> Vec<&support::LoggedRequest> {
    requests
        .iter()
        .filter(|r| {
            r.path.contains("/blobs/")
                && (r.method == "POST" || r.method == "PUT" || r.method == "PATCH")
        })
        .collect()
}

/// Copies `reference` to an OCI layout with skopeo and unpacks it with umoci; returns
/// the bundle's rootfs.
fn skopeo_copy_and_unpack(reference: &str, creds: Option<&str>, dir: &Path) -> std::path::PathBuf {
    let layout = dir.join("layout");
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
    ]);
    if let Some(c) = creds {
        cmd.arg(format!("--src-creds={c}"));
    }
    cmd.arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:img", layout.display()));
    support::run(&mut cmd);
    let bundle = dir.join("bundle");
    support::ensure_tool("/usr/bin/umoci", "umoci");
    support::run(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:img", layout.display()))
            .arg(&bundle),
    );
    bundle.join("rootfs")
}

/// Push to another registry under two tags; skopeo and umoci read it; a second push
/// sends no blob: exactly one `HEAD` per blob and one manifest `PUT` per tag, no upload
/// session (`POST`), no blob `PUT`/`PATCH`.
#[test]
fn push_to_another_registry_reads_back_and_second_push_uploads_nothing() {
    let (_source, strata, base, _name) = seeded();
    let dest = Registry::start();
    let proxy = FaultProxy::start(dest.addr);
    let target = format!("{}/team/app:1", proxy.host());
    strata.tag(&format!("{}/base:1", _source.host()), &target);

    let (stdout, stderr) = strata.ok(&["push", "--tag-alias", "latest", &target]);
    let digest = manifest_digest(&base);
    let pinned = format!("{}/team/app@{digest}", proxy.host());
    assert_eq!(stdout, format!("{pinned}\n{pinned}\n"), "{stderr}");
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("pushing sha256:"))
            .count(),
        2,
        "config and layer uploaded:\n{stderr}"
    );
    assert!(stderr.contains("2 blobs uploaded"), "{stderr}");
    let first = proxy.requests();
    assert_eq!(
        first
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
            .count(),
        2
    );
    assert_eq!(
        first.iter().filter(|r| r.method == "PATCH").count(),
        0,
        "monolithic uploads"
    );

    for tag in ["1", "latest"] {
        let inspect =
            support::skopeo_inspect(&format!("{}/team/app:{tag}", proxy.host()), None, false);
        assert_eq!(inspect["Digest"], digest.as_str());
    }
    let raw = support::skopeo_inspect(&target, None, true);
    assert_eq!(raw["mediaType"], OCI_MANIFEST);
    let work = tempfile::tempdir().unwrap();
    let rootfs = skopeo_copy_and_unpack(&target, None, work.path());
    assert!(rootfs.join("bin/busybox").is_file());
    assert!(rootfs.join("etc/passwd").is_file());

    proxy.clear_requests();
    let (stdout, stderr) = strata.ok(&["push", "--tag-alias", "latest", &target]);
    assert_eq!(stdout, format!("{pinned}\n{pinned}\n"));
    assert_eq!(
        stderr.lines().filter(|l| l.ends_with(" exists")).count(),
        2,
        "{stderr}"
    );
    let second = proxy.requests();
    assert!(
        uploads(&second).is_empty(),
        "no upload session or blob upload: {second:#?}"
    );
    let heads: Vec<_> = second.iter().filter(|r| r.method == "HEAD").collect();
    assert_eq!(heads.len(), 2, "one HEAD per blob: {second:#?}");
    assert!(
        heads
            .iter()
            .all(|r| r.path.contains("/team/app/blobs/sha256:"))
    );
    let manifests: Vec<_> = second
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        manifests,
        vec![
            "/v2/team/app/manifests/1".to_owned(),
            "/v2/team/app/manifests/latest".to_owned()
        ]
    );
    assert!(
        second
            .iter()
            .all(|r| matches!(r.method.as_str(), "HEAD" | "PUT")
                || (r.method == "GET" && r.path == "/v2/")),
        "nothing else: {second:#?}"
    );
}

/// 5xx answers, 429, and dropped connections on every kind of push request: the push
/// retries and the image arrives intact.
#[test]
fn push_through_faults_succeeds() {
    let (source, strata, base, name) = seeded();
    let dest = Registry::start();
    let proxy = FaultProxy::start(dest.addr);
    proxy.set_rules(vec![
        FaultRule::new("HEAD", "/blobs/", 1, Fault::Status(503)).times(2),
        FaultRule::new("POST", "/blobs/uploads/", 1, Fault::Status(500)).times(1),
        FaultRule::new("PUT", "/blobs/uploads/", 1, Fault::DropConnection).times(1),
        FaultRule::new("PUT", "/blobs/uploads/", 1, Fault::Status(502)).times(1),
        FaultRule::new("PUT", "/manifests/", 1, Fault::RetryAfter(429, 1)).times(1),
    ]);
    let target = format!("{}/faulty:1", proxy.host());
    strata.tag(&name, &target);
    let (stdout, stderr) = strata.ok(&["push", &target]);
    assert!(
        stdout.contains(&manifest_digest(&base)),
        "{stdout}\n{stderr}"
    );
    assert!(proxy.faults_fired() >= 5, "{:#?}", proxy.requests());
    let inspect = support::skopeo_inspect(&target, None, false);
    assert_eq!(inspect["Digest"], manifest_digest(&base).as_str());
    let work = tempfile::tempdir().unwrap();
    let rootfs = skopeo_copy_and_unpack(&target, None, work.path());
    assert!(rootfs.join("bin/busybox").is_file());
    drop(source);
}

/// htpasswd registry: credentials from `$DOCKER_CONFIG/config.json` work; without them
/// the push fails with a permission error before any upload session or blob upload.
#[test]
fn htpasswd_auth_and_permission_error_before_uploads() {
    use base64::Engine as _;
    let (_source, strata, base, name) = seeded();
    let dest = Registry::start_with(RegistryAuth::Htpasswd {
        user: "pusher".into(),
        password: "s3cret-pw".into(),
    });
    let proxy = FaultProxy::start(dest.addr);
    let target = format!("{}/private/app:1", proxy.host());
    strata.tag(&name, &target);

    let anonymous = tempfile::tempdir().unwrap();
    let out = strata.run_with(&["push", &target], anonymous.path());
    let (_, stderr) = texts(&out);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no permission to push"), "{stderr}");
    assert!(stderr.contains("401"), "{stderr}");
    assert!(stderr.contains("strata login"), "{stderr}");
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method != "PUT" && r.method != "PATCH"),
        "{requests:#?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "POST" && r.status == 202),
        "no upload session opened: {requests:#?}"
    );

    let auth = base64::engine::general_purpose::STANDARD.encode("pusher:s3cret-pw");
    std::fs::write(
        strata.docker_config.path().join("config.json"),
        serde_json::json!({"auths": {proxy.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let (stdout, stderr) = strata.ok(&["push", &target]);
    assert!(!stderr.contains("s3cret-pw") && !stdout.contains("s3cret-pw"));
    let inspect = support::skopeo_inspect(&target, Some(("pusher", "s3cret-pw")), false);
    assert_eq!(inspect["Digest"], manifest_digest(&base).as_str());
}

/// Blobs of another repository of the same registry are mounted, not uploaded: with
/// `--mount-from` when the store does not know that repository, and from the local
/// images' names when it does.
#[test]
fn cross_repository_mount() {
    let source = Registry::start();
    let proxy = FaultProxy::start(source.addr);
    let base = BaseImage::busybox();
    base.push(&source.host(), "base:1", None, ImageFormat::Oci);
    let strata = Strata::new();
    let base_name = format!("{}/base:1", proxy.host());
    strata.ok(&["pull", &base_name]);

    // The store does not know where the base came from: --mount-from says it.
    let app = format!("{}/app:1", proxy.host());
    strata.tag(&base_name, &app);
    strata.untag(&base_name);
    proxy.clear_requests();
    let (_, stderr) = strata.ok(&["push", "--mount-from", &base_name, &app]);
    let mounts = |requests: &[support::LoggedRequest]| {
        requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.contains("mount=") && r.status == 201)
            .map(|r| r.path.clone())
            .collect::<Vec<_>>()
    };
    let requests = proxy.requests();
    let mounted = mounts(&requests);
    assert_eq!(mounted.len(), 2, "{requests:#?}");
    assert!(
        mounted.iter().all(|p| p.contains("from=base")),
        "{mounted:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| r.method == "PUT" && r.path.contains("/blobs/")),
        "nothing uploaded: {requests:#?}"
    );
    assert!(
        stderr.contains(&format!("mounted from {}/base", proxy.host())),
        "{stderr}"
    );
    assert!(stderr.contains("2 mounted"), "{stderr}");

    // Another tag of the image in the store names `app` on this registry: mount from it.
    let other = format!("{}/other:1", proxy.host());
    strata.tag(&app, &other);
    proxy.clear_requests();
    strata.ok(&["push", &other]);
    let requests = proxy.requests();
    let mounted = mounts(&requests);
    assert_eq!(mounted.len(), 2, "{requests:#?}");
    assert!(
        mounted.iter().all(|p| p.contains("from=app")),
        "{mounted:?}"
    );
    let inspect = support::skopeo_inspect(&other, None, false);
    assert_eq!(inspect["Digest"], manifest_digest(&base).as_str());
}

/// A registry that rejects OCI manifests (400 MANIFEST_INVALID) gets Docker schema2,
/// with a warning; skopeo sees schema2 and the converted manifest is in the store.
#[test]
fn oci_rejected_falls_back_to_docker_schema2() {
    let (_source, strata, base, name) = seeded();
    let dest = Registry::start();
    let proxy = FaultProxy::start(dest.addr);
    proxy.set_rules(vec![
        FaultRule::new(
            "PUT",
            "/manifests/",
            1,
            Fault::ErrorCode(400, "MANIFEST_INVALID".into()),
        )
        .when_header("content-type", OCI_MANIFEST),
    ]);
    let target = format!("{}/legacy:1", proxy.host());
    strata.tag(&name, &target);
    let (stdout, stderr) = strata.ok(&["push", "--tag-alias", "2", &target]);
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(stderr.contains("Docker schema2"), "{stderr}");
    assert!(stderr.contains("MANIFEST_INVALID"), "{stderr}");
    assert_eq!(
        stderr.matches("warning:").count(),
        1,
        "one warning: {stderr}"
    );
    let original = manifest_digest(&base);
    assert!(!stdout.contains(&original), "{stdout}");
    let converted = stdout
        .lines()
        .next()
        .and_then(|l| l.split_once('@'))
        .map(|(_, d)| d.to_owned())
        .unwrap();
    assert!(strata.has_blob(&converted), "converted manifest stored");

    let raw = support::skopeo_inspect(&target, None, true);
    assert_eq!(raw["mediaType"], DOCKER_MANIFEST);
    assert_eq!(
        raw["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(
        raw["layers"][0]["mediaType"],
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    );
    let inspect = support::skopeo_inspect(&format!("{}/legacy:2", proxy.host()), None, false);
    assert_eq!(inspect["Digest"], converted.as_str());
    let work = tempfile::tempdir().unwrap();
    let rootfs = skopeo_copy_and_unpack(&target, None, work.path());
    assert!(rootfs.join("bin/busybox").is_file());
}

/// A registry that refuses chunked uploads (`PATCH` -> 405): the monolithic default
/// never sends one.
#[test]
fn registry_rejecting_chunked_uploads() {
    let (_source, strata, base, name) = seeded();
    let dest = Registry::start();
    let proxy = FaultProxy::start(dest.addr);
    proxy.set_rules(vec![FaultRule::new("PATCH", "", 1, Fault::Status(405))]);
    let target = format!("{}/mono:1", proxy.host());
    strata.tag(&name, &target);
    strata.ok(&["push", &target]);
    let requests = proxy.requests();
    assert!(
        requests.iter().all(|r| r.method != "PATCH"),
        "{requests:#?}"
    );
    let inspect = support::skopeo_inspect(&target, None, false);
    assert_eq!(inspect["Digest"], manifest_digest(&base).as_str());
}

/// Docker Hub needs `namespace/repo`: a single-component name or `library/` is refused
/// with an explanation, before any lookup or request.
#[test]
fn docker_hub_single_component_name_is_explained() {
    let strata = Strata::new();
    for reference in ["busybox", "docker.io/library/busybox:1.36", "docker.io/app"] {
        let stderr = strata.fails(&["push", reference]);
        assert!(stderr.contains("namespace/repo"), "{reference}: {stderr}");
        assert!(stderr.contains("<your-user>/"), "{reference}: {stderr}");
    }
    let stderr = strata.fails(&["push", "--tag-alias", "docker.io/x", "me/app:1"]);
    assert!(stderr.contains("namespace/repo"), "{stderr}");
}

/// An image that is not in the store is reported as such.
#[test]
fn image_missing_from_store() {
    let strata = Strata::new();
    let stderr = strata.fails(&["push", "127.0.0.1:9/nothing:1"]);
    assert!(stderr.contains("not in the local store"), "{stderr}");
}
