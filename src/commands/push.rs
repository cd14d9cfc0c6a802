//! `strata push [--tag-alias TAG]... REF`: push an image of the local store to its
//! registry.
//!
//! `REF` names the image in the local store (normalised like docker: `app` is
//! `docker.io/library/app:latest`) and is also where it goes. Each `--tag-alias` adds a
//! destination: a bare tag (`latest`) in `REF`'s repository, or a full reference.
//! stdout gets one pinned reference per destination (`registry/repo@sha256:...`);
//! progress and the summary go to stderr.

use anyhow::Context as _;
use registry_client::Reference;

use crate::cli::GlobalArgs;
use crate::push::{self, PushOptions};

/// `strata push`.
#[derive(Debug, clap::Args)]
pub struct PushArgs {
    /// The image in the local store, pushed to the registry its name says
    /// (`localhost:5000/app:1.2`, `ghcr.io/owner/app:1.2`, `user/app` for Docker Hub).
    pub reference: String,
    /// Also push under this tag of the same repository, or this full reference
    /// (repeatable).
    #[arg(long = "tag-alias", value_name = "TAG|REF")]
    pub tag_aliases: Vec<String>,
    /// A repository of the same registry that holds some of the image's blobs (e.g. its
    /// base image's), to mount them from instead of uploading.
    #[arg(long, value_name = "REF")]
    pub mount_from: Option<String>,
    /// Show no progress, only errors.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Push one image.
pub fn run(global: &GlobalArgs, args: PushArgs) -> anyhow::Result<()> {
    let reference = push::check_destination(&args.reference)?;
    let mut destinations = vec![reference.to_string()];
    for alias in &args.tag_aliases {
        let destination = if is_bare_tag(alias) {
            reference
                .with_tag(alias)
                .with_context(|| format!("invalid --tag-alias `{alias}`"))?
        } else {
            push::check_destination(alias)?
        };
        destinations.push(destination.to_string());
    }
    let mut options = PushOptions::from_global(global);
    options.progress = !args.quiet;
    if let Some(from) = &args.mount_from {
        options.mount_from =
            Some(Reference::parse(from).with_context(|| format!("invalid --mount-from `{from}`"))?);
    }

    let root = crate::images::open_root(global).context("cannot open the strata root")?;
    let name = crate::images::store_name(&reference);
    let descriptor = match root.store().resolve(&name) {
        Ok(d) => d,
        Err(cache::Error::ImageNotFound { .. }) => anyhow::bail!(
            "image `{name}` is not in the local store\nhint: build it with `strata build -t {name} ...`, or pull it with `strata pull {name}`"
        ),
        Err(e) => return Err(e).context(format!("cannot look up `{name}`")),
    };
    let manifest = cache::Digest::try_from(descriptor.digest())
        .with_context(|| format!("image `{name}` has an unusable digest"))?;
    let report = push::push_image(&root, &manifest, &destinations, &options)
        .with_context(|| format!("cannot push `{name}`"))?;
    if !args.quiet {
        eprintln!(
            "pushed {name}: {} blob{} uploaded ({}), {} mounted, {} already present",
            report.uploaded,
            if report.uploaded == 1 { "" } else { "s" },
            human_size(report.uploaded_bytes),
            report.mounted,
            report.existing
        );
    }
    for pushed in &report.pushed {
        println!("{}", pushed.pinned());
    }
    Ok(())
}

/// A tag alone (`1.2`, `latest`): no `/`, `:` or `@`.
fn is_bare_tag(s: &str) -> bool {
    !s.is_empty() && !s.contains(['/', ':', '@'])
}

fn human_size(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if bytes < 1000 {
        format!("{bytes} B")
    } else if mb < 1.0 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{mb:.1} MB")
    }
}
