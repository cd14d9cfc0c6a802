//! `--chmod` values: octal (`0755`, `4755`) or symbolic like chmod(1)
//! (`u+x,g-w,o=r`, `a+X`, `u=g`, `+t`).
//!
//! A symbolic mode is applied to each copied file's own mode, so `+x` keeps
//! whatever the file had and adds execute, and `X` adds execute only to
//! directories and to files that already had an execute bit.

use super::FileOpError;

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// Octal: replaces the permission bits (0777). The source's setuid, setgid and
    /// sticky bits stay and the value's own are ignored, as docker's BuildKit does
    /// (`tests/docker_parity.rs`, case `modes`).
    Octal(u32),
    /// Symbolic clauses, applied in order.
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    actions: Vec<(char, Perms)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perms {
    Bits { bits: u32, cond_x: bool },
    Copy(char),
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl Chmod {
    /// Parses a `--chmod` value as written in the Dockerfile.
    pub fn parse(value: &str) -> Result<Self, FileOpError> {
        let bad = |reason: &str| FileOpError::InvalidChmod {
            value: value.to_owned(),
            reason: reason.to_owned(),
        };
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            let m = u32::from_str_radix(value, 8).map_err(|_| bad("not an octal number"))?;
            if m > 0o7777 {
                return Err(bad("octal mode above 7777"));
            }
            return Ok(Self::Octal(m));
        }
        let mut clauses = Vec::new();
        for part in value.split(',') {
            let mut chars = part.chars().peekable();
            let mut who = 0;
            while let Some(c) = chars.peek() {
                who |= match c {
                    'u' => USER,
                    'g' => GROUP,
                    'o' => OTHER,
                    'a' => USER | GROUP | OTHER,
                    _ => break,
                };
                chars.next();
            }
            let mut actions = Vec::new();
            while let Some(op) = chars.next() {
                if !matches!(op, '+' | '-' | '=') {
                    return Err(bad("expected `+`, `-` or `=`"));
                }
                let mut bits = 0;
                let mut cond_x = false;
                let mut copy = None;
                while let Some(c) = chars.peek().copied() {
                    match c {
                        'r' => bits |= 0o444,
                        'w' => bits |= 0o222,
                        'x' => bits |= 0o111,
                        'X' => cond_x = true,
                        's' => bits |= 0o6000,
                        't' => bits |= 0o1000,
                        'u' | 'g' | 'o' if bits == 0 && !cond_x && copy.is_none() => copy = Some(c),
                        '+' | '-' | '=' => break,
                        _ => return Err(bad("unknown permission character")),
                    }
                    chars.next();
                }
                let perms = match copy {
                    Some(c) => Perms::Copy(c),
                    None => Perms::Bits { bits, cond_x },
                };
                actions.push((op, perms));
            }
            if actions.is_empty() {
                return Err(bad("a clause needs `+`, `-` or `=`"));
            }
            clauses.push(Clause { who, actions });
        }
        Ok(Self::Symbolic(clauses))
    }

    /// The mode a copied entry gets, from its source mode.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut mode = mode & 0o7777;
        let clauses = match self {
            Self::Octal(m) => return (mode & 0o7000) | (m & 0o777),
            Self::Symbolic(c) => c,
        };
        for clause in clauses {
            // No `who` means `a` (BuildKit applies no umask here).
            let who = if clause.who == 0 {
                USER | GROUP | OTHER
            } else {
                clause.who
            };
            for (op, perms) in &clause.actions {
                let bits = match perms {
                    Perms::Bits { bits, cond_x } => {
                        let x = if *cond_x && (is_dir || mode & 0o111 != 0) {
                            0o111
                        } else {
                            0
                        };
                        (bits | x) & who
                    }
                    Perms::Copy(c) => {
                        let rwx = match c {
                            'u' => (mode >> 6) & 7,
                            'g' => (mode >> 3) & 7,
                            _ => mode & 7,
                        };
                        (rwx * 0o111) & who & 0o777
                    }
                };
                match op {
                    '+' => mode |= bits,
                    '-' => mode &= !bits,
                    _ => mode = (mode & !(who & 0o7777)) | bits,
                }
            }
        }
        mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s).unwrap().apply(mode, dir)
    }

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(ap("755", 0o600, false), 0o755);
        assert_eq!(ap("4755", 0o600, false), 0o755);
        assert_eq!(ap("640", 0o4755, false), 0o4640);
        assert_eq!(ap("640", 0o1777, true), 0o1640);
        assert_eq!(ap("u+x", 0o644, false), 0o744);
        assert_eq!(ap("g-w,o=r", 0o676, false), 0o654);
        assert_eq!(ap("a+X", 0o644, false), 0o644);
        assert_eq!(ap("a+X", 0o644, true), 0o755);
        assert_eq!(ap("a+X", 0o744, false), 0o755);
        assert_eq!(ap("+x", 0o600, false), 0o711);
        assert_eq!(ap("u=rwx,go=rx", 0, false), 0o755);
        assert_eq!(ap("g=u", 0o700, false), 0o770);
        assert_eq!(ap("u+s", 0o755, false), 0o4755);
        assert_eq!(ap("+t", 0o777, true), 0o1777);
        assert!(Chmod::parse("u*x").is_err());
        assert!(Chmod::parse("99999").is_err());
        assert!(Chmod::parse("").is_err());
    }
}
