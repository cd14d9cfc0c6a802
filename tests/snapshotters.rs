//! The overlay and copy snapshotters build byte-identical images, and
//! `--print=graph` shows the lowered graph without running anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn strata() -> &'static str {
    env!("CARGO_BIN_EXE_strata")
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn run(root: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(strata());
    cmd.arg("--root").arg(root).args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "strata {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A busybox root filesystem from Debian's busybox-static, as a build context.
fn busybox_context(dir: &Path) -> PathBuf {
    let ctx = dir.join("base");
    let rootfs = ctx.join("rootfs");
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    for applet in ["sh", "echo", "mkdir", "rm", "cat", "ln", "chmod", "touch"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
    }
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM scratch\nCOPY rootfs/ /\n").unwrap();
    ctx
}

fn manifest_digest(metadata: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(metadata).unwrap()).unwrap();
    v["containerimage.digest"].as_str().unwrap().to_string()
}

#[test]
fn overlay_and_copy_snapshotters_give_the_same_image() {
    if !is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: needs root and /bin/busybox (busybox-static)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = busybox_context(tmp.path());
    let app = tmp.path().join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("a.txt"), "a\n").unwrap();
    std::fs::write(
        app.join("Dockerfile"),
        "FROM busybox:latest\nCOPY a.txt /data/a.txt\nRUN rm /etc/group && mkdir -p /opt/x && echo hi > /opt/x/f && ln -s /opt/x/f /link\nRUN chmod 600 /data/a.txt && rm -r /opt/x && mkdir /opt/x && touch /opt/x/new\n",
    )
    .unwrap();
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let mut digests = Vec::new();
    for mode in ["overlay", "copy"] {
        let root = tmp.path().join(format!("root-{mode}"));
        let envs = [epoch[0], ("STRATA_SNAPSHOTTER", mode)];
        run(
            &root,
            &["build", "-t", "busybox:latest", base.to_str().unwrap()],
            &envs,
        );
        let md = tmp.path().join(format!("md-{mode}.json"));
        run(
            &root,
            &[
                "build",
                "-t",
                "app:1",
                "--metadata-file",
                md.to_str().unwrap(),
                app.to_str().unwrap(),
            ],
            &envs,
        );
        digests.push(manifest_digest(&md));
    }
    assert_eq!(
        digests[0], digests[1],
        "overlay and copy snapshotters disagree"
    );
}

#[test]
fn print_graph_shows_vertices_without_running() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch AS a\nCOPY x /x\nFROM scratch AS unused\nCOPY y /y\nFROM a\nCOPY z /z\n",
    )
    .unwrap();
    let root = tmp.path().join("root");
    let out = run(
        &root,
        &["build", "--print=graph", ctx.to_str().unwrap()],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let vertices = v["vertices"].as_array().unwrap();
    let names: Vec<&str> = vertices.iter().filter_map(|x| x["name"].as_str()).collect();
    assert!(names.iter().any(|n| n.contains("COPY x /x")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("COPY z /z")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.contains("COPY y /y")),
        "unused stage in graph: {names:?}"
    );
    for x in vertices {
        assert!(x["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    assert_eq!(v["stage"], "stage-2");
    // Nothing ran: no snapshot was made.
    let snapshots = root.join("snapshots");
    let count = std::fs::read_dir(&snapshots)
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(count, 0);

    let out = run(
        &root,
        &[
            "build",
            "--print=graph",
            "--target",
            "unused",
            ctx.to_str().unwrap(),
        ],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["stage"], "unused");
}

#[test]
fn bad_dockerfile_shows_the_snippet_and_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("Dockerfile"),
        "FROM scratch\nRUNN echo hi\nCOPY a b\n",
    )
    .unwrap();
    let out = Command::new(strata())
        .arg("--root")
        .arg(tmp.path().join("root"))
        .args(["build", "--print=graph"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown instruction"), "{err}");
    assert!(err.contains("Dockerfile:2"), "{err}");
    assert!(err.contains(">>> RUNN echo hi"), "{err}");
    assert!(err.contains("did you mean RUN?"), "{err}");
}
