//! An in-process Redis peer that answers one command with a hostile reply.
//!
//! It speaks RESP (the Redis serialization protocol) from its documentation, because no
//! real redis-server can be made to send these replies: it answers `+OK` to every
//! command (connection setup, `PING`, …) until an argument contains [`HOSTILE_KEY`], then
//! sends the [`Hostility`] asked for. [`Hostility::Denied`] answers at once, as a
//! redis-server in protected mode does, and closes.
//!
//! Every connection is served by its own thread, which stops when the client goes away
//! or after [`PEER_LIFETIME`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What an argument contains for its command to get the hostile reply.
pub const HOSTILE_KEY: &str = "HOSTILE";

/// How long a peer thread goes on at most.
pub const PEER_LIFETIME: Duration = Duration::from_secs(30);

/// What the peer sends in answer to the command naming [`HOSTILE_KEY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostility {
    /// `$2147483647\r\n`, then bytes without end.
    EndlessBulk,
    /// `+AAAA…` without end.
    EndlessLine,
    /// `*2147483647\r\n`, then `:1\r\n` without end.
    EndlessArray,
    /// `*1000\r\n` again and again: arrays nested without end.
    NestedArrays,
    /// `$1000000000\r\n`, then nothing (the connection stays open).
    HugeLengthNoData,
    /// `$100\r\n`, then one byte every 100 ms.
    Trickle,
    /// A bulk string of this many bytes, whole (e.g. a certificate store entry).
    Bulk(usize),
    /// `-DENIED …` at once on accept, before reading anything, then close: Redis's
    /// protected mode.
    Denied,
}

/// The words of [`Hostility::Denied`].
pub const DENIED: &str = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.";

/// A listening hostile peer; stops accepting on drop (threads serving connections end
/// when their client goes away, or after [`PEER_LIFETIME`]).
#[derive(Debug)]
pub struct HostileRedis {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl HostileRedis {
    /// Listens on 127.0.0.1 (a free port) and serves `hostility` on every connection.
    pub fn start(hostility: Hostility) -> HostileRedis {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the hostile peer");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let port = listener.local_addr().expect("its address").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while !stopped.load(Ordering::Relaxed) && started.elapsed() < PEER_LIFETIME * 4 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        std::thread::spawn(move || serve(stream, hostility));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        HostileRedis { port, stop }
    }

    /// `127.0.0.1:port`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `redis://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.address())
    }
}

impl Drop for HostileRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(stream: TcpStream, hostility: Hostility) {
    // Every error below means the client went away: the thread ends.
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(PEER_LIFETIME));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    if hostility == Hostility::Denied {
        let _ = writer.write_all(format!("-{DENIED}\r\n").as_bytes());
        return;
    }
    let mut reader = BufReader::new(stream);
    while let Some(args) = read_command(&mut reader) {
        let hostile = HOSTILE_KEY.as_bytes();
        if args.iter().any(|a| a.windows(hostile.len()).any(|w| w == hostile)) {
            let _ = misbehave(&mut writer, hostility);
            return;
        }
        if writer.write_all(b"+OK\r\n").is_err() {
            return;
        }
    }
}

/// One command: `*N\r\n` then N bulk strings. `None` at the end or on garbage.
fn read_command(reader: &mut BufReader<TcpStream>) -> Option<Vec<Vec<u8>>> {
    let mut line = String::new();
    let header = |reader: &mut BufReader<TcpStream>, line: &mut String, kind: char| -> Option<usize> {
        line.clear();
        reader.take(64).read_line(line).ok()?;
        line.trim_end().strip_prefix(kind)?.parse().ok()
    };
    let count = header(reader, &mut line, '*')?;
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count.min(1024) {
        let len = header(reader, &mut line, '$')?;
        let mut arg = vec![0; len.min(1 << 20) + 2];
        reader.read_exact(&mut arg).ok()?;
        arg.truncate(arg.len() - 2);
        args.push(arg);
    }
    Some(args)
}

fn misbehave(writer: &mut TcpStream, hostility: Hostility) -> std::io::Result<()> {
    let until = Instant::now() + PEER_LIFETIME;
    let endless = |writer: &mut TcpStream, head: &[u8], chunk: &[u8]| -> std::io::Result<()> {
        writer.write_all(head)?;
        while Instant::now() < until {
            writer.write_all(chunk)?;
        }
        Ok(())
    };
    match hostility {
        Hostility::EndlessBulk => endless(writer, b"$2147483647\r\n", &[b'x'; 65536]),
        Hostility::EndlessLine => endless(writer, b"+", &[b'A'; 65536]),
        Hostility::EndlessArray => endless(writer, b"*2147483647\r\n", &b":1\r\n".repeat(16384)),
        Hostility::NestedArrays => endless(writer, b"", &b"*1000\r\n".repeat(8192)),
        Hostility::HugeLengthNoData => {
            writer.write_all(b"$1000000000\r\n")?;
            std::thread::sleep(PEER_LIFETIME);
            Ok(())
        }
        Hostility::Trickle => {
            writer.write_all(b"$100\r\n")?;
            while Instant::now() < until {
                writer.write_all(b"x")?;
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
        Hostility::Bulk(size) => {
            writer.write_all(format!("${size}\r\n").as_bytes())?;
            let chunk = [b'x'; 65536];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len());
                writer.write_all(&chunk[..n])?;
                left -= n;
            }
            writer.write_all(b"\r\n")
        }
        Hostility::Denied => Ok(()),
    }
}
