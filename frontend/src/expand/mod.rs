//! Variable expansion of Dockerfile words, the way BuildKit's shell lexer does it.
//!
//! Instructions such as `ENV`, `ARG`, `COPY`, `WORKDIR` or `FROM` take words in
//! which `$name` and `${name...}` are replaced from the build environment before
//! the instruction runs. This is not a shell: no commands are run, no globbing of
//! file names happens and only the parameter forms below exist, but quoting and
//! escaping follow the shell closely enough that Dockerfiles behave as in
//! `docker build`.
//!
//! Vocabulary:
//! - a *word* is the raw text of one argument as written in the Dockerfile;
//! - *processing* a word removes its quotes and escapes and expands the
//!   variables in it; *splitting* additionally cuts the result into fields at
//!   unquoted blanks that came from the text or from expanded values;
//! - an *environment* ([`Env`]) answers "what is the value of `name`", where an
//!   unset name (`None`) differs from a name set to the empty string.
//!
//! Supported forms: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`,
//! `${v:?msg}`, `${v?msg}`, `${v#p}`, `${v##p}`, `${v%p}`, `${v%%p}`,
//! `${v/p/r}` and `${v//p/r}`, where `w`, `msg`, `p` and `r` are themselves
//! words (so they nest). Patterns are globs in which `*` matches any string,
//! `?` any character and `\` quotes the next `*`, `?` or `\`; like BuildKit,
//! brackets are literal characters. Positional and special parameters (`$1`,
//! `$@`, `$#`, ...) are recognised as names and are normally unset.
//!
//! ```
//! use std::collections::BTreeMap;
//! use frontend::expand::Lexer;
//!
//! let env = BTreeMap::from([("VERSION".to_string(), "1.4.2".to_string())]);
//! let lexer = Lexer::default();
//! assert_eq!(lexer.process_word("app-${VERSION%.*}.tar", &env).unwrap(), "app-1.4.tar");
//! assert_eq!(lexer.process_words("a 'b c' $VERSION", &env).unwrap(), ["a", "b c", "1.4.2"]);
//! ```

mod pattern;
#[cfg(test)]
mod tests;
mod word;

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasher, Hash};

use crate::error::{DockerfileError, ErrorKind};

/// Where expansion reads variable values from.
///
/// A trait rather than one map type because the callers hold their variables in
/// different shapes: lowering keeps an ordered list of `ENV`/`ARG` definitions
/// (later ones shadow earlier ones), tests and the CLI use maps.
pub trait Env {
    /// The value of `name`, or `None` when the name is unset (which `${v-w}`
    /// and `${v?msg}` distinguish from a value that is set but empty).
    fn lookup(&self, name: &str) -> Option<&str>;
}

/// A list of definitions in the order they were made: the last definition of
/// a name wins, as with successive `ENV` instructions.
impl<K: AsRef<str>, V: AsRef<str>> Env for [(K, V)] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(key, _)| key.as_ref() == name)
            .map(|(_, value)| value.as_ref())
    }
}

/// Same as the slice: the last definition of a name wins.
impl<K: AsRef<str>, V: AsRef<str>> Env for Vec<(K, V)> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// Same as the slice: the last definition of a name wins.
impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Env for [(K, V); N] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.as_slice().lookup(name)
    }
}

/// A map holds one value per name.
impl<K: Borrow<str> + Ord, V: AsRef<str>> Env for BTreeMap<K, V> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(AsRef::as_ref)
    }
}

/// A map holds one value per name.
impl<K: Borrow<str> + Hash + Eq, V: AsRef<str>, S: BuildHasher> Env for HashMap<K, V, S> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(AsRef::as_ref)
    }
}

/// Lets callers pass `&env` where an environment is taken by value.
impl<T: Env + ?Sized> Env for &T {
    fn lookup(&self, name: &str) -> Option<&str> {
        (**self).lookup(name)
    }
}

/// The expander: an escape character plus the few switches BuildKit's callers
/// use to keep parts of a word verbatim.
///
/// It holds no state between calls, so one lexer (usually built once per
/// Dockerfile from its `# escape=` directive) can process any number of words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    skip_unset_env: bool,
    skip_process_quotes: bool,
}

impl Default for Lexer {
    /// The lexer of a Dockerfile without an `# escape=` directive.
    fn default() -> Self {
        Self::new('\\')
    }
}

impl Lexer {
    /// A lexer whose escape character is `escape` (`\`, or `` ` `` after
    /// `# escape=``), with every switch off.
    pub const fn new(escape: char) -> Self {
        Self {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// The escape character this lexer was built with.
    pub const fn escape(&self) -> char {
        self.escape
    }

    /// Keep quote characters in the result (they still group and protect their
    /// contents), for callers that expand now and let a later stage unquote.
    pub const fn raw_quotes(mut self, on: bool) -> Self {
        self.raw_quotes = on;
        self
    }

    /// Keep escape characters in the result (the escaped character is still
    /// taken literally), for the same two-stage callers as [`Lexer::raw_quotes`].
    pub const fn raw_escapes(mut self, on: bool) -> Self {
        self.raw_escapes = on;
        self
    }

    /// Leave references to unset variables as written (`$x`, `${x:-w}`)
    /// instead of expanding them, so that a later pass with more variables can
    /// still expand them.
    pub const fn skip_unset_env(mut self, on: bool) -> Self {
        self.skip_unset_env = on;
        self
    }

    /// Treat `'` and `"` as ordinary characters, for words whose quotes belong
    /// to a program that runs later (a heredoc body, a shell command).
    pub const fn skip_process_quotes(mut self, on: bool) -> Self {
        self.skip_process_quotes = on;
        self
    }

    /// Expand `word` as one argument: quotes and escapes removed, variables
    /// replaced, blanks kept.
    pub fn process_word<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<String, DockerfileError> {
        self.process_word_with_matches(word, env)
            .map(|expansion| expansion.value)
    }

    /// Expand `word` and split it into fields at unquoted blanks, for
    /// instructions that take several arguments from one line (`COPY a b c`).
    /// Blanks inside quotes or escaped stay inside their field; blanks that
    /// come from an unquoted variable split it, as in a shell.
    pub fn process_words<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<Vec<String>, DockerfileError> {
        self.process_word_with_matches(word, env)
            .map(|expansion| expansion.words)
    }

    /// Expand `word` and also report which variable names it looked up, so that
    /// lowering knows which build arguments a step depends on (and can warn
    /// about names that were never set).
    pub fn process_word_with_matches<E: Env + ?Sized>(
        &self,
        word: &str,
        env: &E,
    ) -> Result<Expansion, DockerfileError> {
        word::expand(self, word, env).map_err(|problem| {
            DockerfileError::new(
                ErrorKind::Expansion,
                format!("failed to expand `{word}`: {problem}"),
            )
        })
    }
}

/// Everything one expansion produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The word after expansion, as [`Lexer::process_word`] returns it.
    pub value: String,
    /// The fields after splitting, as [`Lexer::process_words`] returns them.
    pub words: Vec<String>,
    /// Names that were looked up and set (even when the form then ignored the
    /// value, as `${v:+w}` does).
    pub matched: BTreeSet<String>,
    /// Names that were looked up and unset.
    pub unmatched: BTreeSet<String>,
}
