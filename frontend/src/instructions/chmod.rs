//! `--chmod` values of COPY and ADD: octal (`0755`) or symbolic (`u+x,go=rX`).
//!
//! BuildKit accepts an octal number up to 07777 and, since Dockerfile 1.14,
//! the symbolic notation of chmod(1) (through a port of BSD's `setmode`). An
//! octal mode replaces the permission bits; a symbolic one transforms each
//! file's own mode, so `X` can tell directories from files. [`Chmod`] keeps
//! either form and [`Chmod::apply`] computes the result for one file.
//!
//! Symbolic modes are applied with a umask of 0: a clause without `u`, `g`,
//! `o` or `a` (`+x`) affects everyone.

use crate::error::{DockerfileError, ErrorKind};

const SET_UID: u32 = 0o4000;
const SET_GID: u32 = 0o2000;
const STICKY: u32 = 0o1000;
const USER: u32 = 0o700;
const GROUP: u32 = 0o070;
const OTHER: u32 = 0o007;
/// Permission and set-id bits, what `a` and `=` without a class touch.
const STANDARD: u32 = SET_UID | SET_GID | USER | GROUP | OTHER;
const ALL_BITS: u32 = 0o7777;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// An absolute mode such as `0755`.
    Octal(u32),
    /// A symbolic mode such as `u=rwX,go=rX`.
    Symbolic(SymbolicMode),
}

/// A symbolic mode: its text and the bit operations it stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolicMode {
    text: String,
    ops: Vec<ModeOp>,
}

impl SymbolicMode {
    /// The mode as written, for history and cache keys.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One step of a symbolic mode, applied in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ModeOp {
    /// Set these bits.
    Set(u32),
    /// Clear these bits.
    Clear(u32),
    /// Set (or clear) these bits when the file is a directory or executable
    /// by anyone before the change (`X`).
    IfExecutable {
        /// The execute bits concerned.
        bits: u32,
        /// True to set them, false to clear them.
        set: bool,
    },
    /// `g=u`, `o+g`, ...: copy one class's rwx bits onto other classes.
    Copy {
        /// The shift of the source class (6 user, 3 group, 0 other).
        from_shift: u32,
        /// The shifts of the classes written to.
        to_shifts: Vec<u32>,
        /// The bits that may change.
        mask: u32,
        /// The operator: `+`, `-` or `=`.
        op: u8,
    },
}

impl Chmod {
    /// Parse an (expanded) `--chmod` value as BuildKit does.
    pub fn parse(text: &str) -> Result<Self, DockerfileError> {
        let invalid = || {
            DockerfileError::new(
                ErrorKind::InvalidFlag,
                format!(
                    "invalid chmod parameter `{text}`: it should be an octal number between 0 and 07777 or a symbolic mode"
                ),
            )
            .with_hint("write --chmod=755 or --chmod=u=rwX,go=rX")
        };
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let mode = u32::from_str_radix(text, 8).map_err(|_| invalid())?;
            if mode > ALL_BITS {
                return Err(invalid());
            }
            return Ok(Self::Octal(mode));
        }
        let ops = parse_symbolic(text.as_bytes()).ok_or_else(invalid)?;
        Ok(Self::Symbolic(SymbolicMode {
            text: text.to_string(),
            ops,
        }))
    }

    /// The mode of a file after the change: `mode` is its current mode (type
    /// bits above 07777 are kept), `is_dir` tells directories apart for `X`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let old = mode & ALL_BITS;
        let new = match self {
            Self::Octal(bits) => *bits,
            Self::Symbolic(symbolic) => apply_ops(&symbolic.ops, old, is_dir),
        };
        (mode & !ALL_BITS) | new
    }
}

fn apply_ops(ops: &[ModeOp], old: u32, is_dir: bool) -> u32 {
    let mut new = old;
    for op in ops {
        match op {
            ModeOp::Set(bits) => new |= bits,
            ModeOp::Clear(bits) => new &= !bits,
            ModeOp::IfExecutable { bits, set } => {
                if is_dir || old & 0o111 != 0 {
                    if *set {
                        new |= bits;
                    } else {
                        new &= !bits;
                    }
                }
            }
            ModeOp::Copy {
                from_shift,
                to_shifts,
                mask,
                op,
            } => {
                let value = (new >> from_shift) & 0o7;
                if *op != b'+' {
                    let clear = if *op == b'=' { 0o7 } else { value };
                    for shift in to_shifts {
                        new &= !((clear << shift) & mask);
                    }
                }
                if *op != b'-' {
                    for shift in to_shifts {
                        new |= (value << shift) & mask;
                    }
                }
            }
        }
    }
    new
}

/// The bit operations of one operator with its permission letters.
fn push_op(ops: &mut Vec<ModeOp>, op: u8, who: u32, perm: u32) {
    let bits = if who != 0 {
        who & perm
    } else {
        ALL_BITS & perm
    };
    match op {
        b'=' => {
            ops.push(ModeOp::Clear(if who != 0 { who } else { STANDARD }));
            ops.push(ModeOp::Set(bits));
        }
        b'+' => ops.push(ModeOp::Set(bits)),
        _ => ops.push(ModeOp::Clear(bits)),
    }
}

