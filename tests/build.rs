//! End-to-end tests of `strata build` (the "solver" done-when list): the real binary
//! builds from a busybox base image that strata itself made (`FROM scratch` + Debian's
//! busybox-static, see `tests/support_build`), and the results are read back with tools
//! we did not write: `umoci unpack` for the filesystem, `skopeo inspect --config` for the
//! config. Every test runs its builds in its own root. The tests need root (namespaces,
//! overlayfs); elsewhere each one prints why it skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_build;

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use support_build::{
    EPOCH, TestContext, contains, exists, layer_entries, meta, metadata_digest, mode, owner, read,
    snapshot_files, store_blob_contents, write,
};

/// The lines of the image config's `Env`.
fn env_of(config: &Value) -> Vec<String> {
    config["config"]["Env"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// Adds `app` (1000:1000) and an image-only `strataimg` (4321:4322) user, and a group
/// `staff` (50), to the image's passwd and group.
const ADD_USERS: &str = "RUN echo 'app:x:1000:1000::/home/app:/bin/sh' >> /etc/passwd \
    && echo 'strataimg:x:4321:4322::/:/bin/sh' >> /etc/passwd \
    && echo 'app:x:1000:' >> /etc/group && echo 'strataimg:x:4322:' >> /etc/group \
    && echo 'staff:x:50:' >> /etc/group\n";

#[test]
fn single_stage_config_and_filesystem() {
    let t = ctx_or_skip!("single_stage_config_and_filesystem");
    let dockerfile = format!(
        "FROM busybox\n\
         ENV APP_HOME=/opt/app GREETING=\"hello world\"\n\
         WORKDIR $APP_HOME\n\
         COPY hello.txt .\n\
         {ADD_USERS}\
         RUN echo \"$GREETING\" > generated.txt\n\
         USER app\n\
         RUN id -u > /tmp/whoami && echo \"$APP_HOME\" > /tmp/home\n\
         LABEL org.example.kind=e2e\n\
         EXPOSE 8080/tcp\n\
         ENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
         CMD [\"cat generated.txt\"]\n"
    );
    let ctx = t.context("ctx", &[("hello.txt", "hello from the context\n")]);
    fs::set_permissions(ctx.join("hello.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    write(&ctx.join("Dockerfile"), &dockerfile);
    let run = t.build(&ctx, &["-t", "single:1"]).ok();
    assert!(
        run.image_id().starts_with("sha256:"),
        "stdout: {}",
        run.stdout
    );

    let config = t.config("single:1");
    let env = env_of(&config);
    assert!(env.contains(&"APP_HOME=/opt/app".to_string()), "{env:?}");
    assert!(env.contains(&"GREETING=hello world".to_string()), "{env:?}");
    assert_eq!(config["config"]["WorkingDir"], "/opt/app");
    assert_eq!(config["config"]["User"], "app");
    assert_eq!(
        config["config"]["Cmd"],
        serde_json::json!(["cat generated.txt"])
    );
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c"])
    );
    assert_eq!(config["config"]["Labels"]["org.example.kind"], "e2e");
    assert!(
        config["config"]["ExposedPorts"]["8080/tcp"].is_object(),
        "{config}"
    );
    assert_eq!(config["os"], "linux");
    // base layer + WORKDIR + COPY + RUN users + RUN generated + RUN whoami
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), 6, "{config}");
    let history = config["history"].as_array().unwrap();
    let created_by: Vec<&str> = history
        .iter()
        .map(|h| h["created_by"].as_str().unwrap_or(""))
        .collect();
    assert!(
        created_by
            .iter()
            .any(|c| c.contains("RUN /bin/sh -c echo \"$GREETING\" > generated.txt")),
        "{created_by:#?}"
    );
    let non_empty = history
        .iter()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .count();
    assert_eq!(non_empty, diff_ids.len(), "{history:#?}");

    let rootfs = t.unpack("single:1");
    assert_eq!(
        read(&rootfs, "/opt/app/hello.txt"),
        "hello from the context\n"
    );
    assert_eq!(mode(&rootfs, "/opt/app/hello.txt"), 0o640);
    assert_eq!(owner(&rootfs, "/opt/app/hello.txt"), (0, 0));
    assert_eq!(read(&rootfs, "/opt/app/generated.txt"), "hello world\n");
    assert_eq!(read(&rootfs, "/tmp/whoami"), "1000\n");
    assert_eq!(owner(&rootfs, "/tmp/whoami"), (1000, 1000));
    assert_eq!(read(&rootfs, "/tmp/home"), "/opt/app\n");
    assert!(meta(&rootfs, "/opt/app").is_dir());
    assert!(read(&rootfs, "/etc/passwd").contains("app:x:1000:1000"));
    assert!(meta(&rootfs, "/bin/busybox").is_file());
    // Sandbox mount stubs never reach the image.
    for stub in [
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/hostname",
        "/dev/null",
        "/proc/cpuinfo",
    ] {
        assert!(
            !exists(&rootfs, stub),
            "{stub}: a sandbox mount stub leaked into the image"
        );
    }
}

/// Seconds (with fraction) from `stat -c '%Y %y'` output.
fn parse_stamp(s: &str) -> f64 {
    // "1795320194 2026-11-22 04:03:14.874832491 +0000"
    let mut parts = s.split_whitespace();
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    let time = parts.nth(1).unwrap();
    let frac = time.split_once('.').map(|(_, f)| f).unwrap_or("0");
    secs + format!("0.{frac}").parse::<f64>().unwrap()
}

/// Builds two independent stages whose RUNs each record their start and end (a
/// file's mtime: busybox's `date` has no %N) around a `sleep 1`, with
/// `--max-parallelism N`; returns the ((start, end), (start, end)) of left and right.
fn two_timed_stages(t: &TestContext, tag: &str, max_parallelism: &str) -> ((f64, f64), (f64, f64)) {
    let stage = |name: &str| {
        format!(
            "FROM busybox AS {name}\n\
             RUN now() {{ touch /tmp/.now && stat -c '%Y %y' /tmp/.now; }}; \
             now > /{name}.start && sleep 1 && now > /{name}.end\n"
        )
    };
    let dockerfile = format!(
        "{}{}FROM busybox\n\
         COPY --from=left /left.start /left.end /times/\n\
         COPY --from=right /right.start /right.end /times/\n",
        stage("left"),
        stage("right")
    );
    let ctx = t.context("ctx", &[("Dockerfile", &dockerfile)]);
    t.build(&ctx, &["-t", tag, "--max-parallelism", max_parallelism])
        .ok();
    let rootfs = t.unpack(tag);
    let stamp = |f: &str| parse_stamp(&read(&rootfs, &format!("/times/{f}")));
    (
        (stamp("left.start"), stamp("left.end")),
        (stamp("right.start"), stamp("right.end")),
    )
}

#[test]
fn independent_stages_run_concurrently() {
    let t = ctx_or_skip!("independent_stages_run_concurrently");
    let ((ls, le), (rs, re)) = two_timed_stages(&t, "par:1", "4");
    // File times come from the kernel's coarse clock (a tick, up to 10 ms), so a
    // `sleep 1` can measure a little under one second.
    assert!(le - ls >= 0.9 && re - rs >= 0.9, "{ls} {le} {rs} {re}");
    assert!(
        ls < re && rs < le,
        "the two independent stages did not overlap: left [{ls}, {le}], right [{rs}, {re}]"
    );
}

#[test]
fn copy_sources_and_destinations() {
    let t = ctx_or_skip!("copy_sources_and_destinations");
    let dockerfile = "FROM busybox\n\
        WORKDIR /work\n\
        COPY src/*.txt /wild/\n\
        COPY src/?.md /wild-q/\n\
        COPY src/*.nomatch /empty/\n\
        COPY dir /dircopy\n\
        COPY src/a.txt /trail/\n\
        COPY src/a.txt /noslash\n\
        COPY src/b.txt rel/\n\
        COPY src/b.txt relfile\n\
        COPY src/a.txt /deep/missing/parents/a.txt\n\
        COPY src/a.txt src/c.md /multi/\n";
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("src/a.txt", "a\n"),
            ("src/b.txt", "b\n"),
            ("src/c.md", "c\n"),
            ("dir/top.txt", "top\n"),
            ("dir/sub/x.txt", "x\n"),
        ],
    );
    t.build(&ctx, &["-t", "copy:1"]).ok();
    let r = t.unpack("copy:1");
    assert_eq!(read(&r, "/wild/a.txt"), "a\n");
    assert_eq!(read(&r, "/wild/b.txt"), "b\n");
    assert!(!exists(&r, "/wild/c.md"));
    assert_eq!(read(&r, "/wild-q/c.md"), "c\n");
    assert!(
        fs::read_dir(r.join("empty")).map_or(true, |mut d| d.next().is_none()),
        "an empty wildcard match copied something"
    );
    assert_eq!(read(&r, "/dircopy/top.txt"), "top\n");
    assert_eq!(read(&r, "/dircopy/sub/x.txt"), "x\n");
    assert!(
        !exists(&r, "/dircopy/dir"),
        "a directory source copies its contents"
    );
    assert_eq!(read(&r, "/trail/a.txt"), "a\n");
    assert!(meta(&r, "/noslash").is_file());
    assert_eq!(read(&r, "/noslash"), "a\n");
    assert_eq!(read(&r, "/work/rel/b.txt"), "b\n");
    assert_eq!(read(&r, "/work/relfile"), "b\n");
    assert_eq!(read(&r, "/deep/missing/parents/a.txt"), "a\n");
    assert!(meta(&r, "/deep/missing").is_dir());
    assert_eq!(mode(&r, "/deep/missing"), 0o755);
    assert_eq!(read(&r, "/multi/a.txt"), "a\n");
    assert_eq!(read(&r, "/multi/c.md"), "c\n");
}

