//! The simulated network: every stream of the cluster as links between nodes, with loss,
//! duplication, reordering, delay and partitions chosen by the seed.
//!
//! Two kinds of link. *Datagram* links (ingress, the sequenced stream, heartbeats, acks) lose,
//! duplicate and reorder messages: the protocol repairs all of that (journal catch-up,
//! deduplication by sequence number and request id, periodic heartbeats and acks, client
//! retries). The *egress* link is FIFO and never loses a message while both ends are up, as
//! Aeron delivers a stream: it only delays (a partition holds messages until it heals) and
//! duplicates. A message to a node that is down when it arrives is gone.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::rc::Rc;

use transport::{Inbound, Outbound, StreamError};
use workload::SplitMix64;

use crate::trace::Trace;

/// A simulated process (or the operator's console).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Node {
    Sequencer,
    Replica1,
    Replica2,
    Gateway,
    Operator,
}

impl Node {
    pub(crate) const COUNT: usize = 5;

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The cluster's streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stream {
    Ingress,
    Sequenced,
    Status,
    Egress,
    Acks,
}

impl Stream {
    fn subscribers(self) -> &'static [Node] {
        match self {
            Stream::Ingress | Stream::Status => &[Node::Sequencer],
            Stream::Sequenced | Stream::Acks => &[Node::Replica1, Node::Replica2],
            Stream::Egress => &[Node::Gateway],
        }
    }

    fn fifo(self) -> bool {
        self == Stream::Egress
    }
}

/// Link fault probabilities and delays, fixed per run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// A datagram is lost.
    pub loss: f64,
    /// A message is delivered twice.
    pub duplication: f64,
    /// Smallest one-way delay.
    pub delay_ns_min: u64,
    /// Largest one-way delay (datagrams with different delays overtake each other).
    pub delay_ns_max: u64,
}

impl LinkFaults {
    /// A perfect network with a fixed small delay.
    #[must_use]
    pub fn none() -> Self {
        Self {
            loss: 0.0,
            duplication: 0.0,
            delay_ns_min: 20_000,
            delay_ns_max: 20_000,
        }
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at_ns: u64,
    order: u64,
    from: Node,
    bytes: Vec<u8>,
}

/// Everything in flight, and who is reachable.
#[derive(Debug)]
pub struct Net {
    faults: LinkFaults,
    rng: SplitMix64,
    now_ns: u64,
    order: u64,
    inboxes: BTreeMap<(Stream, Node), BinaryHeap<Reverse<InFlight>>>,
    /// The last delivery time on each FIFO link, so later messages never overtake.
    fifo_last_ns: BTreeMap<(Stream, Node, Node), u64>,
    up: [bool; Node::COUNT],
    /// A node cut off from everyone until this time.
    cut_until_ns: [u64; Node::COUNT],
    trace: Trace,
    pub(crate) sent: u64,
    pub(crate) lost: u64,
    pub(crate) duplicated: u64,
}

pub(crate) fn chance(rng: &mut SplitMix64, p: f64) -> bool {
    // 53 random bits as a fraction in [0, 1).
    #[allow(clippy::cast_precision_loss)]
    let unit = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit < p
}

impl Net {
    pub(crate) fn new(faults: LinkFaults, seed: u64) -> Self {
        Self {
            faults,
            rng: SplitMix64::new(seed),
            now_ns: 0,
            order: 0,
            inboxes: BTreeMap::new(),
            fifo_last_ns: BTreeMap::new(),
            up: [true; Node::COUNT],
            cut_until_ns: [0; Node::COUNT],
            trace: Trace::default(),
            sent: 0,
            lost: 0,
            duplicated: 0,
        }
    }

    pub(crate) fn set_now(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
    }

    pub(crate) fn trace(&self) -> &Trace {
        &self.trace
    }

    fn cut(&self, node: Node) -> bool {
        self.cut_until_ns[node.index()] > self.now_ns
    }

    /// Cuts `node` off from every other node until `until_ns`.
    pub(crate) fn partition(&mut self, node: Node, until_ns: u64) {
        self.cut_until_ns[node.index()] = until_ns;
        self.trace.note(&[1, node as u8], until_ns);
    }

    pub(crate) fn partitions_end_ns(&self) -> u64 {
        self.cut_until_ns.iter().copied().max().unwrap_or(0)
    }

