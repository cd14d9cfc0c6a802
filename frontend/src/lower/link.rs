//! `COPY --link` and `ADD --link`: a copy onto an empty filesystem, merged on top.
//!
//! A plain COPY is a file op whose destination input is the stage so far, so
//! its cache key (and everything after it) changes whenever an earlier layer
//! does. With `--link` the copy runs on `scratch` instead and a `Merge` vertex
//! stacks its result over the stage:
//!
//! ```text
//!   plain:   stage ──► File(copy) ──► next
//!   --link:  scratch ──► File(copy) ─┐
//!            stage ──────────────────┴► Merge ──► next
//! ```
//!
//! The copy's key then depends only on what it copies, so rebuilding an
//! earlier RUN (or a new base image) finds it CACHED and the image reuses its
//! layer blob byte for byte; its snapshot holds only the copied files, which
//! is the layer the exporter writes. The merge itself copies nothing: its
//! result is the inputs' layer chains stacked (see `solver::solve`).
//!
//! What `--link` cannot do is read the stage: destinations are resolved
//! against WORKDIR here (as BuildKit does), and a `--chown` user or group
//! *name* cannot be looked up, because scratch has no `/etc/passwd`. Like
//! BuildKit (moby/buildkit#7134) we reject names other than `root` early,
//! instead of failing in the middle of the build.

use solver::graph::{BuildGraph, Chown, FileOp, MergeOp, Op, SourceOp, VertexId, VertexMeta};

use crate::ast::SourceRange;
use crate::error::{DockerfileError, ErrorKind};

/// A copy step as added to the graph: the vertex whose diff is the step's
/// layer, and the vertex that is the stage's filesystem afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CopyStep {
    /// Its snapshot is the image layer (the copy itself).
    pub(super) layer: VertexId,
    /// The stage's new root (the copy, or the merge of the stage and the copy).
    pub(super) root: VertexId,
}

/// Add a copy-like file op reading `sources` (inputs 1..) onto `stage`.
/// Without `link` the op's destination is `stage`; with it, scratch, and a
/// merge puts the result on top of `stage`.
pub(super) fn add_copy(
    graph: &mut BuildGraph,
    stage: VertexId,
    op: FileOp,
    sources: Vec<VertexId>,
    meta: VertexMeta,
    link: bool,
) -> CopyStep {
    if !link {
        let mut inputs = vec![stage];
        inputs.extend(sources);
        let v = graph.add(Op::File(op), inputs, meta);
        return CopyStep { layer: v, root: v };
    }
    let scratch = graph.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
    let mut inputs = vec![scratch];
    inputs.extend(sources);
    // The merge has no progress name: it does no work worth a line of its own.
    let merge_meta = VertexMeta {
        name: String::new(),
        ..meta.clone()
    };
    let copy = graph.add(Op::File(op), inputs, meta);
    let merge = graph.add(Op::Merge(MergeOp {}), vec![stage, copy], merge_meta);
    CopyStep {
        layer: copy,
        root: merge,
    }
}

