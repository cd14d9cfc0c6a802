//! Character classes as Go's `unicode` and `strings` packages define them.
//!
//! BuildKit's parser is written in Go, and where it asks "is this a space?",
//! "is this a letter?" or "is this printable?" the answers come from Go's
//! definitions. They mostly agree with Rust's, and this module is where the
//! differences are settled, so the rest of the parser can stay readable.

use unicode_general_category::get_general_category;

/// Go's `unicode.IsSpace`: the Unicode White_Space property, which is exactly
/// what Rust's [`char::is_whitespace`] implements.
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `unicode.IsSpace(rune(b))` applied to a single byte, as BuildKit does
/// in its byte-wise loops (flags, HEALTHCHECK): bytes `0x85` and `0xA0` count
/// as spaces even when they are part of a multi-byte character.
pub(super) fn is_space_byte(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0)
}

/// Go's `strings.TrimSpace`.
pub(super) fn trim_space(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Go's `unicode.IsLetter`: general category L.
pub(super) fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    get_general_category(c).abbreviation().starts_with('L')
}

/// Go's `unicode.IsDigit`: general category Nd.
pub(super) fn is_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    get_general_category(c).abbreviation() == "Nd"
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space; every other space, control, format or unassigned
/// character is escaped by `strconv.Quote`.
pub(super) fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    matches!(
        get_general_category(c).abbreviation().as_bytes().first(),
        Some(b'L' | b'M' | b'N' | b'P' | b'S')
    )
}

/// Go's `strings.ToLower`, which maps each character through the simple
/// (one-to-one) case mapping, unlike Rust's full mapping that may grow a
/// string (`İ` becomes `i̇` in Rust but `i` in Go).
pub(super) fn to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_follows_go() {
        assert!(is_print('a'));
        assert!(is_print('é'));
        assert!(is_print('☃'));
        assert!(!is_print('\u{a0}'));
        assert!(!is_print('\u{ad}'));
        assert!(!is_print('\u{200b}'));
        assert!(!is_print('\u{7f}'));
        assert!(!is_print('\u{e000}'));
    }

    #[test]
    fn lowercase_is_simple_mapping() {
        assert_eq!(to_lower("RUN"), "run");
        assert_eq!(to_lower("İ"), "i");
        assert_eq!(to_lower("ΣΑΣ"), "σασ");
    }
}
