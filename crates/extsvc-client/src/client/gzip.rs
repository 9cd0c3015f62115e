//! A streaming gzip decoder (RFC 1952) that inflates in bounded steps: each call to
//! [`GzipDecoder::decode`] produces at most [`CHUNK`] bytes, so a body that inflates a
//! thousandfold (a "gzip bomb") is never held in memory; the body limit counts what it
//! yields. Concatenated members are decoded one after another, as Go's `gzip.Reader`
//! does. Each member's CRC-32 and length are checked.

use bytes::{Buf, Bytes};
use flate2::{Crc, Decompress, FlushDecompress, Status};

/// The most bytes one [`GzipDecoder::decode`] call yields.
pub(super) const CHUNK: usize = 64 * 1024;

/// The longest gzip header accepted (file name and comment included).
const MAX_HEADER: usize = 64 * 1024;

enum State {
    /// Reading a member's header (bytes gathered so far in `pending`).
    Header,
    /// Inflating a member's deflate stream.
    Deflate,
    /// Reading a member's 8-byte trailer (in `pending`).
    Trailer,
}

/// Decodes a gzip stream given frame by frame.
pub(super) struct GzipDecoder {
    state: State,
    inflate: Decompress,
    crc: Crc,
    /// Compressed input not yet used.
    input: Bytes,
    /// A header or trailer being gathered across frames.
    pending: Vec<u8>,
    members: u32,
}

impl GzipDecoder {
    pub(super) fn new() -> GzipDecoder {
        GzipDecoder {
            state: State::Header,
            inflate: Decompress::new(false),
            crc: Crc::new(),
            input: Bytes::new(),
            pending: Vec::new(),
            members: 0,
        }
    }

    /// True when compressed input is waiting to be decoded.
    pub(super) fn has_input(&self) -> bool {
        !self.input.is_empty()
    }

    /// Gives the next frame of compressed input; call only when [`has_input`](Self::has_input)
    /// is false.
    pub(super) fn push(&mut self, data: Bytes) {
        debug_assert!(self.input.is_empty());
        self.input = data;
    }

    /// Decodes from the input: `Ok(Some(bytes))` (at most [`CHUNK`]), or `Ok(None)` when
    /// the input is used up without producing any.
    pub(super) fn decode(&mut self) -> Result<Option<Bytes>, &'static str> {
        while !self.input.is_empty() {
            match self.state {
                State::Header => {
                    self.gather(MAX_HEADER)?;
                    if let Some(length) = header_length(&self.pending)? {
                        // What followed the header in the gathered bytes is input again.
                        let rest = Bytes::copy_from_slice(&self.pending[length..]);
                        let input = std::mem::take(&mut self.input);
                        self.input = if input.is_empty() {
                            rest
                        } else {
                            [rest, input].concat().into()
                        };
                        self.pending.clear();
                        self.inflate.reset(false);
                        self.crc.reset();
                        self.state = State::Deflate;
                    }
                }
                State::Deflate => {
                    let mut out = Vec::with_capacity(CHUNK);
                    let before = self.inflate.total_in();
                    let status = self
                        .inflate
                        .decompress_vec(&self.input, &mut out, FlushDecompress::None)
                        .map_err(|_| "the gzip body's deflate data is corrupt")?;
                    let used = usize::try_from(self.inflate.total_in() - before).unwrap_or(usize::MAX);
                    self.input.advance(used.min(self.input.len()));
                    self.crc.update(&out);
                    if status == Status::StreamEnd {
                        self.state = State::Trailer;
                    } else if out.is_empty() && used == 0 {
                        return Err("the gzip body's deflate data is corrupt");
                    }
                    if !out.is_empty() {
                        return Ok(Some(out.into()));
                    }
                }
                State::Trailer => {
                    self.gather(8)?;
                    if self.pending.len() == 8 {
                        let crc =
                            u32::from_le_bytes([self.pending[0], self.pending[1], self.pending[2], self.pending[3]]);
                        let size =
                            u32::from_le_bytes([self.pending[4], self.pending[5], self.pending[6], self.pending[7]]);
                        if crc != self.crc.sum() || size != self.crc.amount() {
                            return Err("the gzip body fails its CRC-32 or length check");
                        }
                        self.pending.clear();
                        self.members += 1;
                        self.state = State::Header;
                    }
                }
            }
        }
        Ok(None)
    }

    /// At the end of the compressed stream: it must have ended with a whole member.
    pub(super) fn finish(&self) -> Result<(), &'static str> {
        match self.state {
            State::Header if self.pending.is_empty() && self.input.is_empty() && self.members > 0 => Ok(()),
            _ => Err("the gzip body ends early"),
        }
    }

    /// Moves input into `pending` until it holds `limit` bytes (a trailer), or all of it
    /// (a header, whose length is known only once parsed; refused past `limit`).
    fn gather(&mut self, limit: usize) -> Result<(), &'static str> {
        let take = match self.state {
            State::Trailer => (limit - self.pending.len()).min(self.input.len()),
            _ => self.input.len(),
        };
        if self.pending.len() + take > limit && !matches!(self.state, State::Trailer) {
            // Only what a header can be is kept; the parse below decides.
            let room = limit.saturating_sub(self.pending.len());
            self.pending
                .extend_from_slice(&self.input[..room.min(self.input.len())]);
            self.input.advance(room.min(self.input.len()));
            if header_length(&self.pending)?.is_none() {
                return Err("the gzip header is too long");
            }
            return Ok(());
        }
        self.pending.extend_from_slice(&self.input[..take]);
        self.input.advance(take);
        Ok(())
    }
}

