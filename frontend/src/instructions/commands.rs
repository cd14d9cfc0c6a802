//! The typed instructions: one struct per Dockerfile instruction, gathered in
//! [`Instruction`].
//!
//! Values that BuildKit expands with build arguments and environment variables
//! (paths, `--chown`, `--chmod`, `--from`, mount specs, ports) are kept here as
//! written: expansion happens at lowering time, when the variables are known.
//! Everything that can be checked without them is checked when the instruction
//! is typed, so a bad Dockerfile fails before any step runs.

use std::time::Duration;

use crate::ast::{Heredoc, SourceRange};

/// Where an instruction came from: its lines and its text.
///
/// The text is what BuildKit records in image history (`created_by`) and what
/// error messages quote, so every instruction keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The lines the instruction spans.
    pub range: SourceRange,
    /// The instruction's full text with continuations joined.
    pub original: String,
}

/// One typed Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `FROM [--platform=p] image [AS name]`.
    From(FromInstruction),
    /// `RUN [--mount=...] [--network=...] [--security=...] command`.
    Run(RunInstruction),
    /// `CMD command`.
    Cmd(CmdInstruction),
    /// `ENTRYPOINT command`.
    Entrypoint(EntrypointInstruction),
    /// `LABEL k=v ...`.
    Label(LabelInstruction),
    /// `MAINTAINER name` (deprecated, sets the image author).
    Maintainer(MaintainerInstruction),
    /// `EXPOSE port[/proto] ...`.
    Expose(ExposeInstruction),
    /// `ENV k=v ...`.
    Env(EnvInstruction),
    /// `ADD [flags] src... dest`.
    Add(AddInstruction),
    /// `COPY [flags] src... dest`.
    Copy(CopyInstruction),
    /// `VOLUME path...`.
    Volume(VolumeInstruction),
    /// `USER user[:group]`.
    User(UserInstruction),
    /// `WORKDIR path`.
    Workdir(WorkdirInstruction),
    /// `ARG name[=default] ...`.
    Arg(ArgInstruction),
    /// `ONBUILD instruction`.
    Onbuild(OnbuildInstruction),
    /// `STOPSIGNAL signal`.
    StopSignal(StopSignalInstruction),
    /// `HEALTHCHECK [flags] CMD command` or `HEALTHCHECK NONE`.
    Healthcheck(HealthcheckInstruction),
    /// `SHELL ["executable", "param"...]`.
    Shell(ShellInstruction),
}

impl Instruction {
    /// The lines and text of the instruction, for history and error messages.
    pub fn origin(&self) -> &Origin {
        match self {
            Self::From(i) => &i.origin,
            Self::Run(i) => &i.origin,
            Self::Cmd(i) => &i.origin,
            Self::Entrypoint(i) => &i.origin,
            Self::Label(i) => &i.origin,
            Self::Maintainer(i) => &i.origin,
            Self::Expose(i) => &i.origin,
            Self::Env(i) => &i.origin,
            Self::Add(i) => &i.origin,
            Self::Copy(i) => &i.origin,
            Self::Volume(i) => &i.origin,
            Self::User(i) => &i.origin,
            Self::Workdir(i) => &i.origin,
            Self::Arg(i) => &i.origin,
            Self::Onbuild(i) => &i.origin,
            Self::StopSignal(i) => &i.origin,
            Self::Healthcheck(i) => &i.origin,
            Self::Shell(i) => &i.origin,
        }
    }

    /// The lines the instruction spans, for error messages.
    pub fn range(&self) -> SourceRange {
        self.origin().range
    }

    /// The upper-case keyword (`RUN`, `COPY`, ...), as history and messages print it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Self::From(_) => "FROM",
            Self::Run(_) => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Label(_) => "LABEL",
            Self::Maintainer(_) => "MAINTAINER",
            Self::Expose(_) => "EXPOSE",
            Self::Env(_) => "ENV",
            Self::Add(_) => "ADD",
            Self::Copy(_) => "COPY",
            Self::Volume(_) => "VOLUME",
            Self::User(_) => "USER",
            Self::Workdir(_) => "WORKDIR",
            Self::Arg(_) => "ARG",
            Self::Onbuild(_) => "ONBUILD",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Shell(_) => "SHELL",
        }
    }
}

