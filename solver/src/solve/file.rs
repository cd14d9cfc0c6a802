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
        let mut actions = Vec::with_capacity(f.actions.len());
        for action in &f.actions {
            let mut action = action.clone();
            if let FileAction::Copy {
                input,
                src,
                options,
                ..
            } = &mut action
            {
                let Some(Some((root, _, exclude))) = roots.get(*input) else {
                    return Err(SolveError::Internal(format!("copy input {input} missing")));
                };
                options.exclude.extend(exclude.iter().cloned());
                let mut selection = Selection::from_copy(src, options);
                selection.sources = src.clone();
                let digest = self.hash_selection(root, &selection)?;
                key_inputs.push(digest);
                labelled.push(KeyInput {
                    label: format!("the copied files `{}`", src.join("`, `")),
                    digest,
                });
            }
            actions.push(action);
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
                Some((root, ownership, _)) => Input {
                    root: root.as_path(),
                    ownership: *ownership,
                },
                None => Input {
                    root: placeholder.as_path(),
                    ownership: Ownership::Preserve,
                },
            })
            .collect();
        fileop::apply_all(&overlay.merged, &file_inputs, &actions).map_err(|e| {
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
