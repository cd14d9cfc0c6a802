//! Behaviour of the Dockerfile parser beyond BuildKit's dump corpus:
//! heredocs, directives, continuations, comments, errors and robustness.

use frontend::parser::{dump, dump_node, parse};
use frontend::{Ast, DockerfileError, ErrorKind, Heredoc, Node};

fn ok(text: &str) -> Ast {
    parse(text).unwrap_or_else(|e| panic!("parse failed: {e} at {:?}\n{text}", e.range))
}

fn err(text: &str) -> DockerfileError {
    match parse(text) {
        Ok(ast) => panic!("parse should fail:\n{text}\nbut gave:\n{}", dump(&ast)),
        Err(e) => e,
    }
}

fn lines(e: &DockerfileError) -> Option<(usize, usize)> {
    e.range.map(|r| (r.start, r.end))
}

fn doc(name: &str, content: &str, expand: bool, chomp: bool, fd: Option<u32>) -> Heredoc {
    Heredoc {
        name: name.into(),
        content: content.into(),
        expand,
        chomp,
        file_descriptor: fd,
    }
}

fn child(ast: &Ast, i: usize) -> &Node {
    &ast.children[i]
}

mod heredocs {
    use super::*;

    #[test]
    fn body_is_read_until_the_delimiter() {
        let ast = ok("FROM alpine\nRUN <<EOF\necho hello\necho world\nEOF\nRUN true\n");
        let run = child(&ast, 1);
        assert_eq!(
            run.heredocs,
            [doc("EOF", "echo hello\necho world\n", true, false, None)]
        );
        assert_eq!(run.args, ["<<EOF"]);
        assert_eq!(run.original, "RUN <<EOF");
        assert_eq!((run.range.start, run.range.end), (2, 5));
        assert_eq!(child(&ast, 2).range.start, 6);
        assert_eq!(
            dump(&ast),
            "(from \"alpine\")\n(run \"<<EOF\")\n(run \"true\")"
        );
    }

    #[test]
    fn empty_body_and_file_descriptor() {
        let ast = ok("FROM a\nRUN <<EMPTY\nEMPTY\nRUN 3<<EMPTY2\nEMPTY2\n");
        assert_eq!(
            child(&ast, 1).heredocs,
            [doc("EMPTY", "", true, false, None)]
        );
        assert_eq!(
            child(&ast, 2).heredocs,
            [doc("EMPTY2", "", true, false, Some(3))]
        );
    }

    #[test]
    fn dash_strips_leading_tabs_from_body_and_delimiter() {
        let ast = ok("FROM a\nRUN <<-EOT\n\tbaz\n\t\tquux\n  kept\n\tEOT\n");
        assert_eq!(
            child(&ast, 1).heredocs,
            [doc("EOT", "baz\nquux\n  kept\n", true, true, None)]
        );
        assert_eq!(child(&ast, 1).range.end, 6);
    }

    #[test]
    fn without_dash_tabs_are_kept_and_an_indented_delimiter_is_body() {
        let ast = ok("FROM a\nRUN <<EOT\n\tfoo\n\tEOT\nEOT\n");
        assert_eq!(
            child(&ast, 1).heredocs,
            [doc("EOT", "\tfoo\n\tEOT\n", true, false, None)]
        );
    }

    #[test]
    fn quoted_delimiters_disable_expansion() {
        let ast =
            ok("FROM a\nRUN <<'EOF'\n$HOME\nEOF\nRUN <<\"EOF\"\n$HOME\nEOF\nRUN <<-'X'\n\t$A\nX\n");
        assert_eq!(
            child(&ast, 1).heredocs,
            [doc("EOF", "$HOME\n", false, false, None)]
        );
        assert_eq!(
            child(&ast, 2).heredocs,
            [doc("EOF", "$HOME\n", false, false, None)]
        );
        assert_eq!(
            child(&ast, 3).heredocs,
            [doc("X", "$A\n", false, true, None)]
        );
    }