/// `FROM`: the start of a build stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromInstruction {
    /// The base image or earlier stage, unexpanded (`${BASE}:1.2` is allowed).
    pub base: String,
    /// The stage name after `AS`, lower-cased and validated.
    pub stage_name: Option<String>,
    /// `--platform`, unexpanded.
    pub platform: Option<String>,
    /// The comment line `# <name> <text>` above the FROM, describing the stage.
    pub comment: Option<String>,
    /// Lines and text.
    pub origin: Origin,
}

/// A command in shell form (run through the stage's shell) or exec form (argv).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// `RUN make all`: one string, run as `SHELL + [string]`.
    Shell(String),
    /// `RUN ["make", "all"]`: the argv, run as is.
    Exec(Vec<String>),
}

/// The command of RUN, CMD or ENTRYPOINT, with any heredoc bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    /// The command as written.
    pub form: ShellOrExec,
    /// Heredoc bodies referenced by the command (`RUN <<EOF`), in order.
    pub heredocs: Vec<Heredoc>,
}

impl CommandLine {
    /// True when the command came from a heredoc, which lowering turns into a
    /// script file instead of a `-c` argument.
    pub fn is_heredoc(&self) -> bool {
        !self.heredocs.is_empty()
    }

    /// True for shell form: the stage's SHELL is prepended at lowering.
    pub fn prepends_shell(&self) -> bool {
        matches!(self.form, ShellOrExec::Shell(_))
    }
}

/// `RUN --network` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The sandbox's usual network.
    #[default]
    Default,
    /// No network at all (a fresh network namespace).
    None,
    /// The host's network namespace.
    Host,
}

/// `RUN --security` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityMode {
    /// The normal sandbox.
    #[default]
    Sandbox,
    /// Extra privileges (needs the `security.insecure` entitlement).
    Insecure,
}

/// `RUN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstruction {
    /// What to run.
    pub command: CommandLine,
    /// `--mount` specs as written; typed with
    /// [`parse_mount`](crate::instructions::parse_mount) once variables are known.
    pub mounts: Vec<String>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--security`.
    pub security: SecurityMode,
    /// Lines and text.
    pub origin: Origin,
}

/// `CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdInstruction {
    /// The default command of the image.
    pub command: CommandLine,
    /// Lines and text.
    pub origin: Origin,
}

/// `ENTRYPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntrypointInstruction {
    /// The entrypoint of the image; `ENTRYPOINT []` is an empty exec form,
    /// which clears an inherited entrypoint.
    pub command: CommandLine,
    /// Lines and text.
    pub origin: Origin,
}

/// A `key=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The name, unexpanded.
    pub key: String,
    /// The value, unexpanded (quotes still in place, as BuildKit keeps them).
    pub value: String,
    /// True for the legacy `ENV key value` form (no `=`), which build checks warn about.
    pub legacy: bool,
}

/// `LABEL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelInstruction {
    /// The labels, in order.
    pub labels: Vec<KeyValue>,
    /// Lines and text.
    pub origin: Origin,
}

/// `MAINTAINER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintainerInstruction {
    /// The author recorded in the image config.
    pub maintainer: String,
    /// Lines and text.
    pub origin: Origin,
}

/// `EXPOSE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposeInstruction {
    /// Port words as written; expand them, then check each with
    /// [`parse_port_spec`](crate::instructions::parse_port_spec).
    pub ports: Vec<String>,
    /// Lines and text.
    pub origin: Origin,
}

/// `ENV`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvInstruction {
    /// The variables, in order.
    pub vars: Vec<KeyValue>,
    /// Lines and text.
    pub origin: Origin,
}

/// A source of ADD or COPY given inline as a heredoc (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlineSource {
    /// The heredoc name, used as the file name.
    pub path: String,
    /// The file content.
    pub content: String,
    /// False when the delimiter was quoted: variables stay literal.
    pub expand: bool,
}

/// The sources and destination of ADD or COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcesAndDest {
    /// Source paths, URLs or patterns, unexpanded.
    pub sources: Vec<String>,
    /// Heredoc sources.
    pub inline: Vec<InlineSource>,
    /// The destination, unexpanded.
    pub dest: String,
}

