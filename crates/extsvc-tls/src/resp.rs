//! [`BoundedReplies`]: a stream wrapper that keeps a Redis server's replies within a size
//! limit, under redis-rs's parser (cargo feature `redis`).
//!
//! redis-rs's RESP parser has no size limit: a peer that announces `$2147483647` and then
//! streams bytes, an endless `+AAAA…` line or an endless array make it buffer without end
//! (gigabytes within seconds; a deadline bounds the time, not the memory). This wrapper
//! follows the RESP framing of every byte it reads *before* handing it to redis-rs and
//! fails the read — which ends that connection — as soon as a reply would exceed its
//! limit:
//! - a bulk string (`$`, `=`, `!`) whose declared length exceeds the limit, refused at
//!   its length line, before any of it is buffered;
//! - an aggregate (`*`, `%`, `~`, `>`, `|`) whose declared element count, each element
//!   counted at least at the memory redis-rs takes to hold a value
//!   ([`VALUE_COST`] bytes), exceeds it;
//! - a reply whose bytes so far (elements counted the same way) exceed it;
//! - a line (a status, an error, a number, a length) longer than [`MAX_LINE_BYTES`]:
//!   such lines are short in every reply Redis sends, and a bulk string carries anything
//!   long;
//! - aggregates nested deeper than [`MAX_DEPTH`].
//!
//! The error is an [`io::Error`] of kind `InvalidData` carrying a [`ReplyTooLarge`] that
//! names the limit; redis-rs hands it to the command that was waiting for the reply.
//!
//! It also keeps the last error line (`-…`) the server sent, capped: a server that
//! refuses a client at once (protected mode's `-DENIED …`, then close) makes the client's
//! next write fail with "broken pipe", and [`ServerWords`] is what tells the real cause.
//! When a write fails, the wrapper reads (without waiting, at most 1 KiB) what the server
//! had sent, for the same reason.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The default limit of one reply: 64 MiB (Redis's own bulk limit is 512 MiB; a gateway's
/// values are kilobytes).
pub const DEFAULT_MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// The longest line a reply may have (a simple string, an error, a number, a length):
/// 64 KiB, or the reply limit when that is smaller.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How deeply aggregates may nest (redis-rs refuses beyond 100).
pub const MAX_DEPTH: usize = 128;

/// What each value of a reply counts at least, in bytes: about what redis-rs takes to
/// hold one value in memory, so that a reply of many tiny elements is bounded by what it
/// costs, not by its few bytes on the wire.
pub const VALUE_COST: usize = 48;

/// How much of a server's error line [`ServerWords`] keeps.
const SERVER_WORDS_CAP: usize = 512;

