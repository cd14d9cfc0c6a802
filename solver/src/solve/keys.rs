//! Cache keys (DESIGN.md section 4) and the persistent context-hash memo.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::contenthash::{ContentHasher, HashMemo, Selection, StatKey};
use crate::graph::{Canonical, Encoder, Op};

use super::scheduler::VertexOutput;
use super::{SolveError, Solver};

/// The memo of context-file digests, loaded from the cache index once per
/// solve and written back in one transaction at the end; with it, the inputs
/// of the steps that ran (for `--explain-cache`), also written at the end.
#[derive(Default)]
pub(crate) struct Memo {
    known: Mutex<HashMap<Vec<u8>, [u8; 32]>>,
    new: Mutex<Vec<(Vec<u8>, [u8; 32])>>,
    inputs: Mutex<Vec<(String, Vec<u8>)>>,
    /// Step records hit by this solve, whose `last_used` is set at the end.
    touched: Mutex<Vec<[u8; 32]>>,
}

impl HashMemo for Memo {
    fn get(&self, key: &StatKey) -> Option<[u8; 32]> {
        self.known
            .lock()
            .ok()?
            .get(key.to_bytes().as_slice())
            .copied()
    }

    fn put(&self, key: StatKey, digest: [u8; 32]) {
        let k = key.to_bytes().to_vec();
        if let Ok(mut known) = self.known.lock() {
            known.insert(k.clone(), digest);
        }
        if let Ok(mut new) = self.new.lock() {
            new.push((k, digest));
        }
    }
}

impl Solver<'_> {
    fn memo(&self) -> &Memo {
        self.memo_cell.get_or_init(|| {
            let memo = Memo::default();
            match self.records.memos() {
                Ok(all) => {
                    if let Ok(mut known) = memo.known.lock() {
                        *known = all;
                    }
                }
                Err(e) => tracing::warn!("reading the context-hash memo: {e}"),
            }
            memo
        })
    }

    pub(crate) fn flush_memos(&self) {
        let Some(memo) = self.memo_cell.get() else {
            return;
        };
        if let Ok(mut new) = memo.new.lock() {
            if let Err(e) = self.records.put_memos(&new) {
                tracing::warn!("saving the context-hash memo: {e}");
            }
            new.clear();
        }
        if let Ok(mut touched) = memo.touched.lock() {
            if let Err(e) = self.records.touch_steps(&touched, super::now_unix()) {
                tracing::warn!("recording cache hits: {e}");
            }
            touched.clear();
        }
        if let Ok(mut inputs) = memo.inputs.lock() {
            if let Err(e) = self.records.put_many_last_inputs(&inputs) {
                tracing::warn!("recording step inputs: {e}");
            }
            inputs.clear();
        }
    }

    /// Remember a cache hit on the step record `key`, saved with the memo at the end of
    /// the solve (one transaction), so `strata prune` knows what was used recently.
    pub(crate) fn touch(&self, key: &[u8; 32]) {
        if let Ok(mut touched) = self.memo().touched.lock() {
            touched.push(*key);
        }
    }

    /// The content digest of `selection` inside a directory.
    pub(crate) fn hash_selection(
        &self,
        root: &std::path::Path,
        selection: &Selection,
    ) -> Result<[u8; 32], SolveError> {
        let report = ContentHasher::new(self.memo())
            .hash(root, selection)
            .map_err(|e| SolveError::Internal(e.to_string()))?;
        Ok(report.digest)
    }

    /// The digest of the paths of a `Dir` output a step reads, with the
    /// directory's ignore patterns applied before hashing.
    pub(crate) fn hash_dir_selection(
        &self,
        output: &VertexOutput,
        sources: &[String],
        mut selection: Selection,
    ) -> Result<[u8; 32], SolveError> {
        match output {
            VertexOutput::Dir { path, exclude } => {
                selection.sources = sources.to_vec();
                selection.hidden = exclude.clone();
                self.hash_selection(path, &selection)
            }
            VertexOutput::Layers(_) => Err(SolveError::Internal(
                "hash_dir_selection on a layered output".into(),
            )),
        }
    }
}

/// A step's cache key: its op (without non-semantic fields, which the
/// canonical encoding leaves out) and one digest per input.
pub(crate) fn step_key(op: &Op, inputs: &[[u8; 32]]) -> [u8; 32] {
    let mut e = Encoder::new();
    // Bumped whenever what a step produces changes for the same op and inputs (v2:
    // octal --chmod keeps setuid/setgid/sticky, ADD --chown leaves archive owners),
    // so that records made by an older strata are never reused.
    e.tag("strata.cachekey/v2");
    op.encode(&mut e);
    e.u64("inputs", inputs.len() as u64);
    for k in inputs {
        e.bytes("input", k);
    }
    e.finish().0
}

/// One labelled input of a step's cache key, for `--explain-cache`.
pub(crate) struct KeyInput {
    pub(crate) label: String,
    pub(crate) digest: [u8; 32],
}

impl Solver<'_> {
    fn stable_name(vertex: &crate::graph::Vertex) -> String {
        let name = vertex.meta.name.as_str();
        let text = name.split_once("] ").map_or(name, |(_, t)| t);
        format!("{}\n{}", vertex.meta.stage.as_deref().unwrap_or(""), text)
    }

    /// After a cache miss: say which input differs from the last run of this step.
    pub(crate) fn explain_miss(
        &self,
        id: crate::graph::VertexId,
        vertex: &crate::graph::Vertex,
        inputs: &[KeyInput],
    ) {
        if !self.explain {
            return;
        }
        let op = super::hex(&step_key(&vertex.op, &[]));
        let reason = match self.records.last_inputs(&Self::stable_name(vertex)) {
            Ok(Some(bytes)) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(prev) if prev["op"].as_str() != Some(op.as_str()) => {
                    "the step's definition changed (its command, environment, build args or options)".to_string()
                }
                Ok(prev) => {
                    let old: Vec<(String, String)> = prev["inputs"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|x| Some((x[0].as_str()?.to_string(), x[1].as_str()?.to_string())))
                                .collect()
                        })
                        .unwrap_or_default();
                    let changed: Vec<&str> = inputs
                        .iter()
                        .filter(|i| {
                            let now = super::hex(&i.digest);
                            !old.iter().any(|(l, d)| *l == i.label && *d == now)
                        })
                        .map(|i| i.label.as_str())
                        .collect();
                    if changed.is_empty() {
                        "the same inputs as last time, but its result is no longer cached (pruned, or --no-cache)".to_string()
                    } else {
                        format!("changed input: {}", changed.join("; "))
                    }
                }
                Err(_) => "no usable record of an earlier run".to_string(),
            },
            Ok(None) => "no earlier run of this step (new or renamed instruction)".to_string(),
            Err(e) => format!("cache index unreadable: {e}"),
        };
        (self.events)(super::Event::Explain { id, reason });
    }

    /// Remember the inputs a step ran with, for the next `--explain-cache`.
    pub(crate) fn remember_inputs(&self, vertex: &crate::graph::Vertex, inputs: &[KeyInput]) {
        let value = serde_json::json!({
            "op": super::hex(&step_key(&vertex.op, &[])),
            "inputs": inputs.iter().map(|i| serde_json::json!([i.label, super::hex(&i.digest)])).collect::<Vec<_>>(),
        });
        // Written with the memo at the end of the solve: one commit, not one per step.
        if let Ok(mut pending) = self.memo().inputs.lock() {
            pending.push((Self::stable_name(vertex), value.to_string().into_bytes()));
        }
    }
}
