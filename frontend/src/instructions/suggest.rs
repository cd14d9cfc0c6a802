//! Did-you-mean suggestions for misspelled keywords, flags and mount keys.
//!
//! BuildKit suggests the closest known word when its edit distance is below
//! 3; strata does the same so that users get the hints they are used to.

/// The edit distance below which a candidate is offered as a suggestion.
const MAX_DISTANCE: usize = 3;

/// The candidate closest to `value`, if one is close enough to be a likely typo.
///
/// Returns `None` when `value` is itself one of the candidates (the problem is
/// then not a typo) or when nothing is within the distance limit. With
/// `case_sensitive` false the comparison ignores case and the suggestion is
/// returned in the candidate's own spelling.
pub(crate) fn closest<'a, I>(value: &str, candidates: I, case_sensitive: bool) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    let fold = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let wanted = fold(value);
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let folded = fold(candidate);
        if folded == wanted {
            return None;
        }
        let distance = levenshtein(&wanted, &folded);
        if distance < MAX_DISTANCE && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate.to_string())
}

/// The number of single-character insertions, deletions and substitutions
/// that turn `a` into `b`.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance_counts_edits() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("chwon", "chown"), 2);
        assert_eq!(levenshtein("run", "run"), 0);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_picks_the_nearest_candidate() {
        let names = ["RUN", "CMD", "COPY"];
        assert_eq!(closest("runn", names, false).as_deref(), Some("RUN"));
        assert_eq!(closest("run", names, false), None);
        assert_eq!(closest("zzzzzz", names, false), None);
        assert_eq!(closest("Cache", ["cache"], true).as_deref(), Some("cache"));
    }
}