    #[test]
    fn several_heredocs_on_one_line_take_bodies_in_order() {
        let ast = ok("FROM a\nCOPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n");
        let copy = child(&ast, 1);
        assert_eq!(
            copy.heredocs,
            [
                doc("FILE1", "content 1\n", true, false, None),
                doc("FILE2", "content 2\n", true, false, None)
            ]
        );
        assert_eq!(copy.args, ["<<FILE1", "<<FILE2", "/dest"]);
        assert_eq!(copy.range.end, 6);
        let ast = ok("FROM a\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n");
        assert_eq!(
            child(&ast, 1).heredocs,
            [
                doc("X", "Y\n", true, false, None),
                doc("Y", "X\n", true, false, None)
            ]
        );
    }

    #[test]
    fn body_lines_are_not_comments_or_instructions() {
        let ast = ok("FROM a\nRUN <<EOF\n# internal comment\nFROM b\necho # trailing\nEOF\n");
        assert_eq!(ast.children.len(), 2);
        assert_eq!(
            child(&ast, 1).heredocs[0].content,
            "# internal comment\nFROM b\necho # trailing\n"
        );
    }

    #[test]
    fn flags_before_heredoc_and_add() {
        let ast = ok(
            "FROM a\nRUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\nADD <<A /a\nx\nA\n",
        );
        let run = child(&ast, 1);
        assert_eq!(run.flags, ["--mount=type=cache,target=/foo"]);
        assert_eq!(
            run.heredocs,
            [doc("MOUNT", "echo hello\n", true, false, None)]
        );
        assert_eq!(
            child(&ast, 2).heredocs,
            [doc("A", "x\n", true, false, None)]
        );
    }

    #[test]
    fn only_shell_form_run_copy_add_have_heredocs() {
        let ast = ok("FROM a\nUSER <<INVALID\nINVALID\nRUN [\"<<EOF\"]\nRUN \"<<NOHEREDOC\"\n");
        assert_eq!(ast.children.len(), 5);
        assert!(ast.children.iter().all(|c| c.heredocs.is_empty()));
        assert_eq!(child(&ast, 2).keyword, "invalid");
        assert!(child(&ast, 3).json);
    }

    #[test]
    fn onbuild_run_heredoc_is_attached_to_the_onbuild_node() {
        let ast = ok("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n");
        let onbuild = child(&ast, 1);
        assert_eq!(
            onbuild.heredocs,
            [doc("EOF", "echo hi\n", true, false, None)]
        );
        assert_eq!(onbuild.range.end, 4);
        assert_eq!(dump_node(onbuild), "onbuild (run \"<<EOF\")");
    }

    #[test]
    fn crlf_body_lines_keep_their_endings() {
        let ast = ok("FROM a\r\nRUN <<EOF\r\nline\r\nEOF\r\n");
        assert_eq!(child(&ast, 1).heredocs[0].content, "line\r\n");
        assert_eq!(child(&ast, 1).args, ["<<EOF"]);
    }

    #[test]
    fn unterminated_heredoc_is_an_error_spanning_to_the_end() {
        let e = err("FROM a\nRUN <<EOF\necho hi\n\n");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert!(e.message.contains("unterminated heredoc"), "{}", e.message);
        assert_eq!(lines(&e), Some((2, 4)));
    }

    #[test]
    fn unbalanced_quotes_on_the_line_mean_no_heredoc() {
        let ast = ok("FROM a\nRUN echo it's <<EOF\nEOF\n");
        assert!(child(&ast, 1).heredocs.is_empty());
        assert_eq!(child(&ast, 2).keyword, "eof");
    }
}

mod directives {
    use super::*;

    #[test]
    fn escape_syntax_and_check_are_recorded() {
        let ast = ok(
            "# syntax=docker/dockerfile:1\n# ESCAPE = `\n#check=skip=all\nFROM a\nRUN echo `\n  hi\n",
        );
        assert_eq!(
            ast.directives.syntax.as_deref(),
            Some("docker/dockerfile:1")
        );
        assert_eq!(ast.directives.escape, Some('`'));
        assert_eq!(ast.directives.check.as_deref(), Some("skip=all"));
        assert_eq!(ast.escape, '`');
        assert_eq!(child(&ast, 1).args, ["echo   hi"]);
        assert!(
            child(&ast, 0).comments.is_empty(),
            "directives are not comments"
        );
    }

