//! write_layer and compress: round trips, reproducibility, a real overlayfs upperdir,
//! mount stubs, and digests checked against sha256sum, gzip and zstd.

// Test helpers outside #[test] functions may unwrap too: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use cache::layer::{
    ApplyOptions, Compression, Compressor, LayerError, WriteOptions, apply_layer, compress,
    write_layer,
};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
}

fn set_mtime(p: &Path, secs: i64) {
    let ts = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        p,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn layer(dir: &Path, opts: WriteOptions) -> Vec<u8> {
    let mut out = Vec::new();
    write_layer(dir, &mut out, opts).unwrap();
    out
}

fn names(tar: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar);
    ar.entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect()
}

/// A tree with every kind of entry; `seed` changes mtimes and creation order only.
fn make_tree(root: &Path, seed: i64) {
    let mut files = vec!["usr/bin/tool", "etc/conf", "a-b", "a/b"];
    if seed % 2 == 1 {
        files.reverse();
    }
    for f in &files {
        std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
        std::fs::write(root.join(f), f.as_bytes()).unwrap();
    }
    std::fs::set_permissions(
        root.join("usr/bin/tool"),
        std::fs::Permissions::from_mode(0o4755),
    )
    .unwrap();
    std::fs::hard_link(root.join("usr/bin/tool"), root.join("usr/bin/alias")).unwrap();
    std::os::unix::fs::symlink("/usr/bin/tool", root.join("link")).unwrap();
    let long = root.join("d".repeat(120)).join("f".repeat(120));
    std::fs::create_dir_all(long.parent().unwrap()).unwrap();
    std::fs::write(&long, b"long").unwrap();
    rustix::fs::setxattr(
        root.join("etc/conf"),
        "user.note",
        b"kept",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    let out = Command::new("find").arg(root).output().unwrap();
    for p in String::from_utf8(out.stdout).unwrap().lines() {
        set_mtime(Path::new(p), 2_000_000_000 + seed * 1000);
    }
}

/// Type, mode, owner, mtime, content/target and xattr of everything under `root`.
fn describe(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(".")
        .current_dir(root)
        .output()
        .unwrap();
    let mut v = Vec::new();
    for rel in String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| *l != ".")
    {
        let p = root.join(rel);
        let m = std::fs::symlink_metadata(&p).unwrap();
        let what = if m.file_type().is_symlink() {
            format!("-> {:?}", std::fs::read_link(&p).unwrap())
        } else if m.is_file() {
            format!("{:?} nlink={}", std::fs::read(&p).unwrap(), m.nlink())
        } else {
            String::new()
        };
        let mut buf = [0u8; 64];
        let x = rustix::fs::lgetxattr(&p, "user.note", &mut buf[..])
            .map(|n| buf[..n].to_vec())
            .ok();
        v.push(format!(
            "{rel} mode={:o} {}:{} mtime={} {what} {x:?}",
            m.mode(),
            m.uid(),
            m.gid(),
            m.mtime()
        ));
    }
    v.sort();
    v
}

#[test]
fn written_layer_applies_back_to_the_same_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&dst).unwrap();
    make_tree(&src, 0);
    let tar = layer(&src, WriteOptions::default());
    let stats = apply_layer(&tar[..], &dst, &ApplyOptions::default()).unwrap();
    assert_eq!(stats.hardlinks, 1);
    set_mtime(&dst, 2_000_000_000);
    assert_eq!(describe(&src), describe(&dst));
    // Parents come before children, siblings sorted, names without atime/ctime records.
    let n = names(&tar);
    let pos = |s: &str| n.iter().position(|x| x == s).unwrap();
    assert!(
        pos("a/") < pos("a/b") && pos("a/b") < pos("a-b") || pos("a-b") < pos("a/"),
        "{n:?}"
    );
    assert!(pos("usr/") < pos("usr/bin/") && pos("usr/bin/") < pos("usr/bin/alias"));
    assert!(!tar.windows(6).any(|w| w == b"atime=" || w == b"ctime="));
    // The system tar agrees on the names (PAX long names included).
    let listed = Command::new("tar")
        .args(["-tf", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&tar)?;
            c.wait_with_output()
        })
        .unwrap();
    let sys: Vec<String> = String::from_utf8(listed.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(sys, n);
}