/// The length of the gzip header at the start of `bytes`, or `None` when it is not all
/// there yet.
fn header_length(bytes: &[u8]) -> Result<Option<usize>, &'static str> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if bytes.len() < 10 {
        if bytes.iter().zip([0x1f, 0x8b, 8]).any(|(b, want)| *b != want) {
            return Err("the body is not gzip (bad magic bytes)");
        }
        return Ok(None);
    }
    if bytes[..3] != [0x1f, 0x8b, 8] {
        return Err("the body is not gzip (bad magic bytes)");
    }
    let flags = bytes[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = bytes.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let Some(rest) = bytes.get(at..) else { return Ok(None) };
            let Some(nul) = rest.iter().position(|b| *b == 0) else {
                return Ok(None);
            };
            at += nul + 1;
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    Ok((bytes.len() >= at).then_some(at))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    /// Decodes `compressed` given in frames of `frame` bytes; the largest output chunk too.
    fn decode_in_frames(compressed: &[u8], frame: usize) -> Result<(Vec<u8>, usize), &'static str> {
        let mut decoder = GzipDecoder::new();
        let (mut out, mut largest) = (Vec::new(), 0);
        for piece in compressed.chunks(frame) {
            decoder.push(Bytes::copy_from_slice(piece));
            while let Some(chunk) = decoder.decode()? {
                largest = largest.max(chunk.len());
                out.extend_from_slice(&chunk);
            }
        }
        decoder.finish()?;
        Ok((out, largest))
    }

    #[test]
    fn decodes_across_any_frame_boundaries_and_concatenated_members() {
        let text: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        let mut two = gzip(&text);
        two.extend(gzip(b"and more"));
        let mut want = text;
        want.extend_from_slice(b"and more");
        for frame in [1, 7, 10, 4096, usize::MAX] {
            let (out, largest) = decode_in_frames(&two, frame.min(two.len())).unwrap();
            assert_eq!(out, want, "frames of {frame}");
            assert!(largest <= CHUNK, "a chunk of {largest} bytes");
        }
    }

    #[test]
    fn a_header_with_name_and_comment_is_skipped() {
        let mut builder = flate2::GzBuilder::new()
            .filename("x.json")
            .comment("hello")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::default());
        builder.write_all(b"{\"a\":1}").unwrap();
        let compressed = builder.finish().unwrap();
        for frame in [1, 3, compressed.len()] {
            assert_eq!(decode_in_frames(&compressed, frame).unwrap().0, b"{\"a\":1}");
        }
    }

    #[test]
    fn corrupt_truncated_and_non_gzip_bodies_are_errors() {
        let good = gzip(b"hello world");
        let mut bad_crc = good.clone();
        let at = bad_crc.len() - 6;
        bad_crc[at] ^= 0xff;
        assert!(decode_in_frames(&bad_crc, 5).is_err());
        assert!(decode_in_frames(&good[..good.len() - 3], 5).is_err());
        assert!(decode_in_frames(b"plain text, not gzip", 5).is_err());
        let mut trailing = good;
        trailing.extend_from_slice(b"junk");
        assert!(decode_in_frames(&trailing, 4).is_err());
    }
}
