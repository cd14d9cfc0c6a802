//! The thread-pool scheduler: a vertex runs once its inputs are done.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::graph::{BuildGraph, Op, VertexId};
use crate::sandbox::CancelHandle;

use super::{BaseLayer, Event, SolveError, Solver};

/// One layer of a filesystem result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRef {
    /// The snapshot directory (an overlay lower/upper directory).
    pub dir: PathBuf,
    /// A base-image layer not yet extracted into `dir`: extraction is lazy, so
    /// a base image that only cached steps use is never unpacked.
    pub pending: Option<BaseLayer>,
    /// For a step's own layer: its cache key.
    pub step_key: Option<[u8; 32]>,
}

/// What a vertex produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VertexOutput {
    /// A layered filesystem, bottom layer first.
    Layers(Vec<LayerRef>),
    /// A plain host directory (the build context) and the patterns
    /// (`.dockerignore`) that hide parts of it.
    Dir {
        /// The directory.
        path: PathBuf,
        /// Ignore patterns.
        exclude: Vec<String>,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct Done {
    pub(crate) key: [u8; 32],
    pub(crate) output: VertexOutput,
}

/// The results of a solve, per vertex.
#[derive(Debug)]
pub struct Solved {
    done: Vec<Option<Done>>,
    /// Vertices that ran (were not cache hits).
    pub executed: Vec<VertexId>,
}

impl Solved {
    /// The output of a vertex.
    pub fn output(&self, id: VertexId) -> Option<&VertexOutput> {
        self.done.get(id.0)?.as_ref().map(|d| &d.output)
    }

    /// The cache key of a vertex.
    pub fn key(&self, id: VertexId) -> Option<[u8; 32]> {
        self.done.get(id.0)?.as_ref().map(|d| d.key)
    }

    /// The layer a step added on top of its input (its snapshot).
    pub fn step_layer(&self, id: VertexId) -> Option<&LayerRef> {
        match self.output(id)? {
            VertexOutput::Layers(l) => l.last().filter(|l| l.step_key.is_some()),
            VertexOutput::Dir { .. } => None,
        }
    }
}

struct State {
    done: Vec<Option<Done>>,
    waiting: Vec<usize>,
    ready: VecDeque<usize>,
    running: usize,
    remaining: usize,
    failed: Option<SolveError>,
    executed: Vec<VertexId>,
}

impl Solver<'_> {
    /// Run everything `target` needs and return every vertex's output.
    pub fn solve(&self, graph: &BuildGraph, target: VertexId) -> Result<Solved, SolveError> {
        let n = graph.len();
        let mut needed = vec![false; n];
        let mut stack = vec![target];
        while let Some(id) = stack.pop() {
            if id.0 >= n || needed[id.0] {
                continue;
            }
            needed[id.0] = true;
            if let Some(v) = graph.get(id) {
                stack.extend(v.inputs.iter().copied());
            }
        }
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut waiting = vec![0usize; n];
        let mut ready = VecDeque::new();
        for (id, v) in graph.vertices() {
            if !needed[id.0] {
                continue;
            }
            let mut inputs: Vec<usize> = v.inputs.iter().map(|i| i.0).collect();
            inputs.sort_unstable();
            inputs.dedup();
            waiting[id.0] = inputs.len();
            for i in inputs {
                dependents[i].push(id.0);
            }
            if waiting[id.0] == 0 {
                ready.push_back(id.0);
            }
        }
        let remaining = needed.iter().filter(|x| **x).count();
        let state = Mutex::new(State {
            done: vec![None; n],
            waiting,
            ready,
            running: 0,
            remaining,
            failed: None,
            executed: Vec::new(),
        });
        let wake = Condvar::new();
        let cancels: Mutex<Vec<CancelHandle>> = Mutex::new(Vec::new());
        let workers = self.options.max_parallelism.max(1).min(remaining.max(1));

        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let (index, inputs) = {
                            let Ok(mut st) = state.lock() else { return };
                            loop {
                                if st.failed.is_some() || st.remaining == 0 {
                                    return;
                                }
                                if let Some(i) = st.ready.pop_front() {
                                    st.running += 1;
                                    let inputs: Vec<Done> = graph
                                        .get(VertexId(i))
                                        .map(|v| {
                                            v.inputs
                                                .iter()
                                                .filter_map(|x| st.done[x.0].clone())
                                                .collect()
                                        })
                                        .unwrap_or_default();
                                    break (i, inputs);
                                }
                                let Ok(next) = wake.wait(st) else { return };
                                st = next;
                            }
                        };
                        let cancel = CancelHandle::new();
                        if let Ok(mut c) = cancels.lock() {
                            c.push(cancel.clone());
                        }
                        let result = self.run_vertex(graph, VertexId(index), &inputs, &cancel);
                        if let (Some(hook), Ok((done, _))) = (self.layer_hook, &result)
                            && let VertexOutput::Layers(layers) = &done.output
                            && let Some(own) = layers.last().filter(|l| l.step_key.is_some())
                        {
                            hook(VertexId(index), own);
                        }
                        let Ok(mut st) = state.lock() else { return };
                        st.running -= 1;
                        match result {
                            Ok((done, ran)) => {
                                st.done[index] = Some(done);
                                if ran {
                                    st.executed.push(VertexId(index));
                                }
                                st.remaining -= 1;
                                for &d in &dependents[index] {
                                    st.waiting[d] -= 1;
                                    if st.waiting[d] == 0 {
                                        st.ready.push_back(d);
                                    }
                                }
                            }
                            Err(e) => {
                                if st.failed.is_none() {
                                    st.failed = Some(e);
                                    if let Ok(c) = cancels.lock() {
                                        c.iter().for_each(CancelHandle::cancel);
                                    }
                                }
                            }
                        }
                        wake.notify_all();
                    }
                });
            }
        });

        let st = state
            .into_inner()
            .map_err(|_| SolveError::Internal("scheduler state poisoned".into()))?;
        // Also after a failure: what the steps that ran learned stays true.
        self.flush_memos();
        if let Some(e) = st.failed {
            return Err(e);
        }
        Ok(Solved {
            done: st.done,
            executed: st.executed,
        })
    }

    /// Run one vertex (or find it in the cache). Returns its result and
    /// whether it actually ran.
    fn run_vertex(
        &self,
        graph: &BuildGraph,
        id: VertexId,
        inputs: &[Done],
        cancel: &CancelHandle,
    ) -> Result<(Done, bool), SolveError> {
        let vertex = graph
            .get(id)
            .ok_or_else(|| SolveError::Internal(format!("no vertex {}", id.0)))?;
        let show = !vertex.meta.name.is_empty();
        let started = Instant::now();
        // A named source (FROM image, the context, a download) is a step too.
        let source = matches!(vertex.op, Op::Source(_));
        if show && source {
            (self.events)(Event::Started {
                id,
                name: vertex.meta.name.clone(),
            });
        }
        let result = match &vertex.op {
            Op::Source(src) => self.run_source(id, vertex, src).map(|d| (d, false)),
            Op::Exec(x) => self.run_exec(id, vertex, x, inputs, cancel),
            Op::File(f) => self.run_file(id, vertex, f, inputs),
            Op::Merge(_) => self.run_merge(id, vertex, inputs),
        };
        match &result {
            Err(SolveError::Cancelled) if show => (self.events)(Event::Canceled { id }),
            Err(SolveError::Cancelled) => {}
            Err(e) => (self.events)(Event::Failed {
                id,
                elapsed: started.elapsed(),
                error: e.to_string(),
            }),
            Ok(_) => {}
        }
        if let Ok((_, ran)) = &result
            && show
        {
            if *ran || source {
                (self.events)(Event::Done {
                    id,
                    elapsed: started.elapsed(),
                });
            } else if !matches!(vertex.op, Op::Source(_) | Op::Merge(_)) {
                (self.events)(Event::Cached {
                    id,
                    name: vertex.meta.name.clone(),
                });
            }
        }
        result
    }
}
