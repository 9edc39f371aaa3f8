//! The sequencer's side: accepts links, one thread per connection blocked in `read`, and hands
//! their changes to the duty cycle through a channel ([`LivenessListener::poll`]).

use std::io::Read as _;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use protocol::NodeId;

use crate::{HELLO_SIZE, parse_hello};

/// Connections the listener holds at once, at most; more are closed on accept.
pub const LINKS_MAX: usize = 16;
/// Link changes queued for the duty cycle, at most. When full, a change waits in its
/// connection's thread (a change is never dropped).
const CHANGES_MAX: usize = 64;
/// A connection must send its hello within this long.
const HELLO_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the wake-up connect of a dropped listener may take.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// A replica's link came up or went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkChange {
    pub node: NodeId,
    pub up: bool,
}

/// What a connection's thread reports: which connection, so a late close of a replaced
/// connection is not taken for the node's death.
#[derive(Debug, Clone, Copy)]
struct Report {
    connection: u64,
    node: NodeId,
    up: bool,
}

/// The sequencer's side: accepts links and reports their changes.
#[derive(Debug)]
pub struct LivenessListener {
    address: SocketAddr,
    changes: Receiver<Report>,
    /// The connection currently standing for each linked node.
    current: Vec<(NodeId, u64)>,
    /// Tells the accept thread to end (on drop).
    stopping: Arc<AtomicBool>,
}

impl Drop for LivenessListener {
    /// Ends the accept thread: it sees the flag on the wake-up connection. Connection threads
    /// end as their links close (their reports find nobody listening).
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Release);
        let _ = TcpStream::connect_timeout(&self.address, WAKE_TIMEOUT);
    }
}

impl LivenessListener {
    /// Listens on `address` and accepts links from any of `nodes` (others are closed).
    ///
    /// # Errors
    /// If the address cannot be bound.
    pub fn bind(address: SocketAddr, nodes: &[NodeId]) -> std::io::Result<Self> {
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let (tx, changes) = sync_channel(CHANGES_MAX);
        let nodes = nodes.to_vec();
        let stopping = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stopping);
        std::thread::Builder::new()
            .name("liveness-accept".into())
            .spawn(move || accept_loop(&listener, &nodes, &tx, &flag))?;
        Ok(Self {
            address,
            changes,
            current: Vec::new(),
            stopping,
        })
    }

    /// Where it listens (the bound port, if 0 was asked for).
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Hands every link change that arrived to `on_change`; returns how many. Only the latest
    /// connection of a node counts: closing an older one (replaced by a restarted process)
    /// changes nothing.
    pub fn poll(&mut self, mut on_change: impl FnMut(LinkChange)) -> usize {
        let mut changes = 0;
        while let Ok(report) = self.changes.try_recv() {
            let position = self.current.iter().position(|&(n, _)| n == report.node);
            if report.up {
                match position {
                    Some(i) => self.current[i].1 = report.connection,
                    None => self.current.push((report.node, report.connection)),
                }
            } else {
                match position {
                    Some(i) if self.current[i].1 == report.connection => {
                        self.current.swap_remove(i);
                    }
                    _ => continue,
                }
            }
            changes += 1;
            on_change(LinkChange {
                node: report.node,
                up: report.up,
            });
        }
        changes
    }
}

