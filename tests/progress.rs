//! End-to-end tests of the progress display of `strata build`: BuildKit's plain
//! format (uncached, cached, failing, multi-stage, internal steps, cut output), the
//! JSON events of `docs/progress-json.md`, and the live tty panel under a real
//! pseudo-terminal (util-linux `script`) with its fallbacks to plain. The builds use
//! the busybox base image of `tests/support_build`; they need root (namespaces,
//! overlayfs) and skip elsewhere with a message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod support_build;

#[path = "../registry-client/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{BaseImage, ImageFormat, Registry};
use support_build::{EPOCH, TestContext, strata_bin, write};

/// One parsed `#N ...` line of plain output.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    /// `#N NAME`: the step's first line.
    Header(usize, String),
    /// `#N 0.512 text`: output, with its offset in seconds.
    Output(usize, f64, String),
    /// `#N DONE 1.2s`.
    Done(usize, f64),
    /// `#N CACHED`.
    Cached(usize),
    /// `#N ERROR: message`.
    Error(usize, String),
    /// Any other `#N text` line of a known step (status lines).
    Status(usize, String),
    /// A line outside the steps (summary, failure report, error).
    Other(String),
}

/// Parses plain output; panics on a `#N` line that is not well-formed: an
/// unknown number, a second header, or a line after the step ended.
fn parse_plain(stderr: &str) -> Vec<Line> {
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    let mut ended: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    for line in stderr.lines() {
        let Some((num, rest)) = line
            .strip_prefix('#')
            .and_then(|l| l.split_once(' '))
            .and_then(|(n, rest)| Some((n.parse::<usize>().ok()?, rest)))
        else {
            out.push(Line::Other(line.to_string()));
            continue;
        };
        assert!(
            !ended.contains(&num),
            "line after #{num} ended: {line:?}\n{stderr}"
        );
        if !names.contains_key(&num) {
            assert_eq!(
                num,
                names.len() + 1,
                "steps are numbered in order: {line:?}\n{stderr}"
            );
            names.insert(num, rest.to_string());
            out.push(Line::Header(num, rest.to_string()));
            continue;
        }
        let parsed = if rest == "CACHED" {
            ended.insert(num);
            Line::Cached(num)
        } else if let Some(t) = rest.strip_prefix("DONE ") {
            ended.insert(num);
            let secs = t.strip_suffix('s').and_then(|s| s.parse().ok());
            Line::Done(num, secs.unwrap_or_else(|| panic!("bad DONE: {line:?}")))
        } else if let Some(e) = rest.strip_prefix("ERROR: ") {
            ended.insert(num);
            Line::Error(num, e.to_string())
        } else if let Some((stamp, text)) = rest.split_once(' ')
            && stamp.contains('.')
            && let Ok(t) = stamp.parse::<f64>()
        {
            Line::Output(num, t, text.to_string())
        } else {
            Line::Status(num, rest.to_string())
        };
        out.push(parsed);
    }
    out
}

/// The step number whose header contains `needle` (exactly one must).
fn step_of(lines: &[Line], needle: &str) -> usize {
    let found: Vec<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Header(n, name) if name.contains(needle) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(found.len(), 1, "one step named like {needle:?}: {lines:#?}");
    found[0]
}

fn outputs(lines: &[Line], step: usize) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| match l {
            Line::Output(n, _, t) if *n == step => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn summary_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("strata: built "))
        .unwrap_or_else(|| panic!("no summary line:\n{stderr}"))
        .to_string()
}

