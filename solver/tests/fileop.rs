//! COPY / ADD / WORKDIR / heredoc semantics of `solver::fileop` on real trees,
//! including the escape attempts a hostile context, image or archive can make.
// Helpers outside #[test] fns panic on setup failure too, like the tests.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use solver::fileop::{ErrorKind, FileOpError, Input, Ownership, apply};
use solver::graph::{Chown, CopyOptions, FileAction};

/// A context directory and a destination root, both temporary.
struct TestContext {
    _tmp: tempfile::TempDir,
    ctx: PathBuf,
    root: PathBuf,
    outside: PathBuf,
}

impl TestContext {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let ctx = tmp.path().join("ctx");
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        for d in [&ctx, &root, &outside] {
            fs::create_dir(d).unwrap();
        }
        Self {
            _tmp: tmp,
            ctx,
            root,
            outside,
        }
    }

    fn file(&self, rel: &str, data: &str) -> PathBuf {
        write(&self.ctx.join(rel), data)
    }

    fn copy(&self, src: &[&str], dest: &str, options: CopyOptions) -> Result<(), FileOpError> {
        self.copy_from(Ownership::Root, src, dest, options)
    }

    fn copy_from(
        &self,
        ownership: Ownership,
        src: &[&str],
        dest: &str,
        options: CopyOptions,
    ) -> Result<(), FileOpError> {
        self.copy_hiding(ownership, &[], src, dest, options)
    }

    /// A copy from the context seen through `.dockerignore` patterns.
    fn copy_hiding(
        &self,
        ownership: Ownership,
        hidden: &[String],
        src: &[&str],
        dest: &str,
        options: CopyOptions,
    ) -> Result<(), FileOpError> {
        let action = FileAction::Copy {
            input: 0,
            src: src.iter().map(|s| s.to_string()).collect(),
            dest: dest.to_owned(),
            options,
        };
        let input = Input {
            root: &self.ctx,
            ownership,
            hidden,
        };
        apply(&self.root, &[input], &action)
    }

    fn action(&self, action: FileAction) -> Result<(), FileOpError> {
        apply(&self.root, &[], &action)
    }

    fn out(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.out(rel)).unwrap()
    }

    /// Every path under the root, sorted, for whole-tree assertions.
    fn tree(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.root, &self.root, &mut out);
        out.sort();
        out
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        out.push(p.strip_prefix(base).unwrap().display().to_string());
        if e.file_type().unwrap().is_dir() {
            walk(base, &p, out);
        }
    }
}

fn write(p: &Path, data: &str) -> PathBuf {
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
    p.to_path_buf()
}

/// Dockerfile COPY defaults, as the frontend lowers them.
fn copy_opts() -> CopyOptions {
    CopyOptions {
        dir_contents_only: true,
        allow_wildcard: true,
        allow_empty_wildcard: false,
        create_dest_path: true,
        follow_symlinks: true,
        ..Default::default()
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn owner(p: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.uid(), m.gid())
}

fn chown(user: &str, group: Option<&str>) -> Option<Chown> {
    Some(Chown {
        user: user.into(),
        group: group.map(Into::into),
    })
}

#[test]
fn file_to_new_path_keeps_mode_and_mtime_and_becomes_root_owned() {
    let t = TestContext::new();
    let f = t.file("a.txt", "hello");
    std::os::unix::fs::chown(&f, Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o4751)).unwrap();
    let mtime = fs::metadata(&f).unwrap().mtime();
    t.copy(&["a.txt"], "/dst/b.txt", copy_opts()).unwrap();
    assert_eq!(t.read("/dst/b.txt"), "hello");
    assert_eq!(mode(&t.out("dst/b.txt")), 0o4751);
    assert_eq!(owner(&t.out("dst/b.txt")), (0, 0));
    assert_eq!(fs::metadata(t.out("dst/b.txt")).unwrap().mtime(), mtime);
    assert_eq!(mode(&t.out("dst")), 0o755);
    assert_eq!(t.tree(), ["dst", "dst/b.txt"]);
}

#[test]
fn trailing_slash_copies_into_directory() {
    let t = TestContext::new();
    t.file("a.txt", "a");
    t.file("b.txt", "b");
    t.copy(&["a.txt", "b.txt"], "/app/", copy_opts()).unwrap();
    assert_eq!(t.tree(), ["app", "app/a.txt", "app/b.txt"]);
}

