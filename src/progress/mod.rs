//! Build progress: one stream of events, rendered as a live panel (`tty`),
//! BuildKit-like lines (`plain`) or JSON lines (`json`) on stderr.
//!
//! Vocabulary: a *step* is anything the user sees numbered `#N`: a vertex of the
//! build graph (reported by the solver through [`Event`]s) or an *internal* step
//! that the CLI itself performs (`[internal] load build definition from
//! Dockerfile`, `exporting to image`, ...; see [`Progress::internal`]). Steps are
//! numbered in the order they first appear. Every step ends exactly once: cached,
//! done, error or canceled.
//!
//! Lifecycle of a build's display:
//!
//! ```text
//! Progress::new(mode)            picks the renderer (tty degrades to plain)
//!   internal("[internal] load build definition from Dockerfile", ..)
//!   set_graph(&graph)            vertex digests and names for the events
//!   event(Event::Started{..}) / Log / Done / Failed ...   from solver threads
//!   internal("exporting to image", ..)
//!   summary(&Summary)            `strata: built sha256:... as app:1 (...) in 4.2s`
//! drop                           the tty panel is cleared
//! ```
//!
//! A step's output is limited to [`LOG_LIMIT`] bytes; past it lines are counted,
//! not shown, and the step ends with a line saying how much was cut, so output
//! is never lost silently.

mod json;
mod metadata;
mod plain;
mod tty;

use std::collections::{HashMap, VecDeque};
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use solver::graph::{BuildGraph, Op, VertexId};
use solver::solve::Event;

use crate::cli::ProgressMode;
use crate::images::{PullEvent, PullProgress};

pub use json::{VERSION as JSON_VERSION, iso8601, pull_event_json};
pub use metadata::MetadataSteps;

/// Bytes of output shown per step; BuildKit also caps a step's log. Past it
/// the rest is counted and reported when the step ends.
pub const LOG_LIMIT: u64 = 2 * 1024 * 1024;

/// Lines of a step's output kept for the tty panel and the error report.
const TAIL_LINES: usize = 10;

/// Characters of one line kept in the tail.
const TAIL_WIDTH: usize = 512;

/// The renderer in use, after `--progress` met the terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// A live panel (indicatif).
    Tty,
    /// BuildKit-like lines.
    Plain,
    /// One JSON object per line.
    Json,
    /// Nothing (errors are still printed by `main`).
    Quiet,
}

impl Display {
    /// `auto` and `tty` give the live panel only where it can work: stderr is a
    /// terminal, `TERM` is not `dumb` and `NO_COLOR` is not set; else plain lines.
    pub fn choose(mode: ProgressMode) -> Self {
        match mode {
            ProgressMode::Auto | ProgressMode::Tty => {
                if terminal_can_draw() {
                    Display::Tty
                } else {
                    Display::Plain
                }
            }
            ProgressMode::Plain => Display::Plain,
            ProgressMode::Json => Display::Json,
            ProgressMode::Quiet => Display::Quiet,
        }
    }
}

/// Whether stderr is a terminal that a live display may redraw.
pub fn terminal_can_draw() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    std::io::stderr().is_terminal() && !no_color && !dumb
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Where a step is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Waiting,
    Running,
    Cached,
    Done,
    Failed,
    Canceled,
}

/// One numbered step, as the renderers see it.
#[derive(Debug)]
pub(crate) struct Step {
    /// `#N`.
    pub(crate) number: usize,
    /// `[build 2/4] RUN make`, `exporting to image`.
    pub(crate) name: String,
    /// The vertex's definition digest; `None` for internal steps.
    pub(crate) digest: Option<String>,
    /// Done by the CLI, not a vertex.
    pub(crate) internal: bool,
    /// A Dockerfile instruction that can be cached (counted in the summary).
    pub(crate) counted: bool,
    /// When it started running.
    pub(crate) started: Option<(Instant, SystemTime)>,
    pub(crate) state: State,
    /// Output bytes seen, shown or not.
    pub(crate) log_bytes: u64,
    /// Output past [`LOG_LIMIT`]: bytes and lines not shown.
    pub(crate) cut_bytes: u64,
    pub(crate) cut_lines: u64,
    /// The last lines of output.
    pub(crate) tail: VecDeque<String>,
    /// The error, for a failed step.
    pub(crate) error: Option<String>,
}

