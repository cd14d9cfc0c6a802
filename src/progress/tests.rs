use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use solver::graph::VertexId;
use solver::solve::Event;

use super::*;

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn plain() -> (Progress, Buf) {
    let buf = Buf::default();
    let p = Progress::with_renderer(
        Display::Plain,
        Box::new(plain::Plain::new(Box::new(buf.clone()))),
    );
    (p, buf)
}

fn json() -> (Progress, Buf) {
    let buf = Buf::default();
    let p = Progress::with_renderer(
        Display::Json,
        Box::new(json::Json::new(Box::new(buf.clone()))),
    );
    (p, buf)
}

fn started(p: &Progress, id: usize, name: &str) {
    p.event(Event::Started {
        id: VertexId(id),
        name: name.into(),
    });
}

#[test]
fn plain_lines_number_steps_in_order_of_appearance() {
    let (p, buf) = plain();
    p.internal("[internal] load build definition from Dockerfile", |s| {
        s.status("transferring dockerfile: 42B done");
        Ok::<_, String>(())
    })
    .unwrap();
    started(&p, 7, "[2/3] RUN echo hi");
    p.event(Event::Log {
        id: VertexId(7),
        stderr: false,
        line: "hi\n".into(),
    });
    p.event(Event::Cached {
        id: VertexId(3),
        name: "[3/3] COPY a b".into(),
    });
    p.event(Event::Done {
        id: VertexId(7),
        elapsed: Duration::from_millis(1234),
    });
    p.event(Event::Failed {
        id: VertexId(9),
        elapsed: Duration::from_millis(10),
        error: "exit code: 2".into(),
    });
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "#1 [internal] load build definition from Dockerfile"
    );
    assert_eq!(lines[1], "#1 transferring dockerfile: 42B done");
    assert!(lines[2].starts_with("#1 DONE 0.0s"), "{text}");
    assert_eq!(lines[3], "#2 [2/3] RUN echo hi");
    let (num, rest) = lines[4].split_once(' ').unwrap();
    assert_eq!(num, "#2");
    let (stamp, out) = rest.split_once(' ').unwrap();
    assert!(stamp.parse::<f64>().is_ok(), "{text}");
    assert_eq!(out, "hi");
    assert_eq!(lines[5], "#3 [3/3] COPY a b");
    assert_eq!(lines[6], "#3 CACHED");
    assert_eq!(lines[7], "#2 DONE 1.2s");
    assert_eq!(lines[8], "#4 step 9");
    assert_eq!(lines[9], "#4 ERROR: exit code: 2");
    assert_eq!(
        p.lock().counts().steps,
        0,
        "no graph was set: nothing is counted"
    );
}

#[test]
fn output_past_the_limit_is_counted_and_reported() {
    let (p, buf) = plain();
    started(&p, 1, "[2/2] RUN yes");
    let line = "y".repeat(1023);
    // 1 KiB per line (with its newline): 2048 lines fill the limit, 10 more are cut.
    for _ in 0..2058 {
        p.event(Event::Log {
            id: VertexId(1),
            stderr: false,
            line: line.clone(),
        });
    }
    p.event(Event::Done {
        id: VertexId(1),
        elapsed: Duration::from_secs(1),
    });
    let text = buf.text();
    let shown = text.lines().filter(|l| l.ends_with(&line)).count();
    assert_eq!(shown, 2048);
    assert!(
        text.contains("#1 output truncated: 10.0 KiB in 10 lines past the 2.0 MiB limit"),
        "{}",
        &text[text.len() - 400..]
    );
    let notice = text
        .lines()
        .position(|l| l.contains("output truncated"))
        .unwrap();
    let done = text.lines().position(|l| l.starts_with("#1 DONE")).unwrap();
    assert!(notice < done);
}

#[test]
fn json_events_carry_the_documented_fields() {
    let (p, buf) = json();
    started(&p, 1, "[2/2] RUN echo hi");
    p.event(Event::Log {
        id: VertexId(1),
        stderr: true,
        line: "hi".into(),
    });
    p.event(Event::Done {
        id: VertexId(1),
        elapsed: Duration::from_millis(500),
    });
    p.summary(&Summary {
        image: "sha256:abc".into(),
        manifest: "sha256:def".into(),
        tags: vec!["app:1".into()],
        pushed: vec![],
    });
    let events: Vec<serde_json::Value> = buf
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["started", "log", "done", "summary"]);
    for e in &events {
        assert_eq!(e["v"], 1);
        assert!(e["time"].as_str().unwrap().ends_with('Z'));
        assert!(e["elapsed"].is_f64() || e["elapsed"].is_u64());
    }
    assert_eq!(events[0]["step"], 1);
    assert_eq!(events[0]["name"], "[2/2] RUN echo hi");
    assert_eq!(events[0]["internal"], false);
    assert_eq!(events[1]["stream"], "stderr");
    assert_eq!(events[1]["line"], "hi");
    assert_eq!(events[2]["duration"], 0.5);
    assert_eq!(events[3]["tags"][0], "app:1");
}

#[test]
fn a_dropped_display_reports_the_failure() {
    let (p, buf) = json();
    let step = p.start_internal("exporting to image");
    drop(step);
    drop(p);
    let last: serde_json::Value = serde_json::from_str(buf.text().lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "failure");
    assert_eq!(last["steps"][0], 1);
}
