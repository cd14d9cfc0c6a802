//! End-to-end tests of image export through the `strata build` binary: a `FROM scratch`
//! build (no registry, no sandbox) exported to the store and to every `--output` type,
//! read back with skopeo. The export module's own tests (src/export/tests.rs) cover base
//! layers, whiteouts, media types and blob reuse in detail.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// `SOURCE_DATE_EPOCH` of the tests.
const EPOCH: &str = "1000000000";

/// A build context with a Dockerfile that needs neither a registry nor a sandbox.
fn context(dir: &Path, greeting: &str) -> PathBuf {
    let ctx = dir.join("ctx");
    fs::create_dir_all(ctx.join("sub")).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY hello.txt /hello.txt\nCOPY sub /sub\nLABEL a=1\n",
    )
    .unwrap();
    fs::write(ctx.join("hello.txt"), greeting).unwrap();
    fs::write(ctx.join("sub/data"), "data\n").unwrap();
    ctx
}

/// Runs `strata --root ROOT build ARGS... CONTEXT` with a fixed `SOURCE_DATE_EPOCH`.
fn build(root: &Path, ctx: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--root")
        .arg(root)
        .arg("build")
        .args(["--progress", "plain"])
        .args(args)
        .arg(ctx)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .env_remove("STRATA_ROOT")
        .output()
        .unwrap()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "strata build failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn skopeo_inspect(transport: &str) -> Value {
    let out = Command::new("skopeo")
        .args(["inspect", transport])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo inspect {transport}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn build_exports_to_the_store_and_every_output_type() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "hello\n");
    let root = dir.path().join("root");
    let out = dir.path().join("out");
    let path = |name: &str| out.join(name).display().to_string();
    let outputs = [
        format!("type=oci,dest={}", path("oci.tar")),
        format!("type=docker,dest={}", path("docker.tar")),
        format!("type=local,dest={}", path("local")),
        format!("type=tar,dest={}", path("fs.tar")),
    ];
    let mut args = vec!["-t", "app:1"];
    for output in &outputs {
        args.extend(["--output", output]);
    }
    let (iid, meta) = (path("iid"), path("meta.json"));
    args.extend(["--iidfile", &iid, "--metadata-file", &meta]);
    assert_success(&build(&root, &ctx, &args));

    let meta: Value = serde_json::from_slice(&fs::read(out.join("meta.json")).unwrap()).unwrap();
    let digest = meta["containerimage.digest"].as_str().unwrap();
    assert_eq!(meta["image.name"], "docker.io/library/app:1");
    assert_eq!(
        fs::read_to_string(out.join("iid")).unwrap(),
        meta["containerimage.config.digest"].as_str().unwrap()
    );

    let store = root.join("store");
    let stored = skopeo_inspect(&format!("oci:{}:docker.io/library/app:1", store.display()));
    assert_eq!(stored["Digest"], digest);
    assert_eq!(stored["Labels"]["a"], "1");
    assert_eq!(stored["Layers"].as_array().unwrap().len(), 2);
    let archive = skopeo_inspect(&format!("oci-archive:{}", path("oci.tar")));
    assert_eq!(archive["Digest"], digest);
    let docker = skopeo_inspect(&format!("docker-archive:{}", path("docker.tar")));
    assert_eq!(docker["Layers"].as_array().unwrap().len(), 2);

    assert_eq!(
        fs::read_to_string(out.join("local/hello.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("local/sub/data")).unwrap(),
        "data\n"
    );
    let mut tar = tar::Archive::new(fs::File::open(out.join("fs.tar")).unwrap());
    let mut names: Vec<String> = tar
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["hello.txt", "sub/", "sub/data"]);
}

#[test]
fn same_source_date_epoch_gives_the_same_digest_in_two_roots() {
    let digest = |n: &str| {
        let dir = tempfile::tempdir().unwrap();
        let ctx = context(dir.path(), "same\n");
        // Different file times in each run; SOURCE_DATE_EPOCH clamps them.
        let when =
            std::time::SystemTime::now() - std::time::Duration::from_secs(3600 * n.len() as u64);
        fs::File::open(ctx.join("hello.txt"))
            .unwrap()
            .set_modified(when)
            .unwrap();
        let meta = dir.path().join("meta.json");
        let meta_arg = meta.display().to_string();
        let out = build(
            &dir.path().join("root"),
            &ctx,
            &["--metadata-file", &meta_arg],
        );
        assert_success(&out);
        let meta: Value = serde_json::from_slice(&fs::read(&meta).unwrap()).unwrap();
        meta["containerimage.digest"].as_str().unwrap().to_owned()
    };
    assert_eq!(digest("a"), digest("bb"));
}

#[test]
fn a_malformed_output_fails_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "x\n");
    let out = build(
        &dir.path().join("root"),
        &ctx,
        &["--output", "type=zip,dest=x"],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown type `zip`"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

/// `dest=-`: the archive is the whole of stdout (the image ID is not printed after it),
/// and skopeo reads what was streamed.
#[test]
fn archives_stream_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "streamed\n");
    let root = dir.path().join("root");
    for (kind, transport) in [("oci", "oci-archive"), ("docker", "docker-archive")] {
        let output = format!("type={kind},dest=-");
        let out = build(&root, &ctx, &["-t", "app:1", "--output", &output]);
        assert_success(&out);
        let file = dir.path().join(format!("{kind}.tar"));
        fs::write(&file, &out.stdout).unwrap();
        let image = skopeo_inspect(&format!("{transport}:{}", file.display()));
        assert_eq!(image["Layers"].as_array().unwrap().len(), 2, "{kind}");
        assert_eq!(image["Labels"]["a"], "1", "{kind}");
    }
}

/// A docker tarball of zstd layers is written, with a warning that older Docker daemons
/// cannot load it (Debian 12's docker.io 20.10 fails with "invalid tar header").
#[test]
fn zstd_docker_archive_warns_about_old_docker() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path(), "zstd\n");
    let file = dir.path().join("docker.tar");
    let output = format!("type=docker,dest={}", file.display());
    let out = build(
        &dir.path().join("root"),
        &ctx,
        &["-t", "app:1", "--compression=zstd", "--output", &output],
    );
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("needs Docker 23.0 or later"), "{stderr}");
    let image = skopeo_inspect(&format!("docker-archive:{}", file.display()));
    assert_eq!(image["Layers"].as_array().unwrap().len(), 2);
}