    /// A process stopped: what is on its way to it is lost, and it receives nothing until
    /// [`Net::restarted`].
    pub(crate) fn crashed(&mut self, node: Node) {
        self.up[node.index()] = false;
        self.inboxes.retain(|(_, to), _| *to != node);
        self.trace.note(&[2, node as u8], self.now_ns);
    }

    pub(crate) fn restarted(&mut self, node: Node) {
        self.up[node.index()] = true;
        self.trace.note(&[3, node as u8], self.now_ns);
    }

    fn delay(&mut self) -> u64 {
        let (min, max) = (self.faults.delay_ns_min, self.faults.delay_ns_max);
        min + self.rng.below(max - min + 1)
    }

    fn send(&mut self, stream: Stream, from: Node, bytes: &[u8]) {
        self.sent += 1;
        for &to in stream.subscribers() {
            if to == from || !self.up[to.index()] {
                continue;
            }
            let copies = if chance(&mut self.rng, self.faults.duplication) {
                self.duplicated += 1;
                2
            } else {
                1
            };
            for _ in 0..copies {
                let mut at_ns = self.now_ns + self.delay();
                if stream.fifo() {
                    let held = self.cut_until_ns[from.index()].max(self.cut_until_ns[to.index()]);
                    let last = self.fifo_last_ns.entry((stream, from, to)).or_insert(0);
                    at_ns = at_ns.max(held).max(*last);
                    *last = at_ns;
                } else if self.cut(from) || self.cut(to) || chance(&mut self.rng, self.faults.loss)
                {
                    self.lost += 1;
                    continue;
                }
                self.order += 1;
                let message = InFlight {
                    at_ns,
                    order: self.order,
                    from,
                    bytes: bytes.to_vec(),
                };
                self.inboxes
                    .entry((stream, to))
                    .or_default()
                    .push(Reverse(message));
            }
        }
    }

    fn receive(&mut self, stream: Stream, to: Node, limit: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let now_ns = self.now_ns;
        let cut_to = self.cut(to);
        let Some(inbox) = self.inboxes.get_mut(&(stream, to)) else {
            return out;
        };
        while out.len() < limit {
            match inbox.peek() {
                Some(Reverse(m)) if m.at_ns <= now_ns => {}
                _ => break,
            }
            let Reverse(m) = inbox.pop().expect("peeked");
            // A datagram arriving while either end is cut off is lost.
            let cut_from = self.cut_until_ns[m.from.index()] > now_ns;
            if !stream.fifo() && (cut_to || cut_from) {
                self.lost += 1;
                continue;
            }
            self.trace
                .note(&[4, stream as u8, m.from as u8, to as u8], now_ns);
            self.trace.bytes(&m.bytes);
            out.push(m.bytes);
        }
        out
    }
}

/// A shared handle on the network.
pub(crate) type NetHandle = Rc<RefCell<Net>>;

/// A node's end of a stream it publishes on.
#[derive(Debug, Clone)]
pub struct SimOut {
    net: NetHandle,
    stream: Stream,
    from: Node,
}

impl SimOut {
    pub(crate) fn new(net: &NetHandle, stream: Stream, from: Node) -> Self {
        Self {
            net: Rc::clone(net),
            stream,
            from,
        }
    }
}

impl Outbound for SimOut {
    fn offer(&mut self, bytes: &[u8]) -> Result<bool, StreamError> {
        self.net.borrow_mut().send(self.stream, self.from, bytes);
        Ok(true)
    }
}

/// A node's end of a stream it subscribes to.
#[derive(Debug, Clone)]
pub struct SimIn {
    net: NetHandle,
    stream: Stream,
    to: Node,
}

impl SimIn {
    pub(crate) fn new(net: &NetHandle, stream: Stream, to: Node) -> Self {
        Self {
            net: Rc::clone(net),
            stream,
            to,
        }
    }
}

impl Inbound for SimIn {
    fn poll(&mut self, limit: usize, handler: &mut dyn FnMut(&[u8])) -> Result<usize, StreamError> {
        let messages = self.net.borrow_mut().receive(self.stream, self.to, limit);
        for bytes in &messages {
            handler(bytes);
        }
        Ok(messages.len())
    }
}
