//! `strata prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [-f]`: remove
//! build cache.
//!
//! What goes: step records and their snapshots, extracted base layers, downloads
//! (`ADD <url>`, git), the layer-blob records of the removed steps, and then every blob
//! that no tag reaches and no remaining record pins. Tagged images and their blobs always
//! stay. Without a filter, everything of the build cache goes (as `docker builder prune`
//! removes everything no build is using), except cache mounts and the context-hash memo;
//! `--all` also removes those and the inputs `--explain-cache` compares with.
//! `--filter until=DURATION` keeps what was used within DURATION; `--keep-storage SIZE`
//! removes least recently used snapshots first until the snapshots left use at most SIZE.
//! A step snapshot's age is its record's `last_used` (set on every cache hit); a base
//! layer or download has no record and counts from when it was made (its ctime).
//!
//! Safety: prune holds the build lock exclusive (running builds hold it shared for their
//! whole run), so no build reads a snapshot while it goes. Records go first, in one
//! transaction; each snapshot is then renamed into this process's `tmp/` directory and
//! removed there, so a crash never leaves a half-deleted snapshot under `snapshots/`
//! (the next strata sweeps `tmp/`). Blobs go last, under the store's collection lock.

use std::collections::HashSet;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use anyhow::Context as _;

use super::du::{Seen, SnapshotKind, entries, usage};
use super::pull::human_size;
use crate::cli::GlobalArgs;
use crate::images;

/// `strata prune`.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Also remove cache mounts (`RUN --mount=type=cache`), the context-hash memo and the
    /// inputs `--explain-cache` compares with.
    #[arg(short, long)]
    pub all: bool,
    /// Remove least recently used cache until the snapshots left use at most SIZE
    /// (`0`, `512MB`, `10GB`; units are powers of 1024, as docker's).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub keep_storage: Option<u64>,
    /// Only remove cache not used for DURATION: `until=24h` (units s, m, h, d).
    #[arg(long, value_name = "FILTER", value_parser = parse_filter)]
    pub filter: Vec<u64>,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

/// A size: a number with an optional unit (b, k, m, g, t, with or without `b`/`ib`).
fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (try `0`, `512MB`, `10GB`)"))?;
    let shift = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(format!("`{text}`: unknown size unit `{unit}`")),
    };
    Ok((value * (1u64 << shift) as f64) as u64)
}

/// `until=DURATION`, as seconds.
fn parse_filter(text: &str) -> Result<u64, String> {
    let Some(duration) = text.strip_prefix("until=") else {
        return Err(format!(
            "unsupported filter `{text}`: only `until=DURATION` is"
        ));
    };
    parse_duration(duration)
}

/// A duration like `90s`, `30m`, `2h30m`, `7d`, as seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a duration (try `30m`, `24h`, `7d`)");
    let mut total = 0u64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().map_err(|_| bad())?;
        number.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        total = total.saturating_add(n.saturating_mul(unit));
    }
    if !number.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// One snapshot directory and the records that name it.
struct Candidate {
    /// Its name under `snapshots/` (or none: a record whose snapshot is gone).
    name: Option<String>,
    last_used: i64,
    bytes: u64,
    steps: Vec<[u8; 32]>,
}

