//! File vertices: COPY, ADD and WORKDIR applied in a host-side overlay.

use std::path::PathBuf;

use crate::contenthash::Selection;
use crate::fileop::{self, Input, Ownership};
use crate::graph::{FileAction, FileOp, Vertex, VertexId};

use super::exec::layered;
use super::keys::{KeyInput, step_key};
use super::mounts::{Overlay, StepDir};
use super::scheduler::{Done, VertexOutput};
use super::{Event, SolveError, Solver};

impl Solver<'_> {
    pub(crate) fn run_file(
        &self,
        id: VertexId,
        vertex: &Vertex,
        f: &FileOp,
        inputs: &[Done],
    ) -> Result<(Done, bool), SolveError> {
        let Some(VertexOutput::Layers(dest_chain)) = inputs.first().map(|d| &d.output) else {
            return Err(SolveError::Internal(
                "file op destination is not a filesystem".into(),
            ));
        };
        let step = StepDir::new(&self.tmp_dir())?;
        let empty = step.path.join("empty");
        // Read-only views of layered sources, mounted once for hashing and copying.
        let mut views: Vec<Option<Overlay>> = Vec::new();
        // Per input: its root, how owners carry over, its hidden (.dockerignore) patterns.
        let mut roots: Vec<Option<(PathBuf, Ownership, Vec<String>)>> = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            let used = f
                .actions
                .iter()
                .any(|a| matches!(a, FileAction::Copy { input, .. } if *input == i));
            if i == 0 || !used {
                views.push(None);
                roots.push(None);
                continue;
            }
            match &input.output {
                VertexOutput::Dir { path, exclude } => {
                    views.push(None);
                    roots.push(Some((path.clone(), Ownership::Root, exclude.clone())));
                }
                VertexOutput::Layers(chain) => {
                    self.ensure_extracted(chain)?;
                    let lower: Vec<PathBuf> = chain.iter().map(|l| l.dir.clone()).collect();
                    let view =
                        Overlay::mount(&lower, None, step.path.join(format!("src-{i}")), &empty)?;
                    roots.push(Some((view.merged.clone(), Ownership::Preserve, Vec::new())));
                    views.push(Some(view));
                }
            }
        }

        // Key: the op, the destination's key, and the content of every copied selection.
        let mut key_inputs = vec![inputs[0].key];
        let mut labelled = vec![KeyInput {
            label: "the previous step (the destination filesystem)".to_string(),
            digest: inputs[0].key,
        }];
        for action in &f.actions {
            if let FileAction::Copy {
                input,
                src,
                options,
                ..
            } = action
            {
                let Some(Some((root, _, hidden))) = roots.get(*input) else {
                    return Err(SolveError::Internal(format!("copy input {input} missing")));
                };
                let mut selection = Selection::from_copy(src, options);
                selection.hidden = hidden.clone();
                // A missing (or `.dockerignore`d) source is this step's error.
                let digest = self.hash_selection(root, &selection).map_err(|e| match e {
                    SolveError::Internal(message) => SolveError::Step {
                        vertex: id,
                        message: format!("{} failed: {message}", instruction(&vertex.meta.name)),
                    },
                    e => e,
                })?;
                key_inputs.push(digest);
                labelled.push(KeyInput {
                    label: format!("the copied files `{}`", src.join("`, `")),
                    digest,
                });
            }
        }
        let key = step_key(&vertex.op, &key_inputs);
        if let Some(dir) = self.lookup(vertex, &key)? {
            if self.explain {
                self.remember_inputs(vertex, &labelled);
            }
            return Ok((layered(dest_chain, dir, key), false));
        }
        (self.events)(Event::Started {
            id,
            name: vertex.meta.name.clone(),
        });
        self.explain_miss(id, vertex, &labelled);
        self.ensure_extracted(dest_chain)?;
        let upper = step.sub("upper")?;
        let work = step.sub("work")?;
        let lower: Vec<PathBuf> = dest_chain.iter().map(|l| l.dir.clone()).collect();
        let overlay = Overlay::mount(
            &lower,
            Some((&upper, &work)),
            step.path.join("merged"),
            &empty,
        )?;
        let placeholder = PathBuf::from("/nonexistent");
        let file_inputs: Vec<Input<'_>> = roots
            .iter()
            .map(|r| match r {
                Some((root, ownership, hidden)) => Input {
                    root: root.as_path(),
                    ownership: *ownership,
                    hidden: hidden.as_slice(),
                },
                None => Input {
                    root: placeholder.as_path(),
                    ownership: Ownership::Preserve,
                    hidden: &[],
                },
            })
            .collect();
        fileop::apply_all(&overlay.merged, &file_inputs, &f.actions).map_err(|e| {
            SolveError::Step {
                vertex: id,
                message: e.to_string(),
            }
        })?;
        overlay.finish()?;
        drop(views);
        let dir = self.publish(&upper, &key)?;
        self.remember_inputs(vertex, &labelled);
        Ok((layered(dest_chain, dir, key), true))
    }
}

/// The instruction keyword of a progress name (`[build 2/3] COPY a b` -> `COPY`), for
/// "COPY failed: ..." as docker words a missing source.
fn instruction(name: &str) -> &str {
    let tail = name.split_once("] ").map_or(name, |(_, t)| t);
    tail.split_whitespace().next().unwrap_or("COPY")
}
