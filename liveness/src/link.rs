//! The sentinel's side of a link: connect, say hello, wait for the end.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use protocol::NodeId;

/// How long a connect may take (the sequencer on another host).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Connects to the sequencer's listener at `address`, says hello as `node`, publishes a handle
/// on the connection in `current` (so another thread can shut it down), and blocks until the
/// sequencer's side closes it. `Err` when it could not link.
pub(crate) fn hold_link(
    address: SocketAddr,
    node: NodeId,
    current: &Arc<Mutex<Option<TcpStream>>>,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.write_all(&crate::hello(node))?;
    *current.lock().expect("not poisoned") = Some(stream.try_clone()?);
    tracing::info!(%address, node = node.0, "liveness link to the sequencer up");
    // The sequencer never writes: this returns when it closes the connection (or dies).
    let mut byte = [0u8; 1];
    let _ = stream.read(&mut byte);
    *current.lock().expect("not poisoned") = None;
    Ok(())
}
