//! The build graph: what the frontend produces and the scheduler runs.
//!
//! A [`BuildGraph`] is a DAG of [`Vertex`]es stored in topological order: a
//! vertex only ever names inputs that come before it. Each vertex has a
//! definition digest, the sha256 of its op's canonical encoding followed by its
//! inputs' definition digests, so two identical steps (two stages with the same
//! `FROM` and `RUN`) are one vertex: [`BuildGraph::add`] returns the existing
//! one instead of adding a copy.
//!
//! ```
//! use solver::graph::{BuildGraph, Op, SourceOp, VertexMeta};
//!
//! let mut g = BuildGraph::default();
//! let a = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
//! let b = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
//! assert_eq!(a, b);
//! ```

mod encode;
mod op;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

pub use encode::{Canonical, Encoder};
pub use op::{
    CacheSharing, Chown, CopyOptions, ExecMount, ExecOp, FileAction, FileOp, InputIndex, MergeOp,
    MountKind, MountPerms, NetworkMode, Op, SourceOp,
};

/// A sha256 digest of a canonical encoding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(pub [u8; 32]);

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Position of a vertex in its graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct VertexId(pub usize);

/// Where a vertex came from, for progress and errors. Never part of a digest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VertexMeta {
    /// Progress name, like BuildKit's `[build 3/5] RUN make`.
    pub name: String,
    /// The stage the step belongs to.
    pub stage: Option<String>,
    /// Dockerfile lines (1-based, inclusive) of the instruction.
    pub lines: Option<(usize, usize)>,
    /// Skip cache lookups for this vertex (`--no-cache`, `--no-cache-filter`).
    pub ignore_cache: bool,
}

/// One build step with its inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vertex {
    /// What the step does.
    pub op: Op,
    /// The vertices whose outputs it reads, referenced by index from the op.
    pub inputs: Vec<VertexId>,
    /// Names and lines for humans.
    pub meta: VertexMeta,
    /// The definition digest.
    pub digest: Digest,
}

/// A DAG of build steps in topological order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BuildGraph {
    vertices: Vec<Vertex>,
    #[serde(skip)]
    by_digest: HashMap<Digest, usize>,
}

impl BuildGraph {
    /// Add a vertex, or return the identical one already present.
    ///
    /// When the vertex exists, its `ignore_cache` is or-ed with the new meta's so
    /// that a `--no-cache-filter` on either stage applies to the shared step.
    pub fn add(&mut self, op: Op, inputs: Vec<VertexId>, meta: VertexMeta) -> VertexId {
        let digest = self.definition_digest(&op, &inputs);
        if let Some(&pos) = self.by_digest.get(&digest) {
            self.vertices[pos].meta.ignore_cache |= meta.ignore_cache;
            return VertexId(pos);
        }
        self.by_digest.insert(digest, self.vertices.len());
        self.vertices.push(Vertex {
            op,
            inputs,
            meta,
            digest,
        });
        VertexId(self.vertices.len() - 1)
    }

    fn definition_digest(&self, op: &Op, inputs: &[VertexId]) -> Digest {
        let mut e = Encoder::new();
        e.nested("op", op);
        e.u64("inputs", inputs.len() as u64);
        for id in inputs {
            let d = self
                .vertices
                .get(id.0)
                .map(|v| v.digest.0)
                .unwrap_or([0; 32]);
            e.bytes("input", &d);
        }
        e.finish()
    }

    /// The vertex with this id.
    pub fn get(&self, id: VertexId) -> Option<&Vertex> {
        self.vertices.get(id.0)
    }

    /// All vertices in topological order.
    pub fn vertices(&self) -> impl Iterator<Item = (VertexId, &Vertex)> {
        self.vertices
            .iter()
            .enumerate()
            .map(|(i, v)| (VertexId(i), v))
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.vertices.len()
    }

    /// True when the graph has no vertex.
    pub fn is_empty(&self) -> bool {
        self.vertices.is_empty()
    }

