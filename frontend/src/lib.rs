//! The Dockerfile frontend: a pure compiler from Dockerfile text to a build graph.
//!
//! The pipeline is `parse` -> `instructions` -> `expand` -> `lower`, each stage
//! with its own test corpus. Nothing here performs I/O: base-image configs reach
//! the lowering through a resolver trait that the CLI implements.
//!
#![warn(missing_docs)]

pub mod ast;
pub mod dockerignore;
pub mod error;
pub mod expand;
pub mod image;
pub mod instructions;
pub mod lower;
pub mod parser;
mod path;

pub use ast::{Ast, Directives, Heredoc, Node, SourceRange};
pub use error::{DockerfileError, ErrorKind};
pub use image::{Healthcheck, History, ImageConfig, ImageSpec, Platform};
