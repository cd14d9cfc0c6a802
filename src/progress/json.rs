//! `--progress=json`: one JSON object per line per event, for CI tools. The
//! format is documented, field by field, in `docs/progress-json.md`; it only
//! ever gains fields and event types (`"v"` changes if one is removed or
//! changes meaning).

use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::{Blob, BlobKind, Counts, LOG_LIMIT, Render, Step, Stream, Summary};
use crate::images::PullEvent;

/// The format's version, in every object as `"v"`.
pub const VERSION: u64 = 1;

/// JSON lines on a writer (stderr).
pub(crate) struct Json {
    out: Box<dyn Write + Send>,
    start: Instant,
}

impl Json {
    pub(crate) fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out,
            start: Instant::now(),
        }
    }

    /// Adds `v`, `time` and `elapsed` to `fields` and writes the line.
    fn emit(&mut self, kind: &str, mut fields: Value) {
        if let Value::Object(map) = &mut fields {
            map.insert("v".into(), json!(VERSION));
            map.insert("type".into(), json!(kind));
            map.insert("time".into(), json!(iso8601(SystemTime::now())));
            map.insert(
                "elapsed".into(),
                json!(round3(self.start.elapsed().as_secs_f64())),
            );
        }
        // One `write` per event: stderr is unbuffered.
        let mut line = fields.to_string();
        line.push('\n');
        let _ = self.out.write_all(line.as_bytes());
    }

    /// A step event: the step's identity plus `extra`.
    fn step(&mut self, kind: &str, step: &Step, extra: Value) {
        let mut fields = step_fields(step);
        if let (Value::Object(map), Value::Object(more)) = (&mut fields, extra) {
            map.extend(more);
        }
        self.emit(kind, fields);
    }
}

/// `step`, `name`, `vertex`, `internal`.
fn step_fields(step: &Step) -> Value {
    json!({
        "step": step.number,
        "name": step.name,
        "vertex": step.digest,
        "internal": step.internal,
    })
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn started_time(step: &Step) -> Option<String> {
    step.started.map(|(_, wall)| iso8601(wall))
}

/// RFC 3339 in UTC with milliseconds: `2026-12-07T09:02:53.123Z`.
pub fn iso8601(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = crate::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// The JSON object of a pull event (`strata pull --progress=json`), or `None`
/// for byte-count events, which would flood a log.
pub fn pull_event_json(event: &PullEvent<'_>) -> Option<Value> {
    let mut v = match *event {
        PullEvent::Resolved { reference, layers } => {
            json!({"type": "resolved", "reference": reference, "layers": layers})
        }
        PullEvent::BlobStarted { digest, size } => {
            json!({"type": "blob", "action": "download_started", "digest": digest, "size": size})
        }
        PullEvent::BlobDone {
            digest,
            size,
            present,
        } => json!({
            "type": "blob",
            "action": if present { "present" } else { "downloaded" },
            "digest": digest,
            "size": size,
        }),
        _ => return None,
    };
    if let Value::Object(map) = &mut v {
        map.insert("v".into(), json!(VERSION));
        map.insert("time".into(), json!(iso8601(SystemTime::now())));
    }
    Some(v)
}

impl Render for Json {
    fn started(&mut self, step: &Step) {
        let started = started_time(step);
        self.step("started", step, json!({"started": started}));
    }

    fn cached(&mut self, step: &Step) {
        self.step("cached", step, json!({}));
    }

    fn done(&mut self, step: &Step, took: Duration) {
        let started = started_time(step);
        self.step(
            "done",
            step,
            json!({
                "started": started,
                "completed": iso8601(SystemTime::now()),
                "duration": round3(took.as_secs_f64()),
            }),
        );
    }

    fn failed(&mut self, step: &Step, took: Option<Duration>, error: &str) {
        let started = started_time(step);
        self.step(
            "error",
            step,
            json!({
                "error": error,
                "started": started,
                "completed": iso8601(SystemTime::now()),
                "duration": took.map(|d| round3(d.as_secs_f64())),
            }),
        );
    }

    fn canceled(&mut self, step: &Step) {
        self.step("canceled", step, json!({}));
    }

    fn log(&mut self, step: &Step, stream: Stream, offset: Duration, line: &str) {
        // The hot path (one event per output line): written directly rather
        // than through a `Value`; the same fields as every step event.
        let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
        let text = format!(
            "{{\"v\":{VERSION},\"type\":\"log\",\"time\":\"{}\",\"elapsed\":{},\"step\":{},\"name\":{},\"vertex\":{},\"internal\":{},\"stream\":\"{}\",\"line\":{},\"offset\":{}}}\n",
            iso8601(SystemTime::now()),
            round3(self.start.elapsed().as_secs_f64()),
            step.number,
            quote(&step.name),
            step.digest
                .as_deref()
                .map_or_else(|| "null".to_owned(), quote),
            step.internal,
            stream.name(),
            quote(line),
            round3(offset.as_secs_f64()),
        );
        let _ = self.out.write_all(text.as_bytes());
    }

    fn status(&mut self, step: Option<&Step>, text: &str) {
        match step {
            Some(step) => self.step("status", step, json!({"text": text})),
            None => self.emit("status", json!({"step": null, "text": text})),
        }
    }

    fn truncated(&mut self, step: &Step) {
        self.step(
            "truncated",
            step,
            json!({
                "limit": LOG_LIMIT,
                "cut_bytes": step.cut_bytes,
                "cut_lines": step.cut_lines,
            }),
        );
    }

    fn explain(&mut self, step: &Step, reason: &str) {
        self.step("explain", step, json!({"reason": reason}));
    }

    fn blob(&mut self, step: Option<&Step>, blob: &Blob) {
        let action = match blob.kind {
            BlobKind::Started => "download_started",
            BlobKind::Downloaded => "downloaded",
            BlobKind::Present => "present",
            BlobKind::Progress { .. } => return,
        };
        self.emit(
            "blob",
            json!({
                "step": step.map(|s| s.number),
                "action": action,
                "digest": blob.digest,
                "size": blob.size,
            }),
        );
    }

    fn warning(&mut self, text: &str) {
        self.emit("warning", json!({"text": text}));
    }

    fn summary(&mut self, summary: &Summary, counts: Counts, elapsed: Duration) {
        self.emit(
            "summary",
            json!({
                "image": summary.image,
                "manifest": summary.manifest,
                "tags": summary.tags,
                "pushed": summary.pushed,
                "steps": counts.steps,
                "cached": counts.cached,
                "run": counts.run,
                "duration": round3(elapsed.as_secs_f64()),
            }),
        );
    }

    fn failure(&mut self, failed: &[&Step], error: &str) {
        let steps: Vec<usize> = failed.iter().map(|s| s.number).collect();
        self.emit("failure", json!({"error": error, "steps": steps}));
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(iso8601(t), "2023-11-14T22:13:20.123Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.000Z");
    }
}
