//! [`read_pem_file`]: every PEM file this crate reads (`cert_file`, `key_file`, `ca_file`,
//! directory store entries) is read through [`extsvc_config::internal::read_bounded`]: regular files
//! only, at most [`extsvc_config::internal::PEM_FILE_LIMIT`] (1 MiB). A FIFO or `/dev/zero` given as
//! `ca_file` is refused at once instead of hanging or exhausting memory.

use std::path::Path;

use extsvc_config::internal::{read_bounded, PEM_FILE_LIMIT};

/// Reads a PEM file on the blocking pool; refusals become `io::Error`s (kind `InvalidInput`)
/// whose message says why (`not a regular file (a FIFO); refused`, `file too large: …`).
pub(crate) async fn read_pem_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let path = path.to_owned();
    match tokio::task::spawn_blocking(move || read_bounded(&path, PEM_FILE_LIMIT)).await {
        Ok(result) => result.map_err(std::io::Error::from),
        Err(join) => Err(std::io::Error::other(join)),
    }
}
