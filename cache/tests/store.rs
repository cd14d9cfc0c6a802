//! The content store and image index on real files: round trips, verification, tags,
//! garbage collection, concurrency across threads and processes, and interoperability
//! with skopeo and umoci.

// Test helpers outside `#[test]` functions panic on failure too.
#![allow(clippy::unwrap_used)]

mod store_support;

use std::fs;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use cache::{Digest, Error, ErrorKind, Root};
use store_support::{TestImage, assert_store_valid, self_command, tmp_entries, write_chunked};

/// Files left in this process's scratch directory (there should be none at rest).
fn scratch_files(root: &Root) -> Vec<String> {
    fs::read_dir(root.scratch_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

#[test]
fn open_creates_the_documented_layout_and_refuses_other_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh/root");
    let root = Root::open(&path).unwrap();
    let read = |name: &str| fs::read_to_string(path.join(name)).unwrap();
    assert_eq!(read("version").trim(), cache::FORMAT_VERSION.to_string());
    assert!(read("CACHEDIR.TAG").starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
    let layout: serde_json::Value = serde_json::from_str(&read("store/oci-layout")).unwrap();
    assert_eq!(layout["imageLayoutVersion"], "1.0.0");
    let index: serde_json::Value = serde_json::from_str(&read("store/index.json")).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    for dir in ["store/blobs/sha256", "snapshots", "tmp", "locks"] {
        assert!(path.join(dir).is_dir(), "{dir}");
    }
    assert_eq!(root.snapshots_dir(), path.join("snapshots"));
    assert_eq!(root.store().dir(), path.join("store"));
    assert!(root.scratch_dir().starts_with(path.join("tmp")));
    assert!(root.store().list().unwrap().is_empty());
    drop(root);
    assert!(tmp_entries(&path).is_empty());

    fs::write(path.join("version"), "2\n").unwrap();
    let err = Root::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("`2`"), "{err}");

    fs::write(path.join("version"), "1\n").unwrap();
    fs::write(path.join("store/index.json"), "{not json").unwrap();
    let root = Root::open(&path).unwrap();
    let err = root.store().list().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.to_string().contains("index.json"), "{err}");
}

#[test]
fn write_commit_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path()).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let blob = store_support::noise(1, 1_000_003);
    let digest = Digest::of(&blob);

    assert!(!store.exists(&digest).unwrap());
    write_chunked(store, &lease, &blob);
    assert!(store.exists(&digest).unwrap());
    assert_eq!(store.size(&digest).unwrap(), blob.len() as u64);
    assert_eq!(
        store.path(&digest),
        dir.path().join("store/blobs/sha256").join(digest.hex())
    );

    let mut reader = store.open(&digest).unwrap();
    assert_eq!(reader.size(), blob.len() as u64);
    let mut read = Vec::new();
    reader.read_to_end(&mut read).unwrap();
    assert_eq!(read, blob);
    assert_eq!(store.read_all_verified(&digest).unwrap(), blob);

    // Writing it again is success, and so is a computed commit of new content.
    write_chunked(store, &lease, &blob);
    let mut writer = store.writer(&lease).unwrap();
    writer.write_all(b"{}").unwrap();
    assert_eq!(writer.written(), 2);
    let (small, size) = writer.commit_computed().unwrap();
    assert_eq!((small, size), (Digest::of(b"{}"), 2));
    assert_eq!(store.write_blob(&lease, b"{}").unwrap(), small);

    let mut all = store.blobs().unwrap();
    all.sort();
    let mut expected = vec![digest, small];
    expected.sort();
    assert_eq!(all, expected);
    assert!(
        scratch_files(&root).is_empty(),
        "{:?}",
        scratch_files(&root)
    );
}

#[test]
fn commit_with_wrong_digest_or_size_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path()).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let blob = b"the real content".to_vec();

    let mut writer = store.writer(&lease).unwrap();
    writer.write_all(&blob).unwrap();
    let wrong = Digest::of(b"other content");
    let err = writer.commit(blob.len() as u64, &wrong).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
    assert!(matches!(err, Error::DigestMismatch { expected, actual, .. }
        if expected == wrong && actual == Digest::of(&blob)));
    assert!(err.to_string().contains(&wrong.to_string()), "{err}");

    let mut writer = store.writer(&lease).unwrap();
    writer.write_all(&blob).unwrap();
    let err = writer
        .commit(blob.len() as u64 + 1, &Digest::of(&blob))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
    assert!(matches!(err, Error::SizeMismatch { .. }), "{err:?}");

    // A writer dropped halfway leaves nothing either.
    let mut writer = store.writer(&lease).unwrap();
    writer.write_all(&blob).unwrap();
    drop(writer);

    assert!(store.blobs().unwrap().is_empty());
    assert!(!store.exists(&wrong).unwrap());
    assert!(!store.exists(&Digest::of(&blob)).unwrap());
    assert!(
        scratch_files(&root).is_empty(),
        "{:?}",
        scratch_files(&root)
    );
}

