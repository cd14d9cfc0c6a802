//! `--progress=plain`: BuildKit's line format, one line per event, every line of
//! a step prefixed with its number so that interleaved steps stay readable.
//!
//! ```text
//! #1 [internal] load build definition from Dockerfile
//! #1 transferring dockerfile: 87B done
//! #1 DONE 0.0s
//! #5 [build 2/3] RUN make
//! #5 0.512 cc -o app main.c
//! #5 DONE 1.2s
//! #6 [stage-1 2/2] COPY --from=build /app /app
//! #6 CACHED
//! #7 [build 3/3] RUN make test
//! #7 0.203 FAIL
//! #7 ERROR: process "/bin/sh -c make test" did not complete successfully: exit code: 2
//! ```

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use super::{Blob, BlobKind, Counts, LOG_LIMIT, Render, Step, Stream, Summary};
use crate::commands::pull::{human_size, short_digest};

/// Lines on a writer (stderr).
pub(crate) struct Plain {
    out: Box<dyn Write + Send>,
    /// Steps whose `#N NAME` line was printed.
    headed: HashSet<usize>,
}

impl Plain {
    pub(crate) fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            headed: HashSet::new(),
        }
    }

    /// One line in one `write` (stderr is unbuffered: a formatted write would
    /// cost a system call per piece).
    fn line(&mut self, text: &str) {
        let mut buf = String::with_capacity(text.len() + 1);
        buf.push_str(text);
        buf.push('\n');
        let _ = self.out.write_all(buf.as_bytes());
    }

    /// `#N text`, each line of a multi-line text prefixed.
    fn step_line(&mut self, step: &Step, text: &str) {
        self.head(step);
        for l in text.split('\n') {
            self.line(&format!("#{} {l}", step.number));
        }
    }

    fn head(&mut self, step: &Step) {
        if self.headed.insert(step.number) {
            self.line(&format!("#{} {}", step.number, step.name));
        }
    }
}

/// The notice of a step whose output went past the limit.
pub(crate) fn cut_notice(step: &Step) -> String {
    format!(
        "output truncated: {} in {} line{} past the {} limit of a step were not shown",
        super::binary_size(step.cut_bytes),
        step.cut_lines,
        if step.cut_lines == 1 { "" } else { "s" },
        super::binary_size(LOG_LIMIT)
    )
}

/// `sha256:abcd12345678 3.2 MB done`, or `None` for events plain mode skips.
pub(crate) fn blob_line(blob: &Blob) -> Option<String> {
    let what = match blob.kind {
        BlobKind::Downloaded => "done",
        BlobKind::Present => "already present",
        BlobKind::Started | BlobKind::Progress { .. } => return None,
    };
    Some(format!(
        "{} {} {what}",
        short_digest(&blob.digest),
        human_size(blob.size)
    ))
}

/// BuildKit's report of a failed step: its name and last lines of output.
pub(crate) fn failure_block(step: &Step) -> Vec<String> {
    let mut out = vec!["------".to_owned(), format!(" > {}:", step.name)];
    out.extend(step.tail.iter().map(|l| format!("   {l}")));
    out.push("------".to_owned());
    out
}

impl Render for Plain {
    fn started(&mut self, step: &Step) {
        self.head(step);
    }

    fn cached(&mut self, step: &Step) {
        self.step_line(step, "CACHED");
    }

    fn done(&mut self, step: &Step, took: Duration) {
        self.step_line(step, &format!("DONE {}", super::seconds(took)));
    }

    fn failed(&mut self, step: &Step, _took: Option<Duration>, error: &str) {
        self.step_line(step, &format!("ERROR: {error}"));
    }

    fn canceled(&mut self, step: &Step) {
        self.step_line(step, "CANCELED");
    }

    fn log(&mut self, step: &Step, _stream: Stream, offset: Duration, line: &str) {
        self.head(step);
        self.line(&format!(
            "#{} {:.3} {line}",
            step.number,
            offset.as_secs_f64()
        ));
    }

    fn status(&mut self, step: Option<&Step>, text: &str) {
        match step {
            Some(step) => self.step_line(step, text),
            None => self.line(text),
        }
    }

    fn truncated(&mut self, step: &Step) {
        self.step_line(step, &cut_notice(step));
    }

    fn explain(&mut self, step: &Step, reason: &str) {
        self.step_line(step, &format!("cache miss: {reason}"));
    }

    fn blob(&mut self, step: Option<&Step>, blob: &Blob) {
        if let Some(text) = blob_line(blob) {
            self.status(step, &text);
        }
    }

    fn warning(&mut self, text: &str) {
        self.line(&format!("warning: {text}"));
    }

    fn summary(&mut self, summary: &Summary, counts: Counts, elapsed: Duration) {
        self.line(&super::summary_line(summary, counts, elapsed));
    }

    fn failure(&mut self, failed: &[&Step], _error: &str) {
        // Steps that printed nothing have nothing to add to their ERROR line.
        for step in failed.iter().filter(|s| !s.internal && !s.tail.is_empty()) {
            for l in failure_block(step) {
                self.line(&l);
            }
        }
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}
