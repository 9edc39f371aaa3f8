//! Stream adapters the processes put between Aeron and the agents.

use protocol::{Command, Sequenced};
use transport::{Outbound, StreamError};

/// Logs every role change as it goes out on the sequenced stream, with its term and seq.
#[derive(Debug)]
pub(crate) struct RoleChangeLog<P> {
    inner: P,
}

impl<P> RoleChangeLog<P> {
    pub(crate) fn new(inner: P) -> Self {
        Self { inner }
    }
}

impl<P: Outbound> Outbound for RoleChangeLog<P> {
    fn is_connected(&self) -> bool {
        self.inner.is_connected()
    }

    fn offer(&mut self, bytes: &[u8]) -> Result<bool, StreamError> {
        let sent = self.inner.offer(bytes)?;
        if sent
            && let Ok(Sequenced {
                seq,
                command: Command::RoleChange(change),
                ..
            }) = Sequenced::decode(bytes)
        {
            tracing::info!(
                term = change.term.0,
                seq = seq.0,
                primary = change.primary.0,
                backup = change.backup.0,
                "role change sequenced and published"
            );
        }
        Ok(sent)
    }
}
