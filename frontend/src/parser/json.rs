//! Recognition of the JSON (exec) form, `["executable", "arg"]`.
//!
//! Whether text is the exec form decides how an instruction's arguments are
//! split, and BuildKit decides it with Go's `encoding/json`. The edge cases
//! of that decoder therefore leak into the Dockerfile language: invalid JSON
//! silently falls back to the shell form, a valid array holding anything but
//! strings is an error, a number too large for a float64 makes the whole
//! array "not JSON", lone UTF-16 surrogates in `\u` escapes become U+FFFD,
//! and nesting is limited to 10000 levels. This module reproduces exactly
//! that, without recursion so no input can exhaust the stack.

use super::charclass::is_space;

/// What the argument text turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ExecForm {
    /// Not a JSON array: the instruction uses its shell-form rule.
    NotJson,
    /// A JSON array with an element that is not a string: an error.
    NotStrings,
    /// A JSON array of strings, decoded.
    Strings(Vec<String>),
}

/// Go's `encoding/json` nesting limit.
const MAX_DEPTH: usize = 10_000;

/// Why the text is not an exec form, internally.
enum Rejection {
    /// Not valid JSON, or a number out of range: fall back to shell form.
    Invalid,
}

/// Classifies argument text (already trimmed by the caller).
pub(super) fn parse_exec_form(rest: &str) -> ExecForm {
    let rest = rest.trim_start_matches(is_space);
    if !rest.starts_with('[') {
        return ExecForm::NotJson;
    }
    match Decoder::new(rest).run() {
        Err(Rejection::Invalid) => ExecForm::NotJson,
        Ok(elements) => match elements.into_iter().collect::<Option<Vec<_>>>() {
            Some(strings) => ExecForm::Strings(strings),
            None => ExecForm::NotStrings,
        },
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// After `[`: a value or `]`.
    ValueOrClose,
    /// After `,` in an array or `:` in an object: a value.
    Value,
    /// After `{`: a key or `}`.
    KeyOrClose,
    /// After `,` in an object: a key.
    Key,
    /// After a complete value.
    AfterValue,
}

struct Decoder<'a> {
    text: &'a str,
    pos: usize,
    /// Open containers, `b'['` or `b'{'`.
    stack: Vec<u8>,
    /// Top-level elements: `Some` for strings, `None` for anything else.
    elements: Vec<Option<String>>,
    /// A number did not fit a float64; Go reports it after decoding.
    out_of_range: bool,
}