#[test]
fn source_date_epoch_gives_identical_bytes_for_different_mtimes() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    make_tree(&one, 1);
    make_tree(&two, 2);
    let opts = WriteOptions {
        source_date_epoch: Some(1_700_000_000),
        ..Default::default()
    };
    let (a, b) = (layer(&one, opts.clone()), layer(&two, opts.clone()));
    assert!(a == b, "layers differ");
    let mut ar = tar::Archive::new(&a[..]);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        assert_eq!(e.header().mtime().unwrap(), 1_700_000_000);
        assert!(e.header().username_bytes().is_none_or(|u| u.is_empty()));
    }
    let (ga, gb) = (gz(&a), gz(&b));
    assert_eq!(ga, gb, "gzip output is reproducible");
    assert_ne!(
        layer(&one, WriteOptions::default()),
        layer(&two, WriteOptions::default())
    );
}

fn gz(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    compress(data, Compression::Gzip { level: 6 }, &mut out).unwrap();
    out
}

#[test]
fn overlayfs_upperdir_becomes_a_layer_with_whiteouts() {
    if !is_root() {
        return skip(
            "overlayfs_upperdir_becomes_a_layer_with_whiteouts",
            "needs root to mount overlayfs",
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let [lower, upper, work, merged] =
        ["lower", "upper", "work", "merged"].map(|d| tmp.path().join(d));
    for d in [&lower, &upper, &work, &merged] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::create_dir_all(lower.join("gone-dir/sub")).unwrap();
    std::fs::create_dir_all(lower.join("redo/old")).unwrap();
    for f in [
        "gone",
        "changed",
        "gone-dir/sub/f",
        "redo/old/f",
        "redo/keep",
    ] {
        std::fs::write(lower.join(f), b"lower").unwrap();
    }
    let opt = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.display(),
        upper.display(),
        work.display()
    );
    let st = Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &opt])
        .arg(&merged)
        .status()
        .unwrap();
    if !st.success() {
        return skip(
            "overlayfs_upperdir_becomes_a_layer_with_whiteouts",
            "mount -t overlay failed",
        );
    }
    let steps = (|| -> std::io::Result<()> {
        std::fs::remove_file(merged.join("gone"))?;
        std::fs::remove_dir_all(merged.join("gone-dir"))?;
        std::fs::write(merged.join("changed"), b"upper")?;
        std::fs::remove_dir_all(merged.join("redo"))?;
        std::fs::create_dir(merged.join("redo"))?;
        std::fs::write(merged.join("redo/new"), b"new")?;
        std::fs::write(merged.join("added"), b"added")?;
        std::fs::hard_link(merged.join("added"), merged.join("added-too"))
    })();
    let expected = describe(&merged);
    Command::new("umount").arg(&merged).status().unwrap();
    steps.unwrap();

    let tar = layer(&upper, WriteOptions::default());
    let n = names(&tar);
    for want in [
        ".wh.gone",
        ".wh.gone-dir",
        "changed",
        "redo/",
        "redo/.wh..wh..opq",
        "redo/new",
        "added",
        "added-too",
    ] {
        assert!(n.contains(&want.to_string()), "missing {want} in {n:?}");
    }
    assert!(
        !tar.windows(15).any(|w| w == b"trusted.overlay"),
        "overlay xattrs leaked"
    );

    // Flattening lower + this layer reproduces the merged view.
    let flat = tmp.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    let lower_tar = layer(&lower, WriteOptions::default());
    apply_layer(&lower_tar[..], &flat, &ApplyOptions::default()).unwrap();
    apply_layer(&tar[..], &flat, &ApplyOptions::default()).unwrap();
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .map(|l| l.split(" mtime=").next().unwrap().to_owned())
            .collect()
    };
    assert_eq!(strip(describe(&flat)), strip(expected));
}

