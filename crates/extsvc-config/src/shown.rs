//! [`shown`]: how a value that names something — a file path, a store id, a bypass entry,
//! a URL as written — appears in messages, so that a secret pasted into it never does.
//!
//! One display type, used wherever such a value is echoed (errors, warnings, `resolve`,
//! `check`, `probe`, logs, `Debug`), instead of a check at each print:
//!
//! - a value containing `-----BEGIN` is PEM text pasted where a path or id belongs (often
//!   a private key): shown as `<PEM text, N bytes>`, nothing of it;
//! - userinfo (`user:password@`, `TOKEN@`) is redacted as [`redact_url_credentials`] does;
//! - control characters are escaped (`\u{1b}`), so that a value cannot drive a terminal;
//! - past [`SHOWN_LIMIT`] characters the rest is cut and its size given.
//!
//! [`escaped`] does the last two for text a peer sent (a Redis error, a proxy's reason
//! phrase), which is no secret of ours but must not flood or drive a terminal.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::fmt::{self, Write as _};

use crate::proxy_url::redact_url_credentials;

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
/// assert_eq!(extsvc_config::escaped("ERR \u{1b}[2J").to_string(), "ERR \\u{1b}[2J");
/// ```
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
            return write!(f, "… ({} bytes in all)", text.len());
        }
        if c.is_control() {
            write!(f, "{}", c.escape_unicode())?;
        } else {
            f.write_char(c)?;
        }
    }
    Ok(())
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.contains("-----BEGIN") {
            return write!(f, "<PEM text, {} bytes>", self.value.len());
        }
        if self.redact_userinfo && self.value.contains('@') {
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
        assert_eq!(shown("a\u{1b}[31mb\n").to_string(), "a\\u{1b}[31mb\\u{a}");
        let long = "x".repeat(100_000);
        let text = escaped(&long).to_string();
        assert!(
            text.len() < SHOWN_LIMIT + 40 && text.ends_with("(100000 bytes in all)"),
            "{text}"
        );
    }
}