impl Step {
    /// Seconds since the step started (or 0).
    pub(crate) fn offset(&self, now: Instant) -> Duration {
        self.started
            .map(|(i, _)| now.saturating_duration_since(i))
            .unwrap_or_default()
    }
}

/// What the renderers implement; called with the progress lock held, so
/// calls are ordered and never concurrent.
pub(crate) trait Render: Send {
    fn started(&mut self, step: &Step);
    fn cached(&mut self, step: &Step);
    fn done(&mut self, step: &Step, took: Duration);
    fn failed(&mut self, step: &Step, took: Option<Duration>, error: &str);
    fn canceled(&mut self, step: &Step);
    fn log(&mut self, step: &Step, stream: Stream, offset: Duration, line: &str);
    /// A line about a step that is not its output (`writing image sha256:...`).
    fn status(&mut self, step: Option<&Step>, text: &str);
    /// The step's output went past [`LOG_LIMIT`].
    fn truncated(&mut self, step: &Step);
    fn explain(&mut self, step: &Step, reason: &str);
    fn blob(&mut self, step: Option<&Step>, blob: &Blob);
    fn warning(&mut self, text: &str);
    fn summary(&mut self, summary: &Summary, counts: Counts, elapsed: Duration);
    /// The build failed with `error`: report the failed steps with their last
    /// output.
    fn failure(&mut self, failed: &[&Step], error: &str);
    /// Leave the terminal clean.
    fn finish(&mut self);
}

/// A registry blob moved (pull) during the build.
#[derive(Debug, Clone)]
pub(crate) struct Blob {
    pub(crate) digest: String,
    pub(crate) size: u64,
    pub(crate) kind: BlobKind,
}

/// What happened to a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlobKind {
    /// A download started.
    Started,
    /// Bytes arrived (`written` so far).
    Progress { written: u64 },
    /// Downloaded.
    Downloaded,
    /// Already in the store.
    Present,
}

/// The last line of a successful build.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The image ID (config digest).
    pub image: String,
    /// The manifest digest.
    pub manifest: String,
    /// `-t` names.
    pub tags: Vec<String>,
    /// `registry/repo@sha256:...` of each pushed tag.
    pub pushed: Vec<String>,
}

/// Step counts for the summary: instructions, of which cached and run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub(crate) steps: usize,
    pub(crate) cached: usize,
    pub(crate) run: usize,
}

/// What the solver's graph says about a vertex.
#[derive(Debug, Clone)]
struct VertexInfo {
    digest: String,
    name: String,
    counted: bool,
}

struct Inner {
    steps: Vec<Step>,
    by_vertex: HashMap<VertexId, usize>,
    vertices: HashMap<VertexId, VertexInfo>,
    /// The internal step that pull events belong to.
    pull_step: Option<usize>,
    render: Box<dyn Render>,
    finished: bool,
}

/// The progress display of one command; shared by the solver's threads.
pub struct Progress {
    display: Display,
    start: Instant,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("display", &self.display)
            .finish_non_exhaustive()
    }
}

impl Progress {
    /// A display for `--progress=mode` on this process's stderr.
    pub fn new(mode: ProgressMode) -> Self {
        Self::with_display(Display::choose(mode))
    }

    /// A display of a chosen kind.
    pub fn with_display(display: Display) -> Self {
        let render: Box<dyn Render> = match display {
            Display::Tty => Box::new(tty::Tty::new()),
            Display::Plain => Box::new(plain::Plain::new(Box::new(std::io::stderr()))),
            Display::Json => Box::new(json::Json::new(Box::new(std::io::stderr()))),
            Display::Quiet => Box::new(Quiet),
        };
        Self::with_renderer(display, render)
    }