#[test]
fn copy_chown_and_chmod() {
    let t = ctx_or_skip!("copy_chown_and_chmod");
    let dockerfile = format!(
        "FROM busybox\n\
         {ADD_USERS}\
         COPY --chown=strataimg f /byname/f\n\
         COPY --chown=app:staff f /bynames/f\n\
         COPY --chown=123:456 f /byid/f\n\
         COPY --chown=1234 f /byuid/f\n\
         COPY --chown=app dir /chowndir/\n\
         COPY --chmod=0751 f /oct/f\n\
         COPY --chmod=u+x,g-r,o= f /sym/f\n\
         COPY --chmod=a+X,g+w dir /symdir/\n\
         COPY --chmod=600 dir /octdir/\n"
    );
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", &dockerfile),
            ("f", "f\n"),
            ("dir/g", "g\n"),
            ("dir/sub/h", "h\n"),
        ],
    );
    for f in ["f", "dir/g", "dir/sub/h"] {
        fs::set_permissions(ctx.join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    fs::set_permissions(ctx.join("dir/sub"), fs::Permissions::from_mode(0o755)).unwrap();
    t.build(&ctx, &["-t", "chown:1"]).ok();
    let r = t.unpack("chown:1");
    // A name resolves in the destination image's /etc/passwd (the host has no strataimg);
    // a name alone takes its primary group.
    assert_eq!(owner(&r, "/byname/f"), (4321, 4322));
    assert_eq!(owner(&r, "/bynames/f"), (1000, 50));
    assert_eq!(owner(&r, "/byid/f"), (123, 456));
    assert_eq!(owner(&r, "/byuid/f"), (1234, 1234));
    assert_eq!(owner(&r, "/chowndir/g"), (1000, 1000));
    assert_eq!(owner(&r, "/chowndir/sub"), (1000, 1000));
    assert_eq!(owner(&r, "/chowndir/sub/h"), (1000, 1000));
    assert_eq!(mode(&r, "/oct/f"), 0o751);
    assert_eq!(owner(&r, "/oct/f"), (0, 0));
    // 0644, u+x -> 0744, g-r -> 0704, o= -> 0700
    assert_eq!(mode(&r, "/sym/f"), 0o700);
    // a+X sets x only on directories (the files have none), g+w on all
    assert_eq!(mode(&r, "/symdir/g"), 0o664);
    assert_eq!(mode(&r, "/symdir/sub"), 0o775);
    assert_eq!(mode(&r, "/symdir/sub/h"), 0o664);
    assert_eq!(mode(&r, "/octdir/g"), 0o600);
    assert_eq!(mode(&r, "/octdir/sub/h"), 0o600);
    assert_eq!(read(&r, "/octdir/sub/h"), "h\n");
}

#[test]
fn copy_from_stage_index_and_image() {
    let t = ctx_or_skip!("copy_from_stage_index_and_image");
    let dockerfile = "FROM busybox AS first\n\
        RUN echo one > /one.txt && chown 77:88 /one.txt && chmod 0604 /one.txt \
        && mkdir -p /d/e && echo deep > /d/e/deep\n\
        FROM busybox AS second\n\
        RUN echo two > /two.txt\n\
        FROM busybox\n\
        COPY --from=first /one.txt /got/one.txt\n\
        COPY --from=1 /two.txt /got/\n\
        COPY --from=0 /d /got/d\n\
        COPY --from=busybox:latest /etc/group /got/group\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile)]);
    t.build(&ctx, &["-t", "from:1"]).ok();
    let r = t.unpack("from:1");
    assert_eq!(read(&r, "/got/one.txt"), "one\n");
    assert_eq!(
        owner(&r, "/got/one.txt"),
        (77, 88),
        "COPY --from keeps owners"
    );
    assert_eq!(mode(&r, "/got/one.txt"), 0o604);
    assert_eq!(read(&r, "/got/two.txt"), "two\n");
    assert_eq!(read(&r, "/got/d/e/deep"), "deep\n");
    assert_eq!(read(&r, "/got/group"), "root:x:0:\nnobody:x:65534:\n");
}

#[test]
fn copy_parents_and_exclude() {
    let t = ctx_or_skip!("copy_parents_and_exclude");
    let dockerfile = "# syntax=docker/dockerfile:1.7-labs\n\
        FROM busybox\n\
        COPY --parents a/b/c.txt x/y/z.txt /par/\n\
        COPY --parents a/*/c.txt /parwild/\n\
        COPY --exclude=**/*.log keep /ex/\n\
        COPY --exclude=*.log --exclude=*.tmp hom* /exwild/\n\
        COPY --exclude=keep/*.log keep/* /exkeep/\n";
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", dockerfile),
            ("a/b/c.txt", "c\n"),
            ("a/b/other.txt", "other\n"),
            ("x/y/z.txt", "z\n"),
            ("keep/k1.txt", "k1\n"),
            ("keep/k2.log", "k2\n"),
            ("hom1.txt", "hom1\n"),
            ("hom2.log", "hom2\n"),
            ("hom3.tmp", "hom3\n"),
            ("keep/sub/k3.log", "k3\n"),
            ("keep/sub/k5.txt", "k5\n"),
        ],
    );
    t.build(&ctx, &["-t", "parents:1"]).ok();
    let r = t.unpack("parents:1");
    assert_eq!(read(&r, "/par/a/b/c.txt"), "c\n");
    assert_eq!(read(&r, "/par/x/y/z.txt"), "z\n");
    assert!(!exists(&r, "/par/a/b/other.txt"));
    assert!(!exists(&r, "/par/c.txt"));
    assert_eq!(read(&r, "/parwild/a/b/c.txt"), "c\n");
    assert_eq!(read(&r, "/ex/k1.txt"), "k1\n");
    assert_eq!(read(&r, "/ex/sub/k5.txt"), "k5\n");
    assert!(!exists(&r, "/ex/k2.log"));
    assert!(!exists(&r, "/ex/sub/k3.log"));
    // Patterns match wildcard matches by their path in the context.
    assert_eq!(read(&r, "/exwild/hom1.txt"), "hom1\n");
    assert!(!exists(&r, "/exwild/hom2.log"));
    assert!(!exists(&r, "/exwild/hom3.tmp"));
    assert_eq!(read(&r, "/exkeep/k1.txt"), "k1\n");
    assert!(!exists(&r, "/exkeep/k2.log"));
    // keep/sub is a directory match: its contents are copied.
    assert_eq!(read(&r, "/exkeep/k5.txt"), "k5\n");
}

