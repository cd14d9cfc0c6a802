//! Source vertices: images (lazily extracted layers), scratch, the context,
//! and remote files and git repositories (`fetch.rs`).

use crate::graph::{SourceOp, Vertex, VertexId};

use super::keys::step_key;
use super::mounts::io;
use super::scheduler::{Done, LayerRef, VertexOutput};
use super::{SolveError, Solver};

impl Solver<'_> {
    pub(crate) fn run_source(
        &self,
        id: VertexId,
        vertex: &Vertex,
        src: &SourceOp,
    ) -> Result<Done, SolveError> {
        let key = vertex.digest.0;
        match src {
            SourceOp::Scratch => Ok(Done {
                key,
                output: VertexOutput::Layers(Vec::new()),
            }),
            SourceOp::Context { exclude, .. } => Ok(Done {
                key,
                output: VertexOutput::Dir {
                    path: self.options.context.clone(),
                    exclude: exclude.clone(),
                },
            }),
            SourceOp::Image {
                reference,
                platform,
            } => {
                let layers = self.images.layers(reference, platform).map_err(|message| {
                    SolveError::Step {
                        vertex: id,
                        message,
                    }
                })?;
                let mut chain = Vec::new();
                for layer in layers {
                    let hex = layer.diff_id.trim_start_matches("sha256:").to_string();
                    let dir = self.snapshot_path(&format!("layer-{hex}"));
                    let pending = (!dir.exists()).then_some(layer);
                    chain.push(LayerRef {
                        dir,
                        pending,
                        step_key: None,
                    });
                }
                // The image's key is its manifest digest, which the pinned reference carries.
                let key = step_key(&vertex.op, &[]);
                Ok(Done {
                    key,
                    output: VertexOutput::Layers(chain),
                })
            }
            SourceOp::Http {
                url,
                checksum,
                filename,
            } => self.fetch_http(id, url, checksum.as_deref(), filename),
            SourceOp::Git {
                remote,
                reference,
                subdir,
                keep_git_dir,
            } => self.fetch_git(
                id,
                remote,
                reference.as_deref(),
                subdir.as_deref(),
                *keep_git_dir,
            ),
        }
    }

    /// Extract every pending base layer of `chain` into its snapshot directory
    /// (once, even with concurrent steps: extraction goes to `tmp/` and is
    /// published by rename).
    pub(crate) fn ensure_extracted(&self, chain: &[LayerRef]) -> Result<(), SolveError> {
        for layer in chain {
            let Some(base) = &layer.pending else { continue };
            let _guard = self.extract_lock.lock();
            if layer.dir.exists() {
                continue;
            }
            let tmp = super::mounts::StepDir::new(&self.tmp_dir())?;
            let target = tmp.sub("layer")?;
            let reader = self
                .images
                .open_blob(&base.digest)
                .map_err(SolveError::Internal)?;
            let opts = cache::layer::ApplyOptions {
                mode: cache::layer::ApplyMode::Overlay,
                ..Default::default()
            };
            cache::layer::apply_layer(reader, &target, &opts).map_err(|e| {
                SolveError::Internal(format!("extracting layer {}: {e}", base.digest))
            })?;
            let parent = self.snapshots_dir();
            std::fs::create_dir_all(&parent).map_err(|e| io(&parent, e))?;
            match std::fs::rename(&target, &layer.dir) {
                Ok(()) => {}
                Err(_) if layer.dir.exists() => {}
                Err(e) => return Err(io(&layer.dir, e)),
            }
        }
        Ok(())
    }
}