    /// A copy holding only the vertices `targets` reach, and the targets' new ids.
    ///
    /// This is how stages the build target does not need disappear: they are
    /// lowered like every stage, then pruned, so they are never run.
    pub fn prune(&self, targets: &[VertexId]) -> (BuildGraph, Vec<VertexId>) {
        let mut keep = vec![false; self.vertices.len()];
        let mut stack: Vec<VertexId> = targets.to_vec();
        while let Some(id) = stack.pop() {
            let Some(slot) = keep.get_mut(id.0) else {
                continue;
            };
            if std::mem::replace(slot, true) {
                continue;
            }
            stack.extend(self.vertices[id.0].inputs.iter().copied());
        }
        let mut map = vec![None; self.vertices.len()];
        let mut out = BuildGraph::default();
        for (i, v) in self.vertices.iter().enumerate() {
            if !keep[i] {
                continue;
            }
            let inputs = v.inputs.iter().filter_map(|x| map[x.0]).collect();
            map[i] = Some(out.add(v.op.clone(), inputs, v.meta.clone()));
        }
        let new_targets = targets
            .iter()
            .filter_map(|t| map.get(t.0).copied().flatten())
            .collect();
        (out, new_targets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(args: &[&str]) -> Op {
        Op::Exec(ExecOp {
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            cwd: "/".into(),
            user: String::new(),
            network: NetworkMode::Default,
            insecure: false,
            mounts: vec![ExecMount {
                target: "/".into(),
                kind: MountKind::Bind {
                    input: 0,
                    selector: "/".into(),
                    readonly: false,
                },
            }],
            proxy_env: vec![],
            extra_hosts: vec![],
        })
    }

    #[test]
    fn identical_vertices_are_one() {
        let mut g = BuildGraph::default();
        let s = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let a = g.add(exec(&["true"]), vec![s], VertexMeta::default());
        let meta = VertexMeta {
            name: "other name".into(),
            ..Default::default()
        };
        let b = g.add(exec(&["true"]), vec![s], meta);
        assert_eq!(a, b);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn digest_depends_on_inputs_and_fields() {
        let mut g = BuildGraph::default();
        let s = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let i = g.add(
            Op::Source(SourceOp::Image {
                reference: "docker.io/library/busybox:latest".into(),
                platform: "linux/amd64".into(),
            }),
            vec![],
            VertexMeta::default(),
        );
        let a = g.add(exec(&["true"]), vec![s], VertexMeta::default());
        let b = g.add(exec(&["true"]), vec![i], VertexMeta::default());
        let c = g.add(exec(&["false"]), vec![s], VertexMeta::default());
        let digests: Vec<_> = [a, b, c]
            .iter()
            .map(|x| g.get(*x).unwrap().digest)
            .collect();
        assert_ne!(digests[0], digests[1]);
        assert_ne!(digests[0], digests[2]);
    }

    #[test]
    fn proxy_env_is_not_in_the_digest() {
        let mut g = BuildGraph::default();
        let s = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let a = g.add(exec(&["true"]), vec![s], VertexMeta::default());
        let Op::Exec(mut x) = exec(&["true"]) else {
            unreachable!()
        };
        x.proxy_env = vec!["HTTP_PROXY=http://proxy:3128".into()];
        let b = g.add(Op::Exec(x), vec![s], VertexMeta::default());
        assert_eq!(a, b);
    }

    #[test]
    fn empty_string_and_absent_differ() {
        let mut a = Encoder::new();
        a.opt_str("x", None);
        let mut b = Encoder::new();
        b.opt_str("x", Some(""));
        assert_ne!(a.finish(), b.finish());
        let mut a = Encoder::new();
        a.strs("x", &["ab", "c"]);
        let mut b = Encoder::new();
        b.strs("x", &["a", "bc"]);
        assert_ne!(a.finish(), b.finish());
    }

    #[test]
    fn prune_keeps_only_what_targets_reach() {
        let mut g = BuildGraph::default();
        let s = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let a = g.add(exec(&["a"]), vec![s], VertexMeta::default());
        let _unused = g.add(exec(&["b"]), vec![s], VertexMeta::default());
        let c = g.add(exec(&["c"]), vec![a], VertexMeta::default());
        let (p, t) = g.prune(&[c]);
        assert_eq!(p.len(), 3);
        assert_eq!(p.get(t[0]).unwrap().digest, g.get(c).unwrap().digest);
    }
}
