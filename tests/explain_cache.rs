//! `--explain-cache` names the input that changed; an mtime-only change hits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

fn build(root: &Path, ctx: &Path, extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .arg("--root")
        .arg(root)
        .args(["build", "--progress=plain", "-t", "explain:1"])
        .args(extra)
        .arg(ctx)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn explain_cache_names_the_changed_copy_source() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED: needs root for overlay mounts");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("a.txt"), "a").unwrap();
    std::fs::write(ctx.join("b.txt"), "b").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY a.txt /a\nCOPY b.txt /b\n",
    )
    .unwrap();
    let root = tmp.path().join("root");
    build(&root, &ctx, &[]);

    // Only the mtime changes: every step is a hit.
    let later = std::time::SystemTime::now() + std::time::Duration::from_secs(3600);
    let f = std::fs::File::options()
        .write(true)
        .open(ctx.join("b.txt"))
        .unwrap();
    f.set_modified(later).unwrap();
    drop(f);
    let err = build(&root, &ctx, &["--explain-cache"]);
    assert_eq!(err.matches("CACHED").count(), 2, "{err}");
    assert!(!err.contains("cache miss"), "{err}");

    // The bytes change: the second COPY misses and says why; the first hits.
    std::fs::write(ctx.join("b.txt"), "B").unwrap();
    let err = build(&root, &ctx, &["--explain-cache"]);
    assert_eq!(err.matches("CACHED").count(), 1, "{err}");
    assert!(
        err.contains("cache miss: changed input: the copied files `/b.txt`"),
        "{err}"
    );
}
