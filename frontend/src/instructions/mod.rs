//! Typed, validated Dockerfile instructions: the step between the syntax tree
//! and the lowering (BuildKit's `frontend/dockerfile/instructions`).
//!
//! [`parse_instruction`] turns one [`Node`](crate::ast::Node) into an
//! [`Instruction`]: flags are checked against what the instruction accepts
//! (with did-you-mean hints), argument counts and static values (stage names,
//! `--network`, HEALTHCHECK durations, literal `--chmod`) are validated, and
//! everything that depends on variables is kept as written. [`parse_dockerfile`]
//! does that for a whole [`Ast`](crate::ast::Ast) and groups the result into
//! stages.
//!
//! The lowering then expands the kept values and finishes the checks with the
//! helpers exported here: [`parse_mount`] for `RUN --mount`, [`Chmod::parse`]
//! for `--chmod`, [`parse_port_spec`] for EXPOSE.
//!
//! ```
//! use frontend::ast::{Ast, Node, SourceRange};
//! use frontend::instructions::{parse_dockerfile, Instruction};
//!
//! let node = |keyword: &str, args: &[&str], line: usize| Node {
//!     keyword: keyword.to_string(),
//!     args: args.iter().map(|a| a.to_string()).collect(),
//!     range: SourceRange::new(line, line),
//!     ..Node::default()
//! };
//! let ast = Ast {
//!     children: vec![
//!         node("arg", &["BASE=alpine"], 1),
//!         node("from", &["${BASE}", "AS", "Build"], 2),
//!         node("run", &["make"], 3),
//!     ],
//!     ..Ast::default()
//! };
//! let parsed = parse_dockerfile(&ast).unwrap();
//! assert_eq!(parsed.meta_args[0].args[0].name, "BASE");
//! assert_eq!(parsed.stages[0].name.as_deref(), Some("build"));
//! assert!(matches!(parsed.stages[0].commands[0], Instruction::Run(_)));
//! ```

mod chmod;
mod commands;
mod expose;
mod flags;
mod healthcheck;
mod parse;
mod run_mount;
mod stages;
mod suggest;

pub use chmod::{Chmod, SymbolicMode};
pub use commands::{
    AddInstruction, ArgDefinition, ArgInstruction, CmdInstruction, CommandLine, CopyInstruction,
    EntrypointInstruction, EnvInstruction, ExposeInstruction, FromInstruction, HealthConfig,
    HealthTest, Healthcheck, HealthcheckInstruction, InlineSource, Instruction, KeyValue,
    LabelInstruction, MaintainerInstruction, NetworkMode, OnbuildInstruction, Origin,
    RunInstruction, SecurityMode, ShellInstruction, ShellOrExec, SourcesAndDest,
    StopSignalInstruction, UserInstruction, VolumeInstruction, WorkdirInstruction,
};
pub use expose::{ExposedPort, Protocol, parse_port_spec};
pub use healthcheck::{MIN_HEALTHCHECK_DURATION, parse_go_duration, parse_health_duration};
pub use parse::{KEYWORDS, parse_instruction};
pub use run_mount::{CacheSharing, MountType, RunMount, parse_mount, parse_mounts};
pub use stages::{ParsedDockerfile, Stage, parse_dockerfile};
pub(crate) use suggest::closest;