#[test]
fn copy_parents_pivot() {
    let t = ctx_or_skip!("copy_parents_pivot");
    let dockerfile = "# syntax=docker/dockerfile:1.7-labs\n\
        FROM busybox\n\
        COPY --parents ./a/./b/c.txt /pivot/\n\
        COPY --parents a/./b/*.txt /pivotwild/\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile), ("a/b/c.txt", "c\n")]);
    t.build(&ctx, &["-t", "pivot:1"]).ok();
    let r = t.unpack("pivot:1");
    assert_eq!(read(&r, "/pivot/b/c.txt"), "c\n");
    assert!(!exists(&r, "/pivot/a"));
    assert_eq!(read(&r, "/pivotwild/b/c.txt"), "c\n");
    assert!(!exists(&r, "/pivotwild/a"));
}

#[test]
fn copy_keeps_symlinks_and_hardlinks() {
    let t = ctx_or_skip!("copy_keeps_symlinks_and_hardlinks");
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY tree /tree/\nCOPY tree/link /followed\n",
            ),
            ("tree/real.txt", "real\n"),
            ("tree/h1", "hard\n"),
        ],
    );
    let tree = ctx.join("tree");
    symlink("real.txt", tree.join("link")).unwrap();
    symlink("/nonexistent/target", tree.join("abs")).unwrap();
    fs::create_dir_all(tree.join("sub")).unwrap();
    symlink("../real.txt", tree.join("sub/inner")).unwrap();
    fs::hard_link(tree.join("h1"), tree.join("h2")).unwrap();
    t.build(&ctx, &["-t", "links:1"]).ok();
    let r = t.unpack("links:1");
    let link_target = |p: &str| fs::read_link(r.join(p)).unwrap().display().to_string();
    assert!(meta(&r, "/tree/link").file_type().is_symlink());
    assert_eq!(link_target("tree/link"), "real.txt");
    assert!(meta(&r, "/tree/abs").file_type().is_symlink());
    assert_eq!(link_target("tree/abs"), "/nonexistent/target");
    assert_eq!(link_target("tree/sub/inner"), "../real.txt");
    let (h1, h2) = (meta(&r, "/tree/h1"), meta(&r, "/tree/h2"));
    assert_eq!(h1.ino(), h2.ino(), "hardlinks must stay hardlinks");
    assert_eq!(h1.nlink(), 2);
    assert_eq!(read(&r, "/tree/h2"), "hard\n");
    // A symlink named as the source is followed (the file is copied under the link's name).
    assert!(meta(&r, "/followed").is_file());
    assert_eq!(read(&r, "/followed"), "real\n");
}

#[test]
fn add_local_tar_gz_unpacks() {
    let t = ctx_or_skip!("add_local_tar_gz_unpacks");
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nADD arch.tar.gz /unpacked/\nCOPY arch.tar.gz /copied/\n\
                 ADD --chown=7:8 arch.tar.gz /owned/\n",
            ),
            ("src/top/a.txt", "a\n"),
            ("src/top/sub/b.txt", "b\n"),
        ],
    );
    symlink("a.txt", ctx.join("src/top/link")).unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(ctx.join("arch.tar.gz"))
        .args(["--owner=42", "--group=43", "-C"])
        .arg(ctx.join("src"))
        .arg("top")
        .status()
        .unwrap();
    assert!(status.success());
    fs::remove_dir_all(ctx.join("src")).unwrap();
    t.build(&ctx, &["-t", "add:1"]).ok();
    let r = t.unpack("add:1");
    assert_eq!(read(&r, "/unpacked/top/a.txt"), "a\n");
    assert_eq!(read(&r, "/unpacked/top/sub/b.txt"), "b\n");
    assert_eq!(
        owner(&r, "/unpacked/top/a.txt"),
        (42, 43),
        "archive owners are kept"
    );
    assert_eq!(
        fs::read_link(r.join("unpacked/top/link"))
            .unwrap()
            .display()
            .to_string(),
        "a.txt"
    );
    assert!(
        meta(&r, "/copied/arch.tar.gz").is_file(),
        "COPY never unpacks"
    );
    // docker's BuildKit keeps the archive's owners under ADD --chown; only the
    // destination directory it makes is chowned (tests/docker_parity.rs, add_more).
    assert_eq!(owner(&r, "/owned/top/sub/b.txt"), (42, 43));
    assert_eq!(owner(&r, "/owned"), (7, 8));
}

#[test]
fn copy_heredoc_sources() {
    let t = ctx_or_skip!("copy_heredoc_sources");
    let dockerfile = "# syntax=docker/dockerfile:1\n\
        FROM busybox\n\
        ENV WHO=world\n\
        COPY <<EOF /f\n\
        hello heredoc\n\
        EOF\n\
        COPY <<EOF /expanded\n\
        hello $WHO\n\
        EOF\n\
        COPY <<'EOF' /literal\n\
        hello $WHO\n\
        EOF\n\
        COPY --chmod=0755 <<one <<two /tmp/\n\
        first\n\
        one\n\
        second\n\
        two\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile)]);
    t.build(&ctx, &["-t", "heredoc:1"]).ok();
    let r = t.unpack("heredoc:1");
    assert_eq!(read(&r, "/f"), "hello heredoc\n");
    assert_eq!(read(&r, "/expanded"), "hello world\n");
    assert_eq!(read(&r, "/literal"), "hello $WHO\n");
    assert_eq!(read(&r, "/tmp/one"), "first\n");
    assert_eq!(read(&r, "/tmp/two"), "second\n");
    assert_eq!(mode(&r, "/tmp/two"), 0o755);
}

#[test]
fn copy_heredoc_creates_missing_parents() {
    let t = ctx_or_skip!("copy_heredoc_creates_missing_parents");
    let dockerfile = "FROM busybox\n\
        COPY <<EOF /newdir/sub/f\n\
        in a new directory\n\
        EOF\n\
        COPY <<one <<two /multi/\n\
        first\n\
        one\n\
        second\n\
        two\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile)]);
    t.build(&ctx, &["-t", "heredoc:2"]).ok();
    let r = t.unpack("heredoc:2");
    assert_eq!(read(&r, "/newdir/sub/f"), "in a new directory\n");
    assert_eq!(mode(&r, "/newdir/sub"), 0o755);
    assert_eq!(read(&r, "/multi/one"), "first\n");
    assert_eq!(read(&r, "/multi/two"), "second\n");
}

#[test]
fn workdir_is_created_owned_by_user() {
    let t = ctx_or_skip!("workdir_is_created_owned_by_user");
    let dockerfile =
        format!("FROM busybox\n{ADD_USERS}USER app\nWORKDIR /srv/appdir\nRUN touch made-by-app\n");
    let ctx = t.context("ctx", &[("Dockerfile", &dockerfile)]);
    t.build(&ctx, &["-t", "workdir:1"]).ok();
    let r = t.unpack("workdir:1");
    assert!(meta(&r, "/srv/appdir").is_dir());
    assert_eq!(owner(&r, "/srv/appdir"), (1000, 1000));
    assert_eq!(owner(&r, "/srv/appdir/made-by-app"), (1000, 1000));
}

#[test]
fn dockerignore_excludes_files() {
    let t = ctx_or_skip!("dockerignore_excludes_files");
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
            (
                ".dockerignore",
                "secret.env\nlogs\n!logs/keep.log\n**/*.bak\n",
            ),
            ("keep.txt", "keep\n"),
            ("secret.env", "TOKEN=1\n"),
            ("logs/a.log", "a\n"),
            ("logs/keep.log", "kept\n"),
            ("deep/er/x.bak", "bak\n"),
            ("deep/er/x.txt", "txt\n"),
        ],
    );
    t.build(&ctx, &["-t", "ignore:1"]).ok();
    let r = t.unpack("ignore:1");
    assert_eq!(read(&r, "/ctx/keep.txt"), "keep\n");
    assert!(!exists(&r, "/ctx/secret.env"));
    assert!(!exists(&r, "/ctx/logs/a.log"));
    assert_eq!(read(&r, "/ctx/logs/keep.log"), "kept\n");
    assert!(!exists(&r, "/ctx/deep/er/x.bak"));
    assert_eq!(read(&r, "/ctx/deep/er/x.txt"), "txt\n");
}

