//! Rendering solver events: BuildKit-like plain lines, or JSON for CI tools.
//!
//! Every line goes to stderr; stdout carries only data (digests).

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Mutex;
use std::time::Instant;

use solver::graph::VertexId;
use solver::solve::Event;

use crate::cli::ProgressMode;

/// Numbers vertices in the order they first appear (`#1`, `#2`, ...) and prints events.
pub struct Progress {
    json: bool,
    start: Instant,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    numbers: HashMap<VertexId, usize>,
    next: usize,
}

impl Progress {
    /// A renderer for `mode` (tty falls back to plain lines for now).
    pub fn new(mode: ProgressMode) -> Self {
        Self {
            json: mode == ProgressMode::Json,
            start: Instant::now(),
            state: Mutex::new(State::default()),
        }
    }

    fn number(&self, id: VertexId) -> usize {
        let Ok(mut st) = self.state.lock() else {
            return 0;
        };
        if let Some(n) = st.numbers.get(&id) {
            return *n;
        }
        st.next += 1;
        let n = st.next;
        st.numbers.insert(id, n);
        n
    }

    /// Print one event.
    pub fn event(&self, event: Event) {
        let mut err = std::io::stderr().lock();
        if self.json {
            let value = match &event {
                Event::Started { id, name } => {
                    serde_json::json!({"event": "started", "vertex": id.0, "name": name})
                }
                Event::Cached { id, name } => {
                    serde_json::json!({"event": "cached", "vertex": id.0, "name": name})
                }
                Event::Done { id, elapsed } => {
                    serde_json::json!({"event": "done", "vertex": id.0, "seconds": elapsed.as_secs_f64()})
                }
                Event::Log { id, stderr, line } => {
                    serde_json::json!({"event": "log", "vertex": id.0, "stream": if *stderr { "stderr" } else { "stdout" }, "line": line})
                }
                Event::Explain { id, reason } => {
                    serde_json::json!({"event": "explain", "vertex": id.0, "reason": reason})
                }
            };
            let _ = writeln!(err, "{value}");
            return;
        }
        match event {
            Event::Started { id, name } => {
                let n = self.number(id);
                let _ = writeln!(err, "#{n} {name}");
            }
            Event::Cached { id, name } => {
                let n = self.number(id);
                let _ = writeln!(err, "#{n} {name}\n#{n} CACHED");
            }
            Event::Done { id, elapsed } => {
                let n = self.number(id);
                let _ = writeln!(err, "#{n} DONE {:.1}s", elapsed.as_secs_f64());
            }
            Event::Log { id, line, .. } => {
                let n = self.number(id);
                let t = self.start.elapsed().as_secs_f64();
                let _ = writeln!(err, "#{n} {t:.3} {line}");
            }
            Event::Explain { id, reason } => {
                let n = self.number(id);
                let _ = writeln!(err, "#{n} cache miss: {reason}");
            }
        }
    }

    /// A plain status line (`#N exporting ...`).
    pub fn status(&self, text: &str) {
        if self.json {
            let _ = writeln!(
                std::io::stderr(),
                "{}",
                serde_json::json!({"event": "status", "text": text})
            );
        } else {
            let _ = writeln!(std::io::stderr(), "{text}");
        }
    }
}