    #[test]
    fn default_escape_is_backslash() {
        let ast = ok("FROM a\n");
        assert_eq!(ast.escape, '\\');
        assert_eq!(ast.directives.escape, None);
    }

    #[test]
    fn directives_after_a_comment_or_blank_line_are_comments() {
        let ast = ok("# hello\n# escape=`\nFROM a\nRUN a \\\nb\n");
        assert_eq!(ast.escape, '\\');
        assert_eq!(child(&ast, 1).args, ["a b"]);
        assert_eq!(child(&ast, 0).comments, ["hello", "escape=`"]);
        let ast = ok("\n# escape=`\nFROM a\n");
        assert_eq!(ast.directives.escape, None);
    }

    #[test]
    fn backslash_escape_directive_is_valid() {
        let ast = ok("#escape=\\\nFROM a\n");
        assert_eq!(ast.directives.escape, Some('\\'));
    }

    #[test]
    fn duplicate_directive_is_an_error_on_its_line() {
        let e = err("# syntax=a\n# Syntax=b\nFROM a\n");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert!(
            e.message.contains("only one `syntax` parser directive"),
            "{}",
            e.message
        );
        assert_eq!(lines(&e), Some((2, 2)));
    }

    #[test]
    fn invalid_escape_is_an_error() {
        let e = err("# escape=x\nFROM a\n");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!(lines(&e), Some((1, 1)));
    }

    #[test]
    fn unknown_directive_ends_directive_scanning() {
        let ast = ok("# foo=bar\n# escape=`\nFROM a\n");
        assert_eq!(ast.directives.escape, None);
    }
}

mod lines_and_continuations {
    use super::*;

    #[test]
    fn bom_is_ignored_on_the_first_line() {
        let ast = ok("\u{feff}# escape=`\nFROM a\n");
        assert_eq!(ast.escape, '`');
        let ast = ok("\u{feff}FROM a\n");
        assert_eq!(child(&ast, 0).keyword, "from");
        assert_eq!(child(&ast, 0).range.start, 1);
    }

    #[test]
    fn comments_and_blank_lines_inside_a_continuation_are_skipped() {
        let ast = ok("FROM a\nRUN echo hello \\\n# comment\n\n  # indented comment\nworld\n");
        let run = child(&ast, 1);
        assert_eq!(run.args, ["echo hello world"]);
        assert_eq!((run.range.start, run.range.end), (2, 6));
        assert_eq!(ast.warnings.len(), 1);
        assert_eq!(ast.warnings[0].0.start, 6);
        assert!(ast.warnings[0].1.contains("empty continuation line"));
        assert!(ast.warnings[0].1.contains("RUN echo hello world"));
    }

    #[test]
    fn no_warning_without_blank_continuation_lines() {
        let ast = ok("FROM a\nRUN a \\\n# c\n b\n");
        assert!(ast.warnings.is_empty());
        assert_eq!(child(&ast, 1).args, ["a  b"]);
    }

    #[test]
    fn escaped_escape_does_not_continue() {
        let ast = ok("FROM a\nENV C x\\\\\nENV D y\n");
        assert_eq!(child(&ast, 1).args, ["C", "x\\\\", ""]);
        assert_eq!(child(&ast, 2).args, ["D", "y", ""]);
    }

    #[test]
    fn continuation_at_end_of_file() {
        let ast = ok("FROM a\nRUN something \\");
        assert_eq!(child(&ast, 1).args, ["something"]);
        assert_eq!(child(&ast, 1).range.end, 2);
    }

    #[test]
    fn crlf_line_endings() {
        let ast = ok("FROM a\r\nRUN a \\\r\n  b\r\n");
        assert_eq!(child(&ast, 1).args, ["a   b"]);
        assert_eq!(child(&ast, 1).range.end, 3);
    }

