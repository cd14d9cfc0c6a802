//! `strata rmi REF...`: remove image names, then the blobs nothing references any more.
//!
//! Names go first (each under the index lock, atomically). Blobs are then collected only
//! when that is certainly safe:
//! - no other strata process holds a lease on the store (a pull or build in flight
//!   writes blobs before it tags them): the collection lock is *tried*, never waited for;
//! - no build cache exists yet: the cache index (`<root>/index`) can name layer blobs
//!   that no tag reaches, and it offers no way to list them yet, so with a cache index
//!   present the blobs are left for a later `strata prune`.
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
            Err(e) => {
                eprintln!("error: {}", crate::render_error(&e));
                failures.push(input.clone());
            }
        }
    }
    if !args.no_prune {
        collect(&root)?;
    }
    if !failures.is_empty() {
        anyhow::bail!("cannot remove {}", failures.join(", "));
    }
    Ok(())
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
    if root.path().join("index").exists() {
        eprintln!(
            "note: blobs kept: the build cache may reference them\nhint: `strata prune` removes unused cache records and blobs"
        );
        return Ok(());
    }
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
    let report = guard.collect(&[]).context("garbage collection failed")?;
    for digest in &report.removed {
        println!("Deleted: {digest}");
    }
    if !report.removed.is_empty() {
        eprintln!("freed {}", human_size(report.freed_bytes));
    }
    Ok(())
}
