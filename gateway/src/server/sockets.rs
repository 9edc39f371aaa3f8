//! Which of the gateway's sockets have something to read: the listener and every connection are
//! registered with one epoll instance (through `mio`), edge-triggered, and each duty cycle asks
//! it once, without waiting. Reading every connection each cycle instead cost a `recv` per
//! connection per cycle, most of them finding nothing (a quarter of the gateway's time with two
//! busy sessions, and it grows with the number of connections).

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd as _;
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

/// Readiness events taken per duty cycle; more wait for the next.
const EVENTS_MAX: usize = 1024;
/// The listener's token; connections use their ids.
const LISTENER: Token = Token(usize::MAX);

/// What a duty cycle's poll found.
#[derive(Debug, Default)]
pub(super) struct Ready {
    /// The listener may have connections to accept.
    pub(super) accept: bool,
    /// Connections (by id) that may have bytes to read, or have closed.
    pub(super) readable: Vec<usize>,
}

/// The listener and the registry of connections.
#[derive(Debug)]
pub(super) struct Sockets {
    listener: TcpListener,
    poll: Poll,
    events: Events,
    /// The last accept stopped on an error other than "nothing to accept" (out of file
    /// descriptors, say): no new edge will come for connections already waiting, so try again.
    accept_again: bool,
}

impl Sockets {
    /// Binds a non-blocking listener and registers it.
    pub(super) fn bind(addr: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let poll = Poll::new()?;
        let fd = listener.as_raw_fd();
        poll.registry()
            .register(&mut SourceFd(&fd), LISTENER, Interest::READABLE)?;
        Ok(Self {
            listener,
            poll,
            events: Events::with_capacity(EVENTS_MAX),
            accept_again: true,
        })
    }

    pub(super) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What became ready since the last call, without waiting. `ready` is cleared first.
    pub(super) fn poll(&mut self, ready: &mut Ready) {
        ready.accept = self.accept_again;
        ready.readable.clear();
        match self.poll.poll(&mut self.events, Some(Duration::ZERO)) {
            Ok(()) => {}
            // Nothing is lost: edges not taken now are still pending in the kernel.
            Err(e) if e.kind() == ErrorKind::Interrupted => return,
            Err(e) => panic!("epoll_wait on the gateway's own epoll instance failed: {e}"),
        }
        for event in &self.events {
            match event.token() {
                LISTENER => ready.accept = true,
                Token(id) => ready.readable.push(id),
            }
        }
    }

    /// The next waiting connection, registered under `id`; `None` when there is none (or it
    /// could not be registered: it is closed at once).
    pub(super) fn accept(&mut self, id: usize) -> Option<TcpStream> {
        loop {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) => {
                    self.accept_again = e.kind() != ErrorKind::WouldBlock;
                    return None;
                }
            };
            let fd = stream.as_raw_fd();
            let registered =
                self.poll
                    .registry()
                    .register(&mut SourceFd(&fd), Token(id), Interest::READABLE);
            if registered.is_ok() {
                return Some(stream);
            }
        }
    }

    /// Stops watching a connection about to be dropped.
    pub(super) fn forget(&self, stream: &TcpStream) {
        let fd = stream.as_raw_fd();
        // Closing the socket removes it from the epoll set anyway.
        let _ = self.poll.registry().deregister(&mut SourceFd(&fd));
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;
    use std::time::Instant;

    use super::*;

    /// Polls until `done` holds (loopback delivers at once; the deadline is a safety net).
    fn poll_until(sockets: &mut Sockets, done: impl Fn(&Ready) -> bool) -> Ready {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut ready = Ready::default();
        loop {
            sockets.poll(&mut ready);
            if done(&ready) || Instant::now() > deadline {
                return ready;
            }
            std::thread::yield_now();
        }
    }

    #[test]
    fn only_sockets_with_something_to_take_are_reported() {
        let mut sockets = Sockets::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut ready = Ready::default();
        sockets.poll(&mut ready);
        assert!(ready.accept, "the first cycle looks at the listener");
        assert!(sockets.accept(0).is_none());
        sockets.poll(&mut ready);
        assert!(
            !ready.accept && ready.readable.is_empty(),
            "nothing happened"
        );

        let mut client = TcpStream::connect(sockets.local_addr().unwrap()).unwrap();
        assert!(poll_until(&mut sockets, |r| r.accept).accept);
        let server = sockets.accept(7).expect("the connection waiting");
        assert!(sockets.accept(8).is_none());
        sockets.poll(&mut ready);
        assert!(
            ready.readable.is_empty(),
            "connected, nothing sent: {ready:?}"
        );

        client.write_all(b"8=FIX.4.4").unwrap();
        let ready = poll_until(&mut sockets, |r| !r.readable.is_empty());
        assert_eq!(ready.readable, [7]);
        let mut again = Ready::default();
        sockets.poll(&mut again);
        assert!(
            again.readable.is_empty(),
            "one edge per arrival, not per poll"
        );

        drop(client);
        assert_eq!(
            poll_until(&mut sockets, |r| !r.readable.is_empty()).readable,
            [7]
        );
        sockets.forget(&server);
    }
}