/// `--chown` for a linked copy: numeric ids pass, `root` becomes `0` (as in
/// BuildKit), and any other name is an error at the instruction's line.
pub(super) fn numeric_chown(
    chown: Chown,
    written: &str,
    range: SourceRange,
) -> Result<Chown, DockerfileError> {
    let id = |name: &str| -> Option<String> {
        if name == "root" {
            Some("0".to_string())
        } else {
            name.parse::<u32>().ok().map(|n| n.to_string())
        }
    };
    let user = id(&chown.user);
    let group = match chown.group.as_deref() {
        None | Some("") => Some(None),
        Some(g) => id(g).map(Some),
    };
    match (user, group) {
        (Some(user), Some(group)) => Ok(Chown { user, group }),
        _ => Err(DockerfileError::new(
            ErrorKind::InvalidFlag,
            format!("`--chown={written}` names a user or group, which `--link` cannot look up"),
        )
        .at(range)
        .with_hint(
            "`--link` copies onto an empty filesystem without /etc/passwd or /etc/group: \
             use numeric ids (`--chown=1000:1000`), or drop `--link`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solver::graph::{CopyOptions, FileAction};

    fn copy_op() -> FileOp {
        FileOp {
            actions: vec![FileAction::Copy {
                input: 1,
                src: vec!["/a".into()],
                dest: "/app/".into(),
                options: CopyOptions::default(),
            }],
        }
    }

    fn chown(user: &str, group: Option<&str>) -> Chown {
        Chown {
            user: user.into(),
            group: group.map(str::to_string),
        }
    }

    #[test]
    fn linked_copy_reads_scratch_and_merges_onto_the_stage() {
        let mut g = BuildGraph::default();
        let base = g.add(
            Op::Source(SourceOp::Image {
                reference: "busybox@sha256:00".into(),
                platform: "linux/amd64".into(),
            }),
            vec![],
            VertexMeta::default(),
        );
        let ctx = g.add(
            Op::Source(SourceOp::Context {
                name: "context".into(),
                include: vec![],
                exclude: vec![],
            }),
            vec![],
            VertexMeta::default(),
        );
        let step = add_copy(
            &mut g,
            base,
            copy_op(),
            vec![ctx],
            VertexMeta::default(),
            true,
        );
        assert_ne!(step.layer, step.root);
        let copy = g.get(step.layer).unwrap();
        let scratch = g.get(copy.inputs[0]).unwrap();
        assert_eq!(scratch.op, Op::Source(SourceOp::Scratch));
        assert_eq!(copy.inputs[1], ctx);
        let merge = g.get(step.root).unwrap();
        assert_eq!(merge.op, Op::Merge(MergeOp {}));
        assert_eq!(merge.inputs, vec![base, step.layer]);

        // The same copy onto another stage is the same copy vertex.
        let other = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let again = add_copy(
            &mut g,
            other,
            copy_op(),
            vec![ctx],
            VertexMeta::default(),
            true,
        );
        assert_eq!(again.layer, step.layer);
        assert_ne!(again.root, step.root);
    }

    #[test]
    fn plain_copy_reads_the_stage() {
        let mut g = BuildGraph::default();
        let base = g.add(Op::Source(SourceOp::Scratch), vec![], VertexMeta::default());
        let step = add_copy(
            &mut g,
            base,
            copy_op(),
            vec![],
            VertexMeta::default(),
            false,
        );
        assert_eq!(step.layer, step.root);
        assert_eq!(g.get(step.root).unwrap().inputs, vec![base]);
    }

    struct Busybox;

    impl crate::lower::ImageResolver for Busybox {
        fn resolve(
            &self,
            _reference: &str,
            _platform: &crate::image::Platform,
        ) -> Result<crate::lower::ResolvedImage, String> {
            Ok(crate::lower::ResolvedImage {
                reference: format!("docker.io/library/busybox@sha256:{}", "a".repeat(64)),
                spec: serde_json::from_str(r#"{"architecture":"amd64","os":"linux"}"#)
                    .map_err(|e| e.to_string())?,
            })
        }
    }

    fn lowered(dockerfile: &str) -> crate::lower::Lowered {
        crate::lower::lower_text(dockerfile, &Default::default(), &Busybox).unwrap()
    }

    #[test]
    fn dockerfile_link_copies_lower_to_a_merge_of_a_scratch_copy() {
        let df = |run: &str| {
            format!(
                "FROM busybox\nRUN {run}\nWORKDIR /app\nCOPY --link a.txt sub/\n\
                 ADD --link https://example.com/x.tar.gz /dl/\n"
            )
        };
        let l = lowered(&df("echo one"));
        assert_eq!(l.layer_steps.len(), 4, "RUN, WORKDIR, COPY, ADD");
        let target = l.graph.get(l.target).unwrap();
        assert_eq!(target.op, Op::Merge(MergeOp {}));
        let copy = l.graph.get(l.layer_steps[2]).unwrap();
        let Op::File(FileOp { actions }) = &copy.op else {
            panic!("{:?}", copy.op)
        };
        let FileAction::Copy { dest, .. } = &actions[0] else {
            panic!("{actions:?}")
        };
        assert_eq!(dest, "/app/sub/", "the dest is resolved against WORKDIR");
        let onto = l.graph.get(copy.inputs[0]).unwrap();
        assert_eq!(onto.op, Op::Source(SourceOp::Scratch));
        let add = l.graph.get(l.layer_steps[3]).unwrap();
        assert_eq!(target.inputs[1], l.layer_steps[3]);
        assert_eq!(
            l.graph.get(add.inputs[0]).unwrap().op,
            Op::Source(SourceOp::Scratch)
        );

        // Another RUN before them changes neither linked copy.
        let other = lowered(&df("echo two"));
        for i in [2, 3] {
            assert_eq!(
                l.graph.get(l.layer_steps[i]).unwrap().digest,
                other.graph.get(other.layer_steps[i]).unwrap().digest
            );
        }
        assert_ne!(
            l.graph.get(l.target).unwrap().digest,
            other.graph.get(other.target).unwrap().digest
        );
    }

    #[test]
    fn dockerfile_link_with_a_chown_name_fails_at_its_line() {
        let e = crate::lower::lower_text(
            "FROM busybox\nARG U=app\nCOPY --link --chown=$U a /a\n",
            &Default::default(),
            &Busybox,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidFlag);
        assert_eq!(e.range, Some(SourceRange { start: 3, end: 3 }));
        assert!(e.message.contains("--chown=app"), "{}", e.message);
    }

    #[test]
    fn linked_chown_takes_numbers_and_root_only() {
        let r = SourceRange { start: 3, end: 3 };
        assert_eq!(
            numeric_chown(chown("1000", Some("50")), "1000:50", r).unwrap(),
            chown("1000", Some("50"))
        );
        assert_eq!(
            numeric_chown(chown("root", Some("root")), "root:root", r).unwrap(),
            chown("0", Some("0"))
        );
        assert_eq!(
            numeric_chown(chown("42", None), "42", r).unwrap(),
            chown("42", None)
        );
        for (c, w) in [
            (chown("app", None), "app"),
            (chown("1000", Some("staff")), "1000:staff"),
        ] {
            let e = numeric_chown(c, w, r).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidFlag);
            assert_eq!(e.range, Some(r));
            assert!(e.message.contains(w), "{}", e.message);
            assert!(e.hint.is_some());
        }
    }
}
