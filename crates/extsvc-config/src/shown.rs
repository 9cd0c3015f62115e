//! [`shown`]: how a value that names something — a file path, a store id, a bypass entry,
//! a URL as written — appears in messages, so that a secret pasted into it never does.
//!
//! One display type, used wherever such a value is echoed (errors, warnings, `resolve`,
//! `check`, `probe`, logs, `Debug`), instead of a check at each print:
//!
//! - a value containing `-----BEGIN` is PEM text pasted where a path or id belongs (often
//!   a private key): shown as `<PEM text, N bytes>`, nothing of it;
//! - userinfo (`user:password@`, `TOKEN@`) is redacted as [`redact_url_credentials`] does;
//!   so is a Redis URL's password written without the `@` (`redis://:PW`,
//!   `redis://default:PW`, `redis://[::1]:PW`): there the "port" is the secret;
//! - control characters are escaped (`\x1b`, `\x0d`, `\x0a`), so that a value can neither
//!   drive a terminal nor forge a log line;
//! - past [`SHOWN_LIMIT`] characters the rest is cut and the size of the whole given
//!   (`… (10485760 bytes)`).
//!
//! [`escaped`] does the last two for text a peer sent (a Redis error, a proxy's reason
//! phrase), which is no secret of ours but must not flood or drive a terminal.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};

use crate::redact::redact_url_credentials;

/// The longest value shown whole, in characters.
#[doc(hidden)]
pub const SHOWN_LIMIT: usize = 256;

/// A value as messages show it; see the module docs.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Shown<'a> {
    value: Cow<'a, str>,
    redact_userinfo: bool,
}

/// `value` (a path, an id, an entry) as messages show it.
///
/// ```
/// use extsvc_config::shown;
///
/// let key = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n";
/// assert_eq!(shown(key).to_string(), "<PEM text, 62 bytes>");
/// assert_eq!(shown("u:pw@host").to_string(), "u:***@host");
/// assert_eq!(shown("/etc/tyk/client.pem").to_string(), "/etc/tyk/client.pem");
/// ```
#[doc(hidden)]
pub fn shown<S: AsRef<OsStr> + ?Sized>(value: &S) -> impl fmt::Display + fmt::Debug + '_ {
    let value = value.as_ref().to_string_lossy();
    // A file path may contain `@` (`/home/a@b/x.pem`) and has no userinfo.
    let redact_userinfo = !value.starts_with(['/', '.', '~']);
    Shown { value, redact_userinfo }
}

/// Peer-supplied text as messages show it: control characters escaped, cut past
/// [`SHOWN_LIMIT`] characters with the size of the whole given.
///
/// ```
/// assert_eq!(extsvc_config::escaped("ERR \u{1b}[2J\r\n").to_string(), "ERR \\x1b[2J\\x0d\\x0a");
/// ```
#[doc(hidden)]
pub fn escaped(text: &str) -> impl fmt::Display + fmt::Debug + '_ {
    Shown {
        value: Cow::Borrowed(text),
        redact_userinfo: false,
    }
}

/// Writes `text` with control characters escaped and at most [`SHOWN_LIMIT`] characters.
fn write_escaped(f: &mut fmt::Formatter<'_>, text: &str) -> fmt::Result {
    for (count, c) in text.chars().enumerate() {
        if count == SHOWN_LIMIT {
            return write!(f, "… ({} bytes)", text.len());
        }
        if c.is_control() && u32::from(c) <= 0xff {
            write!(f, "\\x{:02x}", u32::from(c))?;
        } else if c.is_control() || is_bidi_control(c) {
            // Bidirectional overrides reorder what a terminal shows (CVE-2021-42574).
            write!(f, "{}", c.escape_unicode())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

/// Unicode's bidirectional formatting characters (embeddings, overrides, isolates, marks).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.contains("-----BEGIN") {
            return write!(f, "<PEM text, {} bytes>", self.value.len());
        }
        if self.redact_userinfo && (self.value.contains('@') || self.value.contains("://")) {
            return write_escaped(f, &redact_url_credentials(&self.value));
        }
        write_escaped(f, &self.value)
    }
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_text_userinfo_control_characters_and_length_never_show() {
        let key = format!("{}\n{}\n", "-----BEGIN EC PRIVATE KEY-----", "A".repeat(100));
        assert_eq!(shown(&key).to_string(), format!("<PEM text, {} bytes>", key.len()));
        assert_eq!(
            format!("{:?}", shown(&key)),
            format!("\"<PEM text, {} bytes>\"", key.len())
        );
        assert_eq!(shown("http://TOKEN@proxy:3128").to_string(), "http://***@proxy:3128");
        assert_eq!(shown("/home/a@b/c.pem").to_string(), "/home/a@b/c.pem");
        assert_eq!(shown("a\u{1b}[31mb\r\n").to_string(), "a\\x1b[31mb\\x0d\\x0a");
        assert_eq!(shown("a\u{202e}b\u{85}").to_string(), "a\\u{202e}b\\x85");
        let long = "x".repeat(100_000);
        let text = escaped(&long).to_string();
        assert!(
            text.len() < SHOWN_LIMIT + 40 && text.ends_with("x… (100000 bytes)"),
            "{text}"
        );
        assert_eq!(text.chars().filter(|c| *c == 'x').count(), SHOWN_LIMIT);
    }

    #[test]
    fn a_redis_password_written_without_its_at_sign_never_shows() {
        for (value, want) in [
            ("redis://default:RdsSecret1", "redis://default:***"),
            ("redis://:PW", "redis://:***"),
            ("rediss://:PW", "rediss://:***"),
            ("REDIS://:PW/0", "REDIS://:***/0"),
            ("redis://[::1]:PW", "redis://[::1]:***"),
            ("redis://:PW:6379", "redis://:***"),
            ("redis://:PW@host:6379", "redis://:***@host:6379"),
            ("redis://default:RdsSecret1@host", "redis://default:***@host"),
            // A port is no secret.
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("redis://[::1]:6379", "redis://[::1]:6379"),
            ("redis://host", "redis://host"),
        ] {
            assert_eq!(shown(value).to_string(), want, "{value}");
        }
    }
}
