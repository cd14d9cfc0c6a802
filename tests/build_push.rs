//! End-to-end tests of `strata build --push`: the real binary builds from the busybox
//! base image of `tests/support_build` (a `RUN` in the sandbox, a `COPY`, config
//! instructions) and pushes every `-t` tag to Debian's `docker-registry` on loopback,
//! open or with htpasswd auth, through the counting and fault-injecting proxy of
//! `registry-client/tests/support`. The pushed images are read back with tools we did not
//! write: `skopeo inspect`, `skopeo copy docker://... oci:DIR` and `umoci unpack`.
//!
//! The tests need root (namespaces, overlayfs); elsewhere each one prints why it skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_build;

#[path = "../registry-client/tests/support/mod.rs"]
mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Fault, FaultProxy, FaultRule, LoggedRequest, Registry, RegistryAuth};
use support_build::{EPOCH, Run, TestContext, metadata_digest, read};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const OCI_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// The image of these tests: on top of busybox, a `RUN` layer and a `COPY` layer, and
/// config that the pushed image must carry (`ENV`, `WORKDIR`, `CMD`, a label).
const DOCKERFILE: &str = "FROM busybox:latest
ENV GREETING=hello
RUN mkdir -p /app && echo \"$GREETING from run\" > /app/run.txt
COPY app.txt /app/app.txt
WORKDIR /app
LABEL org.example.test=build-push
CMD [\"cat\", \"/app/app.txt\"]
";

/// Layers of the image: busybox's one, `RUN`'s, `COPY`'s.
const LAYERS: usize = 3;

/// The build context of [`DOCKERFILE`].
fn app_context(t: &TestContext) -> PathBuf {
    let ctx = t.context(
        "app",
        &[("Dockerfile", DOCKERFILE), ("app.txt", "the app file\n")],
    );
    fs::create_dir_all(t.dir().join("out")).unwrap();
    ctx
}

/// `strata build --progress=plain ARGS... CTX` in the test's root, with the tests'
/// `SOURCE_DATE_EPOCH`, `$DOCKER_CONFIG` = `docker_config`, and the export module's
/// debug log on stderr (it says, per step layer, whether it was compressed or reused).
fn build(t: &TestContext, ctx: &Path, args: &[&str], docker_config: &Path) -> Run {
    let out = t
        .command(t.root(), ctx, args)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env("DOCKER_CONFIG", docker_config)
        .env("STRATA_LOG", "warn,strata::export=debug")
        .output()
        .unwrap();
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Step layers this build compressed (the export's `wrote layer` log line).
fn compressed(run: &Run) -> usize {
    run.stderr
        .lines()
        .filter(|l| l.contains("wrote layer"))
        .count()
}

/// Step layers whose blob this build reused from the cache index.
fn reused(run: &Run) -> usize {
    run.stderr
        .lines()
        .filter(|l| l.contains("reusing the layer blob"))
        .count()
}

/// Requests that open upload sessions or send blob bytes.
fn uploads(requests: &[LoggedRequest]) -> Vec<&LoggedRequest> {
    requests
        .iter()
        .filter(|r| {
            r.path.contains("/blobs/")
                && (r.method == "POST" || r.method == "PUT" || r.method == "PATCH")
        })
        .collect()
}

/// The manifest `PUT` paths, in order.
fn manifest_puts(requests: &[LoggedRequest]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/manifests/"))
        .map(|r| r.path.clone())
        .collect()
}

/// `skopeo inspect --config docker://REF`.
fn remote_config(reference: &str, creds: Option<(&str, &str)>) -> Value {
    let mut cmd = Command::new("skopeo");
    cmd.args(["inspect", "--tls-verify=false", "--config"]);
    if let Some((u, p)) = creds {
        cmd.arg(format!("--creds={u}:{p}"));
    }
    cmd.arg(format!("docker://{reference}"));
    serde_json::from_str(&support::run(&mut cmd)).unwrap()
}

/// `skopeo copy [COPY_ARGS] docker://REF oci:DIR/layout:img` then `umoci unpack`;
/// returns the bundle directory (its `rootfs/` and the runtime `config.json` umoci
/// derived from the image config).
fn copy_and_unpack(
    reference: &str,
    creds: Option<(&str, &str)>,
    copy_args: &[&str],
    dir: &Path,
) -> PathBuf {
    let layout = dir.join("layout");
    let mut cmd = Command::new("skopeo");
    cmd.args([
        "--insecure-policy",
        "copy",
        "--quiet",
        "--src-tls-verify=false",
    ]);
    if let Some((u, p)) = creds {
        cmd.arg(format!("--src-creds={u}:{p}"));
    }
    cmd.args(copy_args)
        .arg(format!("docker://{reference}"))
        .arg(format!("oci:{}:img", layout.display()));
    support::run(&mut cmd);
    let bundle = dir.join("bundle");
    support::run(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image"])
            .arg(format!("{}:img", layout.display()))
            .arg(&bundle),
    );
    bundle
}

/// What every pushed copy of the image must show: the files of each layer and the
/// config, both through `skopeo inspect --config` and through the runtime config umoci
/// derives from it. `copy_args` go to the `skopeo copy` before `umoci unpack`.
fn assert_image_content(
    reference: &str,
    creds: Option<(&str, &str)>,
    copy_args: &[&str],
    work: &Path,
) {
    let config = remote_config(reference, creds);
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(env.contains(&"GREETING=hello"), "{config}");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat", "/app/app.txt"])
    );
    assert_eq!(config["config"]["WorkingDir"], "/app");
    assert_eq!(config["config"]["Labels"]["org.example.test"], "build-push");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().unwrap().len(),
        LAYERS
    );

    let bundle = copy_and_unpack(reference, creds, copy_args, work);
    let rootfs = bundle.join("rootfs");
    assert_eq!(read(&rootfs, "/app/run.txt"), "hello from run\n");
    assert_eq!(read(&rootfs, "/app/app.txt"), "the app file\n");
    assert!(rootfs.join("bin/busybox").is_file());
    let runtime: Value =
        serde_json::from_slice(&fs::read(bundle.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        runtime["process"]["args"],
        serde_json::json!(["cat", "/app/app.txt"])
    );
    assert_eq!(runtime["process"]["cwd"], "/app");
    assert!(
        runtime["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "GREETING=hello"),
        "{runtime}"
    );
}

/// `build -t R/app:1 -t R/app:2 --push`: both tags hold the built manifest, skopeo and
/// umoci read it back. Building and pushing again, unchanged: the build compresses no
/// layer (every step blob comes from the cache index) and the push uploads no blob: one
/// `HEAD` per blob, one manifest `PUT` per tag, nothing else.
#[test]
fn build_push_two_tags_then_unchanged_rebuild_uploads_and_compresses_nothing() {
    let t =
        ctx_or_skip!("build_push_two_tags_then_unchanged_rebuild_uploads_and_compresses_nothing");
    let ctx = app_context(&t);
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    let (tag1, tag2) = (
        format!("{}/team/app:1", proxy.host()),
        format!("{}/team/app:2", proxy.host()),
    );
    let meta = t.dir().join("out/meta.json");
    let meta_arg = meta.display().to_string();
    let args = [
        "-t",
        tag1.as_str(),
        "-t",
        tag2.as_str(),
        "--push",
        "--metadata-file",
        meta_arg.as_str(),
    ];
    let docker_config = tempfile::tempdir().unwrap();

    let first = build(&t, &ctx, &args, docker_config.path()).ok();
    let digest = metadata_digest(&meta);
    assert_eq!(
        compressed(&first),
        2,
        "RUN and COPY compressed:\n{}",
        first.stderr
    );
    let pinned = format!("{}/team/app@{digest}", proxy.host());
    assert_eq!(
        first.stderr.matches(&format!("pushed {pinned}")).count(),
        2,
        "{}",
        first.stderr
    );
    let requests = proxy.requests();
    let blob_puts = requests
        .iter()
        .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/"))
        .count();
    assert_eq!(blob_puts, LAYERS + 1, "layers and config: {requests:#?}");
    assert_eq!(
        manifest_puts(&requests),
        ["/v2/team/app/manifests/1", "/v2/team/app/manifests/2"]
    );

    for tag in [&tag1, &tag2] {
        let inspect = support::skopeo_inspect(tag, None, false);
        assert_eq!(inspect["Digest"], digest.as_str(), "{tag}");
    }
    let raw = support::skopeo_inspect(&tag1, None, true);
    assert_eq!(raw["mediaType"], OCI_MANIFEST);
    assert_eq!(raw["config"]["mediaType"], OCI_CONFIG);
    let work = tempfile::tempdir().unwrap();
    assert_image_content(&tag2, None, &[], work.path());

    proxy.clear_requests();
    let second = build(&t, &ctx, &args, docker_config.path()).ok();
    assert_eq!(metadata_digest(&meta), digest, "same image");
    assert_eq!(
        compressed(&second),
        0,
        "nothing recompressed:\n{}",
        second.stderr
    );
    assert_eq!(reused(&second), 2, "{}", second.stderr);
    let requests = proxy.requests();
    assert!(
        uploads(&requests).is_empty(),
        "no upload session, no blob upload: {requests:#?}"
    );
    assert_eq!(
        requests.iter().filter(|r| r.method == "HEAD").count(),
        LAYERS + 1,
        "one HEAD per blob: {requests:#?}"
    );
    assert_eq!(
        manifest_puts(&requests),
        ["/v2/team/app/manifests/1", "/v2/team/app/manifests/2"]
    );
    assert!(
        requests
            .iter()
            .all(|r| matches!(r.method.as_str(), "HEAD" | "PUT")
                || (r.method == "GET" && r.path == "/v2/")),
        "nothing else: {requests:#?}"
    );
}

/// An htpasswd registry: without credentials `build --push` fails with a permission
/// error and uploads nothing; with them in `$DOCKER_CONFIG/config.json` both tags
/// arrive, and no credential is printed.
#[test]
fn build_push_to_an_htpasswd_registry() {
    use base64::Engine as _;
    let t = ctx_or_skip!("build_push_to_an_htpasswd_registry");
    let ctx = app_context(&t);
    let (user, password) = ("pusher", "b1ld-pw-9");
    let registry = Registry::start_with(RegistryAuth::Htpasswd {
        user: user.into(),
        password: password.into(),
    });
    let proxy = FaultProxy::start(registry.addr);
    let (tag1, tag2) = (
        format!("{}/private/app:1", proxy.host()),
        format!("{}/private/app:2", proxy.host()),
    );
    let meta = t.dir().join("out/meta.json");
    let meta_arg = meta.display().to_string();
    let args = [
        "-t",
        tag1.as_str(),
        "-t",
        tag2.as_str(),
        "--push",
        "--metadata-file",
        meta_arg.as_str(),
    ];

    let anonymous = tempfile::tempdir().unwrap();
    let denied = build(&t, &ctx, &args, anonymous.path()).fails();
    assert!(
        denied.stderr.contains("no permission to push"),
        "{}",
        denied.stderr
    );
    assert!(denied.stderr.contains("401"), "{}", denied.stderr);
    let requests = proxy.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.method != "PUT" && r.method != "PATCH"),
        "{requests:#?}"
    );

    let docker_config = tempfile::tempdir().unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    fs::write(
        docker_config.path().join("config.json"),
        serde_json::json!({"auths": {proxy.host(): {"auth": auth}}}).to_string(),
    )
    .unwrap();
    let run = build(&t, &ctx, &args, docker_config.path()).ok();
    assert!(!run.stderr.contains(password) && !run.stdout.contains(password));
    let digest = metadata_digest(&meta);
    let creds = Some((user, password));
    for tag in [&tag1, &tag2] {
        let inspect = support::skopeo_inspect(tag, creds, false);
        assert_eq!(inspect["Digest"], digest.as_str(), "{tag}");
    }
    let work = tempfile::tempdir().unwrap();
    assert_image_content(&tag1, creds, &[], work.path());
}

/// Through a proxy that answers 5xx and 429, and drops an upload's connection: the
/// push retries and both tags hold the image, intact.
#[test]
fn build_push_through_faults() {
    let t = ctx_or_skip!("build_push_through_faults");
    let ctx = app_context(&t);
    let registry = Registry::start();
    let proxy = FaultProxy::start(registry.addr);
    proxy.set_rules(vec![
        FaultRule::new("HEAD", "/blobs/", 2, Fault::Status(503)).times(2),
        FaultRule::new("POST", "/blobs/uploads/", 1, Fault::Status(500)).times(1),
        FaultRule::new("PUT", "/blobs/uploads/", 2, Fault::DropConnection).times(1),
        FaultRule::new("PUT", "/blobs/uploads/", 3, Fault::Status(502)).times(1),
        FaultRule::new("PUT", "/manifests/", 1, Fault::RetryAfter(429, 1)).times(1),
        FaultRule::new("PUT", "/manifests/2", 1, Fault::Status(503)).times(1),
    ]);
    let (tag1, tag2) = (
        format!("{}/faulty/app:1", proxy.host()),
        format!("{}/faulty/app:2", proxy.host()),
    );
    let meta = t.dir().join("out/meta.json");
    let meta_arg = meta.display().to_string();
    let docker_config = tempfile::tempdir().unwrap();
    build(
        &t,
        &ctx,
        &[
            "-t",
            &tag1,
            "-t",
            &tag2,
            "--push",
            "--metadata-file",
            &meta_arg,
        ],
        docker_config.path(),
    )
    .ok();
    assert!(proxy.faults_fired() >= 6, "{:#?}", proxy.requests());
    let digest = metadata_digest(&meta);
    for tag in [&tag1, &tag2] {
        let inspect = support::skopeo_inspect(tag, None, false);
        assert_eq!(inspect["Digest"], digest.as_str(), "{tag}");
    }
    let work = tempfile::tempdir().unwrap();
    assert_image_content(&tag2, None, &[], work.path());
}

/// The blob of `digest` in the test root's store.
fn store_blob(t: &TestContext, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    fs::read(t.root().join("store/blobs/sha256").join(hex)).unwrap()
}

/// The layer descriptors of a pushed manifest (`skopeo inspect --raw`).
fn layer_descriptors(raw: &Value) -> Vec<(String, String)> {
    raw["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["mediaType"].as_str().unwrap().to_owned(),
                l["digest"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `--oci-mediatypes=false`, `--compression=gzip|zstd|uncompressed` and
/// `--compression-level`, pushed and read back: the media types of manifest, config and
/// layers as skopeo sees them, the bytes of the layer blobs (gzip header level flag, zstd
/// magic, plain tar), base layers never rewritten, and every variant unpacks with umoci.
#[test]
fn media_types_and_compressions_push_and_unpack() {
    let t = ctx_or_skip!("media_types_and_compressions_push_and_unpack");
    let ctx = app_context(&t);
    let registry = Registry::start();
    let host = registry.host();
    let docker_config = tempfile::tempdir().unwrap();
    let push = |tag: &str, flags: &[&str]| -> (Run, Value) {
        let reference = format!("{host}/media:{tag}");
        let mut args = vec!["-t", reference.as_str(), "--push"];
        args.extend_from_slice(flags);
        let run = build(&t, &ctx, &args, docker_config.path()).ok();
        let raw = support::skopeo_inspect(&reference, None, true);
        // umoci 0.4 (Debian 12) reads no zstd: skopeo decompresses the zstd layers
        // (and recompresses them as gzip) on the way to the OCI layout umoci unpacks.
        let copy_args: &[&str] = if flags.contains(&"--compression=zstd") {
            &["--dest-compress-format=gzip"]
        } else {
            &[]
        };
        let work = tempfile::tempdir().unwrap();
        assert_image_content(&reference, None, copy_args, work.path());
        (run, raw)
    };

    let (_, gzip) = push("gzip", &[]);
    assert_eq!(gzip["mediaType"], OCI_MANIFEST);
    let gzip_layers = layer_descriptors(&gzip);
    assert!(gzip_layers.iter().all(|(m, _)| m == OCI_GZIP), "{gzip}");
    let base_layer = gzip_layers[0].1.clone();

    // Docker schema2: every type converts, the blobs stay the same bytes.
    let (_, docker) = push("docker", &["--oci-mediatypes=false"]);
    assert_eq!(docker["mediaType"], DOCKER_MANIFEST);
    assert_eq!(docker["config"]["mediaType"], DOCKER_CONFIG);
    let docker_layers = layer_descriptors(&docker);
    assert!(
        docker_layers.iter().all(|(m, _)| m == DOCKER_GZIP),
        "{docker}"
    );
    let digests = |layers: &[(String, String)]| -> Vec<String> {
        layers.iter().map(|(_, d)| d.clone()).collect()
    };
    assert_eq!(digests(&docker_layers), digests(&gzip_layers));

    // zstd: the step layers are zstd frames; the base layer keeps its gzip blob.
    let (_, zstd) = push("zstd", &["--compression=zstd"]);
    assert_eq!(zstd["mediaType"], OCI_MANIFEST);
    let zstd_layers = layer_descriptors(&zstd);
    assert_eq!(zstd_layers[0], (OCI_GZIP.to_owned(), base_layer.clone()));
    for (media_type, digest) in &zstd_layers[1..] {
        assert_eq!(media_type, OCI_ZSTD);
        assert_eq!(
            store_blob(&t, digest)[..4],
            [0x28, 0xb5, 0x2f, 0xfd],
            "zstd magic"
        );
    }
    let (_, zstd19) = push("zstd19", &["--compression=zstd", "--compression-level=19"]);
    assert_ne!(
        layer_descriptors(&zstd19)[1..],
        zstd_layers[1..],
        "another level, other blobs"
    );

    // zstd has no Docker media type: OCI is kept, with a warning.
    let (run, forced) = push(
        "zstd-docker",
        &["--compression=zstd", "--oci-mediatypes=false"],
    );
    assert_eq!(forced["mediaType"], OCI_MANIFEST);
    assert!(
        run.stderr.contains("zstd layers have no Docker media type"),
        "{}",
        run.stderr
    );

    // Uncompressed: plain tar blobs (ustar magic at 257).
    let (_, plain) = push("plain", &["--compression=uncompressed"]);
    let plain_layers = layer_descriptors(&plain);
    assert_eq!(plain_layers[0].1, base_layer);
    for (media_type, digest) in &plain_layers[1..] {
        assert_eq!(media_type, OCI_TAR);
        assert_eq!(&store_blob(&t, digest)[257..262], b"ustar");
    }

    // gzip levels: the header's XFL byte says best (2) or fastest (4) compression.
    for (tag, level, xfl) in [("gzip1", "1", 4u8), ("gzip9", "9", 2u8)] {
        let flag = format!("--compression-level={level}");
        let (_, raw) = push(tag, &[flag.as_str()]);
        for (media_type, digest) in &layer_descriptors(&raw)[1..] {
            assert_eq!(media_type, OCI_GZIP);
            let blob = store_blob(&t, digest);
            assert_eq!(blob[..2], [0x1f, 0x8b]);
            assert_eq!(blob[8], xfl, "gzip level {level}");
        }
    }

    // A level out of range is refused with the valid range.
    let bad = build(
        &t,
        &ctx,
        &["--compression=gzip", "--compression-level=12"],
        docker_config.path(),
    )
    .fails();
    assert!(bad.stderr.contains("0-9"), "{}", bad.stderr);
}