/// `strata prune`.
pub fn run(global: &GlobalArgs, args: PruneArgs) -> anyhow::Result<()> {
    let root = images::open_root(global)?;
    if !args.force && !confirm(args.all)? {
        eprintln!("nothing removed");
        return Ok(());
    }
    let _builds = root
        .lock_for_prune(|| eprintln!("waiting for running builds to finish"))
        .context("cannot take the build lock")?;
    let path = root.path().to_path_buf();
    let records = cache::records::Records::new(path.join("index"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);

    let snapshots = path.join("snapshots");
    let mut candidates: Vec<Candidate> = Vec::new();
    let steps = records
        .steps()
        .context("cannot read the build cache's step records")?;
    let mut named: HashSet<String> = HashSet::new();
    for name in entries(&snapshots)? {
        let dir = snapshots.join(&name);
        let Ok(meta) = std::fs::symlink_metadata(&dir) else {
            continue;
        };
        let bytes = usage(&dir, &mut Seen::new());
        let mine: Vec<&([u8; 32], cache::records::StepRecord)> =
            steps.iter().filter(|(_, r)| r.snapshot == name).collect();
        let last_used = mine
            .iter()
            .map(|(_, r)| r.last_used)
            .max()
            .unwrap_or(meta.ctime());
        named.insert(name.clone());
        candidates.push(Candidate {
            steps: mine.iter().map(|(k, _)| *k).collect(),
            name: Some(name),
            last_used,
            bytes,
        });
    }
    // Records whose snapshot is gone are misses already: always drop them.
    for (key, record) in &steps {
        if !named.contains(&record.snapshot) {
            candidates.push(Candidate {
                name: None,
                last_used: i64::MIN,
                bytes: 0,
                steps: vec![*key],
            });
        }
    }
    candidates.sort_by_key(|c| c.last_used);

    let until = args.filter.iter().copied().min();
    let everything = until.is_none() && args.keep_storage.is_none();
    let mut total: u64 = candidates.iter().map(|c| c.bytes).sum();
    let mut chosen: Vec<&Candidate> = Vec::new();
    for c in &candidates {
        if c.name.is_none() {
            chosen.push(c);
            continue;
        }
        if let Some(until) = until
            && c.last_used > now.saturating_sub(until as i64)
        {
            continue;
        }
        if let Some(keep) = args.keep_storage
            && total <= keep
        {
            continue;
        }
        total -= c.bytes;
        chosen.push(c);
    }

    // Records first, in one transaction.
    let gone_names: HashSet<&str> = chosen.iter().filter_map(|c| c.name.as_deref()).collect();
    let gone_layers: HashSet<String> = chosen
        .iter()
        .flat_map(|c| c.steps.iter().map(hex))
        .chain(
            gone_names
                .iter()
                .filter_map(|n| n.strip_prefix("layer-"))
                .map(|h| format!("sha256:{h}")),
        )
        .collect();
    let blobs = records
        .blob_keys()
        .context("cannot read the build cache's layer records")?
        .into_iter()
        .filter(|k| {
            everything
                || k.rsplit_once('/')
                    .is_some_and(|(layer, _)| gone_layers.contains(layer))
        })
        .collect();
    let http = records
        .http_records()
        .context("cannot read the build cache's download records")?
        .into_iter()
        .filter(|(_, r)| everything || gone_names.contains(r.snapshot.as_str()))
        .map(|(k, _)| k)
        .collect();
    let removal = cache::records::Removal {
        steps: chosen
            .iter()
            .flat_map(|c| c.steps.iter().copied())
            .collect(),
        blobs,
        http,
        last_inputs: args.all,
        memos: args.all,
    };
    records
        .remove(&removal)
        .context("cannot remove build cache records; nothing was removed")?;

    // Then the snapshots, each moved out of `snapshots/` before it is deleted.
    let mut freed = 0u64;
    let mut printed_header = false;
    let mut header = || {
        if !printed_header {
            println!("Deleted build cache objects:");
            printed_header = true;
        }
    };
    for c in &chosen {
        let Some(name) = &c.name else { continue };
        discard(&snapshots.join(name), root.scratch_dir(), name)?;
        freed += c.bytes;
        header();
        let kind = match SnapshotKind::of(name) {
            SnapshotKind::Step => "step",
            SnapshotKind::BaseLayer => "base layer",
            SnapshotKind::Download => "download",
        };
        println!("{name} ({kind}, {})", human_size(c.bytes));
    }
    if args.all {
        let mounts = path.join("cache-mounts");
        for name in entries(&mounts)? {
            let dir = mounts.join(&name);
            let bytes = usage(&dir, &mut Seen::new());
            discard(&dir, root.scratch_dir(), &format!("mount-{name}"))?;
            freed += bytes;
            if !name.ends_with(".lock") {
                header();
                println!("cache-mounts/{name} (cache mount, {})", human_size(bytes));
            }
        }
    }

    // Last, the blobs nothing reaches any more (the remaining records pin theirs).
    let store = root.store();
    let guard = store
        .lock_gc()
        .context("cannot lock the store for garbage collection")?;
    let pinned = records
        .pinned_blobs()
        .context("cannot read the build cache's layer records; no blob was removed")?;
    let report = guard
        .collect(&pinned)
        .context("garbage collection failed")?;
    for digest in &report.removed {
        header();
        println!("{digest} (blob)");
    }
    freed += report.freed_bytes;
    println!("Total reclaimed space: {}", human_size(freed));
    Ok(())
}

/// Asks on the terminal; without one, refuses (use `-f`).
fn confirm(all: bool) -> anyhow::Result<bool> {
    let what = if all {
        "all build cache, including cache mounts"
    } else {
        "the build cache"
    };
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "`strata prune` would remove {what} and asks first, but stdin is no terminal\nhint: pass `-f` to remove without asking"
        );
    }
    eprint!("WARNING! This will remove {what}. Are you sure you want to continue? [y/N] ");
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Moves `dir` into this process's scratch directory (one rename: it leaves its parent
/// whole or not at all), then deletes it there. If this process dies meanwhile, the
/// next strata removes the leftover with the rest of the dead process's scratch.
fn discard(dir: &Path, scratch: &Path, name: &str) -> anyhow::Result<()> {
    let target = scratch.join(format!("prune-{name}"));
    match std::fs::rename(dir, &target) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot move `{}` out", dir.display()));
        }
    }
    let result = if target.is_dir() {
        std::fs::remove_dir_all(&target)
    } else {
        std::fs::remove_file(&target)
    };
    result.with_context(|| format!("cannot remove `{}`", target.display()))
}

fn hex(key: &[u8; 32]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("10KiB"), Ok(10 << 10));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("3x").is_err());
        assert_eq!(parse_filter("until=2h30m"), Ok(9000));
        assert_eq!(parse_filter("until=7d"), Ok(7 * 86400));
        assert!(parse_filter("until=5").is_err());
        assert!(parse_filter("label=x").is_err());
    }
}
