//! `--progress=tty`: a live panel on the terminal (indicatif). Each running
//! step has a spinner, its elapsed time and its last lines of output; image
//! downloads show a byte count. A step that ends leaves one permanent line
//! (`#5 [build 2/4] RUN make  DONE 1.2s`), so when the build ends the panel is
//! gone and the terminal holds the plain summary of every step, then the
//! summary line.

use std::collections::HashMap;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Blob, BlobKind, Counts, Render, Step, Stream, Summary};
use crate::commands::pull::human_size;

/// Output lines shown under a running step.
const SHOWN_LINES: usize = 4;

pub(crate) struct Tty {
    multi: MultiProgress,
    /// Running steps by number.
    bars: HashMap<usize, ProgressBar>,
    running: ProgressStyle,
    /// The download counter, while blobs are downloading.
    download: Option<ProgressBar>,
    /// Bytes written per blob being downloaded, and the blobs' sizes.
    blobs: HashMap<String, (u64, u64)>,
    downloaded: (usize, u64),
    width: usize,
}

impl Tty {
    pub(crate) fn new() -> Self {
        let width = rustix::termios::tcgetwinsize(std::io::stderr())
            .map(|w| usize::from(w.ws_col))
            .ok()
            .filter(|w| *w >= 20)
            .unwrap_or(80);
        let running =
            ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {elapsed:.dim}{msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
        Self {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)),
            bars: HashMap::new(),
            running,
            download: None,
            blobs: HashMap::new(),
            downloaded: (0, 0),
            width,
        }
    }

    /// A line that stays above the panel.
    fn println(&self, text: &str) {
        for l in text.split('\n') {
            let _ = self.multi.println(l);
        }
    }

    /// Replace a running step's bar by its permanent line.
    fn close(&mut self, step: &Step, outcome: &str) {
        if let Some(bar) = self.bars.remove(&step.number) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
        self.println(&format!("#{} {}  {outcome}", step.number, step.name));
    }

    /// The bar's message: the step's last lines of output (or `extra`).
    fn refresh(&self, step: &Step, extra: Option<&str>) {
        let Some(bar) = self.bars.get(&step.number) else {
            return;
        };
        let room = self.width.saturating_sub(8).max(10);
        let mut lines: Vec<&str> = step
            .tail
            .iter()
            .rev()
            .take(SHOWN_LINES)
            .map(String::as_str)
            .collect();
        lines.reverse();
        if let Some(e) = extra {
            lines.push(e);
        }
        let mut msg = String::new();
        for l in lines {
            msg.push_str("\n    │ ");
            msg.extend(l.chars().filter(|c| !c.is_control()).take(room));
        }
        bar.set_message(msg);
    }

    fn clear(&mut self) {
        for (_, bar) in self.bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.download.take() {
            bar.finish_and_clear();
        }
        let _ = self.multi.clear();
    }

    fn update_download(&mut self) {
        let (written, total) = self
            .blobs
            .values()
            .fold((0, 0), |(w, t), (bw, bt)| (w + bw, t + bt));
        if self.blobs.is_empty() {
            if let Some(bar) = self.download.take() {
                bar.finish_and_clear();
                self.multi.remove(&bar);
                let (n, bytes) = self.downloaded;
                self.println(&format!(
                    "downloaded {n} blob{}, {}",
                    if n == 1 { "" } else { "s" },
                    human_size(bytes)
                ));
            }
            return;
        }
        let bar = self.download.get_or_insert_with(|| {
            let bar = self.multi.add(ProgressBar::new(total));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner:.cyan} downloading {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec:.dim}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        bar.set_length(total.max(written));
        bar.set_position(written);
    }
}

impl Render for Tty {
    fn started(&mut self, step: &Step) {
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(self.running.clone());
        let name: String = format!("#{} {}", step.number, step.name)
            .chars()
            .take(self.width.saturating_sub(12).max(10))
            .collect();
        bar.set_prefix(name);
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.insert(step.number, bar);
    }

    fn cached(&mut self, step: &Step) {
        self.close(step, "CACHED");
    }

    fn done(&mut self, step: &Step, took: Duration) {
        self.close(step, &format!("DONE {}", super::seconds(took)));
    }

    fn failed(&mut self, step: &Step, _took: Option<Duration>, error: &str) {
        self.close(step, &format!("ERROR: {error}"));
    }

    fn canceled(&mut self, step: &Step) {
        self.close(step, "CANCELED");
    }

    fn log(&mut self, step: &Step, _stream: Stream, _offset: Duration, _line: &str) {
        self.refresh(step, None);
    }

    fn status(&mut self, step: Option<&Step>, text: &str) {
        match step {
            Some(step) if self.bars.contains_key(&step.number) => self.refresh(step, Some(text)),
            Some(step) => self.println(&format!("#{} {text}", step.number)),
            None => self.println(text),
        }
    }

    fn truncated(&mut self, step: &Step) {
        self.println(&format!(
            "#{} {}",
            step.number,
            super::plain::cut_notice(step)
        ));
    }

    fn explain(&mut self, step: &Step, reason: &str) {
        self.println(&format!("#{} cache miss: {reason}", step.number));
    }

    fn blob(&mut self, _step: Option<&Step>, blob: &Blob) {
        match blob.kind {
            BlobKind::Started => {
                self.blobs.insert(blob.digest.clone(), (0, blob.size));
            }
            BlobKind::Progress { written } => {
                if let Some(entry) = self.blobs.get_mut(&blob.digest) {
                    *entry = (written, blob.size.max(written));
                }
            }
            BlobKind::Downloaded => {
                if self.blobs.remove(&blob.digest).is_some() {
                    self.downloaded.0 += 1;
                    self.downloaded.1 += blob.size;
                }
            }
            BlobKind::Present => {
                self.blobs.remove(&blob.digest);
            }
        }
        self.update_download();
    }

    fn warning(&mut self, text: &str) {
        self.println(&format!("warning: {text}"));
    }

    fn summary(&mut self, summary: &Summary, counts: Counts, elapsed: Duration) {
        self.clear();
        eprintln!("{}", super::summary_line(summary, counts, elapsed));
    }

    fn failure(&mut self, failed: &[&Step], _error: &str) {
        self.clear();
        // Steps that printed nothing have nothing to add to their ERROR line.
        for step in failed.iter().filter(|s| !s.internal && !s.tail.is_empty()) {
            for l in super::plain::failure_block(step) {
                eprintln!("{l}");
            }
        }
    }

    fn finish(&mut self) {
        self.clear();
    }
}