/// `text` without ANSI escape sequences (CSI: ESC [ params final-byte).
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if ('@'..='~').contains(&d) {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

#[test]
fn plain_uncached_build_then_cached_rebuild() {
    let t = ctx_or_skip!("plain_uncached_build_then_cached_rebuild");
    let dockerfile = "FROM busybox\n\
                      COPY greeting.txt /greeting.txt\n\
                      ENV WHO=world\n\
                      RUN echo \"hello $WHO\" && cat /greeting.txt >&2\n\
                      CMD [\"sh\"]\n";
    let run = t.build_ok(
        "ctx",
        dockerfile,
        &[("greeting.txt", "from the context\n")],
        "app:1",
    );
    let lines = parse_plain(&run.stderr);
    // Single stage: BuildKit leaves out the stage name; ENV and CMD are not steps.
    let from = step_of(
        &lines,
        "[1/3] FROM docker.io/library/busybox:latest@sha256:",
    );
    let copy = step_of(&lines, "[2/3] COPY greeting.txt /greeting.txt");
    let run_step = step_of(&lines, "[3/3] RUN echo \"hello $WHO\"");
    for n in [from, copy, run_step] {
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, Line::Done(m, _) if *m == n)),
            "#{n} DONE:\n{}",
            run.stderr
        );
    }
    assert_eq!(
        outputs(&lines, run_step),
        ["hello world", "from the context"],
        "{}",
        run.stderr
    );
    for l in &lines {
        if let Line::Output(_, t, _) = l {
            assert!(*t >= 0.0 && *t < 60.0, "offset relative to the step: {l:?}");
        }
    }
    let summary = summary_line(&run.stderr);
    assert!(
        summary.starts_with(&format!(
            "strata: built {} as app:1 (2 steps: 0 cached, 2 run) in ",
            run.image_id()
        )),
        "{summary}"
    );

    let again = t.build_ok(
        "ctx",
        dockerfile,
        &[("greeting.txt", "from the context\n")],
        "app:1",
    );
    let lines = parse_plain(&again.stderr);
    for needle in ["[2/3] COPY", "[3/3] RUN"] {
        let n = step_of(&lines, needle);
        assert!(
            lines.contains(&Line::Cached(n)),
            "#{n} CACHED:\n{}",
            again.stderr
        );
        assert!(
            outputs(&lines, n).is_empty(),
            "a cached step prints nothing"
        );
    }
    assert!(
        summary_line(&again.stderr).contains("(2 steps: 2 cached, 0 run)"),
        "{}",
        again.stderr
    );
}

