//! apply_layer on real tars made with the `tar` crate's builder: every entry type,
//! whiteouts and opaque dirs in flatten and overlay modes, and each compression.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use cache::layer::{ApplyMode, ApplyOptions, Compression, apply_layer, compress};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Prints why a test is skipped; the caller returns right after.
fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(gid);
    h.set_mtime(mtime);
    h.set_size(0);
    h
}

fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8], mode: u32) {
    let mut h = header(tar::EntryType::Regular, mode, 0, 0, 1_000_000);
    h.set_size(data.len() as u64);
    b.append_data(&mut h, path, data).unwrap();
}

fn dir(b: &mut tar::Builder<Vec<u8>>, path: &str) {
    let mut h = header(tar::EntryType::Directory, 0o755, 0, 0, 1_000_000);
    b.append_data(&mut h, path, &[][..]).unwrap();
}

fn xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    rustix::fs::lgetxattr(p, name, &mut buf[..])
        .ok()
        .map(|n| buf[..n].to_vec())
}

#[test]
fn every_entry_type_lands_with_its_metadata() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(tar::EntryType::Directory, 0o750, 1000, 1001, 1_111_111);
    b.append_data(&mut h, "d/", &[][..]).unwrap();
    let mut h = header(tar::EntryType::Regular, 0o4755, 1002, 1003, 1_222_222);
    h.set_size(5);
    b.append_data(&mut h, "d/suid", &b"hello"[..]).unwrap();
    b.append_pax_extensions([
        ("SCHILY.xattr.user.color", &b"blue"[..]),
        ("mtime", &b"1333333.25"[..]),
    ])
    .unwrap();
    let mut h = header(tar::EntryType::Regular, 0o1644, 0, 0, 1);
    h.set_size(1);
    b.append_data(&mut h, "d/xattr", &b"x"[..]).unwrap();
    let mut h = header(tar::EntryType::Symlink, 0o777, 1004, 1005, 1_444_444);
    b.append_link(&mut h, "bin", "/usr/bin").unwrap();
    let mut h = header(tar::EntryType::Link, 0o644, 0, 0, 1);
    b.append_link(&mut h, "d/hard", "d/suid").unwrap();
    let long = format!("d/{}/{}", "l".repeat(120), "n".repeat(90));
    file(&mut b, &long, b"long", 0o600); // GNU long name from the builder
    let pax_long = format!("d/{}", "p".repeat(150));
    b.append_pax_extensions([("path", pax_long.as_bytes())])
        .unwrap();
    file(&mut b, "d/short-pax-alias", b"pax", 0o600);
    let mut h = header(tar::EntryType::Fifo, 0o640, 0, 0, 1_555_555);
    b.append_data(&mut h, "d/fifo", &[][..]).unwrap();
    let mut h = header(tar::EntryType::Char, 0o666, 0, 0, 1_555_555);
    h.set_device_major(1).unwrap();
    h.set_device_minor(3).unwrap();
    b.append_data(&mut h, "d/null", &[][..]).unwrap();
    let mut h = header(tar::EntryType::Block, 0o660, 0, 6, 1_555_555);
    h.set_device_major(7).unwrap();
    h.set_device_minor(0).unwrap();
    b.append_data(&mut h, "d/loop0", &[][..]).unwrap();
    let tar = b.into_inner().unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let stats = apply_layer(&tar[..], tmp.path(), &ApplyOptions::default()).unwrap();
    let t = tmp.path();
    assert_eq!(stats.hardlinks, 1);
    assert_eq!(std::fs::read(t.join("d/suid")).unwrap(), b"hello");
    assert_eq!(std::fs::read(t.join(&long)).unwrap(), b"long");
    assert_eq!(std::fs::read(t.join(&pax_long)).unwrap(), b"pax");
    assert_eq!(
        std::fs::read_link(t.join("bin")).unwrap(),
        Path::new("/usr/bin")
    );
    let suid = std::fs::metadata(t.join("d/suid")).unwrap();
    assert_eq!(
        suid.ino(),
        std::fs::metadata(t.join("d/hard")).unwrap().ino()
    );
    let d = std::fs::metadata(t.join("d")).unwrap();
    assert_eq!(d.mode() & 0o7777, 0o750);
    assert_eq!(
        d.mtime(),
        1_111_111,
        "dir mtime must be set after its children"
    );
    assert_eq!(suid.mtime(), 1_222_222);
    let x = std::fs::metadata(t.join("d/xattr")).unwrap();
    assert_eq!((x.mtime(), x.mtime_nsec()), (1_333_333, 250_000_000));
    assert_eq!(x.mode() & 0o7777, 0o1644);
    assert_eq!(
        xattr(&t.join("d/xattr"), "user.color").as_deref(),
        Some(&b"blue"[..])
    );
    let link = std::fs::symlink_metadata(t.join("bin")).unwrap();
    assert_eq!(link.mtime(), 1_444_444);
    assert!(
        std::fs::symlink_metadata(t.join("d/fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    if !is_root() {
        return skip(
            "every_entry_type_lands_with_its_metadata (owners, devices)",
            "needs root",
        );
    }
    assert_eq!(suid.mode() & 0o7777, 0o4755, "setuid survives chown");
    assert_eq!((suid.uid(), suid.gid()), (1002, 1003));
    assert_eq!((d.uid(), d.gid()), (1000, 1001));
    assert_eq!((link.uid(), link.gid()), (1004, 1005));
    let null = std::fs::symlink_metadata(t.join("d/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666);
    let lp = std::fs::symlink_metadata(t.join("d/loop0")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!((lp.rdev(), lp.gid()), (rustix::fs::makedev(7, 0), 6));
}

/// The lower layer: `a/{x,y}`, `b/c`, `o/{old, sub/deep}`, `keep`.
fn lower_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for d in ["a/", "b/", "o/", "o/sub/"] {
        dir(&mut b, d);
    }
    for f in ["a/x", "a/y", "b/c", "o/old", "o/sub/deep", "keep"] {
        file(&mut b, f, f.as_bytes(), 0o644);
    }
    b.into_inner().unwrap()
}

/// The upper layer: deletes `a/x` and `b`, makes `o` opaque with a new file.
fn upper_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    dir(&mut b, "a/");
    file(&mut b, "a/.wh.x", b"", 0o600);
    file(&mut b, ".wh.b", b"", 0o600);
    dir(&mut b, "o/");
    file(
        &mut b,
        "o/-early",
        b"same layer, sorted before the marker",
        0o644,
    );
    file(&mut b, "o/.wh..wh..opq", b"", 0o600);
    file(&mut b, "o/new", b"new", 0o644);
    b.into_inner().unwrap()
}

fn listing(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(".")
        .current_dir(root)
        .output()
        .unwrap();
    let mut v: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[test]
fn whiteouts_and_opaque_dirs_flatten_onto_the_lower_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = ApplyOptions::default();
    apply_layer(&lower_tar()[..], tmp.path(), &opts).unwrap();
    let stats = apply_layer(&upper_tar()[..], tmp.path(), &opts).unwrap();
    assert_eq!((stats.whiteouts, stats.opaque_dirs), (2, 1));
    assert_eq!(
        listing(tmp.path()),
        [
            ".",
            "./a",
            "./a/y",
            "./keep",
            "./o",
            "./o/-early",
            "./o/new"
        ]
    );
}

#[test]
fn overlay_mode_writes_overlayfs_whiteouts_that_a_real_mount_honours() {
    if !is_root() {
        return skip(
            "overlay_mode_writes_overlayfs_whiteouts_that_a_real_mount_honours",
            "needs root for mknod and trusted xattrs",
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let (lower, upper) = (tmp.path().join("l0"), tmp.path().join("l1"));
    std::fs::create_dir(&lower).unwrap();
    std::fs::create_dir(&upper).unwrap();
    let opts = ApplyOptions {
        mode: ApplyMode::Overlay,
        ..ApplyOptions::default()
    };
    apply_layer(&lower_tar()[..], &lower, &opts).unwrap();
    apply_layer(&upper_tar()[..], &upper, &opts).unwrap();
    let wh = std::fs::symlink_metadata(upper.join("a/x")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert!(
        std::fs::symlink_metadata(upper.join("b"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(
        xattr(&upper.join("o"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!upper.join("o/.wh..wh..opq").exists());

    let merged = tmp.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let opt = format!("lowerdir={}:{}", upper.display(), lower.display());
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opt])
        .arg(&merged)
        .status()
        .unwrap();
    if !st.success() {
        return skip(
            "overlay_mode_... (mount part)",
            "mount -t overlay failed (no overlayfs here?)",
        );
    }
    let seen = listing(&merged);
    Command::new("umount").arg(&merged).status().unwrap();
    assert_eq!(
        seen,
        [
            ".",
            "./a",
            "./a/y",
            "./keep",
            "./o",
            "./o/-early",
            "./o/new"
        ]
    );
}

#[test]
fn gzip_zstd_and_plain_are_detected_or_taken_from_the_media_type() {
    let plain = lower_tar();
    for c in [
        Compression::None,
        Compression::Gzip { level: 6 },
        Compression::Zstd { level: 3 },
    ] {
        let mut blob = Vec::new();
        compress(&plain[..], c, &mut blob).unwrap();
        for given in [None, Compression::from_media_type(c.media_type())] {
            let tmp = tempfile::tempdir().unwrap();
            let opts = ApplyOptions {
                compression: given,
                ..ApplyOptions::default()
            };
            let stats = apply_layer(&blob[..], tmp.path(), &opts).unwrap();
            assert_eq!(stats.files, 6, "{c:?} given={given:?}");
            assert_eq!(
                std::fs::read(tmp.path().join("o/sub/deep")).unwrap(),
                b"o/sub/deep"
            );
        }
    }
}

#[test]
fn system_tar_output_applies() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/motd"), b"hi").unwrap();
    std::os::unix::fs::symlink("etc/motd", src.join("motd")).unwrap();
    let out = Command::new("tar")
        .args(["--format=pax", "-czf", "-", "-C"])
        .arg(&src)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success());
    let dst = tmp.path().join("dst");
    std::fs::create_dir(&dst).unwrap();
    apply_layer(&out.stdout[..], &dst, &ApplyOptions::default()).unwrap();
    assert_eq!(std::fs::read(dst.join("motd")).unwrap(), b"hi");
}

#[test]
fn xz_layers_are_refused_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let err = apply_layer(
        &b"\xfd7zXZ\x00rest"[..],
        tmp.path(),
        &ApplyOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("xz"), "{err}");
}