#[test]
fn dockerignore_applies_to_named_sources() {
    let t = ctx_or_skip!("dockerignore_applies_to_named_sources");
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY secret.env /s\n"),
            (".dockerignore", "secret.env\n"),
            ("secret.env", "TOKEN=1\n"),
        ],
    );
    let run = t.build(&ctx, &["-t", "ignore:2"]).fails();
    assert!(run.stderr.contains("secret.env"), "{}", run.stderr);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nCOPY secret.env /dir/\n",
    );
    t.build(&ctx, &["-t", "ignore:3"]).fails();
    // A symlink to an ignored file dangles, as if the file were not there.
    symlink("secret.env", ctx.join("to-secret")).unwrap();
    write(&ctx.join("Dockerfile"), "FROM busybox\nCOPY to-secret /l\n");
    t.build(&ctx, &["-t", "ignore:5"]).fails();
    // Wildcards and whole-directory copies do not see it either.
    write(&ctx.join("keep.txt"), "keep\n");
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nCOPY secret* keep* /w/\nCOPY . /all/\n",
    );
    t.build(&ctx, &["-t", "ignore:6"]).ok();
    let r = t.unpack("ignore:6");
    assert_eq!(read(&r, "/w/keep.txt"), "keep\n");
    assert!(!exists(&r, "/w/secret.env"));
    assert_eq!(read(&r, "/all/keep.txt"), "keep\n");
    assert!(!exists(&r, "/all/secret.env"));
    assert!(meta(&r, "/all/to-secret").file_type().is_symlink());
    for (path, bytes) in store_blob_contents(t.root()) {
        assert!(
            !contains(&bytes, b"TOKEN=1"),
            "the ignored file is in blob {}",
            path.display()
        );
    }
}

#[test]
fn dockerignore_applies_to_context_bind_mounts() {
    let t = ctx_or_skip!("dockerignore_applies_to_context_bind_mounts");
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=bind,target=/c ls -A /c > /bind-ls && ls -A /c/logs > /bind-logs \
                     && ls -A /c/sub > /bind-sub\n\
                 RUN --mount=type=bind,source=logs,target=/l,rw ls -A /l > /bind-rw-logs\n",
            ),
            (".dockerignore", "secret.env\nlogs\n!logs/keep.log\n"),
            ("secret.env", "TOKEN=1\n"),
            ("keep.txt", "keep\n"),
            ("logs/a.log", "a\n"),
            ("logs/keep.log", "kept\n"),
            ("sub/secret.env", "not anchored at the root\n"),
        ],
    );
    t.build(&ctx, &["-t", "ignore:4"]).ok();
    let r = t.unpack("ignore:4");
    let listing = read(&r, "/bind-ls");
    assert!(listing.contains("keep.txt"), "{listing}");
    assert!(!listing.contains("secret.env"), "{listing}");
    assert_eq!(read(&r, "/bind-logs"), "keep.log\n");
    assert_eq!(read(&r, "/bind-sub"), "secret.env\n");
    assert_eq!(read(&r, "/bind-rw-logs"), "keep.log\n");
    // Naming an ignored file as the mount source is "not found".
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN --mount=type=bind,source=secret.env,target=/s cat /s\n",
    );
    let run = t.build(&ctx, &["-t", "ignore:7"]).fails();
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    assert!(!run.stderr.contains("TOKEN=1"), "{}", run.stderr);
}

#[test]
fn context_bind_mounts_never_reach_host_files() {
    let t = ctx_or_skip!("context_bind_mounts_never_reach_host_files");
    let host_passwd = fs::read_to_string("/etc/passwd").unwrap();
    write(&t.dir().join("outside.txt"), "HOST-OUTSIDE-CONTENT\n");
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 RUN --mount=type=bind,source=../outside.txt,target=/o cat /o > /dotdot.txt\n\
                 RUN --mount=type=bind,source=etc-link,target=/e cat /e/passwd > /via-link.txt\n\
                 RUN --mount=type=bind,source=up-link,target=/u,rw cat /u > /up.txt\n",
            ),
            ("outside.txt", "context outside\n"),
            ("etc/passwd", "context passwd\n"),
        ],
    );
    symlink("/etc", ctx.join("etc-link")).unwrap();
    symlink("../../../../../../../etc/passwd", ctx.join("up-link")).unwrap();
    t.build(&ctx, &["-t", "bindescape:1"]).ok();
    let r = t.unpack("bindescape:1");
    // Mount sources resolve inside the context, as in a chroot.
    assert_eq!(read(&r, "/dotdot.txt"), "context outside\n");
    assert_eq!(read(&r, "/via-link.txt"), "context passwd\n");
    assert_eq!(read(&r, "/up.txt"), "context passwd\n");
    // A link to a host file that the context does not shadow is not found.
    let ctx2 = t.context(
        "ctx2",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN --mount=type=bind,source=host-link,target=/h cat /h > /h.txt\n",
        )],
    );
    symlink("/etc/passwd", ctx2.join("host-link")).unwrap();
    let run = t.build(&ctx2, &["-t", "bindescape:2"]).fails();
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
    for (path, bytes) in store_blob_contents(t.root()) {
        assert!(
            !contains(&bytes, host_passwd.as_bytes()) && !contains(&bytes, b"HOST-OUTSIDE-CONTENT"),
            "a host file is in blob {}",
            path.display()
        );
    }
}

#[test]
fn context_symlinks_never_reach_host_files() {
    let t = ctx_or_skip!("context_symlinks_never_reach_host_files");
    let host_passwd = fs::read_to_string("/etc/passwd").unwrap();
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\n\
                 COPY . /ctx/\n\
                 COPY passwd-link /followed\n\
                 COPY etc-link/passwd /via-dir\n\
                 COPY up-link /up\n",
            ),
            ("etc/passwd", "context passwd\n"),
        ],
    );
    symlink("/etc/passwd", ctx.join("passwd-link")).unwrap();
    symlink("/etc", ctx.join("etc-link")).unwrap();
    symlink("../../../../../../../etc/passwd", ctx.join("up-link")).unwrap();
    t.build(&ctx, &["-t", "escape:1"]).ok();
    let r = t.unpack("escape:1");
    // Copied as symlinks, not as the host files they name.
    assert!(meta(&r, "/ctx/passwd-link").file_type().is_symlink());
    assert!(meta(&r, "/ctx/etc-link").file_type().is_symlink());
    // Followed, they resolve inside the context as in a chroot.
    assert_eq!(read(&r, "/followed"), "context passwd\n");
    assert_eq!(read(&r, "/via-dir"), "context passwd\n");
    assert_eq!(read(&r, "/up"), "context passwd\n");

    // A link to a host file the context does not shadow copies nothing of the host.
    let ctx2 = t.context(
        "ctx2",
        &[("Dockerfile", "FROM busybox\nCOPY host-link /h\n")],
    );
    symlink("/etc/passwd", ctx2.join("host-link")).unwrap();
    let run = t.build(&ctx2, &["-t", "escape:2"]);
    if run.status.success() {
        let r = t.unpack("escape:2");
        assert!(
            !exists(&r, "/h")
                || fs::read_to_string(r.join("h")).ok().as_deref() != Some(&host_passwd),
            "host /etc/passwd was copied into the image"
        );
    }
    for (path, bytes) in store_blob_contents(t.root()) {
        assert!(
            !contains(&bytes, host_passwd.as_bytes()),
            "host /etc/passwd is in blob {}",
            path.display()
        );
    }
}

