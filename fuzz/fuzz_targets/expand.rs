//! Variable expansion must never panic: the first byte picks the escape
//! character and the lexer switches, the rest is the word.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// A fixed environment with the shapes that matter: unset, empty, blanks,
/// quotes, escapes, glob characters.
const ENV: [(&str, &str); 9] = [
    ("PWD", "/home/user"),
    ("KEY", "value"),
    ("EMPTY", ""),
    ("SPACED", " a  b\tc "),
    ("QUOTED", "'single' \"double\""),
    ("ESCAPED", "back\\slash `tick`"),
    ("GLOB", "*.tar.gz?[ab]"),
    ("UNICODE", "caf\u{e9} \u{1f980}"),
    ("DOLLAR", "$KEY ${KEY}"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&switches, rest)) = data.split_first() else {
        return;
    };
    let Ok(word) = std::str::from_utf8(rest) else {
        return;
    };
    let escape = if switches & 1 == 0 { '\\' } else { '`' };
    let lexer = frontend::expand::Lexer::new(escape)
        .raw_quotes(switches & 2 != 0)
        .raw_escapes(switches & 4 != 0)
        .skip_unset_env(switches & 8 != 0)
        .skip_process_quotes(switches & 16 != 0);
    let one = lexer.process_word(word, &ENV);
    let many = lexer.process_words(word, &ENV);
    // Both run the same expansion, so they fail together.
    assert_eq!(one.is_ok(), many.is_ok(), "{word:?}: {one:?} vs {many:?}");
    let _ = lexer.process_word_with_matches(word, &ENV);
});
