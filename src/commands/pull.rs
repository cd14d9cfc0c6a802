//! `strata pull [--platform P] REF`: download an image into the local store.
//!
//! stdout gets the pinned reference (`docker.io/library/busybox:latest@sha256:...`) and
//! nothing else, so scripts can capture it; progress goes to stderr: a bar per blob when
//! stderr is a terminal that can redraw (not `TERM=dumb`, no `NO_COLOR`), else one line
//! per blob as it completes, or JSON lines (`--progress=json`, `docs/progress-json.md`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::ValueEnum;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cli::GlobalArgs;
use crate::images::{self, PullEvent, PullPolicy, PullProgress};

/// `strata pull`.
#[derive(Debug, clap::Args)]
pub struct PullArgs {
    /// The image: `busybox`, `ghcr.io/owner/app:1.4`, `name@sha256:...`.
    pub reference: String,
    /// The platform to select from a multi-platform image (`linux/arm64`); default: this
    /// machine's.
    #[arg(long)]
    pub platform: Option<String>,
    /// How to show progress on stderr.
    #[arg(long, value_enum, default_value_t = PullProgressMode::Auto)]
    pub progress: PullProgressMode,
    /// Show no progress, only errors.
    #[arg(short, long)]
    pub quiet: bool,
    /// When to ask the registry: `always` (check the tag for updates, download only
    /// missing blobs), `missing` (only if the store lacks the image for the platform: no
    /// request at all otherwise), `never` (fail if the store lacks it).
    #[arg(long, value_enum, default_value_t = PolicyArg::Always)]
    pub policy: PolicyArg,
}

/// `--policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PolicyArg {
    /// Always ask the registry.
    Always,
    /// Only when the image is not stored.
    Missing,
    /// Never.
    Never,
}

/// How pull progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PullProgressMode {
    /// Bars on a terminal, lines otherwise.
    Auto,
    /// A bar per blob.
    Tty,
    /// One line per blob when it is done.
    Plain,
    /// One JSON object per event (`docs/progress-json.md`).
    Json,
}

/// Pull one image.
pub fn run(global: &GlobalArgs, args: PullArgs) -> anyhow::Result<()> {
    let platform = match &args.platform {
        Some(p) => p
            .parse()
            .with_context(|| format!("invalid --platform `{p}`"))?,
        None => registry_client::Platform::host(),
    };
    let local = images::open_local_images(global)?;
    let use_bars = !args.quiet
        && match args.progress {
            PullProgressMode::Tty => true,
            PullProgressMode::Auto => crate::progress::terminal_can_draw(),
            PullProgressMode::Plain | PullProgressMode::Json => false,
        };
    let json = !args.quiet && args.progress == PullProgressMode::Json;
    let bars = use_bars.then(|| Arc::new(BarProgress::new()));
    let progress: Arc<dyn PullProgress> = match (&bars, args.quiet) {
        (Some(bars), _) => Arc::clone(bars) as Arc<dyn PullProgress>,
        (None, true) => Arc::new(images::NoProgress),
        (None, false) if json => Arc::new(JsonProgress),
        (None, false) => Arc::new(PlainProgress),
    };
    let policy = match args.policy {
        PolicyArg::Always => PullPolicy::Always,
        PolicyArg::Missing => PullPolicy::Missing,
        PolicyArg::Never => PullPolicy::Never,
    };
    let image = local
        .resolve_local_or_pull(&args.reference, &platform, policy, progress)
        .with_context(|| format!("cannot pull `{}`", args.reference))?;
    if let Some(bars) = &bars {
        bars.finish();
    }
    if json {
        let line = serde_json::json!({
            "v": crate::progress::JSON_VERSION,
            "type": "pulled",
            "time": crate::progress::iso8601(std::time::SystemTime::now()),
            "name": image.name,
            "reference": image.reference,
            "platform": image.platform.to_string(),
            "manifest": image.manifest_digest,
            "index": image.index_digest,
            "image": image.config.digest,
            "downloaded_blobs": image.downloaded_blobs,
            "downloaded_bytes": image.downloaded_bytes,
        });
        eprintln!("{line}");
    } else if !args.quiet {
        let from_index = image
            .index_digest
            .as_deref()
            .map(|d| format!(" from index {}", short_digest(d)))
            .unwrap_or_default();
        eprintln!(
            "pulled {} ({}): manifest {}{from_index}, image id {}, {} blob{} downloaded, {}",
            image.name,
            image.platform,
            short_digest(&image.manifest_digest),
            short_digest(&image.config.digest),
            image.downloaded_blobs,
            if image.downloaded_blobs == 1 { "" } else { "s" },
            human_size(image.downloaded_bytes)
        );
    }
    println!("{}", image.reference);
    Ok(())
}

