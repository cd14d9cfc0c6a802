//! The scanner behind [`Lexer`]: one pass over the characters of a word that
//! removes quotes and escapes, expands `$` forms and splits fields.
//!
//! The grammar is recursive (the `w` of `${v:-w}` is a word of its own, and may
//! contain quotes and further `${...}`), so the scanner recurses through
//! [`Scanner::dollar`]. Nesting is capped so that hostile input ends in an
//! error instead of exhausting the stack; every character is otherwise visited
//! once, so the cost is linear in the word plus the values it pulls in.

use std::collections::BTreeSet;
use std::fmt;

use super::pattern::{self, PatternError};
use super::{Env, Expansion, Lexer};

/// How many `$` forms may be nested inside each other; far beyond what a real
/// Dockerfile writes, far below what would exhaust a thread's stack.
const MAX_NESTING: usize = 100;

/// Why a word could not be expanded; becomes the tail of the message of an
/// [`ErrorKind::Expansion`](crate::ErrorKind::Expansion) error.
#[derive(Debug)]
pub(super) enum Problem {
    /// `${` without its `}`.
    MissingBrace,
    /// `${v/p` without the `/` that ends the pattern.
    MissingSlash,
    /// A quote that is never closed.
    UnterminatedQuote(char),
    /// `${}`, `${:...}`, `${{...}`.
    BadSubstitution,
    /// `${v=w}`, `${v:x}` and other forms that do not exist.
    UnsupportedModifier(String),
    /// `${v?msg}` or `${v:?msg}` on an unset (or empty) variable.
    Required { name: String, message: String },
    /// A pattern of `#`, `%` or `/` that cannot be used.
    Pattern {
        pattern: String,
        error: PatternError,
    },
    /// Forms nested deeper than [`MAX_NESTING`].
    TooDeep,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingBrace => f.write_str("syntax error: missing `}`"),
            Self::MissingSlash => f.write_str("syntax error: missing `/` in `${}`"),
            Self::UnterminatedQuote(quote) => {
                write!(
                    f,
                    "unexpected end of word while looking for matching `{quote}`"
                )
            }
            Self::BadSubstitution => f.write_str("syntax error: bad substitution"),
            Self::UnsupportedModifier(modifier) => {
                write!(f, "unsupported modifier `{modifier}` in substitution")
            }
            Self::Required { name, message } => write!(f, "{name}: {message}"),
            Self::Pattern { pattern, error } => {
                write!(f, "invalid pattern `{pattern}` in substitution: {error}")
            }
            Self::TooDeep => write!(f, "substitutions nested more than {MAX_NESTING} deep"),
        }
    }
}

/// Expand `word` with `lexer`'s settings against `env`.
pub(super) fn expand<E: Env + ?Sized>(
    lexer: &Lexer,
    word: &str,
    env: &E,
) -> Result<Expansion, Problem> {
    let mut scanner = Scanner {
        lexer,
        env,
        chars: word.chars().collect(),
        pos: 0,
        raw_escapes: lexer.raw_escapes,
        depth: 0,
        matched: BTreeSet::new(),
        unmatched: BTreeSet::new(),
    };
    let (value, words) = scanner.until(None, lexer.raw_escapes)?;
    Ok(Expansion {
        value,
        words,
        matched: scanner.matched,
        unmatched: scanner.unmatched,
    })
}

/// Field splitting as the scanner goes: characters that came from the text or
/// from expansions may split, quoted and escaped ones never do.
#[derive(Default)]
struct Fields {
    current: String,
    /// Set by anything added to `current`, including an empty quoted string.
    in_field: bool,
    done: Vec<String>,
}

impl Fields {
    /// An unquoted character: a blank ends the current field.
    fn push_splittable(&mut self, ch: char) {
        if !ch.is_whitespace() {
            self.push_literal(ch);
        } else if self.in_field && !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
            self.in_field = false;
        }
    }

    /// A quoted or escaped character: never splits.
    fn push_literal(&mut self, ch: char) {
        self.current.push(ch);
        self.in_field = true;
    }

    /// The value of an unquoted expansion: its blanks split.
    fn push_splittable_str(&mut self, text: &str) {
        text.chars().for_each(|ch| self.push_splittable(ch));
    }

    /// The contents of a quoted string: kept whole.
    fn push_literal_str(&mut self, text: &str) {
        self.current.push_str(text);
        self.in_field = true;
    }

    /// The fields, without empty ones (so `""` alone yields no field, as in
    /// BuildKit).
    fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}