#[test]
fn copy_dotdot_never_reads_host_files() {
    let t = ctx_or_skip!("copy_dotdot_never_reads_host_files");
    // The file next to the context must never be read.
    write(&t.dir().join("outside.txt"), "HOST-OUTSIDE-CONTENT\n");
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", "FROM busybox\nCOPY ../outside.txt /o\n"),
            ("outside.txt", "context outside\n"),
        ],
    );
    t.build(&ctx, &["-t", "dotdot:1"]).ok();
    let r = t.unpack("dotdot:1");
    assert_eq!(read(&r, "/o"), "context outside\n");

    let ctx2 = t.context(
        "ctx2",
        &[(
            "Dockerfile",
            "FROM busybox\nCOPY ../outside.txt ../../../etc/hostname* /o/\n",
        )],
    );
    let run = t.build(&ctx2, &["-t", "dotdot:2"]);
    if run.status.success() {
        let r = t.unpack("dotdot:2");
        assert!(
            !exists(&r, "/o/outside.txt"),
            "a file outside the context was copied"
        );
    }
    for (path, bytes) in store_blob_contents(t.root()) {
        assert!(
            !contains(&bytes, b"HOST-OUTSIDE-CONTENT"),
            "the file outside the context is in blob {}",
            path.display()
        );
    }
}

#[test]
fn run_bind_mount_from_context_is_read_only() {
    let t = ctx_or_skip!("run_bind_mount_from_context_is_read_only");
    let dockerfile = "FROM busybox\n\
        RUN --mount=type=bind,source=data,target=/mnt/data \
        cat /mnt/data/in.txt > /copied.txt && \
        if touch /mnt/data/new 2>/dev/null; then echo writable; else echo readonly; fi > /ro-result\n\
        RUN --mount=type=bind,target=/whole ls /whole > /whole-ls.txt\n\
        RUN --mount=type=bind,source=data/in.txt,target=/one-file cat /one-file > /one-file.txt\n";
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", dockerfile), ("data/in.txt", "ctxdata\n")],
    );
    t.build(&ctx, &["-t", "bind:1"]).ok();
    let r = t.unpack("bind:1");
    assert_eq!(read(&r, "/copied.txt"), "ctxdata\n");
    assert_eq!(
        read(&r, "/ro-result"),
        "readonly\n",
        "a context bind is read-only"
    );
    let whole = read(&r, "/whole-ls.txt");
    assert!(
        whole.contains("data") && whole.contains("Dockerfile"),
        "{whole}"
    );
    assert_eq!(read(&r, "/one-file.txt"), "ctxdata\n");
    assert!(!ctx.join("data/new").exists());
    for gone in ["/mnt/data/in.txt", "/whole", "/one-file"] {
        assert!(!exists(&r, gone), "{gone}: a mount leaked into the image");
    }
}

#[test]
fn run_bind_mount_from_another_stage() {
    let t = ctx_or_skip!("run_bind_mount_from_another_stage");
    let dockerfile = "FROM busybox AS tools\n\
        RUN mkdir /out && echo tool-output > /out/t.txt\n\
        FROM busybox\n\
        RUN --mount=type=bind,from=tools,source=/out,target=/t cp /t/t.txt /from-stage.txt\n\
        RUN --mount=type=bind,from=busybox:latest,target=/img cp /img/etc/group /from-image.txt\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile)]);
    t.build(&ctx, &["-t", "bind:2"]).ok();
    let r = t.unpack("bind:2");
    assert_eq!(read(&r, "/from-stage.txt"), "tool-output\n");
    assert_eq!(read(&r, "/from-image.txt"), "root:x:0:\nnobody:x:65534:\n");
    assert!(!exists(&r, "/t") && !exists(&r, "/img"));
    assert!(!exists(&r, "/out"), "the tools stage's files leaked");
}

#[test]
fn run_bind_mount_rw_discards_writes() {
    let t = ctx_or_skip!("run_bind_mount_rw_discards_writes");
    let dockerfile = "FROM busybox AS tools\n\
        RUN mkdir /out && echo tool-output > /out/t.txt\n\
        FROM busybox\n\
        RUN --mount=type=bind,source=data,target=/w,rw \
        echo changed > /w/in.txt && echo new > /w/new.txt && cat /w/in.txt > /rw-saw.txt\n\
        RUN --mount=type=bind,source=data,target=/w2 cat /w2/in.txt > /after.txt && ls /w2 > /after-ls.txt\n\
        RUN --mount=type=bind,from=tools,source=/out,target=/t,rw echo scribble > /t/t.txt\n\
        RUN --mount=type=bind,from=tools,source=/out,target=/t cat /t/t.txt > /tools-after.txt\n";
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", dockerfile), ("data/in.txt", "ctxdata\n")],
    );
    t.build(&ctx, &["-t", "bind:3"]).ok();
    let r = t.unpack("bind:3");
    assert_eq!(
        read(&r, "/rw-saw.txt"),
        "changed\n",
        "an rw bind is writable"
    );
    assert_eq!(
        read(&r, "/after.txt"),
        "ctxdata\n",
        "rw bind writes are discarded"
    );
    assert_eq!(read(&r, "/after-ls.txt"), "in.txt\n");
    assert_eq!(read(&r, "/tools-after.txt"), "tool-output\n");
    assert_eq!(
        fs::read_to_string(ctx.join("data/in.txt")).unwrap(),
        "ctxdata\n"
    );
    assert!(
        !ctx.join("data/new.txt").exists(),
        "an rw bind wrote to the context"
    );
    for gone in ["/w", "/w2", "/t"] {
        assert!(!exists(&r, gone), "{gone}: a mount leaked into the image");
    }
}

#[test]
fn run_cache_mount_persists_across_builds_and_stays_out_of_images() {
    let t = ctx_or_skip!("run_cache_mount_persists_across_builds_and_stays_out_of_images");
    let ctx1 = t.context(
        "ctx1",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=cache,id=e2e-shared,target=/cache \
             echo first-build-was-here > /cache/stamp && echo ok > /b1\n",
        )],
    );
    t.build(&ctx1, &["-t", "cache:1"]).ok();
    let ctx2 = t.context(
        "ctx2",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=cache,id=e2e-shared,target=/var/cc cat /var/cc/stamp > /seen.txt\n",
        )],
    );
    t.build(&ctx2, &["-t", "cache:2"]).ok();
    let r1 = t.unpack("cache:1");
    let r2 = t.unpack("cache:2");
    assert_eq!(read(&r2, "/seen.txt"), "first-build-was-here\n");
    assert_eq!(read(&r1, "/b1"), "ok\n");
    assert!(!exists(&r1, "/cache/stamp"));
    assert!(!exists(&r2, "/var/cc/stamp"));
    // No layer has an entry of the cache directories.
    let entries = layer_entries(t.root());
    assert!(
        entries.iter().any(|e| e.ends_with("seen.txt")),
        "{entries:?}"
    );
    let leaked: Vec<&String> = entries
        .iter()
        .filter(|e| e.contains("stamp") || e.contains("cache/") || e.contains("var/cc"))
        .collect();
    assert!(
        leaked.is_empty(),
        "cache mount entries in layers: {leaked:?}"
    );
}

#[test]
fn run_tmpfs_mount() {
    let t = ctx_or_skip!("run_tmpfs_mount");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/file \
             && grep ' /scratch tmpfs ' /proc/mounts > /tmpfs-line\n",
        )],
    );
    t.build(&ctx, &["-t", "tmpfs:1"]).ok();
    let r = t.unpack("tmpfs:1");
    assert!(read(&r, "/tmpfs-line").contains("tmpfs"));
    assert!(!exists(&r, "/scratch/file"));
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

