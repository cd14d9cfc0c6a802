//! Merge vertices (`COPY --link`): filesystems stacked without copying.
//!
//! A merge's result is its inputs applied one over the other, first input at
//! the bottom. Every filesystem here already is a chain of overlay-format
//! layer directories (whiteouts as char devices 0/0, opaque directories
//! marked), so the merged chain is the inputs' chains concatenated: overlayfs
//! mounts it as lowerdirs, and the copy snapshotter materialises it by
//! applying the layers in order, exactly as it does any other chain. Nothing
//! is copied, nothing is published, and a merge never runs: its key is its
//! inputs' keys, so it is as cached as they are.
//!
//! ```text
//!   input 0: [busybox, RUN a]      input 1: [COPY --link (on scratch)]
//!   merge:   [busybox, RUN a, COPY --link]
//! ```
//!
//! A layer directory that appears in two inputs (two states built on one
//! base) is kept once, at its last position: overlayfs refuses a directory
//! used twice as a lower layer, and applying a layer again on top gives the
//! same view as applying it only there.

use crate::graph::{Vertex, VertexId};

use super::keys::step_key;
use super::scheduler::{Done, LayerRef, VertexOutput};
use super::{SolveError, Solver};

impl Solver<'_> {
    /// The merged chain of `inputs`, keyed by the op and the inputs' keys.
    /// Returns `false` for "ran": a merge is never executed.
    pub(crate) fn run_merge(
        &self,
        id: VertexId,
        vertex: &Vertex,
        inputs: &[Done],
    ) -> Result<(Done, bool), SolveError> {
        let mut chains = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.iter().enumerate() {
            match &input.output {
                VertexOutput::Layers(chain) => chains.push(chain.as_slice()),
                VertexOutput::Dir { path, .. } => {
                    return Err(SolveError::Step {
                        vertex: id,
                        message: format!(
                            "merge input {i} is the directory `{}`, not a filesystem",
                            path.display()
                        ),
                    });
                }
            }
        }
        let keys: Vec<[u8; 32]> = inputs.iter().map(|d| d.key).collect();
        let key = step_key(&vertex.op, &keys);
        Ok((
            Done {
                key,
                output: VertexOutput::Layers(stack(&chains)),
            },
            false,
        ))
    }
}

/// `chains` stacked, first at the bottom, each layer directory once (at its
/// last position).
pub(crate) fn stack(chains: &[&[LayerRef]]) -> Vec<LayerRef> {
    let all: Vec<&LayerRef> = chains.iter().flat_map(|c| c.iter()).collect();
    all.iter()
        .enumerate()
        .filter(|(i, layer)| !all[i + 1..].iter().any(|later| later.dir == layer.dir))
        .map(|(_, layer)| (*layer).clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn layer(name: &str, key: Option<u8>) -> LayerRef {
        LayerRef {
            dir: PathBuf::from("/snapshots").join(name),
            pending: None,
            step_key: key.map(|k| [k; 32]),
        }
    }

    fn names(chain: &[LayerRef]) -> Vec<String> {
        chain
            .iter()
            .map(|l| l.dir.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn chains_stack_bottom_first() {
        let stage = [layer("base", None), layer("run", Some(1))];
        let copy = [layer("copy", Some(2))];
        let merged = stack(&[&stage, &copy]);
        assert_eq!(names(&merged), ["base", "run", "copy"]);
        // The copy keeps its own key: it is the step's layer.
        assert_eq!(merged[2].step_key, Some([2; 32]));
    }

    #[test]
    fn scratch_inputs_add_nothing() {
        let copy = [layer("copy", Some(2))];
        assert_eq!(names(&stack(&[&[], &copy])), ["copy"]);
        assert!(stack(&[&[], &[]]).is_empty());
    }

    #[test]
    fn a_shared_layer_is_kept_once_at_its_last_place() {
        let a = [layer("base", None), layer("a", Some(1))];
        let b = [layer("base", None), layer("b", Some(2))];
        assert_eq!(names(&stack(&[&a, &b])), ["a", "base", "b"]);
    }
}
