//! The solver: build-graph types, scheduling, cache keys, step execution and the sandbox.
#![warn(missing_docs)]

pub mod contenthash;
pub mod fileop;
pub mod graph;
pub mod sandbox;
pub mod solve;