#[test]
fn file_onto_existing_directory_goes_inside_and_replaces_files() {
    let t = TestContext::new();
    t.file("a.txt", "new");
    fs::create_dir(t.out("app")).unwrap();
    write(&t.out("app/a.txt"), "old");
    t.copy(&["a.txt"], "/app", copy_opts()).unwrap();
    assert_eq!(t.read("app/a.txt"), "new");
}

#[test]
fn directory_contents_are_copied_and_merged() {
    let t = TestContext::new();
    t.file("src/x", "x");
    t.file("src/sub/y", "y");
    fs::set_permissions(t.ctx.join("src/sub"), fs::Permissions::from_mode(0o750)).unwrap();
    t.copy(&["src"], "/app", copy_opts()).unwrap();
    assert_eq!(t.tree(), ["app", "app/sub", "app/sub/y", "app/x"]);
    assert_eq!(mode(&t.out("app/sub")), 0o750);
    // Into an existing directory: merged, the directory keeps its own mode.
    fs::create_dir(t.out("srv")).unwrap();
    fs::set_permissions(t.out("srv"), fs::Permissions::from_mode(0o700)).unwrap();
    write(&t.out("srv/keep"), "k");
    t.copy(&["src"], "/srv", copy_opts()).unwrap();
    assert_eq!(t.read("srv/keep"), "k");
    assert_eq!(t.read("srv/sub/y"), "y");
    assert_eq!(mode(&t.out("srv")), 0o700);
}

#[test]
fn whole_context_copies_with_dot() {
    let t = TestContext::new();
    t.file("a", "a");
    t.file("d/b", "b");
    t.copy(&["."], "/work/", copy_opts()).unwrap();
    assert_eq!(t.tree(), ["work", "work/a", "work/d", "work/d/b"]);
}

#[test]
fn wildcards_in_any_component() {
    let t = TestContext::new();
    t.file("a.txt", "");
    t.file("b.txt", "");
    t.file("c.md", "");
    t.file("src1/m.rs", "");
    t.file("src2/n.rs", "");
    t.file("src2/n.txt", "");
    t.copy(&["*.txt"], "/w/", copy_opts()).unwrap();
    t.copy(&["src?/*.rs"], "/r/", copy_opts()).unwrap();
    t.copy(&["[ac].*"], "/k/", copy_opts()).unwrap();
    assert_eq!(
        t.tree(),
        [
            "k", "k/a.txt", "k/c.md", "r", "r/m.rs", "r/n.rs", "w", "w/a.txt", "w/b.txt"
        ]
    );
}