/// `X`: execute permission for directories and files already executable by
/// someone. With `+` and `=` it sets those bits, with `-` it clears them, as
/// GNU chmod does and BuildKit's documentation describes (`u=rwX,go=rX`).
fn push_conditional(ops: &mut Vec<ModeOp>, op: u8, who: u32, perm: u32) {
    let bits = if who != 0 {
        who & perm
    } else {
        ALL_BITS & perm
    };
    ops.push(ModeOp::IfExecutable {
        bits,
        set: op != b'-',
    });
}

fn push_copy(ops: &mut Vec<ModeOp>, op: u8, who: u32, from: u8) {
    let from_shift = match from {
        b'u' => 6,
        b'g' => 3,
        _ => 0,
    };
    let (to_shifts, mask) = if who == 0 {
        (vec![6, 3, 0], ALL_BITS)
    } else {
        let shifts = [(0o400, 6), (0o040, 3), (0o004, 0)]
            .iter()
            .filter(|(bit, _)| who & bit != 0)
            .map(|(_, shift)| *shift)
            .collect();
        (shifts, ALL_BITS)
    };
    ops.push(ModeOp::Copy {
        from_shift,
        to_shifts,
        mask,
        op,
    });
}

/// chmod(1)'s grammar: `[ugoa]*([-+=]([rwxXst]*|[ugo]))+` clauses joined by commas.
fn parse_symbolic(text: &[u8]) -> Option<Vec<ModeOp>> {
    let mut ops = Vec::new();
    let mut i = 0;
    let mut equal_done = false;
    loop {
        let mut who_clause = 0;
        while let Some(c) = text.get(i) {
            who_clause |= match c {
                b'a' => STANDARD,
                b'u' => SET_UID | USER,
                b'g' => SET_GID | GROUP,
                b'o' => OTHER,
                _ => break,
            };
            i += 1;
        }
        loop {
            let op = *text.get(i)?;
            i += 1;
            match op {
                b'+' | b'-' => {}
                b'=' => equal_done = false,
                _ => return None,
            }
            let mut who = who_clause & !STICKY;
            let (mut perm, mut perm_x) = (0, 0);
            let not_only_other = |who: u32| who == 0 || who & !OTHER != 0;
            loop {
                match text.get(i).copied() {
                    Some(b'r') => perm |= 0o444,
                    Some(b'w') => perm |= 0o222,
                    Some(b'x') => perm |= 0o111,
                    Some(b'X') => perm_x = 0o111,
                    Some(b's') if not_only_other(who) => perm |= SET_UID | SET_GID,
                    Some(b't') if not_only_other(who) => {
                        who |= STICKY;
                        perm |= STICKY;
                    }
                    Some(b's' | b't') => {}
                    Some(from @ (b'u' | b'g' | b'o')) => {
                        if perm != 0 {
                            push_op(&mut ops, op, who, perm);
                            perm = 0;
                        }
                        if op == b'=' {
                            equal_done = true;
                        }
                        if perm_x != 0 {
                            push_conditional(&mut ops, op, who, perm_x);
                            perm_x = 0;
                        }
                        push_copy(&mut ops, op, who, from);
                    }
                    _ => {
                        if perm != 0 || (op == b'=' && !equal_done) {
                            if op == b'=' {
                                equal_done = true;
                            }
                            push_op(&mut ops, op, who, perm);
                        }
                        if perm_x != 0 {
                            push_conditional(&mut ops, op, who, perm_x);
                        }
                        break;
                    }
                }
                i += 1;
            }
            match text.get(i) {
                None => return Some(ops),
                Some(b',') => {
                    i += 1;
                    break;
                }
                Some(_) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(mode: &str, old: u32, is_dir: bool) -> u32 {
        Chmod::parse(mode).unwrap().apply(old, is_dir)
    }

    #[test]
    fn symbolic_modes_follow_chmod() {
        assert_eq!(apply("u+x", 0o644, false), 0o744);
        assert_eq!(apply("+x", 0o644, false), 0o755);
        assert_eq!(apply("go-w", 0o777, false), 0o755);
        assert_eq!(apply("u=rwX,go=rX", 0o600, false), 0o644);
        assert_eq!(apply("u=rwX,go=rX", 0o700, true), 0o755);
        assert_eq!(apply("u=rwX,go=rX", 0o744, false), 0o755);
        assert_eq!(apply("g=u", 0o640, false), 0o660);
        assert_eq!(apply("go=u-w", 0o755, false), 0o755);
        assert_eq!(apply("u=rwx,go=u-w", 0o000, false), 0o755);
        assert_eq!(apply("go=", 0o777, false), 0o700);
        assert_eq!(apply("a=r,u+w", 0o777, false), 0o644);
        assert_eq!(apply("u+s,+t", 0o755, false), 0o5755);
        assert_eq!(apply("o+s", 0o755, false), 0o755);
        assert_eq!(apply("a-X", 0o755, true), 0o644);
        assert_eq!(apply("a-X", 0o644, false), 0o644);
        assert_eq!(apply("a+X", 0o644, false), 0o644);
    }

    #[test]
    fn type_bits_are_kept() {
        assert_eq!(apply("0644", 0o100755, false), 0o100644);
        assert_eq!(apply("a-x", 0o40755, true), 0o40644);
    }

    #[test]
    fn bad_modes() {
        for bad in ["", "8", "0o755", "10000", "u", "u+q", "x+u", "u+x,", "+x y"] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Chmod::parse("7777").unwrap(), Chmod::Octal(0o7777));
    }
}
