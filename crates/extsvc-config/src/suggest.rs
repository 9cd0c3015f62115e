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

/// The candidate closest to `input` (case-insensitive) however far, with its distance.
pub(crate) fn nearest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, usize)> {
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