#[test]
fn empty_wildcard_is_an_error_unless_allowed() {
    let t = TestContext::new();
    let err = t.copy(&["*.nothing"], "/w/", copy_opts()).unwrap_err();
    assert!(matches!(err, FileOpError::NoMatch { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let opts = CopyOptions {
        allow_empty_wildcard: true,
        ..copy_opts()
    };
    t.copy(&["*.nothing"], "/w/", opts).unwrap();
    assert!(t.tree().is_empty());
}

#[test]
fn missing_source_names_the_path() {
    let t = TestContext::new();
    let err = t.copy(&["nope.txt"], "/w/", copy_opts()).unwrap_err();
    assert!(err.to_string().contains("`/nope.txt` not found"), "{err}");
}

#[test]
fn chown_names_come_from_the_destination_image() {
    let t = TestContext::new();
    write(
        &t.out("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n",
    );
    write(&t.out("etc/group"), "root:x:0:\nstaff:x:50:\n");
    t.file("d/f", "f");
    t.file("g", "g");
    let o = |c| CopyOptions {
        chown: c,
        ..copy_opts()
    };
    t.copy(&["d"], "/n/", o(chown("app", None))).unwrap();
    assert_eq!(owner(&t.out("n/f")), (1001, 1002));
    assert_eq!(
        owner(&t.out("n")),
        (1001, 1002),
        "created dest dir is chowned"
    );
    t.copy(&["g"], "/g1", o(chown("app", Some("staff"))))
        .unwrap();
    assert_eq!(owner(&t.out("g1")), (1001, 50));
    t.copy(&["g"], "/g2", o(chown("1234", None))).unwrap();
    assert_eq!(owner(&t.out("g2")), (1234, 1234));
    t.copy(&["g"], "/g3", o(chown("77", Some("88")))).unwrap();
    assert_eq!(owner(&t.out("g3")), (77, 88));
    let err = t.copy(&["g"], "/g4", o(chown("ghost", None))).unwrap_err();
    assert!(matches!(err, FileOpError::UnknownUser { .. }), "{err}");
    let err = t
        .copy(&["g"], "/g4", o(chown("app", Some("nogroup"))))
        .unwrap_err();
    assert!(matches!(err, FileOpError::UnknownGroup { .. }), "{err}");
}

#[test]
fn chown_never_reads_the_hosts_passwd_through_a_symlink() {
    let t = TestContext::new();
    fs::create_dir(t.out("etc")).unwrap();
    // A passwd file next to the root knows `root`; the image's passwd
    // points there through `..`, which must clamp at the image's `/`.
    write(&t.outside.join("passwd"), "root:x:0:0::/root:/bin/sh\n");
    symlink("../../outside/passwd", t.out("etc/passwd")).unwrap();
    t.file("g", "g");
    let opts = CopyOptions {
        chown: chown("root", None),
        ..copy_opts()
    };
    let err = t.copy(&["g"], "/g", opts).unwrap_err();
    assert!(matches!(err, FileOpError::UnknownUser { .. }), "{err}");
}

#[test]
fn stage_sources_keep_their_owners() {
    let t = TestContext::new();
    let f = t.file("bin/tool", "t");
    std::os::unix::fs::chown(&f, Some(33), Some(44)).unwrap();
    t.copy_from(Ownership::Preserve, &["bin/tool"], "/usr/bin/", copy_opts())
        .unwrap();
    assert_eq!(owner(&t.out("usr/bin/tool")), (33, 44));
}

#[test]
fn chmod_octal_and_symbolic_apply_to_files_and_dirs() {
    let t = TestContext::new();
    t.file("d/f", "f");
    t.file("d/x", "x");
    fs::set_permissions(t.ctx.join("d/f"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(t.ctx.join("d/x"), fs::Permissions::from_mode(0o700)).unwrap();
    t.file("d/s/inner", "i");
    let o = |m: &str| CopyOptions {
        chmod: Some(m.into()),
        ..copy_opts()
    };
    t.copy(&["d"], "/oct/", o("0640")).unwrap();
    assert_eq!(mode(&t.out("oct/f")), 0o640);
    assert_eq!(mode(&t.out("oct/s")), 0o640);
    t.copy(&["d"], "/sym/", o("go+rX,u+w")).unwrap();
    assert_eq!(mode(&t.out("sym/f")), 0o644);
    assert_eq!(mode(&t.out("sym/x")), 0o755);
    assert_eq!(mode(&t.out("sym/s")), 0o755);
    let err = t.copy(&["d"], "/bad/", o("q+z")).unwrap_err();
    assert!(matches!(err, FileOpError::InvalidChmod { .. }), "{err}");
}

#[test]
fn parents_keep_the_source_directories() {
    let t = TestContext::new();
    t.file("a/b/c.txt", "c");
    t.file("a/b2/d.txt", "d");
    fs::set_permissions(t.ctx.join("a/b"), fs::Permissions::from_mode(0o711)).unwrap();
    let opts = CopyOptions {
        parents: true,
        ..copy_opts()
    };
    t.copy(&["a/b/c.txt", "a/*/d.txt"], "/dst/", opts.clone())
        .unwrap();
    assert_eq!(
        t.tree(),
        [
            "dst",
            "dst/a",
            "dst/a/b",
            "dst/a/b/c.txt",
            "dst/a/b2",
            "dst/a/b2/d.txt"
        ]
    );
    assert_eq!(mode(&t.out("dst/a/b")), 0o711);
    // A `/./` pivot keeps only what follows it.
    t.copy(&["a/./b/c.txt"], "/p/", opts).unwrap();
    assert_eq!(t.read("p/b/c.txt"), "c");
    assert!(!t.out("p/a").exists());
}

#[test]
fn exclude_patterns_skip_files_and_directories() {
    let t = TestContext::new();
    t.file("README.md", "");
    t.file("docs/a.md", "");
    t.file("src/main.rs", "");
    t.file("target/big", "");
    t.file("keep.md", "");
    let opts = CopyOptions {
        exclude: vec!["**/*.md".into(), "target".into(), "!keep.md".into()],
        ..copy_opts()
    };
    t.copy(&["."], "/app/", opts).unwrap();
    assert_eq!(
        t.tree(),
        [
            "app",
            "app/docs",
            "app/keep.md",
            "app/src",
            "app/src/main.rs"
        ]
    );
    // Wildcard matches are filtered too.
    let opts = CopyOptions {
        exclude: vec!["*.md".into()],
        ..copy_opts()
    };
    t.copy(&["*"], "/w/", opts).unwrap();
    assert!(!t.out("w/README.md").exists());
    assert!(t.out("w/main.rs").exists());
}

#[test]
fn symlinks_are_copied_as_symlinks_and_followed_only_as_sources() {
    let t = TestContext::new();
    t.file("real.txt", "real");
    symlink("real.txt", t.ctx.join("link")).unwrap();
    t.file("d/f", "f");
    symlink("../real.txt", t.ctx.join("d/rel")).unwrap();
    symlink("/etc/passwd", t.ctx.join("d/abs")).unwrap();
    t.copy(&["d"], "/d/", copy_opts()).unwrap();
    assert_eq!(
        fs::read_link(t.out("d/rel")).unwrap(),
        Path::new("../real.txt")
    );
    assert_eq!(
        fs::read_link(t.out("d/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    // A symlink given as a source is followed, keeping the link's name.
    t.copy(&["link"], "/f/", copy_opts()).unwrap();
    assert_eq!(t.read("f/link"), "real");
    assert!(!fs::symlink_metadata(t.out("f/link")).unwrap().is_symlink());
    let opts = CopyOptions {
        follow_symlinks: false,
        ..copy_opts()
    };
    t.copy(&["link"], "/nf/", opts).unwrap();
    assert_eq!(
        fs::read_link(t.out("nf/link")).unwrap(),
        Path::new("real.txt")
    );
}

#[test]
fn hardlinks_stay_hardlinks() {
    let t = TestContext::new();
    let a = t.file("d/a", "same");
    fs::hard_link(&a, t.ctx.join("d/b")).unwrap();
    t.copy(&["d"], "/h/", copy_opts()).unwrap();
    let ia = fs::metadata(t.out("h/a")).unwrap().ino();
    let ib = fs::metadata(t.out("h/b")).unwrap().ino();
    assert_eq!(ia, ib);
    assert_eq!(fs::metadata(t.out("h/a")).unwrap().nlink(), 2);
}

#[test]
fn xattrs_and_fixed_timestamps() {
    let t = TestContext::new();
    let f = t.file("x", "x");
    let set = rustix::fs::setxattr(&f, "user.origin", b"ctx", rustix::fs::XattrFlags::empty());
    let opts = CopyOptions {
        timestamp: Some(1_700_000_000),
        ..copy_opts()
    };
    t.copy(&["x"], "/x/", opts).unwrap();
    assert_eq!(fs::metadata(t.out("x/x")).unwrap().mtime(), 1_700_000_000);
    assert_eq!(fs::metadata(t.out("x")).unwrap().mtime(), 1_700_000_000);
    if set.is_err() {
        eprintln!("skipping xattr assertion: the temp filesystem has no user xattrs");
        return;
    }
    let mut buf = [0u8; 16];
    let n = rustix::fs::getxattr(t.out("x/x"), "user.origin", &mut buf[..]).unwrap();
    assert_eq!(&buf[..n], b"ctx");
}

#[test]
fn devices_and_fifos_from_a_stage() {
    let t = TestContext::new();
    fs::create_dir(t.ctx.join("dev")).unwrap();
    let dev = rustix::fs::makedev(1, 3);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        t.ctx.join("dev/null"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        dev,
    )
    .unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        t.ctx.join("dev/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    fs::set_permissions(t.ctx.join("dev/null"), fs::Permissions::from_mode(0o666)).unwrap();
    t.copy_from(Ownership::Preserve, &["dev"], "/dev", copy_opts())
        .unwrap();
    let m = fs::symlink_metadata(t.out("dev/null")).unwrap();
    assert_eq!(m.rdev(), dev);
    assert_eq!(mode(&t.out("dev/null")), 0o666);
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(
        &fs::symlink_metadata(t.out("dev/fifo")).unwrap().file_type()
    ));
}

#[test]
fn file_over_directory_is_an_error() {
    let t = TestContext::new();
    t.file("d/sub", "file now");
    fs::create_dir_all(t.out("o/sub")).unwrap();
    let err = t.copy(&["d"], "/o", copy_opts()).unwrap_err();
    assert!(matches!(err, FileOpError::IsADirectory { .. }), "{err}");
}

#[test]
fn create_dest_path_off_requires_the_parent() {
    let t = TestContext::new();
    t.file("a", "a");
    let opts = CopyOptions {
        create_dest_path: false,
        ..copy_opts()
    };
    let err = t.copy(&["a"], "/no/such/a", opts).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

// ---- escapes ----

#[test]
fn parent_dir_sources_stay_in_the_context() {
    let t = TestContext::new();
    write(&t.outside.join("secret"), "host secret");
    let err = t
        .copy(&["../outside/secret"], "/s", copy_opts())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // `..` clamps at the context root: `../a` is the context's `/a`.
    t.file("a", "ctx a");
    t.copy(&["../../a"], "/a", copy_opts()).unwrap();
    assert_eq!(t.read("a"), "ctx a");
    let err = t.copy(&["../*/secret"], "/w/", copy_opts()).unwrap_err();
    assert!(matches!(err, FileOpError::NoMatch { .. }), "{err}");
    assert!(!t.tree().iter().any(|p| p.contains("secret")));
}

#[test]
fn context_symlinks_pointing_outside_copy_no_host_file() {
    let t = TestContext::new();
    write(&t.outside.join("secret"), "host secret");
    symlink("/etc/passwd", t.ctx.join("passwd")).unwrap();
    symlink("../outside/secret", t.ctx.join("rel")).unwrap();
    symlink("../../..", t.ctx.join("up")).unwrap();
    for src in ["passwd", "rel", "up/etc/passwd", "up/outside/secret"] {
        let err = t.copy(&[src], "/x/", copy_opts()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{src}: {err}");
    }
    // `up` resolves to the context root itself: copying it copies the context.
    t.copy(&["up"], "/ctx/", copy_opts()).unwrap();
    let tree = t.tree();
    assert!(tree.contains(&"ctx/passwd".to_string()), "{tree:?}");
    assert_eq!(
        fs::read_link(t.out("ctx/passwd")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert!(!tree.iter().any(|p| p.ends_with("secret")), "{tree:?}");
}

#[test]
fn destination_symlinks_resolve_inside_the_root() {
    let t = TestContext::new();
    t.file("tool", "t");
    fs::create_dir_all(t.out("usr")).unwrap();
    fs::create_dir_all(t.out("opt")).unwrap();
    symlink("/opt", t.out("usr/local")).unwrap();
    symlink("../../../../outside", t.out("escape")).unwrap();
    t.copy(&["tool"], "/usr/local/bin/", copy_opts()).unwrap();
    assert_eq!(t.read("opt/bin/tool"), "t");
    t.copy(&["tool"], "/escape/", copy_opts()).unwrap();
    assert_eq!(t.read("outside/tool"), "t");
    assert!(!t.outside.join("tool").exists());
    assert_eq!(fs::read_dir(&t.outside).unwrap().count(), 0);
}

// ---- ADD archives ----

fn tar_bytes(entries: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        h.set_uid(5);
        h.set_gid(6);
        h.set_mtime(1_600_000_000);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn add_opts() -> CopyOptions {
    CopyOptions {
        unpack_archive: true,
        ..copy_opts()
    }
}

#[test]
fn add_unpacks_every_compression() {
    let t = TestContext::new();
    let raw = tar_bytes(&[("top/a.txt", "A"), ("b.txt", "B")]);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&raw).unwrap();
        e.finish().unwrap()
    };
    let bz = {
        let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        e.write_all(&raw).unwrap();
        e.finish().unwrap()
    };
    let xz = {
        let mut e = liblzma::write::XzEncoder::new(Vec::new(), 1);
        e.write_all(&raw).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::encode_all(&raw[..], 1).unwrap();
    for (name, data) in [
        ("p.tar", &raw),
        ("g.tgz", &gz),
        ("b.tbz", &bz),
        ("x.txz", &xz),
        ("z.tzst", &zst),
    ] {
        fs::write(t.ctx.join(name), data).unwrap();
        let dest = format!("/out/{name}/");
        t.copy(&[name], &dest, add_opts()).unwrap();
        assert_eq!(t.read(&format!("{dest}top/a.txt")), "A", "{name}");
        assert_eq!(t.read(&format!("{dest}b.txt")), "B", "{name}");
        let p = t.out(&format!("{dest}b.txt"));
        assert_eq!(owner(&p), (5, 6), "{name}: archive owners are kept");
        assert_eq!(mode(&p), 0o640);
        assert_eq!(fs::metadata(&p).unwrap().mtime(), 1_600_000_000);
    }
    // With --chown the archive's owners stay too, as docker's BuildKit keeps them
    // (tests/docker_parity.rs, case add_more); only the directory made is chowned.
    let opts = CopyOptions {
        chown: chown("7", Some("8")),
        ..add_opts()
    };
    t.copy(&["g.tgz"], "/chowned", opts).unwrap();
    assert_eq!(owner(&t.out("chowned/b.txt")), (5, 6));
    assert_eq!(owner(&t.out("chowned")), (7, 8));
}

#[test]
fn add_copies_non_archives_and_copy_never_unpacks() {
    let t = TestContext::new();
    fs::write(t.ctx.join("fake.tar.gz"), b"\x1f\x8bnot really gzip").unwrap();
    t.copy(&["fake.tar.gz"], "/a/", add_opts()).unwrap();
    assert_eq!(
        fs::read(t.out("a/fake.tar.gz")).unwrap(),
        b"\x1f\x8bnot really gzip"
    );
    fs::write(t.ctx.join("real.tar"), tar_bytes(&[("f", "f")])).unwrap();
    t.copy(&["real.tar"], "/c/", copy_opts()).unwrap();
    assert!(t.out("c/real.tar").is_file());
}

/// A tar whose raw entry names and link targets are written unchecked.
fn hostile_tar(entries: &[(&str, tar::EntryType, &str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, link, data) in entries {
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn hostile_archives_stay_inside_the_destination() {
    use tar::EntryType as E;
    let t = TestContext::new();
    // Absolute names and symlinks to `/` land inside the extraction directory.
    let inside = hostile_tar(&[
        ("/abs.txt", E::Regular, "", "abs"),
        ("root", E::Symlink, "/", ""),
        ("root/via-link.txt", E::Regular, "", "via"),
        ("up", E::Symlink, "../../../../outside", ""),
        ("up/escaped.txt", E::Regular, "", "esc"),
    ]);
    fs::write(t.ctx.join("inside.tar"), inside).unwrap();
    t.copy(&["inside.tar"], "/x", add_opts()).unwrap();
    assert_eq!(t.read("x/abs.txt"), "abs");
    assert_eq!(t.read("x/via-link.txt"), "via");
    assert_eq!(t.read("x/outside/escaped.txt"), "esc");
    assert_eq!(fs::read_dir(&t.outside).unwrap().count(), 0);

    for (name, tarball) in [
        (
            "dotdot.tar",
            hostile_tar(&[("../../evil.txt", E::Regular, "", "evil")]),
        ),
        (
            "nested.tar",
            hostile_tar(&[("a/../../evil.txt", E::Regular, "", "evil")]),
        ),
        (
            "hardlink.tar",
            hostile_tar(&[("h", E::Link, "../../../outside/x", "")]),
        ),
    ] {
        fs::write(t.ctx.join(name), tarball).unwrap();
        let err = t.copy(&[name], "/y", add_opts()).unwrap_err();
        assert!(
            matches!(err, FileOpError::ArchiveEscape { .. }),
            "{name}: {err}"
        );
    }
    assert!(!t.root.parent().unwrap().join("evil.txt").exists());
    assert!(!t.out("evil.txt").exists());
    assert_eq!(fs::read_dir(&t.outside).unwrap().count(), 0);
}

// ---- mkdir, mkfile, rm ----

#[test]
fn mkdir_with_parents_owner_and_mode() {
    let t = TestContext::new();
    fs::create_dir(t.out("etc")).unwrap();
    write(&t.out("etc/passwd"), "app:x:1001:1002::/home/app:/bin/sh\n");
    t.action(FileAction::Mkdir {
        path: "/srv/app/data".into(),
        mode: 0o750,
        parents: true,
        chown: chown("app", None),
    })
    .unwrap();
    assert_eq!(mode(&t.out("srv/app/data")), 0o750);
    assert_eq!(owner(&t.out("srv/app/data")), (1001, 1002));
    assert_eq!(owner(&t.out("srv")), (1001, 1002));
    // An existing directory is left alone.
    t.action(FileAction::Mkdir {
        path: "/srv".into(),
        mode: 0o700,
        parents: false,
        chown: None,
    })
    .unwrap();
    assert_eq!(mode(&t.out("srv")), 0o750);
    let err = t
        .action(FileAction::Mkdir {
            path: "/no/parent".into(),
            mode: 0o755,
            parents: false,
            chown: None,
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[test]
fn mkfile_writes_heredoc_contents() {
    let t = TestContext::new();
    fs::create_dir(t.out("app")).unwrap();
    t.action(FileAction::Mkfile {
        path: "/app/run.sh".into(),
        mode: 0o755,
        data: b"#!/bin/sh\necho hi\n".to_vec(),
        chown: chown("10", Some("20")),
    })
    .unwrap();
    assert_eq!(t.read("app/run.sh"), "#!/bin/sh\necho hi\n");
    assert_eq!(mode(&t.out("app/run.sh")), 0o755);
    assert_eq!(owner(&t.out("app/run.sh")), (10, 20));
}

#[test]
fn rm_removes_trees_without_following_links() {
    let t = TestContext::new();
    write(&t.outside.join("keep"), "k");
    write(&t.out("d/a/b"), "b");
    symlink(&t.outside, t.out("d/link")).unwrap();
    t.action(FileAction::Rm {
        path: "/d".into(),
        allow_not_found: false,
    })
    .unwrap();
    assert!(t.tree().is_empty());
    assert!(t.outside.join("keep").exists());
    let err = t
        .action(FileAction::Rm {
            path: "/d".into(),
            allow_not_found: false,
        })
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    t.action(FileAction::Rm {
        path: "/d".into(),
        allow_not_found: true,
    })
    .unwrap();
}

#[test]
fn hidden_context_paths_are_not_there() {
    let t = TestContext::new();
    t.file("secret.env", "TOKEN=1");
    t.file("keep.txt", "keep");
    t.file("logs/a.log", "a");
    t.file("logs/keep.log", "kept");
    t.file("sub/secret.env", "not anchored");
    symlink("secret.env", t.ctx.join("to-secret")).unwrap();
    let hidden: Vec<String> = ["secret.env", "logs", "!logs/keep.log"]
        .map(String::from)
        .to_vec();
    let copy =
        |src: &[&str], dest: &str| t.copy_hiding(Ownership::Root, &hidden, src, dest, copy_opts());
    for named in [
        "secret.env",
        "/secret.env",
        "../secret.env",
        "to-secret",
        "logs/a.log",
    ] {
        let err = copy(&[named], "/named").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{named}: {err}");
    }
    let err = copy(&["secret*"], "/w/").unwrap_err();
    assert!(matches!(err, FileOpError::NoMatch { .. }), "{err}");
    let lenient = CopyOptions {
        allow_empty_wildcard: true,
        ..copy_opts()
    };
    t.copy_hiding(
        Ownership::Root,
        &hidden,
        &["secret*", "keep*"],
        "/w/",
        lenient,
    )
    .unwrap();
    copy(&["."], "/all/").unwrap();
    copy(&["logs"], "/logs/").unwrap();
    let tree = t.tree();
    assert!(!tree.iter().any(|f| f.ends_with("a.log")), "{tree:?}");
    for gone in ["named", "w/secret.env", "all/secret.env"] {
        assert!(!tree.iter().any(|f| f == gone), "{gone}: {tree:?}");
    }
    assert_eq!(t.read("/w/keep.txt"), "keep");
    assert_eq!(t.read("/all/logs/keep.log"), "kept");
    assert_eq!(t.read("/logs/keep.log"), "kept");
    assert_eq!(t.read("/all/sub/secret.env"), "not anchored");
    let link = fs::symlink_metadata(t.out("/all/to-secret")).unwrap();
    assert!(link.file_type().is_symlink());
}
