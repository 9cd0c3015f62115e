//! "Did you mean" suggestions for unknown keys and variables, by edit distance, in bounded
//! time.
//!
//! The distance costs input length × candidate length per candidate, so the search is
//! bounded three ways: names longer than [`MAX_SUGGESTED_LEN`] get none; a candidate whose
//! length differs from the input's by more than the distance allowed (or than the best
//! found so far) is skipped, since the length difference is a lower bound of the
//! distance; and an unknown variable is compared segment by segment (its service with the
//! six block names, the rest with that block's dozen fields) against an index built once,
//! not as a whole with the 140 variable names. 5,000 unknown variables with 120-character
//! names took 6 s of CPU before any output; they now take milliseconds
//! (`tests::thousands_of_unknown_variables_cost_milliseconds`).

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::keys::{KeySpec, KEYS};

/// Levenshtein distance between two strings, by `char`, case-sensitive.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// The candidate closest to `input` (case-insensitive), when it is close enough to be a
/// plausible typo: at most a third of the input's length away (and at least one edit
/// allowed). Ties go to the earlier candidate.
pub(crate) fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nearest_within(input, candidates, plausible(input)).map(|(c, _)| c)
}

/// How many edits still make a plausible typo of `input`: a third of its length, at least 1.
fn plausible(input: &str) -> usize {
    (input.chars().count() / 3).max(1)
}

/// Names longer than this (in bytes) get no suggestion: the longest key or variable name
/// is about 60 characters, and the distance costs input length × candidate length per
/// candidate (a 120 kB name against every variable took seconds of CPU).
pub(crate) const MAX_SUGGESTED_LEN: usize = 128;

/// The candidate closest to `input` (ASCII case-insensitive) at most `limit` edits away,
/// with its distance; ties go to the earlier candidate. A candidate whose length alone
/// puts it further than the limit or the best so far is not compared, and a comparison
/// stops as soon as it cannot end within that bound.
fn nearest_within<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    limit: usize,
) -> Option<(&'a str, usize)> {
    if input.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let mut best: Option<(&'a str, usize)> = None;
    for candidate in candidates {
        let bound = best.map_or(limit, |(_, d)| d.saturating_sub(1)).min(limit);
        if candidate.len().abs_diff(input.len()) > bound || candidate.len() > MAX_SUGGESTED_LEN {
            continue;
        }
        if bag_distance(input.as_bytes(), candidate.as_bytes()) > bound {
            continue;
        }
        if let Some(d) = bounded_distance(input.as_bytes(), candidate.as_bytes(), bound) {
            best = Some((candidate, d));
        }
    }
    best
}

/// A lower bound of the edit distance of `a` and `b`, in linear time: the bytes one has
/// more of than the other (ASCII case folded, then folded into 64 buckets, which can only
/// lower the count). Each edit changes the count of at most one byte each way.
fn bag_distance(a: &[u8], b: &[u8]) -> usize {
    let mut counts = [0i32; 64];
    for &x in a {
        counts[usize::from(x.to_ascii_uppercase() & 63)] += 1;
    }
    for &y in b {
        counts[usize::from(y.to_ascii_uppercase() & 63)] -= 1;
    }
    let (more, fewer) = counts.iter().fold((0u32, 0u32), |(more, fewer), &c| {
        (more + c.max(0).unsigned_abs(), fewer + c.min(0).unsigned_abs())
    });
    more.max(fewer) as usize
}

/// Levenshtein distance of `a` and `b` by byte, ASCII case-insensitive, when it is at most
/// `bound`; `None` as soon as every entry of a row exceeds it. Both at most
/// [`MAX_SUGGESTED_LEN`] bytes (one row lives on the stack).
fn bounded_distance(a: &[u8], b: &[u8], bound: usize) -> Option<usize> {
    let mut row = [0usize; MAX_SUGGESTED_LEN + 1];
    let row = &mut row[..=b.len()];
    for (j, cell) in row.iter_mut().enumerate() {
        *cell = j;
    }
    for (i, &x) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        let mut smallest = row[0];
        for (j, &y) in b.iter().enumerate() {
            let cost = usize::from(!x.eq_ignore_ascii_case(&y));
            let next = (diagonal + cost).min(row[j] + 1).min(row[j + 1] + 1);
            diagonal = row[j + 1];
            row[j + 1] = next;
            smallest = smallest.min(next);
        }
        if smallest > bound {
            return None;
        }
    }
    Some(row[b.len()]).filter(|&d| d <= bound)
}

