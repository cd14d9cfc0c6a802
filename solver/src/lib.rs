//! The solver: build-graph types, scheduling, cache keys, step execution and the sandbox.
#![warn(missing_docs)]

pub mod graph;
pub mod sandbox;