#[test]
fn reader_detects_a_corrupted_blob() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path()).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let blob = store_support::noise(2, 300_000);
    let digest = store.write_blob(&lease, &blob).unwrap();
    let path = store.path(&digest);

    // Same size, one flipped bit.
    let mut damaged = blob.clone();
    damaged[150_000] ^= 1;
    fs::write(&path, &damaged).unwrap();
    let mut reader = store.open(&digest).unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    let err = Error::from_io(err, &path);
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);
    assert!(matches!(&err, Error::DigestMismatch { path: p, .. } if *p == path));
    // The error sticks: no later read reports a clean end of file.
    assert!(reader.read(&mut [0; 16]).is_err());
    let err = store.read_all_verified(&digest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);

    // Truncated.
    fs::write(&path, &blob[..1000]).unwrap();
    let err = store.read_all_verified(&digest).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DigestMismatch);

    // Absent.
    fs::remove_file(&path).unwrap();
    for err in [
        store.open(&digest).unwrap_err(),
        store.size(&digest).unwrap_err(),
        store.read_all_verified(&digest).unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains(&digest.to_string()), "{err}");
    }
}

#[test]
fn tag_resolve_list_untag() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path()).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let one = TestImage::new(1, 1000);
    let two = TestImage::new(2, 1000);
    one.write(store, &lease);
    two.write(store, &lease);

    let busybox = "docker.io/library/busybox:latest";
    let app = "localhost:5000/team/app:1.4";
    assert!(
        store
            .tag(&lease, busybox, &one.manifest_descriptor())
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .tag(&lease, app, &one.manifest_descriptor())
            .unwrap()
            .is_none()
    );
    let resolved = store.resolve(busybox).unwrap();
    assert_eq!(resolved.digest(), one.manifest_descriptor().digest());
    assert_eq!(
        resolved.annotations().as_ref().unwrap()[cache::REF_NAME_ANNOTATION],
        busybox
    );

    // Re-tagging replaces in place and returns the old descriptor.
    let old = store
        .tag(&lease, busybox, &two.manifest_descriptor())
        .unwrap();
    assert_eq!(old.unwrap().digest(), one.manifest_descriptor().digest());
    let names: Vec<String> = store.list().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, [busybox, app]);
    assert_eq!(
        store.resolve(busybox).unwrap().digest(),
        two.manifest_descriptor().digest()
    );

    // Persisted: another handle on the root sees the same.
    drop(lease);
    drop(root);
    let root = Root::open(dir.path()).unwrap();
    let store = root.store();
    assert_eq!(store.list().unwrap().len(), 2);

    let removed = store.untag(app).unwrap();
    assert_eq!(removed.digest(), one.manifest_descriptor().digest());
    assert_eq!(store.untag(app).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(store.resolve(app).unwrap_err().kind(), ErrorKind::NotFound);
    assert_eq!(store.list().unwrap().len(), 1);

    let lease = store.lease().unwrap();
    let missing = TestImage::new(3, 10);
    let err = store
        .tag(
            &lease,
            "docker.io/library/missing:1",
            &missing.manifest_descriptor(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::BlobNotFound { .. }), "{err:?}");
    for bad in ["", "Has Space:1", "a//b", "trailing-:x"] {
        let err = store
            .tag(&lease, bad, &one.manifest_descriptor())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
    }
    assert_store_valid(dir.path());
}

#[test]
fn gc_removes_only_unreachable_blobs_and_waits_for_leases() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path()).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let kept = TestImage::new(10, 5000);
    let dropped = TestImage::new(11, 5000);
    kept.write(store, &lease);
    dropped.write(store, &lease);
    let orphan = store
        .write_blob(&lease, b"not referenced by anything")
        .unwrap();
    let cache_record = store
        .write_blob(&lease, b"referenced by a build cache record")
        .unwrap();
    store
        .tag(
            &lease,
            "docker.io/library/kept:1",
            &kept.manifest_descriptor(),
        )
        .unwrap();
    store
        .tag(
            &lease,
            "docker.io/library/dropped:1",
            &dropped.manifest_descriptor(),
        )
        .unwrap();

    // A lease (a running pull or build) keeps collectors away.
    let err = store.try_lock_gc().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Locked);
    drop(lease);

    let mut expected = vec![orphan, cache_record];
    expected.sort();
    assert_eq!(store.unreferenced(&[]).unwrap(), expected);
    assert_eq!(store.unreferenced(&[cache_record]).unwrap(), [orphan]);

    store.untag("docker.io/library/dropped:1").unwrap();
    let guard = store.try_lock_gc().unwrap();
    let report = guard.collect(&[cache_record]).unwrap();
    let mut expected: Vec<Digest> = dropped.digests().into_iter().chain([orphan]).collect();
    expected.sort();
    let mut removed = report.removed.clone();
    removed.sort();
    assert_eq!(removed, expected);
    assert!(report.freed_bytes > 5000);
    drop(guard);

    for digest in kept.digests().into_iter().chain([cache_record]) {
        assert!(store.exists(&digest).unwrap(), "{digest} was removed");
    }
    assert_eq!(store.gc().unwrap().removed, [cache_record]);
    assert_store_valid(dir.path());
}