    fn with_renderer(display: Display, render: Box<dyn Render>) -> Self {
        Self {
            display,
            start: Instant::now(),
            inner: Mutex::new(Inner {
                steps: Vec::new(),
                by_vertex: HashMap::new(),
                vertices: HashMap::new(),
                pull_step: None,
                render,
                finished: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A renderer that panicked leaves consistent data: keep going.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Learn the digests and names of the graph's vertices, so events (which
    /// carry ids) can be reported with them.
    pub fn set_graph(&self, graph: &BuildGraph) {
        let mut inner = self.lock();
        for (id, v) in graph.vertices() {
            inner.vertices.insert(
                id,
                VertexInfo {
                    digest: v.digest.to_string(),
                    name: v.meta.name.clone(),
                    counted: !matches!(v.op, Op::Source(_)),
                },
            );
        }
    }

    /// Handle one solver event (called from solver threads).
    pub fn event(&self, event: Event) {
        let now = Instant::now();
        let mut inner = self.lock();
        let inner = &mut *inner;
        match event {
            Event::Started { id, name } => {
                let i = inner.vertex_step(id, &name);
                let step = &mut inner.steps[i];
                if step.state != State::Waiting {
                    return;
                }
                step.state = State::Running;
                step.started = Some((now, SystemTime::now()));
                inner.render.started(&inner.steps[i]);
            }
            Event::Cached { id, name } => {
                let i = inner.vertex_step(id, &name);
                inner.steps[i].state = State::Cached;
                inner.render.cached(&inner.steps[i]);
            }
            Event::Done { id, elapsed } => {
                let i = inner.vertex_step(id, "");
                inner.end(i, State::Done, Some(elapsed), None);
            }
            Event::Failed { id, elapsed, error } => {
                let i = inner.vertex_step(id, "");
                inner.end(i, State::Failed, Some(elapsed), Some(error));
            }
            Event::Canceled { id } => {
                let i = inner.vertex_step(id, "");
                inner.end(i, State::Canceled, None, None);
            }
            Event::Log { id, stderr, line } => {
                let i = inner.vertex_step(id, "");
                let stream = if stderr {
                    Stream::Stderr
                } else {
                    Stream::Stdout
                };
                inner.log(i, stream, &line, now);
            }
            Event::Explain { id, reason } => {
                let i = inner.vertex_step(id, "");
                inner.render.explain(&inner.steps[i], &reason);
            }
        }
    }

    /// Run `work` as the internal step `name`: numbered, timed, and ended with
    /// DONE or with ERROR and the error's message.
    pub fn internal<T, E: std::fmt::Display>(
        &self,
        name: &str,
        work: impl FnOnce(&StepHandle<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let handle = self.start_internal(name);
        match work(&handle) {
            Ok(v) => {
                handle.done();
                Ok(v)
            }
            Err(e) => {
                handle.fail(&format!("{e:#}"));
                Err(e)
            }
        }
    }

    /// Start an internal step; end it with [`StepHandle::done`] or
    /// [`StepHandle::fail`]. Dropped unended, it ends with an error: that is an
    /// early return on the error path.
    pub fn start_internal(&self, name: &str) -> StepHandle<'_> {
        let now = Instant::now();
        let mut inner = self.lock();
        let number = inner.steps.len() + 1;
        inner.steps.push(Step {
            number,
            name: name.to_owned(),
            digest: None,
            internal: true,
            counted: false,
            started: Some((now, SystemTime::now())),
            state: State::Running,
            log_bytes: 0,
            cut_bytes: 0,
            cut_lines: 0,
            tail: VecDeque::new(),
            error: None,
        });
        let index = number - 1;
        let inner = &mut *inner;
        inner.render.started(&inner.steps[index]);
        StepHandle {
            progress: self,
            index,
            ended: std::cell::Cell::new(false),
        }
    }

    /// A warning (lowering warnings, deprecated syntax).
    pub fn warning(&self, text: &str) {
        let mut inner = self.lock();
        inner.render.warning(text);
    }

    /// The build succeeded: print the summary line and close the display.
    pub fn summary(&self, summary: &Summary) {
        let elapsed = self.start.elapsed();
        let mut inner = self.lock();
        let counts = inner.counts();
        inner.render.summary(summary, counts, elapsed);
        inner.finish();
    }

    /// Close the display without a summary (nothing was built: `--print`).
    pub fn close(&self) {
        self.lock().finish();
    }

    /// A [`PullProgress`] that reports image downloads in this display, under
    /// the internal step that is running when they happen.
    pub fn pull_progress(self: &Arc<Self>) -> Arc<dyn PullProgress> {
        Arc::new(PullAdapter(Arc::clone(self)))
    }

    fn pull_event(&self, event: PullEvent<'_>) {
        let blob = match event {
            PullEvent::BlobStarted { digest, size } => Blob {
                digest: digest.to_owned(),
                size,
                kind: BlobKind::Started,
            },
            PullEvent::BlobProgress {
                digest,
                written,
                size,
            } => Blob {
                digest: digest.to_owned(),
                size,
                kind: BlobKind::Progress { written },
            },
            PullEvent::BlobDone {
                digest,
                size,
                present,
            } => Blob {
                digest: digest.to_owned(),
                size,
                kind: if present {
                    BlobKind::Present
                } else {
                    BlobKind::Downloaded
                },
            },
            PullEvent::Resolved { reference, layers } => {
                let mut inner = self.lock();
                let inner = &mut *inner;
                let step = inner.pull_step.and_then(|i| inner.steps.get(i));
                let text = format!("resolve {reference} ({layers} layers)");
                inner.render.status(step, &text);
                return;
            }
        };
        let mut inner = self.lock();
        let inner = &mut *inner;
        let step = inner.pull_step.and_then(|i| inner.steps.get(i));
        inner.render.blob(step, &blob);
    }
}

impl Drop for Progress {
    /// A display dropped without [`Progress::summary`] or [`Progress::close`]
    /// belongs to a command that is returning an error: report the failure.
    fn drop(&mut self) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if inner.finished {
            return;
        }
        let failed: Vec<&Step> = inner
            .steps
            .iter()
            .filter(|s| s.state == State::Failed)
            .collect();
        let error = failed
            .iter()
            .find(|s| !s.internal)
            .or(failed.first())
            .and_then(|s| s.error.clone())
            .unwrap_or_else(|| "the build failed".to_owned());
        inner.render.failure(&failed, &error);
        inner.finish();
    }
}

/// The progress name of the build context's sources.
const CONTEXT_STEP: &str = "[internal] load build context";

impl Inner {
    fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for s in self.steps.iter().filter(|s| s.counted) {
            match s.state {
                State::Cached => c.cached += 1,
                State::Done => c.run += 1,
                _ => {}
            }
            c.steps += 1;
        }
        c
    }

    /// The step of a vertex, numbered now if new.
    fn vertex_step(&mut self, id: VertexId, name: &str) -> usize {
        if let Some(&i) = self.by_vertex.get(&id) {
            return i;
        }
        let info = self.vertices.get(&id);
        let name = if name.is_empty() {
            info.map(|v| v.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| format!("step {}", id.0))
        } else {
            name.to_owned()
        };
        // The context is read by one source per COPY (each keyed by its own paths);
        // BuildKit shows one step for it, and so do we.
        if name == CONTEXT_STEP
            && let Some(i) = self.steps.iter().position(|s| s.name == CONTEXT_STEP)
        {
            self.by_vertex.insert(id, i);
            return i;
        }
        let number = self.steps.len() + 1;
        self.steps.push(Step {
            number,
            name,
            digest: info.map(|v| v.digest.clone()),
            internal: false,
            counted: info.is_some_and(|v| v.counted),
            started: None,
            state: State::Waiting,
            log_bytes: 0,
            cut_bytes: 0,
            cut_lines: 0,
            tail: VecDeque::new(),
            error: None,
        });
        self.by_vertex.insert(id, number - 1);
        number - 1
    }

    fn log(&mut self, i: usize, stream: Stream, line: &str, now: Instant) {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        let step = &mut self.steps[i];
        step.log_bytes += line.len() as u64 + 1;
        if step.tail.len() == TAIL_LINES {
            step.tail.pop_front();
        }
        step.tail.push_back(clip(line, TAIL_WIDTH).to_owned());
        if step.log_bytes > LOG_LIMIT {
            let first = step.cut_bytes == 0;
            step.cut_bytes += line.len() as u64 + 1;
            step.cut_lines += 1;
            if first {
                let text = format!(
                    "output past {} MiB: the rest of this step's output is not shown",
                    LOG_LIMIT / (1024 * 1024)
                );
                self.render.status(Some(&self.steps[i]), &text);
            }
            return;
        }
        let offset = step.offset(now);
        self.render.log(&self.steps[i], stream, offset, line);
    }

    fn end(&mut self, i: usize, state: State, took: Option<Duration>, error: Option<String>) {
        let step = &mut self.steps[i];
        if matches!(
            step.state,
            State::Done | State::Failed | State::Canceled | State::Cached
        ) {
            return;
        }
        step.state = state;
        step.error = error.clone();
        if step.cut_bytes > 0 {
            self.render.truncated(&self.steps[i]);
        }
        let step = &self.steps[i];
        match state {
            State::Done => self.render.done(step, took.unwrap_or_default()),
            State::Failed => self
                .render
                .failed(step, took, error.as_deref().unwrap_or("failed")),
            _ => self.render.canceled(step),
        }
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.render.finish();
        }
    }
}

/// An internal step in progress.
pub struct StepHandle<'p> {
    progress: &'p Progress,
    index: usize,
    ended: std::cell::Cell<bool>,
}