/// `sha256:` and the first 12 hex digits, as docker shortens digests.
pub fn short_digest(digest: &str) -> String {
    match digest.split_once(':') {
        Some((algorithm, hex)) => format!("{algorithm}:{}", &hex[..hex.len().min(12)]),
        None => digest.chars().take(19).collect(),
    }
}

/// A size in decimal units with one decimal, as docker prints them (`3.2 MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// One line per finished blob: `sha256:abcd12345678 3.2 MB done`.
struct PlainProgress;

impl PullProgress for PlainProgress {
    fn event(&self, event: PullEvent<'_>) {
        match event {
            PullEvent::Resolved { reference, layers } => {
                eprintln!("resolved {reference} ({layers} layers)");
            }
            PullEvent::BlobDone {
                digest,
                size,
                present,
            } => {
                let what = if present { "already present" } else { "done" };
                eprintln!("{} {} {what}", short_digest(digest), human_size(size));
            }
            _ => {}
        }
    }
}

/// One JSON object per event on stderr (`docs/progress-json.md`).
struct JsonProgress;

impl PullProgress for JsonProgress {
    fn event(&self, event: PullEvent<'_>) {
        if let Some(line) = crate::progress::pull_event_json(&event) {
            eprintln!("{line}");
        }
    }
}

/// A bar per blob being downloaded, on stderr.
struct BarProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    style: ProgressStyle,
}

impl BarProgress {
    fn new() -> Self {
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {binary_bytes:>10}/{binary_total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
            style,
        }
    }

    /// Leaves the terminal on a fresh line below the printed blob lines.
    fn finish(&self) {
        let _ = self.multi.clear();
    }

    fn bar(&self, digest: &str) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(digest).cloned()
    }
}

impl PullProgress for BarProgress {
    fn event(&self, event: PullEvent<'_>) {
        match event {
            PullEvent::Resolved { reference, .. } => {
                let _ = self.multi.println(format!("resolved {reference}"));
            }
            PullEvent::BlobStarted { digest, size } => {
                let bar = self.multi.add(ProgressBar::new(size));
                bar.set_style(self.style.clone());
                bar.set_prefix(short_digest(digest));
                bar.enable_steady_tick(Duration::from_millis(200));
                if let Ok(mut bars) = self.bars.lock() {
                    bars.insert(digest.to_owned(), bar);
                }
            }
            PullEvent::BlobProgress {
                digest,
                written,
                size,
            } => {
                if let Some(bar) = self.bar(digest) {
                    // A registry that cannot resume restarts the blob: the length holds.
                    bar.set_length(size.max(written));
                    bar.set_position(written);
                }
            }
            PullEvent::BlobDone {
                digest,
                size,
                present,
            } => {
                // Finished bars give way to a permanent line, as in plain mode, so only
                // running downloads keep a bar and the terminal ends on a clean line.
                let bar = self.bars.lock().ok().and_then(|mut b| b.remove(digest));
                if let Some(bar) = bar {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                let what = if present { "already present" } else { "done" };
                let _ = self.multi.println(format!(
                    "{} {} {what}",
                    short_digest(digest),
                    human_size(size)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_digests_read_like_docker() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(3_200_000), "3.2 MB");
        assert_eq!(human_size(1_500_000_000), "1.5 GB");
        assert_eq!(
            short_digest("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            "sha256:e3b0c44298fc"
        );
    }
}