#[test]
fn xattr_whiteouts_become_wh_files_and_metacopy_is_refused() {
    if !is_root() {
        return skip(
            "xattr_whiteouts_become_wh_files_and_metacopy_is_refused",
            "needs root for trusted xattrs",
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("gone"), b"").unwrap();
    rustix::fs::setxattr(
        tmp.path().join("gone"),
        "trusted.overlay.whiteout",
        b"",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    assert_eq!(
        names(&layer(tmp.path(), WriteOptions::default())),
        [".wh.gone"]
    );
    std::fs::write(tmp.path().join("meta"), b"").unwrap();
    rustix::fs::setxattr(
        tmp.path().join("meta"),
        "trusted.overlay.metacopy",
        b"",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    let err = write_layer(tmp.path(), Vec::new(), WriteOptions::default()).unwrap_err();
    assert!(matches!(err, LayerError::OverlayFeature { .. }), "{err}");
}

#[test]
fn mount_stubs_are_left_out_only_while_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("proc")).unwrap();
    std::fs::write(root.join("etc/hosts"), b"").unwrap();
    std::fs::write(root.join("etc/resolv.conf"), b"nameserver 10.0.0.1\n").unwrap();
    let exclude: BTreeSet<PathBuf> = ["etc/hosts", "etc/resolv.conf", "proc"]
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut out = Vec::new();
    let stats = write_layer(
        root,
        &mut out,
        WriteOptions {
            exclude,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(names(&out), ["etc/", "etc/resolv.conf"]);
    assert_eq!(stats.excluded, 2);
}

fn sha256sum(p: &Path) -> String {
    let out = Command::new("sha256sum").arg(p).output().unwrap();
    format!(
        "sha256:{}",
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
    )
}

#[test]
fn compressed_digests_match_sha256sum_and_decompress_with_system_tools() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    make_tree(&src, 0);
    std::fs::write(
        src.join("big"),
        (0..400_000u32)
            .flat_map(|i| i.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let plain_path = tmp.path().join("layer.tar");
    std::fs::write(&plain_path, layer(&src, WriteOptions::default())).unwrap();
    let cases = [
        (Compression::Gzip { level: 6 }, "gz", vec!["gzip", "-dc"]),
        (Compression::Zstd { level: 3 }, "zst", vec!["zstd", "-dcq"]),
        (Compression::None, "tar2", vec!["cat"]),
    ];
    for (c, ext, cmd) in cases {
        let blob = tmp.path().join(format!("layer.{ext}"));
        // Tee write_layer straight into the compressor: no temporary uncompressed tar.
        let mut comp = Compressor::new(c, std::fs::File::create(&blob).unwrap()).unwrap();
        write_layer(&src, &mut comp, WriteOptions::default()).unwrap();
        let (stats, _file) = comp.finish().unwrap();
        assert_eq!(stats.digest, sha256sum(&blob), "{c:?}");
        assert_eq!(stats.diff_id, sha256sum(&plain_path), "{c:?}");
        assert_eq!(
            stats.compressed_size,
            std::fs::metadata(&blob).unwrap().len()
        );
        assert_eq!(
            stats.uncompressed_size,
            std::fs::metadata(&plain_path).unwrap().len()
        );
        let out = Command::new(cmd[0])
            .args(&cmd[1..])
            .arg(&blob)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{c:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stdout == std::fs::read(&plain_path).unwrap(),
            "{c:?} does not give the tar back"
        );
        // The plain compress() entry point agrees with the tee.
        let mut again = Vec::new();
        let s2 = compress(std::fs::File::open(&plain_path).unwrap(), c, &mut again).unwrap();
        assert_eq!(s2, stats);
    }
}