#[test]
fn failing_step_reports_error_and_exits_non_zero() {
    let t = ctx_or_skip!("failing_step_reports_error_and_exits_non_zero");
    let ctx = t.context("ctx", &[]);
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo before the failure && exit 3\nRUN echo never\n",
    );
    let run = t.build(&ctx, &["-t", "broken:1"]).fails();
    assert_eq!(run.status.code(), Some(1));
    let lines = parse_plain(&run.stderr);
    let n = step_of(&lines, "[2/3] RUN echo before the failure && exit 3");
    assert_eq!(outputs(&lines, n), ["before the failure"]);
    let error = lines
        .iter()
        .find_map(|l| match l {
            Line::Error(m, e) if *m == n => Some(e.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no #{n} ERROR:\n{}", run.stderr));
    assert_eq!(
        error,
        "process \"/bin/sh -c echo before the failure && exit 3\" did not complete successfully: exit code: 3"
    );
    assert!(
        !lines
            .iter()
            .any(|l| matches!(l, Line::Header(_, h) if h.contains("RUN echo never"))),
        "the step after the failure never starts:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("strata: built"), "{}", run.stderr);
    // BuildKit's report of the failed step, then the error with the Dockerfile line.
    assert!(
        run.stderr.contains(
            " > [2/3] RUN echo before the failure && exit 3:\n   before the failure\n------"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("error: failed to solve: process"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "no image ID: {}", run.stdout);
}

#[test]
fn multi_stage_lines_interleave_and_stay_well_formed() {
    let t = ctx_or_skip!("multi_stage_lines_interleave_and_stay_well_formed");
    // Two independent stages printing at once, then a stage copying from both.
    let dockerfile = "FROM busybox AS left\n\
                      RUN for i in 1 2 3 4 5 6; do echo left-$i >&2; sleep 0.2; done; echo l > /l\n\
                      FROM busybox AS right\n\
                      RUN for i in 1 2 3 4 5 6; do echo right-$i; sleep 0.2; done; echo r > /r\n\
                      FROM busybox\n\
                      COPY --from=left /l /l\n\
                      COPY --from=right /r /r\n";
    let ctx = t.context("ctx", &[]);
    write(&ctx.join("Dockerfile"), dockerfile);
    let run = t
        .build(&ctx, &["-t", "multi:1", "--max-parallelism", "2"])
        .ok();
    let lines = parse_plain(&run.stderr);
    let left = step_of(&lines, "[left 2/2] RUN");
    let right = step_of(&lines, "[right 2/2] RUN");
    step_of(&lines, "[stage-2 2/3] COPY --from=left /l /l");
    step_of(&lines, "[stage-2 3/3] COPY --from=right /r /r");
    let expect = |side: &str| -> Vec<String> { (1..=6).map(|i| format!("{side}-{i}")).collect() };
    assert_eq!(outputs(&lines, left), expect("left"), "{}", run.stderr);
    assert_eq!(outputs(&lines, right), expect("right"), "{}", run.stderr);
    // The two steps ran at once: their output lines interleave.
    let order: Vec<usize> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Output(n, _, _) => Some(*n),
            _ => None,
        })
        .collect();
    let switches = order.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 2,
        "no interleaving ({order:?}):\n{}",
        run.stderr
    );
    // Every line is a step line, the summary, or the image ID on stdout.
    for l in &lines {
        if let Line::Other(text) = l {
            assert!(
                text.starts_with("strata: built "),
                "stray line {text:?}\n{}",
                run.stderr
            );
        }
    }
}

#[test]
fn internal_steps_are_numbered_and_timed() {
    let t = ctx_or_skip!("internal_steps_are_numbered_and_timed");
    let run = t.build_ok(
        "ctx",
        "FROM busybox\nCOPY f /f\nCOPY g /g\n",
        &[("f", "x"), ("g", "y"), (".dockerignore", "secret\n")],
        "internal:1",
    );
    let lines = parse_plain(&run.stderr);
    // Two COPYs read the context through two sources: BuildKit shows one step.
    let context_headers = lines
        .iter()
        .filter(|l| matches!(l, Line::Header(_, name) if name == "[internal] load build context"))
        .count();
    assert_eq!(context_headers, 1, "{}", run.stderr);
    for (needle, status) in [
        (
            "[internal] load build definition from Dockerfile",
            Some("transferring dockerfile: 33B done"),
        ),
        (
            "[internal] load .dockerignore",
            Some("transferring context: 1 patterns done"),
        ),
        (
            "[internal] load metadata for docker.io/library/busybox:latest",
            None,
        ),
        ("[internal] load build context", None),
        (
            "exporting to image",
            Some("naming to docker.io/library/internal:1 done"),
        ),
    ] {
        let n = step_of(&lines, needle);
        assert!(
            lines
                .iter()
                .any(|l| matches!(l, Line::Done(m, _) if *m == n)),
            "#{n} {needle} DONE:\n{}",
            run.stderr
        );
        if let Some(status) = status {
            assert!(
                lines.contains(&Line::Status(n, status.to_string())),
                "#{n} {status}:\n{}",
                run.stderr
            );
        }
    }
    // The definition is loaded first, the image exported last.
    assert_eq!(step_of(&lines, "[internal] load build definition"), 1);
    let export = step_of(&lines, "exporting to image");
    assert_eq!(
        export,
        lines
            .iter()
            .filter(|l| matches!(l, Line::Header(..)))
            .count()
    );
}

#[test]
fn output_past_the_limit_says_how_much_was_cut() {
    let t = ctx_or_skip!("output_past_the_limit_says_how_much_was_cut");
    let ctx = t.context("ctx", &[]);
    // 400000 lines, 2,688,895 bytes: more than the 2 MiB a step may show.
    write(&ctx.join("Dockerfile"), "FROM busybox\nRUN seq 1 400000\n");
    let run = t.build(&ctx, &["-t", "loud:1"]).ok();
    let lines = parse_plain(&run.stderr);
    let n = step_of(&lines, "RUN seq 1 400000");
    let shown = outputs(&lines, n);
    let shown_bytes: usize = shown.iter().map(|l| l.len() + 1).sum();
    assert!(shown_bytes <= 2 * 1024 * 1024, "{shown_bytes}");
    assert!(shown_bytes > 2 * 1024 * 1024 - 10, "{shown_bytes}");
    // Nothing is lost silently: the shown lines are the first ones, then a notice.
    assert_eq!(shown.first().map(String::as_str), Some("1"));
    assert_eq!(shown.last().cloned(), Some(shown.len().to_string()));
    let notice = lines
        .iter()
        .find_map(|l| match l {
            Line::Status(m, s) if *m == n && s.starts_with("output truncated: ") => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no notice:\n{}", &run.stderr[run.stderr.len() - 2000..]));
    let cut_lines = 400_000 - shown.len();
    let cut_bytes = 2_688_895 - shown_bytes; // `seq 1 400000 | wc -c`
    let expected_size = format!("{:.1} KiB", cut_bytes as f64 / 1024.0);
    assert_eq!(
        notice,
        format!(
            "output truncated: {expected_size} in {cut_lines} lines past the 2.0 MiB limit of a step were not shown"
        )
    );
}

/// `strata --root ROOT build ARGS... CTX` with `--progress` chosen by the caller.
fn command(t: &TestContext, ctx: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(strata_bin());
    cmd.arg("--root")
        .arg(t.root())
        .arg("build")
        .args(args)
        .arg(ctx)
        .env_remove("STRATA_ROOT")
        .env_remove("STRATA_LOG")
        .env_remove("NO_COLOR")
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .stdin(Stdio::null());
    cmd
}

fn json_events(stderr: &str) -> Vec<Value> {
    stderr
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{stderr}"))
        })
        .collect()
}

/// Asserts the fields `docs/progress-json.md` promises on every event and step event.
fn check_documented_fields(e: &Value) {
    assert_eq!(e["v"], 1, "{e}");
    assert!(e["type"].is_string(), "{e}");
    assert!(
        e["time"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z') && t.len() == 24),
        "{e}"
    );
    assert!(e["elapsed"].is_number(), "{e}");
    let step_event = matches!(
        e["type"].as_str().unwrap(),
        "started" | "cached" | "done" | "error" | "canceled" | "log" | "truncated" | "explain"
    );
    if step_event {
        assert!(e["step"].as_u64().is_some_and(|n| n >= 1), "{e}");
        assert!(e["name"].is_string(), "{e}");
        assert!(e["internal"].is_boolean(), "{e}");
        if e["internal"] == false {
            assert!(
                e["vertex"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
                "{e}"
            );
        } else {
            assert!(e["vertex"].is_null(), "{e}");
        }
    }
}

#[test]
fn json_events_parse_and_carry_the_documented_fields() {
    let t = ctx_or_skip!("json_events_parse_and_carry_the_documented_fields");
    let ctx = t.context("ctx", &[("f", "x")]);
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nCOPY f /f\nRUN echo out && echo err >&2\n",
    );
    let out = command(&t, &ctx, &["--progress=json", "-t", "json:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let events = json_events(&stderr);
    events.iter().for_each(check_documented_fields);
    let run = events
        .iter()
        .find(|e| e["type"] == "started" && e["name"].as_str().unwrap().contains("RUN echo out"))
        .unwrap_or_else(|| panic!("no started event of the RUN:\n{stderr}"));
    let n = &run["step"];
    let logs: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] == "log" && &e["step"] == n)
        .map(|e| (e["stream"].as_str().unwrap(), e["line"].as_str().unwrap()))
        .collect();
    assert_eq!(logs.len(), 2, "{stderr}");
    assert!(
        logs.contains(&("stdout", "out")) && logs.contains(&("stderr", "err")),
        "{logs:?}"
    );
    let done = events
        .iter()
        .find(|e| e["type"] == "done" && &e["step"] == n)
        .unwrap();
    assert!(done["duration"].as_f64().unwrap() >= 0.0);
    assert!(
        done["started"].is_string() && done["completed"].is_string(),
        "{done}"
    );
    assert_eq!(done["vertex"], run["vertex"]);
    let summary = events.last().unwrap();
    assert_eq!(summary["type"], "summary", "the last event: {summary}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(summary["image"], id.as_str());
    assert!(summary["manifest"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(summary["tags"], serde_json::json!(["json:1"]));
    assert_eq!(
        (summary["steps"].as_u64(), summary["run"].as_u64()),
        (Some(2), Some(2))
    );

    // A rebuild: cached events; a failure: error, then failure, then the plain error.
    let out = command(&t, &ctx, &["--progress=json", "-t", "json:1"])
        .output()
        .unwrap();
    let events = json_events(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(events.iter().filter(|e| e["type"] == "cached").count(), 2);
    write(&ctx.join("Dockerfile"), "FROM busybox\nRUN exit 7\n");
    let out = command(&t, &ctx, &["--progress=json"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let (json, rest): (Vec<&str>, Vec<&str>) = stderr.lines().partition(|l| l.starts_with('{'));
    assert!(rest[0].starts_with("error: failed to solve"), "{stderr}");
    let events = json_events(&json.join("\n"));
    events.iter().for_each(check_documented_fields);
    let error = events.iter().find(|e| e["type"] == "error").unwrap();
    assert!(
        error["error"].as_str().unwrap().ends_with("exit code: 7"),
        "{error}"
    );
    let failure = events.last().unwrap();
    assert_eq!(failure["type"], "failure");
    assert_eq!(failure["steps"], serde_json::json!([error["step"]]));
}

/// Runs `cmd` under a pseudo-terminal (util-linux `script`), returning what the
/// terminal received, or `None` when `script` is missing.
fn under_pty(cmd: &Command, env: &[(&str, &str)]) -> Option<(bool, String)> {
    let mut line = String::new();
    line.push_str(&shell_quote(cmd.get_program().to_str().unwrap()));
    for a in cmd.get_args() {
        line.push(' ');
        line.push_str(&shell_quote(a.to_str().unwrap()));
    }
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", &line, "/dev/null"]);
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    for (k, v) in env {
        script.env(k, v);
    }
    let out = match script.stdin(Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("SKIP: util-linux `script` cannot run: {e}");
            return None;
        }
    };
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn tty_panel_renders_and_ends_with_the_summary() {
    let t = ctx_or_skip!("tty_panel_renders_and_ends_with_the_summary");
    let ctx = t.context("ctx", &[]);
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done\n",
    );
    // `auto` is the default: on a terminal it is the panel.
    let cmd = command(&t, &ctx, &["-t", "tty:1"]);
    let Some((ok, screen)) = under_pty(&cmd, &[("TERM", "xterm-256color")]) else {
        return;
    };
    assert!(ok, "{screen}");
    // indicatif redraws with cursor movements and line clears.
    assert!(screen.contains("\x1b[2K"), "no redraws:\n{screen:?}");
    assert!(
        screen.contains("│ tick-"),
        "no output lines in the panel:\n{screen:?}"
    );
    // What stays: one line per step, then the summary.
    assert!(
        screen.contains("RUN for i in 1 2 3 4 5; do echo tick-$i; sleep 0.3; done  DONE "),
        "{screen:?}"
    );
    // The summary is the last line but stdout's image ID (indicatif pads lines to the
    // terminal's width instead of ending them, so split at the summary itself).
    let plain = strip_ansi(&screen);
    let at = plain
        .rfind("strata: built sha256:")
        .unwrap_or_else(|| panic!("no summary:\n{screen:?}"));
    let (summary, after) = plain[at..].split_once("\r\n").unwrap();
    assert!(
        summary.contains("as tty:1 (1 step: 0 cached, 1 run) in "),
        "{summary:?}"
    );
    assert!(
        after.trim().starts_with("sha256:") && !after.trim().contains('\n'),
        "{after:?}"
    );
    assert!(!plain[..at].contains("strata: built"), "one summary");
}

#[test]
fn no_color_and_dumb_terminals_get_plain_lines() {
    let t = ctx_or_skip!("no_color_and_dumb_terminals_get_plain_lines");
    let ctx = t.context("ctx", &[]);
    write(
        &ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo plain please\n",
    );
    for (i, env) in [
        [("TERM", "xterm"), ("NO_COLOR", "1")],
        [("TERM", "dumb"), ("NO_COLOR", "")],
    ]
    .iter()
    .enumerate()
    {
        let cmd = command(&t, &ctx, &["--progress=tty", "--no-cache", "-t", "plain:1"]);
        let Some((ok, screen)) = under_pty(&cmd, env) else {
            return;
        };
        assert!(ok, "{screen}");
        assert!(
            !screen.contains('\x1b'),
            "case {i}: escape codes:\n{screen:?}"
        );
        let text = screen.replace("\r\n", "\n");
        let lines = parse_plain(&text);
        let n = step_of(&lines, "[2/2] RUN echo plain please");
        assert_eq!(outputs(&lines, n), ["plain please"], "case {i}:\n{text}");
        assert!(summary_line(&text).contains("(1 step: 0 cached, 1 run)"));
    }
}

#[test]
fn pulls_and_pushes_are_steps_with_blob_lines_and_events() {
    let t = ctx_or_skip!("pulls_and_pushes_are_steps_with_blob_lines_and_events");
    let registry = Registry::start();
    let image = BaseImage::busybox();
    image.push(
        &registry.host(),
        "library/busybox:latest",
        None,
        ImageFormat::Oci,
    );
    let base = format!("{}/library/busybox", registry.host());
    let layer = image.images[0].layer_digests[0].clone();
    let ctx = t.context("ctx", &[]);
    write(
        &ctx.join("Dockerfile"),
        &format!("FROM {base}\nRUN echo pulled\n"),
    );
    let docker_config = tempfile::tempdir().unwrap();
    let tag = format!("{}/team/app:1", registry.host());

    // Plain: the pull's blobs under the metadata step, the push as a step, the summary.
    let out = command(&t, &ctx, &["--progress=plain", "-t", &tag, "--push"])
        .env("DOCKER_CONFIG", docker_config.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let lines = parse_plain(&stderr);
    let meta = step_of(
        &lines,
        &format!("[internal] load metadata for {base}:latest"),
    );
    let blob_line = lines.iter().any(|l| {
        matches!(l, Line::Status(n, s) if *n == meta && s.starts_with(&layer[..19]) && s.ends_with(" done"))
    });
    assert!(
        blob_line,
        "a line per downloaded blob under #{meta}:\n{stderr}"
    );
    let push = step_of(&lines, "pushing layers");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let pushed = lines
        .iter()
        .find_map(|l| match l {
            Line::Status(n, s) if *n == push => s.strip_prefix("pushed ").map(str::to_string),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no pushed line:\n{stderr}"));
    assert!(
        pushed.starts_with(&format!("{}/team/app@sha256:", registry.host())),
        "{pushed}"
    );
    assert!(
        lines
            .iter()
            .any(|l| matches!(l, Line::Done(n, _) if *n == push))
    );
    // One line per blob under the push step: the config uploaded, the base layer
    // mounted from the base image's repository (the RUN changed nothing: no layer).
    let blob_lines: Vec<&str> = lines
        .iter()
        .filter_map(|l| match l {
            Line::Status(n, s) if *n == push && s.starts_with("sha256:") => Some(s.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        blob_lines.len(),
        2,
        "a line per blob under #{push}:\n{stderr}"
    );
    assert!(
        blob_lines.iter().any(|s| s.ends_with(" done")),
        "no uploaded blob line under #{push}:\n{stderr}"
    );
    assert!(
        summary_line(&stderr).starts_with(&format!(
            "strata: built {id} as {tag}, pushed to {pushed} (1 step: 0 cached, 1 run) in "
        )),
        "{stderr}"
    );

    // `strata pull --progress=json` into a fresh root: blob, resolved and pulled events.
    let fresh = t.dir().join("fresh-root");
    let out = Command::new(strata_bin())
        .arg("--root")
        .arg(&fresh)
        .args(["pull", "--progress=json", &base])
        .env_remove("STRATA_ROOT")
        .env("DOCKER_CONFIG", docker_config.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let events = json_events(&stderr);
    for e in &events {
        assert_eq!(e["v"], 1, "{e}");
        assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    }
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "resolved" && e["layers"] == 1),
        "{stderr}"
    );
    assert!(
        events.iter().any(|e| e["type"] == "blob"
            && e["action"] == "downloaded"
            && e["digest"] == layer.as_str()),
        "{stderr}"
    );
    let pulled = events.last().unwrap();
    assert_eq!(pulled["type"], "pulled");
    assert_eq!(pulled["manifest"], image.images[0].manifest_digest.as_str());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        pulled["reference"].as_str().unwrap()
    );
}
