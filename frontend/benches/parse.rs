//! Parsing and lowering a large multi-stage Dockerfile (DESIGN.md section 11).
//!
//! The Dockerfile is generated: 60 stages, each with ARG, ENV, WORKDIR, LABEL,
//! COPY, a RUN with a cache mount, a heredoc RUN and a `COPY --from` of the
//! previous stage, and a final stage that copies from every one of them, so
//! lowering reaches all stages. Base images come from an in-memory resolver.
//!
//! Run with `cargo bench -p frontend --bench parse`.
// Setup failures panic, as in tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use frontend::lower::{ImageResolver, LowerOptions, ResolvedImage, lower, lower_text};
use frontend::parser::parse;
use frontend::{ImageSpec, Platform};

const STAGES: usize = 60;

/// Answers every reference with the same small busybox-like config.
struct Busybox(ImageSpec);

impl Busybox {
    fn new() -> Self {
        let spec = r#"{"architecture":"amd64","os":"linux",
            "config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd":["sh"]}}"#;
        Self(serde_json::from_str(spec).expect("valid image config"))
    }
}

impl ImageResolver for Busybox {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        Ok(ResolvedImage {
            reference: format!("docker.io/library/{reference}@sha256:{}", "b".repeat(64)),
            spec: self.0.clone(),
        })
    }
}

fn dockerfile() -> String {
    let mut d =
        String::from("# syntax=docker/dockerfile:1\nARG BASE=busybox:latest\nARG VERSION=1.2.3\n");
    for i in 0..STAGES {
        let _ = write!(
            d,
            r#"
# Stage {i}: a component built from its own sources.
FROM ${{BASE}} AS s{i}
ARG VERSION
ARG COMPONENT=c{i}
ENV APP_HOME=/opt/${{COMPONENT}} \
    APP_VERSION=${{VERSION}} \
    PATH=/opt/${{COMPONENT}}/bin:$PATH
WORKDIR ${{APP_HOME}}
LABEL org.example.component="${{COMPONENT}}" org.example.version="${{VERSION}}"
COPY --chown=1000:1000 src/c{i}/ ./src/
COPY ["conf/c{i}.json", "conf/common.json", "./conf/"]
RUN --mount=type=cache,target=/var/cache/c{i} \
    set -e; \
    mkdir -p bin out && \
    for f in src/*; do cat "$f" >> out/all.txt; done && \
    seq 1 100 | md5sum > out/sum && echo "${{COMPONENT}} ${{VERSION}}" > out/version
RUN <<EOF
set -e
echo "building $APP_VERSION"
test -s out/sum
EOF
"#
        );
        if i > 0 {
            let _ = writeln!(
                d,
                "COPY --from=s{} /opt/c{}/out/ ./deps/c{}/",
                i - 1,
                i - 1,
                i - 1
            );
        }
        let _ = writeln!(
            d,
            "HEALTHCHECK --interval=30s CMD test -f /opt/c{i}/out/sum"
        );
    }
    d.push_str("\nFROM ${BASE}\nWORKDIR /app\n");
    for i in 0..STAGES {
        let _ = writeln!(d, "COPY --from=s{i} /opt/c{i}/out/ /app/c{i}/");
    }
    d.push_str(
        "USER 1000:1000\nEXPOSE 8080/tcp\nENTRYPOINT [\"/bin/sh\"]\nCMD [\"-c\", \"ls /app\"]\n",
    );
    d
}

fn bench(c: &mut Criterion) {
    let text = dockerfile();
    let resolver = Busybox::new();
    let options = LowerOptions::default();
    // Fail before measuring if the generated file stopped being valid.
    let lowered = lower_text(&text, &options, &resolver).expect("the generated Dockerfile lowers");
    assert!(lowered.graph.vertices().count() > STAGES * 5);

    let mut g = c.benchmark_group("dockerfile");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| parse(black_box(&text)).expect("parses"))
    });
    let ast = parse(&text).expect("parses");
    g.bench_function("lower", |b| {
        b.iter(|| lower(black_box(&ast), &options, &resolver).expect("lowers"))
    });
    g.bench_function("parse+lower", |b| {
        b.iter(|| lower_text(black_box(&text), &options, &resolver).expect("lowers"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