/// The state of one expansion: the word's characters and a cursor, plus what
/// was looked up.
struct Scanner<'a, E: ?Sized> {
    lexer: &'a Lexer,
    env: &'a E,
    chars: Vec<char>,
    pos: usize,
    /// Whether escape characters are kept; on for the patterns of `#`, `%`
    /// and `/`, so that `\*` still reaches the pattern compiler.
    raw_escapes: bool,
    depth: usize,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl<E: Env + ?Sized> Scanner<'_, E> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next_char(&mut self) -> Option<char> {
        let ch = self.peek();
        if ch.is_some() {
            self.pos += 1;
        }
        ch
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.lookup(name) {
            Some(value) => {
                self.matched.insert(name.to_string());
                Some(value.to_string())
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    /// Process text up to `stop` (consumed) or, when `stop` is `None`, to the
    /// end of the word; returns the text and its fields.
    fn until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), Problem> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), Problem> {
        let mut text = String::new();
        let mut fields = Fields::default();
        let quotes = !self.lexer.skip_process_quotes;
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((text, fields.finish()));
            }
            match ch {
                '$' => {
                    let value = self.dollar()?;
                    fields.push_splittable_str(&value);
                    text.push_str(&value);
                }
                '\'' if quotes => {
                    let value = self.single_quoted()?;
                    fields.push_literal_str(&value);
                    text.push_str(&value);
                }
                '"' if quotes => {
                    let value = self.double_quoted()?;
                    fields.push_literal_str(&value);
                    text.push_str(&value);
                }
                _ => {
                    self.pos += 1;
                    if ch != self.lexer.escape {
                        fields.push_splittable(ch);
                        text.push(ch);
                        continue;
                    }
                    if self.raw_escapes {
                        fields.push_literal(ch);
                        text.push(ch);
                    }
                    // An escape at the very end of the word is dropped.
                    let Some(escaped) = self.next_char() else {
                        break;
                    };
                    fields.push_literal(escaped);
                    text.push(escaped);
                }
            }
        }
        match stop {
            Some(_) => Err(Problem::MissingBrace),
            None => Ok((text, fields.finish())),
        }
    }

    /// `'...'`: everything literal up to the next `'`; nothing escapes.
    fn single_quoted(&mut self) -> Result<String, Problem> {
        let mut text = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            text.push('\'');
        }
        loop {
            match self.next_char() {
                None => return Err(Problem::UnterminatedQuote('\'')),
                Some('\'') => {
                    if self.lexer.raw_quotes {
                        text.push('\'');
                    }
                    return Ok(text);
                }
                Some(ch) => text.push(ch),
            }
        }
    }

    /// `"..."`: literal except for `$` forms; the escape character only
    /// escapes `"`, `$` and itself and is kept before anything else.
    fn double_quoted(&mut self) -> Result<String, Problem> {
        let escape = self.lexer.escape;
        let mut text = String::new();
        self.pos += 1;
        if self.lexer.raw_quotes {
            text.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(Problem::UnterminatedQuote('"')),
                Some('"') => {
                    self.pos += 1;
                    if self.lexer.raw_quotes {
                        text.push('"');
                    }
                    return Ok(text);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    text.push_str(&value);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == escape {
                        if self.raw_escapes {
                            text.push(ch);
                        }
                        match self.peek() {
                            // Dropped; the missing `"` is reported next.
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == escape => {
                                ch = next;
                                self.pos += 1;
                            }
                            Some(_) => {}
                        }
                    }
                    text.push(ch);
                }
            }
        }
    }

    /// A `$` form, the cursor on the `$`.
    fn dollar(&mut self) -> Result<String, Problem> {
        if self.depth >= MAX_NESTING {
            return Err(Problem::TooDeep);
        }
        self.depth += 1;
        let result = self.dollar_inner();
        self.depth -= 1;
        result
    }

    fn dollar_inner(&mut self) -> Result<String, Problem> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(Problem::MissingBrace),
            Some('{' | '}' | ':') => return Err(Problem::BadSubstitution),
            Some(_) => {}
        }
        let name = self.name();
        match self.next_char() {
            None => Err(Problem::MissingBrace),
            Some('}') => Ok(match self.lookup(&name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                let modifier = self.next_char();
                self.modifier(&name, true, modifier)
            }
            Some(modifier @ ('+' | '-' | '?' | '#' | '%')) => {
                self.modifier(&name, false, Some(modifier))
            }
            Some('/') => self.replace(&name),
            Some(other) => Err(Problem::UnsupportedModifier(other.to_string())),
        }
    }

    /// `${name` + `:`? + `modifier` + `word}`, the cursor after the modifier.
    fn modifier(
        &mut self,
        name: &str,
        colon: bool,
        modifier: Option<char>,
    ) -> Result<String, Problem> {
        let is_pattern = matches!(modifier, Some('#' | '%'));
        let (word, _) = self.until(Some('}'), is_pattern).map_err(|problem| {
            if self.peek().is_none() {
                Problem::MissingBrace
            } else {
                problem
            }
        })?;
        let spelled = || {
            let mut spelled = if colon {
                ":".to_string()
            } else {
                String::new()
            };
            spelled.extend(modifier);
            spelled
        };
        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            return Ok(format!("${{{name}{}{word}}}", spelled()));
        }
        // With a colon, an empty value counts as unset.
        let usable = value.as_deref().filter(|v| !(colon && v.is_empty()));
        match modifier {
            Some('-') => Ok(usable.map_or(word, str::to_string)),
            Some('+') => Ok(usable.map_or(String::new(), |_| word)),
            Some('?') => match (&value, usable) {
                (_, Some(v)) => Ok(v.to_string()),
                (None, None) => Err(required(name, word, "is not allowed to be unset")),
                (Some(_), None) => Err(required(name, word, "is not allowed to be empty")),
            },
            Some(op @ ('#' | '%')) => {
                let (pattern, longest) = match word.strip_prefix(op) {
                    Some(rest) => (rest.to_string(), true),
                    None => (word, false),
                };
                let value = value.unwrap_or_default();
                let trimmed = if op == '#' {
                    pattern::trim_prefix(&value, &pattern, longest)
                } else {
                    pattern::trim_suffix(&value, &pattern, longest)
                };
                trimmed.map_err(|error| Problem::Pattern { pattern, error })
            }
            _ => Err(Problem::UnsupportedModifier(spelled())),
        }
    }

    /// `${name/pattern/replacement}` or `${name//...}`, the cursor after the
    /// first `/`.
    fn replace(&mut self, name: &str) -> Result<String, Problem> {
        let all = self.peek() == Some('/');
        if all {
            self.pos += 1;
        }
        let (pattern, _) = self.until(Some('/'), true).map_err(|problem| {
            if self.peek().is_none() {
                Problem::MissingSlash
            } else {
                problem
            }
        })?;
        let (replacement, _) = self.until(Some('}'), true).map_err(|problem| {
            if self.peek().is_none() {
                Problem::MissingBrace
            } else {
                problem
            }
        })?;
        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            let slashes = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"));
        }
        let value = value.unwrap_or_default();
        pattern::replace(&value, &pattern, &replacement, all)
            .map_err(|error| Problem::Pattern { pattern, error })
    }

    /// A parameter name at the cursor: a run of digits (positional), one
    /// special character, or letters, digits and `_`. Empty when none starts
    /// here.
    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(ch) if ch.is_numeric() => {
                while let Some(ch) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(ch);
                    self.pos += 1;
                }
            }
            Some(ch @ ('@' | '*' | '#' | '?' | '-' | '$' | '!')) => {
                name.push(ch);
                self.pos += 1;
            }
            _ => {
                while let Some(ch) = self.peek().filter(|c| c.is_alphanumeric() || *c == '_') {
                    name.push(ch);
                    self.pos += 1;
                }
            }
        }
        name
    }
}

/// The error of `${name?word}`: the word is the message when there is one.
fn required(name: &str, word: String, default: &str) -> Problem {
    let message = if word.is_empty() {
        default.to_string()
    } else {
        word
    };
    Problem::Required {
        name: name.to_string(),
        message,
    }
}