#[test]
fn run_secret_mounts_never_reach_the_store() {
    let t = ctx_or_skip!("run_secret_mounts_never_reach_the_store");
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let file_secret = format!("file-secret-{nanos}-value");
    let env_secret = format!("env-secret-{nanos}-value");
    let secret_file = t.dir().join("secret.txt");
    fs::write(&secret_file, &file_secret).unwrap();
    let dockerfile = "FROM busybox\n\
        RUN --mount=type=secret,id=mysecret sha256sum /run/secrets/mysecret | cut -d' ' -f1 > /file-sha \
        && cp /run/secrets/mysecret /tmp/copy && rm /tmp/copy\n\
        RUN --mount=type=secret,id=fromenv,target=/etc/custom-secret \
        sha256sum /etc/custom-secret | cut -d' ' -f1 > /env-sha\n\
        RUN --mount=type=secret,id=mysecret,env=MY_TOKEN \
        printf %s \"$MY_TOKEN\" | sha256sum | cut -d' ' -f1 > /envvar-sha\n\
        RUN ls -A /run/secrets > /run-secrets-ls 2>&1 || true\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile)]);
    let secret_arg = format!("id=mysecret,src={}", secret_file.display());
    let run = t.build_in(
        t.root(),
        &ctx,
        &[
            "-t",
            "secret:1",
            "--secret",
            &secret_arg,
            "--secret",
            "id=fromenv,env=STRATA_E2E_SECRET",
        ],
        &[
            ("SOURCE_DATE_EPOCH", EPOCH),
            ("STRATA_E2E_SECRET", &env_secret),
        ],
    );
    let run = run.ok();
    assert!(!run.stderr.contains(&file_secret) && !run.stderr.contains(&env_secret));
    let r = t.unpack("secret:1");
    assert_eq!(read(&r, "/file-sha").trim(), sha256_hex(&file_secret));
    assert_eq!(read(&r, "/env-sha").trim(), sha256_hex(&env_secret));
    assert_eq!(read(&r, "/envvar-sha").trim(), sha256_hex(&file_secret));
    assert!(!exists(&r, "/run/secrets/mysecret"));
    assert!(!exists(&r, "/etc/custom-secret"));
    let config = t.config("secret:1");
    let config_text = config.to_string();
    for secret in [&file_secret, &env_secret] {
        assert!(
            !config_text.contains(secret.as_str()),
            "a secret is in the config"
        );
        for (path, bytes) in store_blob_contents(t.root()) {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "a secret value is in blob {}",
                path.display()
            );
        }
    }
}

#[test]
fn run_ssh_mount_forwards_the_agent_socket() {
    let t = ctx_or_skip!("run_ssh_mount_forwards_the_agent_socket");
    let sock = t.dir().join("agent.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /ssh-sock\n\
             RUN --mount=type=ssh,id=deploy,target=/agent.sock test -S /agent.sock && echo ok > /ssh-custom\n",
        )],
    );
    let default = format!("default={}", sock.display());
    let deploy = format!("deploy={}", sock.display());
    t.build(&ctx, &["-t", "ssh:1", "--ssh", &default, "--ssh", &deploy])
        .ok();
    let r = t.unpack("ssh:1");
    let path = read(&r, "/ssh-sock");
    assert!(path.trim().starts_with('/'), "{path}");
    assert!(!exists(&r, path.trim()), "the agent socket stub leaked");
    assert_eq!(read(&r, "/ssh-custom"), "ok\n");
    assert!(!exists(&r, "/agent.sock"));
}

#[test]
fn onbuild_triggers_run_in_the_child() {
    let t = ctx_or_skip!("onbuild_triggers_run_in_the_child");
    t.build_ok(
        "parent",
        "FROM busybox\nONBUILD RUN echo from-parent > /onbuild.txt\n",
        &[],
        "parent:1",
    );
    // skopeo drops OnBuild (the OCI config has no such field): read the stored blob.
    let parent = t.raw_config("parent:1");
    assert_eq!(
        parent["config"]["OnBuild"],
        serde_json::json!(["RUN echo from-parent > /onbuild.txt"])
    );
    assert!(!exists(&t.unpack("parent:1"), "/onbuild.txt"));
    t.build_ok(
        "child",
        "FROM parent:1\nRUN cat /onbuild.txt > /child-saw.txt\n",
        &[],
        "child:1",
    );
    let r = t.unpack("child:1");
    assert_eq!(read(&r, "/onbuild.txt"), "from-parent\n");
    assert_eq!(read(&r, "/child-saw.txt"), "from-parent\n");
    let child = t.raw_config("child:1");
    let onbuild = &child["config"]["OnBuild"];
    assert!(
        onbuild.is_null() || onbuild.as_array().is_some_and(|a| a.is_empty()),
        "the child must not inherit OnBuild: {onbuild}"
    );
}

const CACHE_DOCKERFILE: &str = "FROM busybox\n\
    RUN echo independent > /indep.txt\n\
    COPY other.txt /other.txt\n\
    WORKDIR /app\n\
    ENV MODE=test\n\
    COPY dep.txt /dep.txt\n\
    RUN cat /dep.txt > /derived.txt\n";

#[test]
fn identical_rebuild_is_fully_cached_and_leaves_the_store_unchanged() {
    let t = ctx_or_skip!("identical_rebuild_is_fully_cached_and_leaves_the_store_unchanged");
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", CACHE_DOCKERFILE),
            ("other.txt", "other\n"),
            ("dep.txt", "dep v1\n"),
        ],
    );
    let md1 = t.dir().join("md1.json");
    let md2 = t.dir().join("md2.json");
    let first = t
        .build(
            &ctx,
            &["-t", "rebuild:1", "--metadata-file", md1.to_str().unwrap()],
        )
        .ok();
    assert!(first.steps().iter().all(|s| !s.cached), "{}", first.stderr);
    let store = t.root().join("store");
    let before = snapshot_files(&store);
    let second = t
        .build(
            &ctx,
            &["-t", "rebuild:1", "--metadata-file", md2.to_str().unwrap()],
        )
        .ok();
    let steps = second.steps();
    assert!(steps.len() >= 5, "{}", second.stderr);
    for step in &steps {
        assert!(
            step.cached,
            "step {step:?} was not CACHED:\n{}",
            second.stderr
        );
    }
    let after = snapshot_files(&store);
    assert_eq!(before, after, "an identical rebuild changed the store");
    assert_eq!(metadata_digest(&md1), metadata_digest(&md2));
    assert_eq!(first.image_id(), second.image_id());
}

#[test]
fn content_not_mtime_decides_what_reruns() {
    let t = ctx_or_skip!("content_not_mtime_decides_what_reruns");
    let ctx = t.context(
        "ctx",
        &[
            ("Dockerfile", CACHE_DOCKERFILE),
            ("other.txt", "other\n"),
            ("dep.txt", "dep v1\n"),
        ],
    );
    t.build(&ctx, &["-t", "mtime:1"]).ok();

    // mtime only: nothing reruns.
    let dep = ctx.join("dep.txt");
    let original_mtime = fs::metadata(&dep).unwrap().modified().unwrap();
    let file = fs::File::options().write(true).open(&dep).unwrap();
    file.set_modified(original_mtime + Duration::from_secs(3600))
        .unwrap();
    drop(file);
    let touched = t.build(&ctx, &["-t", "mtime:1"]).ok();
    for step in touched.steps() {
        assert!(step.cached, "touch reran {step:?}:\n{}", touched.stderr);
    }

    // Same size, other bytes, and the mtime put back: the steps that read it rerun.
    fs::write(&dep, "dep v2\n").unwrap();
    let file = fs::File::options().write(true).open(&dep).unwrap();
    file.set_modified(original_mtime + Duration::from_secs(3600))
        .unwrap();
    drop(file);
    let changed = t.build(&ctx, &["-t", "mtime:1"]).ok();
    assert!(
        changed.step("RUN echo independent").cached,
        "{}",
        changed.stderr
    );
    assert!(changed.step("COPY other.txt").cached, "{}", changed.stderr);
    assert!(changed.step("WORKDIR /app").cached, "{}", changed.stderr);
    assert!(!changed.step("COPY dep.txt").cached, "{}", changed.stderr);
    assert!(
        !changed.step("RUN cat /dep.txt").cached,
        "{}",
        changed.stderr
    );
    let r = t.unpack("mtime:1");
    assert_eq!(read(&r, "/derived.txt"), "dep v2\n");
}

