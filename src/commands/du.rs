//! `strata du [-v]`: the true disk usage of the strata root, by kind.
//!
//! Sizes are allocated blocks (`st_blocks * 512`), not file lengths, and a file
//! hard-linked into several places (a blob and a snapshot, two snapshots) counts
//! once: every inode is counted the first time the walk meets it, in the order of
//! the table. Nothing is locked: entries that vanish while the walk runs (a build
//! or prune in another process) are skipped, so the numbers are a snapshot in time.

use std::collections::{HashMap, HashSet};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::pull::human_size;
use crate::cli::GlobalArgs;
use crate::images;

/// `strata du`. Its `-v` is the global one (which also turns on info logs on stderr):
/// with it, every snapshot and cache mount is listed with its size.
#[derive(Debug, clap::Args)]
pub struct DuArgs {}

/// Inodes already counted, by (device, inode).
pub(crate) type Seen = HashSet<(u64, u64)>;

/// The allocated size of `path` and everything under it, counting only inodes not in
/// `seen` (which it extends). A path that vanishes meanwhile counts as what was met.
pub(crate) fn usage(path: &Path, seen: &mut Seen) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if seen.insert((meta.dev(), meta.ino())) {
            total += meta.blocks() * 512;
        }
        if meta.is_dir()
            && let Ok(entries) = std::fs::read_dir(&p)
        {
            stack.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
        }
    }
    total
}

/// What a directory under `snapshots/` holds, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SnapshotKind {
    /// A step's result (`<cache key hex>`).
    Step,
    /// An extracted base-image layer (`layer-<diffID hex>`).
    BaseLayer,
    /// A downloaded `ADD <url>` file or git checkout (`http-...`, `git-...`).
    Download,
}

impl SnapshotKind {
    /// The kind of snapshot directory `name`.
    pub(crate) fn of(name: &str) -> Self {
        if name.starts_with("layer-") {
            SnapshotKind::BaseLayer
        } else if name.starts_with("http-") || name.starts_with("git-") {
            SnapshotKind::Download
        } else {
            SnapshotKind::Step
        }
    }
}

/// The names of the entries of a directory, sorted; none if it does not exist.
pub(crate) fn entries(dir: &Path) -> anyhow::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Ok(list) => {
            let mut names: Vec<String> = list
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            Ok(names)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot list `{}`", dir.display())),
    }
}

/// One line of the table: how many entries, how many bytes.
#[derive(Debug, Default, Clone, Copy)]
struct Line {
    count: u64,
    bytes: u64,
}

