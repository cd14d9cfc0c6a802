//! End-to-end tests of `COPY --link` / `ADD --link`: the copy runs on an empty
//! filesystem and is merged onto the stage, so its cache key and its layer do not
//! depend on the layers below it. The real binary builds from the busybox base of
//! `tests/support_build`; images are read back with `umoci unpack`, layer blobs with
//! `tar`, manifests from the store's OCI layout. Every test needs root (namespaces,
//! overlayfs) and says why it skips elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_build;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support_build::{exists, mode, owner, read, store_ref, write};

/// The manifest that `image` is tagged with in the root's store.
fn manifest(root: &Path, image: &str) -> Value {
    let store = root.join("store");
    let full = store_ref(root, image);
    let name = full.rsplit_once("store:").unwrap().1.to_string();
    let index: Value =
        serde_json::from_slice(&fs::read(store.join("index.json")).unwrap()).unwrap();
    let entry = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name.as_str())
        .unwrap_or_else(|| panic!("{name} is not in index.json: {index}"));
    let hex = entry["digest"]
        .as_str()
        .unwrap()
        .strip_prefix("sha256:")
        .unwrap();
    serde_json::from_slice(&fs::read(store.join("blobs/sha256").join(hex)).unwrap()).unwrap()
}

/// The layer blob digests of `image`, bottom first.
fn layers(root: &Path, image: &str) -> Vec<String> {
    manifest(root, image)["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// The entry names of one layer blob (`tar -t`), sorted, without a trailing `/`.
fn layer_entries(root: &Path, digest: &str) -> Vec<String> {
    let hex = digest.strip_prefix("sha256:").unwrap();
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(root.join("store/blobs/sha256").join(hex))
        .output()
        .unwrap();
    assert!(out.status.success(), "tar -tzf {digest}");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect();
    names.sort();
    names
}

/// Everything under an unpacked rootfs but times: type, mode, owner, and the
/// content or link target, by path.
fn tree(rootfs: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![rootfs.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let m = fs::symlink_metadata(&path).unwrap();
            let what = if m.is_dir() {
                stack.push(path.clone());
                "dir".to_string()
            } else if m.file_type().is_symlink() {
                format!("symlink -> {}", fs::read_link(&path).unwrap().display())
            } else if m.is_file() {
                format!(
                    "file {:?}",
                    String::from_utf8_lossy(&fs::read(&path).unwrap())
                )
            } else {
                format!("special {:o}", m.mode())
            };
            let rel = path.strip_prefix(rootfs).unwrap().display().to_string();
            out.insert(
                rel,
                format!(
                    "{what} mode={:o} owner={}:{}",
                    m.mode() & 0o7777,
                    m.uid(),
                    m.gid()
                ),
            );
        }
    }
    out
}

/// A context with an `app/` directory, a script and a file for ADD.
fn app_files() -> Vec<(&'static str, &'static str)> {
    vec![
        ("app/a.txt", "alpha\n"),
        ("app/sub/b.txt", "beta\n"),
        ("run.sh", "#!/bin/sh\necho run\n"),
        ("notes.txt", "added\n"),
    ]
}

#[test]
fn link_step_stays_cached_when_an_earlier_run_changes() {
    let t = ctx_or_skip!("link_step_stays_cached_when_an_earlier_run_changes");
    let ctx = t.context("ctx", &app_files());
    let dockerfile = |before: &str, copy: &str| {
        format!(
            "FROM busybox\n\
             RUN echo {before} > /before\n\
             {copy} app/ /app/\n\
             RUN cat /app/a.txt /before > /after\n"
        )
    };

    write(&ctx.join("Dockerfile"), &dockerfile("one", "COPY --link"));
    let first = t.build(&ctx, &["-t", "link:1"]).ok();
    assert!(!first.step("COPY --link").cached);
    write(&ctx.join("Dockerfile"), &dockerfile("two", "COPY --link"));
    let second = t.build(&ctx, &["-t", "link:2"]).ok();
    assert!(!second.step("RUN echo two").cached, "{}", second.stderr);
    assert!(
        second.step("COPY --link").cached,
        "the linked copy must not depend on the RUN before it:\n{}",
        second.stderr
    );
    // The RUN after it sees the new layer below and the linked files on top.
    assert!(!second.step("RUN cat").cached);
    let rootfs = t.unpack("link:2");
    assert_eq!(read(&rootfs, "/after"), "alpha\ntwo\n");
    assert_eq!(read(&rootfs, "/app/sub/b.txt"), "beta\n");

    // base + RUN echo + COPY --link + RUN cat: the link layer is the same blob.
    let (l1, l2) = (layers(t.root(), "link:1"), layers(t.root(), "link:2"));
    assert_eq!(l1.len(), 4, "{l1:?}");
    assert_eq!(l2.len(), 4, "{l2:?}");
    assert_ne!(l1[1], l2[1], "the changed RUN has a new layer");
    assert_eq!(
        l1[2], l2[2],
        "the COPY --link layer is reused byte for byte"
    );

    // Without --link the same change reruns the copy.
    write(&ctx.join("Dockerfile"), &dockerfile("one", "COPY"));
    t.build(&ctx, &["-t", "plain:1"]).ok();
    write(&ctx.join("Dockerfile"), &dockerfile("three", "COPY"));
    let plain = t.build(&ctx, &["-t", "plain:2"]).ok();
    assert!(
        !plain.step("COPY app/").cached,
        "a plain COPY depends on the layers below it:\n{}",
        plain.stderr
    );
}

#[test]
fn link_step_stays_cached_when_the_base_image_changes() {
    let t = ctx_or_skip!("link_step_stays_cached_when_the_base_image_changes");
    t.build_ok(
        "other",
        "FROM busybox\nRUN echo other > /marker\n",
        &[],
        "otherbase:1",
    );
    let ctx = t.context("ctx", &app_files());
    write(
        &ctx.join("Dockerfile"),
        "ARG BASE=busybox\nFROM ${BASE}\nCOPY --link --chmod=0640 app/ /srv/app/\n",
    );
    let first = t.build(&ctx, &["-t", "onbase:1"]).ok();
    assert!(!first.step("COPY --link").cached);
    let second = t
        .build(&ctx, &["-t", "onbase:2", "--build-arg", "BASE=otherbase:1"])
        .ok();
    assert!(
        second.step("COPY --link").cached,
        "a new base must not rerun a linked copy:\n{}",
        second.stderr
    );
    let (l1, l2) = (layers(t.root(), "onbase:1"), layers(t.root(), "onbase:2"));
    assert_eq!(l1.len() + 1, l2.len(), "{l1:?} {l2:?}");
    assert_eq!(l1.last(), l2.last(), "the link layer is the same blob");
    let rootfs = t.unpack("onbase:2");
    assert_eq!(read(&rootfs, "/marker"), "other\n");
    assert_eq!(read(&rootfs, "/srv/app/a.txt"), "alpha\n");
    assert_eq!(mode(&rootfs, "/srv/app/a.txt"), 0o640);
}

/// One Dockerfile with each kind of copy, with or without `--link`.
///
/// No two copies share a destination parent that a `--chown` created: a linked copy
/// creates its parents itself (on scratch), so it would give such a directory its own
/// owner where a plain copy keeps the existing one. BuildKit behaves the same way.
fn every_copy(link: &str) -> String {
    format!(
        "FROM busybox AS tool\n\
         RUN mkdir -p /out/bin && echo tool > /out/bin/tool && chmod 0700 /out/bin/tool\n\
         FROM busybox\n\
         RUN echo earlier > /earlier && mkdir -p /srv/www/site \\\n\
             && echo old > /srv/www/site/a.txt && echo keep > /srv/www/site/keep.txt\n\
         WORKDIR /srv/www\n\
         COPY {link} app/ ./site/\n\
         COPY {link} --chown=1234:5678 app/a.txt /data/owned/\n\
         COPY {link} --chown=4321 notes.txt /single/\n\
         COPY {link} --chmod=0750 run.sh /usr/local/bin/run\n\
         COPY {link} --from=tool /out/ /opt/tool/\n\
         ADD {link} notes.txt relative/deeper/\n\
         COPY {link} <<EOF /etc/greeting\n\
         hello\n\
         EOF\n\
         RUN ls -R /srv/www /data /opt/tool > /listing \\\n\
             && cat /srv/www/site/a.txt /srv/www/site/keep.txt > /seen\n"
    )
}

#[test]
fn linked_copies_give_the_filesystem_of_plain_copies() {
    let t = ctx_or_skip!("linked_copies_give_the_filesystem_of_plain_copies");
    t.build_ok("plain", &every_copy(""), &app_files(), "every:plain");
    let linked = t.build_ok("linked", &every_copy("--link"), &app_files(), "every:link");
    assert!(
        linked.stderr.contains("COPY --link app/"),
        "{}",
        linked.stderr
    );

    let plain_fs = t.unpack("every:plain");
    let link_fs = t.unpack("every:link");
    let (a, b) = (tree(&plain_fs), tree(&link_fs));
    let differ: Vec<_> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: plain {:?} / link {:?}", a.get(k), b.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "linked copies differ:\n{}",
        differ.join("\n")
    );

    // And that filesystem is the one the instructions ask for.
    assert_eq!(read(&link_fs, "/srv/www/site/a.txt"), "alpha\n");
    assert_eq!(read(&link_fs, "/srv/www/site/sub/b.txt"), "beta\n");
    assert_eq!(owner(&link_fs, "/data/owned/a.txt"), (1234, 5678));
    assert_eq!(owner(&link_fs, "/data/owned"), (1234, 5678));
    assert_eq!(owner(&link_fs, "/single/notes.txt"), (4321, 4321));
    assert_eq!(mode(&link_fs, "/usr/local/bin/run"), 0o750);
    assert_eq!(read(&link_fs, "/opt/tool/bin/tool"), "tool\n");
    assert_eq!(mode(&link_fs, "/opt/tool/bin/tool"), 0o700);
    assert_eq!(
        read(&link_fs, "/srv/www/relative/deeper/notes.txt"),
        "added\n"
    );
    assert_eq!(read(&link_fs, "/etc/greeting"), "hello\n");
    // Files of the layers below survive the merge, next to the linked ones; where
    // both have a file, the linked one wins.
    assert_eq!(read(&link_fs, "/earlier"), "earlier\n");
    assert_eq!(read(&link_fs, "/srv/www/site/keep.txt"), "keep\n");
    assert!(exists(&link_fs, "/etc/passwd") && exists(&link_fs, "/bin/busybox"));
    // A step after the merge sees the same stacking as the exported image.
    assert_eq!(read(&link_fs, "/seen"), "alpha\nkeep\n");
    let listing = read(&link_fs, "/listing");
    assert!(
        listing.contains("a.txt") && listing.contains("tool"),
        "{listing}"
    );
}