/// A reply that [`BoundedReplies`] refused. The message names the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTooLarge {
    limit: usize,
    what: Refused,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Refused {
    Bulk(u64),
    Aggregate(u64),
    Received,
    Line,
    Depth,
    Malformed(&'static str),
}

impl ReplyTooLarge {
    /// Whether the reply was refused for its size (announced or received), rather than
    /// for an overlong line, too deep a nesting or a malformed frame.
    pub fn is_size(&self) -> bool {
        matches!(self.what, Refused::Bulk(_) | Refused::Aggregate(_) | Refused::Received)
    }

    /// The limit in force (`max_reply_bytes`).
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// `67108864 bytes (64 MiB)`.
fn bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n % (1024 * 1024) == 0 {
        format!("{n} bytes ({} MiB)", n / (1024 * 1024))
    } else if n >= 1024 && n % 1024 == 0 {
        format!("{n} bytes ({} KiB)", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

impl fmt::Display for ReplyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let limit = bytes(self.limit);
        match &self.what {
            Refused::Bulk(n) => write!(
                f,
                "the Redis reply is larger than max_reply_bytes, {limit}: a bulk string of {n} bytes was announced"
            ),
            Refused::Aggregate(n) => write!(
                f,
                "the Redis reply is larger than max_reply_bytes, {limit}: an aggregate of {n} elements was announced"
            ),
            Refused::Received => write!(f, "the Redis reply is larger than max_reply_bytes, {limit}"),
            Refused::Line => write!(
                f,
                "a Redis reply line is longer than {} (status, error and length lines are short; \
                 max_reply_bytes is {limit})",
                bytes(MAX_LINE_BYTES.min(self.limit))
            ),
            Refused::Depth => write!(f, "a Redis reply nests aggregates deeper than {MAX_DEPTH} levels"),
            Refused::Malformed(what) => write!(f, "the Redis peer sent a malformed reply: {what}"),
        }
    }
}

impl std::error::Error for ReplyTooLarge {}

/// The last top-level error line a server sent on a connection (without the `-`, at most
/// 512 bytes), shared between a [`BoundedReplies`] and whoever reports its failures:
/// when a connection breaks, what the server said last before it tells why.
#[derive(Debug, Clone, Default)]
pub struct ServerWords(Arc<Mutex<Option<Vec<u8>>>>);

impl ServerWords {
    /// The words, raw (escape them before showing them: [`extsvc_config::escaped`]).
    pub fn get(&self) -> Option<String> {
        let words = self.0.lock().unwrap_or_else(|e| e.into_inner());
        words.as_ref().map(|w| String::from_utf8_lossy(w).into_owned())
    }

    fn keep(&self, line: &[u8]) {
        let mut words = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *words = Some(line[..line.len().min(SERVER_WORDS_CAP)].to_vec());
    }
}

/// `inner` with the replies it reads kept within a limit (module docs).
#[derive(Debug)]
pub struct BoundedReplies<S> {
    inner: S,
    framing: Framing,
    words: ServerWords,
    failed: Option<ReplyTooLarge>,
}

impl<S> BoundedReplies<S> {
    /// Wraps `inner`; replies larger than `max_reply_bytes` end the connection.
    pub fn new(inner: S, max_reply_bytes: usize) -> BoundedReplies<S> {
        BoundedReplies {
            inner,
            framing: Framing::new(max_reply_bytes),
            words: ServerWords::default(),
            failed: None,
        }
    }

    /// The server's last error line on this connection, shared: keep a clone before
    /// handing the stream to redis-rs.
    pub fn server_words(&self) -> ServerWords {
        self.words.clone()
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

/// The [`ReplyTooLarge`] inside an error chain (an `io::Error`, a redis-rs error), if any.
pub fn reply_too_large_in<'e>(error: &'e (dyn std::error::Error + 'static)) -> Option<&'e ReplyTooLarge> {
    type Shared = Arc<dyn std::error::Error + Send + Sync>;
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(found) = e.downcast_ref::<ReplyTooLarge>() {
            return Some(found);
        }
        let io = e
            .downcast_ref::<io::Error>()
            .or_else(|| e.downcast_ref::<Shared>().and_then(|s| s.downcast_ref::<io::Error>()));
        if let Some(found) = io
            .and_then(|io| io.get_ref())
            .and_then(|i| i.downcast_ref::<ReplyTooLarge>())
        {
            return Some(found);
        }
        cause = e.source();
    }
    None
}

fn refused(e: &ReplyTooLarge) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.clone())
}

impl<S: AsyncRead + Unpin> AsyncRead for BoundedReplies<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(e) = &this.failed {
            return Poll::Ready(Err(refused(e)));
        }
        let before = buf.filled().len();
        std::task::ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        if let Err(e) = this.framing.feed(&buf.filled()[before..], &this.words) {
            // Nothing of this read reaches the parser: the connection ends here.
            buf.set_filled(before);
            let error = refused(&e);
            this.failed = Some(e);
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for BoundedReplies<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let written = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, data));
        if written.is_err() {
            this.read_what_was_said(cx);
        }
        Poll::Ready(written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let flushed = std::task::ready!(Pin::new(&mut this.inner).poll_flush(cx));
        if flushed.is_err() {
            this.read_what_was_said(cx);
        }
        Poll::Ready(flushed)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> BoundedReplies<S> {
    /// After a failed write: what the server sent before it closed (at most 1 KiB, read
    /// only if already there), so that its refusal is kept in [`ServerWords`].
    fn read_what_was_said(&mut self, cx: &mut Context<'_>) {
        let mut said = [0u8; 1024];
        let mut buf = ReadBuf::new(&mut said);
        if let Poll::Ready(Ok(())) = Pin::new(&mut self.inner).poll_read(cx, &mut buf) {
            // Only the words matter now; a refusal here changes nothing.
            let _ = self.framing.feed(buf.filled(), &self.words);
        }
    }
}

/// Where the framing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// At the type byte of a value.
    Type,
    /// Inside a line: the type byte it started with, and its length so far.
    Line { kind: u8, len: usize },
    /// Inside a bulk string's payload and its closing CRLF: bytes still to come.
    Bulk { remaining: u64 },
}

/// An aggregate being read: elements still to come, and whether it is an attribute
/// (`|`), which annotates the next value instead of being one.
#[derive(Debug, Clone, Copy)]
struct Open {
    remaining: u64,
    attribute: bool,
}

/// The RESP framing of a connection's replies, followed byte by byte (bulk payloads are
/// skipped whole).
#[derive(Debug)]
struct Framing {
    limit: usize,
    line_limit: usize,
    at: At,
    open: Vec<Open>,
    /// What the current top-level reply costs so far (wire bytes, values at least
    /// [`VALUE_COST`]).
    reply: u64,
    /// The first bytes of the current line, for lengths and error words.
    line: Vec<u8>,
}

impl Framing {
    fn new(limit: usize) -> Framing {
        Framing {
            limit,
            line_limit: MAX_LINE_BYTES.min(limit),
            at: At::Type,
            open: Vec::new(),
            reply: 0,
            line: Vec::new(),
        }
    }

    fn refuse(&self, what: Refused) -> ReplyTooLarge {
        ReplyTooLarge {
            limit: self.limit,
            what,
        }
    }

    /// Adds `n` to the reply's cost; refuses past the limit.
    fn spend(&mut self, n: u64) -> Result<(), ReplyTooLarge> {
        self.reply = self.reply.saturating_add(n);
        if self.reply > self.limit as u64 {
            return Err(self.refuse(Refused::Received));
        }
        Ok(())
    }

    fn feed(&mut self, mut data: &[u8], words: &ServerWords) -> Result<(), ReplyTooLarge> {
        while !data.is_empty() {
            match self.at {
                At::Type => {
                    let kind = data[0];
                    if !b"+-:,#_($=!*%~>|".contains(&kind) {
                        return Err(self.refuse(Refused::Malformed("not a RESP type byte")));
                    }
                    self.spend(1)?;
                    self.line.clear();
                    self.at = At::Line { kind, len: 0 };
                    data = &data[1..];
                }
                At::Line { kind, len } => {
                    let end = data.iter().position(|&b| b == b'\n');
                    let taken = end.map_or(data.len(), |i| i + 1);
                    let content = &data[..end.unwrap_or(data.len())];
                    let len = len + content.len();
                    if len > self.line_limit + 1 {
                        return Err(self.refuse(Refused::Line));
                    }
                    self.spend(taken as u64)?;
                    let keep = (SERVER_WORDS_CAP + 1)
                        .saturating_sub(self.line.len())
                        .min(content.len());
                    self.line.extend_from_slice(&content[..keep]);
                    data = &data[taken..];
                    if end.is_none() {
                        self.at = At::Line { kind, len };
                        continue;
                    }
                    if self.line.last() == Some(&b'\r') {
                        self.line.pop();
                    }
                    self.end_line(kind, words)?;
                }
                At::Bulk { remaining } => {
                    let n = remaining.min(data.len() as u64);
                    data = &data[n as usize..];
                    if n < remaining {
                        self.at = At::Bulk {
                            remaining: remaining - n,
                        };
                    } else {
                        self.value_done();
                    }
                }
            }
        }
        Ok(())
    }

    /// A line is complete: a simple value, or the header of a bulk string or aggregate.
    fn end_line(&mut self, kind: u8, words: &ServerWords) -> Result<(), ReplyTooLarge> {
        self.spend(VALUE_COST as u64)?;
        match kind {
            b'$' | b'=' | b'!' => match self.length()? {
                None => self.value_done(),
                Some(n) => {
                    if self.reply.saturating_add(n).saturating_add(2) > self.limit as u64 {
                        return Err(self.refuse(Refused::Bulk(n)));
                    }
                    self.spend(n + 2)?;
                    self.at = At::Bulk { remaining: n + 2 };
                }
            },
            b'*' | b'%' | b'~' | b'>' | b'|' => match self.length()? {
                None => self.value_done(),
                Some(n) => {
                    let elements = if matches!(kind, b'%' | b'|') {
                        n.saturating_mul(2)
                    } else {
                        n
                    };
                    // Each element takes at least 3 bytes (`_\r\n`) and one value's memory.
                    let least = elements.saturating_mul(VALUE_COST as u64 + 3);
                    if self.reply.saturating_add(least) > self.limit as u64 {
                        return Err(self.refuse(Refused::Aggregate(n)));
                    }
                    if self.open.len() >= MAX_DEPTH {
                        return Err(self.refuse(Refused::Depth));
                    }
                    self.at = At::Type;
                    if elements == 0 {
                        if kind == b'|' {
                            // An empty attribute annotates the next value.
                            return Ok(());
                        }
                        self.value_done();
                    } else {
                        self.open.push(Open {
                            remaining: elements,
                            attribute: kind == b'|',
                        });
                    }
                }
            },
            _ => {
                if kind == b'-' && self.open.is_empty() {
                    words.keep(&self.line);
                }
                self.value_done();
            }
        }
        Ok(())
    }

    /// The length on a header line; `None` for `-1` (a null).
    fn length(&self) -> Result<Option<u64>, ReplyTooLarge> {
        if self.line == b"-1" || self.line == b"?" {
            // `-1` is RESP2's null; `?` a RESP3 streamed length, which Redis never sends.
            return if self.line == b"-1" {
                Ok(None)
            } else {
                Err(self.refuse(Refused::Malformed("streamed aggregates are not supported")))
            };
        }
        let text = std::str::from_utf8(&self.line).ok();
        match text
            .filter(|t| !t.is_empty() && t.len() <= 20)
            .and_then(|t| t.parse::<u64>().ok())
        {
            Some(n) => Ok(Some(n)),
            None => Err(self.refuse(Refused::Malformed("a length line that is not a number"))),
        }
    }

    /// A value is complete: count it in its aggregate, and close the aggregates it ends.
    fn value_done(&mut self) {
        self.at = At::Type;
        while let Some(open) = self.open.last_mut() {
            open.remaining -= 1;
            if open.remaining > 0 {
                return;
            }
            let attribute = open.attribute;
            self.open.pop();
            if attribute {
                // The attribute is done; the value it annotates comes next, in the same
                // place.
                return;
            }
        }
        // A whole reply.
        self.reply = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(limit: usize, chunks: &[&[u8]]) -> Result<Framing, ReplyTooLarge> {
        let mut framing = Framing::new(limit);
        let words = ServerWords::default();
        for chunk in chunks {
            framing.feed(chunk, &words)?;
        }
        Ok(framing)
    }

    #[test]
    fn ordinary_replies_pass_in_any_split_and_end_each_reply() {
        let replies: &[u8] = b"+OK\r\n-ERR no\r\n:42\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*-1\r\n\
            %1\r\n+k\r\n*0\r\n|1\r\n+a\r\n+b\r\n+v\r\n_\r\n#t\r\n,1.5\r\n(123\r\n=7\r\ntxt:abc\r\n>2\r\n+m\r\n+n\r\n";
        for split in 0..replies.len() {
            let (a, b) = replies.split_at(split);
            let framing = feed_all(1024, &[a, b]).unwrap();
            assert_eq!(framing.at, At::Type, "split at {split}");
            assert!(framing.open.is_empty(), "split at {split}");
            assert_eq!(framing.reply, 0, "split at {split}");
        }
        let byte_by_byte: Vec<&[u8]> = replies.chunks(1).collect();
        assert!(feed_all(1024, &byte_by_byte).is_ok());
    }

    #[test]
    fn an_announced_bulk_or_aggregate_past_the_limit_is_refused_at_its_header() {
        let e = feed_all(DEFAULT_MAX_REPLY_BYTES, &[b"$2147483647\r\n"]).unwrap_err();
        assert_eq!(e.what, Refused::Bulk(2147483647));
        assert!(
            e.to_string().contains("max_reply_bytes, 67108864 bytes (64 MiB)"),
            "{e}"
        );
        let e = feed_all(DEFAULT_MAX_REPLY_BYTES, &[b"*2147483647\r\n"]).unwrap_err();
        assert_eq!(e.what, Refused::Aggregate(2147483647));
        // A reply that fits, then one that does not.
        assert!(feed_all(100, &[b"$10\r\n0123456789\r\n$200\r\n"]).is_err());
        assert!(feed_all(100, &[b"$10\r\n0123456789\r\n$20\r\n"]).is_ok());
    }

    #[test]
    fn endless_lines_arrays_and_nesting_are_refused() {
        let a = vec![b'A'; MAX_LINE_BYTES + 10];
        let e = feed_all(DEFAULT_MAX_REPLY_BYTES, &[b"+", &a]).unwrap_err();
        assert_eq!(e.what, Refused::Line);
        assert!(e.to_string().contains("64 KiB"), "{e}");
        // An array whose elements keep coming: refused once its cost passes the limit.
        let mut framing = Framing::new(10_000);
        let words = ServerWords::default();
        framing.feed(b"*100\r\n", &words).unwrap();
        let mut failed = None;
        for _ in 0..1000 {
            if let Err(e) = framing.feed(b"*100\r\n", &words) {
                failed = Some(e);
                break;
            }
        }
        assert!(failed.is_some());
        let nested = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(feed_all(usize::MAX, &[&nested]).unwrap_err().what, Refused::Depth);
        assert!(matches!(
            feed_all(1024, &[b"$abc\r\n"]).unwrap_err().what,
            Refused::Malformed(_)
        ));
        assert!(matches!(
            feed_all(1024, &[b"hello"]).unwrap_err().what,
            Refused::Malformed(_)
        ));
    }

    #[test]
    fn the_last_top_level_error_line_is_kept_capped() {
        let mut framing = Framing::new(DEFAULT_MAX_REPLY_BYTES);
        let words = ServerWords::default();
        framing
            .feed(
                b"-first\r\n*1\r\n-nested\r\n-DENIED Redis is running in protected mode\r\n+OK\r\n",
                &words,
            )
            .unwrap();
        assert_eq!(
            words.get().as_deref(),
            Some("DENIED Redis is running in protected mode")
        );
        let words = ServerWords::default();
        let long = [b"-".as_slice(), &[b'x'; 5000], b"\r\n"].concat();
        Framing::new(DEFAULT_MAX_REPLY_BYTES).feed(&long, &words).unwrap();
        assert_eq!(words.get().unwrap().len(), SERVER_WORDS_CAP);
    }

    /// A small xorshift generator: the same inputs on every run, no dependency.
    struct Bytes(u64);

    impl Bytes {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        /// A valid RESP value of at most `depth` levels.
        fn value(&mut self, depth: u32, out: &mut Vec<u8>) {
            let kinds: &[u8] = if depth == 0 { b"+-:$_#," } else { b"+-:$_#,*%~|" };
            let kind = kinds[self.below(kinds.len() as u64) as usize];
            match kind {
                b'$' => {
                    let n = self.below(40) as usize;
                    out.extend_from_slice(format!("${n}\r\n").as_bytes());
                    out.extend((0..n).map(|_| self.below(256) as u8));
                    out.extend_from_slice(b"\r\n");
                }
                b'*' | b'~' | b'%' | b'|' => {
                    let n = self.below(4);
                    out.extend_from_slice(format!("{}{n}\r\n", kind as char).as_bytes());
                    let elements = if matches!(kind, b'%' | b'|') { n * 2 } else { n };
                    for _ in 0..elements {
                        self.value(depth - 1, out);
                    }
                    if kind == b'|' {
                        // An attribute annotates the value after it.
                        self.value(depth - 1, out);
                    }
                }
                b'_' => out.extend_from_slice(b"_\r\n"),
                b'#' => out.extend_from_slice(b"#t\r\n"),
                _ => {
                    out.push(kind);
                    out.extend((0..self.below(12)).map(|_| b'a' + self.below(26) as u8));
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
    }

    #[test]
    fn valid_replies_in_random_splits_pass_and_garbage_never_grows_the_state() {
        let mut random = Bytes(0x9E37_79B9_7F4A_7C15);
        for _ in 0..500 {
            let mut wire = Vec::new();
            for _ in 0..1 + random.below(5) {
                random.value(4, &mut wire);
            }
            let mut framing = Framing::new(DEFAULT_MAX_REPLY_BYTES);
            let words = ServerWords::default();
            let mut rest = wire.as_slice();
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at((1 + random.below(16) as usize).min(rest.len()));
                framing.feed(chunk, &words).unwrap_or_else(|e| panic!("{e}: {wire:?}"));
                rest = tail;
            }
            assert_eq!(
                (framing.at, framing.open.len(), framing.reply),
                (At::Type, 0, 0),
                "{wire:?}"
            );
        }
        for _ in 0..2000 {
            let alphabet = b"*$+-:\r\n0123456789|%~>_#";
            let garbage: Vec<u8> = (0..random.below(512))
                .map(|_| alphabet[random.below(alphabet.len() as u64) as usize])
                .collect();
            let mut framing = Framing::new(4096);
            // Either refused or still within its bounds; never a panic.
            let _ = framing.feed(&garbage, &ServerWords::default());
            assert!(framing.open.len() <= MAX_DEPTH && framing.line.len() <= SERVER_WORDS_CAP + 1);
        }
    }
}