/// The service names people write for a block, and the block they mean (SPEC section 1:
/// `REDIS` suggests `STORAGE`). Compared after the exact block names, before edit distance.
const BLOCK_ALIASES: [(&str, &str); 16] = [
    ("REDIS", "STORAGE"),
    ("CACHE", "STORAGE"),
    ("STORE", "STORAGE"),
    ("JWT", "OAUTH"),
    ("JWKS", "OAUTH"),
    ("OIDC", "OAUTH"),
    ("IDP", "OAUTH"),
    ("OAUTH2", "OAUTH"),
    ("AUTH", "OAUTH"),
    ("INTROSPECTION", "OAUTH"),
    ("WEBHOOK", "WEBHOOKS"),
    ("EVENTS", "WEBHOOKS"),
    ("HEALTHCHECK", "HEALTH"),
    ("UPTIME", "HEALTH"),
    ("SERVICEDISCOVERY", "DISCOVERY"),
    ("SD", "DISCOVERY"),
];

/// One variable name of a key, split for the search: the block (`OAUTH`, `GLOBAL`) and the
/// rest (`MTLS_CERT_FILE` or Tyk's `MTLS_CERTFILE`).
struct IndexedName {
    field: String,
    key: &'static KeySpec,
    tyk: bool,
}

/// The variables of every non-legacy key, indexed once per process (names without the
/// prefix, which is configurable, so one index serves every prefix).
struct VariableIndex {
    /// Name after the prefix with every `_` removed → key: a mix of the two spellings.
    squashed: HashMap<String, &'static KeySpec>,
    /// Block name → its fields in both spellings, documented first.
    blocks: Vec<(String, Vec<IndexedName>)>,
}

fn variable_index() -> &'static VariableIndex {
    static INDEX: OnceLock<VariableIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut squashed = HashMap::new();
        let mut blocks: Vec<(String, Vec<IndexedName>)> = Vec::new();
        for key in KEYS.iter().filter(|k| !k.is_legacy()) {
            let documented = key.env_var("");
            squashed.insert(documented.replace('_', ""), key);
            for (name, tyk, head) in [
                (documented, false, "EXTERNAL_SERVICES_"),
                (key.tyk_env_var(""), true, "EXTERNALSERVICES_"),
            ] {
                let Some((block, field)) = name.strip_prefix(head).and_then(|rest| rest.split_once('_')) else {
                    continue;
                };
                let entry = IndexedName {
                    field: field.to_owned(),
                    key,
                    tyk,
                };
                match blocks.iter_mut().find(|(b, _)| b == block) {
                    Some((_, fields)) => fields.push(entry),
                    None => blocks.push((block.to_owned(), vec![entry])),
                }
            }
        }
        for (_, fields) in &mut blocks {
            fields.sort_by_key(|f| f.tyk);
        }
        VariableIndex { squashed, blocks }
    })
}

/// The variable to suggest for `name`, an unknown `<prefix>EXTERNAL_SERVICES_…` or
/// `<prefix>EXTERNALSERVICES_…` variable: the one that differs only in underscores (a mix
/// of the two spellings, given in the documented spelling); else, in the spelling its
/// block part uses, the key of its block — the block named, an alias of it (`REDIS` →
/// `STORAGE`) or a plausible typo of it; `GLOBAL` when no block is named — whose field is
/// a plausible typo of the rest.
pub(crate) fn variable(name: &str, prefix: &str) -> Option<String> {
    let rest = name.strip_prefix(prefix)?;
    if rest.len() > MAX_SUGGESTED_LEN {
        return None;
    }
    let index = variable_index();
    let upper = rest.to_ascii_uppercase();
    if let Some(key) = index.squashed.get(&upper.replace('_', "")) {
        return Some(key.env_var(prefix));
    }
    let (tail, tyk) = match upper.strip_prefix("EXTERNAL_SERVICES_") {
        Some(tail) => (tail, false),
        None => (upper.strip_prefix("EXTERNALSERVICES_")?, true),
    };
    let (block, field) = tail.split_once('_').unwrap_or((tail, ""));
    // tyk.conf's `kv` block is top-level: `TYK_GW_KV_*`, not below external services.
    if block == "KV" {
        return kv_variable(tail, prefix);
    }
    let named = index
        .blocks
        .iter()
        .find(|(b, _)| b == block)
        .or_else(|| {
            let alias = BLOCK_ALIASES.iter().find(|(alias, _)| *alias == block)?.1;
            index.blocks.iter().find(|(b, _)| b == alias)
        })
        .or_else(|| {
            let typo = closest(block, index.blocks.iter().map(|(b, _)| b.as_str()))?;
            index.blocks.iter().find(|(b, _)| b == typo)
        });
    let (fields, field) = match named {
        Some((_, fields)) => (fields, field),
        // No block named (`EXTERNAL_SERVICES_HTTP_PROXY`): the global block's fields.
        None => (&index.blocks.iter().find(|(b, _)| b == "GLOBAL")?.1, tail),
    };
    // The input's own spelling first, so that a tie goes to it.
    let ordered = fields
        .iter()
        .filter(|f| f.tyk == tyk)
        .chain(fields.iter().filter(|f| f.tyk != tyk));
    let found = nearest_within(field, ordered.clone().map(|f| f.field.as_str()), plausible(field))?;
    let hit = ordered.into_iter().find(|f| f.field == found.0)?;
    Some(if hit.tyk {
        hit.key.tyk_env_var(prefix)
    } else {
        hit.key.env_var(prefix)
    })
}

