//! The parser, its dump and the instruction typing must never panic, whatever
//! the bytes: every problem is a `DockerfileError`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Dockerfiles are read as UTF-8 (the CLI rejects anything else), so only
    // valid text reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(ast) = frontend::parser::parse(text) else {
        return;
    };
    let dumped = frontend::parser::dump(&ast);
    for node in &ast.children {
        let _ = frontend::parser::dump_node(node);
        let _ = frontend::instructions::parse_instruction(node);
    }
    // Every error must point at a line of the file.
    if let Err(err) = frontend::instructions::parse_dockerfile(&ast) {
        if let Some(range) = err.range {
            assert!(
                range.start >= 1 && range.start <= range.end,
                "bad range {range:?} for {err:?}\n{dumped}"
            );
        }
    }
});