impl<'a> Decoder<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            pos: 0,
            stack: Vec::new(),
            elements: Vec::new(),
            out_of_range: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), Rejection> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Rejection::Invalid)
        }
    }

    fn at_top_level(&self) -> bool {
        self.stack.len() == 1
    }

    fn run(mut self) -> Result<Vec<Option<String>>, Rejection> {
        let mut state = State::Value;
        loop {
            self.skip_space();
            state = match state {
                State::ValueOrClose if self.peek() == Some(b']') => self.close(),
                State::KeyOrClose if self.peek() == Some(b'}') => self.close(),
                State::Value | State::ValueOrClose => self.value()?,
                State::Key | State::KeyOrClose => {
                    self.expect(b'"')?;
                    self.string(false)?;
                    self.skip_space();
                    self.expect(b':')?;
                    State::Value
                }
                State::AfterValue => match (self.stack.last(), self.peek()) {
                    (None, _) => break,
                    (Some(b'['), Some(b',')) => {
                        self.pos += 1;
                        State::Value
                    }
                    (Some(b'{'), Some(b',')) => {
                        self.pos += 1;
                        State::Key
                    }
                    (Some(b'['), Some(b']')) | (Some(b'{'), Some(b'}')) => self.close(),
                    _ => return Err(Rejection::Invalid),
                },
            };
        }
        if self.pos != self.text.len() || self.out_of_range {
            return Err(Rejection::Invalid);
        }
        Ok(self.elements)
    }

    fn close(&mut self) -> State {
        self.pos += 1;
        self.stack.pop();
        State::AfterValue
    }

    fn open(&mut self, kind: u8) -> Result<(), Rejection> {
        self.pos += 1;
        self.stack.push(kind);
        if self.stack.len() > MAX_DEPTH {
            return Err(Rejection::Invalid);
        }
        Ok(())
    }

    /// Records a top-level element that is not a string.
    fn non_string(&mut self) {
        if self.at_top_level() {
            self.elements.push(None);
        }
    }

    fn value(&mut self) -> Result<State, Rejection> {
        let first = self.peek().ok_or(Rejection::Invalid)?;
        if self.stack.is_empty() {
            // the caller guarantees the text starts with `[`
            self.open(b'[')?;
            return Ok(State::ValueOrClose);
        }
        match first {
            b'[' => {
                self.non_string();
                self.open(b'[')?;
                Ok(State::ValueOrClose)
            }
            b'{' => {
                self.non_string();
                self.open(b'{')?;
                Ok(State::KeyOrClose)
            }
            b'"' => {
                self.pos += 1;
                let top = self.at_top_level();
                let decoded = self.string(top)?;
                if top {
                    self.elements.push(Some(decoded));
                }
                Ok(State::AfterValue)
            }
            b'-' | b'0'..=b'9' => {
                self.non_string();
                self.number()?;
                Ok(State::AfterValue)
            }
            b't' | b'f' | b'n' => {
                self.non_string();
                let rest = &self.text[self.pos..];
                let literal = ["true", "false", "null"]
                    .into_iter()
                    .find(|l| rest.starts_with(l))
                    .ok_or(Rejection::Invalid)?;
                self.pos += literal.len();
                Ok(State::AfterValue)
            }
            _ => Err(Rejection::Invalid),
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), Rejection> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(Rejection::Invalid),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Rejection::Invalid);
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Rejection::Invalid);
            }
        }
        let value: f64 = self.text[start..self.pos].parse().unwrap_or(f64::INFINITY);
        if value.is_infinite() {
            self.out_of_range = true;
        }
        Ok(())
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.text.get(at..at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }

    /// A `\uXXXX` escape at `at` (pointing at the backslash).
    fn unicode_escape(&self, at: usize) -> Option<u32> {
        if self.text.as_bytes().get(at..at + 2) != Some(b"\\u") {
            return None;
        }
        self.hex4(at + 2)
    }

    /// Reads a string body (the opening quote already consumed), decoding it
    /// when `decode` is set.
    fn string(&mut self, decode: bool) -> Result<String, Rejection> {
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let plain = rest
                .find(|c: char| c == '"' || c == '\\' || c < ' ')
                .ok_or(Rejection::Invalid)?;
            if decode {
                out.push_str(&rest[..plain]);
            }
            self.pos += plain;
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let c = self.escape()?;
                    if decode {
                        out.push(c);
                    }
                }
                _ => return Err(Rejection::Invalid),
            }
        }
    }

    fn escape(&mut self) -> Result<char, Rejection> {
        let kind = self
            .text
            .as_bytes()
            .get(self.pos + 1)
            .copied()
            .ok_or(Rejection::Invalid)?;
        self.pos += 2;
        let simple = match kind {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_rest(),
            _ => return Err(Rejection::Invalid),
        };
        Ok(simple)
    }

    /// After `\u`: four hex digits, possibly the first half of a surrogate
    /// pair completed by a following `\uXXXX`.
    fn unicode_rest(&mut self) -> Result<char, Rejection> {
        let unit = self.hex4(self.pos).ok_or(Rejection::Invalid)?;
        self.pos += 4;
        if !(0xd800..0xe000).contains(&unit) {
            return char::from_u32(unit).ok_or(Rejection::Invalid);
        }
        if (0xd800..0xdc00).contains(&unit)
            && let Some(low) = self.unicode_escape(self.pos)
            && (0xdc00..0xe000).contains(&low)
        {
            self.pos += 6;
            let combined = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            return char::from_u32(combined).ok_or(Rejection::Invalid);
        }
        Ok('\u{fffd}')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> ExecForm {
        ExecForm::Strings(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn arrays_of_strings() {
        assert_eq!(parse_exec_form("[]"), strings(&[]));
        assert_eq!(parse_exec_form("[ \"a\" ,\t\"b\" ] "), strings(&["a", "b"]));
        assert_eq!(
            parse_exec_form(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u00e9"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \0 é"])
        );
    }

    #[test]
    fn surrogates_follow_go() {
        assert_eq!(parse_exec_form(r#"["\ud83d\ude00"]"#), strings(&["😀"]));
        assert_eq!(parse_exec_form(r#"["\ud83dx"]"#), strings(&["\u{fffd}x"]));
        assert_eq!(
            parse_exec_form(r#"["\ude00\u0041"]"#),
            strings(&["\u{fffd}A"])
        );
    }

    #[test]
    fn invalid_json_falls_back() {
        for text in [
            "['a']",
            "[\"a\"",
            "[\"a]",
            "[\"a\"] x",
            "[\"a\",]",
            "[01]",
            "[1e999]",
            "[\"a\", 1e999]",
            "[\"\t\"]",
            "[\"\\x\"]",
            "[tru]",
            "x[]",
        ] {
            assert_eq!(parse_exec_form(text), ExecForm::NotJson, "{text}");
        }
    }

    #[test]
    fn non_strings_are_rejected() {
        for text in [
            "[1]",
            "[\"a\", [\"b\"]]",
            "[{}]",
            "[null]",
            "[{\"a\": 1e5}]",
        ] {
            assert_eq!(parse_exec_form(text), ExecForm::NotStrings, "{text}");
        }
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_exec_form(&deep), ExecForm::NotStrings);
        let deeper = format!("{}{}", "[".repeat(10_001), "]".repeat(10_001));
        assert_eq!(parse_exec_form(&deeper), ExecForm::NotJson);
    }
}
