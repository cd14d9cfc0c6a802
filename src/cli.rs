//! Command-line arguments.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Build container images from Dockerfiles: fast, daemonless, BuildKit-compatible.
#[derive(Debug, Parser)]
#[command(
    name = "strata",
    version,
    about,
    propagate_version = true,
    // As docker (pflag): a repeated single-value flag takes its last value.
    args_override_self = true
)]
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
    #[arg(
        long,
        global = true,
        env = "STRATA_ROOT",
        value_name = "DIR",
        help_heading = "Global options"
    )]
    pub root: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); `STRATA_LOG` overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,
    /// Registry host spoken to over plain HTTP, like docker's (repeatable; loopback always is).
    #[arg(
        long = "insecure-registry",
        global = true,
        value_name = "HOST",
        help_heading = "Registry"
    )]
    pub insecure_registries: Vec<String>,
    /// PEM file of CA certificates trusted for registries, besides the system roots.
    #[arg(long, global = true, value_name = "FILE", help_heading = "Registry")]
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
    /// Remove build cache (tagged images stay).
    Prune(crate::commands::prune::PruneArgs),
    /// Show the disk usage of the strata root (`-v`: every snapshot and cache mount).
    Du(crate::commands::du::DuArgs),
    /// Store credentials for a registry in docker's config.json.
    Login(crate::commands::login::LoginArgs),
    /// Remove stored credentials for a registry.
    Logout(crate::commands::login::LogoutArgs),
    /// Push an image of the local store to its registry.
    Push(crate::commands::push::PushArgs),
    /// Print a shell completion script (`source <(strata completion bash)`).
    Completion {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff) on stdout: `strata man build | man -l -`.
    Man {
        /// The command whose page to print (`build`, `push`...); none: strata(1).
        command: Option<String>,
    },
}

/// What `--print` shows instead of building.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PrintMode {
    /// The lowered build graph as JSON: vertices, inputs, definition digests.
    Graph,
}

/// `strata build`: docker's flags, with docker's names and short forms.
#[derive(Debug, Args)]
#[command(
    after_help = "CONTEXT `-` reads a tar of the context (plain, gzip or zstd) or a bare Dockerfile from stdin, as docker does."
)]
pub struct BuildArgs {
    /// Build context: a directory, or `-` for a tar (or a lone Dockerfile) on stdin.
    #[arg(value_name = "CONTEXT")]
    pub context: PathBuf,
    /// The Dockerfile (`-` reads it from stdin); default `CONTEXT/Dockerfile`.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "PATH",
        help_heading = "Input"
    )]
    pub file: Option<String>,
    /// Build-time variable `KEY=VALUE`, or `KEY` to take it from the environment (repeatable).
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]", help_heading = "Input")]
    pub build_args: Vec<String>,
    /// The stage to build (default: the last one).
    #[arg(long, value_name = "STAGE", help_heading = "Input")]
    pub target: Option<String>,
    /// Target platform (`linux/amd64`).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", help_heading = "Input")]
    pub platform: Option<String>,
    /// Do not use the cache for any step.
    #[arg(long, help_heading = "Cache")]
    pub no_cache: bool,
    /// Do not use the cache for the steps of these stages (repeatable, comma-separated).
    #[arg(
        long = "no-cache-filter",
        value_delimiter = ',',
        value_name = "STAGE",
        help_heading = "Cache"
    )]
    pub no_cache_filter: Vec<String>,
    /// Always look up base images in their registry, even when stored locally.
    #[arg(long, help_heading = "Cache")]
    pub pull: bool,
    /// Say, for each step that ran, why it missed the cache.
    #[arg(long, help_heading = "Cache")]
    pub explain_cache: bool,
    /// Name and tag for the image (repeatable).
    #[arg(
        short = 't',
        long = "tag",
        value_name = "NAME[:TAG]",
        help_heading = "Output"
    )]
    pub tags: Vec<String>,
    /// Push every tag to its registry after the build.
    #[arg(long, help_heading = "Output")]
    pub push: bool,
    /// Extra output: `type=oci|docker|local|tar,dest=PATH`, a directory, or `-` (repeatable).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "SPEC",
        help_heading = "Output"
    )]
    pub outputs: Vec<String>,
    /// Add a label `KEY=VALUE` to the image (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", help_heading = "Output")]
    pub labels: Vec<String>,
    /// Write the image ID (config digest) to this file.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub iidfile: Option<PathBuf>,
    /// Write build metadata (digests, names) as JSON to this file.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub metadata_file: Option<PathBuf>,
    /// Layer compression.
    #[arg(long, value_enum, default_value = "gzip", help_heading = "Output")]
    pub compression: CompressionArg,
    /// Compression level (gzip 0-9, zstd 1-22).
    #[arg(long, value_name = "N", help_heading = "Output")]
    pub compression_level: Option<i32>,
    /// Use OCI media types (`false`: Docker schema2).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, help_heading = "Output")]
    pub oci_mediatypes: bool,
    /// Print only the image ID on stdout: no progress, no status lines.
    #[arg(short = 'q', long, help_heading = "Output")]
    pub quiet: bool,
    /// Progress output on stderr.
    #[arg(long, value_enum, default_value = "auto", help_heading = "Output")]
    pub progress: ProgressMode,
    /// Print something about the build instead of running it.
    #[arg(long, value_enum, help_heading = "Output")]
    pub print: Option<PrintMode>,
    /// Secret for `RUN --mount=type=secret`: `id=ID,src=FILE` or `id=ID,env=VAR` (repeatable).
    #[arg(
        long = "secret",
        value_name = "id=ID,src=FILE|env=VAR",
        help_heading = "Secrets and network"
    )]
    pub secrets: Vec<String>,
    /// SSH agent for `RUN --mount=type=ssh`: `default` or `ID=SOCKET` (repeatable).
    #[arg(
        long = "ssh",
        value_name = "default|ID=SOCKET",
        help_heading = "Secrets and network"
    )]
    pub ssh: Vec<String>,
    /// Network of `RUN` steps that do not set `--network` (`default` and `host` both share
    /// the host's network; `none` gives only loopback).
    #[arg(
        long,
        value_enum,
        default_value = "default",
        help_heading = "Secrets and network"
    )]
    pub network: NetworkArg,
    /// Add `HOST:IP` to the `/etc/hosts` of every `RUN` step (repeatable; `HOST=IP` too).
    #[arg(
        long = "add-host",
        value_name = "HOST:IP",
        help_heading = "Secrets and network"
    )]
    pub add_hosts: Vec<String>,
    /// At most this many steps run at once (default: the number of cores).
    #[arg(long, value_name = "N", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..), help_heading = "Execution")]
    pub max_parallelism: Option<usize>,
}

/// `--network`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum NetworkArg {
    /// The host's network (strata has no bridge network).
    Default,
    /// Only loopback.
    None,
    /// The host's network.
    Host,
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
    /// Nothing on success (errors are still printed).
    Quiet,
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