impl StepHandle<'_> {
    /// A line about what the step is doing (`writing image sha256:... done`).
    pub fn status(&self, text: &str) {
        let mut inner = self.progress.lock();
        let inner = &mut *inner;
        inner.render.status(inner.steps.get(self.index), text);
    }

    /// Report image downloads under this step while `work` runs.
    pub fn pulls<T>(&self, work: impl FnOnce() -> T) -> T {
        let previous = self.progress.lock().pull_step.replace(self.index);
        let out = work();
        self.progress.lock().pull_step = previous;
        out
    }

    /// The step finished.
    pub fn done(&self) {
        self.end(None);
    }

    /// The step failed with `error`.
    pub fn fail(&self, error: &str) {
        self.end(Some(error));
    }

    fn end(&self, error: Option<&str>) {
        if self.ended.replace(true) {
            return;
        }
        let now = Instant::now();
        let mut inner = self.progress.lock();
        let took = inner.steps[self.index].offset(now);
        let state = if error.is_some() {
            State::Failed
        } else {
            State::Done
        };
        inner.end(self.index, state, Some(took), error.map(str::to_owned));
    }
}

impl Drop for StepHandle<'_> {
    fn drop(&mut self) {
        self.end(Some("did not complete: see the error below"));
    }
}

/// Pull events into the build's display.
struct PullAdapter(Arc<Progress>);