    #[test]
    fn original_is_the_joined_line() {
        let ast = ok("  FROM a AS b\nRUN x \\\n  y\n");
        assert_eq!(child(&ast, 0).original, "FROM a AS b");
        assert_eq!(child(&ast, 1).original, "RUN x   y");
    }

    #[test]
    fn comments_are_attached_to_the_next_instruction() {
        let ast = ok("# one\n\n# two\nFROM a\n#\n# three\nRUN x\nRUN y\n");
        assert_eq!(child(&ast, 0).comments, ["one", "two"]);
        assert_eq!(child(&ast, 1).comments, ["three"], "an empty `#` resets");
        assert!(child(&ast, 2).comments.is_empty());
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let ast = ok("fRoM a\nRun echo\n");
        assert_eq!(dump(&ast), "(from \"a\")\n(run \"echo\")");
    }
}

mod arguments {
    use super::*;

    #[test]
    fn env_and_label_triples() {
        let ast = ok("FROM a\nENV a=1 b=\"x y\"\nENV k v w\nLABEL x=y\n");
        assert_eq!(child(&ast, 1).args, ["a", "1", "=", "b", "\"x y\"", "="]);
        assert_eq!(child(&ast, 2).args, ["k", "v w", ""]);
        assert_eq!(child(&ast, 3).args, ["x", "y", "="]);
    }

    #[test]
    fn env_mixing_forms_is_an_error() {
        let e = err("FROM a\nENV a=1 b\n");
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!(lines(&e), Some((2, 2)));
    }

    #[test]
    fn flags_and_double_dash() {
        let ast = ok(
            "FROM a\nCOPY --from=b --chmod=755 -- --x /y\nCMD --doit -- [ ]\nRUN --network=none [\"a\"]\n",
        );
        assert_eq!(child(&ast, 1).flags, ["--from=b", "--chmod=755"]);
        assert_eq!(child(&ast, 1).args, ["--x", "/y"]);
        assert_eq!(dump_node(child(&ast, 2)), "cmd [\"--doit\"]");
        assert!(child(&ast, 2).json);
        assert_eq!(child(&ast, 3).args, ["a"]);
        assert!(child(&ast, 3).json);
    }

    #[test]
    fn json_and_shell_forms() {
        let ast = ok(
            "FROM a\nCMD [\"a\", \"b\"]\nCMD ['a']\nENTRYPOINT [\"x\"] y\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\n",
        );
        assert_eq!(
            (child(&ast, 1).args.clone(), child(&ast, 1).json),
            (vec!["a".into(), "b".into()], true)
        );
        assert_eq!(
            (child(&ast, 2).args.clone(), child(&ast, 2).json),
            (vec!["['a']".into()], false)
        );
        assert_eq!(child(&ast, 3).args, ["[\"x\"] y"]);
        assert_eq!(child(&ast, 4).args, ["/a", "/b"]);
        assert_eq!(child(&ast, 5).args, ["/c", "/d"]);
    }

    #[test]
    fn healthcheck_none_and_cmd() {
        let ast =
            ok("FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=5s CMD [\"curl\", \"-f\"]\n");
        assert_eq!(child(&ast, 1).args, ["NONE"]);
        assert_eq!(child(&ast, 2).args, ["CMD", "curl", "-f"]);
        assert!(child(&ast, 2).json);
    }

    #[test]
    fn onbuild_nests_and_nested_errors_surface() {
        let ast = ok("FROM a\nONBUILD COPY --from=x a b\n");
        let nested = child(&ast, 1)
            .nested
            .as_deref()
            .map(|n| (n.keyword.as_str(), n.flags.clone()));
        assert_eq!(nested, Some(("copy", vec!["--from=x".to_string()])));
        let e = err("FROM a\nONBUILD ENV PATH\n");
        assert_eq!(lines(&e), Some((2, 2)));
    }

