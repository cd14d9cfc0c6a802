//! Content digests of COPY selections: what changes them, what does not, and
//! how little work a rebuild does.
// Helpers outside #[test] fns panic on setup failure too, like the tests.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use solver::contenthash::{Change, ContentHasher, HashReport, MemoryMemo, NoMemo, Selection};

fn sel(sources: &[&str]) -> Selection {
    Selection {
        sources: sources.iter().map(|s| s.to_string()).collect(),
        allow_wildcard: true,
        follow_symlinks: true,
        ..Default::default()
    }
}

fn hash(root: &Path, s: &Selection) -> HashReport {
    ContentHasher::new(&NoMemo).hash(root, s).unwrap()
}

fn write(p: &Path, data: &str) {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn ctx() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write(&t.path().join("app/main.rs"), "fn main() {}");
    write(&t.path().join("app/lib.rs"), "pub fn f() {}");
    write(&t.path().join("README.md"), "readme");
    t
}

#[test]
fn mtime_only_change_keeps_the_digest() {
    let t = ctx();
    let s = sel(&["app", "README.md"]);
    let before = hash(t.path(), &s);
    let f = fs::File::options()
        .write(true)
        .open(t.path().join("app/main.rs"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    let after = hash(t.path(), &s);
    assert_eq!(before.digest, after.digest);
    assert!(after.diff(&before).is_empty());
}

#[test]
fn bytes_mode_owner_xattr_and_link_target_change_the_digest() {
    let t = ctx();
    symlink("app/main.rs", t.path().join("link")).unwrap();
    let s = Selection {
        follow_symlinks: false,
        ..sel(&["app", "link"])
    };
    let mut last = hash(t.path(), &s);
    let main = t.path().join("app/main.rs");
    type Mutation<'a> = (&'static str, Box<dyn Fn() + 'a>);
    let mut changes: Vec<Mutation> = vec![
        (
            "bytes",
            Box::new(|| fs::write(&main, "fn main() { }").unwrap()),
        ),
        (
            "mode",
            Box::new(|| fs::set_permissions(&main, fs::Permissions::from_mode(0o755)).unwrap()),
        ),
        (
            "setuid",
            Box::new(|| fs::set_permissions(&main, fs::Permissions::from_mode(0o4755)).unwrap()),
        ),
        (
            "owner",
            Box::new(|| std::os::unix::fs::chown(&main, Some(12), Some(34)).unwrap()),
        ),
        (
            "link target",
            Box::new(|| {
                fs::remove_file(t.path().join("link")).unwrap();
                symlink("app/lib.rs", t.path().join("link")).unwrap();
            }),
        ),
    ];
    if rustix::fs::setxattr(&main, "user.probe", b"1", rustix::fs::XattrFlags::empty()).is_ok() {
        last = hash(t.path(), &s);
        changes.push((
            "xattr",
            Box::new(|| {
                rustix::fs::setxattr(&main, "user.probe", b"2", rustix::fs::XattrFlags::empty())
                    .unwrap()
            }),
        ));
    } else {
        eprintln!("skipping the xattr case: the temp filesystem has no user xattrs");
    }
    for (what, change) in changes {
        change();
        let now = hash(t.path(), &s);
        assert_ne!(now.digest, last.digest, "{what} must change the digest");
        let diff = now.diff(&last);
        assert!(!diff.is_empty(), "{what}: the diff names the path");
        last = now;
    }
}

#[test]
fn names_matter_only_inside_directories() {
    let t = ctx();
    write(&t.path().join("copy_of_readme"), "readme");
    let r = hash(t.path(), &sel(&["README.md", "copy_of_readme"]));
    assert_eq!(
        r.paths["README.md"], r.paths["copy_of_readme"],
        "a file's digest ignores its name"
    );

    let s = sel(&["app"]);
    let before = hash(t.path(), &s);
    fs::rename(t.path().join("app/lib.rs"), t.path().join("app/lib2.rs")).unwrap();
    let after = hash(t.path(), &s);
    assert_ne!(before.digest, after.digest);
    let diff = after.diff(&before);
    assert_eq!(
        diff,
        vec![
            ("app".to_string(), Change::Modified),
            ("app/lib.rs".to_string(), Change::Removed),
            ("app/lib2.rs".to_string(), Change::Added),
        ]
    );
}

#[test]
fn source_order_and_excludes_are_part_of_the_selection() {
    let t = ctx();
    write(&t.path().join("b"), "b");
    assert_ne!(
        hash(t.path(), &sel(&["README.md", "b"])).digest,
        hash(t.path(), &sel(&["b", "README.md"])).digest
    );
    // A change in an excluded file does not change the digest.
    let s = Selection {
        exclude: vec!["**/*.md".into()],
        ..sel(&["."])
    };
    let before = hash(t.path(), &s);
    assert!(!before.paths.contains_key("README.md"));
    fs::write(t.path().join("README.md"), "changed").unwrap();
    assert_eq!(before.digest, hash(t.path(), &s).digest);
}

#[test]
fn symlinked_sources_outside_the_root_are_not_found() {
    let t = ctx();
    symlink("/etc/passwd", t.path().join("passwd")).unwrap();
    let err = ContentHasher::new(&NoMemo)
        .hash(t.path(), &sel(&["passwd"]))
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

#[test]
fn the_memo_prevents_rereading_unchanged_files() {
    let t = ctx();
    let memo = MemoryMemo::new();
    let s = sel(&["."]);
    let first = ContentHasher::new(&memo).hash(t.path(), &s).unwrap();
    assert_eq!(first.stats.files_read, 3);
    let second = ContentHasher::new(&memo).hash(t.path(), &s).unwrap();
    assert_eq!(second.digest, first.digest);
    assert_eq!(second.stats.files_read, 0);
    assert_eq!(second.stats.memo_hits, 3);
    // Same size, same mtime, different bytes: ctime still moves, so it is re-read.
    let main = t.path().join("app/main.rs");
    let mtime = fs::metadata(&main).unwrap().modified().unwrap();
    fs::write(&main, "fn main() {{").unwrap();
    fs::File::options()
        .write(true)
        .open(&main)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let third = ContentHasher::new(&memo).hash(t.path(), &s).unwrap();
    assert_eq!(third.stats.files_read, 1);
    assert_ne!(third.digest, first.digest);
}

#[test]
fn only_selected_paths_are_visited() {
    let t = tempfile::tempdir().unwrap();
    for d in 0..20 {
        let dir = t.path().join(format!("d{d}"));
        fs::create_dir(&dir).unwrap();
        for f in 0..1000 {
            fs::write(dir.join(format!("f{f}")), "x").unwrap();
        }
    }
    write(&t.path().join("src/one.txt"), "one");
    let r = hash(t.path(), &sel(&["src/one.txt"]));
    assert!(r.stats.entries_visited <= 3, "{:?}", r.stats);
    assert_eq!(r.stats.files_read, 1);
    assert_eq!(r.paths.len(), 1);
    // A wildcard lists only the directory it names.
    let r = hash(t.path(), &sel(&["d7/f99*"]));
    assert_eq!(r.stats.files_read, 11);
    assert!(r.stats.entries_visited <= 1000 + 11, "{:?}", r.stats);
    // A big directory hashes (in parallel) and is stable.
    let a = hash(t.path(), &sel(&["d3"]));
    let b = hash(t.path(), &sel(&["d3"]));
    assert_eq!(a.digest, b.digest);
    assert_eq!(a.stats.files_read, 1000);
}

#[test]
fn a_copied_tree_hashes_like_its_source() {
    // Copying keeps everything the digest covers, so `COPY --from` of a
    // rebuilt but identical stage gives the same key.
    let t = ctx();
    let out = tempfile::tempdir().unwrap();
    let action = solver::graph::FileAction::Copy {
        input: 0,
        src: vec!["app".into()],
        dest: "/app".into(),
        options: solver::graph::CopyOptions {
            dir_contents_only: true,
            create_dest_path: true,
            follow_symlinks: true,
            ..Default::default()
        },
    };
    let input = solver::fileop::Input {
        root: t.path(),
        ownership: solver::fileop::Ownership::Preserve,
        hidden: &[],
    };
    solver::fileop::apply(out.path(), &[input], &action).unwrap();
    fs::set_permissions(
        out.path().join("app"),
        fs::metadata(t.path().join("app")).unwrap().permissions(),
    )
    .unwrap();
    assert_eq!(
        hash(t.path(), &sel(&["app"])).digest,
        hash(out.path(), &sel(&["app"])).digest
    );
}

#[test]
fn hidden_paths_are_never_read_matched_or_found() {
    let t = ctx();
    write(&t.path().join("secret.env"), "TOKEN=1");
    write(&t.path().join("logs/a.log"), "a");
    write(&t.path().join("logs/keep.log"), "kept");
    symlink("secret.env", t.path().join("to-secret")).unwrap();
    let hidden = vec!["secret.env".into(), "logs".into(), "!logs/keep.log".into()];
    let with = |sources: &[&str]| Selection {
        hidden: hidden.clone(),
        ..sel(sources)
    };
    // Named, or through a symlink, an ignored file does not exist.
    for named in ["secret.env", "/secret.env", "to-secret", "logs/a.log"] {
        let err = ContentHasher::new(&NoMemo)
            .hash(t.path(), &with(&[named]))
            .unwrap_err();
        assert!(err.to_string().contains("not found"), "{named}: {err}");
    }
    // A walk skips it without reading it; a re-included file is read.
    let all = hash(t.path(), &with(&["."]));
    assert!(
        all.paths
            .keys()
            .all(|p| !p.contains("secret.env") && !p.ends_with("a.log"))
    );
    assert!(all.paths.keys().any(|p| p.ends_with("logs/keep.log")));
    // app/main.rs, app/lib.rs, README.md, logs/keep.log
    assert_eq!(all.stats.files_read, 4, "{:?}", all.paths.keys());
    // A wildcard does not match it; changing it changes nothing.
    let wild = hash(t.path(), &with(&["secret*", "logs/*"]));
    assert!(
        !wild
            .paths
            .keys()
            .any(|p| p.contains("secret") || p.ends_with("a.log"))
    );
    write(&t.path().join("secret.env"), "TOKEN=2");
    write(&t.path().join("logs/a.log"), "b");
    assert_eq!(hash(t.path(), &with(&["."])).digest, all.digest);
    assert_eq!(
        hash(t.path(), &with(&["secret*", "logs/*"])).digest,
        wild.digest
    );
    // Hidden patterns are part of the digest: the same files seen unfiltered differ.
    assert_ne!(hash(t.path(), &sel(&["."])).digest, all.digest);
}
