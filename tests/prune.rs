//! End-to-end tests of `strata prune` and `strata du`: pruning removes step snapshots,
//! base-layer snapshots and (with `--all`) cache mounts, keeps tagged images whole (umoci
//! still unpacks them), makes the next build run every step again; `--keep-storage` and
//! `--filter until=` remove least recently used cache first; a prune started during a
//! build waits for it. The real binary runs against roots seeded by `tests/support_build`.
//! The tests need root (namespaces, overlayfs); elsewhere each one prints why it skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support_build;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support_build::{TestContext, read, strata_ok, write};

/// The names in a directory of the root (none if it does not exist).
fn names(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(list) => list
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// `strata du` as (row label -> (count, bytes)); sizes are parsed back from `3.2 MB`.
fn du(root: &Path) -> std::collections::BTreeMap<String, (u64, f64)> {
    let (stdout, _) = strata_ok(root, &["du"]);
    let mut rows = std::collections::BTreeMap::new();
    for line in stdout.lines().skip(1) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 3 {
            continue;
        }
        let unit = words[words.len() - 1];
        let value: f64 = words[words.len() - 2].parse().unwrap();
        let scale = match unit {
            "B" => 1.0,
            "kB" => 1e3,
            "MB" => 1e6,
            "GB" => 1e9,
            other => panic!("unit {other} in {line}"),
        };
        let rest = &words[..words.len() - 2];
        let (label, count) = match rest.last().and_then(|w| w.parse::<u64>().ok()) {
            Some(n) => (rest[..rest.len() - 1].join(" "), n),
            None => (rest.join(" "), 0),
        };
        rows.insert(label, (count, value * scale));
    }
    rows
}

/// The layer and config digests of a tagged image, read from the store.
fn image_blobs(root: &Path, name: &str) -> Vec<String> {
    let root = cache::Root::open(root).unwrap();
    let store = root.store();
    let descriptor = store.resolve(name).unwrap();
    let digest = cache::Digest::try_from(descriptor.digest()).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&store.read_all_verified(&digest).unwrap()).unwrap();
    let mut out = vec![
        digest.to_string(),
        manifest["config"]["digest"].as_str().unwrap().to_owned(),
    ];
    for l in manifest["layers"].as_array().unwrap() {
        out.push(l["digest"].as_str().unwrap().to_owned());
    }
    out
}

