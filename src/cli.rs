//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build container images from Dockerfiles: fast, daemonless, BuildKit-compatible.
#[derive(Debug, Parser)]
#[command(name = "strata", version, about, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// State directory (store, snapshots, cache index).
    #[arg(long, global = true, env = "STRATA_ROOT")]
    pub root: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `STRATA_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// Tools for looking inside strata.
    #[command(subcommand)]
    Debug(DebugCommand),
}

/// What `--print` shows instead of building.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PrintMode {
    /// The lowered build graph as JSON: vertices, inputs, definition digests.
    Graph,
}

/// `strata build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Build context directory.
    pub context: PathBuf,
    /// The Dockerfile (`-` reads it from stdin); default `CONTEXT/Dockerfile`.
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Name and tag for the image (repeatable).
    #[arg(short = 't', long = "tag")]
    pub tags: Vec<String>,
    /// Build-time variable `KEY=VALUE`, or `KEY` to take it from the environment (repeatable).
    #[arg(long = "build-arg")]
    pub build_args: Vec<String>,
    /// The stage to build (default: the last one).
    #[arg(long)]
    pub target: Option<String>,
    /// Target platform (`linux/amd64`).
    #[arg(long)]
    pub platform: Option<String>,
    /// Do not use the cache for any step.
    #[arg(long)]
    pub no_cache: bool,
    /// Do not use the cache for the steps of these stages (repeatable, comma-separated).
    #[arg(long = "no-cache-filter", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Print something about the build instead of running it.
    #[arg(long, value_enum)]
    pub print: Option<PrintMode>,
}

/// `strata debug ...`.
#[derive(Debug, Subcommand)]
pub enum DebugCommand {
    /// Print a Dockerfile's syntax tree in BuildKit's dump format.
    DumpAst {
        /// The Dockerfile (`-` or nothing reads stdin).
        file: Option<String>,
    },
}
