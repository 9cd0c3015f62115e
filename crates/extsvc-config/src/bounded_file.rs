//! [`read_bounded`]: reading a file the configuration names, safely.
//!
//! Every file extsvc reads because a configuration value names it — `--config`,
//! `cert_file`, `key_file`, `ca_file`, a directory store entry — goes through here:
//!
//! - only a regular file is read: a FIFO, a device (`/dev/zero`), a socket or a directory
//!   is refused before it is opened for reading, so nothing blocks on a FIFO with no
//!   writer or reads a device forever;
//! - at most `limit` bytes: a file whose size is over the limit is refused from its
//!   metadata (a sparse 1 TB file costs nothing), and the read itself stops one byte past
//!   the limit, in case the file grew in between.
//!
//! It lives in this crate, the lowest one, so that the configuration loader and
//! `extsvc-tls` share one implementation (`docs/architecture.md`).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// The size limit of a PEM file (certificate chain, key, CA bundle, store entry): 1 MiB.
/// A certificate is 1–2 KB and a CA bundle of every public root is about 220 KB, so a
/// file over 1 MiB is a mistake, not material.
pub const PEM_FILE_LIMIT: u64 = 1024 * 1024;

/// The size limit of a `tyk.conf`: 16 MiB. Real files are a few KB to a few hundred KB
/// (long bypass lists included); the limit leaves room for generated ones while keeping a
/// wrong `--config /dev/zero`-like mistake from exhausting memory.
pub const CONFIG_FILE_LIMIT: u64 = 16 * 1024 * 1024;

/// Why [`read_bounded`] refused a file. The message names what is wrong, not the file:
/// callers put it after the key path and the file.
#[derive(Debug)]
#[non_exhaustive]
pub enum BoundedReadError {
    /// Not a regular file.
    NotRegular {
        /// What it is instead: `a FIFO`, `a directory`, `a device`, `a socket`.
        kind: &'static str,
    },
    /// Larger than the limit.
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
        /// The size seen (from metadata, or `limit + 1` when the file grew while read).
        size: u64,
    },
    /// The file system's error (missing, permission denied, …).
    Io(std::io::Error),
}

impl fmt::Display for BoundedReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BoundedReadError::NotRegular { kind } => write!(f, "not a regular file ({kind}); refused"),
            BoundedReadError::TooLarge { limit, size } => {
                write!(f, "file too large: {size} bytes, the limit is {limit} bytes")
            }
            BoundedReadError::Io(e) => e.fmt(f),
        }
    }
}

/// No `source()`: the I/O error is the message (extsvc's one rule: each message once in
/// a chain, see `extsvc::Error`).
impl std::error::Error for BoundedReadError {}

impl From<BoundedReadError> for std::io::Error {
    /// For callers whose errors carry an `io::Error`; the kind is kept for `NotFound`.
    fn from(error: BoundedReadError) -> Self {
        match error {
            BoundedReadError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other),
        }
    }
}

fn file_kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

fn check_metadata(metadata: &std::fs::Metadata, limit: u64) -> Result<(), BoundedReadError> {
    if !metadata.is_file() {
        return Err(BoundedReadError::NotRegular {
            kind: file_kind(metadata.file_type()),
        });
    }
    if metadata.len() > limit {
        return Err(BoundedReadError::TooLarge {
            limit,
            size: metadata.len(),
        });
    }
    Ok(())
}

/// Reads a regular file of at most `limit` bytes (symbolic links followed).
///
/// ```
/// use extsvc_config::internal::{read_bounded, BoundedReadError};
///
/// let error = read_bounded("/dev/zero".as_ref(), 1024).unwrap_err();
/// assert!(matches!(error, BoundedReadError::NotRegular { .. }), "{error}");
/// ```
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    // The type is checked before the open, for the clearest message (a socket cannot be
    // opened at all); the open itself does not block even if the path was replaced by a
    // FIFO meanwhile, and the opened file is checked again.
    check_metadata(&std::fs::metadata(path).map_err(BoundedReadError::Io)?, limit)?;
    let file = open_without_blocking(path).map_err(BoundedReadError::Io)?;
    let metadata = file.metadata().map_err(BoundedReadError::Io)?;
    check_metadata(&metadata, limit)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(BoundedReadError::Io)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            limit,
            size: limit.saturating_add(1),
        });
    }
    Ok(bytes)
}

/// Opens `path` for reading with `O_NONBLOCK`: the open of a FIFO without a writer
/// returns at once instead of blocking a thread for ever (the caller then refuses it as not
/// a regular file). Reads of a regular file ignore the flag.
#[cfg(unix)]
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Elsewhere there are no FIFOs to block an open the same way.
#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The race the type check before the open cannot close: the open itself must not
    /// block on a FIFO that has no writer.
    #[cfg(unix)]
    #[test]
    fn opening_a_fifo_without_a_writer_does_not_block() {
        use std::os::unix::fs::FileTypeExt;

        let dir = std::env::temp_dir().join(format!("extsvc-fifo-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let (done, opened) = std::sync::mpsc::channel();
        let path = fifo;
        std::thread::spawn(move || {
            let file = open_without_blocking(&path).unwrap();
            done.send(file.metadata().unwrap().file_type().is_fifo()).unwrap();
        });
        let is_fifo = opened
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the open returned at once");
        assert!(is_fifo);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn regular_files_within_the_limit_are_read_and_others_refused() {
        let dir = std::env::temp_dir().join(format!("extsvc-bounded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let small = dir.join("small");
        std::fs::write(&small, b"hello").unwrap();
        assert_eq!(read_bounded(&small, 5).unwrap(), b"hello");
        let error = read_bounded(&small, 4).unwrap_err();
        assert!(
            matches!(error, BoundedReadError::TooLarge { limit: 4, size: 5 }),
            "{error}"
        );
        // A sparse file far over the limit is refused from its size, without reading.
        let sparse = dir.join("sparse");
        File::create(&sparse).unwrap().set_len(1 << 40).unwrap();
        let error = read_bounded(&sparse, PEM_FILE_LIMIT).unwrap_err();
        assert!(error.to_string().contains("1099511627776 bytes"), "{error}");
        assert!(matches!(
            read_bounded(&dir, 10),
            Err(BoundedReadError::NotRegular { kind: "a directory" })
        ));
        assert!(matches!(
            read_bounded("/dev/zero".as_ref(), 10),
            Err(BoundedReadError::NotRegular { kind: "a device" })
        ));
        let missing = read_bounded(&dir.join("missing"), 10).unwrap_err();
        assert_eq!(std::io::Error::from(missing).kind(), std::io::ErrorKind::NotFound);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
