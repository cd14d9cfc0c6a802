//! On-disk state of strata: content store, snapshots, cache index and locks.
#![warn(missing_docs)]

pub mod layer;
