//! In-memory streams for tests and simulation: the same [`Inbound`]/[`Outbound`] seams as
//! Aeron, on one thread, with no driver. A [`MemoryBus`] copies every offered message to each
//! of its subscribers' [`MemoryQueue`]s; it can be told to push back, to exercise back-pressure.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use crate::io::{Inbound, Outbound, StreamError};

/// One subscriber's messages, oldest first. Clones share the queue.
#[derive(Debug, Clone, Default)]
pub struct MemoryQueue(Rc<RefCell<VecDeque<Vec<u8>>>>);

impl MemoryQueue {
    /// Messages waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether no message is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// Adds a message directly (as if a publisher had sent it).
    pub fn push(&self, bytes: &[u8]) {
        self.0.borrow_mut().push_back(bytes.to_vec());
    }

    /// Takes every waiting message.
    #[must_use]
    pub fn drain(&self) -> Vec<Vec<u8>> {
        self.0.borrow_mut().drain(..).collect()
    }
}

impl Inbound for MemoryQueue {
    fn poll(&mut self, limit: usize, handler: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError> {
        let mut delivered = 0;
        while delivered < limit {
            // Not borrowed across the handler: it may offer to a bus feeding this very queue.
            let Some(message) = self.0.borrow_mut().pop_front() else {
                break;
            };
            handler(&message);
            delivered += 1;
        }
        Ok(delivered)
    }
}

/// A stream with any number of subscribers. Clones share the stream.
#[derive(Debug, Clone, Default)]
pub struct MemoryBus {
    subscribers: Rc<RefCell<Vec<MemoryQueue>>>,
    blocked: Rc<Cell<bool>>,
    /// While set, the stream says it has no subscriber (and refuses every offer).
    disconnected: Rc<Cell<bool>>,
}

impl MemoryBus {
    /// A new subscriber: it receives every message offered from now on.
    #[must_use]
    pub fn subscribe(&self) -> MemoryQueue {
        let queue = MemoryQueue::default();
        self.subscribers.borrow_mut().push(queue.clone());
        queue
    }

    /// While blocked, every offer is refused as back-pressure.
    pub fn set_blocked(&self, blocked: bool) {
        self.blocked.set(blocked);
    }

    /// While disconnected, the stream reports no subscriber and refuses every offer (as a
    /// publication whose subscriber died).
    pub fn set_connected(&self, connected: bool) {
        self.disconnected.set(!connected);
    }
}

impl Outbound for MemoryBus {
    fn offer(&mut self, bytes: &[u8]) -> Result<bool, StreamError> {
        if self.blocked.get() || self.disconnected.get() {
            return Ok(false);
        }
        for queue in self.subscribers.borrow().iter() {
            queue.push(bytes);
        }
        Ok(true)
    }

    fn is_connected(&self) -> bool {
        !self.disconnected.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subscriber_gets_every_message_in_order_and_blocking_pushes_back() {
        let mut bus = MemoryBus::default();
        let (mut a, b) = (bus.subscribe(), bus.subscribe());
        assert_eq!(bus.offer(b"one"), Ok(true));
        bus.set_blocked(true);
        assert_eq!(bus.offer(b"lost?"), Ok(false));
        bus.set_blocked(false);
        assert_eq!(bus.offer(b"two"), Ok(true));
        let mut got = Vec::new();
        assert_eq!(a.poll(1, &mut |m| got.push(m.to_vec())), Ok(1));
        assert_eq!(a.poll(9, &mut |m| got.push(m.to_vec())), Ok(1));
        assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(b.drain(), [b"one".to_vec(), b"two".to_vec()]);
        assert!(a.is_empty() && b.is_empty());
    }
}