impl Line {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

/// `strata du`.
pub fn run(global: &GlobalArgs, _args: DuArgs) -> anyhow::Result<()> {
    let root = images::open_root(global)?;
    let path = root.path().to_path_buf();
    let store = root.store();
    let records = cache::records::Records::new(path.join("index"));
    let pinned = records
        .pinned_blobs()
        .context("cannot read the build cache's layer records")?;
    let untagged: HashSet<String> = store
        .unreferenced(&[])
        .context("cannot read the image index")?
        .iter()
        .map(|d| d.to_string())
        .collect();
    let garbage: HashSet<String> = store
        .unreferenced(&pinned)
        .context("cannot read the image index")?
        .iter()
        .map(|d| d.to_string())
        .collect();
    let mut seen = Seen::new();
    let (mut tagged, mut cached, mut unreferenced) =
        (Line::default(), Line::default(), Line::default());
    let blobs_dir = path.join("store/blobs/sha256");
    for name in entries(&blobs_dir)? {
        let digest = format!("sha256:{name}");
        let bytes = usage(&blobs_dir.join(&name), &mut seen);
        if garbage.contains(&digest) {
            unreferenced.add(bytes);
        } else if untagged.contains(&digest) {
            cached.add(bytes);
        } else {
            tagged.add(bytes);
        }
    }
    // The rest of the store (index.json, directories) belongs with the images.
    tagged.bytes += usage(&path.join("store"), &mut seen);

    let last_used: HashMap<String, i64> = records
        .steps()
        .context("cannot read the build cache's step records")?
        .into_iter()
        .map(|(_, r)| (r.snapshot, r.last_used))
        .collect();
    let (mut steps, mut layers, mut downloads) =
        (Line::default(), Line::default(), Line::default());
    let mut detail: Vec<(String, u64, String)> = Vec::new();
    let snapshots = path.join("snapshots");
    for name in entries(&snapshots)? {
        let bytes = usage(&snapshots.join(&name), &mut seen);
        let kind = SnapshotKind::of(&name);
        match kind {
            SnapshotKind::Step => steps.add(bytes),
            SnapshotKind::BaseLayer => layers.add(bytes),
            SnapshotKind::Download => downloads.add(bytes),
        }
        let note = match (kind, last_used.get(&name)) {
            (SnapshotKind::Step, Some(t)) => format!("last used {}", ago(*t)),
            (SnapshotKind::Step, None) => "no record (removed by the next prune)".to_owned(),
            (SnapshotKind::BaseLayer, _) => "base layer".to_owned(),
            (SnapshotKind::Download, _) => "download".to_owned(),
        };
        detail.push((format!("snapshots/{name}"), bytes, note));
    }
    snapshots_dir_overhead(&snapshots, &mut steps, &mut seen);

    let mut mounts = Line::default();
    let mounts_dir = path.join("cache-mounts");
    for name in entries(&mounts_dir)? {
        let bytes = usage(&mounts_dir.join(&name), &mut seen);
        if name.ends_with(".lock") {
            mounts.bytes += bytes;
            continue;
        }
        mounts.add(bytes);
        detail.push((
            format!("cache-mounts/{name}"),
            bytes,
            "cache mount".to_owned(),
        ));
    }
    mounts.bytes += usage(&mounts_dir, &mut seen);
    let index = usage(&path.join("index"), &mut seen);
    let tmp = usage(&path.join("tmp"), &mut seen);
    let other = usage(&path, &mut seen);

    let rows: [(&str, Option<u64>, u64); 10] = [
        ("Image blobs (tagged)", Some(tagged.count), tagged.bytes),
        ("Build cache blobs", Some(cached.count), cached.bytes),
        (
            "Unreferenced blobs",
            Some(unreferenced.count),
            unreferenced.bytes,
        ),
        ("Step snapshots", Some(steps.count), steps.bytes),
        ("Base layer snapshots", Some(layers.count), layers.bytes),
        ("Download snapshots", Some(downloads.count), downloads.bytes),
        ("Cache mounts", Some(mounts.count), mounts.bytes),
        ("Cache index", None, index),
        ("Temporary files", None, tmp),
        ("Other", None, other),
    ];
    let total: u64 = rows.iter().map(|r| r.2).sum();
    println!("{:<24} {:>7} {:>10}", "TYPE", "COUNT", "SIZE");
    for (label, count, bytes) in rows {
        let count = count.map_or_else(String::new, |c| c.to_string());
        println!("{label:<24} {count:>7} {:>10}", human_size(bytes));
    }
    println!("{:<24} {:>7} {:>10}", "Total", "", human_size(total));
    if global.verbose > 0 {
        println!();
        println!("{:<80} {:>10}  NOTE", "PATH", "SIZE");
        for (name, bytes, note) in detail {
            println!("{name:<80} {:>10}  {note}", human_size(bytes));
        }
    }
    Ok(())
}

/// `snapshots/` itself counts with the step snapshots.
fn snapshots_dir_overhead(dir: &PathBuf, line: &mut Line, seen: &mut Seen) {
    if let Ok(meta) = std::fs::symlink_metadata(dir)
        && seen.insert((meta.dev(), meta.ino()))
    {
        line.bytes += meta.blocks() * 512;
    }
}

/// "N minutes ago" for a Unix time.
fn ago(unix: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let secs = (now - unix).max(0);
    match secs {
        0..60 => format!("{secs} seconds ago"),
        60..3600 => format!("{} minutes ago", secs / 60),
        3600..86400 => format!("{} hours ago", secs / 3600),
        _ => format!("{} days ago", secs / 86400),
    }
}
