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
    /// Registry host spoken to over plain HTTP, like docker's (repeatable; loopback always is).
    #[arg(long = "insecure-registry", global = true, value_name = "HOST")]
    pub insecure_registries: Vec<String>,
    /// PEM file of CA certificates trusted for registries, besides the system roots.
    #[arg(long, global = true, value_name = "FILE")]
    pub registry_ca: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Build an image from a Dockerfile.
    Build(BuildArgs),
    /// Tools for looking inside strata.
    #[command(subcommand)]
    Debug(DebugCommand),
    /// Download an image into the local store.
    Pull(crate::commands::pull::PullArgs),
    /// List the images in the local store.
    Images(crate::commands::images::ImagesArgs),
    /// Remove images from the local store.
    Rmi(crate::commands::rmi::RmiArgs),
    /// Store credentials for a registry in docker's config.json.
    Login(crate::commands::login::LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(crate::commands::login::LogoutArgs),
    /// Push an image of the local store to its registry.
    Push(crate::commands::push::PushArgs),
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
    /// Push every tag to its registry after the build.
    #[arg(long)]
    pub push: bool,
    /// Always look up base images in their registry, even when stored locally.
    #[arg(long)]
    pub pull: bool,
    /// Extra output: `type=oci|docker|local|tar,dest=PATH` (repeatable).
    #[arg(short = 'o', long = "output")]
    pub outputs: Vec<String>,
    /// Write the image ID (config digest) to this file.
    #[arg(long)]
    pub iidfile: Option<PathBuf>,
    /// Write build metadata (digests, names) as JSON to this file.
    #[arg(long)]
    pub metadata_file: Option<PathBuf>,
    /// Add a label `KEY=VALUE` to the image (repeatable).
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip")]
    pub compression: CompressionArg,
    /// Compression level (gzip 0-9, zstd 1-22).
    #[arg(long)]
    pub compression_level: Option<i32>,
    /// Use OCI media types (`false`: Docker schema2).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub oci_mediatypes: bool,
    /// Secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR` (repeatable).
    #[arg(long = "secret")]
    pub secrets: Vec<String>,
    /// SSH agent for `RUN --mount=type=ssh`: `default` or `ID=SOCKET` (repeatable).
    #[arg(long = "ssh")]
    pub ssh: Vec<String>,
    /// At most this many steps run at once (default: the number of cores).
    #[arg(long)]
    pub max_parallelism: Option<usize>,
    /// Say, for each step that ran, why it missed the cache.
    #[arg(long)]
    pub explain_cache: bool,
    /// Progress output.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
}

/// `--compression`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum CompressionArg {
    /// gzip (zlib-rs).
    Gzip,
    /// zstd.
    Zstd,
    /// No compression.
    Uncompressed,
}

/// `--progress`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ProgressMode {
    /// tty on a terminal, plain otherwise.
    Auto,
    /// A live display.
    Tty,
    /// BuildKit-like lines.
    Plain,
    /// One JSON event per line on stderr.
    Json,
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