#[test]
fn no_cache_and_no_cache_filter() {
    let t = ctx_or_skip!("no_cache_and_no_cache_filter");
    let dockerfile = "FROM busybox AS one\n\
        RUN echo one > /one\n\
        FROM busybox AS two\n\
        RUN echo two > /two\n\
        FROM busybox\n\
        COPY --from=one /one /one\n\
        COPY --from=two /two /two\n\
        RUN cat /one /two > /both\n";
    let ctx = t.context("ctx", &[("Dockerfile", dockerfile)]);
    t.build(&ctx, &["-t", "nc:1"]).ok();
    let all = t.build(&ctx, &["-t", "nc:1", "--no-cache"]).ok();
    let steps = all.steps();
    assert_eq!(steps.len(), 5, "{}", all.stderr);
    for step in &steps {
        assert!(!step.cached, "--no-cache used the cache for {step:?}");
    }
    let filtered = t.build(&ctx, &["-t", "nc:1", "--no-cache-filter=two"]).ok();
    assert!(!filtered.step("RUN echo two").cached, "{}", filtered.stderr);
    assert!(filtered.step("RUN echo one").cached, "{}", filtered.stderr);
    assert!(
        filtered.step("COPY --from=one").cached,
        "{}",
        filtered.stderr
    );
    let r = t.unpack("nc:1");
    assert_eq!(read(&r, "/both"), "one\ntwo\n");
}

#[test]
fn failing_run_reports_exit_code_and_snippet() {
    let t = ctx_or_skip!("failing_run_reports_exit_code_and_snippet");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo before\nRUN echo failing-now && exit 3\nRUN echo after\n",
        )],
    );
    let run = t.build(&ctx, &["-t", "fail:1"]).fails();
    assert!(
        run.stderr
            .contains("did not complete successfully: exit code: 3"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Dockerfile:3"), "{}", run.stderr);
    assert!(
        run.stderr.contains(">>> RUN echo failing-now && exit 3"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("failing-now"),
        "the step's output is shown"
    );
    let after = run
        .steps()
        .into_iter()
        .find(|s| s.instruction.contains("echo after"));
    assert!(
        after.is_none_or(|s| !s.done),
        "a step after the failure ran"
    );
    assert!(
        run.stdout.trim().is_empty(),
        "no image id on failure: {}",
        run.stdout
    );
}

/// Pids of the processes for which `pred(cmdline, environ)` holds.
fn processes(pred: impl Fn(&[u8], &[u8]) -> bool) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let environ = fs::read(entry.path().join("environ")).unwrap_or_default();
        if pred(&cmdline, &environ) {
            out.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    out
}

#[test]
fn sigkill_mid_run_leaves_nothing_behind() {
    let t = ctx_or_skip!("sigkill_mid_run_leaves_nothing_behind");
    let token = format!("STRATA_KILL_TOKEN=kill-{}-{}", std::process::id(), line!());
    // The secret is not in the step's key: the rerun has the same key and must not find a
    // record of the killed run.
    let dockerfile = format!(
        "FROM busybox\n\
         ENV {token}\n\
         RUN --mount=type=secret,id=mode \
         if [ \"$(cat /run/secrets/mode)\" = slow ]; then sleep 60; fi; echo finished > /done.txt\n"
    );
    let ctx = t.context("ctx", &[("Dockerfile", &dockerfile)]);
    let mode_file = t.dir().join("mode");
    fs::write(&mode_file, "slow").unwrap();
    let secret = format!("id=mode,src={}", mode_file.display());
    let root = t.root().to_path_buf();
    let root_str = root.display().to_string();
    let sleeper =
        |cmd: &[u8], env: &[u8]| cmd == b"sleep\x0060\x00" && contains(env, token.as_bytes());
    let in_root = |cmd: &[u8], _: &[u8]| contains(cmd, root_str.as_bytes());

    let mut child = t
        .command(&root, &ctx, &["-t", "kill:1", "--secret", &secret])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut log = String::new();
    let mut started = false;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if line.contains("RUN --mount=type=secret") && line.contains("sleep 60") {
                    started = true;
                }
                log.push_str(&line);
                log.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if started && !processes(sleeper).is_empty() {
            break;
        }
    }
    assert!(started, "the RUN step never started:\n{log}");
    assert!(
        !processes(sleeper).is_empty(),
        "no `sleep 60` in the sandbox:\n{log}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // After a short wait: no sandbox process, no mount.
    let wait_until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < wait_until
        && (!processes(sleeper).is_empty() || !processes(in_root).is_empty())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        processes(sleeper),
        vec![],
        "the sandboxed `sleep 60` survived SIGKILL"
    );
    assert_eq!(
        processes(in_root),
        vec![],
        "a process of the killed build survived"
    );
    for table in ["/proc/self/mountinfo", "/proc/mounts"] {
        let text = fs::read_to_string(table).unwrap();
        let leaked: Vec<&str> = text.lines().filter(|l| l.contains(&root_str)).collect();
        assert!(
            leaked.is_empty(),
            "mounts of the killed build in {table}: {leaked:#?}"
        );
    }

    // The next build with the same key runs the step again (no partial record) and succeeds.
    fs::write(&mode_file, "fast").unwrap();
    let next = t.build(&ctx, &["-t", "kill:1", "--secret", &secret]).ok();
    let step = next.step("sleep 60");
    assert!(
        !step.cached,
        "a record of the killed step was used:\n{}",
        next.stderr
    );
    let r = t.unpack("kill:1");
    assert_eq!(read(&r, "/done.txt"), "finished\n");
    let again = t.build(&ctx, &["-t", "kill:1", "--secret", &secret]).ok();
    assert!(again.step("sleep 60").cached, "{}", again.stderr);
}

#[test]
fn reproducible_digests_across_roots() {
    let t = ctx_or_skip!("reproducible_digests_across_roots");
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox AS build\n\
                 RUN mkdir -p /out && echo built > /out/artifact && touch /out/stamp\n\
                 FROM busybox\n\
                 COPY --from=build /out /app/\n\
                 COPY file.txt /app/\n\
                 RUN echo done > /app/done && mkdir /app/emptydir\n\
                 CMD [\"cat\", \"/app/artifact\"]\n",
            ),
            ("file.txt", "file\n"),
        ],
    );
    let build = |root_name: &str, by_arg: bool| {
        let root = t.other_root(root_name);
        let md = t.dir().join(format!("{root_name}.json"));
        let mut args = vec!["-t", "repro:1", "--metadata-file", md.to_str().unwrap()];
        let arg = format!("SOURCE_DATE_EPOCH={EPOCH}");
        let env: &[(&str, &str)] = if by_arg {
            args.extend(["--build-arg", arg.as_str()]);
            &[]
        } else {
            &[("SOURCE_DATE_EPOCH", EPOCH)]
        };
        t.build_in(&root, &ctx, &args, env).ok();
        metadata_digest(&md)
    };
    let a = build("root-a", false);
    std::thread::sleep(Duration::from_millis(1100));
    let b = build("root-b", false);
    let c = build("root-c", true);
    assert_eq!(a, b, "SOURCE_DATE_EPOCH in the environment");
    assert_eq!(a, c, "--build-arg SOURCE_DATE_EPOCH");
    let config: Value = {
        let out = Command::new("skopeo")
            .args(["inspect", "--config"])
            .arg(format!(
                "oci:{}",
                support_build::store_ref(&t.dir().join("root-a"), "repro:1")
            ))
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(config["created"], "2023-11-14T22:13:20Z", "{config}");
}

