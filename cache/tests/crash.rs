//! Crash safety: a child process (this test binary re-run in child mode) is SIGKILLed at
//! a named point of writing an image; the store must hold no partial or corrupt blob, the
//! dead child's scratch directory must survive other processes' opens while the child
//! lives and be removed by the first open after its death, and the interrupted work must
//! then complete.

// Test helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used)]

mod store_support;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cache::{Digest, Root};
use store_support::{TestImage, assert_store_valid, self_command, tmp_entries, wait_for_file};

/// The image every child and every redo writes.
fn image() -> TestImage {
    TestImage::new(7, 300_000)
}

const NAME: &str = "docker.io/library/crash:latest";

/// Where the child stops and waits to be killed.
#[derive(Clone, Copy, Debug)]
enum Point {
    /// Half of the layer written to the writer (and flushed to its scratch file).
    MidBlob,
    /// The layer committed, the config not started.
    BetweenBlobs,
    /// Every blob committed, the index not updated.
    BeforeTag,
    /// Looping over tag and untag (killed at an arbitrary instant).
    DuringTags,
}

impl Point {
    fn name(self) -> &'static str {
        match self {
            Point::MidBlob => "mid-blob",
            Point::BetweenBlobs => "between-blobs",
            Point::BeforeTag => "before-tag",
            Point::DuringTags => "during-tags",
        }
    }
}

/// Child-mode entry point: does nothing unless `STRATA_CRASH_POINT` is set.
#[test]
fn crash_child() {
    let (Ok(point), Some(root), Some(marker)) = (
        std::env::var("STRATA_CRASH_POINT"),
        std::env::var_os("STRATA_CRASH_ROOT"),
        std::env::var_os("STRATA_CRASH_MARKER"),
    ) else {
        return;
    };
    let root = Root::open(root).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let image = image();
    // Tells the parent where this process's scratch directory is, then waits for SIGKILL.
    let ready = |detail: &str| -> ! {
        let content = format!("{}\n{detail}\n", root.scratch_dir().display());
        fs::write(&marker, content).unwrap();
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    };
    match point.as_str() {
        "mid-blob" => {
            let mut writer = store.writer(&lease).unwrap();
            writer
                .write_all(&image.layer[..image.layer.len() / 2])
                .unwrap();
            writer.flush().unwrap();
            ready("writing");
        }
        "between-blobs" => {
            store_support::write_chunked(store, &lease, &image.layer);
            ready("committed layer");
        }
        "before-tag" => {
            image.write(store, &lease);
            ready("committed all blobs");
        }
        "during-tags" => {
            image.write(store, &lease);
            let descriptor = image.manifest_descriptor();
            store.tag(&lease, NAME, &descriptor).unwrap();
            fs::write(
                &marker,
                format!("{}\ntagging\n", root.scratch_dir().display()),
            )
            .unwrap();
            for i in 0u64.. {
                let name = format!("example.com/loop:{}", i % 20);
                store.tag(&lease, &name, &descriptor).unwrap();
                if i % 3 == 0 {
                    store.untag(&name).unwrap();
                }
            }
        }
        other => panic!("unknown crash point `{other}`"),
    }
}

/// Runs a child up to `point`, checks that a concurrent open keeps its scratch
/// directory, SIGKILLs it, and returns the root's path and the child's scratch directory.
fn kill_child_at(point: Point, dir: &Path) -> (PathBuf, PathBuf) {
    let root_path = dir.join("root");
    let marker = dir.join(format!("ready-{}", point.name()));
    let mut child = self_command("crash_child")
        .env("STRATA_CRASH_POINT", point.name())
        .env("STRATA_CRASH_ROOT", &root_path)
        .env("STRATA_CRASH_MARKER", &marker)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let content = wait_for_file(&marker, &mut child);
    let child_scratch = PathBuf::from(content.lines().next().unwrap());
    if let Point::DuringTags = point {
        std::thread::sleep(Duration::from_millis(150));
    }

    // Another process opening the root meanwhile must not touch the live child's files.
    {
        let other = Root::open(&root_path).unwrap();
        assert!(
            child_scratch.is_dir(),
            "a live process's scratch directory was removed"
        );
        assert_ne!(other.scratch_dir(), child_scratch);
    }
    if let Point::MidBlob = point {
        let files: Vec<_> = fs::read_dir(&child_scratch).unwrap().collect();
        assert_eq!(
            files.len(),
            1,
            "the half-written blob should be in the child's scratch directory"
        );
    }

    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child should have been killed, got {status}"
    );
    (root_path, child_scratch)
}