#[test]
fn linked_copies_work_with_the_copy_snapshotter() {
    let t = ctx_or_skip!("linked_copies_work_with_the_copy_snapshotter");
    t.build_ok("plain", &every_copy(""), &app_files(), "every:plain");
    let ctx = t.context("linked", &app_files());
    write(&ctx.join("Dockerfile"), &every_copy("--link"));
    let env = [
        ("SOURCE_DATE_EPOCH", support_build::EPOCH),
        ("STRATA_SNAPSHOTTER", "copy"),
    ];
    t.build_in(t.root(), &ctx, &["-t", "every:copysnap"], &env)
        .ok();
    let (a, b) = (
        tree(&t.unpack("every:plain")),
        tree(&t.unpack("every:copysnap")),
    );
    let differ: Vec<_> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}: plain {:?} / link {:?}", a.get(k), b.get(k)))
        .collect();
    assert!(
        differ.is_empty(),
        "linked copies (copy snapshotter) differ:\n{}",
        differ.join("\n")
    );
}

#[test]
fn link_layer_holds_only_the_copied_files() {
    let t = ctx_or_skip!("link_layer_holds_only_the_copied_files");
    let ctx = t.context("ctx", &app_files());
    fs::set_permissions(ctx.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\n\
         RUN echo below > /below\n\
         WORKDIR /srv/www\n\
         COPY --link app/ site/\n\
         ADD --link run.sh /usr/local/bin/\n",
    );
    t.build(&ctx, &["-t", "only:1"]).ok();
    // base, RUN, WORKDIR, COPY --link, ADD --link
    let l = layers(t.root(), "only:1");
    assert_eq!(l.len(), 5, "{l:?}");
    assert_eq!(
        layer_entries(t.root(), &l[3]),
        [
            "srv",
            "srv/www",
            "srv/www/site",
            "srv/www/site/a.txt",
            "srv/www/site/sub",
            "srv/www/site/sub/b.txt",
        ]
    );
    assert_eq!(
        layer_entries(t.root(), &l[4]),
        ["usr", "usr/local", "usr/local/bin", "usr/local/bin/run.sh"]
    );
    let config = t.config("only:1");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), 5);
    let history: Vec<String> = config["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| !h["empty_layer"].as_bool().unwrap_or(false))
        .map(|h| h["created_by"].as_str().unwrap_or("").to_string())
        .collect();
    // BuildKit's history text names sources and destination, never flags
    // (tests/docker_parity.rs shows it for --from, --chown and --chmod).
    assert_eq!(history[3], "COPY app/ site/ # buildkit", "{history:?}");
}

#[test]
fn link_with_a_chown_name_is_rejected_at_its_line() {
    let t = ctx_or_skip!("link_with_a_chown_name_is_rejected_at_its_line");
    let ctx = t.context("ctx", &app_files());
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN true\nCOPY --link --chown=nobody app/ /app/\n",
    );
    let run = t.build(&ctx, &["-t", "named:1"]).fails();
    assert!(
        run.stderr.contains("--chown=nobody") && run.stderr.contains("--link"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Dockerfile:3"), "{}", run.stderr);
    assert!(
        run.steps().iter().all(|s| s.stage == "internal" || !s.done),
        "the error comes before anything runs:\n{}",
        run.stderr
    );

    // `root` is a number everywhere, so BuildKit and strata accept it.
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nCOPY --link --chown=root:root app/ /app/\n",
    );
    t.build(&ctx, &["-t", "named:2"]).ok();
    assert_eq!(owner(&t.unpack("named:2"), "/app/a.txt"), (0, 0));
}