/// Every file under `dir` with its bytes, for "nothing changed" checks.
fn tree_bytes(dir: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path);
            } else {
                out.insert(path.clone(), fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn cached_rebuild_without_epoch_keeps_the_image() {
    let t = ctx_or_skip!("cached_rebuild_without_epoch_keeps_the_image");
    let ctx = t.context(
        "ctx",
        &[
            (
                "Dockerfile",
                "FROM busybox\nCOPY a.txt /a.txt\nRUN cat /a.txt > /b.txt\nENV X=1\n",
            ),
            ("a.txt", "one\n"),
        ],
    );
    let build = |name: &str| {
        let md = t.dir().join(format!("{name}.json"));
        let args = ["-t", "same:1", "--metadata-file", md.to_str().unwrap()];
        // No SOURCE_DATE_EPOCH: `build_in` with no environment leaves it unset.
        let run = t.build_in(t.root(), &ctx, &args, &[]).ok();
        (metadata_digest(&md), run)
    };
    let (first, _) = build("first");
    let config = t.raw_config("same:1");
    let history = config["history"].as_array().unwrap();
    let run_entry = history
        .iter()
        .find(|h| h["created_by"].as_str().unwrap().contains("cat /a.txt"))
        .unwrap();
    assert_eq!(
        config["created"], run_entry["created"],
        "the image is as old as its newest step: {config}"
    );
    let store = tree_bytes(&t.root().join("store"));

    // Seconds later, fully cached: the same image, and the store untouched.
    std::thread::sleep(Duration::from_millis(1100));
    let (second, run) = build("second");
    assert!(run.step("cat /a.txt").cached, "{}", run.stderr);
    assert_eq!(
        first, second,
        "a no-op rebuild gives the same manifest digest"
    );
    assert!(
        tree_bytes(&t.root().join("store")) == store,
        "a no-op rebuild leaves the store byte-for-byte unchanged"
    );

    // A changed step makes a new image, with a newer time.
    write(&ctx.join("a.txt"), "two\n");
    let (third, run) = build("third");
    assert!(!run.step("cat /a.txt").cached, "{}", run.stderr);
    assert_ne!(first, third, "a changed step gives a new image");
    let newer = t.raw_config("same:1");
    assert!(
        newer["created"].as_str().unwrap() > config["created"].as_str().unwrap(),
        "{newer}"
    );
}

#[test]
fn run_gets_home_from_passwd_unless_env_sets_it() {
    let t = ctx_or_skip!("run_gets_home_from_passwd_unless_env_sets_it");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN echo \"$HOME\" > /root-home.txt\n\
             USER nobody\n\
             RUN echo \"$HOME\" > /tmp/nobody-home.txt\n\
             USER root\n\
             ENV HOME=/custom\n\
             RUN echo \"$HOME\" > /env-home.txt\n",
        )],
    );
    t.build(&ctx, &["-t", "home:1"]).ok();
    let r = t.unpack("home:1");
    assert_eq!(read(&r, "/root-home.txt"), "/root\n");
    assert_eq!(read(&r, "/tmp/nobody-home.txt"), "/\n");
    assert_eq!(read(&r, "/env-home.txt"), "/custom\n");
}

#[test]
fn layers_compress_while_later_steps_run() {
    let t = ctx_or_skip!("layers_compress_while_later_steps_run");
    let ctx = t.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\n\
             RUN head -c 4000000 /dev/urandom > /big\n\
             RUN sleep 2 && echo slept > /slept\n",
        )],
    );
    let root = t.root().to_path_buf();
    let run = t
        .build_in(
            &root,
            &ctx,
            &["-t", "early:1", "--progress=plain"],
            &[("STRATA_LOG", "warn,strata::export=info")],
        )
        .ok();
    let lines: Vec<&str> = run.stderr.lines().collect();
    let wrote: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains("wrote layer"))
        .collect();
    assert_eq!(wrote.len(), 2, "{}", run.stderr);
    let number = lines
        .iter()
        .find(|l| l.starts_with('#') && l.contains("] RUN sleep 2"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no sleep step:\n{}", run.stderr));
    let sleep_done = lines
        .iter()
        .position(|l| l.starts_with(&format!("{number} DONE")))
        .unwrap_or_else(|| panic!("no DONE for the sleep step:\n{}", run.stderr));
    assert!(
        wrote[0] < sleep_done,
        "the first step's layer was not compressed before the last step finished:\n{}",
        run.stderr
    );
    // The export found both blobs already written: nothing was compressed twice.
    let r = t.unpack("early:1");
    assert_eq!(read(&r, "/slept"), "slept\n");
    assert_eq!(fs::metadata(r.join("big")).unwrap().len(), 4_000_000);
}

#[test]
fn a_failing_step_cancels_a_running_stage_cleanly() {
    let t = ctx_or_skip!("a_failing_step_cancels_a_running_stage_cleanly");
    let token = format!(
        "STRATA_CANCEL_TOKEN=cancel-{}-{}",
        std::process::id(),
        line!()
    );
    // `slow` sleeps far longer than the build may take; `broken` fails once `slow` runs.
    let dockerfile = format!(
        "FROM busybox AS slow\n\
         ENV {token}\n\
         RUN sleep 120 && echo never > /never\n\
         FROM busybox AS broken\n\
         RUN sleep 1 && echo breaking && exit 7\n\
         FROM busybox\n\
         COPY --from=slow /never /never\n\
         COPY --from=broken /etc/passwd /passwd\n"
    );
    let ctx = t.context("ctx", &[("Dockerfile", &dockerfile)]);
    let root = t.root().to_path_buf();
    let root_str = root.display().to_string();
    let sleeper = |cmd: &[u8], env: &[u8]| {
        cmd.starts_with(b"sleep\x00120") && contains(env, token.as_bytes())
    };
    let run = t
        .build(&ctx, &["-t", "cancel:1", "--max-parallelism", "4"])
        .fails();
    assert!(run.stderr.contains("exit code: 7"), "{}", run.stderr);
    assert!(run.stderr.contains("Dockerfile:5"), "{}", run.stderr);
    // The build returned, so the concurrent `sleep 120` was killed, not waited for.
    assert_eq!(
        processes(sleeper),
        vec![],
        "the canceled step's process survived"
    );
    for table in ["/proc/self/mountinfo", "/proc/mounts"] {
        let text = fs::read_to_string(table).unwrap();
        let leaked: Vec<&str> = text.lines().filter(|l| l.contains(&root_str)).collect();
        assert!(leaked.is_empty(), "mounts left in {table}: {leaked:#?}");
    }
    let scratch: Vec<_> = fs::read_dir(root.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(scratch.is_empty(), "scratch directories left: {scratch:?}");
}

/// Snapshot directories holding the busybox base layer's extraction.
fn base_snapshots(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    fs::read_dir(root.join("snapshots"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.join("bin/busybox").is_file())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_base_image_only_cached_steps_use_is_never_extracted() {
    let t = ctx_or_skip!("a_base_image_only_cached_steps_use_is_never_extracted");
    let ctx = t.context(
        "ctx",
        &[("Dockerfile", "FROM busybox\nRUN echo one > /one.txt\n")],
    );
    t.build(&ctx, &["-t", "lazy:1"]).ok();
    let extracted = base_snapshots(t.root());
    assert_eq!(extracted.len(), 1, "the RUN needed the base extracted once");
    fs::remove_dir_all(&extracted[0]).unwrap();

    let again = t.build(&ctx, &["-t", "lazy:1"]).ok();
    assert!(again.step("RUN echo one").cached, "{}", again.stderr);
    assert!(
        base_snapshots(t.root()).is_empty(),
        "a fully cached build extracted its base image"
    );
    assert_eq!(read(&t.unpack("lazy:1"), "/one.txt"), "one\n");

    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo two > /two.txt\n",
    );
    t.build(&ctx, &["-t", "lazy:2"]).ok();
    assert_eq!(
        base_snapshots(t.root()).len(),
        1,
        "a RUN that ran extracts it"
    );
    assert_eq!(read(&t.unpack("lazy:2"), "/two.txt"), "two\n");
}

#[test]
fn max_parallelism_one_runs_independent_stages_one_at_a_time() {
    let t = ctx_or_skip!("max_parallelism_one_runs_independent_stages_one_at_a_time");
    let ((ls, le), (rs, re)) = two_timed_stages(&t, "serial:1", "1");
    // One step at a time: one stage's RUN ended before the other's began (the file
    // clock ticks coarsely, hence the small slack).
    assert!(
        le <= rs + 0.05 || re <= ls + 0.05,
        "the two stages overlapped under --max-parallelism 1: left [{ls}, {le}], right [{rs}, {re}]"
    );
}