/// The `kv` variable closest to `rest` (a name after the prefix, `KV_VAULT_ADRESS`), in
/// either spelling, when it is a plausible typo of it: for unknown `<prefix>KV_*` variables
/// and for a `kv` key written below `<prefix>EXTERNAL_SERVICES_`.
pub(crate) fn kv_variable(rest: &str, prefix: &str) -> Option<String> {
    closest(rest, crate::kv_keys::variable_names().iter().map(String::as_str)).map(|name| format!("{prefix}{name}"))
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
    fn thousands_of_unknown_variables_cost_milliseconds() {
        // 5,000 names of 120 characters, each a different plausible-looking mistake.
        let names: Vec<String> = (0..5_000)
            .map(|n| {
                let name = format!("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE_{n:05}_");
                format!("{name}{}", "X".repeat(120 - name.len()))
            })
            .collect();
        let started = std::time::Instant::now();
        for name in &names {
            assert_eq!(variable(name, "TYK_GW_"), None, "{name}");
        }
        let long = started.elapsed();
        // And 5,000 of the length of real names, which are compared in full.
        let names: Vec<String> = (0..5_000)
            .map(|n| format!("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_F{n:04}"))
            .collect();
        let started = std::time::Instant::now();
        for name in &names {
            variable(name, "TYK_GW_");
        }
        let short = started.elapsed();
        eprintln!("5,000 unknown variables: {long:?} for 120-character names, {short:?} for 45-character names");
        // Debug build, a busy machine: generous bounds that seconds would break.
        assert!(long < std::time::Duration::from_millis(200), "{long:?}");
        assert!(short < std::time::Duration::from_millis(3_000), "{short:?}");
    }

    #[test]
    fn variables_suggest_the_key_of_the_block_meant() {
        let cases = [
            (
                "TYK_GW_EXTERNAL_SERVICES_REDIS_MTLS_ENABLED",
                Some("TYK_GW_EXTERNAL_SERVICES_STORAGE_MTLS_ENABLED"),
            ),
            (
                "TYK_GW_EXTERNALSERVICES_REDIS_MTLS_CERTFILE",
                Some("TYK_GW_EXTERNALSERVICES_STORAGE_MTLS_CERTFILE"),
            ),
            (
                "TYK_GW_EXTERNAL_SERVICES_JWT_PROXY_HTTP_PROXY",
                Some("TYK_GW_EXTERNAL_SERVICES_OAUTH_PROXY_HTTP_PROXY"),
            ),
            (
                "TYK_GW_EXTERNAL_SERVICES_WEBHOOK_PROXY_ENABLED",
                Some("TYK_GW_EXTERNAL_SERVICES_WEBHOOKS_PROXY_ENABLED"),
            ),
            (
                "TYK_GW_EXTERNAL_SERVICES_GLOBL_ENABLED",
                Some("TYK_GW_EXTERNAL_SERVICES_GLOBAL_ENABLED"),
            ),
            (
                "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERTFILE",
                Some("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE"),
            ),
            (
                "TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFIEL",
                Some("TYK_GW_EXTERNALSERVICES_OAUTH_MTLS_CERTFILE"),
            ),
            (
                "TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FIEL",
                Some("TYK_GW_EXTERNAL_SERVICES_OAUTH_MTLS_CERT_FILE"),
            ),
            (
                "TYK_GW_EXTERNAL_SERVICES_HTTP_PROXY",
                Some("TYK_GW_EXTERNAL_SERVICES_GLOBAL_HTTP_PROXY"),
            ),
            ("TYK_GW_EXTERNAL_SERVICES_OAUTH_COLOUR", None),
        ];
        for (name, want) in cases {
            assert_eq!(variable(name, "TYK_GW_").as_deref(), want, "{name}");
        }
        assert_eq!(
            variable("MY_EXTERNAL_SERVICES_REDIS_MTLS_ENABLED", "MY_").as_deref(),
            Some("MY_EXTERNAL_SERVICES_STORAGE_MTLS_ENABLED")
        );
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
        assert_eq!(nearest_within("colour", names, 10).map(|(c, _)| c), Some("ca_file"));
        assert_eq!(bounded_distance(b"kitten", b"SITTING", 3), Some(3));
        assert_eq!(bounded_distance(b"kitten", b"sitting", 2), None);
        assert_eq!(bounded_distance(b"", b"abc", 3), Some(3));
        assert_eq!(bag_distance(b"kitten", b"SITTING"), 3);
        assert!(bag_distance(b"cert_fiel", b"cert_file") <= edit_distance("cert_fiel", "cert_file"));
    }
}
