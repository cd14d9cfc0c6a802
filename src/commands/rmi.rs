//! `strata rmi REF...`: remove image names, then the blobs nothing references any more.
//!
//! Names go first (each under the index lock, atomically). Blobs are then collected only
//! when that is certainly safe:
//! - no other strata process holds a lease on the store (a pull or build in flight
//!   writes blobs before it tags them): the collection lock is *tried*, never waited for;
//! - the build cache keeps its layers: the layer blobs its records pin (read from the
//!   cache index after the collection lock is held, so no build adds one meanwhile) are
//!   extra roots, so a rebuild of a removed image still hits the cache and reuses them.
//!
//! stdout: `Untagged: NAME` per name and `Deleted: DIGEST` per removed blob, as docker
//! prints them; notes about skipped collection go to stderr.

use anyhow::Context as _;
use registry_client::Reference;

use super::pull::human_size;
use crate::cli::GlobalArgs;
use crate::images::{self, store_name};

/// `strata rmi`.
#[derive(Debug, clap::Args)]
pub struct RmiArgs {
    /// Images to remove (`busybox`, `localhost:5000/app:1`, `name@sha256:...`).
    #[arg(required = true)]
    pub references: Vec<String>,
    /// Only remove the names; keep every blob.
    #[arg(long)]
    pub no_prune: bool,
}

/// Remove images.
pub fn run(global: &GlobalArgs, args: RmiArgs) -> anyhow::Result<()> {
    let root = images::open_root(global)?;
    let store = root.store();
    let mut failures = Vec::new();
    for input in &args.references {
        match untag(store, input) {
            Ok(name) => println!("Untagged: {name}"),
            Err(e) => failures.push(e),
        }
    }
    if !args.no_prune {
        collect(&root)?;
    }
    // One message, as for every failure: the error itself, or a list of them.
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0)),
        n => {
            // Each failure on its own line; their hints once, at the end.
            let mut lines = vec![format!("cannot remove {n} images:")];
            let mut hints: Vec<String> = Vec::new();
            for e in &failures {
                for line in crate::render_error(e).lines() {
                    if line.starts_with("hint: ") {
                        if !hints.iter().any(|h| h == line) {
                            hints.push(line.to_owned());
                        }
                    } else {
                        lines.push(format!("  {line}"));
                    }
                }
            }
            lines.extend(hints);
            anyhow::bail!("{}", lines.join("\n"))
        }
    }
}

/// Removes the name `input` normalises to; a name as stored is accepted too.
fn untag(store: &cache::Store, input: &str) -> anyhow::Result<String> {
    let name = match Reference::parse(input) {
        Ok(reference) => store_name(&reference),
        Err(_) => input.to_owned(),
    };
    match store.untag(&name) {
        Ok(_) => Ok(name),
        // A name written by another tool, stored exactly as the user typed it.
        Err(cache::Error::ImageNotFound { .. }) if name != input => {
            store.untag(input).map(|_| input.to_owned()).map_err(|_| {
                anyhow::anyhow!(
                    "no such image `{input}`\nhint: `strata images` lists the local images"
                )
            })
        }
        Err(cache::Error::ImageNotFound { .. }) => Err(anyhow::anyhow!(
            "no such image `{input}`\nhint: `strata images` lists the local images"
        )),
        Err(e) => Err(e).with_context(|| format!("cannot untag `{name}`")),
    }
}

/// Removes unreferenced blobs when it is safe, else says why not.
fn collect(root: &cache::Root) -> anyhow::Result<()> {
    let store = root.store();
    let guard = match store.try_lock_gc() {
        Ok(guard) => guard,
        Err(e) if e.kind() == cache::ErrorKind::Locked => {
            eprintln!(
                "note: blobs kept: another strata process is using the store; they are removed by the next `strata rmi` or `strata prune`"
            );
            return Ok(());
        }
        Err(e) => return Err(e).context("cannot lock the store for garbage collection"),
    };
    let records = cache::records::Records::new(root.path().join("index"));
    let pinned = records
        .pinned_blobs()
        .context("cannot read the build cache's layer records; no blob was removed")?;
    let report = guard
        .collect(&pinned)
        .context("garbage collection failed")?;
    for digest in &report.removed {
        println!("Deleted: {digest}");
    }
    if !report.removed.is_empty() {
        eprintln!("freed {}", human_size(report.freed_bytes));
    }
    Ok(())
}