#[test]
fn four_threads_write_and_tag_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::new(20, 500_000);
    std::thread::scope(|scope| {
        for i in 0..4 {
            let (dir, image) = (dir.path(), &image);
            scope.spawn(move || write_and_tag(dir, image, &format!("thread-{i}")));
        }
    });
    check_after_concurrent_writers(dir.path(), &image, "thread");
}

#[test]
fn four_processes_write_and_tag_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = TestImage::new(21, 500_000);
    let children: Vec<_> = (0..4)
        .map(|i| {
            self_command("concurrent_writer_child")
                .env("STRATA_TEST_WRITER_ROOT", dir.path())
                .env("STRATA_TEST_WRITER_NAME", format!("process-{i}"))
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    check_after_concurrent_writers(dir.path(), &image, "process");
}

/// Child-process entry point of `four_processes_write_and_tag_the_same_image`; does
/// nothing in a normal test run.
#[test]
fn concurrent_writer_child() {
    let (Some(root), Some(name)) = (
        std::env::var_os("STRATA_TEST_WRITER_ROOT"),
        std::env::var("STRATA_TEST_WRITER_NAME").ok(),
    ) else {
        return;
    };
    write_and_tag(Path::new(&root), &TestImage::new(21, 500_000), &name);
}

/// What each concurrent writer does: open the root, write every blob, tag a shared name
/// and its own, a few times over.
fn write_and_tag(dir: &Path, image: &TestImage, own: &str) {
    let root = Root::open(dir).unwrap();
    let store = root.store();
    for round in 0..3 {
        let lease = store.lease().unwrap();
        image.write(store, &lease);
        let descriptor = image.manifest_descriptor();
        store
            .tag(&lease, "docker.io/library/shared:latest", &descriptor)
            .unwrap();
        store
            .tag(&lease, &format!("example.com/{own}:{round}"), &descriptor)
            .unwrap();
    }
}

fn check_after_concurrent_writers(dir: &Path, image: &TestImage, prefix: &str) {
    assert_store_valid(dir);
    let root = Root::open(dir).unwrap();
    let store = root.store();
    let mut blobs = store.blobs().unwrap();
    blobs.sort();
    let mut expected = image.digests().to_vec();
    expected.sort();
    assert_eq!(blobs, expected);
    let names: Vec<String> = store.list().unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names.len(), 1 + 4 * 3, "{names:?}");
    for i in 0..4 {
        for round in 0..3 {
            let name = format!("example.com/{prefix}-{i}:{round}");
            assert_eq!(
                store.resolve(&name).unwrap().digest(),
                image.manifest_descriptor().digest()
            );
        }
    }
    // Only this handle's scratch directory is left in tmp/.
    assert_eq!(tmp_entries(dir), [root.scratch_dir()]);
}

/// Runs an external tool, failing the test (never skipping it) when it is not installed.
fn run_tool(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run `{tool}` ({e})\nhint: install it: apt-get install skopeo umoci")
    });
    assert!(
        output.status.success(),
        "`{tool} {}` failed: {}\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn skopeo_and_umoci_read_a_stored_image() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::open(dir.path().join("root")).unwrap();
    let store = root.store();
    let lease = store.lease().unwrap();
    let image = TestImage::new(30, 10_000);
    image.write(store, &lease);
    let name = "docker.io/library/strata-test:latest";
    store
        .tag(&lease, name, &image.manifest_descriptor())
        .unwrap();
    store
        .tag(&lease, "strata-short", &image.manifest_descriptor())
        .unwrap();
    drop(lease);
    let layout = store.dir().to_str().unwrap().to_owned();
    let manifest_digest = Digest::of(&image.manifest).to_string();

    for reference in [name, "strata-short"] {
        let out = run_tool("skopeo", &["inspect", &format!("oci:{layout}:{reference}")]);
        let json: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(json["Digest"], manifest_digest.as_str(), "{out}");
        assert_eq!(json["Os"], "linux", "{out}");
        let layer = Digest::of(&image.layer).to_string();
        assert_eq!(json["Layers"][0], layer.as_str(), "{out}");
    }
    let out = run_tool(
        "skopeo",
        &["inspect", "--raw", &format!("oci:{layout}:{name}")],
    );
    assert_eq!(out.as_bytes(), image.manifest);

    let listed = run_tool("umoci", &["ls", "--layout", &layout]);
    assert!(listed.lines().any(|l| l == name), "{listed}");
    for (i, reference) in [name, "strata-short"].into_iter().enumerate() {
        let bundle = dir.path().join(format!("bundle-{i}"));
        run_tool(
            "umoci",
            &[
                "unpack",
                "--image",
                &format!("{layout}:{reference}"),
                bundle.to_str().unwrap(),
            ],
        );
        let hello = fs::read_to_string(bundle.join("rootfs/hello.txt")).unwrap();
        assert_eq!(hello, "hello from strata\n");
        let data = fs::read(bundle.join("rootfs/data.bin")).unwrap();
        assert_eq!(data, store_support::noise(30, 10_000));
    }
    // The tools changed nothing strata relies on.
    assert_store_valid(&dir.path().join("root"));
    assert_eq!(store.list().unwrap().len(), 2);
}