/// What must hold after the kill, and the redo that must complete.
/// `committed` are the blobs the child committed, `orphans` those of them no tag reaches.
fn check_and_redo(
    root_path: &Path,
    child_scratch: &Path,
    committed: &[Digest],
    orphans: &[Digest],
) {
    // At rest, before anyone opens the root again: no partial blob is visible, and the
    // dead child's files are still in its scratch directory.
    assert_store_valid(root_path);
    assert!(child_scratch.is_dir());
    let blobs_dir = root_path.join("store/blobs/sha256");
    let mut present: Vec<Digest> = fs::read_dir(&blobs_dir)
        .unwrap()
        .map(|e| Digest::from_hex(e.unwrap().file_name().to_str().unwrap()).unwrap())
        .collect();
    present.sort();
    let mut expected = committed.to_vec();
    expected.sort();
    assert_eq!(present, expected);

    // The next open removes the dead child's scratch directory, and only that.
    let root = Root::open(root_path).unwrap();
    assert!(
        !child_scratch.exists(),
        "stale scratch directory survived the open"
    );
    assert_eq!(tmp_entries(root_path), [root.scratch_dir()]);
    let mut orphans = orphans.to_vec();
    orphans.sort();
    assert_eq!(root.store().unreferenced(&[]).unwrap(), orphans);

    // The child's lease died with it: a collection can run at once.
    let guard = root.store().try_lock_gc().unwrap();
    drop(guard);

    // Redo the whole operation.
    let store = root.store();
    let image = image();
    let lease = store.lease().unwrap();
    image.write(store, &lease);
    store
        .tag(&lease, NAME, &image.manifest_descriptor())
        .unwrap();
    drop(lease);
    let found = store.resolve(NAME).unwrap();
    let manifest = store
        .read_all_verified(&Digest::try_from(found.digest()).unwrap())
        .unwrap();
    assert_eq!(manifest, image.manifest);
    for digest in image.digests() {
        assert_eq!(
            store.read_all_verified(&digest).unwrap().len() as u64,
            store.size(&digest).unwrap()
        );
    }
    assert_store_valid(root_path);
    drop(root);
    assert!(tmp_entries(root_path).is_empty());
}

#[test]
fn killed_in_the_middle_of_a_blob() {
    let dir = tempfile::tempdir().unwrap();
    let (root, scratch) = kill_child_at(Point::MidBlob, dir.path());
    check_and_redo(&root, &scratch, &[], &[]);
}

#[test]
fn killed_between_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let (root, scratch) = kill_child_at(Point::BetweenBlobs, dir.path());
    let layer = [Digest::of(&image().layer)];
    check_and_redo(&root, &scratch, &layer, &layer);
}

#[test]
fn killed_before_the_index_update() {
    let dir = tempfile::tempdir().unwrap();
    let (root, scratch) = kill_child_at(Point::BeforeTag, dir.path());
    // Committed but never tagged: garbage, now that the writer is gone.
    let digests = image().digests();
    check_and_redo(&root, &scratch, &digests, &digests);
}

#[test]
fn killed_while_tagging() {
    let dir = tempfile::tempdir().unwrap();
    let (root_path, scratch) = kill_child_at(Point::DuringTags, dir.path());
    check_and_redo(&root_path, &scratch, &image().digests(), &[]);
    let root = Root::open(&root_path).unwrap();
    let listed = root.store().list().unwrap();
    assert!(listed.iter().any(|i| i.name == NAME));
    for image in listed {
        assert_eq!(
            image.descriptor.digest(),
            self::image().manifest_descriptor().digest()
        );
    }
}