    #[test]
    fn deep_onbuild_chains_are_rejected_not_overflowed() {
        let text = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(100_000));
        let e = err(&text);
        assert_eq!(e.kind, ErrorKind::Syntax);
        assert_eq!(lines(&e), Some((2, 2)));
    }

    #[test]
    fn unknown_instructions_are_kept_with_an_empty_argument() {
        let ast = ok("FROM a\nFOO bar baz\n");
        assert_eq!(child(&ast, 1).keyword, "foo");
        assert_eq!(dump_node(child(&ast, 1)), "foo \"\"");
    }
}

mod errors {
    use super::*;

    #[test]
    fn empty_and_comment_only_files() {
        for text in ["", "\n\n", "# just\n# comments\n", "\u{feff}"] {
            let e = err(text);
            assert_eq!(e.kind, ErrorKind::Syntax);
            assert_eq!(e.message, "file with no instructions");
        }
        assert_eq!(lines(&err("# a\n\n# b\n")), Some((3, 3)));
    }

    #[test]
    fn error_range_covers_the_continued_instruction() {
        let e = err("FROM a\n\nENV \\\n  PATH \\\n\n");
        assert_eq!(lines(&e), Some((3, 5)));
    }

    #[test]
    fn non_string_json_array() {
        let e = err("FROM a\nRUN [\"a\", 1]\n");
        assert_eq!(lines(&e), Some((2, 2)));
        assert!(e.message.contains("strings only"));
    }
}

mod robustness {
    use super::*;

    /// A small deterministic generator, so the test needs no extra crates.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    const PIECES: &[&str] = &[
        "RUN ",
        "COPY ",
        "ADD ",
        "ENV ",
        "LABEL ",
        "ONBUILD ",
        "HEALTHCHECK ",
        "ARG ",
        "FROM ",
        "CMD ",
        "<<",
        "<<-",
        "EOF",
        "'",
        "\"",
        "\\",
        "`",
        "$",
        "${",
        "}",
        ":-",
        "[",
        "]",
        ",",
        "=",
        "--",
        "-",
        " ",
        "\t",
        "\n",
        "\r",
        "#",
        "# escape=`\n",
        "# syntax=x\n",
        "3",
        "é",
        "\u{a0}",
        "\u{85}",
        "\u{feff}",
        "\u{0}",
        "{",
        "\\u",
        "1e999",
        "a",
        "/",
    ];

    #[test]
    fn random_inputs_never_panic() {
        let mut rng = Lcg(42);
        for _ in 0..20_000 {
            let len = rng.next() % 40;
            let text: String = (0..len)
                .map(|_| PIECES[(rng.next() % PIECES.len() as u64) as usize])
                .collect();
            if let Ok(ast) = parse(&text) {
                let _ = dump(&ast);
            }
        }
    }

    #[test]
    fn long_lines_parse_quickly() {
        let words = "word \"quoted word\" 'single' $VAR ${X:-y} ".repeat(40_000);
        let text = format!(
            "FROM a\nRUN {words}<<EOF\nbody\nEOF\nENV {}\nCOPY {words} /dst\n",
            "k=v ".repeat(100_000)
        );
        let started = std::time::Instant::now();
        let ast = ok(&text);
        assert_eq!(ast.children.len(), 4);
        assert_eq!(child(&ast, 1).heredocs[0].content, "body\n");
        assert_eq!(child(&ast, 2).args.len(), 300_000);
        assert_eq!(
            child(&ast, 3).args.len(),
            240_001,
            "COPY splits on whitespace only"
        );
        // a generous bound that only a quadratic algorithm would exceed
        assert!(
            started.elapsed().as_secs() < 20,
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn long_continuations_and_bodies() {
        let text = format!(
            "FROM a\nRUN x \\\n{}y\nRUN <<EOF\n{}EOF\n",
            "a \\\n".repeat(50_000),
            "line\n".repeat(100_000)
        );
        let ast = ok(&text);
        assert_eq!(child(&ast, 1).range.end, 50_003);
        assert_eq!(child(&ast, 2).heredocs[0].content.len(), 500_000);
    }
}
