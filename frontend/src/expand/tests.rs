//! Behaviour not covered by BuildKit's data files: the switches, the other
//! escape character, and robustness against hostile input.

use super::{Expansion, Lexer};

const ENV: [(&str, &str); 4] = [("PWD", "/home"), ("E", ""), ("NL", "a\nb"), ("S", " x  y ")];

fn word(lexer: Lexer, input: &str) -> String {
    lexer.process_word(input, &ENV).unwrap()
}

#[test]
fn backtick_escape() {
    let lexer = Lexer::new('`');
    assert_eq!(word(lexer, "he`$PWD"), "he$PWD");
    assert_eq!(word(lexer, "a\\b"), "a\\b");
    assert_eq!(word(lexer, "\"a`\"b\""), "a\"b");
    assert_eq!(word(lexer, "C:\\dir` x"), "C:\\dir x");
    assert_eq!(lexer.process_words("a` b c", &ENV).unwrap(), ["a b", "c"]);
}

#[test]
fn skip_unset_env_keeps_references() {
    let lexer = Lexer::default().skip_unset_env(true);
    assert_eq!(word(lexer, "a${hi}b$hi$PWD"), "a${hi}b$hi/home");
    assert_eq!(
        word(lexer, "${hi:-x}${hi+y}${hi#p}"),
        "${hi:-x}${hi+y}${hi#p}"
    );
    assert_eq!(word(lexer, "${hi/a/b}${hi//a/b}"), "${hi/a/b}${hi//a/b}");
    assert_eq!(word(lexer, "${E:-x}"), "x");
    assert_eq!(word(lexer, "${hi:YYY}"), "${hi:YYY}");
}

#[test]
fn raw_quotes_raw_escapes_and_unprocessed_quotes() {
    assert_eq!(
        word(Lexer::default().raw_quotes(true), "'$PWD' \"$PWD\""),
        "'$PWD' \"/home\""
    );
    assert_eq!(
        word(Lexer::default().raw_escapes(true), "a\\ b\\$PWD"),
        "a\\ b\\$PWD"
    );
    assert_eq!(
        word(Lexer::default().skip_process_quotes(true), "'$PWD' \"x\""),
        "'/home' \"x\""
    );
}

#[test]
fn patterns_are_globs_with_literal_brackets() {
    let env = [("V", "a[b]c.tar.gz"), ("P", "x/y/z"), ("R", "$1")];
    let lexer = Lexer::default();
    assert_eq!(lexer.process_word("${V#a[b]}", &env).unwrap(), "c.tar.gz");
    assert_eq!(lexer.process_word("${V%.*}", &env).unwrap(), "a[b]c.tar");
    assert_eq!(lexer.process_word("${V%%.*}", &env).unwrap(), "a[b]c");
    assert_eq!(lexer.process_word("${V##*.}", &env).unwrap(), "gz");
    assert_eq!(lexer.process_word("${P/\\//-}", &env).unwrap(), "x-y/z");
    assert_eq!(lexer.process_word("${P//?/_}", &env).unwrap(), "_____");
    // The replacement is literal (Go's regexp would expand `$1`).
    assert_eq!(lexer.process_word("${P//y/$R}", &env).unwrap(), "x/$1/z");
    assert_eq!(word(Lexer::default(), "${NL#*b}"), "");
    let err = lexer.process_word("${V#\\x}", &env).unwrap_err();
    assert!(err.message.contains("invalid escape"), "{}", err.message);
}

#[test]
fn splitting_values_and_empty_quotes() {
    let lexer = Lexer::default();
    assert_eq!(lexer.process_words("$S", &ENV).unwrap(), ["x", "y"]);
    assert_eq!(lexer.process_words("\"$S\"", &ENV).unwrap(), [" x  y "]);
    assert!(lexer.process_words("\"\" ''", &ENV).unwrap().is_empty());
    assert_eq!(
        lexer.process_words("${S:-a b}z", &ENV).unwrap(),
        ["x", "y", "z"]
    );
}

#[test]
fn matches_are_reported_even_for_unused_values() {
    let Expansion {
        value,
        matched,
        unmatched,
        ..
    } = Lexer::default()
        .process_word_with_matches("${PWD:+set}${NOPE:-$E}", &ENV)
        .unwrap();
    assert_eq!(value, "set");
    assert_eq!(matched.into_iter().collect::<Vec<_>>(), ["E", "PWD"]);
    assert_eq!(unmatched.into_iter().collect::<Vec<_>>(), ["NOPE"]);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let lexer = Lexer::default();
    for open in ["${a:-", "\"${a:-", "${a#", "${a/"] {
        let input = format!("{}x{}", open.repeat(50_000), "}".repeat(50_000));
        let err = lexer.process_word(&input, &ENV).unwrap_err();
        assert!(err.message.contains("nested"), "{open}: {}", err.message);
    }
    let ok = format!("{}x{}", "${a:-".repeat(50), "}".repeat(50));
    assert_eq!(word(lexer, &ok), "x");
}

#[test]
fn long_words_expand() {
    let input = "$PWD ${PWD%/*} 'q' \"$S\" ".repeat(500);
    let words = Lexer::default().process_words(&input, &ENV).unwrap();
    // `${PWD%/*}` is empty and yields no field.
    assert_eq!(words.len(), 1_500);
}

/// A small deterministic fuzzer: random words over the characters that matter
/// must give a value or an error, never a panic, with every switch.
#[test]
fn random_words_never_panic() {
    const PIECES: &[&str] = &[
        "$", "{", "}", ":", "-", "+", "?", "#", "%", "/", "\\", "`", "'", "\"", "*", "[", "]", " ",
        "a", "PWD", "E", "NL", "1", "@", "é", "한", "=", "\n", "${", "${PWD", "${E:", "$$",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..8_000u64 {
        let len = (next() % 24) as usize;
        let input: String = (0..len)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let lexer = Lexer::new(if round % 2 == 0 { '\\' } else { '`' })
            .raw_quotes(round % 3 == 0)
            .raw_escapes(round % 5 == 0)
            .skip_unset_env(round % 7 == 0)
            .skip_process_quotes(round % 11 == 0);
        let _ = lexer.process_word_with_matches(&input, &ENV);
    }
}
