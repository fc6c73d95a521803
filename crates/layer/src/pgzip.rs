//! gzip on every core, with bytes that depend on the input alone.
//!
//! The input is cut into fixed 256 KiB chunks. Each is deflated on its
//! own (zlib-rs, level 6), primed with the 32 KiB before it as the
//! dictionary, so matches reach across the cut as in one stream, and ends
//! with a sync flush (byte-aligned, not final); the last one finishes the
//! stream. Concatenated behind one gzip header they are a single standard
//! deflate stream, as pigz writes. The cuts are at fixed offsets and each
//! chunk's bytes are a function of its input and dictionary, so the output
//! is the same whatever the number of threads or their timing: a big layer
//! (libc6, the JDK's modules) no longer holds one core while the other
//! idles. Chunks are compressed a batch at a time on rayon's pool, which
//! the build's layer workers share, bounding memory to a few MiB.

use std::io::{self, Write};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use rayon::prelude::*;

const CHUNK: usize = 256 << 10;
const BATCH: usize = 16 * CHUNK;
/// deflate's window: the most of the past a match can reach.
const WINDOW: usize = 32 << 10;
const LEVEL: u32 = 6;

/// A gzip stream (RFC 1952) into `inner`: no name, mtime 0, OS "unknown";
/// nothing of the machine or the clock.
pub(crate) struct ParGzip<W: Write> {
    inner: W,
    /// Input not compressed yet: at most a batch between writes (a batch
    /// and a byte within one: the last chunk is only known as last at
    /// `finish`).
    pending: Vec<u8>,
    /// The up to 32 KiB of input just before `pending`.
    dict: Vec<u8>,
    crc: Crc,
}

impl<W: Write> ParGzip<W> {
    pub(crate) fn new(mut inner: W) -> io::Result<ParGzip<W>> {
        // Magic, deflate, no flags, mtime 0, no extra flags, OS 255.
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        Ok(ParGzip {
            inner,
            pending: Vec::with_capacity(BATCH + 1),
            dict: Vec::new(),
            crc: Crc::new(),
        })
    }

    /// Compresses the first `n` bytes of `pending` (whole chunks, or all
    /// of it when `last`) and writes them out in order.
    fn compress(&mut self, n: usize, last: bool) -> io::Result<()> {
        let input = &self.pending[..n];
        let chunks: Vec<&[u8]> = if input.is_empty() {
            vec![input]
        } else {
            input.chunks(CHUNK).collect()
        };
        let count = chunks.len();
        let dict = &self.dict;
        let out = chunks
            .par_iter()
            .enumerate()
            .map(|(i, chunk)| {
                let before: &[u8] = match i {
                    0 => dict,
                    _ => &chunks[i - 1][chunks[i - 1].len().saturating_sub(WINDOW)..],
                };
                deflate(before, chunk, last && i + 1 == count)
            })
            .collect::<io::Result<Vec<Vec<u8>>>>()?;
        for o in &out {
            self.inner.write_all(o)?;
        }
        // The next dictionary: the last 32 KiB of all input so far.
        let tail_from = n.saturating_sub(WINDOW);
        if n < WINDOW {
            let keep = self.dict.len().saturating_sub(WINDOW - n);
            self.dict.drain(..keep);
        } else {
            self.dict.clear();
        }
        self.dict.extend_from_slice(&self.pending[tail_from..n]);
        self.pending.drain(..n);
        Ok(())
    }

    /// Ends the stream (the last chunk, the CRC-32 and the length) and
    /// hands back the writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.compress(self.pending.len(), true)?;
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        // ISIZE is the length modulo 2^32.
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParGzip<W> {
    /// Takes at most what fills `pending` to a batch and a byte, so a
    /// big write (a whole file of a layer: the JDK's modules is over
    /// 100 MB) is neither copied whole into `pending` nor shifted down
    /// after each batch; `write_all` hands over the rest.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let take = &buf[..buf.len().min(BATCH + 1 - self.pending.len())];
        self.crc.update(take);
        self.pending.extend_from_slice(take);
        // More than a batch: the batch's chunks are not the last ones.
        if self.pending.len() > BATCH {
            self.compress(BATCH, false)?;
        }
        Ok(take.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One chunk as raw deflate, primed with `dict`: ended with a sync flush,
/// or, when `last`, finishing the stream.
fn deflate(dict: &[u8], input: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new_with_window_bits(Compression::new(LEVEL), false, 15);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = match last {
        true => FlushCompress::Finish,
        false => FlushCompress::Sync,
    };
    let mut out = Vec::with_capacity(input.len() / 2 + 4096);
    loop {
        let done = c.total_in() as usize;
        let status = c
            .compress_vec(&input[done..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == input.len();
        // Room left in the output means the flush completed.
        let flushed = out.len() < out.capacity();
        match (last, status) {
            (true, Status::StreamEnd) => return Ok(out),
            (false, _) if all_in && flushed => return Ok(out),
            _ => out.reserve(out.capacity().max(4096)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..len)
            .map(|i| {
                if i % 1000 < 700 {
                    b"lib/x86_64-linux-gnu/"[i % 21]
                } else {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                }
            })
            .collect()
    }

    fn gzip(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut g = ParGzip::new(Vec::new()).unwrap();
        for part in data.chunks(pieces.max(1)) {
            g.write_all(part).unwrap();
        }
        g.finish().unwrap()
    }

    /// Standard gzip, whatever the sizes around the chunk and batch edges,
    /// and the same bytes however the input was handed over and however
    /// many threads compressed it.
    #[test]
    fn standard_gzip_and_the_same_bytes_on_any_pool() {
        for len in [
            0,
            1,
            WINDOW,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            BATCH,
            BATCH + 1,
            2 * BATCH + 7,
        ] {
            let data = sample(len);
            let out = gzip(&data, 1 << 20);
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == data, "{len} bytes do not round-trip");
            // One concatenated stream, not several gzip members.
            assert_eq!(out.windows(3).filter(|w| w == &[0x1f, 0x8b, 8]).count(), 1);
            assert_eq!(gzip(&data, 4093), out, "{len}: write sizes changed it");
            assert_eq!(gzip(&data, len), out, "{len}: one write changed it");
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                assert_eq!(
                    pool.install(|| gzip(&data, 1 << 20)),
                    out,
                    "{len}, {threads}"
                );
            }
        }
    }

    /// The cuts cost next to nothing: within 1% of one single stream.
    #[test]
    fn chunks_compress_about_as_well_as_one_stream() {
        let data = sample(3 * BATCH);
        let mut one = flate2::write::GzEncoder::new(Vec::new(), Compression::new(LEVEL));
        one.write_all(&data).unwrap();
        let one = one.finish().unwrap().len() as f64;
        let ours = gzip(&data, 1 << 20).len() as f64;
        assert!(ours / one < 1.01, "{ours} against {one}");
    }
}
