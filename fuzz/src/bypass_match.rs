//! Target `bypass_match`: a bypass list → `parse_bypass_list` → `BypassList::new` →
//! `matches(host, port)`.
//!
//! Input: UTF-8 text. The first line is the list (as in `bypass_proxy` or `NO_PROXY`);
//! every further line is a target `HOST PORT` (split at the last space; a line without
//! a valid port is matched with port 443). Text, so a regression file reads as what it is.
//!
//! Invariants beyond "no panic":
//! - every non-blank piece between commas is either an entry or reported invalid;
//! - a match is one of the list's own entries;
//! - matching ignores ASCII case (SPEC §2: matching is case-insensitive);
//! - one trailing dot on a host name or IP literal changes nothing.

use extsvc_config::{BypassEntry};
use extsvc_config::internal::{parse_bypass_list};
use extsvc_resolve::BypassList;

/// The position of `found` in `list`, checking it is one of its entries.
fn position(list: &BypassList, found: Option<&BypassEntry>) -> Option<usize> {
    let found = found?;
    let index = list.entries().iter().position(|e| std::ptr::eq(e, found));
    assert!(
        index.is_some(),
        "matches returned an entry that is not in the list: {found:?}"
    );
    index
}

/// `HOST PORT`, or the whole line as the host with port 443.
fn target(line: &str) -> (&str, u16) {
    match line.rsplit_once(' ') {
        Some((host, port)) => match port.parse() {
            Ok(port) => (host, port),
            Err(_) => (line, 443),
        },
        None => (line, 443),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let list_text = lines.next().unwrap_or("");
    let (entries, invalid) = parse_bypass_list(list_text);
    let pieces = list_text.split(',').filter(|p| !p.trim().is_empty()).count();
    assert_eq!(
        entries.len() + invalid.len(),
        pieces,
        "entries were dropped: {list_text:?} -> {entries:?} + {invalid:?}"
    );
    for bad in &invalid {
        assert!(!bad.to_string().is_empty());
    }
    let list = BypassList::new(entries);
    let _ = format!("{list:?}");
    for line in lines {
        let (host, port) = target(line);
        let found = position(&list, list.matches(host, port));
        for changed in [host.to_ascii_uppercase(), host.to_ascii_lowercase()] {
            assert_eq!(
                position(&list, list.matches(&changed, port)),
                found,
                "case changed the match of {host:?} port {port} against {list_text:?}"
            );
        }
        if !host.is_empty() && !host.ends_with('.') && !host.starts_with('[') {
            assert_eq!(
                position(&list, list.matches(&format!("{host}."), port)),
                found,
                "a trailing dot changed the match of {host:?} port {port} against {list_text:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_lines_split_at_the_last_space() {
        assert_eq!(target("example.org 80"), ("example.org", 80));
        assert_eq!(target("[::1] 8080"), ("[::1]", 8080));
        assert_eq!(target("no port"), ("no port", 443));
        assert_eq!(target("host 99999"), ("host 99999", 443));
        assert_eq!(target(""), ("", 443));
    }
}
