//! The word splitter BuildKit uses to find heredoc markers.
//!
//! To know whether `<<EOF` on a RUN line is a heredoc or just text inside
//! quotes, BuildKit runs the line through its shell lexer with an empty
//! environment, unknown variables left as written (`$x` stays `$x`), and
//! optionally quotes and escapes kept verbatim. This is a faithful subset of
//! that lexer: it only splits words, it never expands anything, and its
//! errors (an unterminated quote, `${` without `}`) are what BuildKit's are,
//! because they decide whether a heredoc is recognised at all. The escape
//! character here is always `\`, whatever the `# escape=` directive says.

use super::charclass::{is_digit, is_letter, is_space};

/// How many `${...}` may nest inside each other before the lexer gives up
/// (BuildKit has no limit; this one only guards the stack).
const MAX_NESTING: usize = 128;

/// How the lexer treats quotes and escapes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Mode {
    /// Keep quote characters in the words.
    pub(super) raw_quotes: bool,
    /// Keep escape characters in the words.
    pub(super) raw_escapes: bool,
}

/// Splits `src` into words the way BuildKit's `ProcessWords` does with an
/// empty environment and unset variables left unexpanded.
pub(super) fn split_words(src: &str, mode: Mode) -> Result<Vec<String>, String> {
    let mut chars: Vec<char> = src.chars().collect();
    if chars.first() == Some(&'\u{feff}') {
        chars.remove(0);
    }
    let mut lexer = Lexer {
        chars,
        pos: 0,
        raw_quotes: mode.raw_quotes,
        raw_escapes: mode.raw_escapes,
        depth: 0,
    };
    let (_, words) = lexer.until(None, mode.raw_escapes)?;
    Ok(words)
}

/// Words being accumulated; text from `$` expansions is split on spaces,
/// quoted text is not.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if !is_space(c) {
            self.add_raw_char(c);
        } else if self.in_word && !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
            self.in_word = false;
        }
    }

    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    depth: usize,
}

/// Go renders a missing character (end of input) as U+FFFD in messages.
fn shown(c: Option<char>) -> char {
    c.unwrap_or('\u{fffd}')
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads until `stop` (consumed) or the end of input, returning the text
    /// read and its words. `raw_escapes` applies for the duration.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let text = self.dollar()?;
                    result.push_str(&text);
                    words.add_string(&text);
                }
                '\'' => {
                    let text = self.single_quoted()?;
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                '"' => {
                    let text = self.double_quoted()?;
                    result.push_str(&text);
                    words.add_raw_string(&text);
                }
                '\\' => {
                    self.pos += 1;
                    if self.raw_escapes {
                        words.add_raw_char('\\');
                        result.push('\\');
                    }
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                }
                _ => {
                    self.pos += 1;
                    words.add_char(c);
                    result.push(c);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        if self.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    );
                }
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = String::new();
        if self.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    );
                }
                Some('"') => {
                    self.pos += 1;
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let text = self.dollar()?;
                    out.push_str(&text);
                }
                Some(mut c) => {
                    self.pos += 1;
                    if c == '\\' {
                        if self.raw_escapes {
                            out.push('\\');
                        }
                        match self.peek() {
                            None => continue,
                            Some(next @ ('"' | '$' | '\\')) => {
                                self.pos += 1;
                                c = next;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// A variable name after `$`: a run of digits, one special parameter
    /// character, or letters, digits and underscores.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && is_digit(c) {
                while let Some(d) = self.peek().filter(|&d| is_digit(d)) {
                    self.pos += 1;
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return c.to_string();
            }
            if !is_letter(c) && !is_digit(c) && c != '_' {
                break;
            }
            self.pos += 1;
            name.push(c);
        }
        name
    }

    /// A nested read inside `${...}`, bounded in depth.
    fn nested(&mut self, stop: char, raw_escapes: bool) -> Result<String, String> {
        if self.depth >= MAX_NESTING {
            return Err("variable substitutions are nested too deeply".to_string());
        }
        self.depth += 1;
        let result = self.until(Some(stop), raw_escapes);
        self.depth -= 1;
        result.map(|(text, _)| text)
    }

    fn nested_or_missing(
        &mut self,
        stop: char,
        raw_escapes: bool,
        missing: &str,
    ) -> Result<String, String> {
        self.nested(stop, raw_escapes).map_err(|err| {
            if self.peek().is_none() {
                missing.to_string()
            } else {
                err
            }
        })
    }

    /// `$name`, `${name}` and `${name<modifier>...}`, returned as written
    /// since no variable is ever set here.
    fn dollar(&mut self) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let c = self.next();
        let mut modifier = shown(c).to_string();
        match c {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut op = c;
                if c == Some(':') {
                    op = self.next();
                    modifier.push(shown(op));
                }
                let raw = matches!(op, Some('#' | '%'));
                let word = self.nested_or_missing('}', raw, "syntax error: missing '}'")?;
                Ok(format!("${{{name}{modifier}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.pos += 1;
                }
                let pattern =
                    self.nested_or_missing('/', true, "syntax error: missing '/' in ${}")?;
                let replacement = self.nested_or_missing('}', true, "syntax error: missing '}'")?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAW: Mode = Mode {
        raw_quotes: true,
        raw_escapes: true,
    };
    const COOKED: Mode = Mode {
        raw_quotes: false,
        raw_escapes: false,
    };

    fn split(src: &str, mode: Mode) -> Result<Vec<String>, String> {
        split_words(src, mode)
    }

    #[test]
    fn raw_mode_keeps_quotes_and_escapes() {
        assert_eq!(
            split(r#"RUN "<<EOF" '<<X' a\ b <<Y"#, RAW),
            Ok(vec![
                "RUN".to_string(),
                "\"<<EOF\"".to_string(),
                "'<<X'".to_string(),
                "a\\ b".to_string(),
                "<<Y".to_string()
            ])
        );
    }

    #[test]
    fn cooked_mode_removes_quotes() {
        assert_eq!(split(r#""EOF""#, COOKED), Ok(vec!["EOF".to_string()]));
        assert_eq!(split("E'O'F", COOKED), Ok(vec!["EOF".to_string()]));
        assert_eq!(split("\"\"", COOKED), Ok(vec![]));
    }

    #[test]
    fn variables_stay_unexpanded() {
        assert_eq!(
            split("$a ${b} ${c:-d}", COOKED),
            Ok(vec!["$a".into(), "${b}".into(), "${c:-d}".into()])
        );
        assert_eq!(
            split("${a:-x y}", COOKED),
            Ok(vec!["${a:-x".into(), "y}".into()])
        );
    }

    #[test]
    fn errors_match_buildkit() {
        assert!(split("'abc", RAW).is_err());
        assert!(split("\"abc", RAW).is_err());
        assert!(split("${a", RAW).is_err());
        assert!(split("${}", RAW).is_err());
        assert!(split("${a!}", RAW).is_err());
        assert_eq!(split("${a:x}", RAW), Ok(vec!["${a:x}".into()]));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = "${a:-".repeat(100_000);
        assert!(split(&src, RAW).is_err());
    }
}
