//! Redaction of credentials in URLs as written: [`redact_url_credentials`] and the pieces
//! it shares with [`ProxyUrl`](crate::ProxyUrl)'s display. Below both `proxy_url` and
//! `shown`, which use it.

use std::fmt::Write as _;

/// Shows a URL *as the user wrote it* with any password replaced by `***`
/// (`scheme://user:***@host…`), for messages about values that may not even parse.
/// The userinfo is everything before the last `@`, so a password containing `/` or `@`
/// is hidden whole. The user stays as written (percent-encoded, `u%40x`), as in
/// [`ProxyUrl`](crate::ProxyUrl)'s `Display`. A `redis://`/`rediss://` URL without `@` whose "port" is not
/// a number is a password written without its `@` (`redis://:PW`, `redis://default:PW`):
/// it is hidden too (`redis://:***`). Text for a message goes through
/// `shown`, which also escapes and caps.
pub fn redact_url_credentials(input: &str) -> String {
    if let Some(redacted) = redact_redis_password_without_at(input) {
        return redacted;
    }
    // Only a real scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`) ends
    // at `://`; in a scheme-less `user:pa://ss@host` the `://` belongs to the password.
    let scheme_end = input.find("://").filter(|&i| {
        let scheme = &input[..i];
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    let (prefix, rest) = match scheme_end {
        Some(i) => input.split_at(i + 3),
        None => ("", input),
    };
    match rest.rfind('@') {
        Some(at) => match rest[..at].split_once(':') {
            Some((user, _)) => format!("{prefix}{}:***@{}", user_for_display(user), &rest[at + 1..]),
            // No `:`: the whole userinfo may be a token; hide it.
            None => format!("{prefix}***@{}", &rest[at + 1..]),
        },
        None => input.to_owned(),
    }
}

/// `redis://` or `rediss://` (any case) with no `@` at all: the text after the
/// host's `:` is a password written without its `@` (`redis://:PW`,
/// `redis://default:PW`) unless it is a port. Returns the value with that text as `***`.
fn redact_redis_password_without_at(value: &str) -> Option<String> {
    let (scheme, rest) = value.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("redis") || scheme.eq_ignore_ascii_case("rediss")) {
        return None;
    }
    // With an `@` anywhere, the userinfo is everything before the last one (a password
    // may hold `/`): `redact_url_credentials` hides it.
    if rest.contains('@') {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    // The host ends at its `]` when it is an IPv6 literal, else at the first `:`.
    let host_end = if authority.starts_with('[') {
        authority.find(']').map_or(authority.len(), |i| i + 1)
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    let port = port.strip_prefix(':')?;
    if port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{scheme}://{host}:***{tail}"))
}

/// The user part of a userinfo for display: as written, so `u%40x` stays `u%40x` (its
/// decoded form `u@x` would read as the end of the userinfo). Bytes that RFC 3986 does
/// not allow unencoded in a user name (`@`, `:`, `/`, blanks, controls, non-ASCII, a `%`
/// not starting an escape) are percent-encoded, so the text is never ambiguous and
/// never carries a line break into a log.
pub(crate) fn user_for_display(written: &str) -> String {
    let bytes = written.as_bytes();
    let mut shown = String::with_capacity(written.len());
    for (i, &b) in bytes.iter().enumerate() {
        let escape = b == b'%'
            && bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit));
        if escape || b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            shown.push(char::from(b));
        } else {
            // Writing to a String cannot fail.
            let _ = write!(shown, "%{b:02X}");
        }
    }
    shown
}