fn blob_exists(root: &Path, digest: &str) -> bool {
    root.join("store/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
        .is_file()
}

#[test]
fn prune_all_removes_the_cache_keeps_images_and_the_rebuild_runs_every_step() {
    let Some(t) = TestContext::new("prune_all") else {
        return;
    };
    let root = t.root().to_path_buf();
    let app = "FROM busybox\nRUN echo built > /built.txt\nCOPY app.txt /app.txt\n";
    let tool = "FROM busybox\nRUN --mount=type=cache,target=/cache echo c > /cache/c && echo tool > /tool.txt\n";
    t.build_ok("app", app, &[("app.txt", "hello\n")], "app:1");
    t.build_ok("tool", tool, &[], "tool:1");
    assert!(!names(&root.join("cache-mounts")).is_empty());

    let before = du(&root);
    assert!(before["Step snapshots"].0 >= 3, "{before:?}");
    assert!(before["Step snapshots"].1 > 0.0, "{before:?}");
    assert!(before["Base layer snapshots"].0 >= 1, "{before:?}");
    assert!(before["Image blobs (tagged)"].1 > 0.0, "{before:?}");
    assert!(before["Cache mounts"].0 >= 1, "{before:?}");
    let (verbose, _) = strata_ok(&root, &["du", "-v"]);
    assert!(verbose.contains("snapshots/layer-"), "{verbose}");
    assert!(verbose.contains("cache-mounts/"), "{verbose}");

    let kept: Vec<String> = ["app:1", "tool:1"]
        .iter()
        .flat_map(|n| image_blobs(&root, &format!("docker.io/library/{n}")))
        .collect();
    let (stdout, _) = strata_ok(&root, &["prune", "--all", "-f"]);
    assert!(stdout.contains("Total reclaimed space"), "{stdout}");
    assert!(
        names(&root.join("snapshots")).is_empty(),
        "{stdout}\n{:?}",
        names(&root.join("snapshots"))
    );
    assert!(names(&root.join("cache-mounts")).is_empty());
    for blob in &kept {
        assert!(
            blob_exists(&root, blob),
            "{blob} of a tagged image was removed"
        );
    }
    assert_eq!(read(&t.unpack("app:1"), "built.txt"), "built\n");
    assert_eq!(read(&t.unpack("tool:1"), "tool.txt"), "tool\n");

    let after = du(&root);
    assert_eq!(after["Step snapshots"].0, 0, "{after:?}");
    assert_eq!(after["Cache mounts"].0, 0, "{after:?}");
    assert!(
        after["Total"].1 < before["Total"].1,
        "{before:?} -> {after:?}"
    );

    // Nothing is cached any more: every step runs again, and the image is the same.
    let again = t.build(&t.dir().join("app"), &["-t", "app:1"]).ok();
    for step in again.steps() {
        assert!(
            !step.cached,
            "{step:?} was CACHED after prune\n{}",
            again.stderr
        );
    }
    assert_eq!(read(&t.unpack("app:1"), "app.txt"), "hello\n");
}

#[test]
fn keep_storage_and_until_remove_the_least_recently_used_cache_first() {
    let Some(t) = TestContext::new("prune_lru") else {
        return;
    };
    let root = t.root().to_path_buf();
    // Each image adds one 1 MiB step snapshot.
    let big = |name: &str| {
        format!("FROM busybox\nRUN dd if=/dev/zero of=/{name} bs=1024 count=1024 2>/dev/null\n")
    };
    t.build_ok("x", &big("x"), &[], "x:1");
    std::thread::sleep(Duration::from_millis(1100));
    t.build_ok("y", &big("y"), &[], "y:1");
    std::thread::sleep(Duration::from_millis(1100));
    // A cache hit makes x the most recently used.
    let hit = t.build(&t.dir().join("x"), &["-t", "x:1"]).ok();
    assert!(hit.step("RUN dd").cached, "{}", hit.stderr);

    // Nothing is older than an hour, and a budget larger than everything keeps it all.
    let snapshots = names(&root.join("snapshots"));
    assert_eq!(snapshots.len(), 3, "{snapshots:?}");
    strata_ok(&root, &["prune", "-f", "--filter", "until=1h"]);
    strata_ok(&root, &["prune", "-f", "--keep-storage", "1GB"]);
    assert_eq!(names(&root.join("snapshots")), snapshots);

    // 1.5 MiB: the base layer (oldest) and y go, x (used last) stays.
    let (stdout, _) = strata_ok(&root, &["prune", "-f", "--keep-storage", "1536KB"]);
    let left = names(&root.join("snapshots"));
    assert_eq!(left.len(), 1, "{stdout}\n{left:?}");
    let x = t.build(&t.dir().join("x"), &["-t", "x:1"]).ok();
    assert!(
        x.step("RUN dd").cached,
        "x was pruned:\n{stdout}\n{}",
        x.stderr
    );
    let y = t.build(&t.dir().join("y"), &["-t", "y:1"]).ok();
    assert!(
        !y.step("RUN dd").cached,
        "y was kept:\n{stdout}\n{}",
        y.stderr
    );

    // until=4s: x, last used over 5 s ago, goes; y, used just now, stays (the margins
    // leave seconds for a slow machine between the rebuild of y and the prune).
    std::thread::sleep(Duration::from_millis(5100));
    let y_hit = t.build(&t.dir().join("y"), &["-t", "y:1"]).ok();
    assert!(y_hit.step("RUN dd").cached);
    let (stdout, _) = strata_ok(&root, &["prune", "-f", "--filter", "until=4s"]);
    let x = t.build(&t.dir().join("x"), &["-t", "x:1"]).ok();
    assert!(
        !x.step("RUN dd").cached,
        "x was kept:\n{stdout}\n{}",
        x.stderr
    );

    // --keep-storage 0 removes every snapshot but keeps the images.
    strata_ok(&root, &["prune", "-f", "--keep-storage", "0"]);
    assert!(names(&root.join("snapshots")).is_empty());
    assert!(t.unpack("x:1").join("x").is_file());
    assert!(t.unpack("y:1").join("y").is_file());
}

#[test]
fn prune_waits_for_a_running_build() {
    let Some(t) = TestContext::new("prune_waits") else {
        return;
    };
    let root = t.root().to_path_buf();
    t.build_ok("first", "FROM busybox\nRUN echo a > /a\n", &[], "first:1");
    let ctx = t.context("slow", &[]);
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN sleep 3 && echo slow > /slow.txt\n",
    );
    let started = Instant::now();
    let build = t
        .command(&root, &ctx, &["-t", "slow:1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let (stdout, stderr) = strata_ok(&root, &["prune", "-f", "--all"]);
    let pruned = started.elapsed();
    let out = build.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the build failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stderr.contains("waiting for running builds"),
        "prune did not wait:\n{stderr}"
    );
    assert!(
        pruned >= Duration::from_secs(3),
        "prune ended after {pruned:?}"
    );
    assert!(stdout.contains("Total reclaimed space"), "{stdout}");
    assert_eq!(read(&t.unpack("slow:1"), "slow.txt"), "slow\n");
    assert_eq!(read(&t.unpack("first:1"), "a"), "a\n");
    assert!(names(&root.join("snapshots")).is_empty());
}

#[test]
fn a_record_whose_snapshot_is_gone_is_a_miss() {
    let Some(t) = TestContext::new("prune_missing_snapshot") else {
        return;
    };
    let root = t.root().to_path_buf();
    t.build_ok("m", "FROM busybox\nRUN echo m > /m\n", &[], "m:1");
    for name in names(&root.join("snapshots")) {
        std::fs::remove_dir_all(root.join("snapshots").join(name)).unwrap();
    }
    let again = t.build(&t.dir().join("m"), &["-t", "m:1"]).ok();
    assert!(!again.step("RUN echo m").cached, "{}", again.stderr);
    assert_eq!(read(&t.unpack("m:1"), "m"), "m\n");
}