/// `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddInstruction {
    /// What to add and where.
    pub files: SourcesAndDest,
    /// `--chown`, unexpanded.
    pub chown: Option<String>,
    /// `--chmod`, unexpanded; parse with [`Chmod::parse`](crate::instructions::Chmod::parse).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum`, unexpanded.
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// `--unpack`, `None` when not written (then local archives are unpacked
    /// and remote ones are not).
    pub unpack: Option<bool>,
    /// `--exclude` patterns, unexpanded.
    pub excludes: Vec<String>,
    /// Lines and text.
    pub origin: Origin,
}

/// `COPY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInstruction {
    /// What to copy and where.
    pub files: SourcesAndDest,
    /// `--from`: a stage name, stage index or image; never contains variables.
    pub from: Option<String>,
    /// `--chown`, unexpanded.
    pub chown: Option<String>,
    /// `--chmod`, unexpanded; parse with [`Chmod::parse`](crate::instructions::Chmod::parse).
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`: keep the source paths' parent directories.
    pub parents: bool,
    /// `--exclude` patterns, unexpanded.
    pub excludes: Vec<String>,
    /// Lines and text.
    pub origin: Origin,
}

/// `VOLUME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInstruction {
    /// Mount points, unexpanded, trimmed, never empty.
    pub volumes: Vec<String>,
    /// Lines and text.
    pub origin: Origin,
}

/// `USER`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInstruction {
    /// `user[:group]`, unexpanded.
    pub user: String,
    /// Lines and text.
    pub origin: Origin,
}

/// `WORKDIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkdirInstruction {
    /// The directory, unexpanded; relative paths resolve against the previous one.
    pub path: String,
    /// Lines and text.
    pub origin: Origin,
}

/// One `name[=default]` of an ARG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDefinition {
    /// The variable name.
    pub name: String,
    /// The default, unexpanded; `None` when written without `=`.
    pub default: Option<String>,
    /// The comment line `# <name> <text>` above the ARG, describing it.
    pub comment: Option<String>,
}

/// `ARG`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgInstruction {
    /// The arguments declared, in order.
    pub args: Vec<ArgDefinition>,
    /// Lines and text.
    pub origin: Origin,
}

/// `ONBUILD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnbuildInstruction {
    /// The trigger, typed so that mistakes show up in this build rather than
    /// in the child image's.
    pub trigger: Box<Instruction>,
    /// The trigger's text as stored in the image config's `OnBuild` list.
    pub expression: String,
    /// Lines and text.
    pub origin: Origin,
}

/// `STOPSIGNAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopSignalInstruction {
    /// The signal name or number, unexpanded.
    pub signal: String,
    /// Lines and text.
    pub origin: Origin,
}

/// The probe of a HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthTest {
    /// `HEALTHCHECK CMD ["prog", "arg"]`: `CMD` in the image config.
    Exec(Vec<String>),
    /// `HEALTHCHECK CMD prog arg`: `CMD-SHELL` in the image config.
    Shell(String),
}

impl HealthTest {
    /// The `Test` array of the image config (`["CMD-SHELL", "curl -f ..."]`).
    pub fn to_config_test(&self) -> Vec<String> {
        match self {
            Self::Exec(argv) => std::iter::once("CMD".to_string())
                .chain(argv.iter().cloned())
                .collect(),
            Self::Shell(cmd) => vec!["CMD-SHELL".to_string(), cmd.clone()],
        }
    }
}

/// The settings of `HEALTHCHECK CMD`. Durations and retries are `None` when not
/// written or written as zero, which means "inherit from the base image".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// The probe.
    pub test: HealthTest,
    /// `--interval`.
    pub interval: Option<Duration>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--start-period`.
    pub start_period: Option<Duration>,
    /// `--start-interval`.
    pub start_interval: Option<Duration>,
    /// `--retries`.
    pub retries: Option<u32>,
}

/// What a HEALTHCHECK sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check (`Test: ["NONE"]`).
    Disabled,
    /// `HEALTHCHECK [flags] CMD ...`.
    Check(HealthConfig),
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckInstruction {
    /// The check.
    pub health: Healthcheck,
    /// Lines and text.
    pub origin: Origin,
}

/// `SHELL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellInstruction {
    /// The shell argv used for later shell-form commands; never empty.
    pub shell: Vec<String>,
    /// Lines and text.
    pub origin: Origin,
}