fn accept_loop(
    listener: &TcpListener,
    nodes: &[NodeId],
    tx: &SyncSender<Report>,
    stopping: &AtomicBool,
) {
    let open = Arc::new(AtomicUsize::new(0));
    for (connection, stream) in (1u64..).zip(listener.incoming()) {
        if stopping.load(Ordering::Acquire) {
            return;
        }
        let Ok(stream) = stream else {
            continue;
        };
        if open.load(Ordering::Acquire) >= LINKS_MAX {
            tracing::warn!(
                limit = LINKS_MAX,
                "liveness: too many connections; closing one"
            );
            continue;
        }
        open.fetch_add(1, Ordering::AcqRel);
        let (nodes, tx, open) = (nodes.to_vec(), tx.clone(), Arc::clone(&open));
        let spawned = std::thread::Builder::new()
            .name("liveness-link".into())
            .spawn(move || {
                watch(stream, connection, &nodes, &tx);
                open.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            tracing::warn!("liveness: cannot start a thread for a connection; closed it");
        }
    }
}

/// One connection: reads the hello, reports the node up, blocks until the connection closes,
/// reports it down.
fn watch(mut stream: TcpStream, connection: u64, nodes: &[NodeId], tx: &SyncSender<Report>) {
    let peer = stream.peer_addr().ok();
    let node = match read_hello(&mut stream, nodes) {
        Ok(node) => node,
        Err(reason) => {
            tracing::warn!(?peer, reason, "liveness: refused a connection");
            return;
        }
    };
    let report = |up| Report {
        connection,
        node,
        up,
    };
    if tx.send(report(true)).is_err() {
        return;
    }
    // The engine never writes after its hello: any byte, the end of the stream or an error
    // ends the link.
    let mut byte = [0u8; 1];
    let _ = stream.set_read_timeout(None);
    let _ = stream.read(&mut byte);
    let _ = tx.send(report(false));
}

fn read_hello(stream: &mut TcpStream, nodes: &[NodeId]) -> Result<NodeId, &'static str> {
    stream
        .set_read_timeout(Some(HELLO_TIMEOUT))
        .map_err(|_| "cannot set a read timeout")?;
    let mut hello = [0u8; HELLO_SIZE];
    stream
        .read_exact(&mut hello)
        .map_err(|_| "no complete hello in time")?;
    let node = parse_hello(&hello).ok_or("not a liveness hello (wrong magic or version)")?;
    if !nodes.contains(&node) {
        return Err("the hello names a node that is not a configured replica");
    }
    Ok(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hello;
    use std::io::Write as _;

    const NODES: [NodeId; 2] = [NodeId(1), NodeId(2)];

    fn listener() -> LivenessListener {
        LivenessListener::bind("127.0.0.1:0".parse().unwrap(), &NODES).unwrap()
    }

    /// Polls until `n` changes arrived (the threads report asynchronously; bounded wait).
    fn changes(listener: &mut LivenessListener, n: usize) -> Vec<LinkChange> {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while got.len() < n {
            assert!(std::time::Instant::now() < deadline, "only {got:?}");
            listener.poll(|c| got.push(c));
            std::thread::yield_now();
        }
        got
    }

    fn link(listener: &LivenessListener, node: u32) -> TcpStream {
        let mut stream = TcpStream::connect(listener.address()).unwrap();
        stream.write_all(&hello(NodeId(node))).unwrap();
        stream
    }

    fn change(node: u32, up: bool) -> LinkChange {
        LinkChange {
            node: NodeId(node),
            up,
        }
    }

    #[test]
    fn a_link_is_up_after_its_hello_and_down_when_it_closes() {
        let mut listener = listener();
        let stream = link(&listener, 2);
        assert_eq!(changes(&mut listener, 1), [change(2, true)]);
        drop(stream);
        assert_eq!(changes(&mut listener, 1), [change(2, false)]);
    }

    #[test]
    fn a_killed_process_closes_its_link() {
        // A child process holds the link; SIGKILL, and the kernel closes it for the child.
        let mut listener = listener();
        let address = listener.address();
        let script = format!(
            "exec 3<>/dev/tcp/{}/{}; printf 'LSLIVE01\\001\\000\\000\\000' >&3; sleep 60",
            address.ip(),
            address.port()
        );
        let mut child = std::process::Command::new("bash")
            .args(["-c", &script])
            .spawn()
            .unwrap();
        assert_eq!(changes(&mut listener, 1), [change(1, true)]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(changes(&mut listener, 1), [change(1, false)]);
    }

    #[test]
    fn closing_a_replaced_connection_does_not_take_the_node_down() {
        let mut listener = listener();
        let old = link(&listener, 1);
        assert_eq!(changes(&mut listener, 1), [change(1, true)]);
        let new = link(&listener, 1);
        assert_eq!(changes(&mut listener, 1), [change(1, true)]);
        drop(old);
        // The old connection's close is not reported; the new one's is.
        drop(new);
        assert_eq!(changes(&mut listener, 1), [change(1, false)]);
        let mut more = Vec::new();
        listener.poll(|c| more.push(c));
        assert_eq!(more, []);
    }

    #[test]
    fn strangers_and_bad_hellos_are_closed_without_a_change() {
        let mut listener = listener();
        for bytes in [
            hello(NodeId(7)).to_vec(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
        ] {
            let mut stream = TcpStream::connect(listener.address()).unwrap();
            stream.write_all(&bytes).unwrap();
            // The listener closes it: the read ends (EOF or reset), it never hangs.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest);
        }
        let linked = link(&listener, 1);
        assert_eq!(changes(&mut listener, 1), [change(1, true)], "only node 1");
        drop(linked);
    }
}