impl PullProgress for PullAdapter {
    fn event(&self, event: PullEvent<'_>) {
        self.0.pull_event(event);
    }
}

/// `--progress=quiet`.
struct Quiet;

impl Render for Quiet {
    fn started(&mut self, _: &Step) {}
    fn cached(&mut self, _: &Step) {}
    fn done(&mut self, _: &Step, _: Duration) {}
    fn failed(&mut self, _: &Step, _: Option<Duration>, _: &str) {}
    fn canceled(&mut self, _: &Step) {}
    fn log(&mut self, _: &Step, _: Stream, _: Duration, _: &str) {}
    fn status(&mut self, _: Option<&Step>, _: &str) {}
    fn truncated(&mut self, _: &Step) {}
    fn explain(&mut self, _: &Step, _: &str) {}
    fn blob(&mut self, _: Option<&Step>, _: &Blob) {}
    fn warning(&mut self, _: &str) {}
    fn summary(&mut self, _: &Summary, _: Counts, _: Duration) {}
    fn failure(&mut self, _: &[&Step], _: &str) {}
    fn finish(&mut self) {}
}

/// At most `max` bytes of `s`, cut at a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `1.2s`, as BuildKit prints durations.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// The summary line: `strata: built sha256:... as app:1 (12 steps: 9 cached, 3 run) in 4.2s`.
pub(crate) fn summary_line(s: &Summary, counts: Counts, elapsed: Duration) -> String {
    let mut out = format!("strata: built {}", s.image);
    if !s.tags.is_empty() {
        out.push_str(" as ");
        out.push_str(&s.tags.join(", "));
    }
    if !s.pushed.is_empty() {
        out.push_str(", pushed to ");
        out.push_str(&s.pushed.join(", "));
    }
    out.push_str(&format!(
        " ({} step{}: {} cached, {} run) in {}",
        counts.steps,
        if counts.steps == 1 { "" } else { "s" },
        counts.cached,
        counts.run,
        seconds(elapsed)
    ));
    out
}

/// Bytes in binary units (`2.0 MiB`), for cut-output notices.
pub(crate) fn binary_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests;
