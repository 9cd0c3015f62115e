//! "Did you mean" suggestions for unknown keys and variables, by edit distance.

/// Levenshtein distance between two strings, by `char`, case-sensitive.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// The candidate closest to `input` (case-insensitive), when it is close enough to be a
/// plausible typo: at most a third of the input's length away (and at least one edit
/// allowed). Ties go to the earlier candidate.
pub(crate) fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lowered = input.to_ascii_lowercase();
    let limit = (input.chars().count() / 3).max(1);
    nearest(&lowered, candidates)
        .filter(|(_, d)| *d <= limit)
        .map(|(c, _)| c)
}

/// Names longer than this get no suggestion: the longest key or variable name is about 60
/// characters, and the distance costs input length × candidate length per candidate (a
/// 120 kB name against every variable took seconds of CPU).
pub(crate) const MAX_SUGGESTED_LEN: usize = 128;

/// The candidate closest to `input` (case-insensitive) however far, with its distance;
/// `None` for an input longer than [`MAX_SUGGESTED_LEN`].
pub(crate) fn nearest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, usize)> {
    if input.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let lowered = input.to_ascii_lowercase();
    let mut best: Option<(&'a str, usize)> = None;
    for candidate in candidates {
        let d = edit_distance(&lowered, &candidate.to_ascii_lowercase());
        if best.is_none_or(|(_, bd)| d < bd) {
            best = Some((candidate, d));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurdly_long_names_get_no_suggestion_and_cost_nothing() {
        let long = format!("cert_fiel{}", "x".repeat(120_000));
        let started = std::time::Instant::now();
        for _ in 0..15 {
            assert_eq!(closest(&long, ["cert_file", "key_file"]), None);
        }
        assert!(started.elapsed() < std::time::Duration::from_millis(50));
        assert_eq!(closest("cert_fiel", ["cert_file", "key_file"]), Some("cert_file"));
    }

    #[test]
    fn distances() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("abc", ""), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("cert_fiel", "cert_file"), 2);
    }

    #[test]
    fn suggests_only_plausible_typos() {
        let names = ["cert_file", "key_file", "ca_file", "enabled"];
        assert_eq!(closest("cert_fiel", names), Some("cert_file"));
        assert_eq!(closest("Enable", names), Some("enabled"));
        assert_eq!(closest("colour", names), None);
        assert_eq!(nearest("colour", names).map(|(c, _)| c), Some("ca_file"));
    }
}
