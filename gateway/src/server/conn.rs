//! One client connection: a non-blocking TCP stream with bounded buffers both ways.

use std::io::{ErrorKind, Read as _, Write as _};
use std::net::TcpStream;

/// Bytes read from a socket per duty cycle, at most.
const READ_CHUNK_MAX: usize = 16 * 1024;

#[derive(Debug)]
pub(crate) struct Conn {
    stream: TcpStream,
    /// Bytes waiting to be written; a client that lets this grow past the limit is dropped.
    out: Vec<u8>,
    out_max: usize,
    pub(crate) closed: bool,
    /// To be closed after the next flush (see [`Conn::shut_after_flush`]).
    pub(crate) shutting: bool,
    /// The socket may have bytes (or its end) to read: set by a readiness edge, cleared once a
    /// read finds less than it asked for (the next arrival brings a new edge).
    readable: bool,
}

impl Conn {
    pub(crate) fn new(stream: TcpStream, out_max: usize) -> std::io::Result<Self> {
        stream.set_nonblocking(true)?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream,
            out: Vec::new(),
            out_max,
            closed: false,
            shutting: false,
            readable: true,
        })
    }

    pub(crate) fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// The socket signalled that it has something to read.
    pub(crate) fn mark_readable(&mut self) {
        self.readable = true;
    }

    /// Reads what is there (up to a chunk); an empty result means nothing now.
    pub(crate) fn read(&mut self, buf: &mut [u8; READ_CHUNK_MAX]) -> usize {
        if self.closed || !self.readable {
            return 0;
        }
        match self.stream.read(buf) {
            Ok(0) => {
                self.closed = true;
                0
            }
            Ok(n) => {
                // A short read emptied the socket's queue.
                self.readable = n == buf.len();
                n
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.readable = false;
                0
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => 0,
            Err(_) => {
                self.closed = true;
                0
            }
        }
    }

    /// Queues bytes; `false` (and the connection closes) if the client is not reading.
    pub(crate) fn queue(&mut self, bytes: &[u8]) -> bool {
        if self.out.len() + bytes.len() > self.out_max {
            self.closed = true;
            return false;
        }
        self.out.extend_from_slice(bytes);
        true
    }

    /// Writes what it can; returns the bytes written.
    pub(crate) fn flush(&mut self) -> usize {
        if self.out.is_empty() || self.closed {
            return 0;
        }
        match self.stream.write(&self.out) {
            Ok(n) => {
                self.out.drain(..n);
                n
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => 0,
            Err(_) => {
                self.closed = true;
                0
            }
        }
    }

    /// Closes once what is queued is written: at the end of the duty cycle, after the store
    /// has what the last bytes say.
    pub(crate) fn shut_after_flush(&mut self) {
        self.shutting = true;
    }

    /// Writes what is queued (blocking briefly) and closes.
    pub(crate) fn shut(&mut self) {
        let _ = self.stream.set_nonblocking(false);
        let _ = self
            .stream
            .set_write_timeout(Some(std::time::Duration::from_millis(100)));
        let _ = self.stream.write_all(&self.out);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.out.clear();
        self.closed = true;
    }
}

pub(crate) type ReadBuf = [u8; READ_CHUNK_MAX];
